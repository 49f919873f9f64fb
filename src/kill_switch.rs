//! Kill switches: stopping running streams from outside (Akka's `KillSwitches`).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

use crate::bidi::{Halves, STRAIGHT};
use crate::stage::{BoxPull, Pull, Step};
use crate::{BidiFlow, Flow, StreamError};

/// Something that stops the streams it was placed in (Akka's `KillSwitch`).
///
/// The first call to either method wins; later calls do nothing.
pub trait KillSwitch {
    /// Completes the downstream and cancels the upstream of every stage this switch controls.
    fn shutdown(&self);

    /// Fails the downstream with `error` and cancels the upstream of every stage this switch
    /// controls.
    fn abort(&self, error: StreamError);
}

/// Builds kill switches (Akka's `KillSwitches`).
#[derive(Debug, Clone, Copy)]
pub struct KillSwitches;

impl KillSwitches {
    /// A flow that passes elements unchanged and materializes a [`UniqueKillSwitch`] that stops
    /// this one materialization (Akka's `KillSwitches.single`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{KillSwitch, KillSwitches};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (switch, out) = Source::<u32>::never()
    ///     .via_mat(KillSwitches::single(), Keep::right)
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// switch.shutdown();
    /// assert_eq!(out.await.unwrap(), Vec::<u32>::new());
    /// # }
    /// ```
    ///
    /// # Completion
    /// `shutdown` completes the downstream and cancels the upstream at once, even while the
    /// stream is idle or back-pressured: the stage wakes its island. Elements already past the
    /// switch (in a buffer further down) are still delivered before the completion.
    ///
    /// # Errors
    /// `abort(e)` fails the downstream with `e` and cancels the upstream; a failure overtakes
    /// elements that stages further down are holding back for lack of demand, as any failure
    /// does.
    pub fn single<T: Send + 'static>() -> Flow<T, T, UniqueKillSwitch> {
        Flow::from_fn(|_, up, _| {
            let switch = Arc::new(Switch::new(Cow::Borrowed("single")));
            let pull = Killable::new(up, &switch);
            (Box::new(pull) as BoxPull<T>, UniqueKillSwitch { switch })
        })
    }

    /// A bidi flow that passes both directions unchanged and materializes one
    /// [`UniqueKillSwitch`] that stops both (Akka's `KillSwitches.singleBidi`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{KillSwitch, KillSwitches};
    /// use weir::testkit::TestSink;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let echo = Flow::<u32>::new().map(|x| x * 10);
    /// let client = KillSwitches::single_bidi::<u32, u32>().join(echo);
    /// let (switch, probe) = Source::from_iter(vec![1, 2])
    ///     .concat(Source::never())
    ///     .via_mat(client, Keep::right)
    ///     .to_mat(TestSink::probe(), Keep::both)
    ///     .run();
    /// probe.request(3);
    /// probe.expect_next_n([10, 20]).await;
    /// switch.shutdown();
    /// probe.expect_complete().await;
    /// # }
    /// ```
    ///
    /// # Completion
    /// As [`single`](KillSwitches::single), for each direction.
    pub fn single_bidi<T1: Send + 'static, T2: Send + 'static>(
    ) -> BidiFlow<T1, T1, T2, T2, UniqueKillSwitch> {
        BidiFlow::from_fn(STRAIGHT, |_, _| {
            let switch = Arc::new(Switch::new(Cow::Borrowed("single_bidi")));
            let (top, bottom) = (switch.clone(), switch.clone());
            Halves {
                top: Box::new(move |up| Box::new(Killable::new(up, &top)) as BoxPull<T1>),
                bottom: Box::new(move |up| Box::new(Killable::new(up, &bottom)) as BoxPull<T2>),
                mat: UniqueKillSwitch { switch },
            }
        })
    }

    /// A switch that stops every stream its [`flow`](SharedKillSwitch::flow) is placed in, at
    /// once (Akka's `KillSwitches.shared`). `name` appears in its `Debug` output.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{KillSwitch, KillSwitches};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let switch = KillSwitches::shared("ingest");
    /// let a = Source::<u32>::never().via(switch.flow()).run_with(Sink::seq());
    /// let b = Source::<u32>::never().via(switch.flow()).run_with(Sink::seq());
    /// switch.abort(StreamError::AbruptTermination);
    /// assert!(a.await.is_err());
    /// assert!(b.await.is_err());
    /// # }
    /// ```
    pub fn shared(name: impl Into<Cow<'static, str>>) -> SharedKillSwitch {
        SharedKillSwitch {
            switch: Arc::new(Switch::new(name.into())),
        }
    }
}

/// The switch of one materialization of [`KillSwitches::single`] or
/// [`KillSwitches::single_bidi`] (Akka's `UniqueKillSwitch`).
///
/// Cheap to clone, `Send` and `Sync`; dropping it leaves the stream running.
#[derive(Clone)]
pub struct UniqueKillSwitch {
    switch: Arc<Switch>,
}

impl KillSwitch for UniqueKillSwitch {
    fn shutdown(&self) {
        self.switch.trigger(Ok(()));
    }

    fn abort(&self, error: StreamError) {
        self.switch.trigger(Err(error));
    }
}

impl fmt::Debug for UniqueKillSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.switch.fmt_as("UniqueKillSwitch", f)
    }
}

/// A kill switch for any number of streams (Akka's `SharedKillSwitch`).
///
/// Cheap to clone (clones are the same switch), `Send` and `Sync`.
#[derive(Clone)]
pub struct SharedKillSwitch {
    switch: Arc<Switch>,
}

impl SharedKillSwitch {
    /// A flow that passes elements unchanged until this switch is triggered; it can be placed in
    /// any number of streams and materialized any number of times, and it materializes this
    /// switch (Akka's `SharedKillSwitch.flow`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{KillSwitch, KillSwitches};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let switch = KillSwitches::shared("early");
    /// switch.shutdown();
    /// // Triggered before this stream even started: it completes at once.
    /// let out = Source::repeat(1).via(switch.flow()).run_with(Sink::seq());
    /// assert!(out.await.unwrap().is_empty());
    /// # }
    /// ```
    ///
    /// # Completion
    /// As [`KillSwitches::single`]. A switch triggered before a materialization stops that
    /// stream at its first poll, before any element passes.
    pub fn flow<T: Send + 'static>(&self) -> Flow<T, T, SharedKillSwitch> {
        let switch = self.switch.clone();
        Flow::from_fn(move |_, up, _| {
            let pull = Killable::new(up, &switch);
            let mat = SharedKillSwitch {
                switch: switch.clone(),
            };
            (Box::new(pull) as BoxPull<T>, mat)
        })
    }

    /// The name given to [`KillSwitches::shared`].
    pub fn name(&self) -> &str {
        &self.switch.name
    }
}

impl KillSwitch for SharedKillSwitch {
    fn shutdown(&self) {
        self.switch.trigger(Ok(()));
    }

    fn abort(&self, error: StreamError) {
        self.switch.trigger(Err(error));
    }
}

impl fmt::Debug for SharedKillSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.switch.fmt_as("SharedKillSwitch", f)
    }
}

/// Where a stage controlled by a switch leaves its waker.
struct Listener {
    waker: AtomicWaker,
}

/// The state behind a switch: how it was triggered, once, and whom to wake.
struct Switch {
    name: Cow<'static, str>,
    outcome: OnceLock<Result<(), StreamError>>,
    listeners: Mutex<Vec<Weak<Listener>>>,
}

impl Switch {
    fn new(name: Cow<'static, str>) -> Self {
        Switch {
            name,
            outcome: OnceLock::new(),
            listeners: Mutex::new(Vec::new()),
        }
    }

    fn trigger(&self, outcome: Result<(), StreamError>) {
        if self.outcome.set(outcome).is_err() {
            return;
        }
        let listeners = std::mem::take(&mut *self.lock());
        for listener in listeners.iter().filter_map(Weak::upgrade) {
            listener.waker.wake();
        }
    }

    fn listen(&self) -> Arc<Listener> {
        let listener = Arc::new(Listener {
            waker: AtomicWaker::new(),
        });
        let mut listeners = self.lock();
        // Stages that have stopped leave dead entries; clearing them here keeps the list as long
        // as the number of live stages (a shared switch may see endless materializations).
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(Arc::downgrade(&listener));
        listener
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Listener>>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fmt_as(&self, kind: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.outcome.get() {
            None => "armed",
            Some(Ok(())) => "shut down",
            Some(Err(_)) => "aborted",
        };
        f.debug_struct(kind)
            .field("name", &self.name)
            .field("state", &state)
            .finish()
    }
}

/// The stage a switch controls: passes elements through until the switch is triggered, then
/// drops (cancels) its upstream and ends.
struct Killable<T> {
    up: Option<BoxPull<T>>,
    switch: Arc<Switch>,
    listener: Arc<Listener>,
}

impl<T> Killable<T> {
    fn new(up: BoxPull<T>, switch: &Arc<Switch>) -> Self {
        Killable {
            up: Some(up),
            switch: switch.clone(),
            listener: switch.listen(),
        }
    }

    /// The terminal step if the switch was triggered, cancelling upstream.
    fn triggered(&mut self) -> Option<Step> {
        let outcome = self.switch.outcome.get()?;
        self.up = None;
        Some(match outcome {
            Ok(()) => Step::Complete,
            Err(e) => Step::Failed(e.clone()),
        })
    }

    /// Registers the task to be woken by the switch, then looks again (a trigger between the
    /// first look and the registration would otherwise be missed).
    fn listen(&mut self, cx: &mut Context<'_>) -> Option<Step> {
        self.listener.waker.register(cx.waker());
        self.triggered()
    }
}

impl<T: Send + 'static> Pull<T> for Killable<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if let Some(step) = self.triggered() {
            return Poll::Ready(step);
        }
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        match up.pull(cx, out, max) {
            Poll::Pending => match self.listen(cx) {
                Some(step) => Poll::Ready(step),
                None => Poll::Pending,
            },
            Poll::Ready(Step::Open) => Poll::Ready(Step::Open),
            Poll::Ready(terminal) => {
                self.up = None;
                Poll::Ready(terminal)
            }
        }
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.listen(cx) {
            Some(Step::Failed(e)) => Poll::Ready(e),
            // Shut down: the next pull completes; nothing has failed.
            Some(_) => Poll::Pending,
            None => match self.up.as_mut() {
                Some(up) => up.poll_failed(cx),
                None => Poll::Pending,
            },
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.listen(cx) {
            Some(Step::Complete) => Poll::Ready(()),
            Some(_) => Poll::Pending,
            None => match self.up.as_mut() {
                Some(up) => up.poll_complete(cx),
                None => Poll::Pending,
            },
        }
    }
}

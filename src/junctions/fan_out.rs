//! Fan-out junctions run as an island: pull from upstream, route to bounded outputs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::boundary::{Cancelled, Sender};
use crate::stage::{pull_guarded, BoxPull, Step, Supervisor};
use crate::supervision::Directive;
use crate::StreamError;

/// Where elements go. `demand` says how many elements may be pulled now given each output's
/// room (`None` for a cancelled output); `route` sends one element.
pub(crate) trait Router<T>: Send + 'static {
    type Out: Send + 'static;
    /// Elements the router can take now; 0 waits for room. `pulled[i]` says whether output `i`
    /// has ever been pulled.
    fn demand(&self, rooms: &[Option<usize>], pulled: &[bool]) -> usize;
    /// Routes `x`, appending to `batches` (one per output). `Err` fails the stream.
    fn route(
        &mut self,
        x: T,
        rooms: &mut [Option<usize>],
        batches: &mut [Vec<Self::Out>],
    ) -> Result<(), StreamError>;
    /// Whether the junction should stop now that some outputs are cancelled.
    fn should_stop(&self, rooms: &[Option<usize>]) -> bool {
        rooms.iter().all(Option::is_none)
    }
    /// Routes an element held back for lack of room, if there is room now; true if it did.
    fn release(&mut self, _rooms: &mut [Option<usize>], _batches: &mut [Vec<Self::Out>]) -> bool {
        false
    }
    /// Whether an element is held back: completion waits for it.
    fn holding(&self) -> bool {
        false
    }
}

pub(crate) struct FanOut<T, R: Router<T>> {
    up: Option<BoxPull<T>>,
    outs: Vec<Option<Sender<R::Out>>>,
    router: R,
    rooms: Vec<Option<usize>>,
    pulled: Vec<bool>,
    batches: Vec<Vec<R::Out>>,
    buf: Vec<T>,
    /// Upstream completed while the router held an element back.
    completed: bool,
}

impl<T, R: Router<T>> FanOut<T, R> {
    pub(crate) fn new(up: BoxPull<T>, outs: Vec<Sender<R::Out>>, router: R) -> Self {
        let n = outs.len();
        FanOut {
            up: Some(up),
            outs: outs.into_iter().map(Some).collect(),
            router,
            rooms: vec![Some(0); n],
            pulled: vec![false; n],
            batches: (0..n).map(|_| Vec::new()).collect(),
            buf: Vec::new(),
            completed: false,
        }
    }

    /// Hands each output its routed elements.
    fn send_batches(&mut self) {
        for (i, batch) in self.batches.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            match self.outs[i].as_mut() {
                Some(tx) => {
                    // An output cancelled since its credit was read: its elements are lost
                    // with it, as with a cancelled Akka outlet.
                    if tx.send(batch, None).is_err() {
                        self.outs[i] = None;
                    }
                }
                None => batch.clear(),
            }
        }
    }

    fn finish(&mut self, terminal: &Step) {
        for tx in self.outs.iter_mut().filter_map(Option::take) {
            let mut tx = tx;
            let t = match terminal {
                Step::Failed(e) => Step::Failed(e.clone()),
                _ => Step::Complete,
            };
            let _ = tx.send(&mut Vec::new(), Some(t));
        }
        self.up = None;
    }
}

impl<T, R: Router<T>> Unpin for FanOut<T, R> {}

impl<T: Send + 'static, R: Router<T>> Future for FanOut<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.up.is_none() {
                return Poll::Ready(());
            }
            for (i, out) in this.outs.iter_mut().enumerate() {
                if let Some(tx) = out {
                    this.pulled[i] = tx.was_pulled();
                    this.rooms[i] = match tx.poll_room(cx) {
                        Poll::Ready(Ok(room)) => Some(room),
                        Poll::Ready(Err(Cancelled)) => {
                            *out = None;
                            None
                        }
                        Poll::Pending => Some(0),
                    };
                } else {
                    this.rooms[i] = None;
                }
            }
            if this.router.should_stop(&this.rooms) {
                this.finish(&Step::Complete);
                return Poll::Ready(());
            }
            if this.router.release(&mut this.rooms, &mut this.batches) {
                this.send_batches();
            }
            if this.completed && !this.router.holding() {
                this.finish(&Step::Complete);
                return Poll::Ready(());
            }
            let want = if this.completed {
                0
            } else {
                this.router.demand(&this.rooms, &this.pulled)
            };
            let step = if want == 0 {
                None
            } else {
                let up = this.up.as_mut().expect("checked above");
                match pull_guarded(up, cx, &mut this.buf, want) {
                    Poll::Pending => None,
                    Poll::Ready(step) => Some(step),
                }
            };
            if want == 0 && !this.completed {
                // Not pulling (an output is full): the input's end still reaches every output
                // at once, as in Akka (a held element goes out before completion).
                if let Some(Poll::Ready(e)) = this.up.as_mut().map(|up| up.poll_failed(cx)) {
                    this.finish(&Step::Failed(e));
                    return Poll::Ready(());
                }
                if let Some(Poll::Ready(())) = this.up.as_mut().map(|up| up.poll_complete(cx)) {
                    if this.router.holding() {
                        this.completed = true;
                        continue;
                    }
                    this.finish(&Step::Complete);
                    return Poll::Ready(());
                }
            }
            let Some(step) = step else {
                // Waiting for room or for upstream: any output cancelling (or being pulled for
                // the first time) must wake us too.
                let mut changed = false;
                for (i, out) in this.outs.iter_mut().enumerate() {
                    if let Some(tx) = out {
                        if tx.watch_cancel(cx).is_err() || (!this.pulled[i] && tx.was_pulled()) {
                            changed = true;
                        }
                    }
                }
                if changed {
                    continue;
                }
                return Poll::Pending;
            };
            let mut failure = None;
            // Routers run user code (a partition function, `Clone`): a panic fails the outputs.
            let (router, rooms, batches, buf) = (
                &mut this.router,
                &mut this.rooms,
                &mut this.batches,
                &mut this.buf,
            );
            let routed = crate::stage::guarded(&std::borrow::Cow::Borrowed("fan_out"), || {
                for x in buf.drain(..) {
                    router.route(x, rooms, batches)?;
                }
                Ok(())
            });
            match routed {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => failure = Some(e),
            }
            this.buf.clear();
            this.send_batches();
            if let Some(e) = failure {
                this.finish(&Step::Failed(e));
                return Poll::Ready(());
            }
            match step {
                // An element held back still goes out before completion.
                Step::Complete if this.router.holding() => this.completed = true,
                Step::Complete | Step::Failed(_) => {
                    this.finish(&step);
                    return Poll::Ready(());
                }
                _ => {}
            }
        }
    }
}

impl<T, R: Router<T>> Drop for FanOut<T, R> {
    fn drop(&mut self) {
        // Dropped without finishing (task aborted): outputs see abrupt termination via their
        // senders' own drop.
        self.up = None;
    }
}

/// Broadcast: every element to every live output, only when all of them have room.
pub(crate) struct BroadcastRouter {
    pub(crate) eager_cancel: bool,
}

impl<T: Clone + Send + 'static> Router<T> for BroadcastRouter {
    type Out = T;

    fn demand(&self, rooms: &[Option<usize>], _pulled: &[bool]) -> usize {
        rooms.iter().flatten().copied().min().unwrap_or(0)
    }

    fn route(
        &mut self,
        x: T,
        _rooms: &mut [Option<usize>],
        batches: &mut [Vec<T>],
    ) -> Result<(), StreamError> {
        let n = batches.len();
        for batch in &mut batches[..n - 1] {
            batch.push(x.clone());
        }
        batches[n - 1].push(x);
        Ok(())
    }

    fn should_stop(&self, rooms: &[Option<usize>]) -> bool {
        if self.eager_cancel {
            rooms.iter().any(Option::is_none)
        } else {
            rooms.iter().all(Option::is_none)
        }
    }
}

/// Balance: each element to the next output with room, in turn (Akka's Balance serves the
/// outputs that signalled demand in FIFO order, which amounts to the same).
pub(crate) struct BalanceRouter {
    pub(crate) wait_for_all_downstreams: bool,
    pub(crate) eager_cancel: bool,
    pub(crate) started: bool,
    pub(crate) next: usize,
}

impl<T: Send + 'static> Router<T> for BalanceRouter {
    type Out = T;

    fn demand(&self, rooms: &[Option<usize>], pulled: &[bool]) -> usize {
        // Until every live output has asked once, hold back (Akka's waitForAllDownstreams).
        let all_asked = rooms.iter().zip(pulled).all(|(r, p)| r.is_none() || *p);
        if self.wait_for_all_downstreams && !self.started && !all_asked {
            return 0;
        }
        rooms.iter().flatten().sum()
    }

    fn route(
        &mut self,
        x: T,
        rooms: &mut [Option<usize>],
        batches: &mut [Vec<T>],
    ) -> Result<(), StreamError> {
        self.started = true;
        let n = rooms.len();
        let i = (0..n)
            .map(|k| (self.next + k) % n)
            .find(|&i| rooms[i].is_some_and(|r| r > 0))
            .expect("demand() only allows elements there is room for");
        if let Some(r) = rooms[i].as_mut() {
            *r -= 1;
        }
        self.next = (i + 1) % n;
        batches[i].push(x);
        Ok(())
    }

    fn should_stop(&self, rooms: &[Option<usize>]) -> bool {
        if self.eager_cancel {
            rooms.iter().any(Option::is_none)
        } else {
            rooms.iter().all(Option::is_none)
        }
    }
}

/// Partition: each element to the output `f` picks; an index out of range fails the stream.
///
/// As in Akka, an element waits only for room on its own output: a full output holds back the
/// one element bound for it (and, behind it, the whole input), never elements that arrived
/// while the other outputs had room.
pub(crate) struct PartitionRouter<T, F> {
    pub(crate) f: F,
    pub(crate) outputs: usize,
    /// An element whose output had no room, and that output.
    pub(crate) held: Option<(usize, T)>,
    /// Decides what an index out of range or a panic in `f` does.
    pub(crate) sup: Supervisor,
}

impl<T: Send + 'static, F: FnMut(&T) -> usize + Send + 'static> Router<T>
    for PartitionRouter<T, F>
{
    type Out = T;

    fn demand(&self, rooms: &[Option<usize>], _pulled: &[bool]) -> usize {
        if self.held.is_some() {
            return 0;
        }
        // A batch when every live output can take all of it; otherwise one element at a time
        // while any output has room (it may have to be held back).
        let live = || rooms.iter().flatten().copied();
        match live().min() {
            Some(min) if min > 0 => min,
            Some(_) if live().any(|r| r > 0) => 1,
            _ => 0,
        }
    }

    fn route(
        &mut self,
        x: T,
        rooms: &mut [Option<usize>],
        batches: &mut [Vec<T>],
    ) -> Result<(), StreamError> {
        let f = &mut self.f;
        let picked = match self.sup.call(|| f(&x)) {
            Ok(i) if i < self.outputs => Ok(i),
            Ok(i) => Err(StreamError::PartitionOutOfBounds {
                index: i,
                outputs: self.outputs,
            }),
            Err(e) => Err(e),
        };
        let i = match picked {
            Ok(i) => i,
            // As Akka's Partition: Resume and Restart drop the element and go on.
            Err(e) if self.sup.decide(&e) != Directive::Stop => return Ok(()),
            Err(e) => return Err(e),
        };
        match rooms[i].as_mut() {
            Some(0) => self.held = Some((i, x)),
            Some(r) => {
                *r -= 1;
                batches[i].push(x);
            }
            // An element for a cancelled output is dropped, as in Akka's Partition.
            None => {}
        }
        Ok(())
    }

    fn release(&mut self, rooms: &mut [Option<usize>], batches: &mut [Vec<T>]) -> bool {
        match self.held.take() {
            Some((i, x)) => match rooms[i].as_mut() {
                Some(0) => {
                    self.held = Some((i, x));
                    false
                }
                Some(r) => {
                    *r -= 1;
                    batches[i].push(x);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    fn holding(&self) -> bool {
        self.held.is_some()
    }
}

/// Unzip with a function: each element split into two, sent when both outputs have room.
pub(crate) struct UnzipRouter<F> {
    pub(crate) f: F,
}

impl<T, A, F> Router<T> for UnzipRouter<F>
where
    T: Send + 'static,
    A: Send + 'static,
    F: FnMut(T) -> (A, A) + Send + 'static,
{
    type Out = A;

    fn demand(&self, rooms: &[Option<usize>], _pulled: &[bool]) -> usize {
        // A cancelled output no longer holds the other back.
        rooms.iter().flatten().copied().min().unwrap_or(0)
    }

    fn route(
        &mut self,
        x: T,
        _rooms: &mut [Option<usize>],
        batches: &mut [Vec<A>],
    ) -> Result<(), StreamError> {
        let (a, b) = (self.f)(x);
        batches[0].push(a);
        batches[1].push(b);
        Ok(())
    }
}

/// Wire tap: output 0 is the main stream and sets the pace; output 1 gets a copy only when it
/// has room, and its cancellation does not stop the main stream.
pub(crate) struct TapRouter;

impl<T: Clone + Send + 'static> Router<T> for TapRouter {
    type Out = T;

    fn demand(&self, rooms: &[Option<usize>], _pulled: &[bool]) -> usize {
        rooms[0].unwrap_or(0)
    }

    fn route(
        &mut self,
        x: T,
        rooms: &mut [Option<usize>],
        batches: &mut [Vec<T>],
    ) -> Result<(), StreamError> {
        if let Some(r) = rooms[1].as_mut() {
            if *r > 0 {
                *r -= 1;
                batches[1].push(x.clone());
            }
        }
        batches[0].push(x);
        Ok(())
    }

    fn should_stop(&self, rooms: &[Option<usize>]) -> bool {
        rooms[0].is_none()
    }
}

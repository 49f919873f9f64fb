//! Test probes for driving and observing streams (Akka's stream test kit).
//!
//! [`TestSource::probe`] materializes a [`SourceProbe`] that a test uses to watch demand and send
//! elements; [`TestSink::probe`] materializes a [`SinkProbe`] that requests elements and checks
//! what arrives. Expectations wait up to a timeout (3 s by default, in tokio time, so paused-time
//! tests do not really wait) and panic with a description when they are not met, as test
//! assertions do.
//!
//! ```
//! use weir::prelude::*;
//! use weir::testkit::{TestSink, TestSource};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (src, sink) = TestSource::<i32>::probe()
//!     .map(|x| x * 2)
//!     .to_mat(TestSink::probe(), Keep::both)
//!     .run();
//! sink.request(2);
//! assert_eq!(src.expect_request().await, 2);
//! src.send_next(1).await;
//! sink.expect_next(2).await;
//! src.send_complete();
//! sink.expect_complete().await;
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;

use crate::stage::{pull_guarded, BoxPull, Pull, Step};
use crate::sync::lock;
use crate::{Sink, Source, StreamError};

/// How long an expectation waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

/// Waits until `check` returns `Some`, re-checking whenever `notify` fires, for at most
/// `timeout`; panics with `what` on timeout.
async fn wait_for<S, R>(
    shared: &Mutex<S>,
    notify: &Notify,
    timeout: Duration,
    what: &str,
    mut check: impl FnMut(&mut S) -> Option<R>,
) -> R {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(r) = check(&mut lock(shared)) {
            return r;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            panic!("timeout ({timeout:?}) while waiting for {what}");
        }
    }
}

/// Builds source probes.
#[derive(Debug)]
pub struct TestSource<T>(std::marker::PhantomData<T>);

impl<T: Send + 'static> TestSource<T> {
    /// A source whose elements, demand and termination are controlled through the materialized
    /// [`SourceProbe`].
    pub fn probe() -> Source<T, SourceProbe<T>> {
        Source::from_fn(|_, _| {
            let shared = Arc::new(SourceShared {
                state: Mutex::new(SourceState {
                    queue: VecDeque::new(),
                    terminal: None,
                    outstanding: 0,
                    requests: VecDeque::new(),
                    cancelled: false,
                    waker: None,
                }),
                notify: Notify::new(),
            });
            let probe = SourceProbe {
                shared: shared.clone(),
                timeout: DEFAULT_TIMEOUT,
            };
            (Box::new(ProbeSourceStage { shared }) as BoxPull<T>, probe)
        })
    }
}

struct SourceState<T> {
    queue: VecDeque<T>,
    terminal: Option<Step>,
    /// Demand signalled downstream and not yet filled.
    outstanding: u64,
    requests: VecDeque<u64>,
    cancelled: bool,
    waker: Option<Waker>,
}

struct SourceShared<T> {
    state: Mutex<SourceState<T>>,
    notify: Notify,
}

struct ProbeSourceStage<T> {
    shared: Arc<SourceShared<T>>,
}

impl<T: Send + 'static> Pull<T> for ProbeSourceStage<T> {
    /// `send_error` reaches a stage that is not pulling, as `onError` needs no demand; elements
    /// sent before it (already delivered, in Reactive Streams terms) go first.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut st = lock(&self.shared.state);
        match &st.terminal {
            Some(Step::Failed(e)) if st.queue.is_empty() => Poll::Ready(e.clone()),
            _ => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.shared.state);
        if st.queue.is_empty() && matches!(st.terminal, Some(Step::Complete)) {
            return Poll::Ready(());
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut st = lock(&self.shared.state);
        let max = max as u64;
        if max > st.outstanding {
            // Demand in the pull protocol is a window; the probe reports its growth as the
            // Reactive Streams `request(n)` it amounts to.
            let n = max - st.outstanding;
            st.requests.push_back(n);
            st.outstanding = max;
            self.shared.notify.notify_one();
        }
        let mut n = 0;
        while n < max {
            match st.queue.pop_front() {
                Some(x) => {
                    out.push(x);
                    n += 1;
                }
                None => break,
            }
        }
        st.outstanding -= n;
        if n > 0 {
            self.shared.notify.notify_one();
        }
        if st.queue.is_empty() {
            if let Some(t) = st.terminal.take() {
                return Poll::Ready(t);
            }
        }
        if n > 0 {
            return Poll::Ready(Step::Open);
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for ProbeSourceStage<T> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.cancelled = true;
        self.shared.notify.notify_one();
    }
}

/// The test's handle on a [`TestSource::probe`].
pub struct SourceProbe<T> {
    shared: Arc<SourceShared<T>>,
    timeout: Duration,
}

impl<T> Debug for SourceProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceProbe").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> SourceProbe<T> {
    /// Changes how long expectations wait.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits for the next demand signal and returns its size.
    pub async fn expect_request(&self) -> u64 {
        wait_for(
            &self.shared.state,
            &self.shared.notify,
            self.timeout,
            "a request",
            |st| st.requests.pop_front(),
        )
        .await
    }

    /// Demand signalled and not yet filled (including elements sent but not yet taken).
    pub fn pending_demand(&self) -> u64 {
        let st = lock(&self.shared.state);
        st.outstanding.saturating_sub(st.queue.len() as u64)
    }

    /// Waits until there is demand for one more element, then sends `x`.
    ///
    /// # Panics
    /// On timeout, or if the stream cancelled.
    pub async fn send_next(&self, x: T) {
        wait_for(
            &self.shared.state,
            &self.shared.notify,
            self.timeout,
            "demand",
            |st| {
                assert!(!st.cancelled, "send_next: the stream has cancelled");
                (st.outstanding > st.queue.len() as u64).then_some(())
            },
        )
        .await;
        let mut st = lock(&self.shared.state);
        st.queue.push_back(x);
        wake(&mut st.waker);
    }

    /// Sends `x` without waiting for demand: the stage will hold it until demand arrives (to
    /// test what a stage does with an element it did not ask for, use this sparingly).
    pub fn send_unrequested(&self, x: T) {
        let mut st = lock(&self.shared.state);
        st.queue.push_back(x);
        wake(&mut st.waker);
    }

    /// Completes the source (after the elements already sent).
    pub fn send_complete(&self) {
        let mut st = lock(&self.shared.state);
        st.terminal = Some(Step::Complete);
        wake(&mut st.waker);
    }

    /// Fails the source with `error` (after the elements already sent).
    pub fn send_error(&self, error: StreamError) {
        let mut st = lock(&self.shared.state);
        st.terminal = Some(Step::Failed(error));
        wake(&mut st.waker);
    }

    /// Waits until the stream cancels the source.
    pub async fn expect_cancellation(&self) {
        wait_for(
            &self.shared.state,
            &self.shared.notify,
            self.timeout,
            "cancellation",
            |st| st.cancelled.then_some(()),
        )
        .await
    }

    /// Whether the stream has cancelled the source.
    pub fn is_cancelled(&self) -> bool {
        lock(&self.shared.state).cancelled
    }
}

/// Builds sink probes.
#[derive(Debug)]
pub struct TestSink<T>(std::marker::PhantomData<T>);

/// What a sink probe observed.
#[derive(Debug, Clone)]
pub enum Event<T> {
    /// An element.
    Next(T),
    /// Completion.
    Complete,
    /// Failure.
    Error(StreamError),
}

struct SinkState<T> {
    /// Requested and not yet delivered; saturates instead of overflowing.
    requested: u64,
    events: VecDeque<Event<T>>,
    cancel: bool,
    waker: Option<Waker>,
    terminated: bool,
}

struct SinkShared<T> {
    state: Mutex<SinkState<T>>,
    notify: Notify,
}

impl<T: Send + 'static> TestSink<T> {
    /// A sink that requests elements only when the test calls [`SinkProbe::request`].
    pub fn probe() -> Sink<T, SinkProbe<T>> {
        Sink::from_fn(|m, up, _| {
            let shared = Arc::new(SinkShared {
                state: Mutex::new(SinkState {
                    requested: 0,
                    events: VecDeque::new(),
                    cancel: false,
                    waker: None,
                    terminated: false,
                }),
                notify: Notify::new(),
            });
            m.spawn_labeled(
                std::borrow::Cow::Borrowed("sink probe"),
                None,
                ProbeSinkDriver {
                    up: Some(up),
                    shared: shared.clone(),
                    buf: Vec::new(),
                },
            );
            SinkProbe {
                shared,
                timeout: DEFAULT_TIMEOUT,
            }
        })
    }
}

struct ProbeSinkDriver<T> {
    up: Option<BoxPull<T>>,
    shared: Arc<SinkShared<T>>,
    buf: Vec<T>,
}

impl<T> Unpin for ProbeSinkDriver<T> {}

impl<T: Send + 'static> Future for ProbeSinkDriver<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let Some(up) = this.up.as_mut() else {
                return Poll::Ready(());
            };
            let want = {
                let mut st = lock(&this.shared.state);
                if st.cancel {
                    drop(st);
                    this.up = None;
                    return Poll::Ready(());
                }
                if st.requested == 0 {
                    st.waker = Some(cx.waker().clone());
                    drop(st);
                    // As a Reactive Streams subscriber, the probe hears of completion without
                    // demand, from an upstream that can tell (one with nothing left to deliver).
                    if up.poll_complete(cx).is_ready() {
                        let mut st = lock(&this.shared.state);
                        st.events.push_back(Event::Complete);
                        st.terminated = true;
                        this.shared.notify.notify_one();
                        drop(st);
                        this.up = None;
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
                usize::try_from(st.requested.min(1 << 16)).unwrap_or(1 << 16)
            };
            let step = match pull_guarded(up, cx, &mut this.buf, want) {
                Poll::Pending => {
                    // Also wake on cancel or more demand.
                    lock(&this.shared.state).waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Poll::Ready(step) => step,
            };
            let mut st = lock(&this.shared.state);
            assert!(
                this.buf.len() <= want,
                "stage delivered {} elements for a demand of {want}",
                this.buf.len()
            );
            st.requested -= this.buf.len() as u64;
            st.events.extend(this.buf.drain(..).map(Event::Next));
            let done = match step {
                Step::Open => false,
                Step::Complete => {
                    st.events.push_back(Event::Complete);
                    true
                }
                Step::Failed(e) => {
                    st.events.push_back(Event::Error(e));
                    true
                }
            };
            st.terminated |= done;
            this.shared.notify.notify_one();
            if done {
                drop(st);
                this.up = None;
                return Poll::Ready(());
            }
        }
    }
}

/// The test's handle on a [`TestSink::probe`].
pub struct SinkProbe<T> {
    shared: Arc<SinkShared<T>>,
    timeout: Duration,
}

impl<T> Debug for SinkProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkProbe").finish_non_exhaustive()
    }
}

impl<T: Send + Debug + PartialEq + 'static> SinkProbe<T> {
    /// Changes how long expectations wait.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Signals demand for `n` more elements (accumulating, saturating at `u64::MAX`).
    pub fn request(&self, n: u64) {
        let mut st = lock(&self.shared.state);
        st.requested = st.requested.saturating_add(n);
        wake(&mut st.waker);
    }

    /// Cancels the stream (idempotent).
    pub fn cancel(&self) {
        let mut st = lock(&self.shared.state);
        st.cancel = true;
        wake(&mut st.waker);
    }

    /// Waits for the next event of any kind.
    pub async fn expect_event(&self) -> Event<T> {
        wait_for(
            &self.shared.state,
            &self.shared.notify,
            self.timeout,
            "an event",
            |st| st.events.pop_front(),
        )
        .await
    }

    /// Waits for the next element and returns it.
    ///
    /// # Panics
    /// If the next event is a terminal signal, or on timeout.
    pub async fn expect_next_element(&self) -> T {
        match self.expect_event().await {
            Event::Next(x) => x,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// Waits for the next element and checks it equals `expected`.
    pub async fn expect_next(&self, expected: T) {
        let got = self.expect_next_element().await;
        assert_eq!(got, expected, "expect_next");
    }

    /// Waits for the next elements and checks they equal `expected`, in order.
    pub async fn expect_next_n(&self, expected: impl IntoIterator<Item = T>) {
        for (i, e) in expected.into_iter().enumerate() {
            let got = self.expect_next_element().await;
            assert_eq!(got, e, "expect_next_n: element {i}");
        }
    }

    /// Requests one element and waits for it.
    pub async fn request_next(&self) -> T {
        self.request(1);
        self.expect_next_element().await
    }

    /// Waits for completion.
    ///
    /// The probe pulls only while it has demand, and in weir's pull protocol a stage reports
    /// completion on a pull; so when the stream ends exactly after the last requested element,
    /// request one more before expecting completion (Akka's probe is told without demand).
    /// Sources that know they are exhausted (`from_iter`, `single`, `future`, …) complete together
    /// with their last element and need no extra request.
    ///
    /// # Panics
    /// If the next event is an element or a failure.
    pub async fn expect_complete(&self) {
        match self.expect_event().await {
            Event::Complete => {}
            other => panic!("expected completion, got {other:?}"),
        }
    }

    /// Waits for failure and returns the error.
    pub async fn expect_error(&self) -> StreamError {
        match self.expect_event().await {
            Event::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Checks that nothing arrives for `duration`.
    ///
    /// # Panics
    /// If an element or terminal signal arrives meanwhile.
    pub async fn expect_no_message(&self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(ev) = lock(&self.shared.state).events.front() {
                panic!("expected no message for {duration:?}, got {ev:?}");
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Every event received so far and not yet expected.
    pub fn drain_events(&self) -> Vec<Event<T>> {
        lock(&self.shared.state).events.drain(..).collect()
    }

    /// Demand requested and not yet delivered.
    pub fn outstanding(&self) -> u64 {
        lock(&self.shared.state).requested
    }

    /// Whether the stream has terminated (completed or failed) at this sink.
    pub fn is_terminated(&self) -> bool {
        lock(&self.shared.state).terminated
    }
}

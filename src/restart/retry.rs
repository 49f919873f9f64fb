//! `RetryFlow::with_backoff`: an element's failed result retried through a flow, the stream
//! left running.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Sleep;

use super::backoff::{poll_timer, Backoff};
use super::RestartSettings;
use crate::stage::{guarded, pull_guarded, BoxPull, Pull, Step};
use crate::sync::lock;
use crate::Flow;

/// Retries elements through a flow (Akka's `RetryFlow`).
#[derive(Debug, Clone, Copy)]
pub struct RetryFlow;

impl RetryFlow {
    /// Runs each element through `flow` and asks `decide_retry(&input, &output)` about the
    /// result: `None` emits the output; `Some(next)` sends `next` through `flow` again after a
    /// backoff, from `min_backoff` doubling up to `max_backoff` (stretched by up to
    /// `random_factor`), at most `max_retries` times, after which the last output is emitted
    /// (Akka's `RetryFlow.withBackoff`). The stream is not restarted: `flow` keeps running and
    /// its materialized value is this flow's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::RetryFlow;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// // A call that fails for odd attempts: retry with the attempt number bumped.
    /// let call = Flow::<(u32, u32)>::new()
    ///     .map(|(x, attempt)| if attempt % 2 == 1 { Err(attempt) } else { Ok(x * 10) });
    /// let retrying = RetryFlow::with_backoff(
    ///     Duration::from_millis(10),
    ///     Duration::from_secs(1),
    ///     0.0,
    ///     3,
    ///     call,
    ///     |&(x, attempt): &(u32, u32), out: &Result<u32, u32>| out.is_err().then_some((x, attempt + 1)),
    /// );
    /// let out = Source::from_iter(vec![(1, 0), (2, 1)]).via(retrying).run_with(Sink::seq()).await;
    /// assert_eq!(out.unwrap(), vec![Ok(10), Ok(20)]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One element at a time is in `flow` (as in Akka): the next is pulled from upstream only
    /// once the previous one's output has been emitted. During a backoff nothing is pulled.
    ///
    /// # Completion
    /// When the upstream completes, the element in progress finishes its retries and is
    /// emitted, then the stage completes. If `flow` completes, so does the stage.
    ///
    /// # Errors
    /// A failure of the upstream or of `flow` fails the stage; a panicking `decide_retry`
    /// fails it with [`StreamError::Panicked`](crate::StreamError::Panicked). `flow` must emit one output per input (Akka's
    /// requirement too): a flow that drops an element leaves the stage waiting for its output.
    ///
    /// # Cancellation
    /// Cancelling it cancels `flow`, the pending retry and the upstream.
    pub fn with_backoff<In, Out, M, D>(
        min_backoff: Duration,
        max_backoff: Duration,
        random_factor: f64,
        max_retries: u32,
        flow: Flow<In, Out, M>,
        decide_retry: D,
    ) -> Flow<In, Out, M>
    where
        In: Clone + Send + 'static,
        Out: Send + 'static,
        M: 'static,
        D: Fn(&In, &Out) -> Option<In> + Send + Sync + 'static,
    {
        let settings = RestartSettings::new(min_backoff, max_backoff, random_factor);
        let decide = Arc::new(decide_retry);
        Flow::from_fn(move |m, up, attrs| {
            let slot = Arc::new(Mutex::new(Slot {
                elem: None,
                waker: None,
            }));
            let (inner, mat) = flow.materialize_into(
                m,
                Box::new(Feed { slot: slot.clone() }) as BoxPull<In>,
                attrs,
            );
            let stage = Retry {
                up: Some(up),
                inner,
                slot,
                decide: decide.clone(),
                backoff: Backoff::new(settings.clone(), "RetryFlow"),
                max_retries,
                state: State::Idle,
                name: attrs.name_or("RetryFlow"),
                ins: Vec::with_capacity(1),
                outs: Vec::with_capacity(1),
            };
            (Box::new(stage) as BoxPull<Out>, mat)
        })
    }
}

/// The one input `flow` may read next.
struct Slot<In> {
    elem: Option<In>,
    waker: Option<Waker>,
}

/// `flow`'s upstream: the element (or retry) the stage gives it, one at a time. It never ends
/// on its own: the stage ends, and drops `flow` with it.
struct Feed<In> {
    slot: Arc<Mutex<Slot<In>>>,
}

impl<In: Send + 'static> Pull<In> for Feed<In> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<In>, _max: usize) -> Poll<Step> {
        let mut slot = lock(&self.slot);
        match slot.elem.take() {
            Some(x) => {
                out.push(x);
                Poll::Ready(Step::Open)
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

enum State<In> {
    /// Waiting for an element from upstream.
    Idle,
    /// `input` is in `flow`; `retries` retries so far.
    InFlight { input: In, retries: u32 },
    /// `input` goes into `flow` when the timer fires.
    Backoff {
        input: In,
        retries: u32,
        timer: Pin<Box<Sleep>>,
    },
    /// The upstream ended with the element before last; complete once it is out.
    Done,
}

struct Retry<In, Out, D> {
    up: Option<BoxPull<In>>,
    inner: BoxPull<Out>,
    slot: Arc<Mutex<Slot<In>>>,
    decide: Arc<D>,
    backoff: Backoff,
    max_retries: u32,
    state: State<In>,
    name: Cow<'static, str>,
    ins: Vec<In>,
    outs: Vec<Out>,
}

impl<In, Out, D> Retry<In, Out, D>
where
    In: Clone + Send + 'static,
{
    fn feed(&mut self, input: &In) {
        let mut slot = lock(&self.slot);
        slot.elem = Some(input.clone());
        let waker = slot.waker.take();
        drop(slot);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<In, Out, D> Pull<Out> for Retry<In, Out, D>
where
    In: Clone + Send + 'static,
    Out: Send + 'static,
    D: Fn(&In, &Out) -> Option<In> + Send + Sync + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, _max: usize) -> Poll<Step> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(Step::Complete),
                State::Idle => {
                    let Some(up) = self.up.as_mut() else {
                        return Poll::Ready(Step::Complete);
                    };
                    let step = match pull_guarded(up, cx, &mut self.ins, 1) {
                        Poll::Pending => {
                            self.state = State::Idle;
                            return Poll::Pending;
                        }
                        Poll::Ready(step) => step,
                    };
                    match (self.ins.pop(), step) {
                        (_, Step::Failed(e)) => return Poll::Ready(Step::Failed(e)),
                        (None, _) => return Poll::Ready(Step::Complete),
                        (Some(input), step) => {
                            if matches!(step, Step::Complete) {
                                self.up = None;
                            }
                            self.feed(&input);
                            self.state = State::InFlight { input, retries: 0 };
                        }
                    }
                }
                State::Backoff {
                    input,
                    retries,
                    mut timer,
                } => {
                    if poll_timer(&mut timer, cx).is_pending() {
                        self.state = State::Backoff {
                            input,
                            retries,
                            timer,
                        };
                        return Poll::Pending;
                    }
                    self.feed(&input);
                    self.state = State::InFlight { input, retries };
                }
                State::InFlight { input, retries } => {
                    let step = match pull_guarded(&mut self.inner, cx, &mut self.outs, 1) {
                        Poll::Pending => {
                            self.state = State::InFlight { input, retries };
                            return Poll::Pending;
                        }
                        Poll::Ready(step) => step,
                    };
                    let Some(output) = self.outs.pop() else {
                        // `flow` ended without an output for `input`.
                        return Poll::Ready(step);
                    };
                    let decide = &self.decide;
                    let next = match guarded(&self.name, || decide(&input, &output)) {
                        Ok(next) => next,
                        Err(e) => return Poll::Ready(Step::Failed(e)),
                    };
                    match next {
                        Some(next) if retries < self.max_retries && !step.is_terminal() => {
                            let timer = Box::pin(tokio::time::sleep(self.backoff.delay(retries)));
                            tracing::debug!(stage = %self.name, retry = retries + 1, "retrying an element");
                            self.state = State::Backoff {
                                input: next,
                                retries: retries + 1,
                                timer,
                            };
                        }
                        _ => {
                            out.push(output);
                            if step.is_terminal() {
                                return Poll::Ready(step);
                            }
                            self.state = if self.up.is_some() {
                                State::Idle
                            } else {
                                State::Done
                            };
                            return Poll::Ready(Step::Open);
                        }
                    }
                }
            }
        }
    }
}

//! The rate-decoupled operators — `buffer` with dropping strategies, `conflate`, `batch`,
//! `expand` — share one mechanism: upstream runs on its own island and hands elements to a
//! [`Policy`] under a lock; downstream takes from the policy. Upstream therefore keeps moving
//! while downstream is busy, which is the point of these operators.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::stage::{pull_guarded, BoxPull, Pull, Step, Supervisor};
use crate::{Materializer, StreamError};

/// How many elements the upstream island pulls per batch when its policy never back-pressures.
const MAX_BATCH: usize = 64;

/// What a decoupled operator does with elements between its two islands.
pub(crate) trait Policy<In, Out>: Send + 'static {
    /// How many elements upstream may deliver now; 0 back-pressures.
    fn room(&self) -> usize;
    /// Accepts one upstream element; `Err` fails the stream.
    fn offer(&mut self, x: In, sup: &Supervisor) -> Result<(), StreamError>;
    /// Moves up to `max` elements downstream; `Err` fails the stream.
    fn take(&mut self, out: &mut Vec<Out>, max: usize, sup: &Supervisor)
        -> Result<(), StreamError>;
    /// Upstream completed; nothing more will be offered.
    fn finish(&mut self) {}
    /// Whether `take` has nothing to give.
    fn is_empty(&self) -> bool;
}

struct State<P> {
    policy: P,
    terminal: Option<Step>,
    cancelled: bool,
    producer: Option<Waker>,
    consumer: Option<Waker>,
}

struct Shared<P> {
    state: Mutex<State<P>>,
    sup: Supervisor,
}

impl<P> Shared<P> {
    fn lock(&self) -> MutexGuard<'_, State<P>> {
        // User code runs under this lock, but always inside `Supervisor::call`, which catches
        // panics, so the state is consistent even if the lock was poisoned.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

struct Producer<In, Out, P> {
    up: Option<BoxPull<In>>,
    shared: Arc<Shared<P>>,
    buf: Vec<In>,
    _out: std::marker::PhantomData<fn() -> Out>,
}

impl<In, Out, P> Unpin for Producer<In, Out, P> {}

impl<In, Out, P> Future for Producer<In, Out, P>
where
    In: Send + 'static,
    Out: Send + 'static,
    P: Policy<In, Out>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(up) = this.up.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            let room = {
                let mut st = this.shared.lock();
                if st.cancelled {
                    break;
                }
                let room = st.policy.room();
                if room == 0 {
                    register(&mut st.producer, cx);
                    drop(st);
                    // Full, so not pulling: a failure still overtakes the aggregate, as in Akka.
                    if let Poll::Ready(e) = up.poll_failed(cx) {
                        let mut st = this.shared.lock();
                        st.terminal = Some(Step::Failed(e));
                        wake(&mut st.consumer);
                        break;
                    }
                    return Poll::Pending;
                }
                room.min(MAX_BATCH)
            };
            let step = match pull_guarded(up, cx, &mut this.buf, room) {
                Poll::Pending => {
                    let mut st = this.shared.lock();
                    if st.cancelled {
                        break;
                    }
                    register(&mut st.producer, cx);
                    return Poll::Pending;
                }
                Poll::Ready(step) => step,
            };
            let mut st = this.shared.lock();
            let mut failed = None;
            for x in this.buf.drain(..) {
                if let Err(e) = st.policy.offer(x, &this.shared.sup) {
                    failed = Some(e);
                    break;
                }
            }
            this.buf.clear();
            let terminal = match (failed, step) {
                (Some(e), _) => Some(Step::Failed(e)),
                (None, Step::Open) => None,
                (None, Step::Complete) => {
                    st.policy.finish();
                    Some(Step::Complete)
                }
                (None, Step::Failed(e)) => Some(Step::Failed(e)),
            };
            let done = terminal.is_some();
            if done {
                st.terminal = terminal;
            }
            wake(&mut st.consumer);
            if done {
                break;
            }
        }
        this.up = None;
        Poll::Ready(())
    }
}

impl<In, Out, P> Drop for Producer<In, Out, P> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.terminal.is_none() && !st.cancelled {
            st.terminal = Some(Step::Failed(StreamError::AbruptTermination));
        }
        wake(&mut st.consumer);
    }
}

struct Consumer<P> {
    shared: Arc<Shared<P>>,
}

impl<In, Out, P> Pull<Out> for ConsumerOf<In, Out, P>
where
    In: Send + 'static,
    Out: Send + 'static,
    P: Policy<In, Out>,
{
    /// A failure the producer side has seen overtakes what is buffered.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut st = self.0.shared.lock();
        match &st.terminal {
            Some(Step::Failed(e)) => Poll::Ready(e.clone()),
            _ => {
                register(&mut st.consumer, cx);
                Poll::Pending
            }
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let shared = &self.0.shared;
        let mut st = shared.lock();
        if let Some(Step::Failed(_)) = &st.terminal {
            // As in Akka, a failure overtakes buffered elements.
            return Poll::Ready(st.terminal.take().expect("checked"));
        }
        let before = out.len();
        if let Err(e) = st.policy.take(out, max, &shared.sup) {
            st.cancelled = true;
            wake(&mut st.producer);
            return Poll::Ready(Step::Failed(e));
        }
        // A take can free room without emitting (an empty expansion): wake the producer
        // either way.
        wake(&mut st.producer);
        if out.len() > before {
            return Poll::Ready(Step::Open);
        }
        if st.terminal.is_some() && st.policy.is_empty() {
            return Poll::Ready(st.terminal.take().expect("checked"));
        }
        register(&mut st.consumer, cx);
        Poll::Pending
    }
}

/// The downstream half, typed by the policy's element types.
struct ConsumerOf<In, Out, P>(Consumer<P>, std::marker::PhantomData<fn(In) -> Out>);

impl<P> Drop for Consumer<P> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.cancelled = true;
        wake(&mut st.producer);
    }
}

/// Wires `up` into a decoupled operator with `policy`: spawns the upstream island and returns
/// the downstream stage.
pub(crate) fn decouple<In, Out, P>(
    m: &mut Materializer,
    up: BoxPull<In>,
    policy: P,
    sup: Supervisor,
) -> BoxPull<Out>
where
    In: Send + 'static,
    Out: Send + 'static,
    P: Policy<In, Out>,
{
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            policy,
            terminal: None,
            cancelled: false,
            producer: None,
            consumer: None,
        }),
        sup,
    });
    m.spawn_island(Producer::<In, Out, P> {
        up: Some(up),
        shared: shared.clone(),
        buf: Vec::new(),
        _out: std::marker::PhantomData,
    });
    Box::new(ConsumerOf::<In, Out, P>(
        Consumer { shared },
        std::marker::PhantomData,
    ))
}

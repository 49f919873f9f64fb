//! `MergeHub`: one stream fed by any number of producers that come and go.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{lock, register, wake, LastHandle, Orphaned, Slab};
use crate::stage::{poll_budget, poll_terminal, pull_guarded, BoxPull, Pull, Step};
use crate::{NotUsed, Sink, Source, StreamError};

/// Builds merge hubs (Akka's `MergeHub`).
#[derive(Debug, Clone, Copy)]
pub struct MergeHub;

/// One attached producer: how many more elements it may put into the hub.
struct Producer {
    /// Tells this producer's elements from those of an earlier one in the same slot.
    generation: u64,
    credit: usize,
    waker: Option<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// [`DrainingControl::drain_and_complete`]: no new producers; completes when the attached
    /// ones have finished.
    Draining,
    /// The hub's stream is gone: producers cancel.
    Closed,
}

struct Inner<T> {
    /// Elements in arrival order, each with the producer (slot, generation) it came from: its
    /// credit returns to that producer when the element leaves the hub.
    queue: VecDeque<(usize, u64, T)>,
    producers: Slab<Producer>,
    generations: u64,
    state: State,
    /// Every [`Sink`] of this hub has been dropped: nobody can attach any more.
    orphaned: bool,
    consumer: Option<Waker>,
}

impl<T> Inner<T> {
    fn finished(&self) -> bool {
        (self.state == State::Draining || self.orphaned)
            && self.producers.len == 0
            && self.queue.is_empty()
    }
}

struct Shared<T> {
    inner: Mutex<Inner<T>>,
    per_producer: usize,
}

/// Every clone of the hub's [`Sink`] is gone: the hub completes once its producers finish.
impl<T: Send + 'static> Orphaned for Shared<T> {
    fn orphan(&self) -> Option<Waker> {
        let mut inner = lock(&self.inner);
        inner.orphaned = true;
        inner.consumer.take()
    }
}

/// Completes a [`MergeHub::source_with_draining`] hub once its producers have finished (Akka's
/// `MergeHub.DrainingControl`). Cheap to clone.
#[derive(Clone)]
pub struct DrainingControl {
    drain: Arc<dyn Fn() + Send + Sync>,
}

impl DrainingControl {
    /// Stops the hub from taking new producers (each one that attaches later is cancelled at
    /// once) and completes its stream when every attached producer has finished and their
    /// elements have been emitted. Calling it again does nothing.
    pub fn drain_and_complete(&self) {
        (self.drain)();
    }
}

impl fmt::Debug for DrainingControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainingControl").finish_non_exhaustive()
    }
}

impl MergeHub {
    /// A source that emits what any number of producers send it: its materialized value is a
    /// [`Sink`] that may be materialized any number of times, while the hub runs, each
    /// materialization feeding this one stream (Akka's `MergeHub.source`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::MergeHub;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (to_hub, out) = MergeHub::source::<u32>(16).to_mat(Sink::seq(), Keep::both).run();
    /// Source::range(1, 3).run_with(to_hub.clone());
    /// Source::range(10, 12).run_with(to_hub.clone());
    /// drop(to_hub); // nobody else will attach: the hub completes once both have finished
    /// let mut out = out.await.unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![1, 2, 3, 10, 11, 12]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Each producer may have at most `per_producer_buffer` elements in the hub; it is
    /// back-pressured past that until the hub's downstream takes them. The hub holds at most
    /// `per_producer_buffer` × the number of producers attached. Elements are emitted in the
    /// order they reached the hub; each producer's own order is kept.
    ///
    /// # Completion
    /// A producer that completes only leaves the hub. The hub completes once nobody can send
    /// it anything more: every clone of its sink dropped and every producer finished (Akka's
    /// hub then runs on forever), or after [`DrainingControl::drain_and_complete`] (see
    /// [`source_with_draining`](MergeHub::source_with_draining)).
    ///
    /// # Errors
    /// A producer that fails leaves the hub, logged through `tracing`; the hub and the other
    /// producers go on (as in Akka). A `per_producer_buffer` of 0 fails the hub with
    /// [`StreamError::InvalidArgument`], and producers that attach are cancelled.
    ///
    /// # Cancellation
    /// When the hub's downstream cancels, every producer is cancelled, and so is each one that
    /// attaches later.
    pub fn source<T: Send + 'static>(per_producer_buffer: usize) -> Source<T, Sink<T, NotUsed>> {
        Source::from_fn(move |_, _| {
            let (sink, _, pull) = hub(per_producer_buffer);
            (Box::new(pull) as BoxPull<T>, sink)
        })
    }

    /// [`source`](MergeHub::source), also materializing a [`DrainingControl`] that completes
    /// the hub once the producers attached have finished (Akka's
    /// `MergeHub.sourceWithDraining`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::MergeHub;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ((to_hub, control), out) = MergeHub::source_with_draining::<u32>(4)
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// Source::range(1, 3).run_with(to_hub.clone());
    /// control.drain_and_complete();
    /// // Too late: cancelled at once.
    /// Source::range(7, 9).run_with(to_hub);
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn source_with_draining<T: Send + 'static>(
        per_producer_buffer: usize,
    ) -> Source<T, (Sink<T, NotUsed>, DrainingControl)> {
        Source::from_fn(move |_, _| {
            let (sink, shared, pull) = hub(per_producer_buffer);
            let control = DrainingControl {
                drain: Arc::new(move || {
                    let mut inner = lock(&shared.inner);
                    if inner.state == State::Running {
                        inner.state = State::Draining;
                    }
                    let consumer = inner.consumer.take();
                    drop(inner);
                    wake(consumer);
                }),
            };
            (Box::new(pull) as BoxPull<T>, (sink, control))
        })
    }
}

/// One materialization of a hub: the sink producers attach through, and the hub's stage.
fn hub<T: Send + 'static>(per_producer: usize) -> (Sink<T, NotUsed>, Arc<Shared<T>>, HubPull<T>) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            queue: VecDeque::new(),
            producers: Slab::new(),
            generations: 0,
            state: if per_producer == 0 {
                State::Closed
            } else {
                State::Running
            },
            orphaned: false,
            consumer: None,
        }),
        per_producer,
    });
    let token = LastHandle(shared.clone());
    let sink = Sink::from_fn(move |m, up: BoxPull<T>, _| {
        let shared = &token.0;
        let mut inner = lock(&shared.inner);
        if inner.state != State::Running {
            // Dropping `up` cancels it.
            return;
        }
        inner.generations += 1;
        let generation = inner.generations;
        let id = inner.producers.insert(Producer {
            generation,
            credit: shared.per_producer,
            waker: None,
        });
        drop(inner);
        m.spawn_island(ProducerRoot {
            up: Some(up),
            id,
            generation,
            shared: shared.clone(),
            got: Vec::new(),
        });
    });
    let pull = HubPull {
        shared: shared.clone(),
        failed: per_producer == 0,
    };
    (sink, shared, pull)
}

/// The hub's stage in its downstream's island.
struct HubPull<T> {
    shared: Arc<Shared<T>>,
    /// Made with a buffer of 0: fails at its first pull.
    failed: bool,
}

impl<T> HubPull<T> {
    fn invalid() -> StreamError {
        StreamError::InvalidArgument {
            stage: "MergeHub",
            problem: "the per-producer buffer must be at least 1",
        }
    }
}

impl<T: Send + 'static> Pull<T> for HubPull<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if self.failed {
            return Poll::Ready(Step::Failed(Self::invalid()));
        }
        let mut inner = lock(&self.shared.inner);
        if inner.queue.is_empty() {
            if inner.finished() {
                return Poll::Ready(Step::Complete);
            }
            register(&mut inner.consumer, cx.waker());
            return Poll::Pending;
        }
        // Producers on other tasks may keep the queue full: yield like a hot source.
        if poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let n = max.min(inner.queue.len());
        let mut woken = Vec::new();
        for _ in 0..n {
            let Some((id, generation, x)) = inner.queue.pop_front() else {
                break;
            };
            out.push(x);
            if let Some(p) = inner
                .producers
                .get_mut(id)
                .filter(|p| p.generation == generation)
            {
                p.credit += 1;
                // A producer waits for room only when it has no credit left; it refills in
                // batches of half its buffer, so one wake-up moves many elements.
                if p.credit == self.shared.per_producer.div_ceil(2) {
                    woken.extend(p.waker.take());
                }
            }
        }
        let step = if inner.finished() {
            Step::Complete
        } else {
            Step::Open
        };
        drop(inner);
        for w in woken {
            w.wake();
        }
        Poll::Ready(step)
    }

    fn poll_failed(&mut self, _cx: &mut Context<'_>) -> Poll<StreamError> {
        if self.failed {
            Poll::Ready(Self::invalid())
        } else {
            Poll::Pending
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = lock(&self.shared.inner);
        if !self.failed && inner.finished() {
            return Poll::Ready(());
        }
        register(&mut inner.consumer, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for HubPull<T> {
    /// The hub's stream is gone: cancel every producer.
    fn drop(&mut self) {
        let mut inner = lock(&self.shared.inner);
        inner.state = State::Closed;
        inner.queue.clear();
        let wakers: Vec<Waker> = inner
            .producers
            .iter_mut()
            .filter_map(|(_, p)| p.waker.take())
            .collect();
        drop(inner);
        for w in wakers {
            w.wake();
        }
    }
}

/// The root of one producer's island: pulls as much as its credit allows into the hub.
struct ProducerRoot<T> {
    up: Option<BoxPull<T>>,
    id: usize,
    generation: u64,
    shared: Arc<Shared<T>>,
    got: Vec<T>,
}

// No field is structurally pinned.
impl<T> Unpin for ProducerRoot<T> {}

impl<T> ProducerRoot<T> {
    /// Leaves the hub, cancelling upstream if it is still there.
    fn leave(&mut self) {
        self.up = None;
        let mut inner = lock(&self.shared.inner);
        if inner.producers.remove(self.id).is_some() {
            let consumer = if inner.finished() {
                inner.consumer.take()
            } else {
                None
            };
            drop(inner);
            wake(consumer);
        }
    }
}

impl<T: Send + 'static> Future for ProducerRoot<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let Some(up) = this.up.as_mut() else {
                return Poll::Ready(());
            };
            let credit = {
                let mut inner = lock(&this.shared.inner);
                if inner.state == State::Closed {
                    drop(inner);
                    this.leave();
                    return Poll::Ready(());
                }
                let Some(p) = inner.producers.get_mut(this.id) else {
                    return Poll::Ready(());
                };
                register(&mut p.waker, cx.waker());
                p.credit
            };
            let step = if credit == 0 {
                // No room: only a failure or completion can move this producer now.
                match poll_terminal(up, cx) {
                    Poll::Ready(step) => step,
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                match pull_guarded(up, cx, &mut this.got, credit) {
                    Poll::Ready(step) => step,
                    Poll::Pending => return Poll::Pending,
                }
            };
            if !this.got.is_empty() {
                let mut inner = lock(&this.shared.inner);
                if inner.state == State::Closed {
                    this.got.clear();
                } else {
                    let n = this.got.len();
                    if let Some(p) = inner.producers.get_mut(this.id) {
                        p.credit -= n;
                    }
                    let (id, generation) = (this.id, this.generation);
                    inner
                        .queue
                        .extend(this.got.drain(..).map(|x| (id, generation, x)));
                    let consumer = inner.consumer.take();
                    drop(inner);
                    wake(consumer);
                }
            }
            match step {
                Step::Open => {}
                Step::Complete => {
                    this.leave();
                    return Poll::Ready(());
                }
                Step::Failed(e) => {
                    tracing::warn!(error = %e, "a MergeHub producer failed; it leaves the hub");
                    this.leave();
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl<T> Drop for ProducerRoot<T> {
    fn drop(&mut self) {
        if self.up.is_some() {
            self.leave();
        }
    }
}

//! `PartitionHub`: one stream's elements routed, each to one of the consumers attached.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{lock, register, wake, LastHandle, Orphaned};
use crate::stage::{poll_terminal, pull_guarded, BoxPull, Pull, Step};
use crate::{NotUsed, Sink, Source, StreamError};

/// Builds partition hubs (Akka's `PartitionHub`).
#[derive(Debug, Clone, Copy)]
pub struct PartitionHub;

/// The consumers a [`PartitionHub::stateful_sink`] partitioner chooses from (Akka's
/// `PartitionHub.ConsumerInfo`).
pub struct ConsumerInfo {
    consumers: Vec<ConsumerQueue>,
}

struct ConsumerQueue {
    id: u64,
    queued: usize,
    waker: Option<Waker>,
}

impl ConsumerInfo {
    /// How many consumers are attached.
    pub fn size(&self) -> usize {
        self.consumers.len()
    }

    /// The ids of the consumers attached, in the order they attached.
    pub fn consumer_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.consumers.iter().map(|c| c.id)
    }

    /// The id of the `index`th consumer attached (Akka's `consumerIdByIdx`).
    pub fn consumer_id_by_index(&self, index: usize) -> Option<u64> {
        self.consumers.get(index).map(|c| c.id)
    }

    /// How many elements wait for consumer `id`: 0 for an id not attached (Akka's
    /// `queueSize`). Routing to the smallest queue balances the load.
    pub fn queue_size(&self, id: u64) -> usize {
        self.consumers
            .iter()
            .find(|c| c.id == id)
            .map_or(0, |c| c.queued)
    }
}

impl fmt::Debug for ConsumerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.consumers.iter().map(|c| (c.id, c.queued)))
            .finish()
    }
}

struct Inner<T> {
    /// Who is attached, in attach order; `queues[i]` holds the elements for `info.consumers[i]`
    /// (the info keeps only their count, so a partitioner can see it without seeing `T`).
    info: ConsumerInfo,
    queues: Vec<VecDeque<T>>,
    buffered: usize,
    next_id: u64,
    started: bool,
    terminal: Option<Result<(), StreamError>>,
    hub: Option<Waker>,
    orphaned: bool,
}

impl<T> Inner<T> {
    fn position(&self, id: u64) -> Option<usize> {
        self.info.consumers.iter().position(|c| c.id == id)
    }

    fn wake_all(&mut self) -> Vec<Waker> {
        self.info
            .consumers
            .iter_mut()
            .filter_map(|c| c.waker.take())
            .collect()
    }
}

type Router<T> = Box<dyn FnMut(&ConsumerInfo, &T) -> Result<u64, StreamError> + Send>;

struct Shared<T> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
    start_after: usize,
}

/// Every clone of the hub's [`Source`] is gone: once no consumer is left either, the hub
/// cancels its upstream.
impl<T: Send + 'static> Orphaned for Shared<T> {
    fn orphan(&self) -> Option<Waker> {
        let mut inner = lock(&self.inner);
        inner.orphaned = true;
        inner.hub.take()
    }
}

impl PartitionHub {
    /// A sink that sends each element to one of the consumers attached, chosen by
    /// `partitioner(number_of_consumers, &element)`, an index in attach order; its
    /// materialized value is a [`Source`] that may be materialized any number of times while
    /// the hub runs, each materialization a consumer (Akka's `PartitionHub.sink`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::PartitionHub;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let from_hub = Source::range(0u32, 5)
    ///     .run_with(PartitionHub::sink(|n, x: &u32| *x as usize % n, 2, 16));
    /// let even = from_hub.clone().run_with(Sink::seq());
    /// let odd = from_hub.run_with(Sink::seq());
    /// assert_eq!(even.await.unwrap(), vec![0, 2, 4]);
    /// assert_eq!(odd.await.unwrap(), vec![1, 3, 5]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// At most `buffer_size` elements wait in the hub, over all consumers; past that the hub
    /// back-pressures its upstream, so a slow consumer that is routed to slows the others. It
    /// reads nothing before `start_after_nr_of_consumers` consumers have attached at once,
    /// nor while no consumer is attached (an element needs someone to go to).
    ///
    /// # Completion
    /// When the upstream completes, each consumer completes after its queued elements. A
    /// consumer that cancels leaves, and the elements queued for it are dropped. When every
    /// consumer has left and every clone of the hub's source has been dropped, the hub cancels
    /// its upstream (Akka's hub keeps waiting).
    ///
    /// # Errors
    /// An index out of range fails the hub and every consumer with
    /// [`StreamError::PartitionOutOfBounds`]; a partitioner that panics fails them with
    /// [`StreamError::Panicked`]. An upstream failure reaches every consumer at once, dropping
    /// what was queued. A `buffer_size` of 0 fails every consumer with
    /// [`StreamError::InvalidArgument`].
    pub fn sink<T, F>(
        partitioner: F,
        start_after_nr_of_consumers: usize,
        buffer_size: usize,
    ) -> Sink<T, Source<T, NotUsed>>
    where
        T: Send + 'static,
        F: Fn(usize, &T) -> usize + Send + Sync + 'static,
    {
        let partitioner = Arc::new(partitioner);
        Self::with_router(
            move || {
                let p = partitioner.clone();
                Box::new(move |info: &ConsumerInfo, x: &T| {
                    let n = info.size();
                    let index = p(n, x);
                    info.consumer_id_by_index(index)
                        .ok_or(StreamError::PartitionOutOfBounds { index, outputs: n })
                })
            },
            start_after_nr_of_consumers,
            buffer_size,
        )
    }

    /// [`sink`](PartitionHub::sink) with a partitioner that keeps state and sees the consumers'
    /// queues: `create` makes one per materialization, and it returns the id of the consumer
    /// (from [`ConsumerInfo`]) each element goes to (Akka's `PartitionHub.statefulSink`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::PartitionHub;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Round robin.
    /// let hub = PartitionHub::stateful_sink(
    ///     || {
    ///         let mut i = 0;
    ///         move |info: &weir::hub::ConsumerInfo, _: &u32| {
    ///             i += 1;
    ///             info.consumer_id_by_index(i % info.size()).unwrap()
    ///         }
    ///     },
    ///     2,
    ///     16,
    /// );
    /// let from_hub = Source::range(1u32, 4).run_with(hub);
    /// let a = from_hub.clone().run_with(Sink::seq());
    /// let b = from_hub.run_with(Sink::seq());
    /// assert_eq!(a.await.unwrap().len() + b.await.unwrap().len(), 4);
    /// # }
    /// ```
    ///
    /// # Errors
    /// An id that is not attached fails the hub and its consumers with
    /// [`StreamError::InvalidArgument`]; otherwise as [`sink`](PartitionHub::sink).
    pub fn stateful_sink<T, C, F>(
        create: C,
        start_after_nr_of_consumers: usize,
        buffer_size: usize,
    ) -> Sink<T, Source<T, NotUsed>>
    where
        T: Send + 'static,
        C: Fn() -> F + Send + Sync + 'static,
        F: FnMut(&ConsumerInfo, &T) -> u64 + Send + 'static,
    {
        Self::with_router(
            move || {
                let mut f = create();
                Box::new(move |info: &ConsumerInfo, x: &T| Ok(f(info, x)))
            },
            start_after_nr_of_consumers,
            buffer_size,
        )
    }

    fn with_router<T, R>(
        router: R,
        start_after: usize,
        capacity: usize,
    ) -> Sink<T, Source<T, NotUsed>>
    where
        T: Send + 'static,
        R: Fn() -> Router<T> + Send + Sync + 'static,
    {
        Sink::from_fn(move |m, up: BoxPull<T>, _| {
            let shared = Arc::new(Shared {
                inner: Mutex::new(Inner {
                    info: ConsumerInfo {
                        consumers: Vec::new(),
                    },
                    queues: Vec::new(),
                    buffered: 0,
                    next_id: 0,
                    started: start_after == 0,
                    terminal: (capacity == 0).then(|| {
                        Err(StreamError::InvalidArgument {
                            stage: "PartitionHub",
                            problem: "the buffer size must be at least 1",
                        })
                    }),
                    hub: None,
                    orphaned: false,
                }),
                capacity,
                start_after,
            });
            if capacity > 0 {
                m.spawn_island(HubRoot {
                    up: Some(up),
                    shared: shared.clone(),
                    got: Vec::new(),
                    route: router(),
                });
            }
            let token = LastHandle(shared);
            Source::from_fn(move |_, _| {
                let shared = token.0.clone();
                let mut inner = lock(&shared.inner);
                let id = inner.next_id;
                inner.next_id += 1;
                inner.info.consumers.push(ConsumerQueue {
                    id,
                    queued: 0,
                    waker: None,
                });
                inner.queues.push(VecDeque::new());
                if inner.info.size() >= shared.start_after {
                    inner.started = true;
                }
                let hub = inner.hub.take();
                drop(inner);
                wake(hub);
                (Box::new(ConsumerPull { shared, id }) as BoxPull<T>, ())
            })
        })
    }
}

struct ConsumerPull<T> {
    shared: Arc<Shared<T>>,
    id: u64,
}

impl<T: Send + 'static> Pull<T> for ConsumerPull<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut inner = lock(&self.shared.inner);
        if let Some(Err(e)) = &inner.terminal {
            return Poll::Ready(Step::Failed(e.clone()));
        }
        let Some(i) = inner.position(self.id) else {
            return Poll::Ready(Step::Complete);
        };
        let n = max.min(inner.queues[i].len());
        if n == 0 {
            if inner.terminal.is_some() {
                return Poll::Ready(Step::Complete);
            }
            register(&mut inner.info.consumers[i].waker, cx.waker());
            return Poll::Pending;
        }
        out.extend(inner.queues[i].drain(..n));
        inner.info.consumers[i].queued -= n;
        let was_full = inner.buffered == self.shared.capacity;
        inner.buffered -= n;
        let step = if inner.terminal.is_some() && inner.queues[i].is_empty() {
            Step::Complete
        } else {
            Step::Open
        };
        let hub = if was_full { inner.hub.take() } else { None };
        drop(inner);
        wake(hub);
        Poll::Ready(step)
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut inner = lock(&self.shared.inner);
        if let Some(Err(e)) = &inner.terminal {
            return Poll::Ready(e.clone());
        }
        if let Some(i) = inner.position(self.id) {
            register(&mut inner.info.consumers[i].waker, cx.waker());
        }
        Poll::Pending
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = lock(&self.shared.inner);
        let done = matches!(inner.terminal, Some(Ok(())));
        match inner.position(self.id) {
            Some(i) if done && inner.queues[i].is_empty() => Poll::Ready(()),
            Some(i) => {
                register(&mut inner.info.consumers[i].waker, cx.waker());
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl<T> Drop for ConsumerPull<T> {
    fn drop(&mut self) {
        let mut inner = lock(&self.shared.inner);
        if let Some(i) = inner.position(self.id) {
            inner.info.consumers.remove(i);
            let dropped = inner.queues.remove(i).len();
            inner.buffered -= dropped;
        }
        let hub = inner.hub.take();
        drop(inner);
        wake(hub);
    }
}

struct HubRoot<T> {
    up: Option<BoxPull<T>>,
    shared: Arc<Shared<T>>,
    got: Vec<T>,
    route: Router<T>,
}

impl<T> Unpin for HubRoot<T> {}

impl<T: Send + 'static> HubRoot<T> {
    /// Queues each element read for the consumer the partitioner picks.
    fn route(&mut self, inner: &mut Inner<T>) -> Result<(), StreamError> {
        for x in self.got.drain(..) {
            let route = &mut self.route;
            let chosen =
                catch_unwind(AssertUnwindSafe(|| route(&inner.info, &x))).map_err(|p| {
                    StreamError::panicked(std::borrow::Cow::Borrowed("PartitionHub partitioner"), p)
                })??;
            let i = inner.position(chosen).ok_or(StreamError::InvalidArgument {
                stage: "PartitionHub",
                problem: "the partitioner chose a consumer that is not attached",
            })?;
            inner.queues[i].push_back(x);
            inner.info.consumers[i].queued += 1;
            inner.buffered += 1;
        }
        Ok(())
    }
}

impl<T: Send + 'static> Future for HubRoot<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let Some(up) = this.up.as_mut() else {
                return Poll::Ready(());
            };
            let room = {
                let mut inner = lock(&this.shared.inner);
                if inner.orphaned && inner.info.size() == 0 {
                    drop(inner);
                    this.up = None;
                    return Poll::Ready(());
                }
                register(&mut inner.hub, cx.waker());
                if inner.started && inner.info.size() > 0 {
                    this.shared.capacity - inner.buffered
                } else {
                    0
                }
            };
            let step = if room == 0 {
                match poll_terminal(up, cx) {
                    Poll::Ready(step) => step,
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                match pull_guarded(up, cx, &mut this.got, room) {
                    Poll::Ready(step) => step,
                    Poll::Pending => return Poll::Pending,
                }
            };
            let shared = this.shared.clone();
            let mut inner = lock(&shared.inner);
            let step = match this.route(&mut inner) {
                Ok(()) => step,
                Err(e) => Step::Failed(e),
            };
            match step {
                Step::Open => {}
                Step::Complete => inner.terminal = Some(Ok(())),
                Step::Failed(e) => {
                    this.got.clear();
                    for q in &mut inner.queues {
                        q.clear();
                    }
                    for c in &mut inner.info.consumers {
                        c.queued = 0;
                    }
                    inner.buffered = 0;
                    inner.terminal = Some(Err(e));
                }
            }
            let done = inner.terminal.is_some();
            let wakers = inner.wake_all();
            drop(inner);
            for w in wakers {
                w.wake();
            }
            if done {
                this.up = None;
                return Poll::Ready(());
            }
        }
    }
}

impl<T> Drop for HubRoot<T> {
    fn drop(&mut self) {
        if self.up.is_none() {
            return;
        }
        let mut inner = lock(&self.shared.inner);
        if inner.terminal.is_none() {
            inner.terminal = Some(Err(StreamError::AbruptTermination));
        }
        let wakers = inner.wake_all();
        drop(inner);
        for w in wakers {
            w.wake();
        }
    }
}

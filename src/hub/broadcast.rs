//! `BroadcastHub`: one stream's elements to every consumer attached, consumers coming and going.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{lock, register, wake, LastHandle, Orphaned, Slab};
use crate::stage::{poll_terminal, pull_guarded, BoxPull, Pull, Step};
use crate::{NotUsed, Sink, Source, StreamError};

/// Builds broadcast hubs (Akka's `BroadcastHub`).
#[derive(Debug, Clone, Copy)]
pub struct BroadcastHub;

struct Consumer {
    /// The sequence number of the next element this consumer reads.
    next: u64,
    waker: Option<Waker>,
}

struct Inner<T> {
    /// The elements not yet read by every consumer, `base` the sequence number of the first.
    buf: VecDeque<T>,
    base: u64,
    consumers: Slab<Consumer>,
    /// `start_after` consumers have been attached at once: the hub reads its upstream.
    started: bool,
    /// How the upstream ended, once it has.
    terminal: Option<Result<(), StreamError>>,
    hub: Option<Waker>,
    /// Every [`Source`] of this hub has been dropped: nobody can attach any more.
    orphaned: bool,
}

impl<T> Inner<T> {
    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The wakers of the consumers waiting for an element or a signal.
    fn take_wakers(&mut self) -> Vec<Waker> {
        self.consumers
            .iter_mut()
            .filter_map(|(_, c)| c.waker.take())
            .collect()
    }

    /// Drops the elements every consumer has read; whether that made room.
    fn trim(&mut self) -> bool {
        let Some(slowest) = self.consumers.iter().map(|(_, c)| c.next).min() else {
            // Nobody reads: keep what is buffered for the next consumer.
            return false;
        };
        let n = (slowest - self.base) as usize;
        self.buf.drain(..n);
        self.base = slowest;
        n > 0
    }
}

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

impl BroadcastHub {
    /// A sink that sends every element to each consumer attached: its materialized value is a
    /// [`Source`] that may be materialized any number of times while the hub runs, each
    /// materialization a consumer (Akka's `BroadcastHub.sink`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::BroadcastHub;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Starts reading once two consumers are attached, so neither misses an element.
    /// let from_hub = Source::range(1, 4).run_with(BroadcastHub::sink(2, 8));
    /// let a = from_hub.clone().run_with(Sink::seq());
    /// let b = from_hub.map(|x| x * 10).run_with(Sink::seq());
    /// assert_eq!(a.await.unwrap(), vec![1, 2, 3, 4]);
    /// assert_eq!(b.await.unwrap(), vec![10, 20, 30, 40]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// The hub holds at most `buffer_size` elements, each until every consumer attached has
    /// read it: it is paced by the slowest consumer. It reads nothing before
    /// `start_after_nr_of_consumers` consumers have attached at once; after that, while no
    /// consumer is attached, it fills its buffer and then back-pressures. A consumer that
    /// attaches starts at the oldest element still buffered, so it sees every element that
    /// reaches the hub after it attached, and possibly some before (Akka starts it at the same
    /// place); one that attaches after the hub completed completes at once.
    ///
    /// # Completion
    /// When the upstream completes, each consumer completes after reading what is buffered.
    /// Consumers that cancel only leave. When every consumer has left and every clone of the
    /// hub's source has been dropped, nobody can read any more and the hub cancels its
    /// upstream (Akka's hub keeps waiting for consumers).
    ///
    /// # Errors
    /// When the upstream fails, every consumer fails at once with its error, dropping what was
    /// buffered (a failure overtakes elements, as in Akka). A `buffer_size` of 0 fails every
    /// consumer with [`StreamError::InvalidArgument`] and cancels the upstream. If the hub's
    /// task is torn down (its runtime shut down), consumers fail with
    /// [`StreamError::AbruptTermination`].
    pub fn sink<T: Clone + Send + 'static>(
        start_after_nr_of_consumers: usize,
        buffer_size: usize,
    ) -> Sink<T, Source<T, NotUsed>> {
        Sink::from_fn(move |m, up: BoxPull<T>, _| {
            let shared = Arc::new(Shared {
                inner: Mutex::new(Inner {
                    buf: VecDeque::with_capacity(buffer_size.min(1024)),
                    base: 0,
                    consumers: Slab::new(),
                    started: start_after_nr_of_consumers == 0,
                    terminal: (buffer_size == 0).then(|| {
                        Err(StreamError::InvalidArgument {
                            stage: "BroadcastHub",
                            problem: "the buffer size must be at least 1",
                        })
                    }),
                    hub: None,
                    orphaned: false,
                }),
                capacity: buffer_size,
                start_after: start_after_nr_of_consumers,
            });
            if buffer_size > 0 {
                m.spawn_island(HubRoot {
                    up: Some(up),
                    shared: shared.clone(),
                    got: Vec::new(),
                });
            }
            let token = LastHandle(shared);
            Source::from_fn(move |_, _| {
                let shared = token.0.clone();
                let mut inner = lock(&shared.inner);
                let next = if inner.terminal.is_some() {
                    inner.end()
                } else {
                    inner.base
                };
                let id = inner.consumers.insert(Consumer { next, waker: None });
                if !inner.started && inner.consumers.len >= shared.start_after {
                    inner.started = true;
                }
                let hub = inner.hub.take();
                drop(inner);
                wake(hub);
                (
                    Box::new(ConsumerPull { shared, id }) as BoxPull<T>,
                    NotUsed::default(),
                )
            })
        })
    }
}

/// One consumer's stage.
struct ConsumerPull<T> {
    shared: Arc<Shared<T>>,
    id: usize,
}

impl<T: Clone + Send + 'static> Pull<T> for ConsumerPull<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut inner = lock(&self.shared.inner);
        if let Some(Err(e)) = &inner.terminal {
            return Poll::Ready(Step::Failed(e.clone()));
        }
        let base = inner.base;
        let end = inner.end();
        let ended = inner.terminal.is_some();
        let Some(c) = inner.consumers.get_mut(self.id) else {
            return Poll::Ready(Step::Complete);
        };
        let next = c.next;
        if next == end {
            if ended {
                return Poll::Ready(Step::Complete);
            }
            register(&mut c.waker, cx.waker());
            return Poll::Pending;
        }
        let n = max.min((end - next) as usize);
        let from = (next - base) as usize;
        out.extend(inner.buf.range(from..from + n).cloned());
        if let Some(c) = inner.consumers.get_mut(self.id) {
            c.next = next + n as u64;
        }
        let step = if inner.terminal.is_some() && next + n as u64 == end {
            Step::Complete
        } else {
            Step::Open
        };
        // Was this the slowest consumer? Then the hub has room again.
        let hub = if next == base && inner.trim() {
            inner.hub.take()
        } else {
            None
        };
        drop(inner);
        wake(hub);
        Poll::Ready(step)
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut inner = lock(&self.shared.inner);
        if let Some(Err(e)) = &inner.terminal {
            return Poll::Ready(e.clone());
        }
        if let Some(c) = inner.consumers.get_mut(self.id) {
            register(&mut c.waker, cx.waker());
        }
        Poll::Pending
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = lock(&self.shared.inner);
        let end = inner.end();
        let done = matches!(inner.terminal, Some(Ok(())));
        match inner.consumers.get_mut(self.id) {
            Some(c) if done && c.next == end => Poll::Ready(()),
            Some(c) => {
                register(&mut c.waker, cx.waker());
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl<T> Drop for ConsumerPull<T> {
    /// The consumer leaves; what only it had left to read is dropped.
    fn drop(&mut self) {
        let mut inner = lock(&self.shared.inner);
        inner.consumers.remove(self.id);
        let room = inner.trim();
        let hub = if room || inner.consumers.len == 0 {
            inner.hub.take()
        } else {
            None
        };
        drop(inner);
        wake(hub);
    }
}

/// The hub's island: reads the upstream into the buffer while it has room.
struct HubRoot<T> {
    up: Option<BoxPull<T>>,
    shared: Arc<Shared<T>>,
    got: Vec<T>,
}

// No field is structurally pinned.
impl<T> Unpin for HubRoot<T> {}

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
                if inner.orphaned && inner.consumers.len == 0 {
                    drop(inner);
                    this.up = None;
                    return Poll::Ready(());
                }
                register(&mut inner.hub, cx.waker());
                if inner.started {
                    this.shared.capacity - inner.buf.len()
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
            let mut inner = lock(&this.shared.inner);
            match step {
                Step::Failed(e) => {
                    this.got.clear();
                    inner.buf.clear();
                    inner.terminal = Some(Err(e));
                }
                step => {
                    inner.buf.extend(this.got.drain(..));
                    if matches!(step, Step::Complete) {
                        inner.terminal = Some(Ok(()));
                    }
                }
            }
            let done = inner.terminal.is_some();
            let wakers = inner.take_wakers();
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
    /// Torn down before its upstream ended: the consumers must not wait forever.
    fn drop(&mut self) {
        if self.up.is_none() {
            return;
        }
        let mut inner = lock(&self.shared.inner);
        if inner.terminal.is_none() {
            inner.buf.clear();
            inner.terminal = Some(Err(StreamError::AbruptTermination));
        }
        let wakers = inner.take_wakers();
        drop(inner);
        for w in wakers {
            w.wake();
        }
    }
}

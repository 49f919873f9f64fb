//! `Sink::queue`: a sink read through a handle.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::stage::{poll_terminal, pull_guarded, BoxPull, Step};
use crate::StreamError;

struct Inner<T> {
    buf: VecDeque<T>,
    /// How the stream ended, once it has; reported after `buf` is drained.
    terminal: Option<Result<(), StreamError>>,
    /// A pull is waiting for an element.
    waiting: bool,
    cancelled: bool,
    root: Option<Waker>,
    puller: Option<Waker>,
}

struct Shared<T> {
    inner: Mutex<Inner<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn wake(slot: Option<Waker>) {
    if let Some(w) = slot {
        w.wake();
    }
}

/// Reads one materialization of [`Sink::queue`](crate::Sink::queue) (Akka's
/// `SinkQueueWithCancel`).
///
/// `Send` and `Sync`. [`pull`](SinkQueue::pull) takes `&mut self`, so there is one pull at a
/// time by construction (Akka's `maxConcurrentPulls = 1`, its default). Dropping the handle
/// cancels the stream.
pub struct SinkQueue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> SinkQueue<T> {
    /// The next element: `Ok(Some(x))`, `Ok(None)` once the stream has completed (and every
    /// element before it was pulled), or `Err` with its failure (Akka's `pull`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut queue = Source::range(1, 2).run_with(Sink::queue());
    /// assert_eq!(queue.pull().await.unwrap(), Some(1));
    /// assert_eq!(queue.pull().await.unwrap(), Some(2));
    /// assert_eq!(queue.pull().await.unwrap(), None);
    /// assert_eq!(queue.pull().await.unwrap(), None, "and so on");
    /// # }
    /// ```
    ///
    /// # Errors
    /// The stream's failure, after the elements that arrived before it; every later pull
    /// returns it again. [`StreamError::Detached`] after [`cancel`](SinkQueue::cancel). (Akka
    /// fails pulls after the end of the stream with `StreamDetachedException`; weir answers
    /// with the end again, as a fused stream does.)
    ///
    /// # Cancellation safety
    /// Dropping the future before it resolves loses nothing: an element that arrives for it
    /// waits in the buffer for the next pull.
    pub fn pull(&mut self) -> impl Future<Output = Result<Option<T>, StreamError>> + Send + '_
    where
        T: Send,
    {
        let shared = &*self.shared;
        let mut guard = Waiting { shared };
        poll_fn(move |cx| guard.poll(cx))
    }

    /// Cancels the stream; later pulls return [`StreamError::Detached`] (Akka's `cancel`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (done, queue) = Source::<u32>::never()
    ///     .watch_termination()
    ///     .to_mat(Sink::queue(), Keep::both)
    ///     .run();
    /// queue.cancel();
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    pub fn cancel(&self) {
        let mut inner = self.shared.lock();
        inner.cancelled = true;
        inner.buf.clear();
        let root = inner.root.take();
        drop(inner);
        wake(root);
    }
}

impl<T> Drop for SinkQueue<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<T> fmt::Debug for SinkQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.shared.lock();
        f.debug_struct("SinkQueue")
            .field("buffered", &inner.buf.len())
            .field("terminated", &inner.terminal.is_some())
            .field("cancelled", &inner.cancelled)
            .finish()
    }
}

/// One pull in progress; clears the demand it signalled if dropped before it resolved.
struct Waiting<'a, T> {
    shared: &'a Shared<T>,
}

impl<T> Waiting<'_, T> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, StreamError>> {
        let mut inner = self.shared.lock();
        if inner.cancelled {
            inner.waiting = false;
            return Poll::Ready(Err(StreamError::Detached {
                stage: "Sink::queue",
            }));
        }
        if let Some(x) = inner.buf.pop_front() {
            inner.waiting = false;
            return Poll::Ready(Ok(Some(x)));
        }
        if let Some(t) = inner.terminal.clone() {
            inner.waiting = false;
            return Poll::Ready(t.map(|()| None));
        }
        inner.puller = Some(cx.waker().clone());
        let root = if inner.waiting {
            None
        } else {
            inner.waiting = true;
            inner.root.take()
        };
        drop(inner);
        wake(root);
        Poll::Pending
    }
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.waiting = false;
        inner.puller = None;
    }
}

/// The root of the island a [`SinkQueue`] reads: pulls a batch of up to `batch` elements
/// whenever a pull waits on an empty buffer.
pub(crate) struct QueueRoot<T> {
    up: Option<BoxPull<T>>,
    shared: Arc<Shared<T>>,
    got: Vec<T>,
    batch: usize,
}

pub(crate) fn queue<T>(up: BoxPull<T>, batch: usize) -> (SinkQueue<T>, QueueRoot<T>) {
    let batch = batch.max(1);
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            buf: VecDeque::with_capacity(batch.min(1024)),
            terminal: None,
            waiting: false,
            cancelled: false,
            root: None,
            puller: None,
        }),
    });
    let root = QueueRoot {
        up: Some(up),
        shared: shared.clone(),
        got: Vec::with_capacity(batch.min(1024)),
        batch,
    };
    (SinkQueue { shared }, root)
}

// No field is structurally pinned.
impl<T> Unpin for QueueRoot<T> {}

impl<T: Send + 'static> Future for QueueRoot<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let Some(up) = this.up.as_mut() else {
                return Poll::Ready(());
            };
            let demand = {
                let mut inner = this.shared.lock();
                if inner.cancelled {
                    drop(inner);
                    this.up = None;
                    return Poll::Ready(());
                }
                inner.root = Some(cx.waker().clone());
                inner.waiting && inner.buf.is_empty()
            };
            let step = if demand {
                match pull_guarded(up, cx, &mut this.got, this.batch) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(step) => step,
                }
            } else {
                // No demand: a failure or a completion still reaches the queue, as in Reactive
                // Streams, from an upstream that can tell.
                match poll_terminal(up, cx) {
                    Poll::Ready(step) => step,
                    Poll::Pending => return Poll::Pending,
                }
            };
            let mut inner = this.shared.lock();
            inner.buf.extend(this.got.drain(..));
            let terminal = match step {
                Step::Open => None,
                Step::Complete => Some(Ok(())),
                Step::Failed(e) => Some(Err(e)),
            };
            let done = terminal.is_some();
            if done {
                inner.terminal = terminal;
            }
            let puller = inner.puller.take();
            drop(inner);
            wake(puller);
            if done {
                this.up = None;
                return Poll::Ready(());
            }
        }
    }
}

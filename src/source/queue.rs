//! `Source::queue`: a source fed through a handle.

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::{watch, Semaphore};

use crate::stage::{poll_budget, Pull, Step};
use crate::StreamError;

/// What became of an element offered to a [`SourceQueue`] (Akka's `QueueOfferResult`).
#[derive(Debug, Clone)]
pub enum QueueOfferResult {
    /// The element is in the buffer and will be emitted.
    Enqueued,
    /// The buffer was full; the element was dropped.
    Dropped,
    /// The queue was completed ([`SourceQueue::complete`]); the element was dropped.
    QueueClosed,
    /// The queue was failed ([`SourceQueue::fail`]) with this error, or its stream was cancelled
    /// ([`StreamError::Detached`]); the element was dropped.
    Failure(StreamError),
}

impl QueueOfferResult {
    /// Whether the element was enqueued.
    pub fn is_enqueued(&self) -> bool {
        matches!(self, QueueOfferResult::Enqueued)
    }
}

/// `complete` or `fail` was called on a [`SourceQueue`] that had already terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueClosedError;

impl fmt::Display for QueueClosedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue was already completed, failed or cancelled")
    }
}

impl Error for QueueClosedError {}

/// Where the queue is in its life.
enum State {
    Running,
    /// Completed by the handle: what is buffered is still emitted.
    Closed,
    /// Failed by the handle (or by a bad argument): the buffer is dropped.
    Failed(StreamError),
    /// The stream was cancelled or torn down.
    Detached,
}

struct Inner<T> {
    buf: VecDeque<T>,
    state: State,
    consumer: Option<Waker>,
}

struct Shared<T> {
    inner: Mutex<Inner<T>>,
    /// One permit per free slot in the buffer; closed once the queue stops taking elements.
    room: Semaphore,
    capacity: usize,
    /// How the stream ended, once it has.
    done: watch::Sender<Option<Result<(), StreamError>>>,
    handles: AtomicUsize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why an offer did not enqueue, given the state.
fn refusal(state: &State) -> Option<QueueOfferResult> {
    match state {
        State::Running => None,
        State::Closed => Some(QueueOfferResult::QueueClosed),
        State::Failed(e) => Some(QueueOfferResult::Failure(e.clone())),
        State::Detached => Some(QueueOfferResult::Failure(StreamError::Detached {
            stage: "Source::queue",
        })),
    }
}

/// Feeds one materialization of [`Source::queue`](crate::Source::queue) (Akka's
/// `BoundedSourceQueue`, with the asynchronous `offer` and `watchCompletion` of
/// `SourceQueueWithComplete`).
///
/// Cheap to clone, `Send` and `Sync`: any number of tasks and threads may offer at once.
/// Dropping the last handle completes the queue, as [`complete`](SourceQueue::complete) would.
pub struct SourceQueue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> SourceQueue<T> {
    /// Offers `elem` without waiting: [`Enqueued`](QueueOfferResult::Enqueued) if the buffer
    /// had room, [`Dropped`](QueueOfferResult::Dropped) if it was full, otherwise why the queue
    /// takes no more elements (Akka's `BoundedSourceQueue.offer`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::QueueOfferResult;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (queue, out) = Source::queue(2).to_mat(Sink::seq(), Keep::both).run();
    /// assert!(queue.offer(1).is_enqueued());
    /// assert!(queue.offer(2).is_enqueued());
    /// // The stream has not run yet, so the buffer of two is full.
    /// assert!(matches!(queue.offer(3), QueueOfferResult::Dropped));
    /// queue.complete().unwrap();
    /// assert!(matches!(queue.offer(4), QueueOfferResult::QueueClosed));
    /// assert_eq!(out.await.unwrap(), vec![1, 2]);
    /// # }
    /// ```
    pub fn offer(&self, elem: T) -> QueueOfferResult {
        match self.shared.room.try_acquire() {
            Ok(permit) => {
                permit.forget();
                self.enqueue(elem)
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                refusal(&self.shared.lock().state).unwrap_or(QueueOfferResult::Dropped)
            }
            Err(tokio::sync::TryAcquireError::Closed) => self.refused(),
        }
    }

    /// Offers `elem`, waiting for room in the buffer: back pressure for the producer (Akka's
    /// `SourceQueueWithComplete.offer` with `OverflowStrategy.backpressure`). Resolves with
    /// [`Enqueued`](QueueOfferResult::Enqueued) once the element is in the buffer, or with why
    /// the queue takes no more elements, as soon as that happens.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (queue, out) = Source::queue(1).to_mat(Sink::seq(), Keep::both).run();
    /// for x in 1..=5 {
    ///     // Waits while the one slot is taken.
    ///     assert!(queue.send(x).await.is_enqueued());
    /// }
    /// drop(queue); // the last handle: completes the stream
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3, 4, 5]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Waiting sends are served first come, first served, and before any later
    /// [`offer`](SourceQueue::offer). Nothing is buffered beyond the queue's `n` elements: a send
    /// that waits keeps its element in its own future, so the memory held by waiting producers is
    /// theirs, one element each. (Akka's old queue bounds the number of waiting offers with
    /// `maxConcurrentOffers` instead and fails the ones past it.)
    ///
    /// # Cancellation safety
    /// Dropping the future before it resolves drops `elem` and leaves the queue as it was.
    pub async fn send(&self, elem: T) -> QueueOfferResult {
        match self.shared.room.acquire().await {
            Ok(permit) => {
                permit.forget();
                self.enqueue(elem)
            }
            Err(_closed) => self.refused(),
        }
    }

    /// Completes the queue: the elements already enqueued are emitted, then the stream
    /// completes. Later offers return [`QueueClosed`](QueueOfferResult::QueueClosed), and
    /// waiting sends resolve with it.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (queue, out) = Source::queue(4).to_mat(Sink::seq(), Keep::both).run();
    /// queue.offer("a");
    /// queue.complete().unwrap();
    /// assert!(queue.complete().is_err(), "only once");
    /// assert_eq!(out.await.unwrap(), vec!["a"]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`QueueClosedError`] if the queue was already completed, failed or cancelled (Akka throws
    /// an `IllegalStateException`).
    pub fn complete(&self) -> Result<(), QueueClosedError> {
        self.terminate(State::Closed)
    }

    /// Fails the stream with `error` at once; the elements still buffered are dropped. Later
    /// offers return [`Failure`](QueueOfferResult::Failure) with it.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (queue, out) = Source::<u32, _>::queue(4).to_mat(Sink::seq(), Keep::both).run();
    /// queue.fail(StreamError::AbruptTermination).unwrap();
    /// assert!(matches!(out.await, Err(StreamError::AbruptTermination)));
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`QueueClosedError`] if the queue was already completed, failed or cancelled.
    pub fn fail(&self, error: StreamError) -> Result<(), QueueClosedError> {
        self.terminate(State::Failed(error))
    }

    /// Resolves when the stream of this queue has terminated: `Ok` once it completed (after
    /// [`complete`](SourceQueue::complete), every element emitted) or was cancelled downstream,
    /// `Err` with the error given to [`fail`](SourceQueue::fail) (Akka's `watchCompletion`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let queue = Source::queue(4).take(1).to(Sink::ignore()).run();
    /// let done = queue.watch_completion();
    /// queue.offer(1);
    /// // `take(1)` cancels the queue after one element.
    /// assert!(done.await.is_ok());
    /// assert!(!queue.offer(2).is_enqueued());
    /// # }
    /// ```
    pub fn watch_completion(
        &self,
    ) -> impl Future<Output = Result<(), StreamError>> + Send + 'static {
        let mut rx = self.shared.done.subscribe();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(done) => done.clone().unwrap_or(Ok(())),
                // The stage reports before it goes, so this is a stream that never ran (its
                // runtime shut down before the island was polled, and the handles are gone).
                Err(_) => Err(StreamError::AbruptTermination),
            }
        }
    }

    /// How many elements wait in the buffer.
    pub fn len(&self) -> usize {
        self.shared.lock().buf.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity, `n`.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Whether the queue takes no more elements (completed, failed or cancelled; Akka's
    /// `isCompleted`).
    pub fn is_closed(&self) -> bool {
        !matches!(self.shared.lock().state, State::Running)
    }

    /// Puts `elem` into the slot a permit reserved.
    fn enqueue(&self, elem: T) -> QueueOfferResult {
        let mut inner = self.shared.lock();
        if let Some(refused) = refusal(&inner.state) {
            return refused;
        }
        inner.buf.push_back(elem);
        let consumer = inner.consumer.take();
        drop(inner);
        if let Some(w) = consumer {
            w.wake();
        }
        QueueOfferResult::Enqueued
    }

    fn refused(&self) -> QueueOfferResult {
        refusal(&self.shared.lock().state).unwrap_or(QueueOfferResult::QueueClosed)
    }

    fn terminate(&self, to: State) -> Result<(), QueueClosedError> {
        let mut inner = self.shared.lock();
        if !matches!(inner.state, State::Running) {
            return Err(QueueClosedError);
        }
        if matches!(to, State::Failed(_)) {
            inner.buf.clear();
        }
        inner.state = to;
        let consumer = inner.consumer.take();
        drop(inner);
        self.shared.room.close();
        if let Some(w) = consumer {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for SourceQueue<T> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        SourceQueue {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for SourceQueue<T> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Nobody can offer any more: end the stream rather than leave it waiting forever.
            let _ = self.terminate(State::Closed);
        }
    }
}

impl<T> fmt::Debug for SourceQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceQueue")
            .field("len", &self.len())
            .field("capacity", &self.shared.capacity)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The stage a [`SourceQueue`] feeds.
pub(crate) struct QueuePull<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) fn queue<T>(capacity: usize) -> (SourceQueue<T>, QueuePull<T>) {
    let state = if capacity == 0 {
        State::Failed(StreamError::InvalidArgument {
            stage: "Source::queue",
            problem: "the buffer size must be at least 1",
        })
    } else {
        State::Running
    };
    let room = Semaphore::new(capacity.min(Semaphore::MAX_PERMITS));
    if capacity == 0 {
        room.close();
    }
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            buf: VecDeque::with_capacity(capacity.min(1024)),
            state,
            consumer: None,
        }),
        room,
        capacity,
        done: watch::Sender::new(None),
        handles: AtomicUsize::new(1),
    });
    (
        SourceQueue {
            shared: shared.clone(),
        },
        QueuePull { shared },
    )
}

impl<T: Send + 'static> Pull<T> for QueuePull<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut inner = self.shared.lock();
        if let State::Failed(e) = &inner.state {
            return Poll::Ready(Step::Failed(e.clone()));
        }
        if !inner.buf.is_empty() {
            // Producers on other threads may keep the buffer full: yield like a hot source.
            if poll_budget(cx).is_pending() {
                return Poll::Pending;
            }
            let n = max.min(inner.buf.len());
            out.extend(inner.buf.drain(..n));
            let step = match inner.state {
                State::Closed if inner.buf.is_empty() => Step::Complete,
                _ => Step::Open,
            };
            drop(inner);
            self.shared.room.add_permits(n);
            return Poll::Ready(step);
        }
        if matches!(inner.state, State::Closed) {
            return Poll::Ready(Step::Complete);
        }
        inner.consumer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// A failed queue fails its stream without demand.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut inner = self.shared.lock();
        if let State::Failed(e) = &inner.state {
            return Poll::Ready(e.clone());
        }
        inner.consumer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.shared.lock();
        if matches!(inner.state, State::Closed) && inner.buf.is_empty() {
            return Poll::Ready(());
        }
        inner.consumer = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for QueuePull<T> {
    /// The stage is gone (completed, failed or cancelled): release the buffer and every waiting
    /// producer, and tell the completion watchers.
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        let result = match &inner.state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        };
        if matches!(inner.state, State::Running) {
            inner.state = State::Detached;
        }
        inner.buf.clear();
        drop(inner);
        self.shared.room.close();
        self.shared.done.send_replace(Some(result));
    }
}

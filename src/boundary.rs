//! Async boundaries: bounded hand-over between two islands, with batched demand.
//!
//! The producer island pulls from its upstream only while it has credit (`capacity` minus the
//! elements in flight), so the buffer is bounded. The consumer swaps the whole shared queue into
//! its local queue in O(1) and returns credit once half the capacity has been consumed, so both
//! sides take the lock about twice per `capacity` elements rather than once per element.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::diagnostics::{BufferFill, Gauge};
use crate::stage::{pull_guarded, BoxPull, Pull, Step};
use crate::{Materializer, StreamError};

struct State<T> {
    queue: VecDeque<T>,
    /// Elements sent and not yet reported consumed: the producer's credit is `capacity - in_flight`.
    in_flight: usize,
    terminal: Option<Step>,
    cancelled: bool,
    producer: Option<Waker>,
    consumer: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Mirrors `State::cancelled` so the sender's credit fast path can see a cancellation.
    cancelled: AtomicBool,
    /// Set on the receiver's first pull (for `Balance::wait_for_all_downstreams`).
    pulled: AtomicBool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock, so a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Send> Gauge for Shared<T> {
    fn fill(&self) -> BufferFill {
        BufferFill {
            len: self.lock().in_flight,
            capacity: self.capacity,
        }
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// The producing half: owned by the upstream island's root, or by a stage that feeds a side
/// island (`also_to`, `wire_tap`).
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
    room: usize,
    finished: bool,
}

/// The consuming half: the first stage of the downstream island.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Whether a failure overtakes the elements still waiting in the buffer (`buffer`),
    /// rather than following them.
    overtake: bool,
    pulled: bool,
    local: VecDeque<T>,
    consumed: usize,
    threshold: usize,
}

/// A bounded boundary of `capacity` (at least 1) elements.
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    channel_with(capacity, false)
}

fn channel_with<T>(capacity: usize, overtake: bool) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity),
            in_flight: 0,
            terminal: None,
            cancelled: false,
            producer: None,
            consumer: None,
        }),
        capacity,
        cancelled: AtomicBool::new(false),
        pulled: AtomicBool::new(false),
    });
    (
        Sender {
            shared: shared.clone(),
            room: 0,
            finished: false,
        },
        Receiver {
            shared,
            overtake,
            pulled: false,
            local: VecDeque::with_capacity(capacity),
            consumed: 0,
            threshold: (capacity / 2).max(1),
        },
    )
}

/// The receiver was dropped: downstream cancelled.
#[derive(Debug)]
pub(crate) struct Cancelled;

impl<T> Sender<T> {
    /// Credit available now; registers the waker when there is none.
    pub(crate) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Cancelled>> {
        if self.room > 0 && !self.shared.cancelled.load(Ordering::Acquire) {
            return Poll::Ready(Ok(self.room));
        }
        let mut st = self.shared.lock();
        if st.cancelled {
            return Poll::Ready(Err(Cancelled));
        }
        self.room = self.shared.capacity - st.in_flight;
        if self.room == 0 {
            register(&mut st.producer, cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(self.room))
    }

    /// Whether the receiver has been pulled at least once.
    pub(crate) fn was_pulled(&self) -> bool {
        self.shared.pulled.load(Ordering::Acquire)
    }

    /// Wakes this task when the receiver is dropped (used while waiting on upstream).
    pub(crate) fn watch_cancel(&mut self, cx: &mut Context<'_>) -> Result<(), Cancelled> {
        let mut st = self.shared.lock();
        if st.cancelled {
            return Err(Cancelled);
        }
        register(&mut st.producer, cx);
        Ok(())
    }

    /// Sends `items` (at most the room last reported) and, optionally, the terminal signal.
    pub(crate) fn send(
        &mut self,
        items: &mut Vec<T>,
        terminal: Option<Step>,
    ) -> Result<(), Cancelled> {
        let n = items.len();
        debug_assert!(n <= self.room || self.room == 0 && n == 0);
        let mut st = self.shared.lock();
        if st.cancelled {
            items.clear();
            return Err(Cancelled);
        }
        st.queue.extend(items.drain(..));
        st.in_flight += n;
        crate::diagnostics::passed(n);
        self.room = self.shared.capacity - st.in_flight;
        if let Some(t) = terminal {
            st.terminal = Some(t);
            self.finished = true;
        }
        if let Some(w) = st.consumer.take() {
            drop(st);
            w.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if !self.finished {
            let mut st = self.shared.lock();
            if st.terminal.is_none() {
                st.terminal = Some(Step::Failed(StreamError::AbruptTermination));
            }
            if let Some(w) = st.consumer.take() {
                drop(st);
                w.wake();
            }
        }
    }
}

impl<T: Send + 'static> Pull<T> for Receiver<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if !self.pulled {
            self.pulled = true;
            self.shared.pulled.store(true, Ordering::Release);
            // A producer waiting for its outputs' first pull must hear of it.
            if let Some(w) = self.shared.lock().producer.take() {
                w.wake();
            }
        }
        let start = out.len();
        loop {
            if !self.local.is_empty() {
                let n = (max - (out.len() - start)).min(self.local.len());
                out.extend(self.local.drain(..n));
                self.consumed += n;
                if self.consumed >= self.threshold {
                    self.return_credit();
                }
                if out.len() - start == max {
                    return Poll::Ready(Step::Open);
                }
            }
            let mut st = self.shared.lock();
            if self.overtake && matches!(st.terminal, Some(Step::Failed(_))) {
                // As Akka's buffer: the failure goes first, and what waits in the buffer is
                // dropped. (Checked here, where the lock is taken anyway, so that reading a
                // batch already taken over costs nothing more.)
                st.queue.clear();
                return Poll::Ready(st.terminal.take().expect("checked"));
            }
            if !st.queue.is_empty() {
                std::mem::swap(&mut st.queue, &mut self.local);
                continue;
            }
            if let Some(t) = st.terminal.take() {
                return Poll::Ready(t);
            }
            if out.len() > start {
                return Poll::Ready(Step::Open);
            }
            register(&mut st.consumer, cx);
            return Poll::Pending;
        }
    }

    /// A failure sent across the boundary overtakes the elements buffered before it.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut st = self.shared.lock();
        match &st.terminal {
            Some(Step::Failed(e)) => Poll::Ready(e.clone()),
            _ => {
                register(&mut st.consumer, cx);
                Poll::Pending
            }
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.local.is_empty() {
            return Poll::Pending;
        }
        let mut st = self.shared.lock();
        if st.queue.is_empty() && matches!(st.terminal, Some(Step::Complete)) {
            return Poll::Ready(());
        }
        register(&mut st.consumer, cx);
        Poll::Pending
    }
}

impl<T> Receiver<T> {
    fn return_credit(&mut self) {
        let mut st = self.shared.lock();
        st.in_flight -= self.consumed;
        self.consumed = 0;
        if let Some(w) = st.producer.take() {
            drop(st);
            w.wake();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.cancelled = true;
        self.shared.cancelled.store(true, Ordering::Release);
        st.queue.clear();
        if let Some(w) = st.producer.take() {
            drop(st);
            w.wake();
        }
    }
}

/// The upstream island of a boundary: pulls from `up` while there is credit and sends.
pub(crate) struct Producer<T> {
    up: Option<BoxPull<T>>,
    tx: Sender<T>,
    buf: Vec<T>,
}

// No field is structurally pinned.
impl<T> Unpin for Producer<T> {}

impl<T: Send + 'static> Future for Producer<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(up) = this.up.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            let room = match this.tx.poll_room(cx) {
                Poll::Ready(Ok(room)) => room,
                Poll::Ready(Err(Cancelled)) => break,
                Poll::Pending => match up.poll_failed(cx) {
                    // The buffer is full, but a failure goes across at once.
                    Poll::Ready(e) => {
                        let _ = this.tx.send(&mut Vec::new(), Some(Step::Failed(e)));
                        break;
                    }
                    Poll::Pending => {
                        crate::diagnostics::waiting_for_demand();
                        return Poll::Pending;
                    }
                },
            };
            match pull_guarded(up, cx, &mut this.buf, room) {
                Poll::Pending => {
                    if this.tx.watch_cancel(cx).is_err() {
                        break;
                    }
                    crate::diagnostics::waiting_for_element();
                    return Poll::Pending;
                }
                Poll::Ready(Step::Open) => {
                    if this.tx.send(&mut this.buf, None).is_err() {
                        break;
                    }
                }
                Poll::Ready(terminal) => {
                    let _ = this.tx.send(&mut this.buf, Some(terminal));
                    break;
                }
            }
        }
        // Drop upstream now: cancellation reaches it and its resources are released before the
        // task ends.
        this.up = None;
        Poll::Ready(())
    }
}

/// Cuts the chain after `up`: `up` runs in its own island, and the returned stage reads from a
/// buffer of `capacity` elements.
pub(crate) fn boundary<T: Send + 'static>(
    m: &mut Materializer,
    up: BoxPull<T>,
    capacity: usize,
) -> Receiver<T> {
    boundary_with(m, up, capacity, false)
}

/// A [`boundary`] whose upstream failure overtakes the buffered elements (`buffer`).
pub(crate) fn overtaking_boundary<T: Send + 'static>(
    m: &mut Materializer,
    up: BoxPull<T>,
    capacity: usize,
) -> Receiver<T> {
    boundary_with(m, up, capacity, true)
}

fn boundary_with<T: Send + 'static>(
    m: &mut Materializer,
    up: BoxPull<T>,
    capacity: usize,
    overtake: bool,
) -> Receiver<T> {
    let (tx, rx) = channel_with(capacity, overtake);
    let cap = capacity.max(1);
    let gauge: Arc<dyn Gauge> = tx.shared.clone();
    m.spawn_labeled(
        Cow::Borrowed("async boundary"),
        Some(gauge),
        Producer {
            up: Some(up),
            tx,
            buf: Vec::with_capacity(cap),
        },
    );
    rx
}

/// An island that forwards `up` into an existing sender.
pub(crate) fn forward<T: Send + 'static>(up: BoxPull<T>, tx: Sender<T>) -> Producer<T> {
    let cap = tx.shared.capacity;
    Producer {
        up: Some(up),
        tx,
        buf: Vec::with_capacity(cap),
    }
}

//! `Source::tick`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::time::Instant;

use crate::ops::timer::{later, Timer};
use crate::stage::{Pull, Step};

/// Stops a [`Source::tick`](crate::Source::tick) (Akka's `Cancellable`): the source completes.
#[derive(Clone)]
pub struct Cancellable {
    inner: Arc<Cancel>,
}

struct Cancel {
    cancelled: AtomicBool,
    waker: AtomicWaker,
}

impl Cancellable {
    fn new() -> Self {
        Cancellable {
            inner: Arc::new(Cancel {
                cancelled: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            }),
        }
    }

    /// Stops the ticks; the source completes. `true` if this call cancelled it, `false` if it
    /// was cancelled already.
    pub fn cancel(&self) -> bool {
        let first = !self.inner.cancelled.swap(true, Ordering::AcqRel);
        self.inner.waker.wake();
        first
    }

    /// Whether [`cancel`](Cancellable::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Cancellable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellable")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

pub(crate) struct TickPull<T> {
    elem: T,
    initial: Duration,
    interval: Duration,
    /// The next tick (set at the first pull).
    next: Option<Instant>,
    /// The last pull found no tick due and waits for one: a tick then is delivered.
    waiting: bool,
    cancel: Cancellable,
    timer: Timer,
}

pub(crate) fn tick<T>(
    initial: Duration,
    interval: Duration,
    elem: T,
) -> (Cancellable, TickPull<T>) {
    let cancel = Cancellable::new();
    let pull = TickPull {
        elem,
        initial,
        // A zero interval would tick without end at one instant.
        interval: interval.max(Duration::from_millis(1)),
        next: None,
        waiting: false,
        cancel: cancel.clone(),
        timer: Timer::default(),
    };
    (cancel, pull)
}

impl<T: Clone + Send + 'static> Pull<T> for TickPull<T> {
    /// A cancelled tick source completes also without demand.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.cancel.inner.waker.register(cx.waker());
        if self.cancel.is_cancelled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, _max: usize) -> Poll<Step> {
        self.cancel.inner.waker.register(cx.waker());
        if self.cancel.is_cancelled() {
            return Poll::Ready(Step::Complete);
        }
        let now = Instant::now();
        let mut next = *self.next.get_or_insert_with(|| later(now, self.initial));
        if !self.waiting {
            // Ticks that came while nobody pulled are dropped, as in Akka.
            while next < now {
                next = later(next, self.interval);
            }
        }
        if now >= next || self.timer.poll_until(next, cx) {
            self.next = Some(later(next, self.interval));
            self.waiting = false;
            out.push(self.elem.clone());
            return Poll::Ready(Step::Open);
        }
        self.next = Some(next);
        self.waiting = true;
        Poll::Pending
    }
}

//! `grouped_within`.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step};

/// Groups of at most `n` elements, a group closing when it is full or when the window ends.
///
/// Windows follow Akka's timer: a window ends `within` after the previous group was emitted (or
/// after the stage started); a window that ends with nothing buffered emits nothing and the next
/// one starts, so a lone element waits at most one window.
pub(crate) struct GroupedWithin<T> {
    up: Option<BoxPull<T>>,
    n: usize,
    within: Duration,
    buf: Vec<T>,
    /// When the current window ends (set at the first pull).
    window_end: Option<Instant>,
    timer: Timer,
    /// Upstream's terminal signal, held while the last group is emitted.
    done: Option<Step>,
}

impl<T> GroupedWithin<T> {
    pub(crate) fn new(up: BoxPull<T>, n: usize, within: Duration) -> Self {
        GroupedWithin {
            up: Some(up),
            n,
            // A zero window would close every pull's group at once: keep it positive.
            within: within.max(Duration::from_nanos(1)),
            buf: Vec::new(),
            window_end: None,
            timer: Timer::default(),
            done: None,
        }
    }

    /// The end of the window `now` falls in, given that windows follow one another from `end`.
    fn roll(&self, end: Instant, now: Instant) -> Instant {
        if now < end {
            return end;
        }
        let behind = (now - end).as_nanos() / self.within.as_nanos() + 1;
        let step = self
            .within
            .saturating_mul(u32::try_from(behind).unwrap_or(u32::MAX));
        end.checked_add(step).unwrap_or(now)
    }
}

impl<T: Send + 'static> Pull<Vec<T>> for GroupedWithin<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Vec<T>>, max: usize) -> Poll<Step> {
        let start = out.len();
        let within = self.within;
        let mut end = *self
            .window_end
            .get_or_insert_with(|| later(Instant::now(), within));
        loop {
            let was_empty = self.buf.is_empty();
            let mut upstream_pending = false;
            if self.buf.len() < self.n {
                let room = self.n - self.buf.len();
                if let Some(up) = self.up.as_mut() {
                    match up.pull(cx, &mut self.buf, room) {
                        Poll::Ready(Step::Open) => {}
                        Poll::Ready(Step::Failed(e)) => {
                            // As Akka: a failure fails the stage; the open group is dropped.
                            self.up = None;
                            self.buf.clear();
                            return Poll::Ready(Step::Failed(e));
                        }
                        Poll::Ready(Step::Complete) => {
                            self.up = None;
                            self.done = Some(Step::Complete);
                        }
                        Poll::Pending => upstream_pending = true,
                    }
                }
            }
            let now = Instant::now();
            if was_empty && !self.buf.is_empty() {
                // Windows that ended while nothing was buffered emitted nothing.
                end = self.roll(end, now);
            }
            let full = self.buf.len() >= self.n;
            let window_over = !self.buf.is_empty() && now >= end;
            let last = self.done.is_some() && !self.buf.is_empty();
            if full || window_over || last {
                out.push(std::mem::take(&mut self.buf));
                end = later(now, within);
                self.window_end = Some(end);
                if self.done.is_none() && out.len() - start == max {
                    return Poll::Ready(Step::Open);
                }
                continue;
            }
            self.window_end = Some(end);
            if let Some(step) = self.done.take() {
                return Poll::Ready(step);
            }
            if out.len() > start {
                return Poll::Ready(Step::Open);
            }
            if !upstream_pending {
                // Upstream delivered and the group is neither full nor due: pull again.
                continue;
            }
            if self.buf.is_empty() {
                // Nothing to time: upstream wakes the task when it has elements.
                return Poll::Pending;
            }
            if !self.timer.poll_until(end, cx) {
                return Poll::Pending;
            }
        }
    }
}

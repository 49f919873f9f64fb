//! `throttle`.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::Timer;
use crate::stage::{BoxPull, Pull, Step};

/// Shapes the rate with the generic cell rate algorithm: an element may pass when the
/// theoretical arrival time `tat` is at most `tolerance` ahead of now, where
/// `tolerance = (burst - 1) * interval`. Elements are delayed, never dropped.
pub(crate) struct Throttle<T> {
    up: Option<BoxPull<T>>,
    interval: Duration,
    tolerance: Duration,
    tat: Option<Instant>,
    timer: Timer,
}

impl<T> Throttle<T> {
    pub(crate) fn new(up: BoxPull<T>, elements: u32, per: Duration, burst: u32) -> Self {
        let interval = per / elements.max(1);
        Throttle {
            up: Some(up),
            interval,
            tolerance: interval.saturating_mul(burst.max(1).saturating_sub(1)),
            tat: None,
            timer: Timer::default(),
        }
    }

    /// How many elements may pass at `now`.
    fn allowance(&self, now: Instant, max: usize) -> usize {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let Some(horizon) = now.checked_add(self.tolerance) else {
            return max;
        };
        if tat > horizon {
            return 0;
        }
        if self.interval.is_zero() {
            return max;
        }
        let n = (horizon - tat).as_nanos() / self.interval.as_nanos() + 1;
        usize::try_from(n).map_or(max, |n| n.min(max))
    }
}

impl<T: Send + 'static> Pull<T> for Throttle<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        loop {
            let now = Instant::now();
            let n = self.allowance(now, max);
            if n == 0 {
                let due = self.tat.expect("an allowance of 0 implies a tat") - self.tolerance;
                if !self.timer.poll_until(due, cx) {
                    return Poll::Pending;
                }
                continue;
            }
            let Some(up) = self.up.as_mut() else {
                return Poll::Ready(Step::Complete);
            };
            let before = out.len();
            let p = up.pull(cx, out, n);
            let k = out.len() - before;
            if k > 0 {
                let start = self.tat.map_or(now, |t| t.max(now));
                let step = self
                    .interval
                    .saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
                self.tat = start.checked_add(step).or(self.tat);
            }
            if let Poll::Ready(step) = &p {
                if step.is_terminal() {
                    self.up = None;
                }
            }
            return p;
        }
    }
}

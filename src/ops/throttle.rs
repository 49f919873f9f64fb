//! `throttle` and `throttle_with`.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// What `throttle_with` does with an element that comes faster than the rate allows (Akka's
/// `ThrottleMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThrottleMode {
    /// Hold the element back until the rate allows it (lossless; back-pressures upstream).
    #[default]
    Shaping,
    /// Fail the stream with [`StreamError::RateExceeded`].
    Enforcing,
}

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

/// A token bucket of `capacity` tokens, one more every `interval`, full at the start (Akka's
/// `TokenBucket`): an element costing more than the tokens present waits for the missing ones,
/// leaving the bucket empty when it passes.
struct TokenBucket {
    capacity: u64,
    interval: Duration,
    tokens: u64,
    /// When `tokens` was last brought up to date (the last refill, or when a waiting element
    /// is due to pass).
    updated: Instant,
}

impl TokenBucket {
    fn new(capacity: u64, interval: Duration, now: Instant) -> Self {
        TokenBucket {
            capacity,
            interval,
            tokens: capacity,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now <= self.updated || self.interval.is_zero() {
            return;
        }
        let elapsed = now - self.updated;
        let gained = elapsed.as_nanos() / self.interval.as_nanos();
        let room = u128::from(self.capacity - self.tokens.min(self.capacity));
        if gained >= room {
            self.tokens = self.capacity;
            self.updated = now;
        } else {
            // `gained < room <= u64::MAX`, and `gained` intervals fit in `elapsed`.
            let gained = gained as u64;
            self.tokens += gained;
            self.updated = later(self.updated, mul(self.interval, gained));
        }
    }

    /// Takes `cost` tokens at `now`; how long the element must wait for the missing ones.
    fn offer(&mut self, cost: u64, now: Instant) -> Duration {
        if self.interval.is_zero() {
            return Duration::ZERO;
        }
        self.refill(now);
        if cost <= self.tokens {
            self.tokens -= cost;
            return Duration::ZERO;
        }
        let missing = cost - self.tokens;
        // Part of the next token has already accrued since the last update.
        let accrued = now.saturating_duration_since(self.updated);
        let wait = mul(self.interval, missing).saturating_sub(accrued);
        self.tokens = 0;
        self.updated = later(now, wait);
        wait
    }
}

fn mul(d: Duration, n: u64) -> Duration {
    u32::try_from(n).map_or(Duration::MAX, |n| d.saturating_mul(n))
}

/// `throttle_with`: one element at a time, each costing what `cost_of` says, shaped or
/// enforced by a [`TokenBucket`].
pub(crate) struct ThrottleWeighted<T, F> {
    /// A bad argument, reported at the first pull.
    invalid: Option<&'static str>,
    up: Option<BoxPull<T>>,
    cost: u32,
    per: Duration,
    burst: u32,
    mode: ThrottleMode,
    cost_of: F,
    bucket: Option<TokenBucket>,
    /// An element waiting for its tokens, and when it may pass.
    held: Option<(Instant, T)>,
    supervisor: Supervisor,
    timer: Timer,
    scratch: Vec<T>,
}

impl<T, F: FnMut(&T) -> u32> ThrottleWeighted<T, F> {
    pub(crate) fn new(
        up: BoxPull<T>,
        (cost, per, burst): (u32, Duration, u32),
        mode: ThrottleMode,
        cost_of: F,
        attrs: &Attributes,
    ) -> Self {
        let invalid = if cost == 0 {
            Some("cost must be > 0")
        } else if per.is_zero() {
            Some("per must be > 0")
        } else if burst == 0 && mode == ThrottleMode::Enforcing {
            Some("burst must be > 0 in enforcing mode")
        } else {
            None
        };
        ThrottleWeighted {
            invalid,
            up: Some(up),
            cost,
            per,
            burst,
            mode,
            cost_of,
            bucket: None,
            held: None,
            supervisor: Supervisor::new("throttle", attrs),
            timer: Timer::default(),
            scratch: Vec::with_capacity(1),
        }
    }

    /// Prices one element that arrived now: `Ok(Some(due))` when it may pass (now or later),
    /// `Ok(None)` when supervision dropped it.
    fn price(&mut self, x: &T, now: Instant) -> Result<Option<Instant>, StreamError> {
        let cost_of = &mut self.cost_of;
        let c = match self.supervisor.call(|| cost_of(x)) {
            Ok(c) => c,
            // Resume and Restart drop the element; the function keeps no state of ours.
            Err(e) if !matches!(self.supervisor.decide(&e), Directive::Stop) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (cost, per, burst) = (self.cost, self.per, self.burst);
        let bucket = self
            .bucket
            .get_or_insert_with(|| TokenBucket::new(u64::from(burst), per / cost, now));
        let wait = bucket.offer(u64::from(c), now);
        if wait.is_zero() {
            Ok(Some(now))
        } else if self.mode == ThrottleMode::Enforcing {
            Err(StreamError::RateExceeded { cost, per })
        } else {
            Ok(Some(later(now, wait)))
        }
    }
}

impl<T, F> Pull<T> for ThrottleWeighted<T, F>
where
    T: Send + 'static,
    F: FnMut(&T) -> u32 + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if let Some(problem) = self.invalid {
            self.up = None;
            return Poll::Ready(Step::Failed(StreamError::InvalidArgument {
                stage: "throttle_with",
                problem,
            }));
        }
        let before = out.len();
        let delivered = |out: &Vec<T>| out.len() > before;
        loop {
            if let Some((due, _)) = &self.held {
                if *due > Instant::now() && !self.timer.poll_until(*due, cx) {
                    return if delivered(out) {
                        Poll::Ready(Step::Open)
                    } else {
                        Poll::Pending
                    };
                }
                if let Some((_, x)) = self.held.take() {
                    out.push(x);
                }
            }
            let Some(up) = self.up.as_mut() else {
                return Poll::Ready(Step::Complete);
            };
            if out.len() - before >= max {
                return Poll::Ready(Step::Open);
            }
            let step = match up.pull(cx, &mut self.scratch, 1) {
                Poll::Pending if delivered(out) => return Poll::Ready(Step::Open),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(step) => step,
            };
            if let Some(x) = self.scratch.pop() {
                match self.price(&x, Instant::now()) {
                    Ok(Some(due)) => self.held = Some((due, x)),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Step::Failed(e)),
                }
            }
            match step {
                Step::Open => {}
                // An element still waiting for its tokens goes out before the completion.
                Step::Complete => self.up = None,
                Step::Failed(e) => return Poll::Ready(Step::Failed(e)),
            }
        }
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }
}

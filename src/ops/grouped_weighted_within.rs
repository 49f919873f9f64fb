//! `grouped_weighted_within`.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::Attributes;

/// How many elements one pull asks upstream for at most, so that a group bounded only by weight
/// or time never asks for an unbounded batch.
const MAX_PULL: usize = 64;

/// Groups of at most `max_weight` in total cost and `max_number` elements, a group closing when
/// the next element does not fit, when it is full, or when the window ends (Akka's
/// `groupedWeightedWithin`). Windows follow `grouped_within`'s timer.
pub(crate) struct GroupedWeightedWithin<T, C> {
    up: Option<BoxPull<T>>,
    max_weight: u64,
    max_number: usize,
    within: Duration,
    cost: C,
    sup: Supervisor,
    buf: Vec<T>,
    weight: u64,
    /// Pulled and not yet grouped (at most one pull's worth); the front may have its cost known.
    ahead: VecDeque<T>,
    front_cost: Option<u64>,
    pulled: Vec<T>,
    /// When the current window ends (set at the first pull).
    window_end: Option<Instant>,
    /// Supervision restarted the group: its window starts again.
    restarted: bool,
    timer: Timer,
    /// Upstream's terminal signal, held while the last groups are emitted.
    done: Option<Step>,
}

impl<T, C> GroupedWeightedWithin<T, C> {
    pub(crate) fn new(
        up: BoxPull<T>,
        max_weight: u64,
        max_number: usize,
        within: Duration,
        cost: C,
        attrs: &Attributes,
    ) -> Self {
        GroupedWeightedWithin {
            up: Some(up),
            max_weight,
            max_number,
            // A zero window would close every pull's group at once: keep it positive.
            within: within.max(Duration::from_nanos(1)),
            cost,
            sup: Supervisor::new("grouped_weighted_within", attrs),
            buf: Vec::new(),
            weight: 0,
            ahead: VecDeque::new(),
            front_cost: None,
            pulled: Vec::new(),
            window_end: None,
            restarted: false,
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

/// What grouping the elements at hand ended with.
enum Grouped {
    /// Every element at hand joined the group, which has room left.
    Open,
    /// The group is complete: full, or the next element does not fit.
    Closed,
}

impl<T: Send + 'static, C: FnMut(&T) -> u64 + Send + 'static> GroupedWeightedWithin<T, C> {
    /// Moves elements at hand into the group while they fit. `Err` fails the stage (Stop).
    fn group(&mut self) -> Result<Grouped, crate::StreamError> {
        while let Some(x) = self.ahead.front() {
            let c = match self.front_cost {
                Some(c) => c,
                None => {
                    let cost = &mut self.cost;
                    match self.sup.call(|| cost(x)) {
                        Ok(c) => c,
                        Err(e) => {
                            self.ahead.pop_front();
                            match self.sup.decide(&e) {
                                Directive::Stop => return Err(e),
                                Directive::Resume => continue,
                                Directive::Restart => {
                                    // As Akka: the group is dropped and its window restarts.
                                    self.buf.clear();
                                    self.weight = 0;
                                    self.restarted = true;
                                    continue;
                                }
                            }
                        }
                    }
                }
            };
            let fits = self.weight.saturating_add(c) <= self.max_weight
                && self.buf.len() < self.max_number;
            if !fits && !self.buf.is_empty() {
                // It starts the next group.
                self.front_cost = Some(c);
                return Ok(Grouped::Closed);
            }
            // It fits, or it is heavier than a group on its own and forms one.
            self.front_cost = None;
            let x = self.ahead.pop_front().expect("front checked above");
            self.buf.push(x);
            self.weight = self.weight.saturating_add(c);
        }
        if self.weight >= self.max_weight || self.buf.len() >= self.max_number {
            Ok(Grouped::Closed)
        } else {
            Ok(Grouped::Open)
        }
    }
}

impl<T, C> Pull<Vec<T>> for GroupedWeightedWithin<T, C>
where
    T: Send + 'static,
    C: FnMut(&T) -> u64 + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Vec<T>>, max: usize) -> Poll<Step> {
        let start = out.len();
        let within = self.within;
        let mut end = *self
            .window_end
            .get_or_insert_with(|| later(Instant::now(), within));
        loop {
            let was_empty = self.buf.is_empty();
            let mut upstream_pending = false;
            if self.ahead.is_empty() {
                if let Some(up) = self.up.as_mut() {
                    let room = self
                        .max_number
                        .saturating_sub(self.buf.len())
                        .clamp(1, MAX_PULL);
                    match up.pull(cx, &mut self.pulled, room) {
                        Poll::Ready(Step::Open) => {}
                        Poll::Ready(Step::Failed(e)) => {
                            // As Akka: a failure fails the stage; the open group is dropped.
                            self.up = None;
                            self.buf.clear();
                            self.ahead.clear();
                            self.pulled.clear();
                            return Poll::Ready(Step::Failed(e));
                        }
                        Poll::Ready(Step::Complete) => {
                            self.up = None;
                            self.done = Some(Step::Complete);
                        }
                        Poll::Pending => upstream_pending = true,
                    }
                    self.ahead.extend(self.pulled.drain(..));
                }
            }
            let closed = match self.group() {
                Ok(Grouped::Closed) => true,
                Ok(Grouped::Open) => false,
                Err(e) => return Poll::Ready(Step::Failed(e)),
            };
            let now = Instant::now();
            if std::mem::take(&mut self.restarted) {
                end = later(now, within);
            }
            if was_empty && !self.buf.is_empty() {
                // Windows that ended while nothing was buffered emitted nothing.
                end = self.roll(end, now);
            }
            let window_over = !self.buf.is_empty() && now >= end;
            let last = self.done.is_some() && !self.buf.is_empty();
            if (closed && !self.buf.is_empty()) || window_over || last {
                out.push(std::mem::take(&mut self.buf));
                self.weight = 0;
                end = later(now, within);
                self.window_end = Some(end);
                if self.ahead.is_empty() {
                    if let Some(step) = self.done.take() {
                        // The last group goes out with the completion.
                        return Poll::Ready(step);
                    }
                }
                if out.len() - start == max {
                    // The last groups (and completion) go out on the next pulls.
                    return Poll::Ready(Step::Open);
                }
                continue;
            }
            self.window_end = Some(end);
            if self.ahead.is_empty() {
                if let Some(step) = self.done.take() {
                    return Poll::Ready(step);
                }
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

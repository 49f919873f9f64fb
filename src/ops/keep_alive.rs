//! `keep_alive` and `initial_delay`: elements made up, or held back, by time.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step, Supervisor};

/// `keep_alive`: while pulled and upstream is silent for `idle` since the last element
/// emitted, emits `inject()`.
pub(crate) struct KeepAlive<T, F> {
    up: Option<BoxPull<T>>,
    idle: Duration,
    inject: F,
    sup: Supervisor,
    /// When the next made-up element is due (set at the first pull, moved by each element).
    due: Option<Instant>,
    timer: Timer,
}

impl<T, F> KeepAlive<T, F> {
    pub(crate) fn new(up: BoxPull<T>, idle: Duration, inject: F, sup: Supervisor) -> Self {
        KeepAlive {
            up: Some(up),
            idle,
            inject,
            sup,
            due: None,
            timer: Timer::default(),
        }
    }
}

impl<T: Send + 'static, F: FnMut() -> T + Send + 'static> Pull<T> for KeepAlive<T, F> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        let before = out.len();
        match up.pull(cx, out, max) {
            Poll::Ready(step) => {
                if step.is_terminal() {
                    self.up = None;
                }
                if out.len() > before {
                    self.due = Some(later(Instant::now(), self.idle));
                }
                Poll::Ready(step)
            }
            Poll::Pending => {
                let now = Instant::now();
                let due = *self.due.get_or_insert_with(|| later(now, self.idle));
                if now < due && !self.timer.poll_until(due, cx) {
                    return Poll::Pending;
                }
                self.due = Some(later(Instant::now(), self.idle));
                match self.sup.call(&mut self.inject) {
                    Ok(x) => {
                        out.push(x);
                        Poll::Ready(Step::Open)
                    }
                    // A panicking `inject`: Stop fails; Resume and Restart skip this one.
                    Err(e) if self.sup.decide(&e) == crate::Directive::Stop => {
                        self.up = None;
                        Poll::Ready(Step::Failed(e))
                    }
                    Err(_) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
        }
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<crate::StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }
}

/// `initial_delay`: pulls nothing from upstream until `delay` has passed since the first pull.
pub(crate) struct InitialDelay<T> {
    up: Option<BoxPull<T>>,
    delay: Duration,
    until: Option<Instant>,
    open: bool,
    timer: Timer,
}

impl<T> InitialDelay<T> {
    pub(crate) fn new(up: BoxPull<T>, delay: Duration) -> Self {
        InitialDelay {
            up: Some(up),
            delay,
            until: None,
            open: false,
            timer: Timer::default(),
        }
    }
}

impl<T: Send + 'static> Pull<T> for InitialDelay<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        if !self.open {
            let now = Instant::now();
            let until = *self.until.get_or_insert_with(|| later(now, self.delay));
            if now < until && !self.timer.poll_until(until, cx) {
                // Pulled but holding back: an upstream failure still comes through at once.
                if let Poll::Ready(e) = up.poll_failed(cx) {
                    self.up = None;
                    return Poll::Ready(Step::Failed(e));
                }
                return Poll::Pending;
            }
            self.open = true;
        }
        let step = std::task::ready!(up.pull(cx, out, max));
        if step.is_terminal() {
            self.up = None;
        }
        Poll::Ready(step)
    }

    /// A failure of upstream is not delayed.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<crate::StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }
}

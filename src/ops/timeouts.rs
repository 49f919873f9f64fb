//! `take_within`, `idle_timeout`, `completion_timeout`, `initial_timeout`: one timer each,
//! armed while pulled.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step};
use crate::StreamError;

/// What happens when the time runs out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `take_within`: complete (cancelling upstream).
    Complete,
    /// `completion_timeout`: fail, whatever passed.
    Completion,
    /// `idle_timeout`: fail when no element passed for the duration.
    Idle,
    /// `initial_timeout`: fail unless the first element passed within the duration.
    Initial,
}

pub(crate) struct Timed<T> {
    up: Option<BoxPull<T>>,
    kind: Kind,
    after: Duration,
    /// When time runs out (set at the first pull; moved by each element for `Idle`).
    deadline: Option<Instant>,
    timer: Timer,
}

impl<T> Timed<T> {
    pub(crate) fn new(up: BoxPull<T>, kind: Kind, after: Duration) -> Self {
        Timed {
            up: Some(up),
            kind,
            after,
            deadline: None,
            timer: Timer::default(),
        }
    }

    /// The signal once the time is out; upstream is cancelled.
    fn out_of_time(&mut self) -> Step {
        self.up = None;
        match self.kind {
            Kind::Complete => Step::Complete,
            Kind::Completion => Step::Failed(StreamError::Timeout {
                stage: "completion_timeout",
                after: self.after,
            }),
            Kind::Idle => Step::Failed(StreamError::Timeout {
                stage: "idle_timeout",
                after: self.after,
            }),
            Kind::Initial => Step::Failed(StreamError::Timeout {
                stage: "initial_timeout",
                after: self.after,
            }),
        }
    }
}

impl<T: Send + 'static> Pull<T> for Timed<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let now = Instant::now();
        let deadline = match self.deadline {
            Some(d) => d,
            None => *self.deadline.insert(later(now, self.after)),
        };
        if now >= deadline {
            return Poll::Ready(self.out_of_time());
        }
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        let before = out.len();
        match up.pull(cx, out, max) {
            Poll::Ready(step) => {
                if step.is_terminal() {
                    self.up = None;
                }
                if self.kind == Kind::Idle && out.len() > before {
                    self.deadline = Some(later(Instant::now(), self.after));
                }
                if self.kind == Kind::Initial && out.len() > before {
                    // The first element came in time: no deadline any more.
                    self.deadline = Some(later(Instant::now(), Duration::MAX));
                }
                Poll::Ready(step)
            }
            Poll::Pending if self.timer.poll_until(deadline, cx) => Poll::Ready(self.out_of_time()),
            Poll::Pending => Poll::Pending,
        }
    }
}

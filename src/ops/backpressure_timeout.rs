//! `backpressure_timeout`: fails when downstream takes too long to ask again.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step};
use crate::StreamError;

pub(crate) struct BackpressureTimeout<T> {
    up: Option<BoxPull<T>>,
    after: Duration,
    /// When the last elements were handed downstream, until its next pull.
    emitted: Option<Instant>,
    timer: Timer,
}

impl<T> BackpressureTimeout<T> {
    pub(crate) fn new(up: BoxPull<T>, after: Duration) -> Self {
        BackpressureTimeout {
            up: Some(up),
            after,
            emitted: None,
            timer: Timer::default(),
        }
    }

    fn timeout(&mut self) -> StreamError {
        self.up = None;
        StreamError::Timeout {
            stage: "backpressure_timeout",
            after: self.after,
        }
    }
}

impl<T: Send + 'static> Pull<T> for BackpressureTimeout<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if let Some(at) = self.emitted.take() {
            if Instant::now() > later(at, self.after) {
                return Poll::Ready(Step::Failed(self.timeout()));
            }
        }
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        let before = out.len();
        let step = match up.pull(cx, out, max) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(step) => step,
        };
        if step.is_terminal() {
            self.up = None;
        } else if out.len() > before {
            self.emitted = Some(Instant::now());
        }
        Poll::Ready(step)
    }

    /// Asked by a downstream that is not pulling: the timeout needs no demand to be heard.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        if let Some(at) = self.emitted {
            if self.timer.poll_until(later(at, self.after), cx) {
                self.emitted = None;
                return Poll::Ready(self.timeout());
            }
        }
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.up.as_mut() {
            Some(up) => up.poll_complete(cx),
            None => Poll::Pending,
        }
    }
}

//! `drop_within`: drops what arrives before a deadline.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::later;
use crate::stage::{BoxPull, Pull, Step};

pub(crate) struct DropWithin<T> {
    up: BoxPull<T>,
    after: Duration,
    /// Until when elements are dropped (set at the first pull); `None` once it has passed.
    until: Option<Option<Instant>>,
    scratch: Vec<T>,
}

impl<T> DropWithin<T> {
    pub(crate) fn new(up: BoxPull<T>, after: Duration) -> Self {
        DropWithin {
            up,
            after,
            until: None,
            scratch: Vec::new(),
        }
    }
}

impl<T: Send + 'static> Pull<T> for DropWithin<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        loop {
            let until = *self
                .until
                .get_or_insert_with(|| Some(later(Instant::now(), self.after)));
            let Some(until) = until else {
                return self.up.pull(cx, out, max);
            };
            if Instant::now() >= until {
                self.until = Some(None);
                continue;
            }
            // Still dropping: read into scratch, keep what arrived after the deadline.
            let step = match self.up.pull(cx, &mut self.scratch, max) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(step) => step,
            };
            let passed = Instant::now() >= until;
            if passed {
                out.append(&mut self.scratch);
                self.until = Some(None);
            } else {
                self.scratch.clear();
            }
            match step {
                Step::Open if !passed => continue,
                step => return Poll::Ready(step),
            }
        }
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<crate::StreamError> {
        self.up.poll_failed(cx)
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.up.poll_complete(cx)
    }
}

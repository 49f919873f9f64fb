//! The one timer a time-based stage (`throttle`, `grouped_within`, the timeouts) needs while it
//! is pulled.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A reusable tokio sleep, allocated once and reset to each new deadline.
#[derive(Default)]
pub(crate) struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    /// Whether `at` has passed; if not, the task is woken when it does.
    pub(crate) fn poll_until(&mut self, at: Instant, cx: &mut Context<'_>) -> bool {
        let sleep = self
            .0
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        sleep.as_mut().reset(at);
        sleep.as_mut().poll(cx).is_ready()
    }
}

/// `at + d`, or about thirty years on when that overflows (`Duration::MAX`: never, in practice).
pub(crate) fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .unwrap_or_else(|| at + Duration::from_secs(30 * 365 * 86_400))
}

//! The restart count and its backoff timer, shared by the restart stages.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::RestartSettings;
use crate::stage::Step;
use crate::StreamError;

/// Counts restarts in a row and times the backoff (Akka's `RestartWithBackoffLogic`).
pub(crate) struct Backoff {
    settings: RestartSettings,
    stage: &'static str,
    count: u32,
    reset_deadline: Instant,
    rng: u64,
}

/// Why the inner stream ended.
pub(crate) enum Ended<'a> {
    Completed,
    Failed(&'a StreamError),
    Cancelled,
}

impl Backoff {
    /// Starts counting at the first start of the inner stream, which is now.
    pub(crate) fn new(settings: RestartSettings, stage: &'static str) -> Self {
        let reset_deadline = Instant::now() + settings.max_restarts_within();
        // Seeded per stage, so that restarting streams spread out.
        let rng = RandomState::new().build_hasher().finish() | 1;
        Backoff {
            settings,
            stage,
            count: 0,
            reset_deadline,
            rng,
        }
    }

    /// The timer to wait before the next start, or `None` when the inner stream's end is
    /// final: a limit reached, or a failure not to restart on.
    pub(crate) fn restart(&mut self, ended: Ended<'_>) -> Option<Pin<Box<Sleep>>> {
        if let Ended::Failed(e) = ended {
            if !self.settings.restarts_on(e) {
                return None;
            }
        }
        if self.reset_deadline <= Instant::now() {
            self.count = 0;
        }
        if self.settings.max_restarts() == Some(self.count) {
            return None;
        }
        let delay = self.stretch(self.settings.backoff(self.count));
        self.count += 1;
        match ended {
            Ended::Failed(e) => tracing::warn!(
                stage = self.stage,
                restart = self.count,
                ?delay,
                error = %e,
                "restarting after a failure"
            ),
            Ended::Completed => tracing::info!(
                stage = self.stage,
                restart = self.count,
                ?delay,
                "restarting after completion"
            ),
            Ended::Cancelled => tracing::info!(
                stage = self.stage,
                restart = self.count,
                ?delay,
                "restarting after cancellation"
            ),
        }
        Some(Box::pin(tokio::time::sleep(delay)))
    }

    /// The timer before the next run after a run ended with `step`, or `None` when that end is
    /// the stream's: a completion when only failures restart, or as [`restart`](Self::restart).
    pub(crate) fn after_run(
        &mut self,
        step: &Step,
        only_on_failures: bool,
    ) -> Option<Pin<Box<Sleep>>> {
        match step {
            Step::Failed(e) => self.restart(Ended::Failed(e)),
            _ if only_on_failures => None,
            _ => self.restart(Ended::Completed),
        }
    }

    /// The inner stream (re)started now.
    pub(crate) fn started(&mut self) {
        self.reset_deadline = Instant::now() + self.settings.max_restarts_within();
    }

    /// The backoff before retry number `count` (from 0), with the random factor applied.
    pub(crate) fn delay(&mut self, count: u32) -> Duration {
        let delay = self.settings.backoff(count);
        self.stretch(delay)
    }

    fn stretch(&mut self, delay: Duration) -> Duration {
        let rf = self.settings.random_factor();
        if rf == 0.0 {
            return delay;
        }
        // xorshift64: plenty for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        Duration::try_from_secs_f64(delay.as_secs_f64() * (1.0 + unit * rf)).unwrap_or(delay)
    }
}

/// Polls a backoff timer.
pub(crate) fn poll_timer(timer: &mut Pin<Box<Sleep>>, cx: &mut Context<'_>) -> Poll<()> {
    timer.as_mut().poll(cx)
}

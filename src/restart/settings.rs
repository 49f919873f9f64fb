//! `RestartSettings`: the backoff and limits of a restart.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::StreamError;

type RestartOn = Arc<dyn Fn(&StreamError) -> bool + Send + Sync>;

/// How a [`RestartSource`](crate::RestartSource), [`RestartFlow`](crate::RestartFlow) or
/// [`RestartSink`](crate::RestartSink) backs off and when it gives up (Akka's
/// `RestartSettings`).
///
/// The `k`-th restart in a row waits `min(max_backoff, min_backoff * 2^k)`, stretched by a
/// random `1.0 ..= 1.0 + random_factor`. The count of restarts in a row goes back to zero when
/// the last (re)start was more than `max_restarts_within` ago, so a stream that has run that
/// long restarts after `min_backoff` again.
///
/// ```
/// use std::time::Duration;
/// use weir::RestartSettings;
///
/// let settings = RestartSettings::new(Duration::from_millis(100), Duration::from_secs(10), 0.2)
///     .with_max_restarts(20, Duration::from_secs(60))
///     .with_restart_on(|e| !matches!(e, weir::StreamError::InvalidArgument { .. }));
/// assert_eq!(settings.max_restarts(), Some(20));
/// assert_eq!(settings.max_restarts_within(), Duration::from_secs(60));
/// ```
#[derive(Clone)]
pub struct RestartSettings {
    min_backoff: Duration,
    max_backoff: Duration,
    random_factor: f64,
    max_restarts: Option<u32>,
    max_restarts_within: Duration,
    restart_on: RestartOn,
}

impl RestartSettings {
    /// Backoff from `min_backoff` up to `max_backoff`, stretched by up to `random_factor`
    /// (`0.2` adds up to 20 %), with no limit on restarts, and the count of restarts reset after
    /// `min_backoff` of running, as Akka's defaults (`RestartSettings.create`). A negative or
    /// non-finite `random_factor` counts as `0`.
    pub fn new(min_backoff: Duration, max_backoff: Duration, random_factor: f64) -> Self {
        RestartSettings {
            min_backoff,
            max_backoff,
            random_factor: if random_factor.is_finite() && random_factor > 0.0 {
                random_factor
            } else {
                0.0
            },
            max_restarts: None,
            max_restarts_within: min_backoff,
            restart_on: Arc::new(|_| true),
        }
    }

    /// Gives up after `count` restarts in a row, where a run longer than `within` starts the
    /// count again (Akka's `withMaxRestarts`). `count == 0` never restarts.
    pub fn with_max_restarts(mut self, count: u32, within: Duration) -> Self {
        self.max_restarts = Some(count);
        self.max_restarts_within = within;
        self
    }

    /// Restarts only after failures for which `restart_on` holds; other failures pass through
    /// (Akka's `withRestartOn`). Completion and cancellation are not failures and do not ask it.
    pub fn with_restart_on<F>(mut self, restart_on: F) -> Self
    where
        F: Fn(&StreamError) -> bool + Send + Sync + 'static,
    {
        self.restart_on = Arc::new(restart_on);
        self
    }

    /// Changes the smallest backoff.
    pub fn with_min_backoff(mut self, min_backoff: Duration) -> Self {
        self.min_backoff = min_backoff;
        self
    }

    /// Changes the largest backoff.
    pub fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// Changes the random factor (see [`new`](RestartSettings::new)).
    pub fn with_random_factor(self, random_factor: f64) -> Self {
        let mut fresh = RestartSettings::new(self.min_backoff, self.max_backoff, random_factor);
        fresh.max_restarts = self.max_restarts;
        fresh.max_restarts_within = self.max_restarts_within;
        fresh.restart_on = self.restart_on;
        fresh
    }

    /// The smallest backoff.
    pub fn min_backoff(&self) -> Duration {
        self.min_backoff
    }

    /// The largest backoff (before the random factor).
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The random factor.
    pub fn random_factor(&self) -> f64 {
        self.random_factor
    }

    /// The most restarts in a row, if limited.
    pub fn max_restarts(&self) -> Option<u32> {
        self.max_restarts
    }

    /// How long a run must last for the count of restarts to start again.
    pub fn max_restarts_within(&self) -> Duration {
        self.max_restarts_within
    }

    /// Whether `error` is one to restart after.
    pub fn restarts_on(&self, error: &StreamError) -> bool {
        (self.restart_on)(error)
    }

    /// The backoff before restart number `count` (from 0) in a row, before the random factor.
    pub(crate) fn backoff(&self, count: u32) -> Duration {
        let factor = 2f64.powi(count.min(1023) as i32);
        let exp = Duration::try_from_secs_f64(self.min_backoff.as_secs_f64() * factor)
            .unwrap_or(self.max_backoff);
        exp.min(self.max_backoff)
    }
}

impl fmt::Debug for RestartSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartSettings")
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("random_factor", &self.random_factor)
            .field("max_restarts", &self.max_restarts)
            .field("max_restarts_within", &self.max_restarts_within)
            .finish_non_exhaustive()
    }
}

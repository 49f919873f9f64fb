//! Stream time and the dropping of late records, shared by the window kinds.

use super::metrics::WindowMetrics;

/// Stream time (the largest timestamp seen) and the reporting of what is dropped.
pub(crate) struct Clock {
    pub(crate) stream_time: i64,
    grace: i64,
    pub(crate) metrics: WindowMetrics,
    warned: bool,
}

impl Clock {
    pub(crate) fn new(grace: i64, metrics: WindowMetrics) -> Self {
        Clock {
            stream_time: i64::MIN,
            grace,
            metrics,
            warned: false,
        }
    }

    /// Advances stream time to `ts`; `false` (counted and reported) for a negative timestamp.
    pub(crate) fn observe(&mut self, ts: i64) -> bool {
        if ts < 0 {
            self.metrics.invalid();
            tracing::warn!(
                timestamp = ts,
                "window: skipping record with negative timestamp"
            );
            return false;
        }
        self.stream_time = self.stream_time.max(ts);
        true
    }

    /// Windows ending at or before this are closed: no record enters them, their result is final.
    pub(crate) fn close_time(&self) -> i64 {
        self.stream_time.saturating_sub(self.grace)
    }

    /// Counts and reports a record dropped from the window `[start, end)`.
    pub(crate) fn drop_late(&mut self, ts: i64, start: i64, end: i64) {
        self.metrics.late();
        // The first drop is a warning, so that it shows without metrics; the rest are debug
        // events, as Kafka Streams logs them, lest a burst of late data flood the log.
        if self.warned {
            tracing::debug!(
                timestamp = ts,
                window_start = start,
                window_end = end,
                stream_time = self.stream_time,
                "window: dropping record for a closed window"
            );
        } else {
            self.warned = true;
            tracing::warn!(
                timestamp = ts,
                window_start = start,
                window_end = end,
                stream_time = self.stream_time,
                "window: dropping record for a closed window (further drops are logged at debug)"
            );
        }
    }

    pub(crate) fn publish(&self, open: usize) {
        self.metrics.set(self.stream_time, open);
    }
}

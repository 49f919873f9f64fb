//! `WindowMetrics`.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// What a windowed aggregation dropped and holds, read while it runs (its materialized value).
///
/// The counterpart of Kafka Streams' `dropped-records` task metric, per operator.
#[derive(Clone, Default)]
pub struct WindowMetrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    late: AtomicU64,
    invalid: AtomicU64,
    /// `i64::MIN` until the first valid timestamp.
    stream_time: AtomicI64,
    open: AtomicUsize,
}

impl WindowMetrics {
    pub(crate) fn new() -> Self {
        let m = WindowMetrics::default();
        m.inner.stream_time.store(i64::MIN, Ordering::Relaxed);
        m
    }

    /// Records dropped because their window had closed (stream time had passed its end plus the
    /// grace period), one per record and window, as Kafka Streams' dropped-records sensor.
    pub fn dropped_late(&self) -> u64 {
        self.inner.late.load(Ordering::Relaxed)
    }

    /// Records dropped because their timestamp was negative (Kafka Streams'
    /// `LogAndSkipOnInvalidTimestamp`).
    pub fn dropped_invalid_timestamp(&self) -> u64 {
        self.inner.invalid.load(Ordering::Relaxed)
    }

    /// The stream time: the largest timestamp seen so far, `None` before the first record.
    pub fn stream_time(&self) -> Option<i64> {
        let t = self.inner.stream_time.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    /// How many windows (key and window pairs, or sessions) the operator holds now.
    pub fn open_windows(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    pub(crate) fn late(&self) {
        self.inner.late.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn invalid(&self) {
        self.inner.invalid.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set(&self, stream_time: i64, open: usize) {
        self.inner.stream_time.store(stream_time, Ordering::Relaxed);
        self.inner.open.store(open, Ordering::Relaxed);
    }
}

impl fmt::Debug for WindowMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowMetrics")
            .field("dropped_late", &self.dropped_late())
            .field(
                "dropped_invalid_timestamp",
                &self.dropped_invalid_timestamp(),
            )
            .field("stream_time", &self.stream_time())
            .field("open_windows", &self.open_windows())
            .finish()
    }
}

//! `TimeWindows`.

use std::time::Duration;

use super::error::{millis, WindowError};

/// Tumbling or hopping windows of a fixed size on event time (Kafka Streams' `TimeWindows`).
///
/// A window `[start, start + size)` holds the records with `start <= timestamp < start + size`;
/// windows start at multiples of the advance from the epoch, never before 0. With the advance
/// equal to the size (the default) they tumble: each record falls in exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size: i64,
    pub(crate) advance: i64,
    pub(crate) grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that accept records up to `grace` behind stream time past
    /// their end (`TimeWindows.ofSizeAndGrace`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::{TimeWindows, WindowError};
    ///
    /// let w = TimeWindows::of_size_with_grace(Duration::from_secs(60), Duration::from_secs(5));
    /// assert!(w.is_ok());
    /// let zero = TimeWindows::of_size_with_grace(Duration::ZERO, Duration::ZERO);
    /// assert_eq!(zero, Err(WindowError::ZeroSize));
    /// ```
    ///
    /// # Errors
    /// [`WindowError::ZeroSize`] for a size under one millisecond; [`WindowError::TooLarge`] for
    /// durations beyond `i64` milliseconds. Durations count in whole milliseconds.
    pub fn of_size_with_grace(size: Duration, grace: Duration) -> Result<Self, WindowError> {
        let size_ms = millis(size)?;
        if size_ms == 0 {
            return Err(WindowError::ZeroSize);
        }
        Ok(TimeWindows {
            size: size_ms,
            advance: size_ms,
            grace: millis(grace)?,
        })
    }

    /// Tumbling windows with no grace: a record behind stream time past its window's end is
    /// dropped (`TimeWindows.ofSizeWithNoGrace`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::TimeWindows;
    ///
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// assert_eq!(w.grace(), Duration::ZERO);
    /// ```
    ///
    /// # Errors
    /// As [`of_size_with_grace`](TimeWindows::of_size_with_grace).
    pub fn of_size_no_grace(size: Duration) -> Result<Self, WindowError> {
        Self::of_size_with_grace(size, Duration::ZERO)
    }

    /// Hopping windows: a new window starts every `advance` (`TimeWindows.advanceBy`), so a
    /// record falls in `size / advance` windows (rounded up).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::TimeWindows;
    ///
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// assert!(w.advance_by(Duration::from_millis(5)).is_ok());
    /// assert!(w.advance_by(Duration::from_millis(11)).is_err());
    /// ```
    ///
    /// # Errors
    /// [`WindowError::AdvanceOutOfRange`] unless `0 < advance <= size` (in milliseconds).
    pub fn advance_by(self, advance: Duration) -> Result<Self, WindowError> {
        let advance_ms = millis(advance)?;
        if advance_ms == 0 || advance_ms > self.size {
            return Err(WindowError::AdvanceOutOfRange {
                advance,
                size: self.size(),
            });
        }
        Ok(TimeWindows {
            advance: advance_ms,
            ..self
        })
    }

    /// The window size.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir::window::TimeWindows;
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// assert_eq!(w.size(), Duration::from_millis(10));
    /// ```
    pub fn size(&self) -> Duration {
        as_duration(self.size)
    }

    /// The grace period.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir::window::TimeWindows;
    /// let w = TimeWindows::of_size_with_grace(Duration::from_millis(10), Duration::from_millis(3));
    /// assert_eq!(w.unwrap().grace(), Duration::from_millis(3));
    /// ```
    pub fn grace(&self) -> Duration {
        as_duration(self.grace)
    }

    /// The starts of the windows holding `ts` (`ts >= 0`), ascending.
    pub(crate) fn starts(&self, ts: i64) -> impl Iterator<Item = i64> {
        let first = (ts.saturating_sub(self.size).saturating_add(self.advance)).max(0)
            / self.advance
            * self.advance;
        let advance = self.advance;
        std::iter::successors(Some(first), move |s| s.checked_add(advance))
            .take_while(move |s| *s <= ts)
    }
}

pub(crate) fn as_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

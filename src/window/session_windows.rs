//! `SessionWindows`.

use std::time::Duration;

use super::error::{millis, WindowError};
use super::time_windows::as_duration;

/// Sessions of activity per key separated by an inactivity gap (Kafka Streams'
/// `SessionWindows`).
///
/// A record at `t` opens the session `[t, t]`, or joins every session of its key that ends at
/// or after `t - gap` and starts at or before `t + gap`, merging them into one. Session bounds
/// are inclusive: `start` is the first record's timestamp and `end` the last's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap: i64,
    pub(crate) grace: i64,
}

impl SessionWindows {
    /// Sessions closing `gap` of inactivity after their last record, accepting records up to
    /// `grace` behind stream time past that (`SessionWindows.ofInactivityGapAndGrace`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::{SessionWindows, WindowError};
    ///
    /// let s = SessionWindows::of_inactivity_gap_with_grace(Duration::from_secs(30), Duration::ZERO);
    /// assert!(s.is_ok());
    /// let zero = SessionWindows::of_inactivity_gap_with_grace(Duration::ZERO, Duration::ZERO);
    /// assert_eq!(zero, Err(WindowError::ZeroSize));
    /// ```
    ///
    /// # Errors
    /// [`WindowError::ZeroSize`] for a gap under one millisecond; [`WindowError::TooLarge`] for
    /// durations beyond `i64` milliseconds.
    pub fn of_inactivity_gap_with_grace(
        gap: Duration,
        grace: Duration,
    ) -> Result<Self, WindowError> {
        let gap_ms = millis(gap)?;
        if gap_ms == 0 {
            return Err(WindowError::ZeroSize);
        }
        Ok(SessionWindows {
            gap: gap_ms,
            grace: millis(grace)?,
        })
    }

    /// Sessions with no grace (`SessionWindows.ofInactivityGapWithNoGrace`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::SessionWindows;
    ///
    /// let s = SessionWindows::of_inactivity_gap_no_grace(Duration::from_millis(5)).unwrap();
    /// assert_eq!(s.inactivity_gap(), Duration::from_millis(5));
    /// ```
    ///
    /// # Errors
    /// As [`of_inactivity_gap_with_grace`](SessionWindows::of_inactivity_gap_with_grace).
    pub fn of_inactivity_gap_no_grace(gap: Duration) -> Result<Self, WindowError> {
        Self::of_inactivity_gap_with_grace(gap, Duration::ZERO)
    }

    /// The inactivity gap.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir::window::SessionWindows;
    /// let s = SessionWindows::of_inactivity_gap_no_grace(Duration::from_millis(5)).unwrap();
    /// assert_eq!(s.inactivity_gap(), Duration::from_millis(5));
    /// ```
    pub fn inactivity_gap(&self) -> Duration {
        as_duration(self.gap)
    }

    /// The grace period.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir::window::SessionWindows;
    /// let s = SessionWindows::of_inactivity_gap_with_grace(Duration::from_millis(5), Duration::from_millis(2));
    /// assert_eq!(s.unwrap().grace(), Duration::from_millis(2));
    /// ```
    pub fn grace(&self) -> Duration {
        as_duration(self.grace)
    }
}

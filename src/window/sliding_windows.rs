//! `SlidingWindows`.

use std::time::Duration;

use super::error::{millis, WindowError};
use super::time_windows::as_duration;

/// Windows of a fixed time difference that slide with the records (Kafka Streams'
/// `SlidingWindows`).
///
/// Each window `[start, start + difference]` is inclusive at both ends. A record at `t` has a
/// left window `[t - difference, t]` and, when later records fall within `difference` after
/// it, a right window `[t + 1, t + 1 + difference]`; only windows that hold records exist, so
/// there is one per distinct set of records that fit in `difference`. Records before
/// `difference` share the window `[0, difference]`, as windows never start before 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference: i64,
    pub(crate) grace: i64,
}

impl SlidingWindows {
    /// Sliding windows of `difference`, accepting records up to `grace` behind stream time past
    /// a window's end (`SlidingWindows.ofTimeDifferenceAndGrace`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::{SlidingWindows, WindowError};
    ///
    /// let w = SlidingWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(1));
    /// assert!(w.is_ok());
    /// let zero = SlidingWindows::of_time_difference_and_grace(Duration::ZERO, Duration::ZERO);
    /// assert_eq!(zero, Err(WindowError::ZeroSize));
    /// ```
    ///
    /// # Errors
    /// [`WindowError::ZeroSize`] for a difference under one millisecond;
    /// [`WindowError::TooLarge`] for durations beyond `i64` milliseconds.
    pub fn of_time_difference_and_grace(
        difference: Duration,
        grace: Duration,
    ) -> Result<Self, WindowError> {
        let difference_ms = millis(difference)?;
        if difference_ms == 0 {
            return Err(WindowError::ZeroSize);
        }
        Ok(SlidingWindows {
            difference: difference_ms,
            grace: millis(grace)?,
        })
    }

    /// Sliding windows with no grace (`SlidingWindows.ofTimeDifferenceWithNoGrace`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::window::SlidingWindows;
    ///
    /// let w = SlidingWindows::of_time_difference_no_grace(Duration::from_millis(5)).unwrap();
    /// assert_eq!(w.grace(), Duration::ZERO);
    /// ```
    ///
    /// # Errors
    /// As [`of_time_difference_and_grace`](SlidingWindows::of_time_difference_and_grace).
    pub fn of_time_difference_no_grace(difference: Duration) -> Result<Self, WindowError> {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// The time difference (the window size).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir::window::SlidingWindows;
    /// let w = SlidingWindows::of_time_difference_no_grace(Duration::from_millis(5)).unwrap();
    /// assert_eq!(w.time_difference(), Duration::from_millis(5));
    /// ```
    pub fn time_difference(&self) -> Duration {
        as_duration(self.difference)
    }

    /// The grace period.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir::window::SlidingWindows;
    /// let w = SlidingWindows::of_time_difference_and_grace(Duration::from_millis(5), Duration::from_millis(2));
    /// assert_eq!(w.unwrap().grace(), Duration::from_millis(2));
    /// ```
    pub fn grace(&self) -> Duration {
        as_duration(self.grace)
    }
}

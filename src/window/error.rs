//! `WindowError`.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// A window specification that cannot be built (Kafka Streams' `IllegalArgumentException`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowError {
    /// A window size (or session gap, or sliding time difference) of zero.
    ZeroSize,
    /// `advance_by` with an advance of zero or larger than the window size.
    AdvanceOutOfRange {
        /// The advance asked for.
        advance: Duration,
        /// The window size.
        size: Duration,
    },
    /// A duration that does not fit in `i64` milliseconds.
    TooLarge(Duration),
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::ZeroSize => f.write_str("window size must be at least one millisecond"),
            WindowError::AdvanceOutOfRange { advance, size } => write!(
                f,
                "window advance {advance:?} must be positive and at most the size {size:?}"
            ),
            WindowError::TooLarge(d) => write!(f, "duration {d:?} exceeds i64 milliseconds"),
        }
    }
}

impl Error for WindowError {}

/// Whole milliseconds of `d`, as the event-time arithmetic uses them.
pub(crate) fn millis(d: Duration) -> Result<i64, WindowError> {
    i64::try_from(d.as_millis()).map_err(|_| WindowError::TooLarge(d))
}

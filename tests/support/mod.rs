//! Shared test helpers.

#[cfg(feature = "kafka")]
pub mod kafka;

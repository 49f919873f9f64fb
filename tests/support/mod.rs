//! Shared test helpers.

#[cfg(feature = "kafka")]
pub mod kafka;

#[cfg(feature = "kafka")]
pub mod tansu;

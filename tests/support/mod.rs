//! Shared test helpers.

#![allow(dead_code)]

#[cfg(feature = "kafka")]
pub mod apache_kafka;
#[cfg(feature = "kafka")]
pub mod kafka;

pub mod checker;
pub mod observed;

use std::fmt;
use std::time::Duration;

use weir::StreamError;

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A current-thread runtime with paused time, for one property-test case: deterministic, and
/// no real time passes.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// Lets every runnable island run until the runtime is idle (time is paused, so this returns
/// as soon as nothing else can run).
pub async fn settle() {
    tokio::time::sleep(ms(1)).await;
}

/// A test failure cause.
#[derive(Debug)]
pub struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// Whether `e` carries a [`Boom`].
pub fn is_boom(e: &StreamError) -> bool {
    e.downcast_ref::<Boom>().is_some()
}

/// Waits, in real time (Kafka clients run on their own threads), until `f` holds; panics after
/// a minute.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

//! Reactive streams with demand-driven back pressure, in the style of Akka Streams.
//!
//! Build immutable, reusable blueprints — [`Source`], [`Flow`], [`Sink`] — compose them with
//! `via` and `to` into a [`RunnableGraph`], and run it: weir spawns the stream onto the current
//! tokio runtime and hands back the materialized value you picked with [`Keep`].
//!
//! ```
//! use weir::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let evens = Flow::<u64>::new().filter(|x| x % 2 == 0);
//! let sum = Source::range(1, 100).via(evens).run_fold(0, |acc, x| acc + x);
//! assert_eq!(sum.await.unwrap(), 2550);
//! # }
//! ```
//!
//! Linear chains fuse into one task that moves elements in demand-bounded batches; an explicit
//! [`async_boundary`](Source::async_boundary) splits a stream into islands joined by a bounded
//! buffer. See the README for the execution model and how weir differs from Akka.

#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod attributes;
mod bidi;
mod boundary;
pub mod builder;
mod context;
pub mod custom;
pub mod diagnostics;
mod dsl;
mod error;
mod flow;
mod graph;
pub mod hub;
pub mod junctions;
#[cfg(feature = "kafka")]
pub mod kafka;
mod keep;
mod kill_switch;
mod materializer;
mod ops;
mod restart;
pub mod scoring;
mod sink;
mod source;
pub mod stage;
mod sub_flow;
pub mod supervision;
mod sync;
pub mod testkit;
pub mod window;

pub use attributes::{Attributes, LogLevels, DEFAULT_INPUT_BUFFER};
pub use bidi::BidiFlow;
pub use context::{Context, ContextOps, FlowWithContext, SourceWithContext};
pub use dsl::{PrefixWithTail, StreamOps};
pub use error::StreamError;
pub use flow::Flow;
pub use graph::RunnableGraph;
pub use hub::{BroadcastHub, MergeHub, PartitionHub};
pub use keep::Keep;
pub use kill_switch::{KillSwitch, KillSwitches, SharedKillSwitch, UniqueKillSwitch};
pub use materializer::{Completion, Materializer};
pub use ops::{
    DelayOverflowStrategy, FlowMonitor, FlowMonitorState, OverflowStrategy, ThrottleMode,
};
pub use restart::{RestartFlow, RestartSettings, RestartSink, RestartSource, RetryFlow};
pub use sink::{Sink, SinkQueue};
pub use source::{
    Cancellable, MaybeHandle, QueueClosedError, QueueOfferResult, Source, SourceQueue, SourceStream,
};
pub use sub_flow::SubFlow;
pub use supervision::{Decider, Directive};

/// The materialized value of blueprints that have nothing to give (Akka's `NotUsed`).
pub type NotUsed = ();

/// Everything needed to build and run streams.
pub mod prelude {
    pub use crate::{
        ContextOps, Flow, FlowWithContext, Keep, NotUsed, RunnableGraph, Sink, Source,
        SourceWithContext, StreamError, StreamOps,
    };
}

//! `Control` and `DrainingControl`: stopping and shutting down a consumer source.

use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;

use super::consumer::ConsumerHandle;
use super::message::TopicPartition;
use crate::{Completion, StreamError};

/// The materialized value of consumer sources (Alpakka's `Consumer.Control`).
#[derive(Clone)]
pub struct Control {
    pub(crate) handle: Arc<ConsumerHandle>,
}

/// A snapshot of a consumer's counters (Alpakka's `Control.metrics`).
///
/// `lag` and `statistics` come from librdkafka's statistics, which it emits every
/// `statistics.interval.ms` ([`ConsumerSettings::with_statistics_interval`]); without that
/// setting they are empty.
///
/// [`ConsumerSettings::with_statistics_interval`]: super::ConsumerSettings::with_statistics_interval
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMetrics {
    /// Records received from the brokers.
    pub records_in: u64,
    /// Records buffered, waiting for demand.
    pub buffered: usize,
    /// Partitions currently assigned.
    pub assigned: Vec<TopicPartition>,
    /// Consumer-group lag per assigned partition: the partition's end (its high watermark, or
    /// its last stable offset under `read_committed`) minus the group's committed offset, as of
    /// the latest statistics; partitions without a committed offset yet are left out.
    pub lag: Vec<(TopicPartition, i64)>,
    /// The latest statistics document, JSON as librdkafka writes it (its `STATISTICS.md`
    /// describes the fields: per-broker round-trip times, queue depths, per-partition offsets).
    pub statistics: Option<Arc<str>>,
    /// Partitions paused because the stream has not read its full buffer for a while; they
    /// are resumed once it drains to half (weir's own; Alpakka does not report it).
    pub paused: Vec<TopicPartition>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Control {
    /// Stops emitting records and completes the source; the consumer stays alive so offsets
    /// already emitted can still be committed (until they are, or `stop_timeout` passes).
    pub fn stop(&self) {
        let mut st = self.handle.lock();
        st.stopped = true;
        st.wake_all();
        self.handle.drained.notify_all();
    }

    /// Shuts the consumer down and waits until it is closed.
    pub async fn shutdown(&self) {
        self.handle.request_shutdown();
        self.is_shutdown().await;
    }

    /// Resolves once the consumer is closed.
    pub fn is_shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let handle = self.handle.clone();
        poll_fn(move |cx| {
            let mut st = handle.lock();
            if st.is_shut_down {
                Poll::Ready(())
            } else {
                if !st.shutdown_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    st.shutdown_waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
    }

    /// Stops the source, waits for the stream to finish (committing what it processed), then
    /// shuts the consumer down; returns the stream's result (Alpakka's `drainAndShutdown`).
    pub async fn drain_and_shutdown<T, F>(&self, stream_completion: F) -> Result<T, StreamError>
    where
        F: Future<Output = Result<T, StreamError>>,
    {
        self.stop();
        let result = stream_completion.await;
        self.shutdown().await;
        result
    }

    /// The consumer's counters.
    pub fn metrics(&self) -> ConsumerMetrics {
        let st = self.handle.lock();
        ConsumerMetrics {
            records_in: st.records_in,
            buffered: st.buffered(),
            assigned: st.assigned.clone(),
            lag: st.lag.clone(),
            statistics: st.statistics.clone(),
            paused: st.paused.clone(),
        }
    }
}

/// A [`Control`] together with the stream's completion (Alpakka's `DrainingControl`).
///
/// Build it from `to_mat(sink, Keep::both)` with [`DrainingControl::new`].
#[derive(Debug)]
pub struct DrainingControl<T> {
    control: Control,
    completion: Completion<T>,
}

impl<T> DrainingControl<T> {
    /// Combines a control and the stream's completion; use as
    /// `.to_mat(sink, Keep::both).map_materialized_value(DrainingControl::from_pair)`.
    pub fn new(control: Control, completion: Completion<T>) -> Self {
        DrainingControl {
            control,
            completion,
        }
    }

    /// [`new`](DrainingControl::new) from a pair.
    pub fn from_pair((control, completion): (Control, Completion<T>)) -> Self {
        DrainingControl::new(control, completion)
    }

    /// The control.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops, drains, shuts down; returns the stream's result.
    pub async fn drain_and_shutdown(self) -> Result<T, StreamError> {
        self.control.drain_and_shutdown(self.completion).await
    }
}

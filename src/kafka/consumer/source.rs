//! The consumer source stages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::TopicPartitionList;

use super::thread::{self, Ctx};
use super::{ConsumerHandle, PartitionAssignmentHandler, State, Subscription};
use crate::kafka::control::Control;
use crate::kafka::error::KafkaError;
use crate::kafka::message::{
    CommittableMessage, CommittableOffset, ConsumerRecord, TopicPartition,
};
use crate::kafka::settings::ConsumerSettings;
use crate::source::FailedPull;
use crate::stage::{BoxPull, Pull, Step};
use crate::{Source, StreamError, StreamOps};

/// Consumer sources (Alpakka's `Consumer`). Each materializes a [`Control`].
#[derive(Debug)]
pub struct Consumer;

fn create(
    settings: &ConsumerSettings,
    subscription: &Subscription,
    assignment: Option<Arc<dyn PartitionAssignmentHandler>>,
    partitioned: bool,
    tracked: bool,
    offsets_on_assign: Option<super::thread::OffsetsOnAssign>,
) -> Result<Arc<ConsumerHandle>, KafkaError> {
    let config = client_config(settings, tracked);
    let ctx = Ctx {
        handle: OnceLock::new(),
        assignment,
        offsets_on_assign,
        brokers_down_since: Mutex::new(None),
    };
    let consumer: BaseConsumer<Ctx> = config
        .create_with_context(ctx)
        .map_err(|e| KafkaError::from_client("create consumer", &e))?;
    match subscription {
        Subscription::Topics(topics) => {
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&topics)
        }
        Subscription::Pattern(p) => consumer.subscribe(&[p.as_str()]),
        Subscription::Assignment(tps) => {
            let mut tpl = TopicPartitionList::new();
            for tp in tps {
                tpl.add_partition(&tp.topic, tp.partition);
            }
            consumer.assign(&tpl)
        }
        Subscription::AssignmentWithOffsets(tps) => {
            let mut tpl = TopicPartitionList::new();
            for (tp, o) in tps {
                tpl.add_partition_offset(&tp.topic, tp.partition, rdkafka::Offset::Offset(*o))
                    .map_err(|e| KafkaError::from_client("assign", &e))?;
            }
            consumer.assign(&tpl)
        }
        // Looked up on the consumer thread: the lookup is a broker round trip.
        Subscription::AssignmentOffsetsForTimes(_) => Ok(()),
    }
    .map_err(|e| KafkaError::from_client("subscribe", &e))?;
    let assigned = match subscription {
        Subscription::Assignment(tps) => tps.clone(),
        Subscription::AssignmentWithOffsets(tps) | Subscription::AssignmentOffsetsForTimes(tps) => {
            tps.iter().map(|(tp, _)| tp.clone()).collect()
        }
        _ => Vec::new(),
    };
    let announced = assigned.clone();
    let handle = Arc::new(ConsumerHandle {
        state: Mutex::new(State {
            queue: Default::default(),
            terminal: None,
            waker: None,
            stopped: false,
            shutdown: false,
            is_shut_down: false,
            shutdown_waiters: Vec::new(),
            tracks: HashMap::new(),
            assigned,
            records_in: 0,
            statistics: None,
            lag: Vec::new(),
            paused: Vec::new(),
            thread_waiting: false,
            in_transaction: None,
            partitioned: partitioned.then(|| {
                // Manual assignments get no rebalance callback: announce them now.
                let mut p = super::Partitioned::default();
                for tp in &announced {
                    p.next_id += 1;
                    let part = super::Part {
                        id: p.next_id,
                        ..Default::default()
                    };
                    p.parts.insert(tp.clone(), part);
                    p.announced.push_back(tp.clone());
                }
                p
            }),
        }),
        consumer: Mutex::new(Some(Arc::new(consumer))),
        buffer_size: settings.buffer_size.max(1),
        drained: std::sync::Condvar::new(),
        commit_lock: Mutex::new(()),
    });
    if let Some(c) = handle.client() {
        let _ = c.context().handle.set(Arc::downgrade(&handle));
    }
    let h = handle.clone();
    let s = settings.clone();
    let times = match subscription {
        Subscription::AssignmentOffsetsForTimes(times) => Some(times.clone()),
        _ => None,
    };
    std::thread::Builder::new()
        .name("weir-kafka-consumer".into())
        .spawn(move || {
            if let Some(times) = times {
                if let Err(e) = assign_from_times(&h, &times, s.offset_for_times_timeout) {
                    h.fail(StreamError::failed(e));
                    h.request_shutdown();
                }
            }
            thread::run(h, s)
        })
        .map_err(|e| KafkaError::new("start consumer thread", e.to_string()))?;
    Ok(handle)
}

/// Assigns each partition from the first offset at or after its time, or from its end.
fn assign_from_times(
    handle: &ConsumerHandle,
    times: &[(TopicPartition, i64)],
    timeout: std::time::Duration,
) -> Result<(), KafkaError> {
    let consumer = handle
        .client()
        .ok_or_else(|| KafkaError::new("assign", "the consumer is shut down"))?;
    let mut tpl = TopicPartitionList::new();
    for (tp, offset) in crate::kafka::metadata::offsets_for_times(&consumer, times, timeout)? {
        let offset = offset.map_or(rdkafka::Offset::End, rdkafka::Offset::Offset);
        tpl.add_partition_offset(&tp.topic, tp.partition, offset)
            .map_err(|e| KafkaError::from_client("assign", &e))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| KafkaError::from_client("assign", &e))
}

/// librdkafka properties weir sets unless the settings name them.
///
/// `fetch.queue.backoff.ms`: librdkafka prefetches until its queue holds `queued.min.messages`
/// per partition (100 000) or `queued.max.messages.kbytes` (64 MiB), then postpones that
/// partition's next fetch by this long — 1 s by default. A stream that drains the prefetched
/// records faster than that (any stream past a few hundred thousand records) then waits the
/// rest of the second with nothing to read: 1 M records read at 0.15–0.2 M rec/s on Apache
/// Kafka (issue 16). 10 ms keeps the fetcher one step behind the stream; while the stream is
/// back-pressured it only costs a threshold check per partition every 10 ms.
pub(crate) const LIBRDKAFKA_DEFAULTS: &[(&str, &str)] = &[("fetch.queue.backoff.ms", "10")];

/// The librdkafka configuration of a consumer with `settings`.
fn client_config(settings: &ConsumerSettings, tracked: bool) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (k, v) in LIBRDKAFKA_DEFAULTS {
        config.set(*k, *v);
    }
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    // Offsets are weir's to commit (a settings map from serde may lack weir's defaults).
    if tracked || !settings.properties.contains_key("enable.auto.commit") {
        config.set("enable.auto.commit", "false");
    }
    config
}

/// A handle for a consumer that could not be created: already shut down.
fn dead_handle() -> Arc<ConsumerHandle> {
    Arc::new(ConsumerHandle {
        state: Mutex::new(State {
            queue: Default::default(),
            terminal: Some(Step::Complete),
            waker: None,
            stopped: true,
            shutdown: true,
            is_shut_down: true,
            shutdown_waiters: Vec::new(),
            tracks: HashMap::new(),
            assigned: Vec::new(),
            records_in: 0,
            statistics: None,
            lag: Vec::new(),
            paused: Vec::new(),
            thread_waiting: false,
            partitioned: None,
            in_transaction: None,
        }),
        consumer: Mutex::new(None),
        buffer_size: 1,
        drained: std::sync::Condvar::new(),
        commit_lock: Mutex::new(()),
    })
}

/// Emits buffered records; with `COMMITTABLE`, registers each emitted offset for tracking.
struct ConsumerStage<T, const COMMITTABLE: bool> {
    handle: Arc<ConsumerHandle>,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
    /// Keep the consumer (until `stop_timeout`) when the stage goes: offsets may still be
    /// committed through it.
    keep_on_drop: bool,
}

impl<T: Send + 'static, const COMMITTABLE: bool> Pull<T> for ConsumerStage<T, COMMITTABLE> {
    /// The consumer's failure (unreachable brokers, a fatal error) reaches a stream that is not
    /// pulling, ahead of buffered records, as Alpakka's source fails.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut st = self.handle.lock();
        match &st.terminal {
            Some(Step::Failed(e)) => Poll::Ready(e.clone()),
            _ => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut guard = self.handle.lock();
        let st = &mut *guard;
        if st.stopped || (st.terminal.is_some() && st.queue.is_empty()) {
            return Poll::Ready(st.terminal.take().unwrap_or(Step::Complete));
        }
        let n = max.min(st.queue.len());
        if n == 0 {
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if COMMITTABLE {
            // Records come in runs of one partition: one track lookup per run.
            let mut start = 0;
            while start < n {
                let first = &st.queue[start];
                let (topic, partition) = (first.topic.as_str(), first.partition);
                let end = (start + 1..n)
                    .find(|&i| st.queue[i].partition != partition || st.queue[i].topic != topic)
                    .unwrap_or(n);
                let track = st
                    .tracks
                    .entry(TopicPartition::new(topic, partition))
                    .or_default();
                for r in st.queue.range(start..end) {
                    if let Err(e) = track.emit(r.offset) {
                        return Poll::Ready(Step::Failed(e));
                    }
                }
                start = end;
            }
        }
        if let Some(open) = st.in_transaction.as_mut() {
            for r in st.queue.range(..n) {
                open.insert(r.topic_partition(), r.offset + 1);
            }
        }
        // Moved straight from the shared buffer into the batch: the lock is held for a copy of
        // `n` records, and the thread is woken only when it waits for room (a condvar notify is
        // a system call even without a waiter).
        out.extend(st.queue.drain(..n).map(|r| (self.wrap)(r, &self.handle)));
        if st.thread_waiting && st.queue.len() <= self.handle.buffer_size / 2 {
            self.handle.drained.notify_one();
        }
        Poll::Ready(Step::Open)
    }
}

impl<T, const COMMITTABLE: bool> Drop for ConsumerStage<T, COMMITTABLE> {
    fn drop(&mut self) {
        // The stream no longer reads: stop. Without offsets awaiting commit, the thread then
        // closes the consumer at once; otherwise once they are committed or stop_timeout passes.
        let mut st = self.handle.lock();
        st.stopped = true;
        if !self.keep_on_drop {
            st.shutdown = true;
        }
        self.handle.drained.notify_all();
    }
}

fn source<T: Send + 'static, const COMMITTABLE: bool>(
    settings: ConsumerSettings,
    subscription: Subscription,
    assignment: Option<Arc<dyn PartitionAssignmentHandler>>,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
    transactional: bool,
) -> Source<T, Control> {
    Source::from_fn(move |_, _| {
        match create(
            &settings,
            &subscription,
            assignment.clone(),
            false,
            COMMITTABLE || transactional,
            None,
        ) {
            Ok(handle) => {
                if transactional {
                    handle.lock().in_transaction = Some(HashMap::new());
                }
                let stage = ConsumerStage::<T, COMMITTABLE> {
                    handle: handle.clone(),
                    wrap,
                    keep_on_drop: COMMITTABLE || transactional,
                };
                (Box::new(stage) as BoxPull<T>, Control { handle })
            }
            Err(e) => (
                Box::new(FailedPull(Some(StreamError::failed(e)))) as BoxPull<T>,
                Control {
                    handle: dead_handle(),
                },
            ),
        }
    })
}

impl Consumer {
    /// Records without offsets to commit (Alpakka's `plainSource`): for offsets kept outside
    /// Kafka, or auto-commit.
    pub fn plain_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<ConsumerRecord, Control> {
        source::<_, false>(settings, subscription, None, |r, _| r, false)
    }

    /// Records with a [`CommittableOffset`] to pass to the [`Committer`](crate::kafka::Committer)
    /// once processed (Alpakka's `committableSource`): at-least-once delivery.
    ///
    /// Commits advance only over offsets that reached the committer in a contiguous run, so
    /// reordering (`map_async_unordered`) never commits past an unprocessed record. Pass the
    /// offset of every record to the committer, including records the stream drops.
    pub fn committable_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<CommittableMessage, Control> {
        source::<_, true>(settings, subscription, None, committable, false)
    }

    /// Like [`committable_source`](Consumer::committable_source), calling `handler` around
    /// rebalances on the consumer thread.
    pub fn committable_source_with_handler(
        settings: ConsumerSettings,
        subscription: Subscription,
        handler: Arc<dyn PartitionAssignmentHandler>,
    ) -> Source<CommittableMessage, Control> {
        source::<_, true>(settings, subscription, Some(handler), committable, false)
    }

    /// [`committable_source`](Consumer::committable_source) whose offsets carry a metadata
    /// string, `metadata(&record)`, stored with their commit (Alpakka's
    /// `commitWithMetadataSource`). A commit covers a contiguous run of records and stores the
    /// metadata of its last one; read it back with
    /// [`MetadataClient::get_committed_offsets`](crate::kafka::MetadataClient::get_committed_offsets).
    ///
    /// `metadata` runs in the stream, once per record, outside the consumer's lock.
    pub fn commit_with_metadata_source<F>(
        settings: ConsumerSettings,
        subscription: Subscription,
        metadata: F,
    ) -> Source<CommittableMessage, Control>
    where
        F: Fn(&ConsumerRecord) -> String + Send + Sync + 'static,
    {
        let metadata = Arc::new(metadata);
        Consumer::committable_source(settings, subscription).map(
            move |mut m: CommittableMessage| {
                m.offset.metadata = Some(metadata(&m.record).into());
                m
            },
        )
    }

    /// Records with their committable offset as a context (Alpakka's `sourceWithOffsetContext`),
    /// for [`Producer::flow_with_context`](crate::kafka::Producer::flow_with_context) and
    /// [`Committer::sink_with_offset_context`](crate::kafka::Committer::sink_with_offset_context).
    /// A record that `filter`, `filter_map` or an empty `map_concat` drops still has its offset
    /// committed (see [`Context`](crate::Context) for `CommittableOffset`).
    ///
    /// ```no_run
    /// use weir::prelude::*;
    /// use weir::kafka::*;
    /// # #[tokio::main] async fn main() {
    /// let (control, done) = Consumer::source_with_offset_context(
    ///     ConsumerSettings::new("localhost:9092", "group"),
    ///     Subscription::topics(["in"]),
    /// )
    /// .filter(|record| record.value_str().is_some_and(|v| v.starts_with("order")))
    /// .map(|record| Envelope::Message(ProducerRecord::new("out", record.value.unwrap()), ()))
    /// .via(Producer::flow_with_context(ProducerSettings::new("localhost:9092")))
    /// .to_mat(Committer::sink_with_offset_context(CommitterSettings::default()), Keep::both)
    /// .run();
    /// # let _ = (control, done);
    /// # }
    /// ```
    pub fn source_with_offset_context(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> crate::SourceWithContext<ConsumerRecord, CommittableOffset, Control> {
        crate::SourceWithContext::from_tuples(
            Consumer::committable_source(settings, subscription)
                .map(|m: CommittableMessage| (m.record, m.offset)),
        )
    }

    /// Records whose offset is committed before they are emitted (Alpakka's
    /// `atMostOnceSource`): a record is never emitted unless its offset was committed, so
    /// none is processed twice, but a crash loses the records being processed.
    pub fn at_most_once_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<ConsumerRecord, Control> {
        let committed = Consumer::committable_source(settings, subscription).map_async(
            1,
            |m: CommittableMessage| async move {
                let offset = m.offset.clone();
                match tokio::task::spawn_blocking(move || commit_one(&offset)).await {
                    Ok(Ok(())) => Ok(m.record),
                    Ok(Err(e)) => Err(StreamError::failed(e)),
                    Err(_) => Err(StreamError::failed(KafkaError::new(
                        "commit",
                        "commit task was cancelled",
                    ))),
                }
            },
        );
        crate::dsl::try_unwrap(committed)
    }
}

/// One partition's substream of a partitioned source.
struct PartStage<T, const COMMITTABLE: bool> {
    handle: Arc<ConsumerHandle>,
    tp: TopicPartition,
    id: u64,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
}

impl<T: Send + 'static, const COMMITTABLE: bool> Pull<T> for PartStage<T, COMMITTABLE> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut st = self.handle.lock();
        if let Some(Step::Failed(e)) = &st.terminal {
            return Poll::Ready(Step::Failed(e.clone()));
        }
        let stopped = st.stopped;
        let part = st
            .partitioned
            .as_mut()
            .and_then(|p| p.parts.get_mut(&self.tp))
            .filter(|part| part.id == self.id);
        // Revoked (its buffer went with it), or the source stopped: the substream completes.
        let Some(part) = part else {
            return Poll::Ready(Step::Complete);
        };
        if stopped || part.closed {
            return Poll::Ready(Step::Complete);
        }
        let n = max.min(part.queue.len());
        if n == 0 {
            part.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let records: Vec<ConsumerRecord> = part.queue.drain(..n).collect();
        if COMMITTABLE {
            let track = st.tracks.entry(self.tp.clone()).or_default();
            for r in &records {
                if let Err(e) = track.emit(r.offset) {
                    return Poll::Ready(Step::Failed(e));
                }
            }
        }
        if let (Some(open), Some(last)) = (st.in_transaction.as_mut(), records.last()) {
            open.insert(self.tp.clone(), last.offset + 1);
        }
        drop(st);
        out.extend(records.into_iter().map(|r| (self.wrap)(r, &self.handle)));
        Poll::Ready(Step::Open)
    }
}

/// Emits a substream for each newly assigned partition.
struct PartitionedStage<T, const COMMITTABLE: bool> {
    handle: Arc<ConsumerHandle>,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
}

impl<T: Send + 'static, const COMMITTABLE: bool> Pull<(TopicPartition, Source<T>)>
    for PartitionedStage<T, COMMITTABLE>
{
    fn pull(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<(TopicPartition, Source<T>)>,
        max: usize,
    ) -> Poll<Step> {
        let mut st = self.handle.lock();
        if st.stopped || st.terminal.is_some() {
            return Poll::Ready(st.terminal.take().unwrap_or(Step::Complete));
        }
        let Some(p) = st.partitioned.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        let mut emitted = 0;
        while emitted < max {
            let Some(tp) = p.announced.pop_front() else {
                break;
            };
            let Some(id) = p.parts.get(&tp).map(|part| part.id) else {
                continue;
            };
            // A substream can be materialized once: it reads the partition's one buffer.
            let slot = Arc::new(Mutex::new(Some(PartStage::<T, COMMITTABLE> {
                handle: self.handle.clone(),
                tp: tp.clone(),
                id,
                wrap: self.wrap,
            })));
            let source = Source::from_fn(move |_, _| {
                match slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    Some(stage) => (Box::new(stage) as BoxPull<T>, ()),
                    None => (
                        Box::new(FailedPull(Some(StreamError::AlreadyMaterialized {
                            stage: "partition substream",
                        }))) as BoxPull<T>,
                        (),
                    ),
                }
            });
            out.push((tp, source));
            emitted += 1;
        }
        if emitted > 0 {
            Poll::Ready(Step::Open)
        } else {
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl<T, const COMMITTABLE: bool> Drop for PartitionedStage<T, COMMITTABLE> {
    fn drop(&mut self) {
        let mut st = self.handle.lock();
        st.stopped = true;
        if !COMMITTABLE {
            st.shutdown = true;
        }
        if let Some(p) = st.partitioned.as_mut() {
            for part in p.parts.values_mut() {
                if let Some(w) = part.waker.take() {
                    w.wake();
                }
            }
        }
        self.handle.drained.notify_all();
    }
}

fn partitioned_source<T: Send + 'static, const COMMITTABLE: bool>(
    settings: ConsumerSettings,
    subscription: Subscription,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
    assignment: Option<Arc<dyn PartitionAssignmentHandler>>,
    offsets_on_assign: Option<super::thread::OffsetsOnAssign>,
    transactional: bool,
) -> Source<(TopicPartition, Source<T>), Control> {
    Source::from_fn(move |_, _| {
        match create(
            &settings,
            &subscription,
            assignment.clone(),
            true,
            COMMITTABLE,
            offsets_on_assign.clone(),
        ) {
            Ok(handle) => {
                if transactional {
                    handle.lock().in_transaction = Some(HashMap::new());
                }
                let stage = PartitionedStage::<T, COMMITTABLE> {
                    handle: handle.clone(),
                    wrap,
                };
                (
                    Box::new(stage) as BoxPull<(TopicPartition, Source<T>)>,
                    Control { handle },
                )
            }
            Err(e) => (
                Box::new(FailedPull(Some(StreamError::failed(e))))
                    as BoxPull<(TopicPartition, Source<T>)>,
                Control {
                    handle: dead_handle(),
                },
            ),
        }
    })
}

impl Consumer {
    /// A source of per-partition substreams (Alpakka's `plainPartitionedSource`): each assigned
    /// partition is emitted with a source of its records; the substream completes when the
    /// partition is revoked. Each partition has its own buffer of `buffer_size` records and is
    /// paused alone while its buffer is full, so one slow substream does not hold up the others.
    ///
    /// Each substream can be materialized once. With manual assignment there is no rebalance, so
    /// the partitions are emitted once when the consumer starts.
    pub fn plain_partitioned_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<(TopicPartition, Source<ConsumerRecord>), Control> {
        partitioned_source::<_, false>(settings, subscription, |r, _| r, None, None, false)
    }

    /// [`plain_partitioned_source`](Consumer::plain_partitioned_source) for offsets kept outside
    /// Kafka (Alpakka's `plainPartitionedManualOffsetSource`): on each assignment,
    /// `offsets_on_assign` (run on the consumer thread, so it may block briefly) gives the
    /// offset to start each partition from (partitions it leaves out start from the committed
    /// offset), and `on_revoke` hears of revoked partitions. Needs the eager rebalance protocol
    /// (librdkafka's default assignors).
    pub fn plain_partitioned_manual_offset_source<G, R>(
        settings: ConsumerSettings,
        subscription: Subscription,
        offsets_on_assign: G,
        on_revoke: R,
    ) -> Source<(TopicPartition, Source<ConsumerRecord>), Control>
    where
        G: Fn(&[TopicPartition]) -> std::collections::HashMap<TopicPartition, i64>
            + Send
            + Sync
            + 'static,
        R: Fn(&[TopicPartition]) + Send + Sync + 'static,
    {
        manual_offset_source::<_, false>(
            settings,
            subscription,
            |r, _| r,
            offsets_on_assign,
            on_revoke,
        )
    }

    /// [`plain_partitioned_manual_offset_source`](Consumer::plain_partitioned_manual_offset_source)
    /// with committable offsets (Alpakka's `committablePartitionedManualOffsetSource`): each
    /// assigned partition starts from the offset `offsets_on_assign` gives (or its committed
    /// offset), and offsets passed to the [`Committer`](crate::kafka::Committer) are committed to
    /// the group, also when a partition is revoked. `on_revoke` runs after that commit.
    pub fn committable_partitioned_manual_offset_source<G, R>(
        settings: ConsumerSettings,
        subscription: Subscription,
        offsets_on_assign: G,
        on_revoke: R,
    ) -> Source<(TopicPartition, Source<CommittableMessage>), Control>
    where
        G: Fn(&[TopicPartition]) -> std::collections::HashMap<TopicPartition, i64>
            + Send
            + Sync
            + 'static,
        R: Fn(&[TopicPartition]) + Send + Sync + 'static,
    {
        manual_offset_source::<_, true>(
            settings,
            subscription,
            committable,
            offsets_on_assign,
            on_revoke,
        )
    }

    /// [`plain_partitioned_source`](Consumer::plain_partitioned_source) with committable offsets
    /// (Alpakka's `committablePartitionedSource`).
    pub fn committable_partitioned_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<(TopicPartition, Source<CommittableMessage>), Control> {
        partitioned_source::<_, true>(settings, subscription, committable, None, None, false)
    }
}

/// A partitioned source starting each assigned partition where `offsets_on_assign` says.
fn manual_offset_source<T: Send + 'static, const COMMITTABLE: bool>(
    settings: ConsumerSettings,
    subscription: Subscription,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
    offsets_on_assign: impl Fn(&[TopicPartition]) -> HashMap<TopicPartition, i64>
        + Send
        + Sync
        + 'static,
    on_revoke: impl Fn(&[TopicPartition]) + Send + Sync + 'static,
) -> Source<(TopicPartition, Source<T>), Control> {
    partitioned_source::<_, COMMITTABLE>(
        settings,
        subscription,
        wrap,
        Some(Arc::new(OnRevoke(on_revoke))),
        Some(Arc::new(offsets_on_assign)),
        false,
    )
}

/// The manual-offset sources' revoke callback.
struct OnRevoke<R>(R);

impl<R: Fn(&[TopicPartition]) + Send + Sync + 'static> PartitionAssignmentHandler for OnRevoke<R> {
    fn on_revoke(&self, partitions: &[TopicPartition]) {
        (self.0)(partitions)
    }
}

/// Committable messages whose offsets the consumer neither tracks nor commits: the
/// transactional flow sends them to its transactions instead (a commit on revoke would commit
/// them outside a transaction).
pub(crate) fn transactional_source(
    settings: ConsumerSettings,
    subscription: Subscription,
) -> Source<CommittableMessage, Control> {
    source::<_, false>(settings, subscription, None, committable, true)
}

/// [`transactional_source`] per partition: a substream of untracked committable messages for
/// each assigned partition.
pub(crate) fn transactional_partitioned_source(
    settings: ConsumerSettings,
    subscription: Subscription,
) -> Source<(TopicPartition, Source<CommittableMessage>), Control> {
    partitioned_source::<_, false>(settings, subscription, committable, None, None, true)
}

/// Commits one offset synchronously; `Err` if the commit failed.
fn commit_one(offset: &CommittableOffset) -> Result<(), KafkaError> {
    // This record's own offset, whatever happened to the partition's tracking (a revoke clears
    // it): if the partition moved, the commit fails and the record is not emitted.
    let consumer = &offset.consumer;
    let metadata = offset.metadata.clone();
    consumer.mark_processed(vec![(
        offset.partition.clone(),
        offset.offset,
        metadata.clone(),
    )]);
    consumer.commit_blocking(&[(offset.partition.clone(), offset.offset + 1, metadata)])
}

fn committable(record: ConsumerRecord, handle: &Arc<ConsumerHandle>) -> CommittableMessage {
    let offset = CommittableOffset {
        partition: record.topic_partition(),
        offset: record.offset,
        consumer: handle.clone(),
        metadata: None,
    };
    CommittableMessage { record, offset }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_again_soon_after_the_prefetch_queue_was_full_unless_told_otherwise() {
        let settings = ConsumerSettings::new("127.0.0.1:9", "g");
        let config = client_config(&settings, false);
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("10"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        let own = settings.with_property("fetch.queue.backoff.ms", "250");
        assert_eq!(
            client_config(&own, true).get("fetch.queue.backoff.ms"),
            Some("250")
        );
    }
}

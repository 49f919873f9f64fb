//! Consumer sources.
//!
//! Each source materializes one librdkafka consumer run by a dedicated thread: polls (and so
//! librdkafka's synchronous rebalance callbacks) never block a tokio worker. The thread fills a
//! bounded buffer and pauses the assigned partitions while it is full, so a slow downstream
//! never grows memory beyond `buffer_size` records plus librdkafka's prefetch queue
//! (`queued.max.messages.kbytes`, 64 MiB, overshot by at most one fetch per partition).
//! librdkafka refetches 10 ms after that queue was full instead of 1 s (`fetch.queue.backoff.ms`,
//! see `LIBRDKAFKA_DEFAULTS`): with its default, a long read stalled once a second (issue 16).

mod source;
mod thread;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::TopicPartitionList;

pub use source::Consumer;
pub(crate) use source::{transactional_partitioned_source, transactional_source};
pub(crate) use thread::Ctx;

use super::error::KafkaError;
use super::message::{ConsumerRecord, TopicPartition};
use crate::stage::Step;
use crate::StreamError;

/// What a consumer reads (Alpakka's `Subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Topics, with the consumer group assigning partitions.
    Topics(Vec<String>),
    /// Topics matching a regular expression (librdkafka syntax, starting with `^`).
    Pattern(String),
    /// Fixed partitions, from their committed offsets.
    Assignment(Vec<TopicPartition>),
    /// Fixed partitions, from the given offsets.
    AssignmentWithOffsets(Vec<(TopicPartition, i64)>),
    /// Fixed partitions, each from the first offset whose record timestamp is at or after the
    /// given time (milliseconds since the epoch); a partition with no record that recent starts
    /// at its end.
    AssignmentOffsetsForTimes(Vec<(TopicPartition, i64)>),
}

impl Subscription {
    /// Subscribe to `topics`.
    pub fn topics<I: IntoIterator<Item = S>, S: Into<String>>(topics: I) -> Self {
        Subscription::Topics(topics.into_iter().map(Into::into).collect())
    }

    /// Subscribe to topics matching `pattern`.
    pub fn pattern(pattern: impl Into<String>) -> Self {
        Subscription::Pattern(pattern.into())
    }

    /// Read the given partitions.
    pub fn assignment<I: IntoIterator<Item = TopicPartition>>(partitions: I) -> Self {
        Subscription::Assignment(partitions.into_iter().collect())
    }

    /// Read the given partitions from the given offsets.
    pub fn assignment_with_offsets<I: IntoIterator<Item = (TopicPartition, i64)>>(
        partitions: I,
    ) -> Self {
        Subscription::AssignmentWithOffsets(partitions.into_iter().collect())
    }

    /// Read the given partitions, each from the first record at or after a time in
    /// milliseconds since the epoch (Alpakka's `assignmentOffsetsForTimes`; Kafka's
    /// `offsetsForTimes`).
    ///
    /// The offsets are looked up once, on the consumer's thread when the source starts, within
    /// [`ConsumerSettings::offset_for_times_timeout`](crate::kafka::ConsumerSettings::offset_for_times_timeout);
    /// the source fails if the lookup does (an unknown partition, a negative time, no answer).
    /// A partition whose records are all older starts at its end and reads only new records;
    /// Alpakka leaves such a partition at its committed offset or `auto.offset.reset`.
    pub fn assignment_offsets_for_times<I: IntoIterator<Item = (TopicPartition, i64)>>(
        partitions: I,
    ) -> Self {
        Subscription::AssignmentOffsetsForTimes(partitions.into_iter().collect())
    }
}

/// Called on the consumer thread around rebalances (Alpakka's `PartitionAssignmentHandler`).
/// Handlers may block briefly (they run on the consumer's own thread, not on tokio).
pub trait PartitionAssignmentHandler: Send + Sync + 'static {
    /// Partitions were assigned.
    fn on_assign(&self, _partitions: &[TopicPartition]) {}
    /// Partitions are being revoked; processed offsets of these partitions have just been
    /// committed.
    fn on_revoke(&self, _partitions: &[TopicPartition]) {}
    /// Partitions were lost (the consumer fell out of the group without a clean revoke).
    fn on_lost(&self, _partitions: &[TopicPartition]) {}
    /// The consumer is stopping.
    fn on_stop(&self, _partitions: &[TopicPartition]) {}
}

/// Offsets of one partition between emission and commit.
#[derive(Debug, Default)]
pub(crate) struct Track {
    /// Emitted offsets not yet covered by a commit, in order.
    emitted: VecDeque<i64>,
    /// Offsets handed to the committer, not yet contiguous with the committed prefix.
    processed: BTreeSet<i64>,
    /// Next offset to commit (one past the last offset of the contiguous processed prefix).
    committable: Option<i64>,
    /// Last committed next-offset.
    committed: Option<i64>,
    /// Metadata of processed offsets beyond the contiguous prefix (commit-with-metadata).
    metadata: BTreeMap<i64, Arc<str>>,
    /// The metadata to commit with `committable`: that of the prefix's last record.
    committable_metadata: Option<Arc<str>>,
}

/// A next-offset to commit, with the metadata string to store with it.
pub(crate) type PendingCommit = (TopicPartition, i64, Option<Arc<str>>);

/// The librdkafka list of a commit, metadata included.
pub(crate) fn commit_list(offsets: &[PendingCommit]) -> Result<TopicPartitionList, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (tp, o, metadata) in offsets {
        let mut e = tpl.add_partition(&tp.topic, tp.partition);
        e.set_offset(rdkafka::Offset::Offset(*o))
            .map_err(|e| KafkaError::from_client("commit", &e))?;
        if let Some(m) = metadata {
            e.set_metadata(m.as_ref());
        }
    }
    Ok(tpl)
}

impl Track {
    /// The next-offset to commit, if processing went past the last commit.
    pub(crate) fn pending(&self) -> Option<i64> {
        self.committable
            .filter(|&c| self.committed.is_none_or(|done| c > done))
    }

    /// The metadata to store with [`pending`](Track::pending).
    pub(crate) fn metadata(&self) -> Option<&Arc<str>> {
        self.committable_metadata.as_ref()
    }

    /// Registers an emitted offset; fails once too many never reached the committer.
    pub(crate) fn emit(&mut self, offset: i64) -> Result<(), StreamError> {
        if self.emitted.len() >= MAX_TRACKED {
            return Err(StreamError::failed(KafkaError::new(
                "track offsets",
                "too many emitted offsets never reached the committer; pass the offset of every \
                 record (also dropped ones) to the committer, or filter with \
                 Consumer::source_with_offset_context, which does",
            )));
        }
        self.emitted.push_back(offset);
        Ok(())
    }

    /// Marks `offset` processed and advances the committable point over the contiguous prefix.
    fn process(&mut self, offset: i64, metadata: Option<Arc<str>>) {
        // Offsets before the oldest unprocessed one were processed already (an offset that
        // reached the committer twice, e.g. after a `map_concat`): keeping them would leak.
        if self.emitted.front().is_none_or(|&oldest| offset < oldest) {
            return;
        }
        self.processed.insert(offset);
        if let Some(m) = metadata {
            self.metadata.insert(offset, m);
        }
        while let Some(&front) = self.emitted.front() {
            if !self.processed.remove(&front) {
                break;
            }
            self.emitted.pop_front();
            self.committable = Some(front + 1);
            self.committable_metadata = self.metadata.remove(&front);
        }
    }
}

/// Emitted-but-uncommitted offsets one partition may hold before the source fails: offsets must
/// reach the committer (even for records the stream drops) for commits to advance.
pub(crate) const MAX_TRACKED: usize = 1 << 20;

pub(crate) struct State {
    pub(crate) queue: VecDeque<ConsumerRecord>,
    pub(crate) terminal: Option<Step>,
    pub(crate) waker: Option<Waker>,
    /// `stop()`: stop emitting, keep the consumer for commits.
    pub(crate) stopped: bool,
    /// `shutdown()`: close the consumer.
    pub(crate) shutdown: bool,
    pub(crate) is_shut_down: bool,
    pub(crate) shutdown_waiters: Vec<Waker>,
    pub(crate) tracks: HashMap<TopicPartition, Track>,
    pub(crate) assigned: Vec<TopicPartition>,
    pub(crate) records_in: u64,
    /// The latest librdkafka statistics document (with `statistics.interval.ms` set).
    pub(crate) statistics: Option<Arc<str>>,
    /// Consumer lag per partition, from the latest statistics.
    pub(crate) lag: Vec<(TopicPartition, i64)>,
    /// Partitions the consumer thread has paused because the stream is not reading.
    pub(crate) paused: Vec<TopicPartition>,
    /// The consumer thread waits for the stream to drain its full buffer to half.
    pub(crate) thread_waiting: bool,
    /// For partitioned sources: a buffer and a substream per assigned partition.
    pub(crate) partitioned: Option<Partitioned>,
    /// For transactional sources: per partition, one past the last emitted record whose
    /// transaction is not resolved yet. A revoke waits for these partitions (see
    /// `thread::Ctx::pre_rebalance`).
    pub(crate) in_transaction: Option<HashMap<TopicPartition, i64>>,
}

/// The per-partition state of a partitioned source.
#[derive(Default)]
pub(crate) struct Partitioned {
    pub(crate) parts: HashMap<TopicPartition, Part>,
    /// Newly assigned partitions the outer source has not emitted yet.
    pub(crate) announced: VecDeque<TopicPartition>,
    /// Numbers assignments, so a substream of an earlier assignment never reads a later one.
    pub(crate) next_id: u64,
}

/// One partition's buffer and its substream's waker.
#[derive(Default)]
pub(crate) struct Part {
    pub(crate) queue: VecDeque<ConsumerRecord>,
    pub(crate) waker: Option<Waker>,
    /// Revoked (or the consumer stopped): the substream completes.
    pub(crate) closed: bool,
    pub(crate) id: u64,
}

impl State {
    /// Records buffered, in all partitions.
    pub(crate) fn buffered(&self) -> usize {
        self.queue.len()
            + self
                .partitioned
                .as_ref()
                .map_or(0, |p| p.parts.values().map(|q| q.queue.len()).sum())
    }

    /// Hands polled records to the stream: the shared queue, or each partition's buffer.
    /// Records of partitions no longer assigned (polled just before a revoke) are dropped: they
    /// belong to the new owner now.
    pub(crate) fn deliver(&mut self, records: &mut Vec<ConsumerRecord>) {
        let assigned = &self.assigned;
        records.retain(|r| {
            assigned
                .iter()
                .any(|tp| tp.partition == r.partition && tp.topic == r.topic)
        });
        self.records_in += records.len() as u64;
        match self.partitioned.as_mut() {
            None => {
                self.queue.extend(records.drain(..));
                ConsumerHandle::wake(self);
            }
            Some(p) => {
                for r in records.drain(..) {
                    let Some(part) = p.parts.get_mut(&r.topic_partition()) else {
                        continue;
                    };
                    part.queue.push_back(r);
                    if let Some(w) = part.waker.take() {
                        w.wake();
                    }
                }
            }
        }
    }

    /// Wakes the source stage and every partition substream.
    pub(crate) fn wake_all(&mut self) {
        ConsumerHandle::wake(self);
        if let Some(p) = self.partitioned.as_mut() {
            for part in p.parts.values_mut() {
                if let Some(w) = part.waker.take() {
                    w.wake();
                }
            }
        }
    }
}

/// Shared by a consumer's thread, its source stage, its control and its committable offsets.
pub(crate) struct ConsumerHandle {
    pub(crate) state: Mutex<State>,
    /// The client; taken (and closed once the last user lets go) on shutdown.
    pub(crate) consumer: Mutex<Option<Arc<BaseConsumer<Ctx>>>>,
    pub(crate) buffer_size: usize,
    /// Signalled by the source stage when it has drained the buffer below half.
    pub(crate) drained: std::sync::Condvar,
    /// Held while a commit is computed and sent.
    pub(crate) commit_lock: Mutex<()>,
}

impl ConsumerHandle {
    pub(crate) fn client(&self) -> Option<Arc<BaseConsumer<Ctx>>> {
        self.consumer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether every emitted offset has been processed and committed.
    pub(crate) fn drained(&self) -> bool {
        self.lock()
            .tracks
            .values()
            .all(|t| t.emitted.is_empty() && t.pending().is_none())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the source stage.
    pub(crate) fn wake(st: &mut State) {
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }

    /// Marks offsets processed (advancing each partition's contiguous committable point), each
    /// with the metadata to commit with it.
    pub(crate) fn mark_processed(&self, offsets: Vec<PendingCommit>) {
        let mut st = self.lock();
        let tracks = &mut st.tracks;
        // Offsets come in runs of one partition: one lookup per run.
        let mut run: Option<(TopicPartition, Option<&mut Track>)> = None;
        for (tp, o, metadata) in offsets {
            if run.as_ref().is_none_or(|(current, _)| *current != tp) {
                let track = tracks.get_mut(&tp);
                run = Some((tp, track));
            }
            if let Some((_, Some(t))) = run.as_mut() {
                t.process(o, metadata);
            }
        }
    }

    /// Next-offsets that may be committed and are not yet: the contiguous processed prefix of
    /// each partition.
    pub(crate) fn pending_commits(&self) -> Vec<PendingCommit> {
        let st = self.lock();
        st.tracks
            .iter()
            .filter_map(|(tp, t)| Some((tp.clone(), t.pending()?, t.metadata().cloned())))
            .collect()
    }

    /// Records that `offsets` (next-offsets) were committed.
    pub(crate) fn committed(&self, offsets: &[PendingCommit]) {
        let mut st = self.lock();
        for (tp, o, _) in offsets {
            if let Some(t) = st.tracks.get_mut(tp) {
                t.committed = Some(t.committed.map_or(*o, |c| c.max(*o)));
            }
        }
    }

    /// Commits what is pending; call from a blocking context.
    pub(crate) fn commit_pending_blocking(&self) -> Result<(), KafkaError> {
        self.commit_serialized(Self::pending_commits)
    }

    /// Commits `offsets` (next-offsets); call from a blocking context.
    pub(crate) fn commit_blocking(&self, offsets: &[PendingCommit]) -> Result<(), KafkaError> {
        self.commit_serialized(|_| offsets.to_vec())
    }

    /// Every commit of this consumer goes through here: serialized, so that two commits never
    /// race and move the broker's offset backwards (the offsets are chosen under the lock), and
    /// with the client taken before the lock and released after it — were this the last
    /// reference, closing the client would run the revoke callback, which takes the lock.
    fn commit_serialized(
        &self,
        offsets: impl FnOnce(&Self) -> Vec<PendingCommit>,
    ) -> Result<(), KafkaError> {
        let consumer = self.client();
        let result = {
            let _one_at_a_time = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.commit_with(consumer.as_deref(), &offsets(self))
        };
        drop(consumer);
        result
    }

    fn commit_with(
        &self,
        consumer: Option<&BaseConsumer<Ctx>>,
        offsets: &[PendingCommit],
    ) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let tpl = commit_list(offsets)?;
        let consumer =
            consumer.ok_or_else(|| KafkaError::new("commit", "the consumer is shut down"))?;
        consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| KafkaError::from_client("commit", &e))?;
        self.committed(offsets);
        Ok(())
    }

    /// A transaction with these next-offsets committed: their records are resolved.
    pub(crate) fn transaction_committed(&self, offsets: &[(TopicPartition, i64)]) {
        let mut st = self.lock();
        if let Some(open) = st.in_transaction.as_mut() {
            for (tp, next) in offsets {
                if open.get(tp).is_some_and(|emitted| emitted <= next) {
                    open.remove(tp);
                }
            }
        }
        drop(st);
        self.drained.notify_all();
    }

    /// A transactional flow failed or went away: nothing it held for these partitions will
    /// commit (an abort, or the transaction timeout, resolves it on the broker).
    pub(crate) fn transaction_released(&self, partitions: &[TopicPartition]) {
        let mut st = self.lock();
        if let Some(open) = st.in_transaction.as_mut() {
            for tp in partitions {
                open.remove(tp);
            }
        }
        drop(st);
        self.drained.notify_all();
    }

    /// Asks the thread to shut the consumer down.
    pub(crate) fn request_shutdown(&self) {
        let mut st = self.lock();
        st.shutdown = true;
        st.stopped = true;
        if st.terminal.is_none() {
            st.terminal = Some(Step::Complete);
        }
        st.wake_all();
        self.drained.notify_all();
    }

    pub(crate) fn fail(&self, e: StreamError) {
        let mut st = self.lock();
        if st.terminal.is_none() {
            st.terminal = Some(Step::Failed(e));
        }
        st.wake_all();
    }
}

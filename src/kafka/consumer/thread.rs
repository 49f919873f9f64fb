//! The consumer's own thread, and the librdkafka context whose callbacks run on it.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};

use super::{ConsumerHandle, Part, PartitionAssignmentHandler};
use crate::kafka::error::{BrokersUnreachable, KafkaError};
use crate::kafka::message::{ConsumerRecord, TopicPartition};
use crate::kafka::settings::ConsumerSettings;
use crate::StreamError;

/// Gives the offsets to start assigned partitions from.
pub(crate) type OffsetsOnAssign =
    Arc<dyn Fn(&[TopicPartition]) -> std::collections::HashMap<TopicPartition, i64> + Send + Sync>;

/// The librdkafka context: rebalance callbacks commit processed offsets of revoked partitions
/// and drop their buffered records; errors feed the connection checker.
pub(crate) struct Ctx {
    pub(crate) handle: OnceLock<Weak<ConsumerHandle>>,
    pub(crate) assignment: Option<Arc<dyn PartitionAssignmentHandler>>,
    /// Offsets to start newly assigned partitions from (the manual-offset source).
    pub(crate) offsets_on_assign: Option<OffsetsOnAssign>,
    pub(crate) brokers_down_since: Mutex<Option<Instant>>,
}

/// Per-partition `consumer_lag` of a librdkafka statistics document (-1, unknown, left out).
fn lag_of(statistics: &[u8]) -> Vec<(TopicPartition, i64)> {
    #[derive(serde::Deserialize)]
    struct Stats {
        #[serde(default)]
        topics: std::collections::BTreeMap<String, Topic>,
    }
    #[derive(serde::Deserialize)]
    struct Topic {
        #[serde(default)]
        partitions: std::collections::BTreeMap<String, Partition>,
    }
    #[derive(serde::Deserialize)]
    struct Partition {
        #[serde(default = "unknown")]
        consumer_lag: i64,
    }
    fn unknown() -> i64 {
        -1
    }
    let Ok(stats) = serde_json::from_slice::<Stats>(statistics) else {
        return Vec::new();
    };
    // librdkafka reports an internal partition -1 per topic, and -1 for an unknown lag.
    stats
        .topics
        .into_iter()
        .flat_map(|(topic, t)| {
            t.partitions.into_iter().filter_map(move |(partition, p)| {
                let partition = partition.parse::<i32>().ok().filter(|&n| n >= 0)?;
                (p.consumer_lag >= 0).then(|| {
                    (
                        TopicPartition::new(topic.clone(), partition),
                        p.consumer_lag,
                    )
                })
            })
        })
        .collect()
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

impl ClientContext for Ctx {
    /// librdkafka's statistics (every `statistics.interval.ms`): kept for `Control::metrics`.
    fn stats_raw(&self, statistics: &[u8]) {
        let Some(handle) = self.handle.get().and_then(Weak::upgrade) else {
            return;
        };
        let lag = lag_of(statistics);
        let raw: Option<Arc<str>> = std::str::from_utf8(statistics).ok().map(Arc::from);
        let mut st = handle.lock();
        st.statistics = raw;
        // Only partitions this consumer owns (librdkafka also reports internal ones).
        st.lag = lag
            .into_iter()
            .filter(|(tp, _)| st.assigned.contains(tp))
            .collect();
    }

    fn error(&self, error: RdError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
        ) {
            let mut since = self
                .brokers_down_since
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            since.get_or_insert_with(Instant::now);
        }
        tracing::warn!(%error, reason, "kafka consumer error");
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Some(handle) = self.handle.get().and_then(Weak::upgrade) else {
            return;
        };
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = partitions(tpl);
            // librdkafka keeps an application pause on a partition through its revoke and a
            // later assignment (Java's consumer clears it). The thread resumes only what is
            // assigned, so a partition revoked while paused would come back paused for good:
            // it leaves unpaused, and the thread pauses it again if it still must.
            if let Err(e) = base.resume(tpl) {
                tracing::warn!(error = %e, "resuming revoked partitions failed");
            }
            // Better than Alpakka: what was processed for these partitions is committed now
            // rather than dropped and replayed by the next owner.
            let pending: Vec<super::PendingCommit> = {
                let mut st = handle.lock();
                let pending = revoked
                    .iter()
                    .filter_map(|tp| {
                        let t = st.tracks.get(tp)?;
                        Some((tp.clone(), t.pending()?, t.metadata().cloned()))
                    })
                    .collect();
                // Records of revoked partitions not yet emitted go to the next owner.
                st.queue.retain(|r| {
                    !revoked
                        .iter()
                        .any(|tp| tp.topic == r.topic && tp.partition == r.partition)
                });
                for tp in &revoked {
                    st.tracks.remove(tp);
                }
                if let Some(p) = st.partitioned.as_mut() {
                    for tp in &revoked {
                        if let Some(mut part) = p.parts.remove(tp) {
                            part.closed = true;
                            if let Some(w) = part.waker.take() {
                                w.wake();
                            }
                        }
                    }
                    p.announced.retain(|tp| !revoked.contains(tp));
                }
                st.assigned.retain(|tp| !revoked.contains(tp));
                st.paused.retain(|tp| !revoked.contains(tp));
                wait_for_transactions(&handle, st, &revoked);
                pending
            };
            if let Some(commit) = (!pending.is_empty())
                .then(|| super::commit_list(&pending).ok())
                .flatten()
            {
                // A broker accepts this commit while the group prepares the rebalance.
                // librdkafka's mock cluster refuses it (REBALANCE_IN_PROGRESS once the group is
                // joining); then the new owner re-reads these records: at-least-once still holds.
                // Serialized with the committer's commits, so an older one cannot land after.
                let _one_at_a_time = handle.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = base.commit(&commit, CommitMode::Sync) {
                    tracing::warn!(error = %e, "commit on revoke failed");
                }
            }
            if let Some(h) = &self.assignment {
                if base.assignment_lost() {
                    h.on_lost(&revoked);
                } else {
                    h.on_revoke(&revoked);
                }
            }
        }
    }

    fn post_rebalance(&self, base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let assigned = partitions(tpl);
            if let Some(offsets_on_assign) = &self.offsets_on_assign {
                // Start from the offsets the user keeps: assign again with them (the eager
                // protocol hands over the whole assignment, so this replaces it exactly).
                let offsets = offsets_on_assign(&assigned);
                let mut with_offsets = TopicPartitionList::new();
                for tp in &assigned {
                    let offset = offsets
                        .get(tp)
                        .map_or(rdkafka::Offset::Stored, |&o| rdkafka::Offset::Offset(o));
                    let _ = with_offsets.add_partition_offset(&tp.topic, tp.partition, offset);
                }
                if let Err(e) = base.assign(&with_offsets) {
                    tracing::warn!(error = %e, "assigning the user's offsets failed");
                }
            }
            if let Some(handle) = self.handle.get().and_then(Weak::upgrade) {
                let mut st = handle.lock();
                for tp in &assigned {
                    if !st.assigned.contains(tp) {
                        st.assigned.push(tp.clone());
                    }
                }
                if let Some(p) = st.partitioned.as_mut() {
                    for tp in &assigned {
                        if !p.parts.contains_key(tp) {
                            p.next_id += 1;
                            let part = Part {
                                id: p.next_id,
                                ..Part::default()
                            };
                            p.parts.insert(tp.clone(), part);
                            p.announced.push_back(tp.clone());
                        }
                    }
                    ConsumerHandle::wake(&mut st);
                }
            }
            if let Some(h) = &self.assignment {
                h.on_assign(&assigned);
            }
        }
    }
}

/// Keys and values of one consumer's records, copied into shared buffers of [`CHUNK`] bytes:
/// two allocations per record on the consumer thread (and two frees on the stream's) were a
/// third of the thread's time reading 100-byte records (issue 16).
#[derive(Default)]
pub(crate) struct Chunks {
    buf: BytesMut,
}

/// The size of a shared buffer of keys and values.
const CHUNK: usize = 32 * 1024;

impl Chunks {
    fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        if bytes.len() > CHUNK / 8 {
            // A large value gets its own allocation: it would waste most of a shared buffer.
            return Bytes::copy_from_slice(bytes);
        }
        if self.buf.capacity() < bytes.len() {
            self.buf = BytesMut::with_capacity(CHUNK);
        }
        self.buf.extend_from_slice(bytes);
        self.buf.split().freeze()
    }
}

/// Converts a librdkafka message into an owned record, its key and value copied into `chunks`.
pub(crate) fn to_record<M: Message>(m: &M, chunks: &mut Chunks) -> ConsumerRecord {
    // rdkafka's `Headers::get` panics on a key that is not UTF-8: such a record keeps its key
    // and value and loses its headers rather than killing the consumer.
    let headers = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.headers()
            .map(|h| {
                (0..h.count())
                    .map(|i| {
                        let header = h.get(i);
                        (header.key.to_owned(), header.value.map(<[u8]>::to_vec))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }))
    .unwrap_or_else(|_| {
        tracing::warn!(
            topic = m.topic(),
            offset = m.offset(),
            "record headers are not UTF-8; dropped them"
        );
        Vec::new()
    });
    ConsumerRecord {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(|k| chunks.copy(k)),
        value: m.payload().map(|v| chunks.copy(v)),
        timestamp: m.timestamp().to_millis(),
        headers,
    }
}

/// How long a revoke waits for the open transactions of the revoked partitions.
const TRANSACTIONS_TIMEOUT: Duration = Duration::from_secs(30);

/// Transactional sources: holds the rebalance until the records already emitted from the
/// revoked partitions are committed (or their flow failed), as Alpakka's transactional source
/// drains on revoke. Otherwise a transaction could commit them after the next owner read the
/// partition's offsets (with this member's new generation, which KIP-447 fencing accepts), and
/// the next owner would process them again. Meanwhile the group only prepares the rebalance,
/// so the old generation the transaction carries is still valid.
fn wait_for_transactions(
    handle: &ConsumerHandle,
    mut st: std::sync::MutexGuard<'_, super::State>,
    revoked: &[TopicPartition],
) {
    let deadline = Instant::now() + TRANSACTIONS_TIMEOUT;
    loop {
        let failed = matches!(st.terminal, Some(crate::stage::Step::Failed(_)));
        let Some(open) = st.in_transaction.as_mut() else {
            return;
        };
        let waiting = revoked.iter().any(|tp| open.contains_key(tp));
        let left = deadline.saturating_duration_since(Instant::now());
        if !waiting || failed || left.is_zero() {
            if waiting {
                tracing::warn!("revoking partitions whose transactions are still open");
            }
            for tp in revoked {
                open.remove(tp);
            }
            return;
        }
        st = handle
            .drained
            .wait_timeout(st, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// How long a full buffer may wait for the stream before the partitions are paused.
const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// Records taken from librdkafka per hand-over to the stream.
const POLL_BATCH: usize = 256;

/// The consumer thread: poll, buffer, pause while full, watch the brokers, close on shutdown.
pub(crate) fn run(handle: Arc<ConsumerHandle>, settings: ConsumerSettings) {
    let h = handle.clone();
    if let Err(payload) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_loop(handle, settings)))
    {
        // A panic (in a PartitionAssignmentHandler, or in librdkafka glue) must not leave the
        // stream waiting forever: fail it and shut the consumer down.
        h.fail(StreamError::panicked("kafka consumer".into(), payload));
        h.consumer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut st = h.lock();
        st.is_shut_down = true;
        st.shutdown = true;
        st.wake_all();
        for w in st.shutdown_waiters.drain(..) {
            w.wake();
        }
    }
}

fn run_loop(handle: Arc<ConsumerHandle>, settings: ConsumerSettings) {
    let Some(consumer) = handle.client() else {
        return;
    };
    let mut paused = false;
    let mut paused_count = 0;
    let mut paused_parts: Vec<TopicPartition> = Vec::new();
    let mut batch = Vec::with_capacity(POLL_BATCH);
    let mut chunks = Chunks::default();
    let mut stopped_at: Option<Instant> = None;
    loop {
        let (shutdown, stopped, full, low, part_pauses) = {
            let st = handle.lock();
            // Partitioned: each partition has its own buffer of `buffer_size`; a full one is
            // paused (only it refetches), one drained to half is resumed.
            let part_pauses = st.partitioned.as_ref().map(|p| {
                // Revoked partitions were resumed by the revoke callback.
                paused_parts.retain(|tp| p.parts.contains_key(tp));
                let mut pause = Vec::new();
                let mut resume = Vec::new();
                for (tp, part) in &p.parts {
                    let paused = paused_parts.contains(tp);
                    if !paused && part.queue.len() >= handle.buffer_size {
                        pause.push(tp.clone());
                    } else if paused && part.queue.len() <= handle.buffer_size / 2 {
                        resume.push(tp.clone());
                    }
                }
                (pause, resume)
            });
            let unpartitioned = st.partitioned.is_none();
            (
                st.shutdown,
                st.stopped,
                unpartitioned && st.queue.len() >= handle.buffer_size,
                st.queue.len() <= handle.buffer_size / 2,
                part_pauses,
            )
        };
        if let Some((pause, resume)) = part_pauses {
            let list = |tps: &[TopicPartition]| {
                let mut tpl = TopicPartitionList::new();
                for tp in tps {
                    tpl.add_partition(&tp.topic, tp.partition);
                }
                tpl
            };
            let before = paused_parts.len();
            if !pause.is_empty() && consumer.pause(&list(&pause)).is_ok() {
                paused_parts.extend(pause);
            }
            if !resume.is_empty() && consumer.resume(&list(&resume)).is_ok() {
                paused_parts.retain(|tp| !resume.contains(tp));
            }
            if paused_parts.len() != before || !resume.is_empty() {
                handle.lock().paused = paused_parts.clone();
            }
        }
        if shutdown {
            break;
        }
        if stopped {
            // Alpakka's stop-timeout: a stopped consumer closes itself once its emitted offsets
            // are committed, or when the timeout passes.
            let at = *stopped_at.get_or_insert_with(Instant::now);
            if handle.drained() || at.elapsed() >= settings.stop_timeout {
                break;
            }
        }
        // A full buffer: stop polling and wait for the stream to drain it. Only a long stall
        // pauses the partitions (librdkafka drops prefetched records on pause, so pausing at
        // every full buffer would refetch constantly), and polling then resumes to keep serving
        // the group while paused.
        let mut stalled = false;
        if full && !stopped && !paused {
            let deadline = Instant::now() + PAUSE_AFTER;
            let mut st = handle.lock();
            st.thread_waiting = true;
            while st.queue.len() > handle.buffer_size / 2 && !st.shutdown && !st.stopped {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    stalled = true;
                    break;
                }
                st = handle
                    .drained
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            st.thread_waiting = false;
            drop(st);
            if !stalled {
                continue;
            }
        }
        let want_pause = stopped || stalled || (paused && !low);
        if paused && want_pause {
            // Partitions assigned while paused start unpaused: pause them too, or the buffer
            // would grow with their records.
            if let Ok(assignment) = consumer.assignment() {
                if assignment.count() != paused_count && consumer.pause(&assignment).is_ok() {
                    paused_count = assignment.count();
                    handle.lock().paused = partitions(&assignment);
                }
            }
        }
        if want_pause != paused {
            if let Ok(assignment) = consumer.assignment() {
                let r = if want_pause {
                    consumer.pause(&assignment)
                } else {
                    consumer.resume(&assignment)
                };
                match r {
                    Ok(()) => {
                        paused = want_pause;
                        paused_count = assignment.count();
                        handle.lock().paused = if paused {
                            partitions(&assignment)
                        } else {
                            Vec::new()
                        };
                    }
                    Err(e) => tracing::warn!(error = %e, "pause/resume failed"),
                }
            }
        }
        // Wait for one record, then take whatever else is ready without waiting, and hand the
        // batch over under one lock with one wake.
        let mut fatal = None;
        let mut timeout = settings.poll_interval;
        while batch.len() < POLL_BATCH {
            match consumer.poll(timeout) {
                Some(Ok(m)) => {
                    batch.push(to_record(&m, &mut chunks));
                    timeout = Duration::ZERO;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka poll error");
                    if matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal)) {
                        fatal = Some(e);
                    }
                    break;
                }
                None => break,
            }
        }
        if !batch.is_empty() {
            *consumer
                .context()
                .brokers_down_since
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
            let mut st = handle.lock();
            if st.stopped {
                batch.clear();
            } else {
                st.deliver(&mut batch);
            }
        }
        if let Some(e) = fatal {
            handle.fail(StreamError::failed(KafkaError::from_client("poll", &e)));
            break;
        }
        if let Some(limit) = settings.connection_timeout {
            let down = *consumer
                .context()
                .brokers_down_since
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(since) = down {
                // librdkafka reports brokers down, not up: probe before failing.
                if since.elapsed() >= limit
                    && consumer
                        .fetch_metadata(None, Duration::from_secs(1))
                        .is_err()
                {
                    handle.fail(StreamError::failed(BrokersUnreachable {
                        for_: since.elapsed(),
                    }));
                    break;
                } else if since.elapsed() >= limit {
                    *consumer
                        .context()
                        .brokers_down_since
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                }
            }
        }
    }
    if let Some(h) = &consumer.context().assignment {
        let assigned = handle.lock().assigned.clone();
        h.on_stop(&assigned);
    }
    {
        // The stream ends now; `is_shutdown` waits for the close below.
        let mut st = handle.lock();
        st.shutdown = true;
        if st.terminal.is_none() {
            st.terminal = Some(crate::stage::Step::Complete);
        }
        st.wake_all();
    }
    // Closing happens when the last reference goes, and it runs the revoke callback: so it
    // happens here, on this thread, once commits in flight have let go of the client (they
    // finish or time out well within this bound).
    handle
        .consumer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Arc::strong_count(&consumer) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(consumer);
    let mut st = handle.lock();
    st.is_shut_down = true;
    for w in st.shutdown_waiters.drain(..) {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_share_a_buffer_and_large_ones_get_their_own() {
        let mut chunks = Chunks::default();
        let a = chunks.copy(b"first");
        let b = chunks.copy(b"second");
        assert_eq!((&a[..], &b[..]), (&b"first"[..], &b"second"[..]));
        // Side by side in one buffer.
        assert_eq!(a.as_ptr().wrapping_add(a.len()), b.as_ptr());
        let big = vec![7u8; CHUNK];
        assert_eq!(chunks.copy(&big), big);
        assert!(chunks.copy(b"").is_empty());
        // A full buffer is replaced, the records of the old one keep theirs.
        let many: Vec<Bytes> = (0..1000u32)
            .map(|i| chunks.copy(&i.to_be_bytes()))
            .collect();
        for (i, v) in many.iter().enumerate() {
            assert_eq!(&v[..], &(i as u32).to_be_bytes());
        }
        assert_eq!(&a[..], b"first");
    }
}

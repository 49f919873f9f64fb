//! The consumer source stages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::TopicPartitionList;

use super::thread::{self, Ctx};
use super::{ConsumerHandle, PartitionAssignmentHandler, State, Subscription, MAX_TRACKED};
use crate::kafka::control::Control;
use crate::kafka::error::KafkaError;
use crate::kafka::message::{CommittableMessage, CommittableOffset, ConsumerRecord};
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
) -> Result<Arc<ConsumerHandle>, KafkaError> {
    let mut config = ClientConfig::new();
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    let ctx = Ctx {
        handle: OnceLock::new(),
        assignment,
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
    }
    .map_err(|e| KafkaError::from_client("subscribe", &e))?;
    let assigned = match subscription {
        Subscription::Assignment(tps) => tps.clone(),
        Subscription::AssignmentWithOffsets(tps) => tps.iter().map(|(tp, _)| tp.clone()).collect(),
        _ => Vec::new(),
    };
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
        }),
        consumer: Mutex::new(Some(Arc::new(consumer))),
        buffer_size: settings.buffer_size.max(1),
        drained: std::sync::Condvar::new(),
    });
    if let Some(c) = handle.client() {
        let _ = c.context().handle.set(Arc::downgrade(&handle));
    }
    let h = handle.clone();
    let s = settings.clone();
    std::thread::Builder::new()
        .name("weir-kafka-consumer".into())
        .spawn(move || thread::run(h, s))
        .map_err(|e| KafkaError::new("start consumer thread", e.to_string()))?;
    Ok(handle)
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
        }),
        consumer: Mutex::new(None),
        buffer_size: 1,
        drained: std::sync::Condvar::new(),
    })
}

/// Emits buffered records; with `COMMITTABLE`, registers each emitted offset for tracking.
struct ConsumerStage<T, const COMMITTABLE: bool> {
    handle: Arc<ConsumerHandle>,
    wrap: fn(ConsumerRecord, &Arc<ConsumerHandle>) -> T,
}

impl<T: Send + 'static, const COMMITTABLE: bool> Pull<T> for ConsumerStage<T, COMMITTABLE> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut st = self.handle.lock();
        if st.stopped || (st.terminal.is_some() && st.queue.is_empty()) {
            return Poll::Ready(st.terminal.take().unwrap_or(Step::Complete));
        }
        let n = max.min(st.queue.len());
        if n == 0 {
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let records: Vec<ConsumerRecord> = st.queue.drain(..n).collect();
        if st.queue.len() <= self.handle.buffer_size / 2 {
            self.handle.drained.notify_one();
        }
        if COMMITTABLE {
            for r in &records {
                let track = st.tracks.entry(r.topic_partition()).or_default();
                if track.emitted.len() >= MAX_TRACKED {
                    return Poll::Ready(Step::Failed(StreamError::failed(KafkaError::new(
                        "track offsets",
                        "too many emitted offsets never reached the committer; pass the offset of every record (also dropped ones) to the committer",
                    ))));
                }
                track.emitted.push_back(r.offset);
            }
        }
        drop(st);
        out.extend(records.into_iter().map(|r| (self.wrap)(r, &self.handle)));
        Poll::Ready(Step::Open)
    }
}

impl<T, const COMMITTABLE: bool> Drop for ConsumerStage<T, COMMITTABLE> {
    fn drop(&mut self) {
        // The stream no longer reads: stop. Without offsets awaiting commit, the thread then
        // closes the consumer at once; otherwise once they are committed or stop_timeout passes.
        let mut st = self.handle.lock();
        st.stopped = true;
        if !COMMITTABLE {
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
) -> Source<T, Control> {
    Source::from_fn(
        move |_, _| match create(&settings, &subscription, assignment.clone()) {
            Ok(handle) => {
                let stage = ConsumerStage::<T, COMMITTABLE> {
                    handle: handle.clone(),
                    wrap,
                };
                (Box::new(stage) as BoxPull<T>, Control { handle })
            }
            Err(e) => (
                Box::new(FailedPull(Some(StreamError::failed(e)))) as BoxPull<T>,
                Control {
                    handle: dead_handle(),
                },
            ),
        },
    )
}

impl Consumer {
    /// Records without offsets to commit (Alpakka's `plainSource`): for offsets kept outside
    /// Kafka, or auto-commit.
    pub fn plain_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<ConsumerRecord, Control> {
        source::<_, false>(settings, subscription, None, |r, _| r)
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
        source::<_, true>(settings, subscription, None, committable)
    }

    /// Like [`committable_source`](Consumer::committable_source), calling `handler` around
    /// rebalances on the consumer thread.
    pub fn committable_source_with_handler(
        settings: ConsumerSettings,
        subscription: Subscription,
        handler: Arc<dyn PartitionAssignmentHandler>,
    ) -> Source<CommittableMessage, Control> {
        source::<_, true>(settings, subscription, Some(handler), committable)
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

/// Committable messages whose offsets the consumer neither tracks nor commits: the
/// transactional flow sends them to its transactions instead (a commit on revoke would commit
/// them outside a transaction).
pub(crate) fn transactional_source(
    settings: ConsumerSettings,
    subscription: Subscription,
) -> Source<CommittableMessage, Control> {
    source::<_, false>(settings, subscription, None, committable)
}

/// Commits one offset synchronously; `Err` if the commit failed.
fn commit_one(offset: &CommittableOffset) -> Result<(), KafkaError> {
    offset
        .consumer
        .mark_processed(&[(offset.partition.clone(), offset.offset)]);
    offset
        .consumer
        .commit_blocking(&offset.consumer.pending_commits())
}

fn committable(record: ConsumerRecord, handle: &Arc<ConsumerHandle>) -> CommittableMessage {
    let offset = CommittableOffset {
        partition: record.topic_partition(),
        offset: record.offset,
        consumer: handle.clone(),
    };
    CommittableMessage { record, offset }
}

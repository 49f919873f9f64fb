//! Exactly-once consume → transform → produce (Alpakka's `Transactional`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::producer::{Producer as _, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use super::consumer::{ConsumerHandle, Subscription};
use super::control::Control;
use super::error::KafkaError;
use super::message::{CommittableMessage, CommittableOffset, TopicPartition};
use super::producer::{create, Ctx, Envelope, ProduceStage, Results};
use super::settings::{ConsumerSettings, ProducerSettings};
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::{Completion, Flow, Keep, Sink, Source, StreamError};

/// How long one transactional call to the broker may take.
const TX_TIMEOUT: Duration = Duration::from_secs(30);

/// Transactional sources and flows (Alpakka's `Transactional`).
#[derive(Debug)]
pub struct Transactional;

impl Transactional {
    /// Records of committed transactions only (`isolation.level=read_committed`), with the
    /// offsets the transactional flow sends to its transactions.
    pub fn source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<CommittableMessage, Control> {
        super::consumer::transactional_source(
            settings.with_property("isolation.level", "read_committed"),
            subscription,
        )
    }

    /// [`source`](Transactional::source) with a substream per assigned partition (Alpakka
    /// kept its partitioned transactional source internal): run each substream through its
    /// own [`flow`](Transactional::flow) with a transactional id naming the partition, so a
    /// partition's records and offsets commit in their own transactions, independent of the
    /// other partitions' pace and failures.
    ///
    /// A substream completes when its partition is revoked; its flow then commits what it
    /// processed. Exactly-once holds across the rebalance through the consumer group's
    /// metadata sent with the offsets (KIP-447): the partition's next owner, reading with
    /// `read_committed`, fetches its start offset only once that transaction is resolved.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// use weir::kafka::*;
    /// use weir::prelude::*;
    /// # async fn run(consumer: ConsumerSettings, producer: ProducerSettings) {
    /// let (control, done) = Transactional::partitioned_source(consumer, Subscription::topics(["in"]))
    ///     .map_async_unordered(8, move |(tp, records)| {
    ///         let id = format!("copier-{}-{}", tp.topic, tp.partition);
    ///         records
    ///             .map(|m| Envelope::Message(ProducerRecord::new("out", m.record.value.unwrap_or_default()), m.offset))
    ///             .run_with(Transactional::sink(producer.clone(), &id, Duration::from_millis(100)))
    ///     })
    ///     .to_mat(Sink::ignore(), Keep::both)
    ///     .run();
    /// # }
    /// ```
    pub fn partitioned_source(
        settings: ConsumerSettings,
        subscription: Subscription,
    ) -> Source<(TopicPartition, Source<CommittableMessage>), Control> {
        super::consumer::transactional_partitioned_source(
            settings.with_property("isolation.level", "read_committed"),
            subscription,
        )
    }

    /// Produces each envelope's records inside transactions with `transactional_id`, and sends
    /// the pass-through offsets with the consumer group's metadata to the same transaction, so
    /// records and offsets commit together or not at all.
    ///
    /// Every `commit_interval` (Alpakka's default is 100 ms) the flow suspends demand, waits for
    /// the records in flight, sends the offsets, commits, and begins the next transaction.
    /// Results are emitted as their records are acknowledged.
    ///
    /// # Errors
    /// A Kafka error aborts the open transaction and fails the stream; a fenced producer (another
    /// instance took over `transactional_id`) fails the stream. Blocking librdkafka calls run on
    /// tokio's blocking threads, never on a worker.
    pub fn flow(
        settings: ProducerSettings,
        transactional_id: &str,
        commit_interval: Duration,
    ) -> Flow<Envelope<CommittableOffset>, Results<CommittableOffset>> {
        let settings = settings
            .with_property("transactional.id", transactional_id)
            .with_property("enable.idempotence", "true");
        Flow::from_pull(move |up, a| {
            TxStage::new(
                up,
                settings.clone(),
                commit_interval,
                Supervisor::new("transactional", a),
            )
        })
    }

    /// [`flow`](Transactional::flow) as a sink.
    pub fn sink(
        settings: ProducerSettings,
        transactional_id: &str,
        commit_interval: Duration,
    ) -> Sink<Envelope<CommittableOffset>, Completion<()>> {
        Transactional::flow(settings, transactional_id, commit_interval)
            .to_mat(Sink::ignore(), Keep::right)
    }
}

/// Lets the inner producer stage pull only while the gate is open.
struct Gate {
    up: BoxPull<Envelope<CommittableOffset>>,
    open: Arc<AtomicBool>,
}

impl Pull<Envelope<CommittableOffset>> for Gate {
    fn pull(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Envelope<CommittableOffset>>,
        max: usize,
    ) -> Poll<Step> {
        if self.open.load(Ordering::Relaxed) {
            self.up.pull(cx, out, max)
        } else {
            // The transactional stage wakes the task when it reopens the gate.
            Poll::Pending
        }
    }
}

enum Phase {
    /// `init_transactions` + `begin_transaction` running.
    Starting(JoinHandle<Result<(), KafkaError>>),
    Open,
    /// Offsets sent, commit and next begin running.
    Committing(JoinHandle<Result<(), KafkaError>>),
    Done,
}

struct TxStage {
    inner: Option<ProduceStage<CommittableOffset>>,
    producer: Option<ThreadedProducer<Ctx>>,
    gate: Arc<AtomicBool>,
    phase: Phase,
    interval: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Next offsets to send with the open transaction, per partition.
    offsets: BTreeMap<TopicPartition, i64>,
    consumer: Option<Arc<ConsumerHandle>>,
    /// Partitions this flow has sent offsets for: released on the consumer when it fails.
    partitions: Vec<TopicPartition>,
    inner_done: Option<Step>,
    setup_error: Option<KafkaError>,
}

fn blocking<F>(f: F) -> JoinHandle<Result<(), KafkaError>>
where
    F: FnOnce() -> Result<(), KafkaError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
}

fn tx_error(operation: &'static str, e: &rdkafka::error::KafkaError) -> KafkaError {
    let mut k = KafkaError::from_client(operation, e);
    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fenced)
        || e.rdkafka_error_code() == Some(RDKafkaErrorCode::ProducerFenced)
    {
        k.retriable = false;
    }
    k
}

impl TxStage {
    fn new(
        up: BoxPull<Envelope<CommittableOffset>>,
        settings: ProducerSettings,
        interval: Duration,
        sup: Supervisor,
    ) -> Self {
        let gate = Arc::new(AtomicBool::new(false));
        let (producer, deliveries) = if settings.shared.is_some() {
            let refused = KafkaError::new(
                "transactional producer",
                "a transactional flow cannot write through a SharedProducer: a transaction \
                 belongs to one producer and one stream",
            );
            (Err(refused), Default::default())
        } else {
            create(&settings)
        };
        let (inner_producer, producer, setup_error) = match producer {
            Ok(p) => (Ok(p.clone()), Some(p), None),
            Err(e) => (Err(None), None, Some(e)),
        };
        let inner = ProduceStage::with_producer(
            Box::new(Gate {
                up,
                open: gate.clone(),
            }),
            inner_producer,
            deliveries,
            settings,
            sup,
        );
        let phase = match &producer {
            Some(p) => {
                let p = p.clone();
                Phase::Starting(blocking(move || {
                    p.init_transactions(TX_TIMEOUT)
                        .map_err(|e| tx_error("init transactions", &e))?;
                    p.begin_transaction()
                        .map_err(|e| tx_error("begin transaction", &e))
                }))
            }
            None => Phase::Done,
        };
        TxStage {
            inner: Some(inner),
            producer,
            gate,
            phase,
            interval,
            deadline: Box::pin(tokio::time::sleep(interval)),
            offsets: BTreeMap::new(),
            consumer: None,
            partitions: Vec::new(),
            inner_done: None,
            setup_error,
        }
    }

    /// Sends the offsets to the transaction and commits it; begins the next unless `last`.
    fn commit(&mut self, last: bool) {
        // The last commit takes the producer: the blocking task then drops the last reference,
        // so the client is destroyed there, not on a worker, before the stage completes.
        let producer = if last {
            self.producer.take()
        } else {
            self.producer.clone()
        };
        let Some(p) = producer else {
            return;
        };
        let offsets = std::mem::take(&mut self.offsets);
        for tp in offsets.keys() {
            if !self.partitions.contains(tp) {
                self.partitions.push(tp.clone());
            }
        }
        // Taken for this commit only: the consumer thread closes the client once it holds the
        // last reference.
        let consumer = self.consumer.as_ref().and_then(|h| h.client());
        let handle = self.consumer.clone();
        self.phase = Phase::Committing(blocking(move || {
            if !offsets.is_empty() {
                let consumer = consumer
                    .ok_or_else(|| KafkaError::new("send offsets", "the consumer is shut down"))?;
                let group = consumer.group_metadata().ok_or_else(|| {
                    KafkaError::new("send offsets", "the consumer has no group metadata")
                })?;
                let mut tpl = rdkafka::TopicPartitionList::new();
                for (tp, o) in &offsets {
                    tpl.add_partition_offset(&tp.topic, tp.partition, rdkafka::Offset::Offset(*o))
                        .map_err(|e| tx_error("send offsets", &e))?;
                }
                p.send_offsets_to_transaction(&tpl, &group, TX_TIMEOUT)
                    .map_err(|e| tx_error("send offsets", &e))?;
            }
            p.commit_transaction(TX_TIMEOUT)
                .map_err(|e| tx_error("commit transaction", &e))?;
            if let Some(h) = handle {
                // A revoke of these partitions may go on (it waits for this commit).
                let committed: Vec<(TopicPartition, i64)> = offsets.into_iter().collect();
                h.transaction_committed(&committed);
            }
            if !last {
                p.begin_transaction()
                    .map_err(|e| tx_error("begin transaction", &e))?;
            }
            Ok(())
        }));
    }

    /// Nothing more of this flow will commit: a revoke need not wait for it.
    fn release(&mut self) {
        if let Some(h) = &self.consumer {
            let mut partitions = std::mem::take(&mut self.partitions);
            partitions.extend(self.offsets.keys().cloned());
            h.transaction_released(&partitions);
        }
    }

    fn fail(&mut self, e: KafkaError) -> Poll<Step> {
        self.release();
        self.gate.store(false, Ordering::Relaxed);
        if let Some(p) = self.producer.take() {
            // Abort what is open; nothing waits for it.
            drop(tokio::task::spawn_blocking(move || {
                p.abort_transaction(TX_TIMEOUT)
            }));
        }
        self.inner = None;
        self.phase = Phase::Done;
        Poll::Ready(Step::Failed(StreamError::failed(e)))
    }
}

impl Drop for TxStage {
    fn drop(&mut self) {
        // Cancelled mid-way (a flow that completed or failed has settled this already; its
        // partitions may have a new flow by now).
        if !matches!(self.phase, Phase::Done) {
            self.release();
        }
        // Cancelled with a transaction open: abort it rather than leave it to time out (which
        // would hold back read_committed readers). Not on a tokio worker: a plain thread.
        if let (Some(p), Phase::Open | Phase::Starting(_)) = (self.producer.take(), &self.phase) {
            let _ = std::thread::Builder::new()
                .name("weir-kafka-abort".into())
                .spawn(move || p.abort_transaction(TX_TIMEOUT));
        }
    }
}

impl Pull<Results<CommittableOffset>> for TxStage {
    fn pull(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Results<CommittableOffset>>,
        max: usize,
    ) -> Poll<Step> {
        if let Some(e) = self.setup_error.take() {
            return Poll::Ready(Step::Failed(StreamError::failed(e)));
        }
        let start = out.len();
        loop {
            match &mut self.phase {
                Phase::Done => return Poll::Ready(Step::Complete),
                Phase::Starting(h) => match Pin::new(h).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Ok(()))) => {
                        self.phase = Phase::Open;
                        self.gate.store(true, Ordering::Relaxed);
                        self.deadline.as_mut().reset(Instant::now() + self.interval);
                    }
                    Poll::Ready(Ok(Err(e))) => return self.fail(e),
                    Poll::Ready(Err(_)) => {
                        return self.fail(KafkaError::new("init transactions", "task cancelled"))
                    }
                },
                Phase::Committing(h) => match Pin::new(h).poll(cx) {
                    Poll::Pending => {
                        return if out.len() > start {
                            Poll::Ready(Step::Open)
                        } else {
                            Poll::Pending
                        }
                    }
                    Poll::Ready(Ok(Ok(()))) => {
                        if let Some(t) = self.inner_done.take() {
                            self.phase = Phase::Done;
                            return Poll::Ready(t);
                        }
                        self.phase = Phase::Open;
                        self.gate.store(true, Ordering::Relaxed);
                        self.deadline.as_mut().reset(Instant::now() + self.interval);
                    }
                    Poll::Ready(Ok(Err(e))) => return self.fail(e),
                    Poll::Ready(Err(_)) => {
                        return self.fail(KafkaError::new("commit transaction", "task cancelled"))
                    }
                },
                Phase::Open => {
                    if self.deadline.as_mut().poll(cx).is_ready() {
                        // Commit time: no new records into this transaction.
                        self.gate.store(false, Ordering::Relaxed);
                    }
                    let inner = self
                        .inner
                        .as_mut()
                        .expect("open phase has a producer stage");
                    let room = max - (out.len() - start);
                    let before = out.len();
                    let step = if room > 0 {
                        inner.pull(cx, out, room)
                    } else {
                        Poll::Pending
                    };
                    for r in &out[before..] {
                        let o = r.pass_through();
                        if self.consumer.is_none() {
                            self.consumer = Some(o.consumer.clone());
                        }
                        let next = self
                            .offsets
                            .entry(o.partition.clone())
                            .or_insert(o.offset + 1);
                        *next = (*next).max(o.offset + 1);
                    }
                    match step {
                        Poll::Ready(Step::Failed(e)) => {
                            let k = KafkaError::new("produce", e.to_string());
                            return match self.fail(k) {
                                Poll::Ready(_) => Poll::Ready(Step::Failed(e)),
                                p => p,
                            };
                        }
                        Poll::Ready(Step::Complete) => {
                            self.inner_done = Some(Step::Complete);
                            self.commit(true);
                            continue;
                        }
                        _ => {}
                    }
                    let closed = !self.gate.load(Ordering::Relaxed);
                    // Upstream failed: no commit (its consumer may be gone already); the next
                    // pull of the producer stage reports the failure, which aborts.
                    if closed && inner.in_flight() == 0 && !inner.upstream_failed() {
                        self.commit(false);
                        continue;
                    }
                    if out.len() - start == max {
                        return Poll::Ready(Step::Open);
                    }
                    return if out.len() > start {
                        Poll::Ready(Step::Open)
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }
}

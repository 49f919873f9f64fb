//! The producer: sinks and flows that write records to Kafka.
//!
//! Built on librdkafka's `ThreadedProducer` (a background thread serves delivery reports) with
//! a bounded window of `parallelism` records in flight; delivery reports come back through a
//! shared slot table, so no future or channel is allocated per record.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use super::error::KafkaError;
use super::settings::ProducerSettings;
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Completion, Flow, FlowWithContext, Keep, Sink, StreamError};

/// A record to write (Alpakka's `ProducerRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// The partition, or `None` for the partitioner to choose.
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
    /// The timestamp in milliseconds since the epoch, or `None` for now.
    pub timestamp: Option<i64>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl ProducerRecord {
    /// A record with `value` for `topic`.
    pub fn new(topic: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// What to produce, with a pass-through value (Alpakka's `ProducerMessage.Envelope`).
#[derive(Debug, Clone)]
pub enum Envelope<P> {
    /// One record.
    Message(ProducerRecord, P),
    /// Several records, acknowledged together.
    MultiMessage(Vec<ProducerRecord>, P),
    /// Nothing to produce; `P` passes through in order (for offsets of filtered records).
    PassThrough(P),
}

impl<P> Envelope<P> {
    /// The same records with the pass-through value `f` makes of this one.
    pub fn map_pass_through<Q>(self, f: impl FnOnce(P) -> Q) -> Envelope<Q> {
        match self {
            Envelope::Message(r, p) => Envelope::Message(r, f(p)),
            Envelope::MultiMessage(rs, p) => Envelope::MultiMessage(rs, f(p)),
            Envelope::PassThrough(p) => Envelope::PassThrough(f(p)),
        }
    }
}

/// The outcome of an [`Envelope`] (Alpakka's `ProducerMessage.Results`).
#[derive(Debug, Clone)]
pub enum Results<P> {
    /// One record written.
    Result(RecordMetadata, P),
    /// Several records written.
    MultiResult(Vec<RecordMetadata>, P),
    /// Nothing was produced.
    PassThroughResult(P),
}

impl<P> Results<P> {
    /// The pass-through value.
    pub fn pass_through(&self) -> &P {
        match self {
            Results::Result(_, p) | Results::MultiResult(_, p) | Results::PassThroughResult(p) => p,
        }
    }

    /// The pass-through value, by value.
    pub fn into_pass_through(self) -> P {
        match self {
            Results::Result(_, p) | Results::MultiResult(_, p) | Results::PassThroughResult(p) => p,
        }
    }

    /// The outcome without its pass-through value, and the value.
    pub fn split(self) -> (Results<()>, P) {
        match self {
            Results::Result(m, p) => (Results::Result(m, ()), p),
            Results::MultiResult(ms, p) => (Results::MultiResult(ms, ()), p),
            Results::PassThroughResult(p) => (Results::PassThroughResult(()), p),
        }
    }
}

/// Delivery reports of one producer, by sequence number.
#[derive(Default)]
pub(crate) struct Deliveries {
    done: HashMap<usize, Result<RecordMetadata, KafkaError>, BuildHasherDefault<SeqHasher>>,
    waker: Option<Waker>,
}

/// Sequence numbers are distinct counters: they are their own hash (SipHash showed in the
/// profile of a 1 M-record pipeline).
#[derive(Default)]
pub(crate) struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        // Spread the low bits over the high ones hashbrown uses for its control bytes.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

/// Where a producer's delivery reports go.
enum Routes {
    /// The one stage that owns the producer.
    One(Arc<Mutex<Deliveries>>),
    /// The stages writing through a [`SharedProducer`]: the high bits of a report's sequence
    /// number are its stage's slot here.
    Shared(Mutex<Vec<Option<Arc<Mutex<Deliveries>>>>>),
}

/// A stage's slot in a shared producer's routes: bits of the sequence number above these.
const SLOT_SHIFT: u32 = 40;

pub(crate) struct Ctx {
    routes: Routes,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        use rdkafka::message::Message;
        let outcome = match result {
            Ok(m) => Ok(RecordMetadata {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, _)) => Err(KafkaError::from_client("produce", e)),
        };
        let deliver = |deliveries: &Mutex<Deliveries>| {
            let mut d = deliveries.lock().unwrap_or_else(|e| e.into_inner());
            d.done.insert(seq, outcome);
            if let Some(w) = d.waker.take() {
                w.wake();
            }
        };
        match &self.routes {
            Routes::One(deliveries) => deliver(deliveries),
            Routes::Shared(slots) => {
                let slots = slots.lock().unwrap_or_else(|e| e.into_inner());
                // A stage that went away no longer waits for its reports.
                if let Some(Some(deliveries)) = slots.get(seq >> SLOT_SHIFT) {
                    deliver(deliveries);
                }
            }
        }
    }
}

/// A producer that several streams write through (Alpakka's `ProducerSettings.withProducer`):
/// created once, closed once, when the last stream using it and the last handle are gone
/// (flushing what is still in flight, up to the settings' `close_timeout`).
///
/// Give it to streams with [`ProducerSettings::with_producer`]; their other producer properties
/// are then ignored. Each stream still keeps its own window (`parallelism`), order and delivery
/// results, and a delivery failure fails only the stream whose record it was. A transactional
/// flow cannot use one (a transaction belongs to one producer and one stream).
///
/// ```
/// use weir::kafka::{ProducerSettings, SharedProducer};
/// let settings = ProducerSettings::new("localhost:9092");
/// let shared = SharedProducer::new(&settings).unwrap();
/// let a = settings.clone().with_producer(shared.clone());
/// let b = settings.with_producer(shared);
/// # let _ = (a, b);
/// ```
#[derive(Clone)]
pub struct SharedProducer {
    inner: Arc<SharedInner>,
}

struct SharedInner {
    producer: ThreadedProducer<Ctx>,
    close_timeout: Duration,
}

impl std::fmt::Debug for SharedProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedProducer")
            .field("streams", &self.streams())
            .finish()
    }
}

impl SharedProducer {
    /// Creates the producer from `settings`' librdkafka properties.
    ///
    /// # Errors
    /// If librdkafka refuses the configuration.
    pub fn new(settings: &ProducerSettings) -> Result<SharedProducer, KafkaError> {
        let producer = client_config(settings)
            .create_with_context(Ctx {
                routes: Routes::Shared(Mutex::new(Vec::new())),
            })
            .map_err(|e| KafkaError::from_client("create producer", &e))?;
        Ok(SharedProducer {
            inner: Arc::new(SharedInner {
                producer,
                close_timeout: settings.close_timeout,
            }),
        })
    }

    /// Streams writing through it now.
    pub fn streams(&self) -> usize {
        match &self.inner.producer.context().routes {
            Routes::Shared(slots) => slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|s| s.is_some())
                .count(),
            Routes::One(_) => 1,
        }
    }

    /// Registers a stage's delivery table: its first sequence number.
    fn register(&self, deliveries: &Arc<Mutex<Deliveries>>) -> usize {
        let Routes::Shared(slots) = &self.inner.producer.context().routes else {
            return 0;
        };
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match slots.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                slots.push(None);
                slots.len() - 1
            }
        };
        slots[slot] = Some(deliveries.clone());
        slot << SLOT_SHIFT
    }

    fn unregister(&self, first_seq: usize) {
        if let Routes::Shared(slots) = &self.inner.producer.context().routes {
            let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = slots.get_mut(first_seq >> SLOT_SHIFT) {
                *slot = None;
            }
        }
    }
}

impl Drop for SharedInner {
    fn drop(&mut self) {
        // Flushing blocks: off the tokio worker this may run on. The thread holds the client.
        let producer = self.producer.clone();
        let timeout = self.close_timeout.min(Duration::from_secs(60));
        let _ = std::thread::Builder::new()
            .name("weir-kafka-close".into())
            .spawn(move || {
                let _ = producer.flush(timeout);
                drop(producer);
            });
    }
}

/// Producer sinks and flows (Alpakka's `Producer`).
#[derive(Debug)]
pub struct Producer;

impl Producer {
    /// Writes every record; resolves when all were acknowledged (Alpakka's `plainSink`).
    ///
    /// # Errors
    /// A delivery failure fails the stream, unless a supervision decider resumes.
    pub fn plain_sink(settings: ProducerSettings) -> Sink<ProducerRecord, Completion<()>> {
        use crate::StreamOps;
        Flow::<ProducerRecord>::new()
            .map(|r| Envelope::Message(r, ()))
            .via(Producer::flexi_flow::<()>(settings))
            .to_mat(Sink::ignore(), Keep::right)
    }

    /// Writes each envelope's records, then commits its offset through the committer's batching
    /// (Alpakka's `committableSink`): an offset is committed only after its records were
    /// acknowledged.
    pub fn committable_sink(
        producer: ProducerSettings,
        committer: super::settings::CommitterSettings,
    ) -> Sink<Envelope<super::message::CommittableOffset>, Completion<()>> {
        use crate::StreamOps;
        Producer::flexi_flow(producer)
            .map(Results::into_pass_through)
            .to_mat(super::committer::Committer::sink(committer), Keep::right)
    }

    /// [`flexi_flow`](Producer::flexi_flow) for envelopes carrying a context beside them
    /// (Alpakka's `flowWithContext`): each envelope's [`Results`] comes out in order with the
    /// envelope's context, such as the offset of the record it was made from
    /// ([`Consumer::source_with_offset_context`](crate::kafka::Consumer::source_with_offset_context)).
    pub fn flow_with_context<C: Send + 'static>(
        settings: ProducerSettings,
    ) -> FlowWithContext<Envelope<()>, C, Results<()>, C> {
        use crate::StreamOps;
        FlowWithContext::from_tuples(
            Flow::<(Envelope<()>, C)>::new()
                .map(|(envelope, c)| envelope.map_pass_through(|()| c))
                .via(Producer::flexi_flow(settings))
                .map(Results::split),
        )
    }

    /// Writes each envelope's records and emits its [`Results`] with the pass-through value, in
    /// order (Alpakka's `flexiFlow`). At most `parallelism` records are in flight.
    ///
    /// # Errors
    /// A delivery failure fails the stream, unless a supervision decider resumes (the envelope
    /// is then dropped).
    pub fn flexi_flow<P: Send + 'static>(
        settings: ProducerSettings,
    ) -> Flow<Envelope<P>, Results<P>> {
        Flow::from_pull(move |up, a| {
            ProduceStage::new(up, settings.clone(), Supervisor::new("producer", a))
        })
    }
}

/// A producer whose delivery reports land in the returned table.
pub(crate) fn create(
    settings: &ProducerSettings,
) -> (
    Result<ThreadedProducer<Ctx>, KafkaError>,
    Arc<Mutex<Deliveries>>,
) {
    let deliveries = Arc::new(Mutex::new(Deliveries::default()));
    let producer = client_config(settings)
        .create_with_context(Ctx {
            routes: Routes::One(deliveries.clone()),
        })
        .map_err(|e| KafkaError::from_client("create producer", &e));
    (producer, deliveries)
}

fn client_config(settings: &ProducerSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    config
}

enum Pending<P> {
    /// An envelope's records got consecutive sequence numbers.
    Waiting {
        seqs: Range<usize>,
        pass: P,
    },
    Pass(P),
}

/// How often records refused by librdkafka's full queue are retried when nothing else wakes
/// the stage.
const RETRY_INTERVAL: Duration = Duration::from_millis(1);

pub(crate) struct ProduceStage<P> {
    up: Option<BoxPull<Envelope<P>>>,
    producer: Result<ThreadedProducer<Ctx>, Option<KafkaError>>,
    deliveries: Arc<Mutex<Deliveries>>,
    settings: ProducerSettings,
    sup: Supervisor,
    next_seq: usize,
    in_flight: usize,
    pending: VecDeque<Pending<P>>,
    scratch: Vec<Envelope<P>>,
    /// Records that librdkafka's queue refused for now, retried first.
    retry: VecDeque<(ProducerRecord, usize)>,
    /// Wakes the stage to retry while `retry` is not empty. Delivery reports alone cannot:
    /// librdkafka calls the report callback before it frees the message's slot in its
    /// queue, so a retry woken by the last outstanding report can still find the queue full,
    /// and no further report would ever come.
    retry_timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    upstream_done: Option<Step>,
    /// Closing the client (off the worker) before reporting `Step`: the stage's terminal
    /// signal means the client is gone.
    closing: Option<(tokio::task::JoinHandle<()>, Option<Step>)>,
    /// The shared producer this stage writes through, and its first sequence number there.
    shared: Option<(SharedProducer, usize)>,
}

impl<P> ProduceStage<P> {
    fn new(up: BoxPull<Envelope<P>>, settings: ProducerSettings, sup: Supervisor) -> Self {
        if let Some(shared) = settings.shared.clone() {
            let deliveries = Arc::new(Mutex::new(Deliveries::default()));
            let first = shared.register(&deliveries);
            let producer = Ok(shared.inner.producer.clone());
            let mut stage = ProduceStage::with_producer(up, producer, deliveries, settings, sup);
            stage.next_seq = first;
            stage.shared = Some((shared, first));
            return stage;
        }
        let (producer, deliveries) = create(&settings);
        ProduceStage::with_producer(up, producer.map_err(Some), deliveries, settings, sup)
    }

    /// A stage on an existing producer (the transactional flow shares its producer).
    pub(crate) fn with_producer(
        up: BoxPull<Envelope<P>>,
        producer: Result<ThreadedProducer<Ctx>, Option<KafkaError>>,
        deliveries: Arc<Mutex<Deliveries>>,
        settings: ProducerSettings,
        sup: Supervisor,
    ) -> Self {
        let mut settings = settings;
        settings.parallelism = settings.parallelism.max(1);
        ProduceStage {
            up: Some(up),
            producer,
            deliveries,
            settings,
            sup,
            next_seq: 0,
            in_flight: 0,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            retry: VecDeque::new(),
            retry_timer: None,
            upstream_done: None,
            closing: None,
            shared: None,
        }
    }

    /// Envelopes sent (or passing through) and not yet emitted.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len() + self.retry.len()
    }

    /// Upstream failed: once what is in flight is emitted, the stage fails with it.
    pub(crate) fn upstream_failed(&self) -> bool {
        matches!(self.upstream_done, Some(Step::Failed(_)))
    }

    /// Gives `r` the next sequence number and sends it, or queues it for a retry while
    /// librdkafka's queue is full.
    fn send_or_queue(&mut self, r: ProducerRecord) -> Result<(), StreamError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight += 1;
        let Ok(producer) = &self.producer else {
            return Err(StreamError::failed(KafkaError::new(
                "produce",
                "producer unavailable",
            )));
        };
        // Behind queued retries, order is kept by queueing this one too.
        if !self.retry.is_empty() {
            self.retry.push_back((r, seq));
            return Ok(());
        }
        match Self::send(producer, &r, seq) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.retry.push_back((r, seq));
                Ok(())
            }
            Err(e) => Err(StreamError::failed(e)),
        }
    }

    /// Hands one record to librdkafka; `false` if its queue is full (retry later).
    fn send(
        producer: &ThreadedProducer<Ctx>,
        r: &ProducerRecord,
        seq: usize,
    ) -> Result<bool, KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(&r.topic, seq);
        // librdkafka allocates a header list even for none: only records with headers get one.
        if !r.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            record = record.headers(headers);
        }
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        if let Some(t) = r.timestamp {
            record = record.timestamp(t);
        }
        match producer.send(record) {
            Ok(()) => Ok(true),
            Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => Ok(false),
            Err((e, _)) => Err(KafkaError::from_client("produce", &e)),
        }
    }
}

impl<P: Send + 'static> Pull<Results<P>> for ProduceStage<P> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Results<P>>, max: usize) -> Poll<Step> {
        if let Some((close, t)) = &mut self.closing {
            if std::future::Future::poll(std::pin::Pin::new(close), cx).is_pending() {
                return Poll::Pending;
            }
            return Poll::Ready(t.take().unwrap_or(Step::Complete));
        }
        if let Err(e) = &mut self.producer {
            let e = e
                .take()
                .unwrap_or_else(|| KafkaError::new("produce", "producer unavailable"));
            return Poll::Ready(Step::Failed(StreamError::failed(e)));
        }
        let start = out.len();
        loop {
            // Retry records librdkafka could not queue.
            while let Ok(producer) = &self.producer {
                let Some((r, seq)) = self.retry.pop_front() else {
                    break;
                };
                match Self::send(producer, &r, seq) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.retry.push_front((r, seq));
                        break;
                    }
                    Err(e) => return Poll::Ready(Step::Failed(StreamError::failed(e))),
                }
            }
            // Emit acknowledged envelopes, in order.
            let mut emitted = false;
            {
                let mut d = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
                while out.len() - start < max {
                    let ready = match self.pending.front() {
                        Some(Pending::Pass(_)) => true,
                        Some(Pending::Waiting { seqs, .. }) => {
                            seqs.clone().all(|s| d.done.contains_key(&s))
                        }
                        None => false,
                    };
                    if !ready {
                        break;
                    }
                    match self.pending.pop_front().expect("front was checked") {
                        Pending::Pass(p) => out.push(Results::PassThroughResult(p)),
                        Pending::Waiting { seqs, pass } => {
                            self.in_flight -= seqs.len();
                            let mut failure = None;
                            let result = if seqs.len() == 1 {
                                match d.done.remove(&seqs.start).expect("checked above") {
                                    Ok(m) => Some(Results::Result(m, pass)),
                                    Err(e) => {
                                        failure = Some(e);
                                        None
                                    }
                                }
                            } else {
                                let mut metas = Vec::with_capacity(seqs.len());
                                for s in seqs {
                                    match d.done.remove(&s).expect("checked above") {
                                        Ok(m) => metas.push(m),
                                        Err(e) => failure = Some(e),
                                    }
                                }
                                Some(Results::MultiResult(metas, pass))
                            };
                            if let Some(e) = failure {
                                let e = StreamError::failed(e);
                                if self.sup.decide(&e) == Directive::Stop {
                                    return Poll::Ready(Step::Failed(e));
                                }
                                continue;
                            }
                            out.extend(result);
                        }
                    }
                    emitted = true;
                }
                if !self.pending.is_empty() {
                    d.waker = Some(cx.waker().clone());
                }
            }
            if let Some(t) = &self.upstream_done {
                if self.pending.is_empty() {
                    let t = match t {
                        Step::Failed(e) => Step::Failed(e.clone()),
                        _ => Step::Complete,
                    };
                    if out.len() > start {
                        // Emit what is acknowledged first; the next pull closes.
                        return Poll::Ready(Step::Open);
                    }
                    if self.shared.is_some() {
                        // Every record of this stage is acknowledged; the shared client stays.
                        self.producer = Err(None);
                        return Poll::Ready(t);
                    }
                    let timeout = self.settings.close_timeout.min(Duration::from_secs(1));
                    if let Ok(p) = std::mem::replace(&mut self.producer, Err(None)) {
                        let close = tokio::task::spawn_blocking(move || {
                            let _ = p.flush(timeout);
                            drop(p);
                        });
                        self.closing = Some((close, Some(t)));
                        return self.pull(cx, out, max);
                    }
                    return Poll::Ready(t);
                }
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            // Send more while the window has room.
            let room = self.settings.parallelism.saturating_sub(self.in_flight);
            let mut pulled = false;
            if room > 0 && self.retry.is_empty() {
                if let Some(up) = self.up.as_mut() {
                    if let Poll::Ready(step) = up.pull(cx, &mut self.scratch, room) {
                        pulled = true;
                        // The scratch batch is taken and given back, so its buffer is reused.
                        let mut envelopes = std::mem::take(&mut self.scratch);
                        for env in envelopes.drain(..) {
                            let first = self.next_seq;
                            let pass = match env {
                                Envelope::Message(r, p) => {
                                    if let Err(e) = self.send_or_queue(r) {
                                        return Poll::Ready(Step::Failed(e));
                                    }
                                    p
                                }
                                Envelope::MultiMessage(rs, p) => {
                                    for r in rs {
                                        if let Err(e) = self.send_or_queue(r) {
                                            return Poll::Ready(Step::Failed(e));
                                        }
                                    }
                                    p
                                }
                                Envelope::PassThrough(p) => {
                                    self.pending.push_back(Pending::Pass(p));
                                    continue;
                                }
                            };
                            let seqs = first..self.next_seq;
                            self.pending.push_back(Pending::Waiting { seqs, pass });
                        }
                        self.scratch = envelopes;
                        if step.is_terminal() {
                            self.up = None;
                            self.upstream_done = Some(step);
                        }
                    }
                }
            }
            if !pulled && !emitted {
                if out.len() > start {
                    return Poll::Ready(Step::Open);
                }
                // Records in flight wake this stage with their delivery reports (the waker is
                // registered above while anything is pending); records librdkafka refused
                // are retried on a short timer as well (see `retry_timer`).
                if self.retry.is_empty() {
                    self.retry_timer = None;
                    return Poll::Pending;
                }
                let timer = self
                    .retry_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(RETRY_INTERVAL)));
                if std::future::Future::poll(timer.as_mut(), cx).is_pending() {
                    return Poll::Pending;
                }
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + RETRY_INTERVAL);
                continue;
            }
        }
    }
}

impl<P> Drop for ProduceStage<P> {
    fn drop(&mut self) {
        if let Some((shared, first)) = self.shared.take() {
            // The shared client flushes once, when it closes.
            shared.unregister(first);
            self.producer = Err(None);
            return;
        }
        if let Ok(p) = std::mem::replace(&mut self.producer, Err(None)) {
            // Give in-flight records their chance before the client closes, off the tokio
            // worker (flushing and destroying block): the thread holds this reference.
            let timeout = self.settings.close_timeout.min(Duration::from_secs(5));
            let _ = std::thread::Builder::new()
                .name("weir-kafka-close".into())
                .spawn(move || {
                    let _ = p.flush(timeout);
                    drop(p);
                });
        }
    }
}

//! Topic, partition and offset metadata, asked of the brokers (Alpakka's `MetadataClient`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::error::KafkaError;
use super::message::TopicPartition;
use super::settings::ConsumerSettings;

/// A partition as the cluster describes it (Kafka's `PartitionInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The broker id of its leader, or -1 while it has none.
    pub leader: i32,
    /// The broker ids of its replicas.
    pub replicas: Vec<i32>,
    /// The broker ids of its in-sync replicas.
    pub in_sync_replicas: Vec<i32>,
}

/// A committed offset with the metadata string stored with it (Kafka's `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to read.
    pub offset: i64,
    /// The metadata committed with it; empty when none was.
    pub metadata: String,
}

/// Asks the brokers about topics, partitions and offsets (Alpakka's `MetadataClient`).
///
/// Created once and shared: clones share one librdkafka client. Every method runs its blocking
/// librdkafka call on tokio's blocking pool, never on a worker, and gives up after the client's
/// timeout with a [`KafkaError`] (retriable for a timeout).
///
/// ```no_run
/// # async fn f() -> Result<(), weir::kafka::KafkaError> {
/// use std::time::Duration;
/// use weir::kafka::{ConsumerSettings, MetadataClient, TopicPartition};
/// let settings = ConsumerSettings::new("localhost:9092", "my-group");
/// let client = MetadataClient::new(&settings, Duration::from_secs(5))?;
/// let partitions = client.get_partitions_for("events").await?;
/// let tps: Vec<TopicPartition> = partitions
///     .iter()
///     .map(|p| TopicPartition::new(&p.topic, p.partition))
///     .collect();
/// let ends = client.get_end_offsets(&tps).await?;
/// let committed = client.get_committed_offsets(&tps).await?;
/// # let _ = (ends, committed);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MetadataClient {
    inner: Arc<Inner>,
}

struct Inner {
    consumer: BaseConsumer,
    settings: ConsumerSettings,
    timeout: Duration,
}

impl fmt::Debug for MetadataClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataClient")
            .field(
                "bootstrap.servers",
                &self.inner.settings.property("bootstrap.servers"),
            )
            .field("group.id", &self.inner.settings.property("group.id"))
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// A librdkafka consumer that never subscribes: it only asks for metadata and offsets.
fn client(settings: &ConsumerSettings) -> Result<BaseConsumer, KafkaError> {
    let mut config = ClientConfig::new();
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    config.set("enable.auto.commit", "false");
    config
        .create()
        .map_err(|e| KafkaError::from_client("create metadata client", &e))
}

impl MetadataClient {
    /// A client with the librdkafka properties of `settings` (its `group.id` is the group of
    /// [`get_committed_offsets`](MetadataClient::get_committed_offsets)); each request gives up
    /// after `timeout`.
    ///
    /// # Errors
    /// The properties are invalid for librdkafka. Unreachable brokers are no error here: the
    /// requests fail after `timeout`.
    pub fn new(settings: &ConsumerSettings, timeout: Duration) -> Result<Self, KafkaError> {
        Ok(MetadataClient {
            inner: Arc::new(Inner {
                consumer: client(settings)?,
                settings: settings.clone(),
                timeout,
            }),
        })
    }

    /// A client for `bootstrap_servers` with no consumer group: everything but the committed
    /// offsets of its own group.
    ///
    /// # Errors
    /// As [`new`](MetadataClient::new).
    pub fn from_bootstrap(bootstrap_servers: &str, timeout: Duration) -> Result<Self, KafkaError> {
        let settings =
            ConsumerSettings::from_properties([("bootstrap.servers", bootstrap_servers)]);
        MetadataClient::new(&settings, timeout)
    }

    /// How long each request may take.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Runs `f` with the client on tokio's blocking pool.
    async fn blocking<T, F>(&self, operation: &'static str, f: F) -> Result<T, KafkaError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, KafkaError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| KafkaError::new(operation, format!("the request task failed: {e}")))?
    }

    /// Every topic of the cluster (internal ones such as `__consumer_offsets` included) with
    /// its partitions, in partition order (Alpakka's `listTopics`).
    ///
    /// # Errors
    /// The brokers did not answer within the timeout.
    pub async fn list_topics(&self) -> Result<BTreeMap<String, Vec<PartitionInfo>>, KafkaError> {
        const OP: &str = "list topics";
        self.blocking(OP, |inner| {
            let metadata = inner
                .consumer
                .fetch_metadata(None, inner.timeout)
                .map_err(|e| KafkaError::from_client(OP, &e))?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_owned(), partition_infos(t)))
                .collect())
        })
        .await
    }

    /// The partitions of `topic`, in order (Alpakka's `getPartitionsFor`).
    ///
    /// # Errors
    /// The topic does not exist, or the brokers did not answer within the timeout.
    pub async fn get_partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>, KafkaError> {
        const OP: &str = "get partitions";
        let topic = topic.to_owned();
        self.blocking(OP, move |inner| {
            let metadata = inner
                .consumer
                .fetch_metadata(Some(&topic), inner.timeout)
                .map_err(|e| KafkaError::from_client(OP, &e))?;
            let t = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .ok_or_else(|| KafkaError::new(OP, format!("no metadata for topic {topic:?}")))?;
            if let Some(code) = t.error() {
                let code = rdkafka::types::RDKafkaErrorCode::from(code);
                return Err(KafkaError::new(OP, format!("topic {topic:?}: {code}")));
            }
            Ok(partition_infos(t))
        })
        .await
    }

    /// The first offset of each partition (its low watermark; Alpakka's
    /// `getBeginningOffsets`).
    ///
    /// # Errors
    /// A partition does not exist, or the brokers did not answer within the timeout.
    pub async fn get_beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError> {
        self.watermarks("get beginning offsets", partitions, |(low, _)| low)
            .await
    }

    /// The end offset of each partition: one past its last record (its high watermark;
    /// Alpakka's `getEndOffsets`).
    ///
    /// # Errors
    /// A partition does not exist, or the brokers did not answer within the timeout.
    pub async fn get_end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError> {
        self.watermarks("get end offsets", partitions, |(_, high)| high)
            .await
    }

    async fn watermarks(
        &self,
        op: &'static str,
        partitions: &[TopicPartition],
        pick: fn((i64, i64)) -> i64,
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError> {
        let partitions = partitions.to_vec();
        self.blocking(op, move |inner| {
            partitions
                .into_iter()
                .map(|tp| {
                    let marks = inner
                        .consumer
                        .fetch_watermarks(&tp.topic, tp.partition, inner.timeout)
                        .map_err(|e| KafkaError::from_client(op, &e))?;
                    Ok((tp, pick(marks)))
                })
                .collect()
        })
        .await
    }

    /// The offsets the client's own group (`group.id` of its settings) committed, with their
    /// metadata; `None` for a partition the group committed nothing for (Alpakka's
    /// `getCommittedOffsets`).
    ///
    /// # Errors
    /// The settings name no `group.id`, or the brokers did not answer within the timeout.
    pub async fn get_committed_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndMetadata>>, KafkaError> {
        const OP: &str = "get committed offsets";
        if self.inner.settings.property("group.id").is_none() {
            return Err(KafkaError::new(
                OP,
                "the client's settings name no group.id",
            ));
        }
        let partitions = partitions.to_vec();
        self.blocking(OP, move |inner| {
            committed(&inner.consumer, &partitions, inner.timeout)
        })
        .await
    }

    /// [`get_committed_offsets`](MetadataClient::get_committed_offsets) of another consumer
    /// group, `group` (asked with a short-lived client of that group id that joins nothing).
    ///
    /// # Errors
    /// The brokers did not answer within the timeout.
    pub async fn get_committed_offsets_of(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndMetadata>>, KafkaError> {
        const OP: &str = "get committed offsets";
        let settings = self.inner.settings.clone().with_property("group.id", group);
        let partitions = partitions.to_vec();
        self.blocking(OP, move |inner| {
            committed(&client(&settings)?, &partitions, inner.timeout)
        })
        .await
    }

    /// For each partition, the first offset whose record timestamp is at or after the given
    /// time (milliseconds since the epoch), or `None` when every record is older (Kafka's
    /// `offsetsForTimes`; Alpakka's `Metadata.GetOffsetsForTimes`).
    ///
    /// # Errors
    /// A time is negative, a partition does not exist, or the brokers did not answer within the
    /// timeout.
    pub async fn get_offsets_for_times(
        &self,
        times: &[(TopicPartition, i64)],
    ) -> Result<HashMap<TopicPartition, Option<i64>>, KafkaError> {
        let times = times.to_vec();
        self.blocking("get offsets for times", move |inner| {
            Ok(offsets_for_times(&inner.consumer, &times, inner.timeout)?
                .into_iter()
                .collect())
        })
        .await
    }
}

fn partition_infos(t: &rdkafka::metadata::MetadataTopic) -> Vec<PartitionInfo> {
    let mut infos: Vec<PartitionInfo> = t
        .partitions()
        .iter()
        .map(|p| PartitionInfo {
            topic: t.name().to_owned(),
            partition: p.id(),
            leader: p.leader(),
            replicas: p.replicas().to_vec(),
            in_sync_replicas: p.isr().to_vec(),
        })
        .collect();
    infos.sort_by_key(|p| p.partition);
    infos
}

fn committed(
    consumer: &BaseConsumer,
    partitions: &[TopicPartition],
    timeout: Duration,
) -> Result<HashMap<TopicPartition, Option<OffsetAndMetadata>>, KafkaError> {
    const OP: &str = "get committed offsets";
    let mut tpl = TopicPartitionList::new();
    for tp in partitions {
        tpl.add_partition(&tp.topic, tp.partition);
    }
    let committed = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| KafkaError::from_client(OP, &e))?;
    committed
        .elements()
        .iter()
        .map(|e| {
            e.error().map_err(|err| KafkaError::from_client(OP, &err))?;
            let tp = TopicPartition::new(e.topic(), e.partition());
            let Offset::Offset(offset) = e.offset() else {
                return Ok((tp, None));
            };
            // rdkafka panics on metadata that is not UTF-8 (another client may have written
            // any bytes): such metadata reads as empty.
            let metadata =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.metadata().to_owned()))
                    .unwrap_or_default();
            Ok((tp, Some(OffsetAndMetadata { offset, metadata })))
        })
        .collect()
}

/// The first offset at or after each time, `None` past the end: one ListOffsets round trip.
pub(crate) fn offsets_for_times<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    times: &[(TopicPartition, i64)],
    timeout: Duration,
) -> Result<Vec<(TopicPartition, Option<i64>)>, KafkaError> {
    const OP: &str = "get offsets for times";
    let mut tpl = TopicPartitionList::new();
    for (tp, ms) in times {
        tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*ms))
            .map_err(|_| KafkaError::new(OP, format!("{tp:?}: negative time {ms}")))?;
    }
    let found = consumer
        .offsets_for_times(tpl, timeout)
        .map_err(|e| KafkaError::from_client(OP, &e))?;
    found
        .elements()
        .iter()
        .map(|e| {
            e.error().map_err(|err| KafkaError::from_client(OP, &err))?;
            let tp = TopicPartition::new(e.topic(), e.partition());
            match e.offset() {
                Offset::Offset(o) => Ok((tp, Some(o))),
                // The broker answers -1 (librdkafka's END) when no record is that recent.
                Offset::End => Ok((tp, None)),
                other => Err(KafkaError::new(
                    OP,
                    format!("{tp:?}: unexpected answer {other:?}"),
                )),
            }
        })
        .collect()
}

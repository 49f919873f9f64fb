//! Settings for consumers, producers and the committer; built in code or deserialized with
//! serde (a TOML or JSON section works as configuration).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Consumer settings: librdkafka properties plus weir's own knobs (Alpakka's
/// `ConsumerSettings`).
///
/// ```
/// use weir::kafka::ConsumerSettings;
/// let s = ConsumerSettings::new("localhost:9092", "my-group").with_property("auto.offset.reset", "earliest");
/// assert_eq!(s.property("group.id"), Some("my-group"));
/// let json = r#"{ "properties": { "bootstrap.servers": "b:9092", "group.id": "g" }, "buffer_size": 500 }"#;
/// let s: ConsumerSettings = serde_json::from_str(json).unwrap();
/// assert_eq!(s.buffer_size, 500);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsumerSettings {
    /// librdkafka consumer properties (`bootstrap.servers`, `group.id`, …).
    pub properties: BTreeMap<String, String>,
    /// Records buffered ahead of downstream demand; partitions are paused beyond it.
    pub buffer_size: usize,
    /// How long one `poll` of the consumer thread waits.
    #[serde(with = "millis")]
    pub poll_interval: Duration,
    /// How long the brokers may stay unreachable before the source fails (Alpakka's connection
    /// checker); `None` waits forever.
    #[serde(with = "opt_millis")]
    pub connection_timeout: Option<Duration>,
    /// After `stop()`, how long the consumer stays alive for outstanding commits before it
    /// shuts down by itself (Alpakka's `stop-timeout`).
    #[serde(with = "millis")]
    pub stop_timeout: Duration,
    /// How long resolving the start offsets of a
    /// [`Subscription::AssignmentOffsetsForTimes`](super::Subscription::AssignmentOffsetsForTimes)
    /// may take before the source fails (Alpakka's `offset-for-times-timeout`).
    #[serde(with = "millis")]
    pub offset_for_times_timeout: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        let mut properties = BTreeMap::new();
        properties.insert("enable.auto.commit".into(), "false".into());
        properties.insert("enable.partition.eof".into(), "false".into());
        ConsumerSettings {
            properties,
            buffer_size: 1000,
            poll_interval: Duration::from_millis(50),
            connection_timeout: Some(Duration::from_secs(30)),
            stop_timeout: Duration::from_secs(30),
            offset_for_times_timeout: Duration::from_secs(5),
        }
    }
}

impl ConsumerSettings {
    /// Settings for `bootstrap_servers` and consumer group `group_id`, with auto-commit off.
    pub fn new(bootstrap_servers: &str, group_id: &str) -> Self {
        ConsumerSettings::default()
            .with_property("bootstrap.servers", bootstrap_servers)
            .with_property("group.id", group_id)
    }

    /// Settings from a map of librdkafka properties (defaults for everything else).
    pub fn from_properties<I, K, V>(properties: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut s = ConsumerSettings::default();
        s.properties
            .extend(properties.into_iter().map(|(k, v)| (k.into(), v.into())));
        s
    }

    /// Sets a librdkafka property.
    pub fn with_property(mut self, key: &str, value: &str) -> Self {
        self.properties.insert(key.to_owned(), value.to_owned());
        self
    }

    /// A librdkafka property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// Sets how many records may wait for downstream demand.
    pub fn with_buffer_size(mut self, size: usize) -> Self {
        self.buffer_size = size.max(1);
        self
    }

    /// Sets how long unreachable brokers are tolerated.
    pub fn with_connection_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Sets how long a stopped consumer waits for commits before shutting down.
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Sets how long resolving an offsets-for-times subscription may take.
    pub fn with_offset_for_times_timeout(mut self, timeout: Duration) -> Self {
        self.offset_for_times_timeout = timeout;
        self
    }

    /// Asks librdkafka for statistics every `interval` (`statistics.interval.ms`): they fill
    /// [`ConsumerMetrics::lag`](super::ConsumerMetrics::lag) and
    /// [`ConsumerMetrics::statistics`](super::ConsumerMetrics::statistics).
    pub fn with_statistics_interval(self, interval: Duration) -> Self {
        let ms = interval.as_millis().clamp(1, 86_400_000).to_string();
        self.with_property("statistics.interval.ms", &ms)
    }
}

/// Producer settings (Alpakka's `ProducerSettings`).
///
/// ```
/// use weir::kafka::ProducerSettings;
/// let s = ProducerSettings::new("localhost:9092").with_parallelism(50);
/// assert_eq!(s.parallelism, 50);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ProducerSettings {
    /// librdkafka producer properties.
    pub properties: BTreeMap<String, String>,
    /// Records in flight (sent, not yet acknowledged) at most.
    pub parallelism: usize,
    /// How long closing the producer waits for in-flight records.
    #[serde(with = "millis")]
    pub close_timeout: Duration,
    /// A producer shared with other streams, used instead of creating one.
    #[serde(skip)]
    pub(crate) shared: Option<super::SharedProducer>,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            properties: BTreeMap::new(),
            parallelism: 100,
            close_timeout: Duration::from_secs(60),
            shared: None,
        }
    }
}

impl ProducerSettings {
    /// Settings for `bootstrap_servers`.
    pub fn new(bootstrap_servers: &str) -> Self {
        ProducerSettings::default().with_property("bootstrap.servers", bootstrap_servers)
    }

    /// Settings from a map of librdkafka properties.
    pub fn from_properties<I, K, V>(properties: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut s = ProducerSettings::default();
        s.properties
            .extend(properties.into_iter().map(|(k, v)| (k.into(), v.into())));
        s
    }

    /// Sets a librdkafka property.
    pub fn with_property(mut self, key: &str, value: &str) -> Self {
        self.properties.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Streams with these settings write through `producer` instead of creating their own
    /// (Alpakka's `withProducer`); the properties then only matter to the shared producer's
    /// creation.
    pub fn with_producer(mut self, producer: super::SharedProducer) -> Self {
        self.shared = Some(producer);
        self
    }

    /// Sets how many records may be in flight.
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }
}

/// When the committer resolves a batch (Alpakka's `CommitDelivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitDelivery {
    /// Resolve when the broker acknowledged the commit.
    WaitForAck,
    /// Resolve when the commit was sent.
    SendAndForget,
}

/// Committer settings (Alpakka's `CommitterSettings`): defaults max_batch 1000, max_interval
/// 10 s, parallelism 100, wait-for-ack.
///
/// ```
/// use std::time::Duration;
/// use weir::kafka::CommitterSettings;
/// let s = CommitterSettings::default();
/// assert_eq!((s.max_batch, s.max_interval, s.parallelism), (1000, Duration::from_secs(10), 100));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CommitterSettings {
    /// Offsets per commit at most.
    pub max_batch: usize,
    /// Longest time an offset waits to be committed.
    #[serde(with = "millis")]
    pub max_interval: Duration,
    /// Commits in flight at most.
    pub parallelism: usize,
    /// When a batch counts as done.
    pub delivery: CommitDelivery,
}

impl Default for CommitterSettings {
    fn default() -> Self {
        CommitterSettings {
            max_batch: 1000,
            max_interval: Duration::from_secs(10),
            parallelism: 100,
            delivery: CommitDelivery::WaitForAck,
        }
    }
}

impl CommitterSettings {
    /// Sets the batch size.
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// Sets the batch interval.
    pub fn with_max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }

    /// Sets the delivery mode.
    pub fn with_delivery(mut self, delivery: CommitDelivery) -> Self {
        self.delivery = delivery;
        self
    }
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_millis))
    }
}

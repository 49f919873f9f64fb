//! Records and offsets.

use std::fmt;
use std::sync::Arc;

pub use bytes::Bytes;

use super::consumer::ConsumerHandle;

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`, `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// A record read from Kafka (Alpakka's `ConsumerRecord`), with its key and value as bytes.
///
/// Key and value are [`Bytes`]: the consumer copies the keys and values of records it reads
/// together into shared buffers of 32 KiB rather than allocating two per record, and cloning a
/// record or its value does not copy them. A buffer is freed when the last record using it is;
/// to keep one value for long without its neighbours, copy it (`value.to_vec()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The key.
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// The timestamp in milliseconds since the epoch, if any.
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl ConsumerRecord {
    /// The value as UTF-8, if it is.
    pub fn value_str(&self) -> Option<&str> {
        self.value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The key as UTF-8, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}

/// An offset that can be committed through the [`Committer`](super::Committer) (Alpakka's
/// `CommittableOffset`).
#[derive(Clone)]
pub struct CommittableOffset {
    pub(crate) partition: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) consumer: Arc<ConsumerHandle>,
    /// Stored with the commit (`Consumer::commit_with_metadata_source`).
    pub(crate) metadata: Option<Arc<str>>,
}

impl CommittableOffset {
    /// The record's topic and partition.
    pub fn partition(&self) -> &TopicPartition {
        &self.partition
    }

    /// The record's offset (the commit stores `offset + 1`, the next offset to read).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The metadata string committed with this offset (Alpakka's `CommittableOffsetMetadata`),
    /// if its source attaches one.
    pub fn metadata(&self) -> Option<&str> {
        self.metadata.as_deref()
    }
}

/// A record dropped by a context-carrying stream (`filter`, `filter_map`, an empty
/// `map_concat` on a [`SourceWithContext`](crate::SourceWithContext)) is done with: its offset
/// counts as processed, and the committer's next commit of this consumer covers it (one comes at
/// least every `max_interval`, also when no other offset arrives). So filtering never stalls the
/// partition's commits.
impl crate::Context for CommittableOffset {
    fn dropped(self) {
        self.consumer
            .mark_processed(vec![(self.partition, self.offset, self.metadata)]);
    }
}

impl fmt::Debug for CommittableOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommittableOffset")
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// A record with its committable offset (Alpakka's `CommittableMessage`).
#[derive(Debug, Clone)]
pub struct CommittableMessage {
    /// The record.
    pub record: ConsumerRecord,
    /// Its offset, to hand to the committer once the record is processed.
    pub offset: CommittableOffset,
}

//! Kafka connectors (feature `kafka`), in the style of Alpakka Kafka, on librdkafka.
//!
//! - [`Consumer`] sources materialize a [`Control`]; records arrive as [`ConsumerRecord`]s or,
//!   with offsets to commit, as [`CommittableMessage`]s.
//! - [`Committer`] batches and commits offsets, never past an unprocessed record.
//! - [`Producer`] writes [`ProducerRecord`]s or [`Envelope`]s with pass-through values.
//! - [`MetadataClient`] asks the brokers about topics, partitions and offsets.
//! - [`Transactional`] consumes, produces and commits offsets in Kafka transactions.
//!
//! librdkafka types stay inside this module; settings are plain maps of librdkafka properties.

mod committer;
mod consumer;
mod control;
pub mod deserialize;
mod error;
mod message;
mod metadata;
mod producer;
mod settings;
mod transactional;

pub use committer::{CommittedBatch, Committer};
pub use consumer::{Consumer, PartitionAssignmentHandler, Subscription};
pub use control::{ConsumerMetrics, Control, DrainingControl};
pub use error::{BrokersUnreachable, KafkaError};
pub use message::{Bytes, CommittableMessage, CommittableOffset, ConsumerRecord, TopicPartition};
pub use metadata::{MetadataClient, OffsetAndMetadata, PartitionInfo};
pub use producer::{Envelope, Producer, ProducerRecord, RecordMetadata, Results, SharedProducer};
pub use settings::{CommitDelivery, CommitterSettings, ConsumerSettings, ProducerSettings};
pub use transactional::Transactional;

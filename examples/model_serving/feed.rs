//! The other two processes of the tutorial: the data feed (the wine CSV replayed into `data`)
//! and the model publisher (descriptors into `models`), plus topic creation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;
use weir::kafka::{Producer, ProducerRecord, ProducerSettings};
use weir::prelude::*;

use crate::messages::{ModelDescriptor, WineRecord};

/// How the feed and the publisher encode what they write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

/// The wine records of the bundled CSV.
pub fn wines() -> Vec<WineRecord> {
    include_str!("data/winequality_red.csv")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| WineRecord::from_csv_line(l).ok())
        .collect()
}

/// Encodes a record.
pub fn encode_record(r: &WineRecord, format: Format) -> Vec<u8> {
    match format {
        Format::Protobuf => r.to_protobuf(),
        Format::Json => serde_json::to_vec(r).unwrap_or_default(),
    }
}

/// Encodes a descriptor.
pub fn encode_model(d: &ModelDescriptor, format: Format) -> Vec<u8> {
    match format {
        Format::Protobuf => d.to_protobuf(),
        Format::Json => d.to_json(),
    }
}

/// Writes the wines into `topic` at `rate` records per second, cycling through the data set,
/// keyed by a sequence number; stops after `count` records (`None`: never) or once `stop` is
/// set. Resolves with the number of records the broker acknowledged.
pub async fn feed_data(
    producer: ProducerSettings,
    topic: String,
    rate: u32,
    count: Option<u64>,
    format: Format,
    stop: CancellationToken,
) -> Result<u64, weir::StreamError> {
    let wines = wines();
    let rate = rate.max(1);
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    Source::iterate(0u64, |n| n + 1)
        .take_while(move |n| count.is_none_or(|c| *n < c) && !stop.is_cancelled())
        .throttle(rate, Duration::from_secs(1), rate.div_ceil(10))
        .map(move |n| {
            counter.fetch_add(1, Ordering::Relaxed);
            let wine = &wines[(n % wines.len() as u64) as usize];
            ProducerRecord::new(topic.clone(), encode_record(wine, format)).with_key(n.to_string())
        })
        .run_with(Producer::plain_sink(producer))
        .await?;
    // The plain sink completes once every record sent is acknowledged.
    Ok(sent.load(Ordering::Relaxed))
}

/// Publishes one descriptor to `topic` and waits for the broker's acknowledgement.
pub async fn publish_model(
    producer: ProducerSettings,
    topic: &str,
    model: &ModelDescriptor,
    format: Format,
) -> Result<(), weir::StreamError> {
    Source::single(
        ProducerRecord::new(topic, encode_model(model, format)).with_key(model.name.clone()),
    )
    .run_with(Producer::plain_sink(producer))
    .await
}

/// Publishes `models` to `topic` in turn, one every `every`, cycling, until `stop` is
/// cancelled; the first at once.
pub async fn cycle_models(
    producer: ProducerSettings,
    topic: String,
    models: Vec<ModelDescriptor>,
    every: Duration,
    format: Format,
    stop: CancellationToken,
) -> Result<(), weir::StreamError> {
    for model in models.iter().cycle() {
        if stop.is_cancelled() {
            break;
        }
        publish_model(producer.clone(), &topic, model, format).await?;
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    Ok(())
}

/// Creates `data` and `scored` with `partitions` partitions and `models` with one, unless they
/// exist.
pub async fn create_topics(
    brokers: &str,
    config: &crate::server::Config,
    partitions: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let topics = [
        NewTopic::new(&config.data_topic, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&config.models_topic, 1, TopicReplication::Fixed(1)),
        NewTopic::new(&config.scored_topic, partitions, TopicReplication::Fixed(1)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, e)) => return Err(format!("creating topic {topic}: {e}").into()),
        }
    }
    Ok(())
}

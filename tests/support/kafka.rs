//! Helpers for Kafka tests on librdkafka's in-process mock cluster.

#![allow(dead_code)]

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, TopicPartitionList};
use weir::kafka::{ConsumerSettings, Producer, ProducerRecord, ProducerSettings};
use weir::prelude::*;

pub type Cluster = MockCluster<'static, DefaultProducerContext>;

/// A mock cluster with `topic` created with `partitions` partitions.
pub fn cluster(topic: &str, partitions: i32) -> Cluster {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic(topic, partitions, 1).expect("create topic");
    c
}

pub fn consumer_settings(c: &Cluster, group: &str) -> ConsumerSettings {
    ConsumerSettings::new(&c.bootstrap_servers(), group)
        .with_property("auto.offset.reset", "earliest")
        .with_property("session.timeout.ms", "6000")
        .with_stop_timeout(Duration::from_secs(5))
}

pub fn producer_settings(c: &Cluster) -> ProducerSettings {
    ProducerSettings::new(&c.bootstrap_servers()).with_property("linger.ms", "1")
}

/// The committed next-offsets of `group` for `topic`'s partitions.
pub fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(5))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(rdkafka::Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}

/// Writes the numbers `0..n` to `topic`, keyed by themselves.
pub async fn produce(c: &Cluster, topic: &str, n: u32) {
    let topic = topic.to_owned();
    Source::range(0u32, n - 1)
        .map(move |i| ProducerRecord::new(topic.clone(), i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(producer_settings(c)))
        .await
        .unwrap();
}

/// A committable source of `subscription` whose records pass one per permit of the returned
/// semaphore (none pass without one), committed by a committer with `settings`.
pub fn gated_committer(
    settings: ConsumerSettings,
    subscription: weir::kafka::Subscription,
    permits: usize,
    committer: weir::kafka::CommitterSettings,
) -> (
    std::sync::Arc<tokio::sync::Semaphore>,
    weir::kafka::Control,
    weir::Completion<()>,
) {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(permits));
    let permits = gate.clone();
    let (control, done) = weir::kafka::Consumer::committable_source(settings, subscription)
        .map_async(1, move |m| {
            let permits = permits.clone();
            async move {
                permits.acquire().await.unwrap().forget();
                m.offset
            }
        })
        .to_mat(weir::kafka::Committer::sink(committer), Keep::both)
        .run();
    (gate, control, done)
}

/// The first `n` numbers on `topic` (values are decimal numbers), read by `settings`, sorted.
pub async fn read_numbers(settings: ConsumerSettings, topic: &str, n: u32) -> Vec<u32> {
    let (control, out) =
        weir::kafka::Consumer::plain_source(settings, weir::kafka::Subscription::topics([topic]))
            .take(u64::from(n))
            .map(|r| r.value_str().unwrap().parse::<u32>().unwrap())
            .to_mat(Sink::seq(), Keep::both)
            .run();
    let mut out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the records arrive")
        .unwrap();
    control.shutdown().await;
    out.sort();
    out
}

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

#![cfg(feature = "kafka")]
//! The consumer keeps every partition flowing over a long read on Apache Kafka: a stream that
//! stalls gets its partitions paused, and once it reads again every partition resumes and is
//! read to its end, in order, with nothing lost or repeated (issue 16).

mod support;

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::ClientConfig;
use support::apache_kafka::{create_topic, produce_numbers, unique, until, ApacheKafka};
use weir::kafka::{Consumer, ConsumerSettings, Subscription, TopicPartition};
use weir::prelude::*;

const PARTITIONS: i32 = 4;
const N: u32 = 100_000;

fn high_watermarks(bootstrap: &str, topic: &str) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_long_read_pauses_then_reads_every_partition_to_its_end_in_order() {
    let b = ApacheKafka::shared();
    let topic = unique("flow");
    create_topic(b, &topic, PARTITIONS).await;
    produce_numbers(b, &topic, N).await;
    let ends = high_watermarks(b, &topic);
    assert_eq!(ends.iter().sum::<i64>(), i64::from(N));
    assert!(ends.iter().all(|&e| e > 0), "every partition holds records");

    // The stream reads nothing until `open` is set: its buffer of 100 fills and stays full.
    let (open, opened) = tokio::sync::watch::channel(false);
    let settings = ConsumerSettings::new(b, &unique("flow-g"))
        .with_property("auto.offset.reset", "earliest")
        .with_buffer_size(100);
    let subscription = Subscription::assignment_with_offsets(
        (0..PARTITIONS).map(|p| (TopicPartition::new(topic.clone(), p), 0)),
    );
    let (control, done) = Consumer::plain_source(settings, subscription)
        .map_async(1, move |r| {
            let mut opened = opened.clone();
            async move {
                opened.wait_for(|&o| o).await.unwrap();
                (r.partition, r.offset)
            }
        })
        .take(u64::from(N))
        .to_mat(Sink::seq(), Keep::both)
        .run();

    until("the stalled consumer pauses its partitions", 60, || {
        control.metrics().paused.len() == PARTITIONS as usize
    })
    .await;
    let stalled = control.metrics();
    assert!(
        stalled.buffered <= 100 + 256,
        "buffered {}",
        stalled.buffered
    );
    open.send(true).unwrap();

    let read = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("the read finishes")
        .unwrap();
    control.shutdown().await;
    let mut per_partition = vec![Vec::new(); PARTITIONS as usize];
    for (p, o) in read {
        per_partition[p as usize].push(o);
    }
    for (p, offsets) in per_partition.iter().enumerate() {
        assert_eq!(
            *offsets,
            (0..ends[p]).collect::<Vec<i64>>(),
            "partition {p}: every offset once, in order"
        );
    }
}

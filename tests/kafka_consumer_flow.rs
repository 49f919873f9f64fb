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

/// librdkafka keeps an application's pause on a partition through a revoke and a later
/// assignment (Java's consumer forgets it), so a consumer whose partitions were paused when a
/// rebalance took them must not leave them paused when it is given partitions again: here a
/// stalled, paused consumer loses its partitions to a second member joining the group and gets
/// half of them back; both must then read their partitions to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_revoked_while_paused_are_read_when_assigned_again() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    const RECORDS: u32 = 4_000;
    let b = ApacheKafka::shared();
    let topic = unique("flow-rebalance");
    create_topic(b, &topic, PARTITIONS).await;
    produce_numbers(b, &topic, RECORDS).await;
    let group = unique("flow-rebalance-g");
    let settings = || {
        ConsumerSettings::new(b, &group)
            .with_property("auto.offset.reset", "earliest")
            .with_property("heartbeat.interval.ms", "200")
            .with_buffer_size(10)
    };
    let seen = Arc::new(Mutex::new(HashSet::<(i32, i64)>::new()));

    // The first member reads nothing until `open` is set: its buffer fills and its partitions
    // are paused.
    let (open, opened) = tokio::sync::watch::channel(false);
    let first_seen = seen.clone();
    let (first, first_done) =
        Consumer::plain_source(settings(), Subscription::topics([topic.as_str()]))
            .map_async(1, move |r| {
                let mut opened = opened.clone();
                let seen = first_seen.clone();
                async move {
                    opened.wait_for(|&o| o).await.unwrap();
                    seen.lock().unwrap().insert((r.partition, r.offset));
                }
            })
            .to_mat(Sink::ignore(), Keep::both)
            .run();
    until("the stalled member pauses its four partitions", 60, || {
        first.metrics().paused.len() == PARTITIONS as usize
    })
    .await;

    // A second member joins: the group revokes the paused partitions and splits them.
    let second_seen = seen.clone();
    let (second, second_done) =
        Consumer::plain_source(settings(), Subscription::topics([topic.as_str()]))
            .map(move |r| {
                second_seen.lock().unwrap().insert((r.partition, r.offset));
            })
            .to_mat(Sink::ignore(), Keep::both)
            .run();
    until("the group splits the partitions", 60, || {
        first.metrics().assigned.len() == 2 && second.metrics().assigned.len() == 2
    })
    .await;
    open.send(true).unwrap();

    // Neither member commits: each reads its two partitions from the start.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < RECORDS as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {RECORDS} records read; the first member has {:?}, paused {:?}",
            seen.lock().unwrap().len(),
            first.metrics().assigned,
            first.metrics().paused
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.shutdown().await;
    second.shutdown().await;
    for done in [first_done, second_done] {
        tokio::time::timeout(Duration::from_secs(30), done)
            .await
            .expect("the member completes once shut down")
            .unwrap();
    }
}

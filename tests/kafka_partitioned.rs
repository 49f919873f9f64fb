#![cfg(feature = "kafka")]

mod support;

use std::time::Duration;

use support::kafka::{cluster, committed, consumer_settings, produce, producer_settings};
use weir::kafka::{
    Committer, CommitterSettings, Consumer, Producer, ProducerRecord, Subscription, TopicPartition,
};
use weir::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_gets_a_substream_in_offset_order() {
    let c = cluster("parts", 4);
    produce(&c, "parts", 400).await;
    let (control, got) = Consumer::plain_partitioned_source(
        consumer_settings(&c, "p-g"),
        Subscription::topics(["parts"]),
    )
    .flat_map_merge(
        4,
        |(tp, records): (TopicPartition, Source<weir::kafka::ConsumerRecord>)| {
            records.map(move |r| {
                assert_eq!(
                    r.partition, tp.partition,
                    "a record in another partition's substream"
                );
                (r.partition, r.offset)
            })
        },
    )
    .take(400)
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    for p in 0..4 {
        let offsets: Vec<i64> = got
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    assert_eq!(got.len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_substream_does_not_hold_up_the_others() {
    let c = cluster("idle", 2);
    produce(&c, "idle", 4000).await;
    // Partition 0's substream is never read; partition 1's is read to the end.
    let settings = consumer_settings(&c, "idle-g").with_buffer_size(50);
    let assignment = Subscription::assignment((0..2).map(|p| TopicPartition::new("idle", p)));
    let (control, got) = Consumer::plain_partitioned_source(settings, assignment)
        .filter(|(tp, _)| tp.partition == 1)
        .flat_map_concat(|(_, records)| records)
        .map(|r| r.offset)
        .take_while(|o| *o < 1500)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    let got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, (0..1500).collect::<Vec<_>>());
    // Partition 0 was paused with its buffer full: memory stays bounded.
    assert!(
        control.metrics().buffered <= 2 * 50 + 256,
        "buffered {}",
        control.metrics().buffered
    );
    control.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committable_substreams_commit_per_partition() {
    let c = cluster("cparts", 3);
    produce(&c, "cparts", 300).await;
    let settings = CommitterSettings::default().with_max_interval(Duration::from_millis(50));
    let (control, done) = Consumer::committable_partitioned_source(
        consumer_settings(&c, "cp-g"),
        Subscription::topics(["cparts"]),
    )
    .flat_map_merge(3, |(_, records)| records)
    .take(300)
    .map(|m| m.offset)
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(
        committed(&c.bootstrap_servers(), "cp-g", "cparts", 3)
            .iter()
            .sum::<i64>(),
        300
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manual_offset_source_starts_where_the_user_says() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let c = cluster("manual", 2);
    Source::range(0u32, 199)
        .map(|i| ProducerRecord::new("manual", i.to_string()).with_partition((i % 2) as i32))
        .run_with(Producer::plain_sink(producer_settings(&c)))
        .await
        .unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = asked.clone();
    let offsets_on_assign = move |tps: &[TopicPartition]| {
        a.lock().unwrap().extend(tps.iter().cloned());
        tps.iter()
            .map(|tp| (tp.clone(), if tp.partition == 0 { 10 } else { 20 }))
            .collect::<HashMap<_, _>>()
    };
    let (control, got) = Consumer::plain_partitioned_manual_offset_source(
        consumer_settings(&c, "manual-g"),
        Subscription::topics(["manual"]),
        offsets_on_assign,
        |_| {},
    )
    .flat_map_merge(2, |(_, records)| records)
    .map(|r| (r.partition, r.offset))
    .take(160)
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    let first = |p: i32| {
        got.iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .min()
            .unwrap()
    };
    assert_eq!((first(0), first(1)), (10, 20));
    assert_eq!(got.len(), 160);
    assert_eq!(asked.lock().unwrap().len(), 2);
}

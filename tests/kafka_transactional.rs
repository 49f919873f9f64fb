#![cfg(feature = "kafka")]
//! The transactional flow on the mock cluster.
//!
//! What the mock cluster can show is tested here: records go out in transactions, results come
//! back in order, the stream completes with a final commit, and a failure aborts and surfaces
//! the original error without hanging. The end-to-end exactly-once check (output read with
//! read_committed after a failure and a restart) cannot run here: librdkafka 2.12's mock
//! cluster accepts `TxnOffsetCommit` without storing the offsets and hands aborted records to
//! read_committed readers, and Tansu does not support transaction aborts.

mod support;

use std::time::Duration;

use support::kafka::{cluster, consumer_settings, producer_settings, read_numbers};
use weir::kafka::{Envelope, Producer, ProducerRecord, Results, Subscription, Transactional};
use weir::prelude::*;

const N: u32 = 500;

async fn fill(c: &support::kafka::Cluster) {
    c.create_topic("tx-out", 2, 1).unwrap();
    Source::range(0u32, N - 1)
        .map(|i| ProducerRecord::new("tx-in", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(producer_settings(c)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_pipeline_produces_every_record_and_completes() {
    let c = cluster("tx-in", 2);
    fill(&c).await;
    let (control, results) =
        Transactional::source(consumer_settings(&c, "tx"), Subscription::topics(["tx-in"]))
            .take(u64::from(N))
            .map(|m| {
                let v = m.record.value_str().unwrap().to_owned();
                Envelope::Message(ProducerRecord::new("tx-out", v), m.offset)
            })
            .via(Transactional::flow(
                producer_settings(&c),
                "tx-1",
                Duration::from_millis(50),
            ))
            .to_mat(Sink::seq(), Keep::both)
            .run();
    let results = tokio::time::timeout(Duration::from_secs(60), results)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(results.len(), N as usize);
    // Results keep the order of their offsets within each partition.
    for p in 0..2 {
        let offsets: Vec<i64> = results
            .iter()
            .map(Results::pass_through)
            .filter(|o| o.partition().partition == p)
            .map(|o| o.offset())
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p} out of order"
        );
    }
    let out = read_numbers(consumer_settings(&c, "reader"), "tx-out", N).await;
    assert_eq!(out, (0..N).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_aborts_and_fails_the_stream_with_its_cause() {
    let c = cluster("tx-in", 2);
    fill(&c).await;
    let (control, done) =
        Transactional::source(consumer_settings(&c, "tx"), Subscription::topics(["tx-in"]))
            .zip_with_index()
            .map(|(m, i)| {
                assert!(i < 100, "injected failure");
                let v = m.record.value_str().unwrap().to_owned();
                Envelope::Message(ProducerRecord::new("tx-out", v), m.offset)
            })
            .to_mat(
                Transactional::sink(producer_settings(&c), "tx-2", Duration::from_millis(50)),
                Keep::both,
            )
            .run();
    let err = tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .unwrap()
        .unwrap_err();
    match err {
        StreamError::Panicked { stage, message } => {
            assert_eq!(stage, "map");
            assert!(message.contains("injected failure"));
        }
        other => panic!("unexpected {other}"),
    }
    // The consumer thread waits up to 30 s for a commit in flight to let go of the client
    // before it closes it; under load the aborted transaction's commit can take that long.
    tokio::time::timeout(Duration::from_secs(60), control.shutdown())
        .await
        .unwrap();
}

/// A transaction stream per partition: each partition's substream runs through its own
/// transactional flow (its own transactional id), and every record comes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partitioned_transactional_source_runs_a_transaction_stream_per_partition() {
    let c = cluster("tx-in", 2);
    fill(&c).await;
    let producer = producer_settings(&c);
    let per_partition = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = per_partition.clone();
    let (control, done) = Transactional::partitioned_source(
        consumer_settings(&c, "ptx"),
        Subscription::topics(["tx-in"]),
    )
    .map_async_unordered(2, move |(tp, records)| {
        let producer = producer.clone();
        let seen = seen.clone();
        async move {
            let id = format!("ptx-{}-{}", tp.topic, tp.partition);
            let results = records
                .map(|m| {
                    let v = m.record.value_str().unwrap().to_owned();
                    Envelope::Message(ProducerRecord::new("tx-out", v), m.offset)
                })
                .via(Transactional::flow(
                    producer,
                    &id,
                    Duration::from_millis(50),
                ))
                .map(|r| r.into_pass_through().offset())
                .run_with(Sink::seq());
            let offsets = results.await.unwrap();
            seen.lock().unwrap().push((tp.partition, offsets));
        }
    })
    .to_mat(Sink::ignore(), Keep::both)
    .run();
    // Both partitions' substreams run until stopped; meanwhile their output is committed.
    let out = read_numbers(
        consumer_settings(&c, "ptx-reader").with_property("isolation.level", "read_committed"),
        "tx-out",
        N,
    )
    .await;
    assert_eq!(out, (0..N).collect::<Vec<_>>(), "every record once");
    // Stopping completes the substreams; each flow commits and finishes.
    control.stop();
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    let mut seen = per_partition.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 2);
    let total: usize = seen.iter().map(|(_, o)| o.len()).sum();
    assert_eq!(total, N as usize);
    for (p, offsets) in &seen {
        assert!(
            offsets.windows(2).all(|w| w[0] + 1 == w[1]),
            "partition {p}: offsets in order, none missing"
        );
    }
}

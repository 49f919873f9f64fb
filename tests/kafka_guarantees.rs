#![cfg(feature = "kafka")]
//! Delivery guarantees under faults, with counts, on the mock cluster.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::eventually;
use support::kafka::{cluster, committed, consumer_settings, producer_settings};
use weir::kafka::{
    Committer, CommitterSettings, Consumer, Control, Producer, ProducerRecord, Subscription,
};
use weir::prelude::*;

const N: u32 = 100_000;
const PARTITIONS: i32 = 8;

type Seen = Arc<Mutex<HashSet<(i32, i64)>>>;

fn run_consumer(c: &support::kafka::Cluster, seen: &Seen) -> Control {
    let seen = seen.clone();
    let settings = CommitterSettings::default()
        .with_max_batch(500)
        .with_max_interval(Duration::from_millis(50));
    let (control, _done) =
        Consumer::committable_source(consumer_settings(c, "alo"), Subscription::topics(["alo"]))
            .map_async_unordered(8, move |m| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .insert((m.record.partition, m.record.offset));
                    m.offset
                }
            })
            .to_mat(Committer::sink(settings), Keep::both)
            .run();
    control
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_through_a_kill_a_restart_and_a_rebalance() {
    let c = cluster("alo", PARTITIONS);
    Source::range(0u32, N - 1)
        .map(|i| ProducerRecord::new("alo", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(
            producer_settings(&c).with_parallelism(1000),
        ))
        .await
        .unwrap();
    let seen: Seen = Arc::new(Mutex::new(HashSet::new()));

    // A consumer is killed mid-stream: shut down abruptly, with records in flight.
    let first = run_consumer(&c, &seen);
    eventually("a third of the records", || {
        seen.lock().unwrap().len() as u32 >= N / 3
    })
    .await;
    first.shutdown().await;
    // After shutdown the killed consumer commits nothing more: snapshot what it processed, then
    // read what it committed.
    let seen_at_kill = seen.lock().unwrap().clone();
    let after_kill = committed(&c.bootstrap_servers(), "alo", "alo", PARTITIONS);

    // A restart, and a second member joining mid-stream: a rebalance.
    let second = run_consumer(&c, &seen);
    eventually("two thirds of the records", || {
        seen.lock().unwrap().len() as u32 >= 2 * N / 3
    })
    .await;
    let third = run_consumer(&c, &seen);
    eventually("every record", || seen.lock().unwrap().len() as u32 == N).await;

    // Commits catch up with what was processed.
    let sizes: Vec<i64> = {
        let seen = seen.lock().unwrap();
        (0..PARTITIONS)
            .map(|p| {
                seen.iter()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, o)| o + 1)
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    };
    assert_eq!(sizes.iter().sum::<i64>(), i64::from(N));
    eventually("all offsets committed", || {
        committed(&c.bootstrap_servers(), "alo", "alo", PARTITIONS) == sizes
    })
    .await;
    // Every record was processed at least once: each partition's offsets are gap-free.
    {
        let seen = seen.lock().unwrap();
        for p in 0..PARTITIONS {
            let count = seen.iter().filter(|(q, _)| *q == p).count() as i64;
            assert_eq!(count, sizes[p as usize], "partition {p} has a gap");
        }
    }
    // Commits were never ahead of processing: what the killed consumer committed, it had
    // processed by the time it was shut down.
    assert!(
        after_kill.iter().any(|&o| o > 0),
        "the killed consumer committed nothing"
    );
    for (p, &next) in after_kill.iter().enumerate() {
        for o in 0..next.max(0) {
            assert!(
                seen_at_kill.contains(&(p as i32, o)),
                "offset {o} of partition {p} committed before it was processed"
            );
        }
    }
    second.shutdown().await;
    third.shutdown().await;
}

#![cfg(feature = "kafka")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::eventually;
use support::kafka::{cluster, committed, consumer_settings, gated_committer, produce};
use weir::kafka::{
    BrokersUnreachable, Committer, CommitterSettings, Consumer, DrainingControl, Subscription,
};
use weir::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_and_shutdown_commits_everything_processed() {
    let c = cluster("drain", 2);
    produce(&c, "drain", 100).await;
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    // A long interval: only draining makes the last batch commit.
    let settings = CommitterSettings::default().with_max_interval(Duration::from_secs(60));
    let control = Consumer::committable_source(
        consumer_settings(&c, "drain-g"),
        Subscription::topics(["drain"]),
    )
    .map(move |m| {
        s.fetch_add(1, Ordering::SeqCst);
        m.offset
    })
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    let control = DrainingControl::from_pair(control);
    eventually("all records seen", || seen.load(Ordering::SeqCst) == 100).await;
    tokio::time::timeout(Duration::from_secs(20), control.drain_and_shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        committed(&c.bootstrap_servers(), "drain-g", "drain", 2)
            .iter()
            .sum::<i64>(),
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_commits_before_emitting() {
    let c = cluster("amo", 1);
    produce(&c, "amo", 5).await;
    let bootstrap = c.bootstrap_servers();
    let (control, checks) = Consumer::at_most_once_source(
        consumer_settings(&c, "amo-g"),
        Subscription::topics(["amo"]),
    )
    .take(5)
    .map(move |r| {
        // By the time a record is emitted, its offset is committed.
        let next = committed(&bootstrap, "amo-g", "amo", 1)[0];
        (r.offset, next)
    })
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let checks = tokio::time::timeout(Duration::from_secs(60), checks)
        .await
        .unwrap()
        .unwrap();
    for (offset, next) in &checks {
        assert!(
            *next > *offset,
            "record {offset} emitted with committed next-offset {next}"
        );
    }
    assert_eq!(checks.len(), 5);
    control.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_keeps_at_least_once_and_never_commits_ahead() {
    let c = cluster("revoke", 4);
    produce(&c, "revoke", 400).await;
    let processed = Arc::new(std::sync::Mutex::new(Vec::<(i32, i64)>::new()));
    let record = |p: &Arc<std::sync::Mutex<Vec<(i32, i64)>>>| {
        let p = p.clone();
        move |m: weir::kafka::CommittableMessage| {
            p.lock()
                .unwrap()
                .push((m.record.partition, m.record.offset));
            m.offset
        }
    };
    // The first consumer processes some records; its commits are held back in an open batch.
    let held = CommitterSettings::default()
        .with_max_batch(100_000)
        .with_max_interval(Duration::from_secs(600));
    let (first, _) = Consumer::committable_source(
        consumer_settings(&c, "rev-g"),
        Subscription::topics(["revoke"]),
    )
    .map(record(&processed))
    .to_mat(Committer::sink(held), Keep::both)
    .run();
    eventually("the first consumer read everything", || {
        processed.lock().unwrap().len() == 400
    })
    .await;
    // A second consumer joins and commits promptly: the group rebalances.
    let prompt = CommitterSettings::default().with_max_interval(Duration::from_millis(50));
    let (second, _) = Consumer::committable_source(
        consumer_settings(&c, "rev-g"),
        Subscription::topics(["revoke"]),
    )
    .map(record(&processed))
    .to_mat(Committer::sink(prompt), Keep::both)
    .run();
    eventually("the second consumer is assigned", || {
        !second.metrics().assigned.is_empty()
    })
    .await;
    let owned = second.metrics().assigned;
    // Every record of the second consumer's partitions is committed: by the revoke commit on a
    // real broker, or after the second consumer re-read them on the mock cluster.
    // Records per partition (keys hash unevenly), from what the first consumer read.
    let sizes: Vec<i64> = {
        let seen = processed.lock().unwrap();
        (0..4)
            .map(|p| {
                seen.iter()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, o)| o + 1)
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    };
    assert_eq!(sizes.iter().sum::<i64>(), 400);
    // Every record of the second consumer's partitions ends up committed: by the revoke commit
    // on a real broker, or after the second consumer re-read them on the mock cluster.
    eventually("the moved partitions are committed", || {
        let committed = committed(&c.bootstrap_servers(), "rev-g", "revoke", 4);
        owned
            .iter()
            .all(|tp| committed[tp.partition as usize] == sizes[tp.partition as usize])
    })
    .await;
    // At least once: every record processed; never a commit ahead of what was processed.
    let seen = processed.lock().unwrap().clone();
    let committed = committed(&c.bootstrap_servers(), "rev-g", "revoke", 4);
    for p in 0..4i32 {
        let mut offsets: Vec<i64> = seen
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        offsets.sort();
        offsets.dedup();
        assert_eq!(
            offsets,
            (0..sizes[p as usize]).collect::<Vec<_>>(),
            "partition {p} lost records"
        );
        assert!(committed[p as usize] <= sizes[p as usize]);
    }
    second.shutdown().await;
    first.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_fail_the_source_with_a_typed_error() {
    let c = cluster("down", 1);
    produce(&c, "down", 1).await;
    let settings =
        consumer_settings(&c, "down-g").with_connection_timeout(Some(Duration::from_secs(2)));
    let (_control, done) = Consumer::plain_source(settings, Subscription::topics(["down"]))
        .to_mat(Sink::ignore(), Keep::both)
        .run();
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.broker_down(1).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        err.downcast_ref::<BrokersUnreachable>().is_some(),
        "unexpected error {err}"
    );
}

/// The source's failure needs no demand: a `map_async` whose every slot waits forever still
/// fails with `BrokersUnreachable` once the brokers go away (as an Alpakka stream would),
/// rather than hanging until a future finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_fail_a_stream_that_is_not_pulling() {
    let c = cluster("stuck", 1);
    produce(&c, "stuck", 10).await;
    let settings =
        consumer_settings(&c, "stuck-g").with_connection_timeout(Some(Duration::from_secs(2)));
    let (_control, done) = Consumer::plain_source(settings, Subscription::topics(["stuck"]))
        .map_async(2, |r| async move {
            std::future::pending::<()>().await;
            r
        })
        .to_mat(Sink::ignore(), Keep::both)
        .run();
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.broker_down(1).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .expect("the stream fails although map_async is saturated")
        .unwrap_err();
    assert!(
        err.downcast_ref::<BrokersUnreachable>().is_some(),
        "unexpected error {err}"
    );
}

/// `metrics()` reports librdkafka's statistics: the raw document, and the group's lag per
/// partition, which follows the commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_the_lag_behind_the_committed_offsets() {
    let c = cluster("lag", 1);
    produce(&c, "lag", 200).await;
    let settings = CommitterSettings::default()
        .with_max_batch(10)
        .with_max_interval(Duration::from_millis(50));
    let (gate, control, _done) = gated_committer(
        consumer_settings(&c, "lag-g").with_statistics_interval(Duration::from_millis(100)),
        Subscription::assignment([weir::kafka::TopicPartition::new("lag", 0)]),
        50,
        settings,
    );
    let tp = weir::kafka::TopicPartition::new("lag", 0);
    // 50 records processed and committed: 150 behind.
    eventually("a lag of 150", || {
        control.metrics().lag == vec![(tp.clone(), 150)]
    })
    .await;
    let stats = control.metrics().statistics.expect("statistics");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["type"], "consumer");
    assert_eq!(stats["topics"]["lag"]["partitions"]["0"]["hi_offset"], 200);
    gate.add_permits(1000);
    eventually("no lag", || control.metrics().lag == vec![(tp.clone(), 0)]).await;
    control.shutdown().await;
    // Without the setting, there is nothing to report.
    let (plain, done) = Consumer::plain_source(
        consumer_settings(&c, "lag-h"),
        Subscription::assignment([tp.clone()]),
    )
    .take(10)
    .to_mat(Sink::ignore(), Keep::both)
    .run();
    done.await.unwrap();
    assert_eq!(plain.metrics().statistics, None);
    assert!(plain.metrics().lag.is_empty());
    plain.shutdown().await;
}

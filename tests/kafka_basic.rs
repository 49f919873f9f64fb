#![cfg(feature = "kafka")]

mod support;

use std::time::Duration;

use support::kafka::{cluster, committed, consumer_settings, produce};
use weir::kafka::{Committer, CommitterSettings, Consumer, Subscription};
use weir::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_consume_plain() {
    let c = cluster("plain", 3);
    produce(&c, "plain", 300).await;
    let (control, got) =
        Consumer::plain_source(consumer_settings(&c, "g1"), Subscription::topics(["plain"]))
            .take(300)
            .map(|r| r.value_str().unwrap().parse::<u32>().unwrap())
            .to_mat(Sink::seq(), Keep::both)
            .run();
    let mut got = tokio::time::timeout(Duration::from_secs(30), got)
        .await
        .unwrap()
        .unwrap();
    got.sort();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    tokio::time::timeout(Duration::from_secs(10), control.is_shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committable_source_commits_every_processed_offset() {
    let c = cluster("commit", 2);
    produce(&c, "commit", 200).await;
    let settings = CommitterSettings::default()
        .with_max_batch(50)
        .with_max_interval(Duration::from_millis(100));
    let (control, done) = Consumer::committable_source(
        consumer_settings(&c, "g2"),
        Subscription::topics(["commit"]),
    )
    .take(200)
    .map(|m| m.offset)
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), control.shutdown())
        .await
        .unwrap();
    let offsets = committed(&c.bootstrap_servers(), "g2", "commit", 2);
    assert_eq!(
        offsets.iter().sum::<i64>(),
        200,
        "committed next-offsets {offsets:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_processing_never_commits_past_an_unprocessed_record() {
    let c = cluster("reorder", 1);
    produce(&c, "reorder", 20).await;
    // Offset 0 takes far longer than the rest, so later offsets reach the committer first.
    let settings = CommitterSettings::default()
        .with_max_batch(1)
        .with_max_interval(Duration::from_millis(10));
    let (control, batches) = Consumer::committable_source(
        consumer_settings(&c, "g3"),
        Subscription::topics(["reorder"]),
    )
    .take(20)
    .map_async_unordered(20, |m| async move {
        if m.record.offset == 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        m.offset
    })
    .via(Committer::flow(settings))
    .take(19)
    .to_mat(Sink::seq(), Keep::both)
    .run();
    // 19 batches (offsets 1..=19) are acknowledged before offset 0 is processed.
    tokio::time::timeout(Duration::from_secs(30), batches)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        committed(&c.bootstrap_servers(), "g3", "reorder", 1),
        vec![-1],
        "nothing may be committed past offset 0"
    );
    control.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_context_pairs_records_with_their_offsets() {
    let c = cluster("ctx", 1);
    produce(&c, "ctx", 20).await;
    let settings = CommitterSettings::default().with_max_interval(Duration::from_millis(50));
    let (control, done) = Consumer::source_with_offset_context(
        consumer_settings(&c, "ctx-g"),
        Subscription::topics(["ctx"]),
    )
    .as_source()
    .take(20)
    .map(|(record, offset)| {
        assert_eq!(record.offset, offset.offset());
        offset
    })
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(
        committed(&c.bootstrap_servers(), "ctx-g", "ctx", 1),
        vec![20]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_forget_commits_everything_before_completing() {
    let c = cluster("saf", 2);
    produce(&c, "saf", 200).await;
    let settings = CommitterSettings::default()
        .with_max_batch(10)
        .with_delivery(weir::kafka::CommitDelivery::SendAndForget);
    let (control, done) = Consumer::committable_source(
        consumer_settings(&c, "saf-g"),
        Subscription::topics(["saf"]),
    )
    .take(200)
    .map(|m| m.offset)
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(
        committed(&c.bootstrap_servers(), "saf-g", "saf", 2)
            .iter()
            .sum::<i64>(),
        200
    );
}

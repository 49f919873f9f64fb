#![cfg(feature = "kafka")]
//! Fault injection on the mock cluster: request errors on produce, fetch and commit, and added
//! latency. Each test counts what came out.

mod support;

use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::kafka::{cluster, committed, consumer_settings, produce};
use weir::kafka::{Committer, CommitterSettings, Consumer, Subscription};
use weir::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_produce_errors_lose_nothing() {
    let c = cluster("perr", 2);
    // The next produce requests fail with retriable errors; librdkafka retries them.
    c.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ],
    );
    produce(&c, "perr", 300).await;
    let (control, got) = Consumer::plain_source(
        consumer_settings(&c, "perr-g"),
        Subscription::topics(["perr"]),
    )
    .take(300)
    .map(|r| r.value_str().unwrap().parse::<u32>().unwrap())
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let mut got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    got.sort();
    got.dedup();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_fetch_errors_and_latency_still_deliver_everything() {
    let c = cluster("ferr", 2);
    produce(&c, "ferr", 300).await;
    c.broker_round_trip_time(1, Duration::from_millis(50))
        .unwrap();
    c.request_errors(
        RDKafkaApiKey::Fetch,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let (control, got) = Consumer::plain_source(
        consumer_settings(&c, "ferr-g"),
        Subscription::topics(["ferr"]),
    )
    .take(300)
    .map(|r| r.value_str().unwrap().parse::<u32>().unwrap())
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let mut got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    got.sort();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_commit_errors_are_retried_until_the_offsets_are_committed() {
    let c = cluster("cerr", 1);
    produce(&c, "cerr", 100).await;
    // The first commits fail with retriable errors: the committer retries them.
    c.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let settings = CommitterSettings::default()
        .with_max_batch(25)
        .with_max_interval(Duration::from_millis(50));
    let (control, done) = Consumer::committable_source(
        consumer_settings(&c, "cerr-g"),
        Subscription::topics(["cerr"]),
    )
    .take(100)
    .map(|m| m.offset)
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(
        committed(&c.bootstrap_servers(), "cerr-g", "cerr", 1),
        vec![100]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retriable_commit_error_fails_the_stream_with_a_kafka_error() {
    let c = cluster("cfatal", 1);
    produce(&c, "cfatal", 10).await;
    c.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED; 3],
    );
    let settings = CommitterSettings::default().with_max_interval(Duration::from_millis(50));
    let (control, done) = Consumer::committable_source(
        consumer_settings(&c, "cfatal-g"),
        Subscription::topics(["cfatal"]),
    )
    .take(10)
    .map(|m| m.offset)
    .to_mat(Committer::sink(settings), Keep::both)
    .run();
    let err = tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .unwrap()
        .unwrap_err();
    let k = err
        .downcast_ref::<weir::kafka::KafkaError>()
        .expect("a KafkaError");
    assert!(!k.retriable);
    control.shutdown().await;
}

/// Regression: a shutdown while a commit was in flight left the committing thread holding the
/// last reference to the client; closing it there ran the revoke callback, which waited for the
/// commit lock that thread held, and the commit, the committer and the runtime hung for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_a_slow_commit_closes_cleanly() {
    let c = cluster("slowc", 1);
    produce(&c, "slowc", 10).await;
    let (gate, control, done) = support::kafka::gated_committer(
        consumer_settings(&c, "slowc-g"),
        Subscription::topics(["slowc"]),
        5,
        CommitterSettings::default().with_max_batch(1),
    );
    support::eventually("five offsets committed", || {
        committed(&c.bootstrap_servers(), "slowc-g", "slowc", 1) == vec![5]
    })
    .await;
    // Every request now takes a second and a half: the sixth record's commit is in flight
    // when the consumer shuts down.
    c.broker_round_trip_time(1, Duration::from_millis(1500))
        .unwrap();
    gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(60), control.shutdown())
        .await
        .expect("the consumer shuts down");
    // The record still held in `map_async` goes on; its commit may fail (the consumer is
    // closed), but the stream ends either way.
    gate.add_permits(100);
    let _ = tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .expect("the committer finishes instead of hanging on the commit lock");
}

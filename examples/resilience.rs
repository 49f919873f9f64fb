//! A Kafka consumer kept alive through a broker outage by `RestartSource`, and stopped by a kill
//! switch, on librdkafka's in-process mock cluster (nothing to install):
//!
//! ```sh
//! cargo run --features kafka --example resilience
//! ```
//!
//! The pipeline reads, processes and commits. The broker goes down for a few seconds: the
//! consumer fails with `BrokersUnreachable` after its connection timeout, `RestartSource` starts
//! it again with backoff (each attempt fails until the broker is back), and the new consumer
//! resumes from the committed offsets. Then the kill switch ends the stream.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Producer, ProducerRecord,
    ProducerSettings, Subscription,
};
use weir::prelude::*;
use weir::{KillSwitch, KillSwitches, RestartSettings, RestartSource};

async fn produce(brokers: &str, from: u32, to: u32) {
    Source::range(from, to - 1)
        .map(|i| ProducerRecord::new("events", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(ProducerSettings::new(brokers)))
        .await
        .expect("the records are written");
}

#[tokio::main]
async fn main() {
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("events", 2, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, 0, 1000).await;

    let (processed, runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU32::new(0)));
    let (p, r, b) = (processed.clone(), runs.clone(), brokers.clone());
    let backoff = RestartSettings::new(Duration::from_millis(200), Duration::from_secs(2), 0.2);
    let pipeline = RestartSource::on_failures_with_backoff(backoff, move || {
        let run = r.fetch_add(1, Ordering::SeqCst) + 1;
        println!("consumer run {run} starting");
        let p = p.clone();
        let settings = ConsumerSettings::new(&b, "resilience")
            .with_property("auto.offset.reset", "earliest")
            .with_property("session.timeout.ms", "6000")
            .with_connection_timeout(Some(Duration::from_secs(1)));
        Consumer::committable_source(settings, Subscription::topics(["events"]))
            .map(move |m| {
                p.fetch_add(1, Ordering::Relaxed);
                m.offset
            })
            .via(Committer::flow(
                CommitterSettings::default().with_max_interval(Duration::from_millis(100)),
            ))
    });
    let (switch, done) = pipeline
        .via_mat(KillSwitches::single(), Keep::right)
        .to_mat(Sink::ignore(), Keep::both)
        .run();

    let reached = |n: u64| {
        let processed = processed.clone();
        async move {
            while processed.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reached(1000))
        .await
        .expect("the first 1000 records are processed");
    println!(
        "processed {} records; the broker goes down",
        processed.load(Ordering::Relaxed)
    );
    cluster.broker_down(1).expect("broker down");
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.broker_up(1).expect("broker up");
    println!("the broker is back; 1000 more records");
    produce(&brokers, 1000, 2000).await;
    tokio::time::timeout(Duration::from_secs(60), reached(2000))
        .await
        .expect("the restarted consumer reads the new records");
    // Let the last commits land.
    tokio::time::sleep(Duration::from_millis(300)).await;

    switch.shutdown();
    done.await.expect("the kill switch completes the stream");
    let (n, runs) = (
        processed.load(Ordering::Relaxed),
        runs.load(Ordering::SeqCst),
    );
    println!("stopped by the kill switch: {n} records processed (at least once) in {runs} runs");
    assert!(n >= 2000 && runs >= 2, "{n} records in {runs} runs");
}

#![cfg(feature = "kafka")]
//! End to end against a real Kafka-compatible broker (Tansu), started by the test.

mod support;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use support::kafka::committed;
use support::tansu::Tansu;
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Producer, ProducerRecord,
    ProducerSettings, Subscription,
};
use weir::prelude::*;

async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let topics = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

fn consumer(brokers: &str, group: &str) -> ConsumerSettings {
    ConsumerSettings::new(brokers, group)
        .with_property("auto.offset.reset", "earliest")
        .with_stop_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_with_a_group_and_commit_on_a_real_broker() {
    let tansu = Tansu::start();
    let b = tansu.brokers.clone();
    create_topic(&b, "e2e", 3).await;
    let producer = ProducerSettings::new(&b).with_property("enable.idempotence", "true");
    Source::range(0u32, 999)
        .map(|i| ProducerRecord::new("e2e", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(producer))
        .await
        .unwrap();
    let settings = CommitterSettings::default().with_max_interval(Duration::from_millis(100));
    let (control, done) =
        Consumer::committable_source(consumer(&b, "e2e-g"), Subscription::topics(["e2e"]))
            .take(1000)
            .map(|m| m.offset)
            .to_mat(Committer::sink(settings), Keep::both)
            .run();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(committed(&b, "e2e-g", "e2e", 3).iter().sum::<i64>(), 1000);
    // A new member of the group starts after the committed offsets: nothing is replayed.
    let (control, got) =
        Consumer::plain_source(consumer(&b, "e2e-g"), Subscription::topics(["e2e"]))
            .take(1)
            .to_mat(Sink::seq(), Keep::both)
            .run();
    assert!(
        tokio::time::timeout(Duration::from_secs(8), got)
            .await
            .is_err(),
        "records were replayed"
    );
    control.shutdown().await;
}

/// Runs a Python snippet with the `confluent-kafka` client (installed by scripts/test).
fn python(script: &str) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 is needed for the interoperability test");
    assert!(
        out.status.success(),
        "python failed (is confluent-kafka installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_client_reads_what_weir_wrote_and_the_other_way_round() {
    let tansu = Tansu::start();
    let b = tansu.brokers.clone();
    create_topic(&b, "to-python", 1).await;
    create_topic(&b, "from-python", 1).await;
    Source::range(0u32, 9)
        .map(|i| ProducerRecord::new("to-python", format!("weir-{i}")).with_key(i.to_string()))
        .run_with(Producer::plain_sink(ProducerSettings::new(&b)))
        .await
        .unwrap();
    let read = python(&format!(
        r#"
from confluent_kafka import Consumer, Producer
c = Consumer({{"bootstrap.servers": "{b}", "group.id": "py", "auto.offset.reset": "earliest"}})
c.subscribe(["to-python"])
got = []
while len(got) < 10:
    m = c.poll(10.0)
    if m is None:
        break
    if m.error() is None:
        got.append(m.value().decode())
c.close()
print(",".join(got))
p = Producer({{"bootstrap.servers": "{b}"}})
for i in range(10):
    p.produce("from-python", value=f"py-{{i}}")
p.flush(30)
"#
    ));
    assert_eq!(
        read.trim(),
        (0..10)
            .map(|i| format!("weir-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (control, got) = Consumer::plain_source(
        consumer(&b, "weir-reads-py"),
        Subscription::topics(["from-python"]),
    )
    .take(10)
    .map(|r| r.value_str().unwrap().to_owned())
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, (0..10).map(|i| format!("py-{i}")).collect::<Vec<_>>());
    control.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_offsets_of_revoked_partitions_are_committed_on_revoke() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let tansu = Tansu::start();
    let b = tansu.brokers.clone();
    create_topic(&b, "revoke", 4).await;
    Source::range(0u32, 399)
        .map(|i| ProducerRecord::new("revoke", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(ProducerSettings::new(&b)))
        .await
        .unwrap();
    let counter = |n: &Arc<AtomicUsize>| {
        let n = n.clone();
        move |m: weir::kafka::CommittableMessage| {
            n.fetch_add(1, Ordering::SeqCst);
            m.offset
        }
    };
    // The first consumer's committer never flushes during the test: only a revoke commits.
    let held = CommitterSettings::default()
        .with_max_batch(100_000)
        .with_max_interval(Duration::from_secs(600));
    let first_seen = Arc::new(AtomicUsize::new(0));
    let (first, _) =
        Consumer::committable_source(consumer(&b, "rev"), Subscription::topics(["revoke"]))
            .map(counter(&first_seen))
            .to_mat(Committer::sink(held.clone()), Keep::both)
            .run();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while first_seen.load(Ordering::SeqCst) < 400 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first consumer did not read everything"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(committed(&b, "rev", "revoke", 4), vec![-1; 4]);
    let second_seen = Arc::new(AtomicUsize::new(0));
    let (second, _) =
        Consumer::committable_source(consumer(&b, "rev"), Subscription::topics(["revoke"]))
            .map(counter(&second_seen))
            .to_mat(Committer::sink(held), Keep::both)
            .run();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while second.metrics().assigned.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the second consumer got no partitions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The revoke committed what the first consumer processed: nothing is read twice.
    assert_eq!(
        second_seen.load(Ordering::SeqCst),
        0,
        "records were replayed after the rebalance"
    );
    assert!(committed(&b, "rev", "revoke", 4).iter().sum::<i64>() > 0);
    second.shutdown().await;
    first.shutdown().await;
}

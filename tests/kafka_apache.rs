#![cfg(feature = "kafka")]
//! Plain and committable consumers, the producer and a third-party client against the suite's
//! Apache Kafka broker (`support::apache_kafka`).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::apache_kafka::{create_topic, unique, until, ApacheKafka};
use support::kafka::committed;
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Producer, ProducerRecord,
    ProducerSettings, Subscription,
};
use weir::prelude::*;

fn consumer(brokers: &str, group: &str) -> ConsumerSettings {
    ConsumerSettings::new(brokers, group)
        .with_property("auto.offset.reset", "earliest")
        .with_stop_timeout(Duration::from_secs(5))
}

/// Writes `values` to `topic`; with `partition`, all to that partition.
async fn produce(brokers: &str, topic: &str, values: Vec<String>, partition: Option<i32>) {
    let topic = topic.to_owned();
    Source::from_iter(values)
        .map(move |v| {
            let r = ProducerRecord::new(topic.clone(), v.clone()).with_key(v);
            match partition {
                Some(p) => r.with_partition(p),
                None => r,
            }
        })
        .run_with(Producer::plain_sink(
            ProducerSettings::new(brokers).with_property("enable.idempotence", "true"),
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_with_a_group_and_commit() {
    let b = ApacheKafka::shared();
    let (topic, group) = (unique("e2e"), unique("e2e-g"));
    create_topic(b, &topic, 3).await;
    produce(b, &topic, (0..1000).map(|i| i.to_string()).collect(), None).await;
    let settings = CommitterSettings::default().with_max_interval(Duration::from_millis(100));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let (control, done) =
        Consumer::committable_source(consumer(b, &group), Subscription::topics([topic.as_str()]))
            .take(1000)
            .map(move |m| {
                let v: u32 = m.record.value_str().unwrap().parse().unwrap();
                sink.lock()
                    .unwrap()
                    .push((m.offset.partition().partition, v));
                m.offset
            })
            .to_mat(Committer::sink(settings), Keep::both)
            .run();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    let mut values: Vec<u32> = seen.lock().unwrap().iter().map(|&(_, v)| v).collect();
    values.sort();
    assert_eq!(values, (0..1000).collect::<Vec<_>>(), "every record once");
    // The producer wrote in order, so each partition's records come in increasing order.
    for p in 0..3 {
        let of_p: Vec<u32> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|&&(q, _)| q == p)
            .map(|&(_, v)| v)
            .collect();
        assert!(of_p.windows(2).all(|w| w[0] < w[1]), "partition {p} order");
    }
    assert_eq!(committed(b, &group, &topic, 3).iter().sum::<i64>(), 1000);
    // A new member of the group starts after the committed offsets: the first record it reads
    // from each partition is one written after the commit (a replayed one would come first).
    for p in 0..3 {
        produce(b, &topic, vec![format!("after-{p}")], Some(p)).await;
    }
    let (control, got) =
        Consumer::plain_source(consumer(b, &group), Subscription::topics([topic.as_str()]))
            .take(3)
            .map(|r| r.value_str().unwrap().to_owned())
            .to_mat(Sink::seq(), Keep::both)
            .run();
    let mut got = tokio::time::timeout(Duration::from_secs(60), got)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    got.sort();
    assert_eq!(
        got,
        ["after-0", "after-1", "after-2"],
        "records were replayed"
    );
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
    let b = ApacheKafka::shared();
    let (to_python, from_python) = (unique("to-python"), unique("from-python"));
    create_topic(b, &to_python, 1).await;
    create_topic(b, &from_python, 1).await;
    produce(
        b,
        &to_python,
        (0..10).map(|i| format!("weir-{i}")).collect(),
        None,
    )
    .await;
    let group = unique("py");
    let read = python(&format!(
        r#"
from confluent_kafka import Consumer, Producer
c = Consumer({{"bootstrap.servers": "{b}", "group.id": "{group}", "auto.offset.reset": "earliest"}})
c.subscribe(["{to_python}"])
got = []
while len(got) < 10:
    m = c.poll(30.0)
    if m is None:
        break
    if m.error() is None:
        got.append(m.value().decode())
c.close()
print(",".join(got))
p = Producer({{"bootstrap.servers": "{b}"}})
for i in range(10):
    p.produce("{from_python}", value=f"py-{{i}}")
assert p.flush(30) == 0
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
        consumer(b, &unique("weir-reads-py")),
        Subscription::topics([from_python.as_str()]),
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
    let b = ApacheKafka::shared();
    let (topic, group) = (unique("revoke"), unique("rev"));
    create_topic(b, &topic, 4).await;
    for p in 0..4 {
        produce(
            b,
            &topic,
            (0..100).map(|i| format!("{p}-{i}")).collect(),
            Some(p),
        )
        .await;
    }
    let recorder = |seen: &Arc<Mutex<Vec<String>>>, n: &Arc<AtomicUsize>| {
        let (seen, n) = (seen.clone(), n.clone());
        move |m: weir::kafka::CommittableMessage| {
            seen.lock()
                .unwrap()
                .push(m.record.value_str().unwrap().to_owned());
            n.fetch_add(1, Ordering::SeqCst);
            m.offset
        }
    };
    // Neither committer flushes during the test: only a revoke commits.
    let held = CommitterSettings::default()
        .with_max_batch(100_000)
        .with_max_interval(Duration::from_secs(600));
    let (first_seen, first_n) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(AtomicUsize::new(0)),
    );
    let (first, _) =
        Consumer::committable_source(consumer(b, &group), Subscription::topics([topic.as_str()]))
            .map(recorder(&first_seen, &first_n))
            .to_mat(Committer::sink(held.clone()), Keep::both)
            .run();
    until("the first consumer reads everything", 60, || {
        first_n.load(Ordering::SeqCst) == 400
    })
    .await;
    assert_eq!(committed(b, &group, &topic, 4), vec![-1; 4]);
    let (second_seen, second_n) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(AtomicUsize::new(0)),
    );
    let (second, _) =
        Consumer::committable_source(consumer(b, &group), Subscription::topics([topic.as_str()]))
            .map(recorder(&second_seen, &second_n))
            .to_mat(Committer::sink(held), Keep::both)
            .run();
    until("the partitions split between the consumers", 60, || {
        let (one, two) = (first.metrics().assigned, second.metrics().assigned);
        !one.is_empty() && !two.is_empty() && one.len() + two.len() == 4
    })
    .await;
    // The revoke committed what the first consumer processed, up to the end of each partition.
    assert_eq!(committed(b, &group, &topic, 4), vec![100; 4]);
    // One more record per partition: whoever owns a partition now reads that record, and
    // nothing before it (a replayed record would come first).
    for p in 0..4 {
        produce(b, &topic, vec![format!("after-{p}")], Some(p)).await;
    }
    until("the new records are read", 60, || {
        first_n.load(Ordering::SeqCst) + second_n.load(Ordering::SeqCst) >= 404
    })
    .await;
    let mut second_got = second_seen.lock().unwrap().clone();
    second_got.sort();
    let mut expected: Vec<String> = second
        .metrics()
        .assigned
        .iter()
        .map(|tp| format!("after-{}", tp.partition))
        .collect();
    expected.sort();
    assert_eq!(
        second_got, expected,
        "records were replayed after the rebalance"
    );
    second.shutdown().await;
    first.shutdown().await;
}

#![cfg(feature = "kafka")]
//! The metadata client, offsets-for-times subscriptions, commits with metadata and the
//! committable manual-offset source, on the suite's Apache Kafka broker
//! (`support::apache_kafka`).

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::apache_kafka::{create_topic, unique, until, ApacheKafka};
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Control, MetadataClient,
    OffsetAndMetadata, Producer, ProducerRecord, ProducerSettings, Subscription, TopicPartition,
};
use weir::prelude::*;
use weir::StreamError;

const TIMEOUT: Duration = Duration::from_secs(10);

fn consumer(brokers: &str, group: &str) -> ConsumerSettings {
    ConsumerSettings::new(brokers, group)
        .with_property("auto.offset.reset", "earliest")
        .with_stop_timeout(Duration::from_secs(5))
}

fn committer() -> CommitterSettings {
    CommitterSettings::default().with_max_interval(Duration::from_millis(100))
}

/// Writes `(partition, value, timestamp)` records to `topic`, in order.
async fn produce(brokers: &str, topic: &str, records: Vec<(i32, String, Option<i64>)>) {
    let topic = topic.to_owned();
    Source::from_iter(records)
        .map(move |(p, v, ts)| {
            let mut r = ProducerRecord::new(topic.clone(), v).with_partition(p);
            r.timestamp = ts;
            r
        })
        .run_with(Producer::plain_sink(
            ProducerSettings::new(brokers).with_property("enable.idempotence", "true"),
        ))
        .await
        .unwrap();
}

/// Ten minutes ago, to the second: far enough back for any broker clock skew, well within
/// the retention.
fn base_time() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_secs() as i64 - 600) * 1000
}

/// Waits (a minute at most) for a stream's result, then shuts its consumer down.
async fn finish<T>(control: Control, done: impl Future<Output = Result<T, StreamError>>) -> T {
    let result = tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the stream ends within a minute")
        .expect("the stream succeeds");
    control.shutdown().await;
    result
}

fn tps(topic: &str, partitions: i32) -> Vec<TopicPartition> {
    (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_client_lists_topics_partitions_and_watermarks() {
    let b = ApacheKafka::shared();
    let (topic, group) = (unique("meta"), unique("meta-g"));
    create_topic(b, &topic, 3).await;
    let records = (0..5)
        .map(|i| (0, format!("a{i}"), None))
        .chain((0..7).map(|i| (1, format!("b{i}"), None)))
        .collect();
    produce(b, &topic, records).await;
    let client = MetadataClient::new(&consumer(b, &group), TIMEOUT).unwrap();
    // Clones share the client.
    let shared = client.clone();

    let topics = shared.list_topics().await.unwrap();
    let listed = &topics[&topic];
    assert_eq!(
        listed.iter().map(|p| p.partition).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(listed
        .iter()
        .all(|p| p.leader >= 0 && p.replicas.len() == 1));
    assert_eq!(client.get_partitions_for(&topic).await.unwrap(), *listed);
    let unknown = client
        .get_partitions_for(&unique("no-such-topic"))
        .await
        .unwrap_err();
    assert_eq!(unknown.operation, "get partitions");

    let partitions = tps(&topic, 3);
    let begin = client.get_beginning_offsets(&partitions).await.unwrap();
    let end = client.get_end_offsets(&partitions).await.unwrap();
    for (p, expected) in [(0, 5), (1, 7), (2, 0)] {
        let tp = TopicPartition::new(&topic, p);
        assert_eq!(begin[&tp], 0, "{tp:?}");
        assert_eq!(end[&tp], expected, "{tp:?}");
    }
    let committed = client.get_committed_offsets(&partitions).await.unwrap();
    assert_eq!(committed.len(), 3);
    assert!(committed.values().all(Option::is_none), "{committed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_client_fails_within_its_timeout_without_brokers() {
    let client = MetadataClient::from_bootstrap("127.0.0.1:9", Duration::from_secs(1)).unwrap();
    let started = std::time::Instant::now();
    let e = client.list_topics().await.unwrap_err();
    assert_eq!(e.operation, "list topics");
    assert!(e.retriable, "a timeout can be retried: {e}");
    let e = client
        .get_end_offsets(&[TopicPartition::new("t", 0)])
        .await
        .unwrap_err();
    assert_eq!(e.operation, "get end offsets");
    assert!(started.elapsed() < Duration::from_secs(10));
    // No group in its settings: its own committed offsets are a typed error, not a hang.
    let e = client
        .get_committed_offsets(&[TopicPartition::new("t", 0)])
        .await
        .unwrap_err();
    assert_eq!(e.operation, "get committed offsets");
}

/// Partition 0 and 1 of a new topic each hold ten records, one a second from `base_time()`.
async fn timed_topic(b: &str, name: &str) -> (String, i64) {
    let topic = unique(name);
    create_topic(b, &topic, 2).await;
    let base = base_time();
    let records = (0..2)
        .flat_map(|p| (0..10).map(move |i| (p, format!("{p}:{i}"), Some(base + i * 1000))))
        .collect();
    produce(b, &topic, records).await;
    (topic, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_client_finds_offsets_for_times() {
    let b = ApacheKafka::shared();
    let (topic, base) = timed_topic(b, "times").await;
    let client = MetadataClient::from_bootstrap(b, TIMEOUT).unwrap();
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    for (at, expected) in [
        (base - 5000, Some(0)),
        (base, Some(0)),
        (base + 1, Some(1)),
        (base + 3500, Some(4)),
        (base + 9000, Some(9)),
        (base + 9001, None),
    ] {
        let found = client
            .get_offsets_for_times(&[(p0.clone(), at), (p1.clone(), base + 2000)])
            .await
            .unwrap();
        assert_eq!(found[&p0], expected, "time base{:+}", at - base);
        assert_eq!(found[&p1], Some(2));
    }
    let negative = client
        .get_offsets_for_times(&[(p0.clone(), -5)])
        .await
        .unwrap_err();
    assert_eq!(negative.operation, "get offsets for times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_offsets_for_times_starts_at_the_first_record_at_or_after_the_time() {
    let b = ApacheKafka::shared();
    let (topic, base) = timed_topic(b, "from-time").await;
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    // Partition 0 from its fifth record (offset 4 at base+4000); partition 1 past its last
    // record, so from its end.
    let subscription = Subscription::assignment_offsets_for_times([
        (p0.clone(), base + 3500),
        (p1.clone(), base + 60_000),
    ]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let (control, done) = Consumer::plain_source(consumer(b, &unique("ft-g")), subscription)
        .map(move |r| {
            sink.lock()
                .unwrap()
                .push((r.partition, r.offset, r.timestamp))
        })
        .to_mat(Sink::ignore(), Keep::both)
        .run();
    let p0_read = || seen.lock().unwrap().iter().filter(|r| r.0 == 0).count();
    until("partition 0 is read from offset 4", 60, || p0_read() == 6).await;
    // Partition 1 starts at its end, wherever the consumer found it: records written now
    // reach it, the ten older ones never do.
    let p1_read = || seen.lock().unwrap().iter().any(|r| r.0 == 1);
    for _ in 0..300 {
        if p1_read() {
            break;
        }
        produce(b, &topic, vec![(1, "new".into(), None)]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        p1_read(),
        "a record written after the start reaches partition 1's reader"
    );
    control.shutdown().await;
    done.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let of = |p: i32| -> Vec<(i64, Option<i64>)> {
        seen.iter()
            .filter(|r| r.0 == p)
            .map(|r| (r.1, r.2))
            .collect()
    };
    assert_eq!(
        of(0),
        (4..10)
            .map(|o| (o, Some(base + o * 1000)))
            .collect::<Vec<_>>()
    );
    assert!(
        of(1).iter().all(|&(offset, _)| offset >= 10),
        "none of partition 1's old records: {:?}",
        of(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_source_with_offsets_for_times() {
    let b = ApacheKafka::shared();
    let (topic, base) = timed_topic(b, "part-time").await;
    let subscription = Subscription::assignment_offsets_for_times([
        (TopicPartition::new(&topic, 0), base + 7000),
        (TopicPartition::new(&topic, 1), base - 1000),
    ]);
    let (control, got) =
        Consumer::plain_partitioned_source(consumer(b, &unique("pt-g")), subscription)
            .flat_map_merge(2, |(_, records)| records)
            .map(|r| (r.partition, r.offset))
            .take(13)
            .to_mat(Sink::seq(), Keep::both)
            .run();
    let mut got = finish(control, got).await;
    got.sort();
    let expected: Vec<(i32, i64)> = (7..10)
        .map(|o| (0, o))
        .chain((0..10).map(|o| (1, o)))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_of_an_unknown_partition_fail_the_source() {
    let b = ApacheKafka::shared();
    let (topic, base) = timed_topic(b, "bad-time").await;
    let settings =
        consumer(b, &unique("bt-g")).with_offset_for_times_timeout(Duration::from_secs(2));
    let subscription =
        Subscription::assignment_offsets_for_times([(TopicPartition::new(&topic, 7), base)]);
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        Consumer::plain_source(settings, subscription).run_with(Sink::seq()),
    )
    .await
    .expect("the source fails rather than hangs");
    let e = result.unwrap_err();
    assert!(e.to_string().contains("offsets for times"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_with_metadata_source_stores_each_commits_metadata() {
    let b = ApacheKafka::shared();
    let (topic, group) = (unique("commit-meta"), unique("commit-meta-g"));
    create_topic(b, &topic, 2).await;
    let records = (0..100).map(|i| (i % 2, format!("v{i}"), None)).collect();
    produce(b, &topic, records).await;
    let last = Arc::new(Mutex::new(HashMap::new()));
    let seen = last.clone();
    let settings = consumer(b, &group);
    let (control, done) = Consumer::commit_with_metadata_source(
        settings.clone(),
        Subscription::topics([topic.as_str()]),
        |r| format!("{}@{}", r.value_str().unwrap_or(""), r.offset),
    )
    .take(100)
    .map(move |m| {
        assert_eq!(
            m.offset.metadata(),
            Some(format!("{}@{}", m.record.value_str().unwrap(), m.record.offset).as_str())
        );
        seen.lock()
            .unwrap()
            .insert(m.record.partition, m.offset.metadata().unwrap().to_owned());
        m.offset
    })
    .to_mat(Committer::sink(committer()), Keep::both)
    .run();
    finish(control, done).await;
    let client = MetadataClient::new(&settings, TIMEOUT).unwrap();
    let committed = client.get_committed_offsets(&tps(&topic, 2)).await.unwrap();
    let last = last.lock().unwrap().clone();
    for p in 0..2 {
        assert_eq!(
            committed[&TopicPartition::new(&topic, p)],
            Some(OffsetAndMetadata {
                offset: 50,
                metadata: last[&p].clone(),
            }),
        );
    }
    assert_eq!(last[&0], "v98@49");
    // Another group's view of the same commits, through a client of a different group.
    let other = MetadataClient::new(&consumer(b, &unique("other-g")), TIMEOUT).unwrap();
    let same = other
        .get_committed_offsets_of(&group, &tps(&topic, 2))
        .await
        .unwrap();
    assert_eq!(same, committed);
    let own = other.get_committed_offsets(&tps(&topic, 2)).await.unwrap();
    assert!(own.values().all(Option::is_none), "{own:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committable_partitioned_manual_offset_source_starts_where_told_and_commits() {
    let b = ApacheKafka::shared();
    let (topic, group) = (unique("manual-commit"), unique("manual-commit-g"));
    create_topic(b, &topic, 2).await;
    let records = (0..100).map(|i| (i % 2, i.to_string(), None)).collect();
    produce(b, &topic, records).await;
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let on_revoke = {
        let revoked = revoked.clone();
        move |tps: &[TopicPartition]| revoked.lock().unwrap().extend_from_slice(tps)
    };
    let start = p0.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    // Partition 0 from offset 20; partition 1 from its committed offset (none: earliest).
    let (control, done) = Consumer::committable_partitioned_manual_offset_source(
        consumer(b, &group),
        Subscription::topics([topic.as_str()]),
        move |_| HashMap::from([(start.clone(), 20)]),
        on_revoke,
    )
    .flat_map_merge(2, |(_, messages)| messages)
    .take(80)
    .map(move |m| {
        sink.lock()
            .unwrap()
            .push((m.record.partition, m.record.offset));
        m.offset
    })
    .to_mat(Committer::sink(committer()), Keep::both)
    .run();
    finish(control, done).await;
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let expected: Vec<(i32, i64)> = (20..50)
        .map(|o| (0, o))
        .chain((0..50).map(|o| (1, o)))
        .collect();
    assert_eq!(seen, expected);
    let client = MetadataClient::new(&consumer(b, &group), TIMEOUT).unwrap();
    let committed = client
        .get_committed_offsets(&[p0.clone(), p1.clone()])
        .await
        .unwrap();
    for tp in [&p0, &p1] {
        assert_eq!(committed[tp].as_ref().map(|c| c.offset), Some(50), "{tp:?}");
    }
    let mut revoked = revoked.lock().unwrap().clone();
    revoked.sort();
    assert_eq!(
        revoked,
        vec![p0, p1],
        "closing the consumer revokes its partitions"
    );
}

// Current-thread: when the map has seen a record, the committer has taken its offset too.
#[tokio::test]
async fn commit_on_revoke_stores_the_metadata_too() {
    let b = ApacheKafka::shared();
    let (topic, group) = (unique("revoke-meta"), unique("revoke-meta-g"));
    create_topic(b, &topic, 1).await;
    produce(
        b,
        &topic,
        (0..30).map(|i| (0, format!("v{i}"), None)).collect(),
    )
    .await;
    let settings = consumer(b, &group);
    let seen = Arc::new(Mutex::new(0));
    let count = seen.clone();
    // The committer never commits by itself: only the revoke commits.
    let never = CommitterSettings::default()
        .with_max_batch(1_000_000)
        .with_max_interval(Duration::from_secs(3600));
    let (control, _done) = Consumer::commit_with_metadata_source(
        settings.clone(),
        Subscription::topics([topic.as_str()]),
        |r| format!("at {}", r.offset),
    )
    .map(move |m| {
        *count.lock().unwrap() += 1;
        m.offset
    })
    .to_mat(Committer::sink(never), Keep::both)
    .run();
    until("30 records read", 60, || *seen.lock().unwrap() == 30).await;
    // A second member joins: the rebalance revokes the partition from the first one.
    let (second, _) =
        Consumer::plain_source(settings.clone(), Subscription::topics([topic.as_str()]))
            .to_mat(Sink::ignore(), Keep::both)
            .run();
    let client = MetadataClient::new(&settings, TIMEOUT).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    let mut committed = None;
    for _ in 0..600 {
        committed = client.get_committed_offsets(&tps(&topic, 1)).await.unwrap()[&tp].clone();
        if committed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        committed,
        Some(OffsetAndMetadata {
            offset: 30,
            metadata: "at 29".into(),
        })
    );
    second.shutdown().await;
    control.shutdown().await;
}

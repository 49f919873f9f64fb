#![cfg(feature = "kafka")]
//! Offsets carried as a context (`Consumer::source_with_offset_context`): records the stream
//! filters out still have their offsets committed, so the committer's contiguous tracking never
//! stalls on them (issue 9's filter trap).

mod support;

use std::time::Duration;

use support::apache_kafka::{
    create_topic, produce_numbers, read_all, unique, until, ApacheKafka, CommittedOffsets,
};
use support::kafka::{cluster, committed, consumer_settings, produce};
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Envelope, Producer, ProducerRecord,
    ProducerSettings, Subscription,
};
use weir::prelude::*;

const N: u32 = 100_000;
const PARTITIONS: i32 = 4;

/// 99 % of 100 000 records filtered out on Apache Kafka: the kept 1 % is produced, and the
/// group's committed offsets still reach the end of every partition (whose last records are
/// filtered ones: they are committed by the committer's interval alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtering_99_percent_still_commits_every_offset() {
    let b = ApacheKafka::shared();
    let (input, output, group) = (unique("ctx-in"), unique("ctx-out"), unique("ctx-g"));
    create_topic(b, &input, PARTITIONS).await;
    create_topic(b, &output, PARTITIONS).await;
    produce_numbers(b, &input, N).await;
    let settings = ConsumerSettings::new(b, &group)
        .with_property("auto.offset.reset", "earliest")
        .with_stop_timeout(Duration::from_secs(5));
    let out = output.clone();
    let (control, done) =
        Consumer::source_with_offset_context(settings, Subscription::topics([input.as_str()]))
            .filter_map(|r| {
                let n: u32 = r.value_str()?.parse().ok()?;
                (n % 100 == 0).then_some(n)
            })
            .map(move |n| Envelope::Message(ProducerRecord::new(out.clone(), n.to_string()), ()))
            .via(Producer::flow_with_context(ProducerSettings::new(b)))
            .to_mat(
                Committer::sink_with_offset_context(
                    CommitterSettings::default().with_max_interval(Duration::from_millis(200)),
                ),
                Keep::both,
            )
            .run();
    let offsets = CommittedOffsets::new(b, &group, &input, PARTITIONS);
    until("every offset committed", 120, || {
        offsets.total() == i64::from(N)
    })
    .await;
    control.drain_and_shutdown(done).await.unwrap();
    let mut written: Vec<u32> = read_all(b, &output, PARTITIONS, false)
        .await
        .into_iter()
        .flatten()
        .map(|v| v.parse().unwrap())
        .collect();
    written.sort_unstable();
    assert_eq!(written, (0..N).step_by(100).collect::<Vec<_>>());
}

/// On the mock cluster: a `map_concat` that expands some records to several (each with the
/// record's offset) and others to none; every offset is committed exactly up to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expanded_and_emptied_records_commit_their_offsets() {
    let c = cluster("expand", 2);
    produce(&c, "expand", 1000).await;
    let (control, done) = Consumer::source_with_offset_context(
        consumer_settings(&c, "expand-g"),
        Subscription::topics(["expand"]),
    )
    .map_concat(|r| {
        let n: usize = r.value_str().unwrap().parse().unwrap();
        vec![n; n % 3]
    })
    .to_mat(
        Committer::sink_with_offset_context(
            CommitterSettings::default().with_max_interval(Duration::from_millis(50)),
        ),
        Keep::both,
    )
    .run();
    let bootstrap = c.bootstrap_servers();
    until("every offset committed", 60, || {
        let got = tokio::task::block_in_place(|| committed(&bootstrap, "expand-g", "expand", 2));
        got.iter().sum::<i64>() == 1000
    })
    .await;
    control.drain_and_shutdown(done).await.unwrap();
}

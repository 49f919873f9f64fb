#![cfg(feature = "kafka")]
//! At-least-once consume → produce → commit (`Consumer::committable_source`,
//! `Producer::flexi_flow`, `Committer`) on Apache Kafka, across broker restarts and a consumer
//! killed mid-stream: nothing is lost, and the group's committed offsets are never ahead of
//! the records whose output was acknowledged.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::apache_kafka::{
    create_topic, produce_numbers, read_all, unique, until, ApacheKafka, CommittedOffsets, Worker,
};
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Control, Envelope, Producer,
    ProducerRecord, ProducerSettings, Results, Subscription,
};
use weir::prelude::*;

const PARTITIONS: i32 = 4;

/// Per partition, which input offsets have their output acknowledged.
type Acked = Arc<Mutex<Vec<Vec<bool>>>>;

struct Names {
    bootstrap: String,
    input: String,
    output: String,
    group: String,
}

impl Names {
    async fn new(bootstrap: &str, n: u32) -> Names {
        let names = Names {
            bootstrap: bootstrap.to_owned(),
            input: unique("alo-in"),
            output: unique("alo-out"),
            group: unique("alo"),
        };
        create_topic(bootstrap, &names.input, PARTITIONS).await;
        create_topic(bootstrap, &names.output, PARTITIONS).await;
        produce_numbers(bootstrap, &names.input, n).await;
        names
    }

    fn offsets(&self) -> CommittedOffsets {
        CommittedOffsets::new(&self.bootstrap, &self.group, &self.input, PARTITIONS)
    }
}

/// One run: every input is copied to `output` (same partition, value prefixed with `who`), and
/// its offset is committed once the copy is acknowledged.
fn pipeline(
    names: &Names,
    who: &'static str,
    acked: Option<Acked>,
) -> (Control, tokio::task::JoinHandle<Result<(), StreamError>>) {
    let consumer = ConsumerSettings::new(&names.bootstrap, &names.group)
        .with_property("auto.offset.reset", "earliest")
        .with_property("session.timeout.ms", "6000")
        .with_property("heartbeat.interval.ms", "500")
        .with_stop_timeout(Duration::from_secs(5));
    let producer = ProducerSettings::new(&names.bootstrap)
        .with_property("linger.ms", "5")
        .with_property("enable.idempotence", "true")
        // A broker that is away fails the stream within 20 s rather than five minutes.
        .with_property("message.timeout.ms", "20000");
    let committer = CommitterSettings::default().with_max_interval(Duration::from_millis(100));
    let output = names.output.clone();
    let (control, done) =
        Consumer::committable_source(consumer, Subscription::topics([names.input.as_str()]))
            .map(move |m| {
                let record = ProducerRecord::new(
                    output.clone(),
                    format!("{who}:{}", m.record.value_str().unwrap()),
                )
                .with_partition(m.record.partition);
                Envelope::Message(record, m.offset)
            })
            .via(Producer::flexi_flow(producer))
            .map(move |r: Results<_>| {
                let offset = r.into_pass_through();
                if let Some(acked) = &acked {
                    let (p, o) = (offset.partition().partition, offset.offset());
                    acked.lock().unwrap()[p as usize][o as usize] = true;
                }
                offset
            })
            .to_mat(Committer::sink(committer), Keep::both)
            .run();
    (control, tokio::spawn(done))
}

/// Checks that, per partition, every input offset below `committed` has an output copy made
/// by `who` (or by anyone, for `None`), and that every input has one; returns the number of
/// duplicate copies.
fn check_copies(
    input: &[Vec<String>],
    output: &[Vec<String>],
    committed: &[i64],
    who: Option<&str>,
) -> usize {
    let mut duplicates = 0;
    for p in 0..PARTITIONS as usize {
        let mut copies = std::collections::HashMap::<&str, Vec<&str>>::new();
        for v in &output[p] {
            let (by, value) = v.split_once(':').unwrap();
            copies.entry(value).or_default().push(by);
        }
        duplicates += copies.values().map(|c| c.len() - 1).sum::<usize>();
        for (o, value) in input[p].iter().enumerate() {
            let by = copies.get(value.as_str());
            assert!(by.is_some(), "partition {p}: input at offset {o} lost");
            if (o as i64) < committed[p] {
                if let Some(who) = who {
                    assert!(
                        by.unwrap().contains(&who),
                        "partition {p}: offset {o} committed before {who} copied it"
                    );
                }
            }
        }
    }
    duplicates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_across_broker_restarts_with_commits_never_ahead() {
    const N: u32 = 50_000;
    let mut broker = ApacheKafka::start();
    let names = Names::new(broker.bootstrap(), N).await;
    let offsets = names.offsets();
    let acked: Acked = Arc::new(Mutex::new(vec![
        vec![false; N as usize];
        PARTITIONS as usize
    ]));
    // Samples the committed offsets while the pipeline runs: each must be covered by
    // acknowledged copies (read after the offsets, so a later acknowledgement cannot hide one).
    let sampler = {
        let offsets = names.offsets();
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut samples = 0u64;
            loop {
                if let Some(committed) = offsets.get() {
                    let acked = acked.lock().unwrap();
                    for (p, &c) in committed.iter().enumerate() {
                        let c = c.max(0) as usize;
                        assert!(
                            acked[p][..c].iter().all(|&a| a),
                            "partition {p}: committed {c} ahead of the acknowledged copies"
                        );
                    }
                    samples += 1;
                    if committed.iter().sum::<i64>() == i64::from(N) {
                        return samples;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let (mut control, mut done) = pipeline(&names, "run", Some(acked.clone()));
    until("a quarter committed", 300, || {
        offsets.total() >= i64::from(N / 4)
    })
    .await;
    broker.stop();
    broker.start_again();
    until("half committed", 300, || {
        offsets.total() >= i64::from(N / 2) || done.is_finished()
    })
    .await;
    broker.kill();
    broker.start_again();
    let mut restarts = 0;
    loop {
        until("every offset committed", 300, || {
            offsets.total() == i64::from(N) || done.is_finished()
        })
        .await;
        if !done.is_finished() {
            break;
        }
        let err = done
            .await
            .unwrap()
            .expect_err("the run ended before the end");
        control.shutdown().await;
        restarts += 1;
        assert!(restarts <= 3, "the pipeline keeps failing: {err}");
        (control, done) = pipeline(&names, "run", Some(acked.clone()));
    }
    let samples = tokio::time::timeout(Duration::from_secs(60), sampler)
        .await
        .expect("the sampler sees the end")
        .unwrap();
    control.stop();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the run drains")
        .unwrap()
        .expect("the run completes");
    control.shutdown().await;
    let input = read_all(broker.bootstrap(), &names.input, PARTITIONS, false).await;
    let output = read_all(broker.bootstrap(), &names.output, PARTITIONS, false).await;
    let committed = offsets.get().unwrap();
    assert_eq!(
        committed,
        input.iter().map(|p| p.len() as i64).collect::<Vec<_>>()
    );
    let duplicates = check_copies(&input, &output, &committed, None);
    eprintln!(
        "broker restarts: {restarts} pipeline restarts, {samples} commit samples, \
         {duplicates} duplicate copies"
    );
}

const WORKER: &str = "WEIR_TEST_AT_LEAST_ONCE_WORKER";

/// The consumer of `at_least_once_when_a_consumer_is_killed_mid_stream`, in a process of its
/// own so that the test can kill it (SIGKILL). Run by that test only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by at_least_once_when_a_consumer_is_killed_mid_stream"]
async fn at_least_once_worker() {
    let config = std::env::var(WORKER).expect("run by at_least_once_when_a_consumer_is_killed");
    let [bootstrap, input, output, group]: [&str; 4] =
        config.split(' ').collect::<Vec<_>>().try_into().unwrap();
    let names = Names {
        bootstrap: bootstrap.to_owned(),
        input: input.to_owned(),
        output: output.to_owned(),
        group: group.to_owned(),
    };
    let (_control, done) = pipeline(&names, "killed", None);
    done.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_when_a_consumer_is_killed_mid_stream() {
    const N: u32 = 50_000;
    let b = ApacheKafka::shared();
    let names = Names::new(b, N).await;
    let offsets = names.offsets();
    let mut worker = Worker::spawn(
        "at_least_once_worker",
        WORKER,
        format!("{b} {} {} {}", names.input, names.output, names.group),
    );
    until("the worker commits", 120, || {
        offsets.get().is_some_and(|c| c.iter().all(|&o| o > 0))
    })
    .await;
    worker.kill();
    let at_kill = offsets.get().expect("committed offsets");
    assert!(
        at_kill.iter().sum::<i64>() < i64::from(N),
        "everything was copied before the kill"
    );
    // A new consumer of the group takes over (once the killed one's session expires).
    let (control, done) = pipeline(&names, "next", None);
    until("every offset committed", 300, || {
        offsets.total() == i64::from(N) || done.is_finished()
    })
    .await;
    assert!(!done.is_finished(), "{:?}", done.await);
    control.stop();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the run drains")
        .unwrap()
        .expect("the run completes");
    control.shutdown().await;
    let input = read_all(b, &names.input, PARTITIONS, false).await;
    let output = read_all(b, &names.output, PARTITIONS, false).await;
    assert_eq!(
        offsets.get().unwrap(),
        input.iter().map(|p| p.len() as i64).collect::<Vec<_>>()
    );
    // What the killed consumer had committed, it had copied.
    let duplicates = check_copies(&input, &output, &at_kill, Some("killed"));
    eprintln!(
        "consumer killed at {} of {N} committed, {duplicates} duplicate copies",
        at_kill.iter().sum::<i64>()
    );
}

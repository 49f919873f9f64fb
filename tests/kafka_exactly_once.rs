#![cfg(feature = "kafka")]
//! Exactly-once consume → transform → produce (`Transactional::{source, flow}`) on Apache
//! Kafka: failures injected mid-stream, the pipeline restarted, and the output read under both
//! isolation levels.

mod support;

use std::time::Duration;

use support::apache_kafka::{
    create_topic, produce_numbers, read_all, unique, until, ApacheKafka, CommittedOffsets, Worker,
};
use weir::kafka::{
    ConsumerSettings, Control, Envelope, ProducerRecord, ProducerSettings, Subscription,
    Transactional,
};
use weir::prelude::*;

const N: u32 = 100_000;
const PARTITIONS: i32 = 4;

/// What one run of the pipeline does wrong.
#[derive(Clone, Copy, Debug)]
enum Inject {
    Nothing,
    /// The transform panics on the run's `n`th record, before it reaches the producer.
    PanicInTransform(u64),
    /// A stage after the producer panics on the run's `n`th result, and the run commits no
    /// transaction before (its commit interval is ten minutes): every record it wrote, at
    /// least `n + 1`, is acknowledged inside the open transaction, which the failure aborts.
    PanicAfterProduce(u64),
}

struct Pipeline {
    bootstrap: String,
    input: String,
    output: String,
    group: String,
    transactional_id: String,
    offsets: CommittedOffsets,
}

fn transform(input: &str) -> String {
    format!("out-{input}")
}

impl Pipeline {
    async fn new(bootstrap: &str) -> Pipeline {
        let (input, group) = (unique("eos-in"), unique("eos"));
        let p = Pipeline {
            bootstrap: bootstrap.to_owned(),
            offsets: CommittedOffsets::new(bootstrap, &group, &input, PARTITIONS),
            input,
            output: unique("eos-out"),
            group,
            transactional_id: unique("eos-tx"),
        };
        create_topic(bootstrap, &p.input, PARTITIONS).await;
        create_topic(bootstrap, &p.output, PARTITIONS).await;
        produce_numbers(bootstrap, &p.input, N).await;
        p
    }

    /// Starts one run: consume `input`, transform, produce to the same partition of `output`
    /// in transactions that carry the consumed offsets.
    fn run(&self, inject: Inject) -> (Control, tokio::task::JoinHandle<Result<(), StreamError>>) {
        let consumer = ConsumerSettings::new(&self.bootstrap, &self.group)
            .with_property("auto.offset.reset", "earliest")
            .with_stop_timeout(Duration::from_secs(5));
        let producer = ProducerSettings::new(&self.bootstrap)
            .with_property("linger.ms", "5")
            // A transaction left open by a run that died is aborted by the next run's
            // init_transactions (same transactional id); this bounds it otherwise.
            .with_property("transaction.timeout.ms", "20000");
        let output = self.output.clone();
        let commit_interval = match inject {
            Inject::PanicAfterProduce(_) => Duration::from_secs(600),
            _ => Duration::from_millis(100),
        };
        let (control, done) =
            Transactional::source(consumer, Subscription::topics([self.input.as_str()]))
                .zip_with_index()
                .map(move |(m, i)| {
                    if let Inject::PanicInTransform(at) = inject {
                        assert!(i != at, "injected failure in the transform");
                    }
                    let value = transform(m.record.value_str().unwrap());
                    let record = ProducerRecord::new(output.clone(), value)
                        .with_key(m.record.key.clone().unwrap_or_default())
                        .with_partition(m.record.partition);
                    Envelope::Message(record, m.offset)
                })
                .via(Transactional::flow(
                    producer,
                    &self.transactional_id,
                    commit_interval,
                ))
                .zip_with_index()
                .map(move |(_, i)| {
                    if let Inject::PanicAfterProduce(at) = inject {
                        assert!(i != at, "injected failure after the producer");
                    }
                })
                .to_mat(Sink::ignore(), Keep::both)
                .run();
        (control, tokio::spawn(done))
    }

    fn committed(&self) -> Option<Vec<i64>> {
        self.offsets.get()
    }

    fn committed_total(&self) -> i64 {
        self.offsets.total()
    }

    /// Runs until the stream fails with the injected panic; returns the group's committed
    /// offsets (their sum) after the run.
    async fn run_into(&self, inject: Inject) -> i64 {
        let (control, done) = self.run(inject);
        let err = tokio::time::timeout(Duration::from_secs(180), done)
            .await
            .expect("the injected failure ends the run")
            .unwrap()
            .expect_err("the run fails");
        match &err {
            StreamError::Panicked { stage, message } => {
                assert_eq!(stage, "map");
                assert!(message.contains("injected failure"), "{message}");
            }
            other => panic!("unexpected failure {other}"),
        }
        tokio::time::timeout(Duration::from_secs(60), control.shutdown())
            .await
            .expect("the consumer shuts down");
        self.committed_total()
    }

    /// Runs without failure until every input's offset is committed, then drains.
    async fn run_to_the_end(&self) {
        let (control, done) = self.run(Inject::Nothing);
        until("every input offset committed", 300, || {
            self.committed_total() == i64::from(N) || done.is_finished()
        })
        .await;
        assert!(!done.is_finished(), "the run ended early: {:?}", done.await);
        control.stop();
        tokio::time::timeout(Duration::from_secs(60), done)
            .await
            .expect("the run drains")
            .unwrap()
            .expect("the run completes");
        control.shutdown().await;
    }

    /// The proof: the committed offsets are the ends of the input partitions; read_committed,
    /// each output partition is its input partition transformed, in order, each record once.
    /// Returns how many records a read_uncommitted reader sees.
    async fn check_exactly_once(&self) -> usize {
        let input = read_all(&self.bootstrap, &self.input, PARTITIONS, false).await;
        assert_eq!(input.iter().map(Vec::len).sum::<usize>(), N as usize);
        let ends: Vec<i64> = input.iter().map(|p| p.len() as i64).collect();
        assert_eq!(self.committed().expect("committed offsets"), ends);
        let committed = read_all(&self.bootstrap, &self.output, PARTITIONS, true).await;
        for (p, (got, from)) in committed.iter().zip(&input).enumerate() {
            let want: Vec<String> = from.iter().map(|v| transform(v)).collect();
            if got != &want {
                let mut sorted = got.clone();
                sorted.sort();
                let before = sorted.len();
                sorted.dedup();
                panic!(
                    "partition {p}: {} results for {} inputs, {} duplicates, {} lost",
                    got.len(),
                    want.len(),
                    before - sorted.len(),
                    want.iter()
                        .filter(|w| sorted.binary_search(w).is_err())
                        .count()
                );
            }
        }
        let uncommitted = read_all(&self.bootstrap, &self.output, PARTITIONS, false).await;
        let total = uncommitted.iter().map(Vec::len).sum();
        assert!(total >= N as usize);
        total
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_across_panicking_stages_and_restarts() {
    let p = Pipeline::new(ApacheKafka::shared()).await;
    // The transform never saw more than 30 000 records, so no more offsets can be committed.
    let after_first = p.run_into(Inject::PanicInTransform(30_000)).await;
    assert!(
        after_first > 0 && after_first <= 30_000,
        "the first run committed {after_first} offsets"
    );
    let after_second = p.run_into(Inject::PanicAfterProduce(30_000)).await;
    assert_eq!(
        after_second, after_first,
        "the second run committed nothing"
    );
    p.run_to_the_end().await;
    let uncommitted = p.check_exactly_once().await;
    // The second run's aborted transaction is on the log, hidden from read_committed only.
    assert!(
        uncommitted > N as usize + 30_000,
        "a read_uncommitted reader saw {uncommitted} records: not the aborted ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_across_broker_restarts() {
    let mut broker = ApacheKafka::start();
    let p = Pipeline::new(broker.bootstrap()).await;
    let (control, done) = p.run(Inject::Nothing);
    until("a quarter of the inputs committed", 300, || {
        p.committed_total() >= i64::from(N / 4)
    })
    .await;
    // A controlled shutdown, then a crash.
    broker.stop();
    broker.start_again();
    until("half of the inputs committed", 300, || {
        p.committed_total() >= i64::from(N / 2) || done.is_finished()
    })
    .await;
    broker.kill();
    broker.start_again();
    // The run either rides out the restarts or fails with a Kafka error; then it is started
    // again from the committed offsets.
    let (mut control, mut done) = (control, done);
    let mut restarts = 0;
    until("every input offset committed", 300, || {
        p.committed_total() == i64::from(N) || done.is_finished()
    })
    .await;
    while done.is_finished() {
        let err = done
            .await
            .unwrap()
            .expect_err("the run ended before the end");
        assert!(
            matches!(err, StreamError::Failed(_)),
            "a Kafka failure, not {err}"
        );
        control.shutdown().await;
        restarts += 1;
        assert!(restarts <= 3, "the pipeline keeps failing: {err}");
        (control, done) = p.run(Inject::Nothing);
        until("every input offset committed", 300, || {
            p.committed_total() == i64::from(N) || done.is_finished()
        })
        .await;
    }
    control.stop();
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the run drains")
        .unwrap()
        .expect("the run completes");
    control.shutdown().await;
    let uncommitted = p.check_exactly_once().await;
    eprintln!(
        "broker restart: {restarts} pipeline restarts, {uncommitted} records read uncommitted"
    );
}

/// One instance of a copier on `Transactional::partitioned_source`: each assigned partition's
/// records, throttled to 500 a second, go through their own transactional flow whose id names
/// the partition (the same on every instance, so a partition's next owner fences the last).
fn partitioned_instance(
    bootstrap: &str,
    input: &str,
    output: &str,
    group: &str,
) -> (Control, tokio::task::JoinHandle<Result<(), StreamError>>) {
    let consumer = ConsumerSettings::new(bootstrap, group)
        .with_property("auto.offset.reset", "earliest")
        // A killed instance's partitions move after 6 s.
        .with_property("session.timeout.ms", "6000")
        .with_property("heartbeat.interval.ms", "500")
        .with_stop_timeout(Duration::from_secs(5));
    let producer = ProducerSettings::new(bootstrap)
        .with_property("linger.ms", "5")
        .with_property("transaction.timeout.ms", "20000");
    let output = output.to_owned();
    let (control, done) =
        Transactional::partitioned_source(consumer, Subscription::topics([input]))
            .map_async_unordered(PARTITIONS as usize, move |(tp, records)| {
                let id = format!("{output}-tx-{}", tp.partition);
                let output = output.clone();
                records
                    .throttle(500, Duration::from_secs(1), 50)
                    .map(move |m| {
                        let record = ProducerRecord::new(
                            output.clone(),
                            transform(m.record.value_str().unwrap()),
                        )
                        .with_key(m.record.key.clone().unwrap_or_default())
                        .with_partition(m.record.partition);
                        Envelope::Message(record, m.offset)
                    })
                    .run_with(Transactional::sink(
                        producer.clone(),
                        &id,
                        Duration::from_millis(100),
                    ))
            })
            .map(|substream| match substream {
                Ok(()) => {}
                // KIP-447 at work: a revoked partition's last transaction carried the group
                // generation from before the rebalance, so the broker refused its offsets and
                // the flow aborted it; the partition's next owner copies those records again.
                Err(e) if e.to_string().contains("generation id is not valid") => {
                    eprintln!("fenced: {e}");
                }
                Err(e) => panic!("a partition's transactional stream failed: {e}"),
            })
            .to_mat(Sink::ignore(), Keep::both)
            .run();
    (control, tokio::spawn(done))
}

const WORKER: &str = "WEIR_TEST_PARTITIONED_WORKER";

/// The second instance of
/// `partitioned_exactly_once_when_an_instance_is_killed_and_the_other_takes_its_partitions`,
/// in a process of its own so that the test can kill it (SIGKILL). Run by that test only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by partitioned_exactly_once_when_an_instance_is_killed_and_the_other_takes_its_partitions"]
async fn partitioned_worker_instance() {
    let config = std::env::var(WORKER).expect("run by the partitioned exactly-once test");
    let [bootstrap, input, output, group]: [&str; 4] =
        config.split(' ').collect::<Vec<_>>().try_into().unwrap();
    let (_control, done) = partitioned_instance(bootstrap, input, output, group);
    done.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_exactly_once_when_an_instance_is_killed_and_the_other_takes_its_partitions() {
    const N: u32 = 20_000;
    let b = ApacheKafka::shared();
    let (input, output, group) = (unique("ptx-in"), unique("ptx-out"), unique("ptx"));
    create_topic(b, &input, PARTITIONS).await;
    create_topic(b, &output, PARTITIONS).await;
    produce_numbers(b, &input, N).await;
    let offsets = CommittedOffsets::new(b, &group, &input, PARTITIONS);

    let (one, one_done) = partitioned_instance(b, &input, &output, &group);
    until("the first instance owns every partition", 60, || {
        one.metrics().assigned.len() == PARTITIONS as usize
    })
    .await;
    let mut two = Worker::spawn(
        "partitioned_worker_instance",
        WORKER,
        format!("{b} {input} {output} {group}"),
    );
    // Both instances work: the partitions split, and the second instance's have commits.
    let mut reported = std::time::Instant::now();
    until("the second instance commits on its partitions", 120, || {
        let mine = one.metrics().assigned;
        if reported.elapsed() > Duration::from_secs(10) {
            reported = std::time::Instant::now();
            eprintln!(
                "waiting: the first instance owns {:?}, committed {:?}",
                mine.iter().map(|tp| tp.partition).collect::<Vec<_>>(),
                offsets.get()
            );
        }
        mine.len() == PARTITIONS as usize / 2
            && offsets.get().is_some_and(|c| {
                (0..PARTITIONS)
                    .all(|p| mine.iter().any(|tp| tp.partition == p) || c[p as usize] > 0)
            })
    })
    .await;
    let at_kill = offsets.total();
    assert!(
        at_kill < i64::from(N),
        "everything was copied before the kill"
    );
    two.kill();
    until("every input offset committed", 300, || {
        offsets.total() == i64::from(N) || one_done.is_finished()
    })
    .await;
    assert!(!one_done.is_finished(), "{:?}", one_done.await);
    assert_eq!(one.metrics().assigned.len(), PARTITIONS as usize);
    one.stop();
    tokio::time::timeout(Duration::from_secs(60), one_done)
        .await
        .expect("the instance drains")
        .unwrap()
        .expect("the instance completes");
    one.shutdown().await;

    let input_records = read_all(b, &input, PARTITIONS, false).await;
    let ends: Vec<i64> = input_records.iter().map(|p| p.len() as i64).collect();
    assert_eq!(offsets.get().unwrap(), ends);
    let copied = read_all(b, &output, PARTITIONS, true).await;
    for (p, (got, from)) in copied.iter().zip(&input_records).enumerate() {
        let want: Vec<String> = from.iter().map(|v| transform(v)).collect();
        let mut sorted = got.clone();
        sorted.sort();
        let n = sorted.len();
        sorted.dedup();
        let lost = want
            .iter()
            .filter(|w| sorted.binary_search(w).is_err())
            .count();
        assert_eq!(
            (n - sorted.len(), lost),
            (0, 0),
            "partition {p}: duplicates and lost records"
        );
        assert_eq!(got, &want, "partition {p} in order");
    }
    eprintln!("killed after {at_kill} of {N} offsets were committed");
}

#![cfg(feature = "kafka")]
//! Exactly-once consume → transform → produce (`Transactional::{source, flow}`) on Apache
//! Kafka: failures injected mid-stream, the pipeline restarted, and the output read under both
//! isolation levels.

mod support;

use std::time::Duration;

use support::apache_kafka::{
    create_topic, produce_numbers, read_all, unique, until, ApacheKafka, CommittedOffsets,
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

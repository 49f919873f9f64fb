//! Kafka consumers on a real Apache Kafka broker, weir against the hand-written rdkafka
//! `BaseConsumer` poll loop, in one run, at several lengths (so a throughput cliff that only
//! shows past the client's prefetch cannot come back unseen).
//!
//! ```text
//! scripts/kafka-broker start /tmp/bench-broker
//! WEIR_KAFKA_BOOTSTRAP=$(cat /tmp/bench-broker/bootstrap) \
//!   cargo bench --features kafka --bench kafka_broker [-- 200000 1000000 5000000]
//! ```
//!
//! The topic `bench-in` (4 partitions) is filled once with the largest length of records of
//! 100-byte values keyed `k<i % 1000>`, as issue 16 measured; each run reads its first N records
//! by manual assignment of all partitions from offset 0, with default consumer settings. Each
//! variant runs three times per length, creating its clients inside the timing (as a stream
//! does when it is materialized). The "tuned loop" is the same loop with the librdkafka
//! properties weir sets by default, so the ratio against it is weir's own overhead; the peak
//! resident set is read (Linux `VmHWM`, reset before each run) while weir reads.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::CommitMode;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::Message as _;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Envelope, Producer, ProducerRecord,
    ProducerSettings, Subscription, TopicPartition,
};
use weir::prelude::*;

const TOPIC: &str = "bench-in";
const OUT: &str = "bench-out";
/// The pipeline writes what it reads: it runs at lengths up to this.
const PIPELINE_MAX: u64 = 1_000_000;
const PARTITIONS: i32 = 4;
const RUNS: usize = 3;

fn end_offsets(brokers: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

/// Makes `bench-in` hold at least `n` records.
async fn preload(brokers: &str, n: u64) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let topic = [
        NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1)),
        NewTopic::new(OUT, PARTITIONS, TopicReplication::Fixed(1)),
    ];
    // An existing topic answers TopicAlreadyExists: keep it and its records.
    let _ = admin.create_topics(&topic, &AdminOptions::new()).await;
    let have = end_offsets(brokers) as u64;
    if have >= n {
        return;
    }
    eprintln!("kafka_broker: writing {} records to {TOPIC}", n - have);
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "none")
        .create()
        .unwrap();
    let value = [b'v'; 100];
    for i in have..n {
        let key = format!("k{}", i % 1000);
        let mut record = BaseRecord::to(TOPIC)
            .key(key.as_bytes())
            .payload(&value[..]);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120)).unwrap();
}

fn group(variant: &str, n: u64, run: usize) -> String {
    format!("bench-{variant}-{n}-{run}-{}", std::process::id())
}

async fn weir_plain_source(brokers: &str, n: u64, run: usize) -> Duration {
    let settings = ConsumerSettings::new(brokers, &group("weir", n, run))
        .with_property("auto.offset.reset", "earliest");
    let start = Instant::now();
    let (control, count) = Consumer::plain_source(settings, assign_all())
        .take(n)
        .to_mat(Sink::fold(0u64, |c, _| c + 1), Keep::both)
        .run();
    assert_eq!(count.await.unwrap(), n);
    let took = start.elapsed();
    control.shutdown().await;
    took
}

fn base_consumer_loop(brokers: &str, n: u64, run: usize, tuned: bool) -> Duration {
    // Creating the client counts, as it does for weir's source (materialized in the timing).
    let start = Instant::now();
    let mut consumer = ClientConfig::new();
    consumer
        .set("bootstrap.servers", brokers)
        .set("group.id", group("base", n, run))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    if tuned {
        // The librdkafka properties weir sets by default.
        consumer.set("fetch.queue.backoff.ms", "10");
    }
    let consumer: BaseConsumer = consumer.create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Offset(0))
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut count = 0u64;
    let mut bytes = 0usize;
    while count < n {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            // Touch the record as a stream's consumer would.
            bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
            count += 1;
        }
    }
    let took = start.elapsed();
    std::hint::black_box(bytes);
    took
}

fn assign_all() -> Subscription {
    Subscription::assignment_with_offsets(
        (0..PARTITIONS).map(|p| (TopicPartition::new(TOPIC, p), 0)),
    )
}

/// Consume, map, produce, commit (at-least-once): the committable source, the flexi flow and
/// the committer with batches of 1000.
async fn weir_pipeline(brokers: &str, n: u64, run: usize) -> Duration {
    let group = group("weir-pipe", n, run);
    let consumer =
        ConsumerSettings::new(brokers, &group).with_property("auto.offset.reset", "earliest");
    let producer = ProducerSettings::new(brokers)
        .with_property("linger.ms", "5")
        .with_parallelism(10_000);
    let committer = CommitterSettings::default().with_max_batch(1000);
    let start = Instant::now();
    let (control, done) = Consumer::committable_source(consumer, assign_all())
        .take(n)
        .map(|m| {
            let value = m.record.value.unwrap_or_default();
            Envelope::Message(ProducerRecord::new(OUT, value), m.offset)
        })
        .via(Producer::flexi_flow(producer))
        .map(|r| r.into_pass_through())
        .to_mat(Committer::sink(committer), Keep::both)
        .run();
    done.await.unwrap();
    let took = start.elapsed();
    control.shutdown().await;
    took
}

/// The same pipeline by hand: a `BaseConsumer` drained without waiting while records are
/// ready, a `BaseProducer` batching by `linger.ms`, and every 10 000 records a flush and an
/// asynchronous commit of the offsets after them (so a commit never covers an unacknowledged
/// record).
fn base_pipeline(brokers: &str, n: u64, run: usize) -> Duration {
    let start = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group("base-pipe", n, run))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Offset(0))
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut next = vec![-1i64; PARTITIONS as usize];
    let (mut count, mut since_commit) = (0u64, 0u64);
    let commit = |next: &[i64], mode| {
        let mut tpl = TopicPartitionList::new();
        for (p, &o) in next.iter().enumerate() {
            if o >= 0 {
                tpl.add_partition_offset(TOPIC, p as i32, Offset::Offset(o))
                    .unwrap();
            }
        }
        consumer.commit(&tpl, mode).unwrap();
    };
    while count < n {
        let mut timeout = Duration::from_millis(100);
        while count < n {
            let Some(Ok(m)) = consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let mut record =
                BaseRecord::<(), [u8]>::to(OUT).payload(m.payload().unwrap_or_default());
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        record = r;
                        producer.poll(Duration::from_millis(1));
                    }
                }
            }
            next[m.partition() as usize] = m.offset() + 1;
            count += 1;
            since_commit += 1;
        }
        producer.poll(Duration::ZERO);
        if since_commit >= 10_000 {
            producer.flush(Duration::from_secs(30)).unwrap();
            commit(&next, CommitMode::Async);
            since_commit = 0;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    commit(&next, CommitMode::Sync);
    start.elapsed()
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64() / 1e6
}

/// Resets the process's peak resident set (Linux `clear_refs`), so the next reading of
/// [`peak_rss_mib`] covers only what runs in between.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The rates of the runs in run order, for the `weir_consume` line that `scripts/bench-peers`
/// reads.
fn rates(v: &[f64]) -> String {
    v.iter()
        .map(|r| format!("{r:.3}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn span(v: &[f64]) -> String {
    let lo = v.iter().cloned().fold(f64::MAX, f64::min);
    let hi = v.iter().cloned().fold(0.0, f64::max);
    format!("{lo:.2}–{hi:.2}")
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Ok(brokers) = std::env::var("WEIR_KAFKA_BOOTSTRAP") else {
        eprintln!(
            "kafka_broker: set WEIR_KAFKA_BOOTSTRAP to an Apache Kafka broker \
             (scripts/kafka-broker start DIR prints one); skipped"
        );
        return;
    };
    // `cargo bench` passes `--bench`; lengths are the other arguments.
    let mut lengths: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if lengths.is_empty() {
        lengths = vec![200_000, 1_000_000, 5_000_000];
    }
    preload(&brokers, *lengths.iter().max().unwrap()).await;
    println!(
        "consume-only on Apache Kafka, {PARTITIONS} partitions, 100 B values; \
         M records/s, worst–best of {RUNS}; ratios of medians"
    );
    println!(
        "{:>9} | {:>11} | {:>11} | {:>11} | {:>9} | {:>10} | weir peak RSS",
        "N", "weir", "loop", "tuned loop", "weir/loop", "weir/tuned"
    );
    for &n in &lengths {
        let (mut weir, mut base, mut tuned) = (Vec::new(), Vec::new(), Vec::new());
        let mut rss: f64 = 0.0;
        for run in 0..RUNS {
            reset_peak_rss();
            weir.push(rate(n, weir_plain_source(&brokers, n, run).await));
            rss = rss.max(peak_rss_mib());
            for (is_tuned, into) in [(false, &mut base), (true, &mut tuned)] {
                let b = brokers.clone();
                let took =
                    tokio::task::spawn_blocking(move || base_consumer_loop(&b, n, run, is_tuned))
                        .await
                        .unwrap();
                into.push(rate(n, took));
            }
        }
        println!(
            "{n:>9} | {:>11} | {:>11} | {:>11} | {:>8.2}× | {:>9.2}× | {rss:.0} MiB",
            span(&weir),
            span(&base),
            span(&tuned),
            median(&weir) / median(&base),
            median(&weir) / median(&tuned),
        );
        println!(
            "weir_consume N={n} rates={} loop_rates={} tuned_rates={}",
            rates(&weir),
            rates(&base),
            rates(&tuned)
        );
    }
    println!(
        "consume → map → produce → commit on Apache Kafka (batches of 1000), M records/s, \
         worst–best of {RUNS}"
    );
    println!("{:>9} | {:>11} | {:>11} | weir/loop", "N", "weir", "loop");
    for &n in lengths.iter().filter(|&&n| n <= PIPELINE_MAX) {
        let (mut weir, mut base) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            weir.push(rate(n, weir_pipeline(&brokers, n, run).await));
            let b = brokers.clone();
            let took = tokio::task::spawn_blocking(move || base_pipeline(&b, n, run))
                .await
                .unwrap();
            base.push(rate(n, took));
        }
        println!(
            "{n:>9} | {:>11} | {:>11} | {:>8.2}×",
            span(&weir),
            span(&base),
            median(&weir) / median(&base),
        );
        println!(
            "weir_pipeline N={n} rates={} loop_rates={}",
            rates(&weir),
            rates(&base)
        );
    }
}

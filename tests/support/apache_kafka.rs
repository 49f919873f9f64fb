//! The Apache Kafka broker of the Kafka tests (`scripts/kafka-broker`: kafka_2.13 4.1.1, one
//! combined KRaft node on loopback): the suite's shared broker, or a private one a test stops
//! and starts again.
//!
//! `scripts/test` starts one broker for the whole run and exports its bootstrap as
//! `WEIR_KAFKA_BOOTSTRAP` (cargo-nextest runs each test in its own process, so a broker per
//! process would cost each test a JVM start). Without the variable (a plain `cargo test`), the
//! first test of a process starts one, and a watchdog kills it when the process exits.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::ClientConfig;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka-broker");

/// A private broker, killed (and its log dir removed) on drop.
pub struct ApacheKafka {
    dir: PathBuf,
    bootstrap: String,
    running: bool,
}

fn run_script(command: &str, dir: &std::path::Path) -> String {
    let out = Command::new(SCRIPT)
        .arg(command)
        .arg(dir)
        // The broker dies with this process even if it is killed before a drop runs.
        .env("WEIR_KAFKA_WATCH_PID", std::process::id().to_string())
        .env("WEIR_KAFKA_REMOVE_ON_EXIT", "1")
        .output()
        .expect("scripts/kafka-broker runs");
    assert!(
        out.status.success(),
        "scripts/kafka-broker {command} {} failed (it needs Java 17+, Maven and Python 3):\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Waits until `bootstrap` answers a metadata request with a broker in it.
pub fn wait_ready(bootstrap: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match consumer.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(m) if !m.brokers().is_empty() => return,
            other => assert!(
                Instant::now() < deadline,
                "the broker at {bootstrap} answers no metadata: {:?}",
                other.err()
            ),
        }
    }
}

/// A name no other test of this run uses (the shared broker outlives every test).
pub fn unique(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{name}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl ApacheKafka {
    /// The bootstrap address of the suite's broker: `WEIR_KAFKA_BOOTSTRAP`, or one started
    /// for this process.
    pub fn shared() -> &'static str {
        static SHARED: OnceLock<String> = OnceLock::new();
        SHARED.get_or_init(|| {
            let bootstrap = match std::env::var("WEIR_KAFKA_BOOTSTRAP") {
                Ok(b) if !b.is_empty() => b,
                _ => {
                    // Never dropped: the watchdog kills it and removes its dir at exit.
                    let broker = ApacheKafka::start();
                    let b = broker.bootstrap.clone();
                    std::mem::forget(broker);
                    b
                }
            };
            wait_ready(&bootstrap);
            bootstrap
        })
    }

    /// Starts a private broker and waits until it answers metadata.
    pub fn start() -> ApacheKafka {
        let dir = std::env::temp_dir().join(unique("weir-kafka"));
        let bootstrap = run_script("start", &dir);
        wait_ready(&bootstrap);
        ApacheKafka {
            dir,
            bootstrap,
            running: true,
        }
    }

    /// Its bootstrap address (the same across restarts).
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Stops it the way an operator would (SIGTERM: a controlled shutdown).
    pub fn stop(&mut self) {
        run_script("stop", &self.dir);
        self.running = false;
    }

    /// Kills it (SIGKILL: a crash; its log is recovered on the next start).
    pub fn kill(&mut self) {
        let pid = self.pid().expect("the broker runs");
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -9 {pid}");
        // It is not our child: wait until its listener is gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split(' ').nth(2) == Some("Z"))
        {
            assert!(Instant::now() < deadline, "pid {pid} did not die");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(self.dir.join("pid"));
        self.running = false;
    }

    /// Starts it again on the same log dir and ports, and waits until it answers metadata.
    pub fn start_again(&mut self) {
        assert!(!self.running, "the broker runs");
        let bootstrap = run_script("start", &self.dir);
        assert_eq!(bootstrap, self.bootstrap, "a restart keeps the address");
        wait_ready(&bootstrap);
        self.running = true;
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }
}

impl Drop for ApacheKafka {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // Nothing to keep: no controlled shutdown.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates `topic` with `partitions` partitions (replication factor 1) and waits until its
/// metadata shows every partition with a leader.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topics = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .expect("create topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("metadata client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let led = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .ok()
                .and_then(|m| {
                    m.topics().first().map(|t| {
                        t.error().is_none()
                            && t.partitions().len() == partitions as usize
                            && t.partitions().iter().all(|p| p.leader() >= 0)
                    })
                })
                .unwrap_or(false);
            if led {
                return;
            }
            assert!(Instant::now() < deadline, "{topic} has no leaders");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
}

/// Writes `0..n` to `topic`, each keyed and valued by its decimal number, with an idempotent
/// producer (so a retry never duplicates an input).
pub async fn produce_numbers(bootstrap: &str, topic: &str, n: u32) {
    use weir::kafka::{Producer, ProducerRecord, ProducerSettings};
    use weir::prelude::*;
    let topic = topic.to_owned();
    Source::range(0u32, n - 1)
        .map(move |i| ProducerRecord::new(topic.clone(), i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(
            ProducerSettings::new(bootstrap)
                .with_property("enable.idempotence", "true")
                .with_property("linger.ms", "5"),
        ))
        .await
        .expect("the inputs are written");
}

/// Every record of `topic`'s partitions (values as strings, in offset order per partition),
/// read from the beginning to the partition's end as of now — its last stable offset under
/// `read_committed`, its high watermark otherwise.
pub async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    read_committed: bool,
) -> Vec<Vec<String>> {
    use rdkafka::error::KafkaError;
    use rdkafka::Message as _;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("read-all"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .expect("reader");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    tokio::task::spawn_blocking(move || {
        let mut out = vec![Vec::new(); partitions as usize];
        let mut at_end = vec![false; partitions as usize];
        let deadline = Instant::now() + Duration::from_secs(120);
        while at_end.iter().any(|e| !e) {
            assert!(
                Instant::now() < deadline,
                "the reader did not reach the end"
            );
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(m)) => {
                    at_end[m.partition() as usize] = false;
                    let v = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
                    out[m.partition() as usize].push(v);
                }
                Some(Err(KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
                Some(Err(e)) => panic!("reading: {e}"),
            }
        }
        out
    })
    .await
    .unwrap()
}

/// Polls `f` in real time (the broker is a separate process) until it holds; panics after
/// `secs` seconds.
pub async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the committed next-offsets of a group, asking for stable offsets (KIP-447): a pending
/// transactional commit is waited for, not reported.
pub struct CommittedOffsets {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
}

impl CommittedOffsets {
    pub fn new(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("isolation.level", "read_committed")
            .create()
            .expect("consumer");
        CommittedOffsets {
            consumer,
            topic: topic.to_owned(),
            partitions,
        }
    }

    /// Per partition (-1: none), or `None` when the broker does not answer within 5 s. Blocks:
    /// call it from a multi-threaded runtime.
    pub fn get(&self) -> Option<Vec<i64>> {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition(&self.topic, p);
        }
        let got = tokio::task::block_in_place(|| {
            self.consumer.committed_offsets(tpl, Duration::from_secs(5))
        })
        .ok()?;
        Some(
            (0..self.partitions)
                .map(
                    |p| match got.find_partition(&self.topic, p).map(|e| e.offset()) {
                        Some(rdkafka::Offset::Offset(o)) => o,
                        _ => -1,
                    },
                )
                .collect(),
        )
    }

    /// The sum of the committed offsets (partitions without one count 0), 0 when the broker
    /// does not answer.
    pub fn total(&self) -> i64 {
        self.get()
            .map(|c| c.iter().filter(|&&o| o > 0).sum())
            .unwrap_or(0)
    }
}

/// This test binary run again as a child process on one `#[ignore]`d worker test, which reads
/// its configuration from the environment variable `var`; killed (SIGKILL) on drop, so a test
/// can crash an instance mid-stream.
pub struct Worker(std::process::Child);

impl Worker {
    pub fn spawn(test: &str, var: &str, config: String) -> Worker {
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--ignored", "--exact", test])
            .env(var, config)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the worker starts");
        Worker(child)
    }

    /// Kills the worker (SIGKILL: no drop, no close, no commit) and reaps it.
    pub fn kill(&mut self) {
        self.0.kill().expect("the worker is killed");
        self.0.wait().expect("the worker is reaped");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

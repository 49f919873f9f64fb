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

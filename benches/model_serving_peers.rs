//! The model server on a real Apache Kafka broker (issues 9 and 10): weir's server of the main
//! example against the hand-written rdkafka loop doing the same work, in one run; the Kafka
//! Streams server of the same topology (`benches/peers-streams`) runs after it in
//! `scripts/bench-peers`, on the same topics.
//!
//! ```text
//! scripts/kafka-broker start /tmp/bench-broker
//! WEIR_KAFKA_BOOTSTRAP=$(cat /tmp/bench-broker/bootstrap) \
//!   cargo bench --features kafka --bench model_serving_peers [-- 200000] [--smoke]
//! ```
//!
//! The data topic `ms-data-N` (4 partitions) is filled once with N protobuf wine records, the
//! models topic with the random forest's descriptor. Each run of weir's server is a fresh
//! consumer group subscribed to the data topic (a group join, as a Kafka Streams application
//! does), the random forest (PMML, 10 trees) installed at start; it ends when every result is
//! acknowledged and its offset committed, and the server is drained. 5 warm-up runs, then 5
//! measured ones (1 and 1 with `--smoke`, on 2000 records); the loop runs 3 times. Prints the
//! machine-readable lines `weir_model_serving N=.. rates=.. steady=.. wall_s=.. cpu_s=..` and
//! `loop_model_serving N=.. steady=..` (M records/s; CPU seconds of the whole process per run).

// The example's modules, compiled here too: the parts the bench does not use are not dead code
// there, and their unit-test imports are compiled without their tests.
#![allow(dead_code, unused_imports)]

#[path = "../examples/model_serving/feed.rs"]
mod feed;
#[path = "../examples/model_serving/messages.rs"]
mod messages;
#[path = "../examples/model_serving/models.rs"]
mod models;
#[path = "../examples/model_serving/pmml.rs"]
mod pmml;
#[path = "../examples/model_serving/server.rs"]
mod server;
#[path = "serving/mod.rs"]
mod serving;
#[path = "../examples/model_serving/stats.rs"]
mod stats;
#[path = "../examples/model_serving/tensorflow.rs"]
mod tensorflow;

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::ClientConfig;

use server::Config;

const PARTITIONS: i32 = 4;
const MODEL: &str = "winequalityRandonForrestClassification";

/// The topics of a length: each length has its own data topic, so a run reads exactly N.
fn config(brokers: &str, n: u64) -> Config {
    Config {
        data_topic: format!("ms-data-{n}"),
        models_topic: "ms-models".to_owned(),
        scored_topic: "ms-scored".to_owned(),
        ..Config::new(brokers)
    }
}

fn records_in(brokers: &str, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

/// Creates the topics; fills the data topic with `n` records and the models topic with the
/// model, unless they hold them already.
async fn prepare(config: &Config, n: u64) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .unwrap();
    let topics = [
        NewTopic::new(&config.data_topic, PARTITIONS, TopicReplication::Fixed(1)),
        NewTopic::new(&config.models_topic, 1, TopicReplication::Fixed(1)),
        NewTopic::new(&config.scored_topic, PARTITIONS, TopicReplication::Fixed(1)),
    ];
    // An existing topic answers TopicAlreadyExists: keep it and its records.
    let _ = admin.create_topics(&topics, &AdminOptions::new()).await;
    let have = records_in(&config.brokers, &config.data_topic);
    if have == 0 {
        eprintln!(
            "model_serving_peers: writing {n} records to {}",
            config.data_topic
        );
        serving::preload(&config.brokers, config, n);
    } else {
        assert_eq!(have as u64, n, "{} holds other records", config.data_topic);
    }
    if records_in(&config.brokers, &config.models_topic) == 0 {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .create()
            .unwrap();
        let model = serving::model(MODEL).to_protobuf();
        p.send(BaseRecord::<(), _>::to(&config.models_topic).payload(&model))
            .map_err(|(e, _)| e)
            .unwrap();
        p.flush(Duration::from_secs(30)).unwrap();
    }
}

/// The process's CPU seconds (user and system, every thread), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    // Linux reports in USER_HZ, 100 on every architecture it runs on.
    ticks / 100.0
}

fn join(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Ok(brokers) = std::env::var("WEIR_KAFKA_BOOTSTRAP") else {
        eprintln!(
            "model_serving_peers: set WEIR_KAFKA_BOOTSTRAP to an Apache Kafka broker \
             (scripts/kafka-broker start DIR prints one); skipped"
        );
        return;
    };
    let smoke = std::env::args().any(|a| a == "--smoke");
    let n = if smoke {
        2000
    } else {
        std::env::args()
            .skip(1)
            .find_map(|a| a.replace('_', "").parse().ok())
            .unwrap_or(200_000)
    };
    let (warm_ups, measured, loops) = if smoke { (1, 1, 1) } else { (5, 5, 3) };
    let config = config(&brokers, n);
    prepare(&config, n).await;
    for _ in 0..warm_ups {
        serving::weir_server(&config, MODEL, n).await;
    }
    let (mut rates, mut steady, mut wall, mut cpu) = (vec![], vec![], vec![], vec![]);
    for _ in 0..measured {
        let (cpu0, start) = (cpu_seconds(), Instant::now());
        let s = serving::weir_server(&config, MODEL, n).await;
        let took = start.elapsed().as_secs_f64();
        cpu.push(cpu_seconds() - cpu0);
        wall.push(took);
        rates.push(n as f64 / took / 1e6);
        steady.push(n as f64 / s.as_secs_f64() / 1e6);
    }
    println!(
        "weir_model_serving N={n} rates={} steady={} wall_s={} cpu_s={}",
        join(&rates),
        join(&steady),
        join(&wall),
        join(&cpu)
    );
    let mut loop_steady = vec![];
    for _ in 0..loops {
        let c = config.clone();
        let s = tokio::task::spawn_blocking(move || serving::base_loop(&c, MODEL, n, PARTITIONS))
            .await
            .unwrap();
        loop_steady.push(n as f64 / s.as_secs_f64() / 1e6);
    }
    println!("loop_model_serving N={n} steady={}", join(&loop_steady));
}

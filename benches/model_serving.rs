//! The model server end to end on librdkafka's in-process mock cluster: records/s from `data`
//! through decoding, scoring, producing to `scored` and committing, against a hand-written
//! rdkafka loop doing the same work, in one run.
//!
//! ```text
//! cargo bench --features kafka --bench model_serving
//! ```
//!
//! Two groups: `model_serving_run` times whole runs (clients created, every record processed,
//! clients closed); `model_serving_steady` times the same runs from the first record read to
//! the last result acknowledged, the rate a long-running server sustains.
//!
//! Both read 20 000 protobuf wine records from four partitions by manual assignment (so no group
//! join is measured), score each with the same model, write the JSON result to `scored` and
//! commit offsets of acknowledged results. The server is the example's own code
//! (`examples/model_serving`), started and drained inside the measurement; the loop is a
//! `BaseConsumer` → `BaseProducer` loop that commits every 1000 records after a flush, without
//! hot-swapping (its model is fixed), so it is the simpler of the two.

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
#[path = "../examples/model_serving/stats.rs"]
mod stats;
#[path = "../examples/model_serving/tensorflow.rs"]
mod tensorflow;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::ClientConfig;

use messages::{Origin, ScoredRecord, WineRecord};
use models::ServingModel;
use server::{Config, Server};

const N: u64 = 20_000;
const PARTITIONS: i32 = 4;
static GROUP: AtomicU64 = AtomicU64::new(0);

fn group() -> String {
    format!("bench-{}", GROUP.fetch_add(1, Ordering::Relaxed))
}

const MODELS: [(&str, &str); 2] = [
    ("random_forest", "winequalityRandonForrestClassification"),
    ("tensorflow", "optimized_WineQuality"),
];

fn model(name: &str) -> messages::ModelDescriptor {
    models::bundled()
        .into_iter()
        .find(|m| m.name == name)
        .expect("a bundled model")
}

/// Writes N wine records, and the models, once.
fn preload(brokers: &str, config: &Config) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let wines = feed::wines();
    for i in 0..N {
        let v = wines[(i % wines.len() as u64) as usize].to_protobuf();
        let k = i.to_string();
        loop {
            match p.send(BaseRecord::to(&config.data_topic).payload(&v).key(&k)) {
                Ok(()) => break,
                Err(_) => {
                    p.poll(Duration::from_millis(10));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

/// The example's server, from start to drained; returns the steady part: from the first
/// record read to the last result acknowledged.
async fn weir_server(config: &Config, name: &str) -> Duration {
    let config = Config {
        group: group(),
        data_partitions: Some((0..PARTITIONS).collect()),
        ..config.clone()
    };
    let server = Server::start(&config).await.unwrap();
    // The models topic holds one model per benchmark (the latest is read): install it directly.
    server
        .scoring
        .install(ServingModel::build(&model(name)).unwrap())
        .unwrap();
    let mut first_in = None;
    while stats::get(&server.stats.records_out) < N {
        if first_in.is_none() && stats::get(&server.stats.records_in) > 0 {
            first_in = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let steady = first_in.map_or(Duration::ZERO, |t| t.elapsed());
    server.drain().await.unwrap();
    steady
}

/// The same work as a hand-written rdkafka loop; returns the steady part, from the first
/// record read to the last result acknowledged and committed.
fn base_loop(config: &Config, name: &str) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", group())
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&config.data_topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let model = ServingModel::build(&model(name)).unwrap();
    let mut next: HashMap<i32, i64> = HashMap::new();
    let commit = |next: &HashMap<i32, i64>| {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (p, o) in next {
            tpl.add_partition_offset(&config.data_topic, *p, rdkafka::Offset::Offset(*o))
                .unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    };
    let mut n = 0u64;
    let mut first_in = None;
    while n < N {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        first_in.get_or_insert_with(Instant::now);
        let record = WineRecord::decode(m.payload().unwrap_or_default()).unwrap();
        let started = Instant::now();
        let result = model.score_record(&record).unwrap();
        let out = ScoredRecord {
            source: Origin {
                partition: m.partition(),
                offset: m.offset(),
            },
            record,
            result,
            model: Some(model.name().to_owned()),
            scoring_micros: started.elapsed().as_secs_f64() * 1e6,
        };
        let json = serde_json::to_vec(&out).unwrap();
        let key = format!("{}:{}", m.partition(), m.offset());
        loop {
            match producer.send(
                BaseRecord::to(&config.scored_topic)
                    .payload(&json)
                    .key(&key),
            ) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        producer.poll(Duration::ZERO);
        next.insert(m.partition(), m.offset() + 1);
        n += 1;
        if n % 1000 == 0 {
            // At-least-once: commit once the batch's results are acknowledged.
            producer.flush(Duration::from_secs(30)).unwrap();
            commit(&next);
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    commit(&next);
    first_in.map_or(Duration::ZERO, |t| t.elapsed())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    let config = Config::new(&brokers);
    mock.create_topic(&config.data_topic, PARTITIONS, 1)
        .unwrap();
    mock.create_topic(&config.models_topic, 1, 1).unwrap();
    mock.create_topic(&config.scored_topic, PARTITIONS, 1)
        .unwrap();
    preload(&brokers, &config);

    // Whole runs: clients created, every record processed, clients closed.
    let mut g = c.benchmark_group("model_serving_run");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    for (short, name) in MODELS {
        g.bench_function(format!("weir_server/{short}"), |b| {
            b.to_async(&rt).iter(|| weir_server(&config, name))
        });
        g.bench_function(format!("base_consumer_base_producer_loop/{short}"), |b| {
            b.iter(|| base_loop(&config, name))
        });
    }
    g.finish();
    // The same runs, timed from the first record read to the last result acknowledged: the
    // rate a long-running server sustains.
    let mut g = c.benchmark_group("model_serving_steady");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    for (short, name) in MODELS {
        g.bench_function(format!("weir_server/{short}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let config = config.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += weir_server(&config, name).await;
                    }
                    total
                }
            })
        });
        g.bench_function(format!("base_consumer_base_producer_loop/{short}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| base_loop(&config, name)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

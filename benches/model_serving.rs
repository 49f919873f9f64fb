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

#[path = "serving/mod.rs"]
mod serving;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdkafka::mocking::MockCluster;

use server::Config;
use serving::{base_loop, preload, weir_server};

const N: u64 = 20_000;
const PARTITIONS: i32 = 4;

const MODELS: [(&str, &str); 2] = [
    ("random_forest", "winequalityRandonForrestClassification"),
    ("tensorflow", "optimized_WineQuality"),
];

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    // Manual assignment, so no group join is measured.
    let config = Config {
        data_partitions: Some((0..PARTITIONS).collect()),
        ..Config::new(&brokers)
    };
    mock.create_topic(&config.data_topic, PARTITIONS, 1)
        .unwrap();
    mock.create_topic(&config.models_topic, 1, 1).unwrap();
    mock.create_topic(&config.scored_topic, PARTITIONS, 1)
        .unwrap();
    preload(&brokers, &config, N);

    // Whole runs: clients created, every record processed, clients closed.
    let mut g = c.benchmark_group("model_serving_run");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    for (short, name) in MODELS {
        g.bench_function(format!("weir_server/{short}"), |b| {
            b.to_async(&rt).iter(|| weir_server(&config, name, N))
        });
        g.bench_function(format!("base_consumer_base_producer_loop/{short}"), |b| {
            b.iter(|| base_loop(&config, name, N, PARTITIONS))
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
                        total += weir_server(&config, name, N).await;
                    }
                    total
                }
            })
        });
        g.bench_function(format!("base_consumer_base_producer_loop/{short}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| base_loop(&config, name, N, PARTITIONS))
                    .sum()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! End-to-end tests of the server: on librdkafka's mock cluster, and scale-out on the suite's
//! Apache Kafka broker (`tests/support/apache_kafka.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use serde_json::json;
use weir::kafka::Subscription;
use weir::kafka::{Consumer, ConsumerSettings, Producer, ProducerRecord, ProducerSettings};
use weir::prelude::*;

use crate::feed::{self, Format};
use crate::messages::{ModelDescriptor, ModelType, Origin, ScoreResult, ScoredRecord};
use crate::models::{bundled, ServingModel};
use crate::server::{Config, Server};
use crate::stats::get;

// The integration tests' helpers: `eventually`, the Apache Kafka broker, committed offsets.
#[path = "../../tests/support/mod.rs"]
mod support;

use support::apache_kafka::{unique, ApacheKafka};
use support::eventually;

type Mock = MockCluster<'static, DefaultProducerContext>;

fn mock(partitions: i32) -> (Mock, Config) {
    let mock = MockCluster::new(1).expect("mock cluster");
    let config = Config {
        commit_interval: Duration::from_millis(100),
        ..Config::new(&mock.bootstrap_servers())
    };
    mock.create_topic(&config.data_topic, partitions, 1)
        .unwrap();
    mock.create_topic(&config.models_topic, 1, 1).unwrap();
    mock.create_topic(&config.scored_topic, partitions, 1)
        .unwrap();
    (mock, config)
}

fn producer(config: &Config) -> ProducerSettings {
    ProducerSettings::new(&config.brokers).with_property("linger.ms", "1")
}

/// Writes `n` wines (from row `from` of the data set), keyed by row, as protobuf.
async fn produce_wines(config: &Config, from: usize, n: usize) {
    let wines = feed::wines();
    let topic = config.data_topic.clone();
    Source::from_iter(from..from + n)
        .map(move |i| {
            let w = &wines[i % wines.len()];
            ProducerRecord::new(topic.clone(), w.to_protobuf()).with_key(i.to_string())
        })
        .run_with(Producer::plain_sink(producer(config)))
        .await
        .unwrap();
}

async fn produce_raw(config: &Config, topic: &str, value: Vec<u8>) {
    Source::single(ProducerRecord::new(topic, value).with_key("raw"))
        .run_with(Producer::plain_sink(producer(config)))
        .await
        .unwrap();
}

async fn publish(config: &Config, model: &ModelDescriptor, format: Format) {
    feed::publish_model(producer(config), &config.models_topic, model, format)
        .await
        .unwrap();
}

/// Reads the `n` records of `scored`, and checks for a while that no more arrive (the topic
/// holds exactly `n`).
async fn read_scored(config: &Config, n: usize) -> Vec<ScoredRecord> {
    let settings = ConsumerSettings::new(&config.brokers, "test-reader")
        .with_property("auto.offset.reset", "earliest");
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    let control = Consumer::plain_source(
        settings,
        Subscription::topics([config.scored_topic.clone()]),
    )
    .map(|r| serde_json::from_slice::<ScoredRecord>(r.value.as_deref().unwrap()).unwrap())
    .to(Sink::foreach(move |s| sink.lock().unwrap().push(s)))
    .run();
    eventually("the scored records", || got.lock().unwrap().len() >= n).await;
    // Real time: nothing more may come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    control.shutdown().await;
    let got = std::mem::take(&mut *got.lock().unwrap());
    assert_eq!(got.len(), n, "records in {}", config.scored_topic);
    got
}

fn model_named(name: &str) -> ModelDescriptor {
    bundled()
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no bundled model {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_scored_by_the_latest_model_and_a_swap_loses_nothing() {
    let (_mock, config) = mock(2);
    // Before any model: an explicit "no model" result.
    produce_wines(&config, 0, 20).await;
    let server = Server::start(&config).await.unwrap();
    eventually("20 records out", || get(&server.stats.records_out) == 20).await;

    // The first model, then records streaming while the second replaces it.
    let first = model_named("winequalityLinearRegression");
    let second = model_named("winequalityDecisionTreeClassification");
    publish(&config, &first, Format::Protobuf).await;
    eventually("the first model serves", || {
        server.scoring.state().is_some_and(|m| m.name == first.name)
    })
    .await;
    // Records stream in batches; the second model is published while they flow, and the
    // feed holds its last batches until the swap happened, so both models score some.
    let swapped = Arc::new(tokio::sync::Notify::new());
    let feeding = {
        let (config, swapped) = (config.clone(), swapped.clone());
        tokio::spawn(async move {
            for batch in 0..20 {
                if batch == 14 {
                    swapped.notified().await;
                }
                produce_wines(&config, 20 + batch * 20, 20).await;
            }
        })
    };
    eventually("a first part of the stream", || {
        get(&server.stats.records_out) >= 120
    })
    .await;
    publish(&config, &second, Format::Json).await;
    eventually("the second model serves", || {
        server
            .scoring
            .state()
            .is_some_and(|m| m.name == second.name)
    })
    .await;
    swapped.notify_one();
    feeding.await.unwrap();
    eventually("every record out", || get(&server.stats.records_out) == 420).await;
    assert_eq!(
        server.scoring.state().map(|m| m.name),
        Some(second.name.clone())
    );
    assert_eq!(get(&server.stats.records_without_model), 20);
    assert_eq!(get(&server.stats.models_accepted), 2);
    server.drain().await.unwrap();

    let scored = read_scored(&config, 420).await;
    assert_eq!(scored.len(), 420, "each record scored exactly once");
    let mut by_source: HashMap<Origin, &ScoredRecord> = HashMap::new();
    for s in &scored {
        assert!(
            by_source.insert(s.source, s).is_none(),
            "{:?} twice",
            s.source
        );
    }
    // Per partition, in offset order: no model, then the first, then the second — the swap
    // happens between two records, once.
    let (a, b) = (
        ServingModel::build(&first).unwrap(),
        ServingModel::build(&second).unwrap(),
    );
    let mut counts: HashMap<Option<String>, usize> = HashMap::new();
    for p in 0..2 {
        let mut records: Vec<&ScoredRecord> =
            scored.iter().filter(|s| s.source.partition == p).collect();
        records.sort_by_key(|s| s.source.offset);
        // The models of the partition's records, in offset order, with repeats removed:
        // each model takes over once, in publishing order.
        let mut phases: Vec<Option<&str>> = records.iter().map(|s| s.model.as_deref()).collect();
        phases.dedup();
        let publishing = [None, Some(first.name.as_str()), Some(second.name.as_str())];
        let ranks: Vec<usize> = phases
            .iter()
            .map(|m| publishing.iter().position(|e| e == m).unwrap())
            .collect();
        assert!(
            ranks.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: models out of order: {phases:?}"
        );
        for s in records {
            *counts.entry(s.model.clone()).or_default() += 1;
            let expected = match s.model.as_deref() {
                None => ScoreResult::NoModel,
                Some(n) if n == first.name => a.score_record(&s.record).unwrap(),
                Some(_) => b.score_record(&s.record).unwrap(),
            };
            assert_eq!(s.result, expected);
        }
    }
    assert_eq!(counts[&None], 20);
    assert!(counts[&Some(first.name.clone())] >= 100);
    assert!(
        counts[&Some(second.name.clone())] >= 120,
        "the last batches came after the swap"
    );
    assert_eq!(
        counts[&Some(first.name.clone())] + counts[&Some(second.name.clone())],
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_and_invalid_models_are_counted_skipped_and_committed() {
    let (_mock, config) = mock(1);
    let server = Server::start(&config).await.unwrap();
    let model = model_named("winequalityRandonForrestClassification");
    publish(&config, &model, Format::Protobuf).await;
    eventually("the model serves", || server.scoring.state().is_some()).await;

    produce_wines(&config, 0, 5).await;
    produce_raw(
        &config,
        &config.data_topic,
        b"{\"not\": \"a wine\"}".to_vec(),
    )
    .await;
    produce_raw(&config, &config.data_topic, vec![0xff; 7]).await;
    let mut nan = feed::wines()[0].clone();
    nan.alcohol = f64::NAN;
    produce_raw(&config, &config.data_topic, nan.to_protobuf()).await;
    produce_wines(&config, 5, 4).await;
    // A record as JSON is as good as protobuf.
    produce_raw(
        &config,
        &config.data_topic,
        serde_json::to_vec(&feed::wines()[9]).unwrap(),
    )
    .await;
    // Invalid models: garbage, a broken PMML document, an unknown type, garbage TensorFlow.
    produce_raw(&config, &config.models_topic, vec![0x0a, 0xff, 0x01]).await;
    let broken = ModelDescriptor::new("broken", "", ModelType::Pmml, b"<PMML><Regr".to_vec());
    publish(&config, &broken, Format::Json).await;
    let mut unknown = model.clone();
    unknown.model_type = 42;
    produce_raw(&config, &config.models_topic, unknown.to_protobuf()).await;
    let tf = ModelDescriptor::new("tf", "", ModelType::Tensorflow, vec![8; 64]);
    publish(&config, &tf, Format::Protobuf).await;
    eventually("four models rejected", || {
        get(&server.stats.models_rejected) == 4
    })
    .await;
    produce_wines(&config, 10, 5).await;
    eventually("every record in", || get(&server.stats.records_in) == 18).await;
    eventually("every valid record out", || {
        get(&server.stats.records_out) == 15
    })
    .await;
    assert_eq!(get(&server.stats.records_rejected), 3);
    // The serving model stayed.
    assert_eq!(server.scoring.state().unwrap().name, model.name);
    assert_eq!(server.scoring.state().unwrap().records_scored, 15);
    server.drain().await.unwrap();

    // The malformed records' offsets were committed with the rest: nothing is re-read.
    let committed = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            support::kafka::committed(&config.brokers, &config.group, &config.data_topic, 1)
        })
        .await
        .unwrap()
    };
    assert_eq!(committed, vec![18]);
    let scored = read_scored(&config, 15).await;
    assert_eq!(scored.len(), 15);
    assert!(scored
        .iter()
        .all(|s| s.model.as_deref() == Some(model.name.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_service_reports_the_serving_model() {
    let (_mock, config) = mock(1);
    let server = Server::start(&config).await.unwrap();
    let app = crate::http::AppState {
        scoring: server.scoring.clone(),
        stats: server.stats.clone(),
        running: server.running(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crate::http::serve(listener, app, std::future::pending()));

    let (status, body) = get_http(addr, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "waiting for a model");
    let (_, body) = get_http(addr, "/state").await;
    assert!(body["model"].is_null());

    let model = model_named("winequalityGeneralizedLinearRegressionGamma");
    publish(&config, &model, Format::Protobuf).await;
    eventually("the model serves", || server.scoring.state().is_some()).await;
    produce_wines(&config, 0, 10).await;
    eventually("ten records out", || get(&server.stats.records_out) == 10).await;
    let (status, body) = get_http(addr, "/state").await;
    assert_eq!(status, 200);
    assert_eq!(body["model"]["name"], model.name.as_str());
    assert_eq!(body["model"]["description"], model.description.as_str());
    assert_eq!(body["model"]["records_scored"], 10);
    let t = &body["model"]["scoring_time_us"];
    assert!(t["min"].as_f64().unwrap() <= t["avg"].as_f64().unwrap());
    assert!(t["avg"].as_f64().unwrap() <= t["max"].as_f64().unwrap());
    assert!(body["model"]["since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["records_out"], 10);
    // The server's islands, from weir's diagnostics: its streams run and have passed records.
    let islands = body["islands"].as_array().unwrap();
    assert!(islands
        .iter()
        .all(|i| i["label"].is_string() && i["state"].is_string()));
    // (Other tests' servers run in this process too, so any scoring island may be ours.)
    assert!(
        islands
            .iter()
            .any(|i| i["label"] == "scoring" && i["elements"].as_u64() >= Some(10)),
        "{islands:#?}"
    );
    let (_, body) = get_http(addr, "/health").await;
    assert_eq!(body["status"], "serving");
    assert_eq!(get_http(addr, "/nothing").await.0, 404);

    // Once the server's stream ended, it is not healthy.
    server.drain().await.unwrap();
    let (status, body) = get_http(addr, "/health").await;
    assert_eq!((status, &body["status"]), (503, &json!("stopped")));
}

/// A GET over a plain TCP connection: the status and the JSON body.
async fn get_http(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Two servers in one group on a real broker split `data`'s partitions; both receive every
/// model; every record is scored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_data_and_each_serves_every_model() {
    let brokers = ApacheKafka::shared();
    let config = Config {
        group: unique("scale-out"),
        data_topic: unique("data"),
        models_topic: unique("models"),
        scored_topic: unique("scored"),
        commit_interval: Duration::from_millis(100),
        ..Config::new(brokers)
    };
    feed::create_topics(brokers, &config, 4).await.unwrap();
    let one = Server::start(&config).await.unwrap();
    let two = Server::start(&config).await.unwrap();
    let both_serve = |name: &str| {
        [&one, &two]
            .iter()
            .all(|s| s.scoring.state().is_some_and(|m| m.name == name))
    };
    let model = model_named("winequalityDesisionTreeRegression");
    publish(&config, &model, Format::Protobuf).await;
    eventually("both instances serve the model", || both_serve(&model.name)).await;
    // Steady state: the group has settled with each instance owning some partitions.
    eventually("the partitions split between the instances", || {
        let (a, b) = (
            one.data_control().metrics().assigned.len(),
            two.data_control().metrics().assigned.len(),
        );
        a > 0 && b > 0 && a + b == 4
    })
    .await;

    // The data feed of `--produce-data`, writing JSON this time.
    let written = feed::feed_data(
        producer(&config),
        config.data_topic.clone(),
        2000,
        Some(400),
        Format::Json,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(written, 400);
    eventually("every record out", || {
        get(&one.stats.records_out) + get(&two.stats.records_out) >= 400
    })
    .await;
    assert!(get(&one.stats.records_out) > 0 && get(&two.stats.records_out) > 0);
    let second = model_named("winequalityMultilayerPerceptron");
    publish(&config, &second, Format::Json).await;
    eventually("both instances serve the second model", || {
        both_serve(&second.name)
    })
    .await;
    one.drain().await.unwrap();
    two.drain().await.unwrap();

    let scored = read_scored(&config, 400).await;
    assert_eq!(scored.len(), 400, "every record scored exactly once");
    let mut sources: Vec<Origin> = scored.iter().map(|s| s.source).collect();
    sources.sort_by_key(|s| (s.partition, s.offset));
    sources.dedup();
    assert_eq!(sources.len(), 400);
    assert!(scored
        .iter()
        .all(|s| s.model.as_deref() == Some(model.name.as_str())));
}

/// A starting server serves the latest valid model on `models` from its first record: records
/// already waiting are scored by it, none gets "no model", and an invalid model published last
/// does not leave it without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_server_serves_the_latest_valid_model_from_its_first_record() {
    let (_mock, config) = mock(1);
    let old = model_named("winequalityLinearRegression");
    let latest = model_named("optimized_WineQuality");
    publish(&config, &old, Format::Protobuf).await;
    publish(&config, &latest, Format::Protobuf).await;
    let broken = ModelDescriptor::new("broken", "", ModelType::Pmml, b"<PMML".to_vec());
    publish(&config, &broken, Format::Protobuf).await;
    produce_wines(&config, 0, 30).await;

    let server = Server::start(&config).await.unwrap();
    assert_eq!(
        server.scoring.state().map(|m| m.name),
        Some(latest.name.clone()),
        "the latest valid model serves before any record"
    );
    eventually("30 records out", || get(&server.stats.records_out) == 30).await;
    assert_eq!(get(&server.stats.records_without_model), 0);
    // The invalid model was looked at before the server started, not counted again.
    assert_eq!(get(&server.stats.models_rejected), 0);
    server.drain().await.unwrap();
    let scored = read_scored(&config, 30).await;
    assert!(scored
        .iter()
        .all(|s| s.model.as_deref() == Some(latest.name.as_str())));
    assert!(matches!(scored[0].result, ScoreResult::Class { .. }));

    // A restart with the group's committed offsets: nothing is scored twice.
    produce_wines(&config, 30, 10).await;
    let again = Server::start(&config).await.unwrap();
    eventually("10 more records out", || {
        get(&again.stats.records_out) == 10
    })
    .await;
    again.drain().await.unwrap();
    assert_eq!(read_scored(&config, 40).await.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_topic_with_several_partitions_is_refused_at_start() {
    let mock = MockCluster::new(1).unwrap();
    let config = Config::new(&mock.bootstrap_servers());
    mock.create_topic(&config.data_topic, 1, 1).unwrap();
    mock.create_topic(&config.models_topic, 2, 1).unwrap();
    mock.create_topic(&config.scored_topic, 1, 1).unwrap();
    let e = Server::start(&config).await.err().expect("refused");
    assert!(e.to_string().contains("2 partitions"), "{e}");
}

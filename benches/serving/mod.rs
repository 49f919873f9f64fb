//! The model server's workloads that more than one bench measures: writing the inputs, the
//! example's server from start to drained, and the hand-written rdkafka loop doing the same work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::ClientConfig;

use crate::feed;
use crate::messages::{self, Origin, ScoredRecord, WineRecord};
use crate::models::{self, ServingModel};
use crate::server::{Config, Server};
use crate::stats;

static GROUP: AtomicU64 = AtomicU64::new(0);

/// A fresh consumer group, so each run reads its topic from the start.
pub fn group() -> String {
    format!(
        "bench-{}-{}",
        std::process::id(),
        GROUP.fetch_add(1, Ordering::Relaxed)
    )
}

/// A model bundled with the example, by name.
pub fn model(name: &str) -> messages::ModelDescriptor {
    models::bundled()
        .into_iter()
        .find(|m| m.name == name)
        .expect("a bundled model")
}

/// Writes `n` protobuf wine records to the data topic, keyed by their index.
pub fn preload(brokers: &str, config: &Config, n: u64) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let wines = feed::wines();
    for i in 0..n {
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
    p.flush(Duration::from_secs(60)).unwrap();
}

/// The example's server, from start to drained, until `n` results are acknowledged; returns
/// the steady part: from the first record read to the last result acknowledged. The model is
/// installed directly (the models topic holds one model per benchmark).
pub async fn weir_server(config: &Config, name: &str, n: u64) -> Duration {
    let config = Config {
        group: group(),
        ..config.clone()
    };
    let server = Server::start(&config).await.unwrap();
    server
        .scoring
        .install(ServingModel::build(&model(name)).unwrap())
        .unwrap();
    let mut first_in = None;
    while stats::get(&server.stats.records_out) < n {
        if first_in.is_none() && stats::get(&server.stats.records_in) > 0 {
            first_in = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let steady = first_in.map_or(Duration::ZERO, |t| t.elapsed());
    server.drain().await.unwrap();
    steady
}

/// The same work as a hand-written rdkafka loop over `partitions` partitions by manual
/// assignment: decode, score, produce the JSON result, and every 1000 records flush and commit
/// synchronously. Returns the steady part, from the first record read to the last result
/// acknowledged and committed.
pub fn base_loop(config: &Config, name: &str, n: u64, partitions: i32) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", group())
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
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
    let mut count = 0u64;
    let mut first_in = None;
    while count < n {
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
        count += 1;
        if count % 1000 == 0 {
            // At-least-once: commit once the batch's results are acknowledged.
            producer.flush(Duration::from_secs(30)).unwrap();
            commit(&next);
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    commit(&next);
    first_in.map_or(Duration::ZERO, |t| t.elapsed())
}

//! Kafka pipelines on librdkafka's in-process mock cluster, weir against hand-written rdkafka
//! loops, in one run.
//!
//! ```text
//! cargo bench --features kafka --bench kafka
//! ```
//!
//! - `consume_produce_commit`: read N records, map, produce to another topic, commit offsets in
//!   batches of 1000 (at-least-once): weir's committable source → flexi flow → committer; a
//!   `BaseConsumer` → `BaseProducer` loop with the same commit policy; and a `StreamConsumer` →
//!   `FutureProducer` pipeline with `buffer_unordered`.
//! - `consume_only`: `plain_source` against a `BaseConsumer` poll loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer as _};
use rdkafka::ClientConfig;
use weir::kafka::TopicPartition;
use weir::kafka::{
    Committer, CommitterSettings, Consumer, ConsumerSettings, Envelope, Producer, ProducerRecord,
    ProducerSettings, Subscription,
};
use weir::prelude::*;

const N: u64 = 20_000;
static GROUP: AtomicU64 = AtomicU64::new(0);

fn group() -> String {
    format!("bench-{}", GROUP.fetch_add(1, Ordering::Relaxed))
}

/// Every variant reads the four partitions by manual assignment from offset 0, so the numbers
/// measure the pipelines rather than the consumer group's join (about 3 s on the mock cluster).
fn assignment() -> rdkafka::TopicPartitionList {
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition_offset("in", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    tpl
}

fn subscription() -> Subscription {
    Subscription::assignment_with_offsets((0..4).map(|p| (TopicPartition::new("in", p), 0)))
}

fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    c
}

fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers).set("linger.ms", "5");
    c
}

fn preload(brokers: &str) {
    let p: BaseProducer = producer_config(brokers).create().unwrap();
    for i in 0..N {
        let v = format!("record-{i}");
        loop {
            match p.send(BaseRecord::<(), _>::to("in").payload(&v)) {
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

async fn weir_pipeline(brokers: &str) {
    let consumer =
        ConsumerSettings::new(brokers, &group()).with_property("auto.offset.reset", "earliest");
    let producer = ProducerSettings::new(brokers)
        .with_property("linger.ms", "5")
        .with_parallelism(1000);
    let committer = CommitterSettings::default().with_max_batch(1000);
    let (control, done) = Consumer::committable_source(consumer, subscription())
        .take(N)
        .map(|m| {
            let v = m.record.value.unwrap_or_default();
            Envelope::Message(ProducerRecord::new("out", v), m.offset)
        })
        .via(Producer::flexi_flow(producer))
        .map(|r| r.into_pass_through())
        .to_mat(Committer::sink(committer), Keep::both)
        .run();
    done.await.unwrap();
    control.shutdown().await;
}

fn base_loop(brokers: &str) {
    let consumer: BaseConsumer = consumer_config(brokers, &group()).create().unwrap();
    consumer.assign(&assignment()).unwrap();
    let producer: BaseProducer = producer_config(brokers).create().unwrap();
    let mut n = 0u64;
    while n < N {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let v = m.payload().unwrap_or_default().to_vec();
            loop {
                match producer.send(BaseRecord::<(), _>::to("out").payload(&v)) {
                    Ok(()) => break,
                    Err(_) => {
                        producer.poll(Duration::from_millis(1));
                    }
                }
            }
            producer.poll(Duration::ZERO);
            n += 1;
            if n % 1000 == 0 {
                // Same policy: a batch is committed once its records were acknowledged.
                producer.flush(Duration::from_secs(30)).unwrap();
                consumer.commit_message(&m, CommitMode::Sync).unwrap();
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

async fn stream_future_pipeline(brokers: &str) {
    let consumer: StreamConsumer = consumer_config(brokers, &group()).create().unwrap();
    consumer.assign(&assignment()).unwrap();
    let producer: FutureProducer = producer_config(brokers).create().unwrap();
    let sent = consumer
        .stream()
        .take(N as usize)
        .map(|m| {
            let m = m.unwrap().detach();
            let producer = producer.clone();
            async move {
                let v = m.payload().unwrap_or_default().to_vec();
                producer
                    .send(
                        FutureRecord::<(), _>::to("out").payload(&v),
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap();
                (m.partition(), m.offset())
            }
        })
        .buffer_unordered(1000)
        .chunks(1000);
    futures::pin_mut!(sent);
    while let Some(batch) = sent.next().await {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (p, o) in batch {
            tpl.add_partition_offset("in", p, rdkafka::Offset::Offset(o + 1))
                .unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }
}

async fn weir_consume(brokers: &str) {
    let consumer =
        ConsumerSettings::new(brokers, &group()).with_property("auto.offset.reset", "earliest");
    let (control, done) = Consumer::plain_source(consumer, subscription())
        .take(N)
        .to_mat(Sink::ignore(), Keep::both)
        .run();
    done.await.unwrap();
    control.shutdown().await;
}

fn base_consume(brokers: &str) {
    let consumer: BaseConsumer = consumer_config(brokers, &group()).create().unwrap();
    consumer.assign(&assignment()).unwrap();
    let mut n = 0;
    while n < N {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            n += 1;
        }
    }
}

/// The same poll loop, draining what is ready without a timeout before waiting again.
fn base_consume_drain(brokers: &str) {
    let consumer: BaseConsumer = consumer_config(brokers, &group()).create().unwrap();
    consumer.assign(&assignment()).unwrap();
    let mut n = 0;
    while n < N {
        let mut timeout = Duration::from_millis(100);
        while let Some(m) = consumer.poll(timeout) {
            if m.is_ok() {
                n += 1;
            }
            timeout = Duration::ZERO;
            if n == N {
                break;
            }
        }
    }
}

fn kafka(c: &mut Criterion) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("in", 4, 1).unwrap();
    cluster.create_topic("out", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    preload(&brokers);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("consume_produce_commit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("weir", |b| b.iter(|| rt.block_on(weir_pipeline(&brokers))));
    g.bench_function("base_consumer_base_producer_loop", |b| {
        b.iter(|| base_loop(&brokers))
    });
    g.bench_function("stream_consumer_future_producer", |b| {
        b.iter(|| rt.block_on(stream_future_pipeline(&brokers)))
    });
    g.finish();

    let mut g = c.benchmark_group("consume_only");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("weir_plain_source", |b| {
        b.iter(|| rt.block_on(weir_consume(&brokers)))
    });
    g.bench_function("base_consumer_poll_loop", |b| {
        b.iter(|| base_consume(&brokers))
    });
    g.bench_function("base_consumer_poll_drain_loop", |b| {
        b.iter(|| base_consume_drain(&brokers))
    });
    g.finish();
}

criterion_group!(benches, kafka);
criterion_main!(benches);

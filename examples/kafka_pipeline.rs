//! Consume → transform → produce → commit, with a draining shutdown on Ctrl-C.
//!
//! ```text
//! cargo run --features kafka --example kafka_pipeline                 # in-process mock cluster
//! cargo run --features kafka --example kafka_pipeline -- --brokers host:9092
//! ```
//!
//! With no `--brokers`, the example starts librdkafka's in-process mock cluster, fills the
//! `orders` topic, and stops by itself after `--seconds` (default 5) or on Ctrl-C.

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use weir::kafka::{
    deserialize, Committer, CommitterSettings, Consumer, ConsumerSettings, DrainingControl,
    Envelope, Producer, ProducerRecord, ProducerSettings, Subscription,
};
use weir::prelude::*;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = arg("--seconds")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    // The mock cluster lives as long as this binding.
    let mock;
    let brokers = match arg("--brokers") {
        Some(b) => b,
        None => {
            mock = MockCluster::new(1)?;
            mock.create_topic("orders", 4, 1)?;
            mock.create_topic("invoices", 4, 1)?;
            mock.bootstrap_servers()
        }
    };
    let producer = ProducerSettings::new(&brokers).with_property("linger.ms", "5");

    // A feed of orders, in the background.
    let feed = Source::iterate(0u64, |n| n + 1)
        .throttle(2_000, Duration::from_secs(1), 200)
        .map(|n| {
            ProducerRecord::new(
                "orders",
                format!("{{\"id\": {n}, \"cents\": {}}}", 100 + n % 900),
            )
            .with_key(n.to_string())
        })
        .run_with(Producer::plain_sink(producer.clone()));

    // The pipeline: read orders, turn each into an invoice, produce it, commit the order's
    // offset once the invoice is acknowledged.
    #[derive(serde::Deserialize)]
    struct Order {
        id: u64,
        cents: u64,
    }
    let consumer =
        ConsumerSettings::new(&brokers, "invoicing").with_property("auto.offset.reset", "earliest");
    let committer = CommitterSettings::default().with_max_interval(Duration::from_millis(500));
    let control = Consumer::committable_source(consumer, Subscription::topics(["orders"]))
        .map(|m| match deserialize::json_value::<Order>(&m.record) {
            Ok(order) => {
                let invoice = format!(
                    "invoice {} for {}.{:02}",
                    order.id,
                    order.cents / 100,
                    order.cents % 100
                );
                Envelope::Message(ProducerRecord::new("invoices", invoice), m.offset)
            }
            // A poison record: nothing to produce, but its offset is still committed.
            Err(e) => {
                eprintln!("skipping: {e}");
                Envelope::PassThrough(m.offset)
            }
        })
        .via(Producer::flexi_flow(producer))
        .map(|r| r.into_pass_through())
        .via(Committer::flow(committer))
        .to_mat(
            Sink::fold(0usize, |n, batch: weir::kafka::CommittedBatch| {
                n + batch.offsets
            }),
            Keep::both,
        )
        .run();
    let control = DrainingControl::from_pair(control);

    let c = control.control().clone();
    let progress = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let m = c.metrics();
            println!(
                "consumed {} records, {} buffered, {} partitions",
                m.records_in,
                m.buffered,
                m.assigned.len()
            );
        }
    });
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("Ctrl-C: draining"),
        _ = tokio::time::sleep(Duration::from_secs(seconds)) => println!("{seconds} s passed: draining"),
    }
    progress.abort();
    let committed = control.drain_and_shutdown().await?;
    println!("drained: {committed} offsets committed");
    drop(feed);
    Ok(())
}

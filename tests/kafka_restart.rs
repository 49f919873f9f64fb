#![cfg(feature = "kafka")]
//! A Kafka pipeline kept alive through a broker outage by `RestartSource` and stopped by a kill
//! switch (issue 11), on librdkafka's mock cluster: the source fails with `BrokersUnreachable`
//! while the broker is down, is restarted with backoff, and resumes from the committed offsets.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::eventually;
use support::kafka::{cluster, committed, consumer_settings, produce};
use weir::kafka::{Committer, CommitterSettings, Consumer, Subscription};
use weir::kafka::{Producer, ProducerRecord};
use weir::prelude::*;
use weir::{KillSwitch, KillSwitches, RestartSettings, RestartSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_from_its_commits_after_an_outage() {
    let c = cluster("outage", 2);
    produce(&c, "outage", 100).await;
    let bootstrap = c.bootstrap_servers();
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let runs = Arc::new(Mutex::new(0u32));
    let (s, r, settings) = (
        seen.clone(),
        runs.clone(),
        consumer_settings(&c, "outage-g"),
    );
    let restart = RestartSettings::new(Duration::from_millis(200), Duration::from_secs(1), 0.0);
    let pipeline = RestartSource::on_failures_with_backoff(restart, move || {
        *r.lock().unwrap() += 1;
        let s = s.clone();
        Consumer::committable_source(
            settings
                .clone()
                .with_connection_timeout(Some(Duration::from_secs(1))),
            Subscription::topics(["outage"]),
        )
        .map(move |m| {
            s.lock()
                .unwrap()
                .push(m.record.value_str().unwrap().parse().unwrap());
            m.offset
        })
        .via(Committer::flow(
            CommitterSettings::default().with_max_interval(Duration::from_millis(50)),
        ))
    });
    let (switch, done) = pipeline
        .via_mat(KillSwitches::single(), Keep::right)
        .to_mat(Sink::ignore(), Keep::both)
        .run();
    let total = |bootstrap: &str| {
        committed(bootstrap, "outage-g", "outage", 2)
            .iter()
            .sum::<i64>()
    };
    eventually("the first 100 committed", || total(&bootstrap) == 100).await;

    c.broker_down(1).unwrap();
    eventually("the source failed and was restarted", || {
        *runs.lock().unwrap() >= 2
    })
    .await;
    c.broker_up(1).unwrap();
    Source::range(100u32, 199)
        .map(|i| ProducerRecord::new("outage", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(support::kafka::producer_settings(&c)))
        .await
        .unwrap();
    eventually("all 200 committed", || total(&bootstrap) == 200).await;
    switch.shutdown();
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .expect("the kill switch ends the stream")
        .expect("it completes");

    // At least once: every record was seen; only records past the last commit before the
    // outage can have been seen twice.
    let seen = seen.lock().unwrap().clone();
    let distinct: BTreeSet<u32> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), 200, "missing records");
    assert!(seen.len() < 300, "{} records seen for 200", seen.len());
}

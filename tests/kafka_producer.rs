#![cfg(feature = "kafka")]

mod support;

use std::time::Duration;

use support::kafka::{cluster, committed, consumer_settings, producer_settings};
use weir::kafka::{
    deserialize, CommitterSettings, Consumer, Envelope, KafkaError, Producer, ProducerRecord,
    Results, Subscription,
};
use weir::prelude::*;
use weir::{Attributes, Decider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flexi_flow_keeps_order_and_pass_through_values() {
    let c = cluster("flexi", 3);
    let envelopes = (0..30u32).map(|i| match i % 3 {
        0 => Envelope::Message(ProducerRecord::new("flexi", i.to_string()), i),
        1 => Envelope::MultiMessage(
            vec![
                ProducerRecord::new("flexi", "a"),
                ProducerRecord::new("flexi", "b"),
            ],
            i,
        ),
        _ => Envelope::PassThrough(i),
    });
    let results = Source::from_iter(envelopes.collect::<Vec<_>>())
        .via(Producer::flexi_flow(producer_settings(&c)))
        .run_with(Sink::seq())
        .await
        .unwrap();
    let passes: Vec<u32> = results.iter().map(|r| *r.pass_through()).collect();
    assert_eq!(passes, (0..30).collect::<Vec<_>>());
    for r in &results {
        match r {
            Results::Result(meta, i) => {
                assert!(i % 3 == 0 && meta.topic == "flexi" && meta.offset >= 0)
            }
            Results::MultiResult(metas, i) => assert!(i % 3 == 1 && metas.len() == 2),
            Results::PassThroughResult(i) => assert_eq!(i % 3, 2),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_commit() {
    let c = cluster("in", 2);
    c.create_topic("out", 2, 1).unwrap();
    Source::range(0u32, 99)
        .map(|i| ProducerRecord::new("in", i.to_string()).with_key(i.to_string()))
        .run_with(Producer::plain_sink(producer_settings(&c)))
        .await
        .unwrap();
    let committer = CommitterSettings::default().with_max_interval(Duration::from_millis(50));
    let (control, done) =
        Consumer::committable_source(consumer_settings(&c, "pipe"), Subscription::topics(["in"]))
            .take(100)
            .map(|m| {
                let n: u32 = deserialize::utf8_value(&m.record).unwrap().parse().unwrap();
                Envelope::Message(ProducerRecord::new("out", (n * 2).to_string()), m.offset)
            })
            .to_mat(
                Producer::committable_sink(producer_settings(&c), committer),
                Keep::both,
            )
            .run();
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    assert_eq!(
        committed(&c.bootstrap_servers(), "pipe", "in", 2)
            .iter()
            .sum::<i64>(),
        100
    );
    let (control, out) = Consumer::plain_source(
        consumer_settings(&c, "check"),
        Subscription::topics(["out"]),
    )
    .take(100)
    .map(|r| deserialize::utf8_value(&r).unwrap().parse::<u32>().unwrap())
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let mut out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .unwrap()
        .unwrap();
    out.sort();
    assert_eq!(out, (0..100).map(|n| n * 2).collect::<Vec<_>>());
    control.shutdown().await;
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Reading {
    id: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_skipped_or_fails_as_supervision_decides() {
    let c = cluster("json", 1);
    let values = vec![r#"{"id": 1}"#, "not json", r#"{"id": 3}"#];
    Source::from_iter(values)
        .map(|v| ProducerRecord::new("json", v))
        .run_with(Producer::plain_sink(producer_settings(&c)))
        .await
        .unwrap();
    let source = || {
        Consumer::plain_source(
            consumer_settings(&c, "json-g"),
            Subscription::topics(["json"]),
        )
    };
    // Resume: the poison record is skipped, the consumer keeps going.
    let got = source()
        .take(3)
        .try_map(|r| deserialize::json_value::<Reading>(&r))
        .with_attributes(Attributes::supervision(Decider::resuming()))
        .run_with(Sink::seq());
    let got = tokio::time::timeout(Duration::from_secs(30), got)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, vec![Reading { id: 1 }, Reading { id: 3 }]);
    // Stop (the default): a typed error naming the record.
    let err = source()
        .try_map(|r| deserialize::json_value::<Reading>(&r))
        .run_with(Sink::seq());
    let err = tokio::time::timeout(Duration::from_secs(30), err)
        .await
        .unwrap()
        .unwrap_err();
    let e = err
        .downcast_ref::<deserialize::DeserializeError>()
        .expect("a DeserializeError");
    assert_eq!((e.topic.as_str(), e.offset), ("json", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_failure_fails_the_stream_with_a_kafka_error() {
    let c = cluster("bad", 1);
    c.topic_error(
        "bad",
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )
    .unwrap();
    let settings = producer_settings(&c).with_property("message.timeout.ms", "2000");
    let done =
        Source::single(ProducerRecord::new("bad", "x")).run_with(Producer::plain_sink(settings));
    let err = tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        err.downcast_ref::<KafkaError>().is_some(),
        "unexpected {err}"
    );
}

/// librdkafka's queue holds 5 records here, so most sends are refused for a while and retried:
/// the records still land in the order they came, headers and all, each envelope's results
/// with its own offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_refused_by_a_full_client_queue_keep_their_order() {
    let c = cluster("full", 1);
    let settings = producer_settings(&c)
        .with_property("queue.buffering.max.messages", "5")
        .with_parallelism(1000);
    let envelopes: Vec<_> = (0..300u32)
        .map(|i| {
            let r =
                |v: u32| ProducerRecord::new("full", v.to_string()).with_header("n", v.to_string());
            if i % 2 == 0 {
                Envelope::Message(r(2 * i), i)
            } else {
                Envelope::MultiMessage(vec![r(2 * i), r(2 * i + 1)], i)
            }
        })
        .collect();
    let results = Source::from_iter(envelopes)
        .via(Producer::flexi_flow(settings))
        .run_with(Sink::seq())
        .await
        .unwrap();
    let offsets: Vec<i64> = results
        .iter()
        .flat_map(|r| match r {
            Results::Result(m, _) => vec![m.offset],
            Results::MultiResult(ms, _) => ms.iter().map(|m| m.offset).collect(),
            Results::PassThroughResult(_) => vec![],
        })
        .collect();
    assert_eq!(offsets, (0..450).collect::<Vec<i64>>());
    let (control, read) = Consumer::plain_source(
        consumer_settings(&c, "full-reader"),
        Subscription::topics(["full"]),
    )
    .take(450)
    .map(|r| {
        let header = r.headers[0].1.clone().unwrap();
        assert_eq!(header, r.value.clone().unwrap());
        r.value_str().unwrap().parse::<u32>().unwrap()
    })
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let read = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the records arrive")
        .unwrap();
    control.shutdown().await;
    let expected: Vec<u32> = (0..300u32)
        .flat_map(|i| {
            if i % 2 == 0 {
                vec![2 * i]
            } else {
                vec![2 * i, 2 * i + 1]
            }
        })
        .collect();
    assert_eq!(read, expected);
}

/// Three streams write through one `SharedProducer`: each gets its own results in its own
/// order, all records land once, a stream whose records fail fails alone, and the producer
/// serves no stream once they are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_sharing_one_producer_keep_their_own_order_and_failures() {
    let c = cluster("shared", 2);
    c.create_topic("denied", 1, 1).unwrap();
    c.topic_error(
        "denied",
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )
    .unwrap();
    let settings = producer_settings(&c).with_property("message.timeout.ms", "2000");
    let shared = weir::kafka::SharedProducer::new(&settings).unwrap();
    let writer = |name: &'static str, topic: &'static str| {
        Source::range(0u32, 499)
            .map(move |i| Envelope::Message(ProducerRecord::new(topic, format!("{name}{i}")), i))
            .via(Producer::flexi_flow(
                settings.clone().with_producer(shared.clone()),
            ))
            .map(|r| *r.pass_through())
            .run_with(Sink::seq())
    };
    let (a, b, denied) = (
        writer("a", "shared"),
        writer("b", "shared"),
        writer("d", "denied"),
    );
    let (a, b, denied) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(a, b, denied)
    })
    .await
    .unwrap();
    assert_eq!(a.unwrap(), (0..500).collect::<Vec<_>>());
    assert_eq!(b.unwrap(), (0..500).collect::<Vec<_>>());
    let err = denied.unwrap_err();
    assert!(err.downcast_ref::<KafkaError>().is_some(), "{err}");
    assert_eq!(shared.streams(), 0);
    let (control, values) = Consumer::plain_source(
        consumer_settings(&c, "shared-r"),
        Subscription::topics(["shared"]),
    )
    .take(1000)
    .map(|r| r.value_str().unwrap().to_owned())
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let mut values = tokio::time::timeout(Duration::from_secs(60), values)
        .await
        .unwrap()
        .unwrap();
    control.shutdown().await;
    values.sort();
    let mut expected: Vec<String> = (0..500)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    expected.sort();
    assert_eq!(values, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_flow_refuses_a_shared_producer() {
    let c = cluster("tx-shared", 1);
    let settings = producer_settings(&c);
    let shared = weir::kafka::SharedProducer::new(&settings).unwrap();
    // Upstream never emits: the refusal must still end the stream.
    let done = Source::<Envelope<weir::kafka::CommittableOffset>>::never()
        .via(weir::kafka::Transactional::flow(
            settings.with_producer(shared),
            "t",
            Duration::from_millis(100),
        ))
        .run_with(Sink::ignore());
    let err = tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("SharedProducer"), "{err}");
}

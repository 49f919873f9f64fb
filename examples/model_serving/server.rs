//! The model server: one weir graph from the `data` and `models` topics to `scored`.
//!
//! ```text
//!  data ──▶ decode ──▶ Partition ──valid──▶ ┌─────────────┐
//!                          │                │ ScoringStage │──▶ result ──▶ Merge ──▶ produce ──▶ commit
//!                          │     models ──▶ └─────────────┘                 ▲        (scored)
//!                          └──malformed: skipped, its offset still committed ┘
//! ```
//!
//! - `data` is read by a consumer group (`--group`): instances with the same group split its
//!   partitions. Offsets are committed only after the scored record is acknowledged by the
//!   broker (at-least-once), in order per partition even though records are reordered by the
//!   merge (weir's committer commits only contiguous processed offsets).
//! - `models` is read by every instance without a shared group: each instance assigns itself
//!   every partition, starting at the last model published, so every instance serves every
//!   model, and a restarted instance serves the latest model at once.
//! - A malformed record is counted, logged with its offset and skipped; its offset is committed
//!   like any other, so it is never re-read. A malformed or invalid model is counted, logged and
//!   skipped; the serving model stays.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::ClientConfig;
use weir::builder::GraphBuilder;
use weir::junctions::{Merge, Partition};
use weir::kafka::{
    CommittableMessage, CommittableOffset, Committer, CommitterSettings, Consumer,
    ConsumerSettings, Control, DrainingControl, Envelope, Producer, ProducerRecord,
    ProducerSettings, Results, Subscription, TopicPartition,
};
use weir::prelude::*;
use weir::scoring::{Outcome, ScoredBy, ScoringHandle, ScoringStage};

use crate::messages::{ModelDescriptor, Origin, ScoreResult, ScoredRecord, WineRecord};
use crate::models::{Incoming, ServingModel};
use crate::stats::{bump, Stats};

/// Where the server reads and writes, and how it commits.
#[derive(Debug, Clone)]
pub struct Config {
    pub brokers: String,
    /// The consumer group of `data` (instances with the same group share the work).
    pub group: String,
    pub data_topic: String,
    pub models_topic: String,
    pub scored_topic: String,
    /// How often offsets are committed at most.
    pub commit_interval: Duration,
}

impl Config {
    /// The default topics and group on `brokers`.
    pub fn new(brokers: &str) -> Self {
        Config {
            brokers: brokers.to_owned(),
            group: "model-serving".to_owned(),
            data_topic: "data".to_owned(),
            models_topic: "models".to_owned(),
            scored_topic: "scored".to_owned(),
            commit_interval: Duration::from_millis(500),
        }
    }
}

/// A record from `data`, decoded or not.
enum Decoded {
    Valid(Incoming<CommittableOffset>),
    Malformed(CommittableOffset),
}

/// A running server.
pub struct Server {
    /// The data consumer and the stream's completion.
    data: DrainingControl<()>,
    models: Control,
    /// The scoring stage's statistics and model installer.
    pub scoring: ScoringHandle<ServingModel>,
    pub stats: Arc<Stats>,
}

type Scored = ScoredBy<Incoming<CommittableOffset>, ServingModel>;

impl Server {
    /// Starts the server's graph; returns at once. Fails if the brokers cannot be asked for the
    /// `models` topic's partitions.
    pub async fn start(config: &Config) -> Result<Server, Box<dyn std::error::Error>> {
        let stats = Arc::new(Stats::default());

        let data_settings = ConsumerSettings::new(&config.brokers, &config.group)
            .with_property("auto.offset.reset", "earliest");
        let decode_stats = stats.clone();
        let data = Consumer::committable_source(
            data_settings,
            Subscription::topics([config.data_topic.clone()]),
        )
        .map(move |m: CommittableMessage| decode(m, &decode_stats));

        // Every instance reads every model partition from its latest model; the group id is
        // only a name here (nothing is committed).
        let (brokers, topic) = (config.brokers.clone(), config.models_topic.clone());
        let starts = tokio::task::spawn_blocking(move || latest_models(&brokers, &topic))
            .await?
            .map_err(|e| e as Box<dyn std::error::Error>)?;
        let models_settings = ConsumerSettings::new(
            &config.brokers,
            &format!("{}-models-{}", config.group, std::process::id()),
        );
        let model_stats = stats.clone();
        let models = Consumer::plain_source(
            models_settings,
            Subscription::assignment_with_offsets(starts),
        )
        .map(move |r| build_model(&r, &model_stats))
        .filter_map(|m| m);

        let producer = ProducerSettings::new(&config.brokers).with_property("linger.ms", "5");
        let committer = CommitterSettings::default().with_max_interval(config.commit_interval);
        let scored_topic = config.scored_topic.clone();
        let result_stats = stats.clone();
        let out_stats = stats.clone();

        let mut b = GraphBuilder::new();
        let (data_out, data_control) = b.add_source_mat(data);
        let (models_out, models_control) = b.add_source_mat(models);
        let split = b.add(Partition::new(2, |d: &Decoded| match d {
            Decoded::Valid(_) => 0,
            Decoded::Malformed(_) => 1,
        }));
        b.connect(data_out, split.inlet);
        let valid = b.via(
            split.outs[0],
            Flow::<Decoded>::new().filter_map(|d| match d {
                Decoded::Valid(i) => Some(i),
                Decoded::Malformed(_) => None,
            }),
        );
        let (scoring, scoring_handle) = b.add_stage_fan_in2(ScoringStage::new());
        b.connect(valid, scoring.in0);
        b.connect(models_out, scoring.in1);
        let results = b.via(
            scoring.out,
            Flow::<Scored>::new().map(move |s| to_envelope(s, &scored_topic, &result_stats)),
        );
        let skipped = b.via(
            split.outs[1],
            Flow::<Decoded>::new().filter_map(|d| match d {
                Decoded::Malformed(offset) => Some(Envelope::PassThrough(offset)),
                Decoded::Valid(_) => None,
            }),
        );
        let merge = b.add(Merge::new(2));
        b.connect(results, merge.ins[0]);
        b.connect(skipped, merge.ins[1]);
        let acknowledged = b.via(
            merge.out,
            Producer::flexi_flow(producer).map(move |r: Results<CommittableOffset>| {
                if matches!(r, Results::Result(..)) {
                    bump(&out_stats.records_out);
                }
                r.into_pass_through()
            }),
        );
        let (commit, done) = b.add_sink_mat(Committer::sink(committer));
        b.connect(acknowledged, commit);
        let graph = b.build(move |m| {
            (
                m.take(data_control),
                m.take(models_control),
                m.take(scoring_handle),
                m.take(done),
            )
        })?;
        let (data_control, models, scoring, done) = graph.run();
        Ok(Server {
            data: DrainingControl::new(data_control, done),
            models,
            scoring,
            stats,
        })
    }

    /// The data consumer's control (metrics, assignment).
    pub fn data_control(&self) -> &Control {
        self.data.control()
    }

    /// Stops reading, lets every record read so far be scored, written and committed, then
    /// closes both consumers.
    pub async fn drain(self) -> Result<(), weir::StreamError> {
        let result = self.data.drain_and_shutdown().await;
        self.models.shutdown().await;
        result
    }
}

/// Decodes one record from `data`; a malformed one is logged and kept only for its offset.
fn decode(m: CommittableMessage, stats: &Stats) -> Decoded {
    bump(&stats.records_in);
    let r = &m.record;
    match WineRecord::decode(r.value.as_deref().unwrap_or_default()) {
        Ok(record) => Decoded::Valid(Incoming {
            record,
            source: Origin {
                partition: r.partition,
                offset: r.offset,
            },
            offset: m.offset,
        }),
        Err(e) => {
            bump(&stats.records_rejected);
            tracing::warn!(
                topic = %r.topic, partition = r.partition, offset = r.offset, error = %e,
                "skipping a malformed record"
            );
            Decoded::Malformed(m.offset)
        }
    }
}

/// Builds the model a record from `models` carries; `None` (logged, counted) if it is not one.
fn build_model(r: &weir::kafka::ConsumerRecord, stats: &Stats) -> Option<ServingModel> {
    let built = ModelDescriptor::decode(r.value.as_deref().unwrap_or_default())
        .map_err(|e| e.to_string())
        .and_then(|d| ServingModel::build(&d).map_err(|e| e.to_string()));
    match built {
        Ok(m) => {
            bump(&stats.models_installed);
            tracing::info!(
                partition = r.partition, offset = r.offset, model = %m.name(),
                kind = %m.kind_name(), "a new model takes over"
            );
            Some(m)
        }
        Err(e) => {
            bump(&stats.models_rejected);
            tracing::warn!(
                topic = %r.topic, partition = r.partition, offset = r.offset, error = %e,
                "skipping an invalid model; the serving model stays"
            );
            None
        }
    }
}

/// The record to write to `scored` for one scoring result.
fn to_envelope(s: Scored, topic: &str, stats: &Stats) -> Envelope<CommittableOffset> {
    let (result, model, micros) = match s.outcome {
        Outcome::Scored {
            output,
            model,
            elapsed,
        } => {
            stats.scored_in(elapsed);
            (
                output,
                Some(model.to_string()),
                crate::stats::micros(elapsed),
            )
        }
        Outcome::Failed { error, model } => {
            bump(&stats.records_failed);
            (ScoreResult::Failed(error.0), Some(model.to_string()), 0.0)
        }
        Outcome::NoModel => {
            bump(&stats.records_without_model);
            (ScoreResult::NoModel, None, 0.0)
        }
    };
    let Incoming {
        record,
        source,
        offset,
    } = s.record;
    let out = ScoredRecord {
        source,
        record,
        result,
        model,
        scoring_micros: micros,
    };
    match serde_json::to_vec(&out) {
        Ok(json) => Envelope::Message(
            ProducerRecord::new(topic, json)
                .with_key(format!("{}:{}", source.partition, source.offset)),
            offset,
        ),
        // Serializing plain numbers and strings cannot fail; if it did, skip, but commit.
        Err(_) => Envelope::PassThrough(offset),
    }
}

/// Where to start reading each partition of `topic`: at its last message (the latest model),
/// or at the start when it is empty.
fn latest_models(
    brokers: &str,
    topic: &str,
) -> Result<Vec<(TopicPartition, i64)>, Box<dyn std::error::Error + Send + Sync>> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let timeout = Duration::from_secs(10);
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic:?} does not exist on {brokers}").into());
    }
    partitions
        .into_iter()
        .map(|p| {
            let (low, high) = client.fetch_watermarks(topic, p, timeout)?;
            Ok((TopicPartition::new(topic, p), low.max(high - 1)))
        })
        .collect()
}

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
//! - `models` (one partition) is read by every instance without a shared group, so every
//!   instance serves every model. A starting instance first finds the latest *valid* model on
//!   the topic and serves it from its first record (an invalid model at the end of the topic
//!   does not leave a restarted instance without one), then reads the models that follow.
//!   Models are parsed off the records' path: the current model scores meanwhile.
//! - A malformed record is counted, logged with its offset and skipped; its offset is committed
//!   like any other, so it is never re-read. A malformed or invalid model is counted, logged and
//!   skipped; the serving model stays.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use weir::builder::GraphBuilder;
use weir::junctions::{Merge, Partition};
use weir::kafka::{
    CommittableMessage, CommittableOffset, Committer, CommitterSettings, Consumer,
    ConsumerSettings, Control, Envelope, MetadataClient, Producer, ProducerRecord,
    ProducerSettings, Results, Subscription, TopicPartition,
};
use weir::prelude::*;
use weir::scoring::{Outcome, ScoredBy, ScoringHandle, ScoringStage};
use weir::StreamError;

use crate::messages::{Origin, ScoreResult, ScoredRecord, WineRecord};
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
    /// Read exactly these partitions of `data` (manual assignment, from the group's committed
    /// offsets) instead of joining the group's rebalances: for static deployments and for
    /// measurements that should not include a group join.
    pub data_partitions: Option<Vec<i32>>,
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
            data_partitions: None,
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
    /// The data consumer.
    data: Control,
    models: Control,
    /// The stream's end: `None` while it runs.
    ended: watch::Receiver<Option<Result<(), StreamError>>>,
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
        let subscription = match &config.data_partitions {
            Some(partitions) => Subscription::assignment(
                partitions
                    .iter()
                    .map(|p| TopicPartition::new(config.data_topic.clone(), *p)),
            ),
            None => Subscription::topics([config.data_topic.clone()]),
        };
        let data = Consumer::committable_source(data_settings, subscription)
            .map(move |m: CommittableMessage| decode(m, &decode_stats));

        // Every instance reads every model, without a shared group (the group id is only a
        // name: nothing is committed). It starts with the latest valid model already on the
        // topic, so no record is scored without a model when one exists, then reads what comes.
        let (brokers, topic) = (config.brokers.clone(), config.models_topic.clone());
        let (restored, next) = latest_model(&brokers, &topic)
            .await
            .map_err(|e| e as Box<dyn std::error::Error>)?;
        if let Some(m) = &restored {
            bump(&stats.models_accepted);
            tracing::info!(model = %m.name(), kind = %m.kind_name(), "serving the latest model");
        }
        let models_settings = ConsumerSettings::new(
            &config.brokers,
            &format!("{}-models-{}", config.group, std::process::id()),
        );
        let model_stats = stats.clone();
        let models = Consumer::plain_source(
            models_settings,
            Subscription::assignment_with_offsets([(
                TopicPartition::new(config.models_topic.clone(), 0),
                next,
            )]),
        )
        // Parsing a model takes milliseconds: off the workers, and off the records' path (the
        // scoring stage keeps scoring with the current model meanwhile).
        .map_async(1, move |r| {
            let stats = model_stats.clone();
            async move {
                tokio::task::spawn_blocking(move || build_model(&r, &stats))
                    .await
                    .ok()
                    .flatten()
            }
        })
        .filter_map(|m| m);
        let stage = match restored {
            Some(m) => ScoringStage::with_model(m),
            None => ScoringStage::new(),
        };

        // The window of records in flight bounds the rate at window / acknowledgement latency
        // (linger.ms plus the broker's round trip): 100 ran at a third of 1000's rate, and on
        // Apache Kafka 10 000 scores 20 % more than 1000 (benches/model_serving_peers.rs). At
        // about 600 B of JSON per record the window holds some 6 MB.
        let producer = ProducerSettings::new(&config.brokers)
            .with_property("linger.ms", "5")
            .with_parallelism(10_000);
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
        let (scoring, scoring_handle) = b.add_stage(stage);
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
        let (data, models, scoring, done) = graph.run();
        let (ended_tx, ended) = watch::channel(None);
        tokio::spawn(async move {
            let result = done.await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "the server's stream failed");
            }
            let _ = ended_tx.send(Some(result));
        });
        Ok(Server {
            data,
            models,
            ended,
            scoring,
            stats,
        })
    }

    /// The data consumer's control (metrics, assignment).
    pub fn data_control(&self) -> &Control {
        &self.data
    }

    /// Whether the stream still runs (it ends by draining, or by failing).
    pub fn running(&self) -> RunningFlag {
        RunningFlag(self.ended.clone())
    }

    /// Resolves when the stream ends by itself: a failure (the brokers went away for longer
    /// than the connection timeout, a record could not be produced, a commit failed).
    pub async fn ended(&self) -> Result<(), StreamError> {
        let mut ended = self.ended.clone();
        let result = ended.wait_for(Option::is_some).await;
        match result.as_deref() {
            Ok(Some(r)) => r.clone(),
            _ => Ok(()),
        }
    }

    /// Stops reading, lets every record read so far be scored, written and committed, then
    /// closes both consumers (Alpakka's `drainAndShutdown`). Resolves with the stream's result.
    pub async fn drain(self) -> Result<(), StreamError> {
        self.data.stop();
        let result = self.ended().await;
        self.data.shutdown().await;
        self.models.shutdown().await;
        result
    }
}

/// Whether a [`Server`]'s stream still runs; cheap to clone and to ask.
#[derive(Clone)]
pub struct RunningFlag(watch::Receiver<Option<Result<(), StreamError>>>);

impl RunningFlag {
    pub fn get(&self) -> bool {
        self.0.borrow().is_none()
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
    match ServingModel::from_message(r.value.as_deref().unwrap_or_default()) {
        Ok(m) => {
            bump(&stats.models_accepted);
            tracing::info!(
                partition = r.partition, offset = r.offset, model = %m.name(),
                kind = %m.kind_name(), "a new model arrived; it takes over at the next record"
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

/// How far back from the end of `models` a starting server looks for a valid model.
const LOOK_BACK: i64 = 100;

/// The latest valid model on `topic` (among its last [`LOOK_BACK`] messages), and the offset
/// after the topic's end, where reading new models starts. `topic` must have one partition:
/// with several, "latest" would have no meaning and instances could disagree.
#[allow(clippy::type_complexity)]
async fn latest_model(
    brokers: &str,
    topic: &str,
) -> Result<(Option<ServingModel>, i64), Box<dyn std::error::Error + Send + Sync>> {
    let timeout = Duration::from_secs(10);
    let client = MetadataClient::from_bootstrap(brokers, timeout)?;
    let partitions = client
        .get_partitions_for(topic)
        .await
        .map_err(|e| format!("topic {topic:?} does not exist on {brokers}: {e}"))?;
    match partitions.len() {
        0 => return Err(format!("topic {topic:?} does not exist on {brokers}").into()),
        1 => {}
        n => {
            return Err(format!(
                "topic {topic:?} has {n} partitions; models need one, so that every instance \
                 agrees which model is the latest"
            )
            .into())
        }
    }
    let tp = TopicPartition::new(topic, 0);
    let low = client
        .get_beginning_offsets(std::slice::from_ref(&tp))
        .await?[&tp];
    let high = client.get_end_offsets(std::slice::from_ref(&tp)).await?[&tp];
    let start = low.max(high - LOOK_BACK);
    if start >= high {
        return Ok((None, high));
    }
    // Up to the last record; a gap at the end (a transaction marker, compaction) ends the read
    // at the timeout instead.
    let recent = Consumer::plain_source(
        ConsumerSettings::new(brokers, "model-serving-startup"),
        Subscription::assignment_with_offsets([(tp, start)]),
    )
    .take_while_inclusive(move |r| r.offset < high - 1)
    .take_within(timeout)
    .run_with(Sink::seq())
    .await?;
    for r in recent.iter().rev() {
        match ServingModel::from_message(r.value.as_deref().unwrap_or_default()) {
            Ok(model) => return Ok((Some(model), high)),
            Err(e) => tracing::warn!(
                topic, offset = r.offset, error = %e,
                "passing over an invalid model while looking for the latest valid one"
            ),
        }
    }
    Ok((None, high))
}

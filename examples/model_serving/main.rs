//! A streaming model server: wine records from Kafka scored by the latest model, with models
//! arriving over Kafka too, after Lightbend's "Kafka with Akka Streams" model-serving tutorial.
//!
//! ```text
//! cargo run --release --features kafka --example model_serving   # everything in one process
//! cargo run --release --features kafka --example model_serving -- --help
//! ```
//!
//! With no `--brokers` it starts librdkafka's in-process mock cluster, creates the topics,
//! replays the wine data set into `data`, publishes one of the tutorial's models (seven PMML
//! models and a TensorFlow graph) every few seconds, and serves: progress every two seconds,
//! `GET /state` and `GET /health` on <http://127.0.0.1:5500>, a summary on Ctrl-C or after
//! `--duration`.
//!
//! With `--brokers host:port` the three parts run as separate processes against a real Kafka,
//! as in the tutorial:
//!
//! ```text
//! model_serving --brokers localhost:9092                          # a server (start several)
//! model_serving --brokers localhost:9092 --produce-data           # the data feed
//! model_serving --brokers localhost:9092 --publish-model m.pmml   # publish one model
//! ```
//!
//! How it is built: `server.rs` (the weir graph), `models.rs` (PMML and TensorFlow models behind
//! weir's `Model` trait), `pmml.rs` (a PMML 4.3 evaluator), `tensorflow.rs` (the graph through
//! tract), `messages.rs` (protobuf and JSON), `http.rs`, `stats.rs`, `feed.rs`.

mod feed;
mod http;
mod messages;
mod models;
mod pmml;
mod server;
mod stats;
mod tensorflow;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::mocking::MockCluster;
use tokio_util::sync::CancellationToken;
use weir::kafka::ProducerSettings;

use crate::feed::Format;
use crate::messages::ModelDescriptor;
use crate::server::{Config, Server};
use crate::stats::{get, micros, Progress};

/// Scores wine records from Kafka with models that arrive over Kafka.
#[derive(Parser, Debug)]
#[command(name = "model_serving", version, about, long_about = None)]
struct Args {
    /// A Kafka cluster to use; without it, everything runs in-process on a mock cluster.
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
    /// Only feed the wine data into `data` (needs --brokers).
    #[arg(long, requires = "brokers", conflicts_with = "publish_model")]
    produce_data: bool,
    /// Only publish one model file (.pmml or .pb) to `models`, then exit (needs --brokers).
    #[arg(long, value_name = "FILE", requires = "brokers")]
    publish_model: Option<PathBuf>,
    /// Records per second the data feed writes.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// With --produce-data: stop after this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Embedded mode: publish the next of the bundled models every this many seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    model_interval: f64,
    /// Stop (drain and print the summary) after this many seconds; default: on Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Where to serve GET /state and GET /health (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:5500")]
    http: SocketAddr,
    /// The consumer group of `data`: servers with the same group split its partitions.
    #[arg(long, default_value = "model-serving")]
    group: String,
    /// Partitions of `data` and `scored` when this program creates them.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 2.0)]
    progress: f64,
    /// Encoding of the records and models the feed and the publisher write (the server reads
    /// both).
    #[arg(long, value_enum, default_value = "protobuf")]
    format: FormatArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Protobuf,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Protobuf => Format::Protobuf,
            FormatArg::Json => Format::Json,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,librdkafka=warn,rdkafka=warn".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let format = Format::from(args.format);
    let stop_after = args.duration.map(seconds).transpose()?;

    let Some(brokers) = args.brokers.clone() else {
        return embedded(&args, format, stop_after).await;
    };
    let config = Config {
        group: args.group.clone(),
        ..Config::new(&brokers)
    };
    let producer = ProducerSettings::new(&brokers).with_property("linger.ms", "5");
    if let Some(path) = &args.publish_model {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let model = ModelDescriptor::from_file(path, bytes)?;
        // Refuse to publish what no server would serve.
        models::ServingModel::build(&model)?;
        feed::create_topics(&brokers, &config, args.partitions).await?;
        feed::publish_model(producer, &config.models_topic, &model, format).await?;
        println!("published {} to {}", model.name, config.models_topic);
        return Ok(());
    }
    feed::create_topics(&brokers, &config, args.partitions).await?;
    if args.produce_data {
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = until(stop_after) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            token.cancel();
        });
        let started = Instant::now();
        let n = feed::feed_data(
            producer,
            config.data_topic.clone(),
            args.rate,
            args.count,
            format,
            stop,
        )
        .await?;
        println!(
            "wrote {n} records to {} in {:.1} s",
            config.data_topic,
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    serve_with(&args, &config, stop_after, || {}).await
}

/// Everything in one process, on librdkafka's mock cluster.
async fn embedded(
    args: &Args,
    format: Format,
    stop_after: Option<Duration>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockCluster::new(1)?;
    let brokers = mock.bootstrap_servers();
    let config = Config {
        group: args.group.clone(),
        ..Config::new(&brokers)
    };
    mock.create_topic(&config.data_topic, args.partitions, 1)?;
    mock.create_topic(&config.models_topic, 1, 1)?;
    mock.create_topic(&config.scored_topic, args.partitions, 1)?;
    println!(
        "in-process Kafka (librdkafka's mock cluster) at {brokers}; topics {}, {}, {}",
        config.data_topic, config.models_topic, config.scored_topic
    );
    let producer = ProducerSettings::new(&brokers).with_property("linger.ms", "5");
    let every = seconds(args.model_interval)?;
    let stop = CancellationToken::new();
    let data = tokio::spawn(feed::feed_data(
        producer.clone(),
        config.data_topic.clone(),
        args.rate,
        None,
        format,
        stop.clone(),
    ));
    let publisher = tokio::spawn(feed::cycle_models(
        producer,
        config.models_topic.clone(),
        models::bundled(),
        every,
        format,
        stop.clone(),
    ));
    println!(
        "feeding {} wine records/s into {}; publishing the next of {} models every {} s",
        args.rate,
        config.data_topic,
        models::bundled().len(),
        args.model_interval
    );
    let result = serve_with(args, &config, stop_after, || stop.cancel()).await;
    // The feed stops at its next record, the publisher at once.
    stop.cancel();
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(10), data).await {
        tracing::warn!(error = %e, "the data feed failed");
    }
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(10), publisher).await {
        tracing::warn!(error = %e, "the model publisher failed");
    }
    drop(mock);
    result
}

/// Runs a server with progress and HTTP until Ctrl-C or `stop_after`, then drains it; calls
/// `on_stop` first (to stop the feeds).
async fn serve_with(
    args: &Args,
    config: &Config,
    stop_after: Option<Duration>,
    on_stop: impl FnOnce(),
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let every = seconds(args.progress)?;
    let server = Server::start(config).await?;
    let app = http::AppState {
        scoring: server.scoring.clone(),
        stats: server.stats.clone(),
        running: server.running(),
    };
    let listener = match tokio::net::TcpListener::bind(args.http).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(address = %args.http, error = %e, "HTTP address taken: using a free port");
            tokio::net::TcpListener::bind((args.http.ip(), 0)).await?
        }
    };
    println!(
        "serving: GET http://{0}/state, GET http://{0}/health",
        listener.local_addr()?
    );
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(http::serve(listener, app, async {
        let _ = http_stopped.await;
    }));

    let stats = server.stats.clone();
    let scoring = server.scoring.clone();
    let control = server.data_control().clone();
    let progress = tokio::spawn(async move {
        let mut p = Progress::new(&stats);
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            println!(
                "{}  | {} partitions",
                p.line(&stats, scoring.state().as_ref()),
                control.metrics().assigned.len()
            );
        }
    });

    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("Ctrl-C: draining (Ctrl-C again to stop at once)"),
        _ = until(stop_after) => println!("{:.1} s passed: draining", started.elapsed().as_secs_f64()),
        // A failure ends the stream by itself (logged where it happens).
        _ = server.ended() => {}
    }
    on_stop();
    progress.abort();
    let stats = server.stats.clone();
    let scoring = server.scoring.clone();
    let control = server.data_control().clone();
    let drain = server.drain();
    tokio::pin!(drain);
    let drained = tokio::select! {
        r = &mut drain => r,
        _ = tokio::signal::ctrl_c() => {
            println!("Ctrl-C: stopping without draining; uncommitted records will be read again");
            control.shutdown().await;
            Err(weir::StreamError::failed(Interrupted))
        }
    };
    let _ = http_stop.send(());
    let _ = http.await;

    let secs = started.elapsed().as_secs_f64();
    println!(
        "summary: {} records in, {} scored records out ({:.0}/s over {secs:.1} s), {} before any model, {} failed; rejected {} records and {} models; {} models accepted",
        get(&stats.records_in),
        get(&stats.records_out),
        get(&stats.records_out) as f64 / secs.max(1e-3),
        get(&stats.records_without_model),
        get(&stats.records_failed),
        get(&stats.records_rejected),
        get(&stats.models_rejected),
        get(&stats.models_accepted),
    );
    if let Some(m) = scoring.state() {
        println!(
            "serving model: {} ({}) since {}, {} records, scoring time min/avg/max {:.1}/{:.1}/{:.1} µs",
            m.name,
            m.description,
            stats::rfc3339(m.since),
            m.records_scored,
            micros(m.min),
            micros(m.avg),
            micros(m.max)
        );
    }
    drained.map_err(Into::into)
}

/// A duration in seconds from the command line.
fn seconds(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s} is not a positive number of seconds"))
}

/// The drain was interrupted.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted before the drain finished")
    }
}

impl std::error::Error for Interrupted {}

/// Resolves after `d`, never for `None`.
async fn until(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

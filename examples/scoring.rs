//! The model-scoring stage fed from two in-memory sources: readings on one inlet, models on the
//! other, with the serving state queried while the stream runs.
//!
//! ```text
//! cargo run --example scoring
//! ```

use std::time::Duration;

use weir::prelude::*;
use weir::scoring::{Model, Outcome, ScoringStage};

/// A reading to score.
#[derive(Debug, Clone)]
struct Reading {
    id: u32,
    features: [f64; 3],
}

/// A linear model: `bias + weights · features`.
#[derive(Debug, Clone)]
struct Linear {
    name: String,
    weights: [f64; 3],
    bias: f64,
}

/// A model that cannot score a reading with a non-finite feature.
#[derive(Debug)]
struct NonFinite(u32);

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reading {} has a non-finite feature", self.0)
    }
}

impl std::error::Error for NonFinite {}

impl Model<Reading> for Linear {
    type Output = f64;
    type Error = NonFinite;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        "linear regression over three features"
    }

    fn score(&self, r: &Reading) -> Result<f64, NonFinite> {
        if r.features.iter().any(|x| !x.is_finite()) {
            return Err(NonFinite(r.id));
        }
        Ok(self.bias
            + self
                .weights
                .iter()
                .zip(&r.features)
                .map(|(w, x)| w * x)
                .sum::<f64>())
    }
}

#[tokio::main]
async fn main() -> Result<(), StreamError> {
    let readings = Source::range(1u32, 40)
        .map(|id| Reading {
            id,
            features: [
                f64::from(id),
                f64::from(id % 7),
                if id == 25 { f64::NAN } else { 1.0 },
            ],
        })
        .throttle(10, Duration::from_secs(1), 1);
    // Models arrive on their own inlet, one every 1.2 s; readings before the first get no score.
    let models = Source::from_iter((1..=3).map(|v| Linear {
        name: format!("linear-v{v}"),
        weights: [0.5 * f64::from(v), 1.0, -2.0],
        bias: f64::from(v),
    }))
    .throttle(1, Duration::from_millis(1200), 1);

    let (handle, done) = Source::from_fan_in2(ScoringStage::new(), readings, models)
        .to_mat(
            Sink::foreach(
                |s: weir::scoring::ScoredBy<Reading, Linear>| match s.outcome {
                    Outcome::Scored { output, model, .. } => {
                        println!("reading {:>2} -> {output:>7.2} by {model}", s.record.id)
                    }
                    Outcome::Failed { error, model } => {
                        println!("reading {:>2} -> {model} failed: {error}", s.record.id)
                    }
                    Outcome::NoModel => println!("reading {:>2} -> no model yet", s.record.id),
                },
            ),
            Keep::both,
        )
        .run();

    // Query the serving state from another task while the stream runs.
    let watcher = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match handle.state() {
                    Some(s) => println!(
                        "  [state] {} ({}): {} scored, min/avg/max {:?}/{:?}/{:?}",
                        s.name, s.description, s.records_scored, s.min, s.avg, s.max
                    ),
                    None => println!("  [state] no model yet"),
                }
            }
        })
    };
    // Install a model from outside the stream, too.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let _ = handle.install(Linear {
        name: "hand-installed".into(),
        weights: [0.0, 0.0, 0.0],
        bias: 42.0,
    });

    done.await?;
    watcher.abort();
    println!("final state: {:?}", handle.state());
    Ok(())
}

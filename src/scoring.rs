//! The model-scoring stage: records on one inlet, models on another, scored records out.
//!
//! [`ScoringStage`] is the canonical fan-in custom stage: it scores each record with the latest
//! model, swaps models between two records without dropping any, and never stalls when one
//! inlet is idle. Its materialized [`ScoringHandle`] reads the serving statistics and installs
//! models from outside the stream.
//!
//! ```
//! use weir::prelude::*;
//! use weir::scoring::{Model, Outcome, ScoringStage};
//!
//! #[derive(Clone)]
//! struct Threshold(f64);
//! impl Model<f64> for Threshold {
//!     type Output = bool;
//!     type Error = std::convert::Infallible;
//!     fn name(&self) -> &str { "threshold" }
//!     fn score(&self, x: &f64) -> Result<bool, Self::Error> { Ok(*x > self.0) }
//! }
//!
//! # #[tokio::main] async fn main() {
//! let (handle, scored) = Source::from_fan_in2(
//!     ScoringStage::new(),
//!     Source::from_iter(vec![0.2, 0.9]),
//!     Source::single(Threshold(0.5)),
//! )
//! .to_mat(Sink::seq(), Keep::both)
//! .run();
//! let scored = scored.await.unwrap();
//! assert_eq!(scored.len(), 2);
//! let _ = handle.state();
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::custom::{
    AsyncCallback, CallbackError, FanInShape2, GraphStage, PortId, StageContext, StageLogic,
};
use crate::Attributes;

/// A model that scores records of type `R`.
pub trait Model<R>: Send + 'static {
    /// What scoring produces (a score, a class with probabilities, …).
    type Output: Send + 'static;
    /// Why scoring one record failed (a missing field, a broken model).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The model's name, reported in results and statistics.
    fn name(&self) -> &str;

    /// A description, reported in statistics.
    fn description(&self) -> &str {
        ""
    }

    /// Scores one record.
    fn score(&self, record: &R) -> Result<Self::Output, Self::Error>;
}

/// How a record was scored.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<O, E> {
    /// Scored by `model` in `elapsed`.
    Scored {
        /// The model's output.
        output: O,
        /// The model's name.
        model: Arc<str>,
        /// How long scoring took.
        elapsed: Duration,
    },
    /// The model failed on this record; the record is kept, with the error.
    Failed {
        /// The model's error.
        error: E,
        /// The model's name.
        model: Arc<str>,
    },
    /// No model had arrived yet.
    NoModel,
}

/// A record with its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<R, O, E> {
    /// The record.
    pub record: R,
    /// How it was scored.
    pub outcome: Outcome<O, E>,
}

/// The scored-record type a [`ScoringStage`] for `M` emits.
pub type ScoredBy<R, M> = Scored<R, <M as Model<R>>::Output, <M as Model<R>>::Error>;

/// Serving statistics of the current model (the tutorial's `ModelToServeStats`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelState {
    /// The model's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// When it started serving.
    pub since: SystemTime,
    /// Records it scored (successfully or not).
    pub records_scored: u64,
    /// Shortest scoring time (zero before the first record).
    pub min: Duration,
    /// Mean scoring time.
    pub avg: Duration,
    /// Longest scoring time.
    pub max: Duration,
}

impl ModelState {
    fn new(name: &str, description: &str) -> Self {
        ModelState {
            name: name.to_owned(),
            description: description.to_owned(),
            since: SystemTime::now(),
            records_scored: 0,
            min: Duration::ZERO,
            avg: Duration::ZERO,
            max: Duration::ZERO,
        }
    }

    fn record(&mut self, elapsed: Duration, total: &mut Duration) {
        self.records_scored += 1;
        *total += elapsed;
        self.min = if self.records_scored == 1 {
            elapsed
        } else {
            self.min.min(elapsed)
        };
        self.max = self.max.max(elapsed);
        self.avg = *total / u32::try_from(self.records_scored).unwrap_or(u32::MAX);
    }
}

/// The materialized value of a [`ScoringStage`]: usable from any task while the stream runs.
pub struct ScoringHandle<M> {
    state: Arc<Mutex<Option<ModelState>>>,
    callback: AsyncCallback<M>,
}

impl<M> Clone for ScoringHandle<M> {
    fn clone(&self) -> Self {
        ScoringHandle {
            state: self.state.clone(),
            callback: self.callback.clone(),
        }
    }
}

impl<M> fmt::Debug for ScoringHandle<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScoringHandle")
            .field("state", &self.state())
            .finish()
    }
}

impl<M> ScoringHandle<M> {
    /// The current model's statistics, or `None` before the first model.
    pub fn state(&self) -> Option<ModelState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl<M: Send + 'static> ScoringHandle<M> {
    /// Installs `model` from outside the stream; it takes over between two records.
    ///
    /// # Errors
    /// [`CallbackError::StageStopped`] once the stage has stopped; [`CallbackError::Full`] if
    /// too many installs are waiting.
    pub fn install(&self, model: M) -> Result<(), CallbackError<M>> {
        self.callback.invoke(model)
    }
}

/// Scores records (inlet `in0`) with the latest model (inlet `in1`).
///
/// # Completion
/// Completes when the data inlet completes. The model inlet completing leaves the current model
/// serving. A failure on either inlet fails the stage.
pub struct ScoringStage<R, M> {
    /// Makes the model each run starts with, if any.
    initial: Option<Arc<dyn Fn() -> M + Send + Sync>>,
    _t: PhantomData<fn(R)>,
}

impl<R, M> ScoringStage<R, M> {
    /// A scoring stage; records before the first model are [`Outcome::NoModel`].
    pub fn new() -> Self {
        ScoringStage {
            initial: None,
            _t: PhantomData,
        }
    }

    /// A scoring stage that serves `model` from the first record (a model restored at start-up,
    /// such as the latest one on a models topic); models arriving on the inlet replace it. Each
    /// run starts with its own clone.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::scoring::{Model, Outcome, ScoringStage};
    ///
    /// #[derive(Clone)]
    /// struct Double;
    /// impl Model<i32> for Double {
    ///     type Output = i32;
    ///     type Error = std::convert::Infallible;
    ///     fn name(&self) -> &str { "double" }
    ///     fn score(&self, x: &i32) -> Result<i32, Self::Error> { Ok(2 * x) }
    /// }
    ///
    /// # #[tokio::main] async fn main() {
    /// let scored = Source::from_fan_in2(
    ///     ScoringStage::with_model(Double),
    ///     Source::from_iter(vec![1, 2]),
    ///     Source::<Double>::never(),
    /// )
    /// .run_with(Sink::seq())
    /// .await
    /// .unwrap();
    /// assert!(scored.iter().all(|s| matches!(s.outcome, Outcome::Scored { .. })));
    /// # }
    /// ```
    pub fn with_model(model: M) -> Self
    where
        M: Clone + Send + Sync + 'static,
    {
        ScoringStage {
            initial: Some(Arc::new(move || model.clone())),
            _t: PhantomData,
        }
    }
}

impl<R, M> Default for ScoringStage<R, M> {
    fn default() -> Self {
        ScoringStage::new()
    }
}

impl<R, M> fmt::Debug for ScoringStage<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScoringStage")
    }
}

type Shape<R, M> = FanInShape2<R, M, ScoredBy<R, M>>;

impl<R, M> GraphStage for ScoringStage<R, M>
where
    R: Send + 'static,
    M: Model<R>,
{
    type Shape = Shape<R, M>;
    type Logic = ScoringLogic<R, M>;
    type Mat = ScoringHandle<M>;

    fn name(&self) -> &'static str {
        "scoring"
    }

    fn shape(&self) -> Self::Shape {
        FanInShape2::new("data", "models", "scored")
    }

    fn create_logic(
        &self,
        _attrs: &Attributes,
        callback: AsyncCallback<M>,
    ) -> (Self::Logic, Self::Mat) {
        let state = Arc::new(Mutex::new(None));
        let mut logic = ScoringLogic {
            shape: self.shape(),
            model: None,
            stats: None,
            total: Duration::ZERO,
            shared: state.clone(),
        };
        if let Some(initial) = &self.initial {
            logic.install(initial());
        }
        (logic, ScoringHandle { state, callback })
    }
}

/// The running state of a [`ScoringStage`].
pub struct ScoringLogic<R, M: Model<R>> {
    shape: Shape<R, M>,
    model: Option<(M, Arc<str>)>,
    stats: Option<ModelState>,
    total: Duration,
    shared: Arc<Mutex<Option<ModelState>>>,
}

impl<R, M: Model<R>> fmt::Debug for ScoringLogic<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScoringLogic")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: Send + 'static, M: Model<R>> ScoringLogic<R, M> {
    fn install(&mut self, model: M) {
        self.stats = Some(ModelState::new(model.name(), model.description()));
        self.total = Duration::ZERO;
        let name: Arc<str> = Arc::from(model.name());
        self.model = Some((model, name));
        self.publish();
    }

    fn publish(&self) {
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = self.stats.clone();
    }

    fn score(&mut self, record: R) -> ScoredBy<R, M> {
        let Some((model, name)) = &self.model else {
            return Scored {
                record,
                outcome: Outcome::NoModel,
            };
        };
        let start = Instant::now();
        let result = model.score(&record);
        let elapsed = start.elapsed();
        if let Some(stats) = self.stats.as_mut() {
            stats.record(elapsed, &mut self.total);
            // Only the numbers change: no allocation per record.
            if let Some(shared) = self
                .shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                shared.records_scored = stats.records_scored;
                shared.min = stats.min;
                shared.avg = stats.avg;
                shared.max = stats.max;
            }
        }
        let outcome = match result {
            Ok(output) => Outcome::Scored {
                output,
                model: name.clone(),
                elapsed,
            },
            Err(error) => Outcome::Failed {
                error,
                model: name.clone(),
            },
        };
        Scored { record, outcome }
    }
}

impl<R: Send + 'static, M: Model<R>> StageLogic for ScoringLogic<R, M> {
    type Message = M;

    fn pre_start(&mut self, ctx: &mut StageContext<'_, M>) {
        ctx.pull(&self.shape.in1);
    }

    fn on_pull(&mut self, _outlet: PortId, ctx: &mut StageContext<'_, M>) {
        ctx.try_pull(&self.shape.in0);
    }

    fn on_push(&mut self, inlet: PortId, ctx: &mut StageContext<'_, M>) {
        if inlet == self.shape.in1 {
            if let Some(model) = ctx.grab(&self.shape.in1) {
                self.install(model);
            }
            ctx.pull(&self.shape.in1);
        } else if let Some(record) = ctx.grab(&self.shape.in0) {
            let scored = self.score(record);
            ctx.push(&self.shape.out, scored);
        }
    }

    fn on_upstream_finish(&mut self, inlet: PortId, ctx: &mut StageContext<'_, M>) {
        // Without new models the current one keeps serving; without data there is no work.
        if inlet == self.shape.in0 {
            ctx.complete_stage();
        }
    }

    fn on_message(&mut self, model: M, _ctx: &mut StageContext<'_, M>) {
        self.install(model);
    }
}

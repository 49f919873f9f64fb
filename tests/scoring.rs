//! The model-scoring stage (`weir::scoring`): records on the data inlet, models on the model
//! inlet (or installed through the materialized handle), every record scored by the latest model,
//! serving statistics, and termination.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use weir::custom::CallbackError;
use weir::prelude::*;
use weir::scoring::{Model, Outcome, Scored, ScoringHandle, ScoringStage};
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};

/// Why the test model refused a record.
#[derive(Debug, Clone, PartialEq)]
struct ScoreError(i64);

impl std::fmt::Display for ScoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot score {}", self.0)
    }
}

impl std::error::Error for ScoreError {}

/// Adds `add` to a record; fails on the record `fail_on`.
#[derive(Debug, Clone, PartialEq)]
struct Adder {
    name: String,
    description: String,
    add: i64,
    fail_on: Option<i64>,
}

fn adder(name: &str, add: i64) -> Adder {
    Adder {
        name: name.to_owned(),
        description: format!("adds {add}"),
        add,
        fail_on: None,
    }
}

impl Model<i64> for Adder {
    type Output = i64;
    type Error = ScoreError;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn score(&self, record: &i64) -> Result<i64, ScoreError> {
        if self.fail_on == Some(*record) {
            Err(ScoreError(*record))
        } else {
            Ok(record + self.add)
        }
    }
}

type Out = Scored<i64, i64, ScoreError>;

/// An outcome without its timing: what the assertions compare.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    NoModel,
    Scored(String, i64),
    Failed(String, ScoreError),
}

fn seen(scored: &Out) -> (i64, Seen) {
    let outcome = match &scored.outcome {
        Outcome::NoModel => Seen::NoModel,
        Outcome::Scored { output, model, .. } => Seen::Scored(model.to_string(), *output),
        Outcome::Failed { error, model } => Seen::Failed(model.to_string(), error.clone()),
    };
    (scored.record, outcome)
}

fn scored_by(model: &str, output: i64) -> Seen {
    Seen::Scored(model.to_owned(), output)
}

/// Yields until `cond` holds, for a bounded number of scheduler turns (no tokio time passes).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never held: {what}");
}

/// `data probe` and `model probe` → scoring stage → `sink probe`.
struct Rig {
    data: SourceProbe<i64>,
    models: SourceProbe<Adder>,
    handle: ScoringHandle<Adder>,
    sink: SinkProbe<Out>,
}

fn rig() -> Rig {
    let ((data, models, handle), sink) = Source::from_fan_in2_mat(
        ScoringStage::new(),
        TestSource::<i64>::probe(),
        TestSource::<Adder>::probe(),
    )
    .to_mat(TestSink::probe(), Keep::both)
    .run();
    Rig {
        data,
        models,
        handle,
        sink,
    }
}

impl Rig {
    fn serving(&self) -> Option<String> {
        self.handle.state().map(|s| s.name)
    }

    async fn wait_for_model(&self, name: &str) {
        eventually(&format!("model {name} serving"), || {
            self.serving().as_deref() == Some(name)
        })
        .await;
    }

    /// Sends `model` on the model inlet and waits until it serves.
    async fn send_model(&self, model: Adder) {
        let name = model.name.clone();
        self.models.send_next(model).await;
        self.wait_for_model(&name).await;
    }

    /// Installs `model` through the handle and waits until it serves.
    async fn install(&self, model: Adder) {
        let name = model.name.clone();
        self.handle.install(model).unwrap();
        self.wait_for_model(&name).await;
    }

    /// Sends one record and returns how it was scored.
    async fn score(&self, record: i64) -> Out {
        self.sink.request(1);
        self.data.send_next(record).await;
        self.sink.expect_next_element().await
    }
}

// =============================================================================================
// Scoring and the swap point
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn records_before_any_model_are_not_scored() {
    let rig = rig();
    assert_eq!(rig.handle.state(), None);
    rig.sink.request(3);
    for x in [5, 6, 7] {
        rig.data.send_next(x).await;
    }
    for x in [5, 6, 7] {
        let out = rig.sink.expect_next_element().await;
        assert_eq!(seen(&out), (x, Seen::NoModel));
    }
    assert_eq!(rig.handle.state(), None);
}

#[tokio::test(start_paused = true)]
async fn each_record_is_scored_by_the_latest_model_without_loss_or_duplication() {
    let rig = rig();
    let mut got = Vec::new();
    got.push(seen(&rig.score(10).await));
    got.push(seen(&rig.score(11).await));
    rig.send_model(adder("a", 100)).await;
    got.push(seen(&rig.score(12).await));
    got.push(seen(&rig.score(13).await));
    rig.send_model(adder("b", 200)).await;
    rig.send_model(adder("c", 300)).await;
    got.push(seen(&rig.score(14).await));
    rig.install(adder("d", 400)).await;
    got.push(seen(&rig.score(15).await));
    rig.send_model(adder("e", 500)).await;
    got.push(seen(&rig.score(16).await));
    got.push(seen(&rig.score(17).await));
    assert_eq!(
        got,
        vec![
            (10, Seen::NoModel),
            (11, Seen::NoModel),
            (12, scored_by("a", 112)),
            (13, scored_by("a", 113)),
            (14, scored_by("c", 314)),
            (15, scored_by("d", 415)),
            (16, scored_by("e", 516)),
            (17, scored_by("e", 517)),
        ]
    );
    rig.sink.request(1);
    rig.sink.expect_no_message(Duration::from_millis(100)).await;
}

#[tokio::test(start_paused = true)]
async fn bursts_of_records_keep_their_order_across_swaps() {
    let rig = rig();
    rig.sink.request(100);
    for x in 0..20 {
        rig.data.send_next(x).await;
    }
    for x in 0..20 {
        assert_eq!(
            seen(&rig.sink.expect_next_element().await),
            (x, Seen::NoModel)
        );
    }
    rig.send_model(adder("m", 1000)).await;
    for x in 20..60 {
        rig.data.send_next(x).await;
    }
    for x in 20..60 {
        assert_eq!(
            seen(&rig.sink.expect_next_element().await),
            (x, scored_by("m", x + 1000))
        );
    }
    assert_eq!(rig.handle.state().unwrap().records_scored, 40);
}

#[tokio::test(start_paused = true)]
async fn models_installed_through_the_handle_serve() {
    let rig = rig();
    rig.install(adder("x", 1)).await;
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("x", 2)));
    rig.install(adder("y", 2)).await;
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("y", 3)));
    // The model inlet and the handle replace each other's models.
    rig.send_model(adder("z", 3)).await;
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("z", 4)));
    rig.install(adder("w", 4)).await;
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("w", 5)));
}

#[tokio::test(start_paused = true)]
async fn a_failing_model_gives_failed_outcomes_and_keeps_the_record() {
    let rig = rig();
    rig.send_model(Adder {
        fail_on: Some(13),
        ..adder("picky", 100)
    })
    .await;
    let got: Vec<_> = [
        rig.score(12).await,
        rig.score(13).await,
        rig.score(14).await,
    ]
    .iter()
    .map(seen)
    .collect();
    assert_eq!(
        got,
        vec![
            (12, scored_by("picky", 112)),
            (13, Seen::Failed("picky".into(), ScoreError(13))),
            (14, scored_by("picky", 114)),
        ]
    );
    // Failed records count as scored.
    assert_eq!(rig.handle.state().unwrap().records_scored, 3);
}

#[tokio::test(start_paused = true)]
async fn the_data_inlet_never_stalls_while_the_model_inlet_is_idle() {
    let rig = rig();
    rig.sink.request(200);
    for x in 0..100 {
        rig.data.send_next(x).await;
    }
    for x in 0..100 {
        assert_eq!(
            seen(&rig.sink.expect_next_element().await),
            (x, Seen::NoModel)
        );
    }
    // The stage did ask for a model; none ever came.
    assert!(rig.models.pending_demand() > 0);
    assert!(!rig.models.is_cancelled());
}

// =============================================================================================
// Termination
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn model_inlet_completion_keeps_the_current_model_serving() {
    let rig = rig();
    rig.send_model(adder("last", 7)).await;
    rig.models.send_complete();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("last", 8)));
    assert_eq!(seen(&rig.score(2).await), (2, scored_by("last", 9)));
    assert!(!rig.sink.is_terminated());
    // The stage still takes models through its handle.
    rig.install(adder("handed", 70)).await;
    assert_eq!(seen(&rig.score(3).await), (3, scored_by("handed", 73)));
    rig.data.send_complete();
    rig.sink.request(1);
    rig.sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn model_inlet_completing_before_any_model_leaves_records_unscored() {
    let rig = rig();
    rig.models.send_complete();
    assert_eq!(seen(&rig.score(1).await), (1, Seen::NoModel));
    assert_eq!(seen(&rig.score(2).await), (2, Seen::NoModel));
    assert!(!rig.sink.is_terminated());
}

#[tokio::test(start_paused = true)]
async fn data_completion_completes_the_stage() {
    let rig = rig();
    rig.send_model(adder("a", 1)).await;
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("a", 2)));
    rig.data.send_complete();
    rig.sink.request(1);
    rig.sink.expect_complete().await;
    // Completing the stage cancels the model inlet.
    rig.models.expect_cancellation().await;
    // The last statistics stay readable.
    assert_eq!(rig.handle.state().unwrap().records_scored, 1);
}

#[tokio::test(start_paused = true)]
async fn install_after_the_stream_stopped_reports_stage_stopped() {
    let rig = rig();
    rig.data.send_complete();
    rig.sink.request(1);
    rig.sink.expect_complete().await;
    // Completion reached the sink only once the stage had stopped.
    match rig.handle.install(adder("late", 1)) {
        Err(CallbackError::StageStopped(model)) => assert_eq!(model, adder("late", 1)),
        other => panic!("expected StageStopped, got {other:?}"),
    }
    assert_eq!(
        rig.handle.state(),
        None,
        "the late model was never installed"
    );
}

#[tokio::test(start_paused = true)]
async fn data_failure_fails_the_stage() {
    let rig = rig();
    rig.send_model(adder("a", 1)).await;
    rig.sink.request(2);
    rig.data.send_next(1).await;
    assert_eq!(
        seen(&rig.sink.expect_next_element().await),
        (1, scored_by("a", 2))
    );
    rig.data.send_error(StreamError::failed(ScoreError(-1)));
    let error = rig.sink.expect_error().await;
    assert_eq!(error.downcast_ref::<ScoreError>(), Some(&ScoreError(-1)));
    rig.models.expect_cancellation().await;
    assert!(matches!(
        rig.handle.install(adder("late", 1)),
        Err(CallbackError::StageStopped(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn model_inlet_failure_fails_the_stage() {
    let rig = rig();
    rig.sink.request(2);
    rig.data.send_next(1).await;
    assert_eq!(
        seen(&rig.sink.expect_next_element().await),
        (1, Seen::NoModel)
    );
    rig.models.send_error(StreamError::failed(ScoreError(-2)));
    let error = rig.sink.expect_error().await;
    assert_eq!(error.downcast_ref::<ScoreError>(), Some(&ScoreError(-2)));
    rig.data.expect_cancellation().await;
}

/// Not paused: should the cancellation go unnoticed, the probes' timeouts must still expire.
#[tokio::test]
async fn downstream_cancel_cancels_both_inlets() {
    let rig = rig();
    rig.send_model(adder("a", 1)).await;
    assert_eq!(seen(&rig.score(1).await), (1, scored_by("a", 2)));
    rig.sink.cancel();
    rig.data.expect_cancellation().await;
    rig.models.expect_cancellation().await;
}

// =============================================================================================
// Statistics
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn statistics_follow_the_serving_model() {
    let rig = rig();
    assert_eq!(rig.handle.state(), None);
    let before_a = SystemTime::now();
    rig.send_model(adder("a", 1)).await;
    let a = rig.handle.state().unwrap();
    assert_eq!(a.name, "a");
    assert_eq!(a.description, "adds 1");
    assert_eq!(a.records_scored, 0);
    assert_eq!(
        (a.min, a.avg, a.max),
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    );
    assert!(a.since >= before_a);

    let mut elapsed = Vec::new();
    for x in 0..5 {
        match rig.score(x).await.outcome {
            Outcome::Scored { elapsed: e, .. } => elapsed.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    let a5 = rig.handle.state().unwrap();
    assert_eq!(a5.records_scored, 5);
    assert_eq!(
        a5.since, a.since,
        "scoring does not restart the model's clock"
    );
    assert!(a5.min <= a5.avg && a5.avg <= a5.max, "{a5:?}");
    // The statistics are those of the scoring times reported with the outcomes.
    assert_eq!(a5.min, *elapsed.iter().min().unwrap());
    assert_eq!(a5.max, *elapsed.iter().max().unwrap());
    assert_eq!(a5.avg, elapsed.iter().sum::<Duration>() / 5);

    let before_b = SystemTime::now();
    rig.send_model(Adder {
        description: "the second one".into(),
        ..adder("b", 2)
    })
    .await;
    let b = rig.handle.state().unwrap();
    assert_eq!(b.name, "b");
    assert_eq!(b.description, "the second one");
    assert_eq!(b.records_scored, 0, "a swap resets the count");
    assert_eq!(
        (b.min, b.avg, b.max),
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    );
    assert!(
        b.since >= before_b && before_b >= a.since,
        "since moves forward"
    );

    for x in 0..2 {
        rig.score(x).await;
    }
    let b2 = rig.handle.state().unwrap();
    assert_eq!(b2.records_scored, 2);
    assert!(b2.min <= b2.avg && b2.avg <= b2.max, "{b2:?}");

    rig.install(adder("c", 3)).await;
    let c = rig.handle.state().unwrap();
    assert_eq!((c.name.as_str(), c.records_scored), ("c", 0));
    assert!(c.since >= b.since);
}

// =============================================================================================
// Random interleavings
// =============================================================================================

#[derive(Debug, Clone, Copy)]
enum Action {
    Record,
    SendModel,
    InstallModel,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::Record),
        1 => Just(Action::SendModel),
        1 => Just(Action::InstallModel),
    ]
}

/// Plays `actions`; checks that every record comes out once, in order, scored by the latest
/// model sent before it.
async fn check_interleaving(actions: Vec<Action>) {
    let rig = rig();
    rig.sink.request(actions.len() as u64 + 1);
    let mut expected = Vec::new();
    let mut received = Vec::new();
    let mut in_flight = 0usize;
    let mut serving: Option<(String, i64)> = None;
    let mut since_swap = 0u64;
    for (i, action) in actions.iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        match action {
            Action::Record => {
                rig.data.send_next(i).await;
                in_flight += 1;
                since_swap += 1;
                expected.push(match &serving {
                    None => (i, Seen::NoModel),
                    Some((name, add)) => (i, scored_by(name, i + add)),
                });
            }
            Action::SendModel | Action::InstallModel => {
                // The inlets are independent: a model counts as sent after the records before it
                // once those have been scored.
                for _ in 0..in_flight {
                    received.push(seen(&rig.sink.expect_next_element().await));
                }
                in_flight = 0;
                let model = adder(&format!("m{i}"), (i + 1) * 1000);
                serving = Some((model.name.clone(), model.add));
                since_swap = 0;
                if matches!(action, Action::SendModel) {
                    rig.send_model(model).await;
                } else {
                    rig.install(model).await;
                }
            }
        }
    }
    for _ in 0..in_flight {
        received.push(seen(&rig.sink.expect_next_element().await));
    }
    assert_eq!(received, expected);
    rig.data.send_complete();
    rig.sink.expect_complete().await;
    let state = rig.handle.state();
    assert_eq!(state.as_ref().map(|s| s.name.clone()), serving.map(|s| s.0));
    if let Some(state) = state {
        assert_eq!(state.records_scored, since_swap);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn each_record_uses_the_latest_model_sent_before_it(
        actions in prop::collection::vec(action(), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(check_interleaving(actions));
    }
}

#[tokio::test(start_paused = true)]
async fn a_stage_with_a_model_serves_it_from_the_first_record_in_every_run() {
    let blueprint = Source::from_fan_in2_mat(
        ScoringStage::with_model(adder("restored", 10)),
        Source::from_iter(vec![1i64, 2]),
        TestSource::<Adder>::probe(),
    )
    .to_mat(Sink::seq(), Keep::both);
    let ((_, _models, handle), out) = blueprint.run();
    let got: Vec<_> = out.await.unwrap().iter().map(seen).collect();
    assert_eq!(
        got,
        vec![
            (1, scored_by("restored", 11)),
            (2, scored_by("restored", 12))
        ]
    );
    assert_eq!(handle.state().unwrap().name, "restored");
    assert_eq!(handle.state().unwrap().records_scored, 2);
    // A second run starts with its own copy and its own statistics.
    let ((_, _models, again), out) = blueprint.run();
    assert_eq!(out.await.unwrap().len(), 2);
    assert_eq!(again.state().unwrap().records_scored, 2);
    assert_eq!(handle.state().unwrap().records_scored, 2);
}

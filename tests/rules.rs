//! Property tests of the Reactive Streams rules over generated pipelines.
//!
//! A random chain of operators is placed between a `TestSource` probe and a `TestSink` probe and
//! driven by a random script of demand, elements, completion, failure and cancellation. After
//! every step the observed signals are checked against the rules:
//!
//! - the sink never receives more elements than it requested in total (rule 1.1);
//! - at most one terminal signal, and nothing after it (rules 1.3, 1.7);
//! - after cancellation nothing more arrives, and the source is eventually cancelled (3.6, 3.13);
//! - demand accumulates and saturates: `request(u64::MAX)` twice is fine (3.17);
//! - once the source terminates and demand is unbounded the stream terminates, with exactly the
//!   elements a reference model of the operators computes, and the source stage is released.
//!
//! Each case runs in a fresh current-thread runtime with paused time, so it is deterministic and
//! takes no real time.

use std::fmt;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use weir::prelude::*;
use weir::testkit::{Event, SinkProbe, SourceProbe, TestSink, TestSource};
use weir::OverflowStrategy;

#[derive(Debug, Clone)]
enum Op {
    Map,
    Filter,
    Take(u64),
    Drop(u64),
    Scan,
    Grouped(usize),
    MapConcat(usize),
    AsyncBoundary,
    Buffer(usize),
    ZipWithIndex,
}

#[derive(Debug, Clone)]
enum Action {
    Request(u64),
    /// Sends up to this many elements, each only while the source probe shows demand.
    Send(usize),
    Complete,
    Error,
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Map),
        Just(Op::Filter),
        (0u64..6).prop_map(Op::Take),
        (0u64..4).prop_map(Op::Drop),
        Just(Op::Scan),
        (1usize..4).prop_map(Op::Grouped),
        (0usize..3).prop_map(Op::MapConcat),
        Just(Op::AsyncBoundary),
        (1usize..5).prop_map(Op::Buffer),
        Just(Op::ZipWithIndex),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => prop_oneof![5 => 1u64..=6, 1 => Just(u64::MAX)].prop_map(Action::Request),
        6 => (1usize..=4).prop_map(Action::Send),
        1 => Just(Action::Complete),
        1 => Just(Action::Error),
        1 => Just(Action::Cancel),
    ]
}

fn map_fn(x: u32) -> u32 {
    x.wrapping_mul(2).wrapping_add(1)
}

fn filter_fn(x: &u32) -> bool {
    x % 3 != 0
}

fn scan_fn(acc: u32, x: u32) -> u32 {
    acc.wrapping_add(x)
}

/// Folds a group into one `u32`, so every pipeline carries `u32`.
fn encode_group(group: &[u32]) -> u32 {
    group.iter().fold(group.len() as u32, |a, x| {
        a.wrapping_mul(31).wrapping_add(*x)
    })
}

fn zip_index_fn((x, i): (u32, u64)) -> u32 {
    x.wrapping_add((i as u32).wrapping_mul(7))
}

fn apply<M: 'static>(source: Source<u32, M>, op: &Op) -> Source<u32, M> {
    match *op {
        Op::Map => source.map(map_fn),
        Op::Filter => source.filter(filter_fn),
        Op::Take(n) => source.take(n),
        Op::Drop(n) => source.drop(n),
        Op::Scan => source.scan(0, scan_fn),
        Op::Grouped(k) => source.grouped(k).map(|g| encode_group(&g)),
        Op::MapConcat(k) => source.map_concat(move |x| vec![x; k]),
        Op::AsyncBoundary => source.async_boundary(),
        Op::Buffer(n) => source.buffer(n, OverflowStrategy::BackPressure),
        Op::ZipWithIndex => source.zip_with_index().map(zip_index_fn),
    }
}

/// The reference semantics: what the pipeline emits for `inputs`, and whether it completes
/// (the source completed, or a `take` was satisfied).
fn model(ops: &[Op], inputs: &[u32], source_completed: bool) -> (Vec<u32>, bool) {
    let mut xs = inputs.to_vec();
    let mut completed = source_completed;
    for op in ops {
        xs = match *op {
            Op::Map => xs.into_iter().map(map_fn).collect(),
            Op::Filter => xs.into_iter().filter(filter_fn).collect(),
            Op::Take(n) => {
                let n = n as usize;
                if xs.len() >= n {
                    completed = true;
                    xs.truncate(n);
                }
                xs
            }
            Op::Drop(n) => xs.into_iter().skip(n as usize).collect(),
            Op::Scan => {
                let mut acc = 0;
                let mut out = vec![acc];
                for x in xs {
                    acc = scan_fn(acc, x);
                    out.push(acc);
                }
                out
            }
            Op::Grouped(k) => xs
                .chunks(k)
                .filter(|g| g.len() == k || completed)
                .map(encode_group)
                .collect(),
            Op::MapConcat(k) => xs.into_iter().flat_map(|x| vec![x; k]).collect(),
            Op::AsyncBoundary | Op::Buffer(_) => xs,
            Op::ZipWithIndex => xs.into_iter().zip(0u64..).map(zip_index_fn).collect(),
        };
    }
    (xs, completed)
}

#[derive(Debug)]
struct TestErr;

impl fmt::Display for TestErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("injected failure")
    }
}

impl std::error::Error for TestErr {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceState {
    Open,
    Completed,
    Failed,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// Lets every runnable island run until the runtime is idle (time is paused).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// What the sink has observed, checked signal by signal.
#[derive(Default)]
struct Observed {
    requested: u64,
    elements: Vec<u32>,
    terminal: Option<Event<u32>>,
    cancelled: bool,
}

impl Observed {
    fn absorb(&mut self, event: Event<u32>) {
        assert!(!self.cancelled, "signal {event:?} after the sink cancelled");
        assert!(
            self.terminal.is_none(),
            "signal {event:?} after terminal {:?}",
            self.terminal
        );
        match event {
            Event::Next(x) => {
                self.elements.push(x);
                assert!(
                    self.elements.len() as u64 <= self.requested,
                    "{} elements delivered for a total demand of {}",
                    self.elements.len(),
                    self.requested
                );
            }
            terminal => self.terminal = Some(terminal),
        }
    }

    fn absorb_all(&mut self, sink: &SinkProbe<u32>) {
        for event in sink.drain_events() {
            self.absorb(event);
        }
    }
}

async fn run_script(ops: Vec<Op>, script: Vec<Action>) {
    let mut source = TestSource::<u32>::probe();
    for op in &ops {
        source = apply(source, op);
    }
    let (src, sink): (SourceProbe<u32>, SinkProbe<u32>) =
        source.to_mat(TestSink::probe(), Keep::both).run();

    let mut obs = Observed::default();
    let mut inputs = Vec::new();
    let mut state = SourceState::Open;
    let mut next = 1u32;

    for action in script {
        match action {
            Action::Request(n) => {
                sink.request(n);
                if !obs.cancelled {
                    obs.requested = obs.requested.saturating_add(n);
                }
            }
            Action::Send(k) => {
                for _ in 0..k {
                    if state == SourceState::Open && !src.is_cancelled() && src.pending_demand() > 0
                    {
                        src.send_next(next).await;
                        inputs.push(next);
                        next += 1;
                    }
                }
            }
            Action::Complete => {
                if state == SourceState::Open {
                    src.send_complete();
                    state = SourceState::Completed;
                }
            }
            Action::Error => {
                if state == SourceState::Open {
                    src.send_error(StreamError::failed(TestErr));
                    state = SourceState::Failed;
                }
            }
            Action::Cancel => {
                sink.cancel();
                obs.cancelled = true;
            }
        }
        settle().await;
        obs.absorb_all(&sink);
    }

    if obs.cancelled {
        let (expected, _) = model(&ops, &inputs, true);
        // Nothing arrives after cancellation, whatever happens next.
        sink.request(10);
        settle().await;
        obs.absorb_all(&sink);
        src.expect_cancellation().await;
        assert!(
            expected.starts_with(&obs.elements),
            "received {:?}, not a prefix of {expected:?}",
            obs.elements
        );
        return;
    }

    // Unbounded demand, accumulated twice (must saturate, not overflow), then let the source
    // finish: the stream must terminate.
    sink.request(u64::MAX);
    sink.request(u64::MAX);
    obs.requested = u64::MAX;
    if state == SourceState::Open {
        src.send_complete();
        state = SourceState::Completed;
    }
    let (expected, completes) = model(&ops, &inputs, state == SourceState::Completed);
    while obs.terminal.is_none() {
        let event = sink.expect_event().await;
        obs.absorb(event);
    }
    settle().await;
    obs.absorb_all(&sink);

    assert_eq!(obs.elements, expected, "elements (inputs {inputs:?})");
    match obs.terminal.take().expect("terminal") {
        Event::Complete => assert!(completes, "completed, but the source failed"),
        Event::Error(e) => {
            assert!(!completes, "failed with {e:?}, but should have completed");
            assert!(
                e.downcast_ref::<TestErr>().is_some(),
                "unexpected error {e:?}"
            );
        }
        Event::Next(_) => unreachable!(),
    }
    // Termination releases every stage, down to the source.
    src.expect_cancellation().await;
}

/// With an always-ready source, demand is met exactly: after each request the sink has
/// received `min(total demand, everything the pipeline can produce)`.
async fn run_demand(ops: Vec<Op>, requests: Vec<u64>) {
    let inputs: Vec<u32> = (1..=40).collect();
    let mut source = Source::from_iter(inputs.clone());
    for op in &ops {
        source = apply(source, op);
    }
    let sink = source.run_with(TestSink::probe());
    let (expected, _) = model(&ops, &inputs, true);

    let mut obs = Observed::default();
    for n in requests {
        sink.request(n);
        obs.requested = obs.requested.saturating_add(n);
        settle().await;
        obs.absorb_all(&sink);
        let due = expected
            .len()
            .min(usize::try_from(obs.requested).unwrap_or(usize::MAX));
        assert_eq!(
            obs.elements,
            expected[..due],
            "after a total demand of {}",
            obs.requested
        );
    }
    sink.request(u64::MAX);
    obs.requested = u64::MAX;
    while obs.terminal.is_none() {
        let event = sink.expect_event().await;
        obs.absorb(event);
    }
    assert_eq!(obs.elements, expected);
    assert!(matches!(obs.terminal, Some(Event::Complete)));
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Keep the working tree clean: no regression files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn reactive_streams_rules_hold(ops in vec(op(), 0..6), script in vec(action(), 0..40)) {
        runtime().block_on(run_script(ops, script));
    }

    #[test]
    fn demand_is_met_exactly_with_a_ready_source(
        ops in vec(op(), 0..6),
        requests in vec(prop_oneof![4 => 0u64..5, 1 => 5u64..40], 1..12),
    ) {
        runtime().block_on(run_demand(ops, requests));
    }
}

#[test]
fn model_sanity() {
    let (out, done) = model(&[Op::Grouped(2)], &[1, 2, 3], true);
    assert_eq!(out, vec![encode_group(&[1, 2]), encode_group(&[3])]);
    assert!(done);
    let (out, done) = model(&[Op::Grouped(2)], &[1, 2, 3], false);
    assert_eq!(out, vec![encode_group(&[1, 2])]);
    assert!(!done);
    let (out, done) = model(&[Op::Scan, Op::Take(2)], &[5, 6], false);
    assert_eq!(out, vec![0, 5]);
    assert!(done);
}

#[test]
fn demand_accumulates_across_requests() {
    runtime().block_on(async {
        let (src, sink) = TestSource::<u32>::probe()
            .map(map_fn)
            .async_boundary()
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(3);
        sink.request(4);
        for x in 0..10 {
            src.send_next(x).await;
        }
        settle().await;
        let got: Vec<_> = sink.drain_events();
        assert_eq!(got.len(), 7, "3 + 4 requested: {got:?}");
        assert_eq!(sink.outstanding(), 0);
        sink.request(u64::MAX);
        sink.request(u64::MAX);
        assert_eq!(sink.outstanding(), u64::MAX);
        for x in 10..100 {
            src.send_next(x).await;
        }
        src.send_complete();
        let mut n = got.len();
        loop {
            match sink.expect_event().await {
                Event::Next(_) => n += 1,
                Event::Complete => break,
                Event::Error(e) => panic!("failed: {e}"),
            }
        }
        assert_eq!(n, 100);
    });
}

#[test]
fn cancel_is_idempotent_and_stops_delivery() {
    runtime().block_on(async {
        let (src, sink) = TestSource::<u32>::probe()
            .async_boundary()
            .map(map_fn)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(1);
        src.send_next(1).await;
        sink.expect_next(map_fn(1)).await;
        sink.cancel();
        sink.cancel();
        sink.request(10);
        src.expect_cancellation().await;
        sink.expect_no_message(Duration::from_millis(200)).await;
    });
}

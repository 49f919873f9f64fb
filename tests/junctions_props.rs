//! Property tests of the junctions' rules over every arrival order.
//!
//! Each input of a fan-in junction (and the input of a fan-out junction) is a `TestSource` probe,
//! each output a `TestSink` probe. A generated script says which input sends next (only while
//! its probe shows demand), when a downstream requests and when inputs complete; after every
//! step the signals observed so far are checked against the junction's rule, and at the end the
//! inputs complete under unbounded demand and the whole output and its terminal signal are
//! checked. Each case runs in a fresh current-thread runtime with paused time, so it is
//! deterministic and takes no real time.

use std::fmt::Debug;
use std::time::Duration;

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use weir::builder::GraphBuilder;
use weir::junctions::{
    Balance, Broadcast, Concat, FanIn2Shape, Interleave, Junction, Merge, MergeSorted, Partition,
    UniformFanInShape, UniformFanOutShape, Zip, ZipWith,
};
use weir::testkit::{Event, SinkProbe, SourceProbe, TestSink, TestSource};
use weir::Attributes;

use support::observed::Observed;
use support::paused_runtime;

// =============================================================================================
// Running a case
// =============================================================================================

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        // Keep the working tree clean: no regression files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lets every runnable island run until the runtime is idle (time is paused).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// A step of a fan-in script.
#[derive(Debug, Clone)]
enum In {
    /// Input `i` sends its next element, if it is open and its probe shows demand.
    Send(usize),
    /// The downstream requests `n` more.
    Request(u64),
    /// Input `i` completes.
    Complete(usize),
}

fn fan_in_script(inputs: usize, len: usize) -> impl Strategy<Value = Vec<In>> {
    let step = prop_oneof![
        6 => (0..inputs).prop_map(In::Send),
        3 => (1u64..=4).prop_map(In::Request),
        1 => (0..inputs).prop_map(In::Complete),
    ];
    vec(step, 0..len)
}

/// A step of a fan-out script.
#[derive(Debug, Clone)]
enum Out {
    /// The input sends its next element (bound for output `k`, where that matters), if it is
    /// open and its probe shows demand.
    Send(usize),
    /// Output `j` requests `n` more.
    Request(usize, u64),
    /// The input completes.
    Complete,
}

fn fan_out_script(outputs: usize, len: usize) -> impl Strategy<Value = Vec<Out>> {
    let step = prop_oneof![
        6 => (0..outputs).prop_map(Out::Send),
        4 => (0..outputs, 1u64..=3).prop_map(|(j, n)| Out::Request(j, n)),
        1 => Just(Out::Complete),
    ];
    vec(step, 0..len)
}

impl<O: Send + Debug + PartialEq + 'static> Observed<O> {
    fn completed(&self) -> bool {
        matches!(self.terminal, Some(Event::Complete))
    }

    /// Whether the downstream has asked for more than it has received (so the junction is
    /// pulled, and a completion it has to report is reported).
    fn wants_more(&self) -> bool {
        self.requested > self.elements.len() as u64
    }

    /// Unbounded demand.
    fn request_all(&mut self, sink: &SinkProbe<O>) {
        sink.request(u64::MAX);
        self.requested = u64::MAX;
    }

    /// Waits for the terminal signal under unbounded demand; panics if it is a failure.
    async fn run_to_completion(&mut self, sink: &SinkProbe<O>) {
        self.request_all(sink);
        while self.terminal.is_none() {
            let event = sink.expect_event().await;
            self.absorb(event);
        }
        assert!(self.completed(), "failed: {:?}", self.terminal);
    }
}

/// A fan-in junction between source probes (inputs of `u32`) and a sink probe, with what was
/// sent and observed.
struct FanInRun<O> {
    srcs: Vec<SourceProbe<u32>>,
    sink: SinkProbe<O>,
    sent: Vec<Vec<u32>>,
    completed: Vec<bool>,
    obs: Observed<O>,
}

impl<O: Send + Debug + PartialEq + 'static> FanInRun<O> {
    fn new((srcs, sink): (Vec<SourceProbe<u32>>, SinkProbe<O>)) -> Self {
        let n = srcs.len();
        FanInRun {
            srcs,
            sink,
            sent: vec![Vec::new(); n],
            completed: vec![false; n],
            obs: Observed::default(),
        }
    }

    fn can_send(&self, i: usize) -> bool {
        let src = &self.srcs[i];
        !self.completed[i] && !src.is_cancelled() && src.pending_demand() > 0
    }

    /// Applies `step`, input `i`'s `j`th element being `value(i, j)` (`None`: it has no more),
    /// then lets the stream react and records what the sink observed.
    async fn apply(&mut self, step: &In, value: impl Fn(usize, usize) -> Option<u32>) {
        match *step {
            In::Send(i) => {
                if self.can_send(i) {
                    if let Some(x) = value(i, self.sent[i].len()) {
                        self.srcs[i].send_next(x).await;
                        self.sent[i].push(x);
                    }
                }
            }
            In::Request(n) => {
                self.sink.request(n);
                self.obs.requested += n;
            }
            In::Complete(i) => {
                if !self.completed[i] && !self.srcs[i].is_cancelled() {
                    self.srcs[i].send_complete();
                    self.completed[i] = true;
                }
            }
        }
        settle().await;
        self.obs.absorb_all(&self.sink);
    }

    /// Unbounded demand, every input still open completes in turn: the stream must complete.
    /// Afterwards every input has been released.
    async fn finish(&mut self) {
        for i in 0..self.srcs.len() {
            if !self.completed[i] && !self.srcs[i].is_cancelled() {
                self.srcs[i].send_complete();
                self.completed[i] = true;
            }
        }
        self.obs.run_to_completion(&self.sink).await;
        settle().await;
        for (i, src) in self.srcs.iter().enumerate() {
            assert!(
                src.is_cancelled(),
                "input {i} not released after completion"
            );
        }
    }

    fn total_sent(&self) -> usize {
        self.sent.iter().map(Vec::len).sum()
    }

    /// The first `min(demand, expected.len())` elements of `expected`.
    fn due<'a, T>(&self, expected: &'a [T]) -> &'a [T] {
        let n = usize::try_from(self.obs.requested).unwrap_or(usize::MAX);
        &expected[..expected.len().min(n)]
    }
}

/// `junction` with one source probe per input and a sink probe on its output.
fn fan_in<O, J>(junction: J) -> (Vec<SourceProbe<u32>>, SinkProbe<O>)
where
    O: Send + 'static,
    J: Junction<Shape = UniformFanInShape<u32, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let mut keys = Vec::new();
    for inlet in &shape.ins {
        let (src, key) = b.add_source_mat(TestSource::<u32>::probe());
        b.connect(src, *inlet);
        keys.push(key);
    }
    let (sink, sink_key) = b.add_sink_mat(TestSink::<O>::probe());
    b.connect(shape.out, sink);
    b.build(move |m| (keys.iter().map(|k| m.take(*k)).collect(), m.take(sink_key)))
        .expect("a fully connected graph")
        .run()
}

/// A two-input junction with a source probe on each input and a sink probe on its output.
fn fan_in2<O, J>(junction: J) -> (Vec<SourceProbe<u32>>, SinkProbe<O>)
where
    O: Send + 'static,
    J: Junction<Shape = FanIn2Shape<u32, u32, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let (a, ka) = b.add_source_mat(TestSource::<u32>::probe());
    let (c, kb) = b.add_source_mat(TestSource::<u32>::probe());
    let (sink, ks) = b.add_sink_mat(TestSink::<O>::probe());
    b.connect(a, shape.in0);
    b.connect(c, shape.in1);
    b.connect(shape.out, sink);
    b.build(move |m| (vec![m.take(ka), m.take(kb)], m.take(ks)))
        .expect("a fully connected graph")
        .run()
}

/// A fan-out junction between a source probe and sink probes, with what was sent and observed.
struct FanOutRun {
    src: SourceProbe<u32>,
    sinks: Vec<SinkProbe<u32>>,
    sent: Vec<u32>,
    completed: bool,
    obs: Vec<Observed<u32>>,
}

impl FanOutRun {
    /// `junction` with a source probe on its input and a sink probe on each output, run with
    /// output buffers of `buffer` elements.
    fn new<J>(junction: J, buffer: usize) -> Self
    where
        J: Junction<Shape = UniformFanOutShape<u32, u32>>,
    {
        let mut b = GraphBuilder::new();
        let shape = b.add(junction);
        let (src, sk) = b.add_source_mat(TestSource::<u32>::probe());
        b.connect(src, shape.inlet);
        let mut keys = Vec::new();
        for out in &shape.outs {
            let (sink, k) = b.add_sink_mat(TestSink::<u32>::probe());
            b.connect(*out, sink);
            keys.push(k);
        }
        let (src, sinks): (SourceProbe<u32>, Vec<SinkProbe<u32>>) = b
            .build(move |m| (m.take(sk), keys.iter().map(|k| m.take(*k)).collect()))
            .expect("a fully connected graph")
            .with_attributes(Attributes::input_buffer(buffer))
            .run();
        let obs = sinks.iter().map(|_| Observed::default()).collect();
        FanOutRun {
            src,
            sinks,
            sent: Vec::new(),
            completed: false,
            obs,
        }
    }

    /// Applies `step`, the `k`th element sent for target `t` being `value(k, t)`, then lets the
    /// stream react and records what every output observed.
    async fn apply(&mut self, step: &Out, value: impl Fn(usize, usize) -> u32) {
        match *step {
            Out::Send(target) => {
                if !self.completed && !self.src.is_cancelled() && self.src.pending_demand() > 0 {
                    let x = value(self.sent.len(), target);
                    self.src.send_next(x).await;
                    self.sent.push(x);
                }
            }
            Out::Request(j, n) => {
                self.sinks[j].request(n);
                self.obs[j].requested += n;
            }
            Out::Complete => {
                if !self.completed {
                    self.src.send_complete();
                    self.completed = true;
                }
            }
        }
        settle().await;
        for (obs, sink) in self.obs.iter_mut().zip(&self.sinks) {
            obs.absorb_all(sink);
        }
    }

    /// Unbounded demand on every output, the input completes: every output must complete, and
    /// the input is released.
    async fn finish(&mut self) {
        if !self.completed {
            self.src.send_complete();
            self.completed = true;
        }
        // Every output asks before any is awaited: a fan-out junction sees its input's
        // completion only on a pull, which a full output holds back.
        for (obs, sink) in self.obs.iter_mut().zip(&self.sinks) {
            obs.request_all(sink);
        }
        for (obs, sink) in self.obs.iter_mut().zip(&self.sinks) {
            obs.run_to_completion(sink).await;
        }
        settle().await;
        assert!(
            self.src.is_cancelled(),
            "input not released after completion"
        );
    }
}

// =============================================================================================
// Zip, ZipWith
// =============================================================================================

/// Input `i`'s `j`th element: distinct per input and position.
fn tagged(i: usize, j: usize) -> Option<u32> {
    Some((i * 1000 + j) as u32)
}

fn zip_model(sent: &[Vec<u32>]) -> Vec<(u32, u32)> {
    sent[0]
        .iter()
        .copied()
        .zip(sent[1].iter().copied())
        .collect()
}

/// Checks the zip rules on what `run` observed, `combine` being the junction's function.
fn check_zip<O: Send + Debug + PartialEq + 'static>(
    run: &FanInRun<O>,
    combine: impl Fn((u32, u32)) -> O,
) {
    let expected: Vec<O> = zip_model(&run.sent).into_iter().map(combine).collect();
    // Every pair that both inputs allow and the downstream asked for, and nothing else.
    assert_eq!(run.obs.elements, run.due(&expected), "sent {:?}", run.sent);
    // Completes exactly when an input has completed and all its elements are paired.
    let used_up = (0..2).any(|i| run.completed[i] && run.sent[i].len() == run.obs.elements.len());
    if run.obs.completed() {
        assert!(used_up, "completed early: sent {:?}", run.sent);
    } else if used_up && run.obs.wants_more() {
        panic!(
            "not completed although an input is used up: sent {:?}, completed {:?}, {:?}",
            run.sent, run.completed, run.obs.terminal
        );
    }
}

async fn zip_case<O, J>(junction: J, combine: fn((u32, u32)) -> O, script: Vec<In>)
where
    O: Send + Debug + PartialEq + 'static,
    J: Junction<Shape = FanIn2Shape<u32, u32, O>>,
{
    let mut run = FanInRun::new(fan_in2(junction));
    for step in &script {
        run.apply(step, tagged).await;
        check_zip(&run, combine);
    }
    run.finish().await;
    check_zip(&run, combine);
    let shorter = run.sent[0].len().min(run.sent[1].len());
    assert_eq!(run.obs.elements.len(), shorter);
}

fn pair((a, b): (u32, u32)) -> (u32, u32) {
    (a, b)
}

fn weave((a, b): (u32, u32)) -> u64 {
    u64::from(a) * 1_000_000 + u64::from(b)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn zip_is_the_pairwise_zip_and_completes_with_the_shorter_input(
        script in fan_in_script(2, 40),
    ) {
        paused_runtime().block_on(zip_case(Zip::<u32, u32>::new(), pair, script));
    }

    #[test]
    fn zip_with_is_the_pairwise_zip_and_completes_with_the_shorter_input(
        script in fan_in_script(2, 40),
    ) {
        let junction = ZipWith::new(|a: u32, b: u32| weave((a, b)));
        paused_runtime().block_on(zip_case(junction, weave, script));
    }
}

// =============================================================================================
// MergeSorted
// =============================================================================================

/// What a sorted merge can emit so far: it emits the smaller head while both inputs have one,
/// and the rest of an input once the other has completed and is used up. Returns the elements
/// and whether it has completed.
fn merge_sorted_model(sent: &[Vec<u32>], completed: &[bool]) -> (Vec<u32>, bool) {
    let (a, b) = (&sent[0], &sent[1]);
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    loop {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => {
                if x <= y {
                    out.push(*x);
                    i += 1;
                } else {
                    out.push(*y);
                    j += 1;
                }
            }
            (Some(x), None) if completed[1] => {
                out.push(*x);
                i += 1;
            }
            (None, Some(y)) if completed[0] => {
                out.push(*y);
                j += 1;
            }
            (None, None) if completed[0] && completed[1] => return (out, true),
            _ => return (out, false),
        }
    }
}

fn check_merge_sorted(run: &FanInRun<u32>) {
    let out = &run.obs.elements;
    assert!(out.windows(2).all(|w| w[0] <= w[1]), "not sorted: {out:?}");
    let (expected, done) = merge_sorted_model(&run.sent, &run.completed);
    assert_eq!(out, run.due(&expected), "sent {:?}", run.sent);
    let all_out = done && out.len() == expected.len();
    if run.obs.completed() {
        assert!(all_out, "completed early: sent {:?}", run.sent);
    } else if all_out && run.obs.wants_more() {
        panic!("not completed although both inputs are used up");
    }
}

/// Two sorted inputs: each a sorted list of small values (with repeats).
fn sorted_inputs() -> impl Strategy<Value = Vec<Vec<u32>>> {
    let sorted = vec(0u32..6, 0..20).prop_map(|steps| {
        steps
            .into_iter()
            .scan(0, |acc, d| {
                *acc += d;
                Some(*acc)
            })
            .collect::<Vec<u32>>()
    });
    vec(sorted, 2)
}

async fn merge_sorted_case(inputs: Vec<Vec<u32>>, script: Vec<In>) {
    let mut run = FanInRun::new(fan_in(MergeSorted::<u32>::new()));
    let value = |i: usize, j: usize| inputs[i].get(j).copied();
    for step in &script {
        run.apply(step, value).await;
        check_merge_sorted(&run);
    }
    run.finish().await;
    check_merge_sorted(&run);
    let mut union: Vec<u32> = run.sent.concat();
    union.sort_unstable();
    assert_eq!(run.obs.elements, union, "the sorted multiset union");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merge_sorted_emits_the_sorted_merge_of_sorted_inputs(
        inputs in sorted_inputs(),
        script in fan_in_script(2, 50),
    ) {
        paused_runtime().block_on(merge_sorted_case(inputs, script));
    }
}

// =============================================================================================
// Merge
// =============================================================================================

fn check_merge(run: &FanInRun<u32>) {
    let out = &run.obs.elements;
    for (i, sent) in run.sent.iter().enumerate() {
        let from_i: Vec<u32> = out
            .iter()
            .copied()
            .filter(|x| *x as usize / 1000 == i)
            .collect();
        assert!(
            sent.starts_with(&from_i),
            "input {i}: sent {sent:?}, emitted {from_i:?} (per-input order)"
        );
    }
    // Nothing waits while the downstream asks: everything sent so far, up to the demand.
    let due = run
        .total_sent()
        .min(usize::try_from(run.obs.requested).unwrap_or(usize::MAX));
    assert_eq!(out.len(), due, "sent {:?}, emitted {out:?}", run.sent);
    // While the downstream waits, every open input is asked (not one at a time).
    if run.obs.wants_more() && out.len() == run.total_sent() && run.obs.terminal.is_none() {
        for (i, src) in run.srcs.iter().enumerate() {
            if !run.completed[i] {
                assert!(src.pending_demand() > 0, "input {i} not pulled");
            }
        }
    }
    let all_out = run.completed.iter().all(|c| *c) && out.len() == run.total_sent();
    if run.obs.completed() {
        assert!(
            all_out,
            "completed before every input completed: {:?}",
            run.completed
        );
    } else if all_out && run.obs.wants_more() {
        panic!("not completed although every input completed");
    }
}

async fn merge_case(inputs: usize, script: Vec<In>) {
    let mut run = FanInRun::new(fan_in(Merge::<u32>::new(inputs)));
    for step in &script {
        run.apply(step, tagged).await;
        check_merge(&run);
    }
    run.finish().await;
    check_merge(&run);
    let mut got = run.obs.elements.clone();
    got.sort_unstable();
    let mut union = run.sent.concat();
    union.sort_unstable();
    assert_eq!(got, union, "a permutation of every input's elements");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merge_emits_every_element_keeps_per_input_order_and_completes_last(
        (inputs, script) in (2usize..=3).prop_flat_map(|n| (Just(n), fan_in_script(n, 50))),
    ) {
        paused_runtime().block_on(merge_case(inputs, script));
    }
}

// =============================================================================================
// Interleave
// =============================================================================================

/// What a non-eager interleave can emit so far: `segment` elements of each live input in turn,
/// moving on early when the current input completes. Returns the elements and whether it has
/// completed.
fn interleave_model(sent: &[Vec<u32>], completed: &[bool], segment: usize) -> (Vec<u32>, bool) {
    let n = sent.len();
    let mut live = vec![true; n];
    let mut next = vec![0; n];
    let (mut current, mut taken) = (0, 0);
    let mut out = Vec::new();
    loop {
        if !live.iter().any(|l| *l) {
            return (out, true);
        }
        if live[current] {
            if let Some(x) = sent[current].get(next[current]) {
                out.push(*x);
                next[current] += 1;
                taken += 1;
                if taken < segment {
                    continue;
                }
            } else if completed[current] {
                live[current] = false;
            } else {
                return (out, false);
            }
        }
        taken = 0;
        current = (1..=n)
            .map(|k| (current + k) % n)
            .find(|&i| live[i])
            .unwrap_or(current);
    }
}

fn check_interleave(run: &FanInRun<u32>, segment: usize) {
    let out = &run.obs.elements;
    let (expected, done) = interleave_model(&run.sent, &run.completed, segment);
    assert_eq!(out, run.due(&expected), "sent {:?}", run.sent);
    let all_out = done && out.len() == expected.len();
    if run.obs.completed() {
        assert!(all_out, "completed early");
    } else if all_out && run.obs.wants_more() {
        panic!("not completed although every input is used up");
    }
}

async fn interleave_case(inputs: usize, segment: usize, script: Vec<In>) {
    let mut run = FanInRun::new(fan_in(Interleave::<u32>::new(inputs, segment, false)));
    for step in &script {
        run.apply(step, tagged).await;
        check_interleave(&run, segment);
    }
    run.finish().await;
    check_interleave(&run, segment);
    assert_eq!(run.obs.elements.len(), run.total_sent());
}

#[test]
fn interleave_model_sanity() {
    let sent = [vec![1, 2, 3], vec![10, 11, 12, 13, 14, 15]];
    assert_eq!(
        interleave_model(&sent, &[true, true], 2),
        (vec![1, 2, 10, 11, 3, 12, 13, 14, 15], true)
    );
    assert_eq!(
        interleave_model(&sent, &[false, true], 2),
        (vec![1, 2, 10, 11, 3], false)
    );
    assert_eq!(
        interleave_model(&[vec![1], vec![]], &[false, false], 1),
        (vec![1], false)
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn interleave_follows_the_segment_pattern(
        (inputs, segment, script) in (2usize..=3, 1usize..=3)
            .prop_flat_map(|(n, s)| (Just(n), Just(s), fan_in_script(n, 50))),
    ) {
        paused_runtime().block_on(interleave_case(inputs, segment, script));
    }
}

// =============================================================================================
// Concat
// =============================================================================================

fn check_concat(run: &FanInRun<u32>) {
    let out = &run.obs.elements;
    let first_done = run.completed[0] && out.len() >= run.sent[0].len();
    let mut expected = run.sent[0].clone();
    if run.completed[0] {
        expected.extend(&run.sent[1]);
    }
    assert_eq!(out, run.due(&expected), "sent {:?}", run.sent);
    // The second input is not even asked before the first has completed and is used up.
    if !first_done {
        assert_eq!(
            run.srcs[1].pending_demand(),
            0,
            "second input pulled before the first completed"
        );
        assert!(run.sent[1].is_empty());
    }
    let all_out = run.completed[0] && run.completed[1] && out.len() == expected.len();
    if run.obs.completed() {
        assert!(all_out, "completed early");
    } else if all_out && run.obs.wants_more() {
        panic!("not completed although both inputs are used up");
    }
}

async fn concat_case(script: Vec<In>) {
    let mut run = FanInRun::new(fan_in(Concat::<u32>::new(2)));
    for step in &script {
        run.apply(step, tagged).await;
        check_concat(&run);
    }
    run.finish().await;
    check_concat(&run);
    assert_eq!(run.obs.elements, run.sent.concat());
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn concat_emits_the_first_input_then_the_second_and_pulls_the_second_only_after(
        script in fan_in_script(2, 40),
    ) {
        paused_runtime().block_on(concat_case(script));
    }
}

// =============================================================================================
// Broadcast
// =============================================================================================

fn check_broadcast(run: &FanOutRun, buffer: usize) {
    // The input's completion reaches the outputs only once every output has room again
    // (`broadcast_upstream_completion_reaches_an_asking_output_while_another_is_full` in
    // tests/junctions.rs, ignored, is the Akka rule this falls short of).
    let every_output_has_room = run
        .obs
        .iter()
        .all(|o| run.sent.len() - o.elements.len() < buffer);
    for (j, obs) in run.obs.iter().enumerate() {
        // Every element in order, as many as the output asked for (credit comes back at once
        // with buffers of at most three, so nothing waits).
        let due = run.sent.len().min(obs.requested as usize);
        assert_eq!(obs.elements, run.sent[..due], "output {j}");
        // The junction takes from upstream no more than the slowest output has room for.
        assert!(
            run.sent.len() <= obs.elements.len() + buffer,
            "{} elements taken while output {j} received {} with a buffer of {buffer}",
            run.sent.len(),
            obs.elements.len()
        );
        let all_out = run.completed && obs.elements.len() == run.sent.len();
        if obs.completed() {
            assert!(all_out, "output {j} completed early");
        } else if all_out && obs.wants_more() && every_output_has_room {
            panic!("output {j} not completed although the input completed");
        }
    }
}

async fn broadcast_case(outputs: usize, buffer: usize, script: Vec<Out>) {
    let mut run = FanOutRun::new(Broadcast::<u32>::new(outputs), buffer);
    for step in &script {
        run.apply(step, |k, _| k as u32).await;
        check_broadcast(&run, buffer);
    }
    run.finish().await;
    for obs in &run.obs {
        assert_eq!(obs.elements, run.sent);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn broadcast_gives_every_output_the_whole_input_within_its_demand(
        (outputs, buffer, script) in (2usize..=3, 1usize..=3)
            .prop_flat_map(|(n, b)| (Just(n), Just(b), fan_out_script(n, 50))),
    ) {
        paused_runtime().block_on(broadcast_case(outputs, buffer, script));
    }
}

// =============================================================================================
// Partition
// =============================================================================================

/// An element's target output is its low three bits.
fn target(x: &u32) -> usize {
    (*x % 8) as usize
}

fn bound_for(sent: &[u32], j: usize) -> Vec<u32> {
    sent.iter().copied().filter(|x| target(x) == j).collect()
}

fn check_partition(run: &FanOutRun) {
    for (j, obs) in run.obs.iter().enumerate() {
        // Only this output's elements, in order, none lost on the way (a prefix).
        let mine = bound_for(&run.sent, j);
        assert!(
            mine.starts_with(&obs.elements),
            "output {j} got {:?}, its elements are {mine:?}",
            obs.elements
        );
        if obs.completed() {
            assert!(
                run.completed && obs.elements == mine,
                "output {j} completed early"
            );
        }
    }
}

async fn partition_case(outputs: usize, buffer: usize, script: Vec<Out>) {
    let partition = Partition::new(outputs, target);
    let mut run = FanOutRun::new(partition, buffer);
    let value = |k: usize, t: usize| (k * 8 + t) as u32;
    for step in &script {
        run.apply(step, value).await;
        check_partition(&run);
    }
    run.finish().await;
    check_partition(&run);
    for (j, obs) in run.obs.iter().enumerate() {
        assert_eq!(obs.elements, bound_for(&run.sent, j), "output {j}");
    }
}

/// What Akka's per-target rule routes so far: elements in order, each as soon as its own output
/// has room (a `buffer` minus what it holds), an element for a full output holding back the
/// ones behind it. Returns how many of `sent` are routed, given each output's demand.
fn partition_routed(sent: &[u32], requested: &[u64], buffer: usize) -> usize {
    let mut routed_to = vec![0u64; requested.len()];
    for (k, x) in sent.iter().enumerate() {
        let j = target(x);
        let held = routed_to[j] - routed_to[j].min(requested[j]);
        if held >= buffer as u64 {
            return k;
        }
        routed_to[j] += 1;
    }
    sent.len()
}

/// Akka's per-target rule: an element waits only for its own output, and the junction pulls
/// whenever nothing waits and some output has room.
fn check_partition_per_target(run: &FanOutRun, buffer: usize) {
    let requested: Vec<u64> = run.obs.iter().map(|o| o.requested).collect();
    let routed = partition_routed(&run.sent, &requested, buffer);
    for (j, obs) in run.obs.iter().enumerate() {
        let mine = bound_for(&run.sent[..routed], j);
        let due = mine.len().min(obs.requested as usize);
        assert_eq!(obs.elements, mine[..due], "output {j}, sent {:?}", run.sent);
    }
    let some_room = run.obs.iter().enumerate().any(|(j, o)| {
        let held = bound_for(&run.sent, j).len() - o.elements.len();
        held < buffer
    });
    if routed == run.sent.len() && some_room && !run.completed && !run.src.is_cancelled() {
        assert!(
            run.src.pending_demand() > 0,
            "no demand upstream although nothing waits and an output has room: sent {:?}, \
             received {:?}",
            run.sent,
            run.obs.iter().map(|o| &o.elements).collect::<Vec<_>>()
        );
    }
}

async fn partition_per_target_case(outputs: usize, buffer: usize, script: Vec<Out>) {
    let mut run = FanOutRun::new(Partition::new(outputs, target), buffer);
    let value = |k: usize, t: usize| (k * 8 + t) as u32;
    for step in &script {
        run.apply(step, value).await;
        check_partition_per_target(&run, buffer);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn partition_sends_each_element_to_its_output_in_order(
        (outputs, buffer, script) in (2usize..=3, 1usize..=3)
            .prop_flat_map(|(n, b)| (Just(n), Just(b), fan_out_script(n, 50))),
    ) {
        paused_runtime().block_on(partition_case(outputs, buffer, script));
    }

    #[test]
    fn partition_waits_only_for_the_elements_own_output(
        (outputs, buffer, script) in (2usize..=3, 1usize..=3)
            .prop_flat_map(|(n, b)| (Just(n), Just(b), fan_out_script(n, 50))),
    ) {
        paused_runtime().block_on(partition_per_target_case(outputs, buffer, script));
    }
}

// =============================================================================================
// Balance
// =============================================================================================

fn check_balance(run: &FanOutRun, buffer: usize) {
    let mut all: Vec<u32> = Vec::new();
    for (j, obs) in run.obs.iter().enumerate() {
        assert!(
            obs.elements.windows(2).all(|w| w[0] < w[1]),
            "output {j} out of order: {:?}",
            obs.elements
        );
        all.extend(&obs.elements);
    }
    let received = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), received, "an element delivered twice");
    assert!(
        all.iter().all(|x| (*x as usize) < run.sent.len()),
        "never sent"
    );
    // The junction takes from upstream no more than its outputs have room for.
    let outputs = run.obs.len();
    assert!(
        run.sent.len() <= received + outputs * buffer,
        "{} elements taken, {received} received, {outputs} buffers of {buffer}",
        run.sent.len()
    );
    for (j, obs) in run.obs.iter().enumerate() {
        if obs.completed() {
            assert!(run.completed, "output {j} completed before the input");
        }
    }
}

async fn balance_case(outputs: usize, buffer: usize, script: Vec<Out>) {
    let mut run = FanOutRun::new(Balance::<u32>::new(outputs), buffer);
    for step in &script {
        run.apply(step, |k, _| k as u32).await;
        check_balance(&run, buffer);
    }
    run.finish().await;
    check_balance(&run, buffer);
    let mut all: Vec<u32> = run.obs.iter().flat_map(|o| o.elements.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, run.sent, "every element exactly once");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn balance_delivers_every_element_exactly_once_within_each_outputs_demand(
        (outputs, buffer, script) in (2usize..=3, 1usize..=3)
            .prop_flat_map(|(n, b)| (Just(n), Just(b), fan_out_script(n, 50))),
    ) {
        paused_runtime().block_on(balance_case(outputs, buffer, script));
    }
}

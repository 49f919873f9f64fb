//! Behaviour of the graph builder's junctions: emission, completion, failure and cancellation
//! rules of every fan-in and fan-out junction, driven through the builder with test probes
//! (Akka's / Pekko's `GraphDSL` junction specs are the reference).

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::timeout;
use weir::builder::GraphBuilder;
use weir::junctions::{
    Balance, Broadcast, Concat, FanIn2Shape, FanIn3Shape, FanOut2Shape, Interleave, Junction,
    Merge, MergeLatest, MergePreferred, MergePrioritized, MergeSorted, Partition,
    UniformFanInShape, UniformFanOutShape, Unzip, UnzipWith, Zip, ZipLatest, ZipN, ZipWith,
    ZipWith3, ZipWith4, ZipWith5,
};
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::{Attributes, Completion};

// =============================================================================================
// Helpers
// =============================================================================================

/// How long "nothing happens" is observed (tokio time: tests run with paused time).
const QUIET: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

fn boom() -> StreamError {
    StreamError::failed(Boom)
}

#[track_caller]
fn assert_boom(e: &StreamError) {
    assert!(
        e.downcast_ref::<Boom>().is_some(),
        "expected Boom, got {e:?}"
    );
}

/// Asserts that no (new) demand reaches `probe` for a while.
async fn expect_no_request<T: Send + 'static>(probe: &SourceProbe<T>) {
    if let Ok(n) = timeout(QUIET, probe.expect_request()).await {
        panic!("unexpected demand of {n} upstream");
    }
}

/// Asserts that `probe` is not cancelled, after giving the stream time to react.
async fn expect_not_cancelled<T: Send + 'static>(probe: &SourceProbe<T>) {
    tokio::time::sleep(QUIET).await;
    assert!(!probe.is_cancelled(), "upstream was cancelled");
}

/// Every input but `except` sees cancellation (within `QUIET`).
async fn expect_others_cancelled<T: Send + 'static>(
    srcs: &[SourceProbe<T>],
    except: usize,
    what: &str,
) {
    for (i, s) in srcs.iter().enumerate() {
        if i != except {
            timeout(QUIET, s.expect_cancellation())
                .await
                .unwrap_or_else(|_| {
                    panic!("{what}: input {i} not cancelled (input {except} ended)")
                });
        }
    }
}

/// `junction` with one source probe per input and a sink probe on its output.
fn fan_in<T, O, J>(junction: J) -> (Vec<SourceProbe<T>>, SinkProbe<O>)
where
    T: Send + 'static,
    O: Send + 'static,
    J: Junction<Shape = UniformFanInShape<T, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let mut keys = Vec::new();
    for inlet in &shape.ins {
        let (src, key) = b.add_source_mat(TestSource::<T>::probe());
        b.connect(src, *inlet);
        keys.push(key);
    }
    let (sink, sink_key) = b.add_sink_mat(TestSink::<O>::probe());
    b.connect(shape.out, sink);
    let graph = b
        .build(move |m| {
            let sources: Vec<_> = keys.iter().map(|k| m.take(*k)).collect();
            (sources, m.take(sink_key))
        })
        .expect("a fully connected graph");
    graph.run()
}

/// A two-input junction with a source probe on each input and a sink probe on its output.
fn fan_in2<A, B, O, J>(junction: J) -> (SourceProbe<A>, SourceProbe<B>, SinkProbe<O>)
where
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    J: Junction<Shape = FanIn2Shape<A, B, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let (a, ka) = b.add_source_mat(TestSource::<A>::probe());
    let (c, kb) = b.add_source_mat(TestSource::<B>::probe());
    let (sink, ks) = b.add_sink_mat(TestSink::<O>::probe());
    b.connect(a, shape.in0);
    b.connect(c, shape.in1);
    b.connect(shape.out, sink);
    b.build(move |m| (m.take(ka), m.take(kb), m.take(ks)))
        .expect("a fully connected graph")
        .run()
}

/// `junction` with finite sources on its inputs, collected into a `Vec`.
async fn fan_in_seq<T, O, J>(junction: J, inputs: Vec<Source<T>>) -> Result<Vec<O>, StreamError>
where
    T: Send + 'static,
    O: Send + 'static,
    J: Junction<Shape = UniformFanInShape<T, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    assert_eq!(shape.ins.len(), inputs.len());
    for (inlet, src) in shape.ins.iter().zip(inputs) {
        let out = b.add_source(src);
        b.connect(out, *inlet);
    }
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(shape.out, sink);
    b.build(move |m| m.take(k)).unwrap().run().await
}

/// `junction` with a source probe on its input and a sink probe on each output; the graph runs
/// with `attrs` (use `Attributes::input_buffer` for small, deterministic output buffers).
fn fan_out<T, O, J>(junction: J, attrs: Attributes) -> (SourceProbe<T>, Vec<SinkProbe<O>>)
where
    T: Send + 'static,
    O: Send + 'static,
    J: Junction<Shape = UniformFanOutShape<T, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let (src, sk) = b.add_source_mat(TestSource::<T>::probe());
    b.connect(src, shape.inlet);
    let mut keys = Vec::new();
    for out in &shape.outs {
        let (sink, k) = b.add_sink_mat(TestSink::<O>::probe());
        b.connect(*out, sink);
        keys.push(k);
    }
    let graph = b
        .build(move |m| {
            let sinks: Vec<_> = keys.iter().map(|k| m.take(*k)).collect();
            (m.take(sk), sinks)
        })
        .expect("a fully connected graph");
    graph.with_attributes(attrs).run()
}

/// An `Unzip`-shaped junction with a source probe on its input and sink probes on its outputs.
fn fan_out2<I, A, B, J>(
    junction: J,
    attrs: Attributes,
) -> (SourceProbe<I>, SinkProbe<A>, SinkProbe<B>)
where
    I: Send + 'static,
    A: Send + 'static,
    B: Send + 'static,
    J: Junction<Shape = FanOut2Shape<I, A, B>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let (src, ks) = b.add_source_mat(TestSource::<I>::probe());
    let (s0, k0) = b.add_sink_mat(TestSink::<A>::probe());
    let (s1, k1) = b.add_sink_mat(TestSink::<B>::probe());
    b.connect(src, shape.inlet);
    b.connect(shape.out0, s0);
    b.connect(shape.out1, s1);
    b.build(move |m| (m.take(ks), m.take(k0), m.take(k1)))
        .expect("a fully connected graph")
        .with_attributes(attrs)
        .run()
}

/// A fan-out junction fed by `source`, each output collected into a `Vec`.
fn fan_out_seq<T, O, J>(
    junction: J,
    source: Source<T>,
    attrs: Attributes,
) -> Vec<Completion<Vec<O>>>
where
    T: Send + 'static,
    O: Send + 'static,
    J: Junction<Shape = UniformFanOutShape<T, O>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    let src = b.add_source(source);
    b.connect(src, shape.inlet);
    let mut keys = Vec::new();
    for out in &shape.outs {
        let (sink, k) = b.add_sink_mat(Sink::seq());
        b.connect(*out, sink);
        keys.push(k);
    }
    b.build(move |m| keys.iter().map(|k| m.take(*k)).collect::<Vec<_>>())
        .unwrap()
        .with_attributes(attrs)
        .run()
}

async fn collect_all<O>(completions: Vec<Completion<Vec<O>>>) -> Vec<Vec<O>> {
    let mut all = Vec::new();
    for c in completions {
        all.push(c.await.expect("output completes"));
    }
    all
}

/// Requests one more element and expects completion (completion is reported on a pull).
async fn request_and_expect_complete<T: Send + Debug + PartialEq + 'static>(sink: &SinkProbe<T>) {
    sink.request(1);
    sink.expect_complete().await;
}

// =============================================================================================
// Merge
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn merge_emits_every_element_of_every_input() {
    let (srcs, sink) = fan_in(Merge::<i32>::new(3));
    sink.request(16);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    srcs[2].send_next(3).await;
    sink.expect_next(3).await;
    srcs[1].send_next(2).await;
    sink.expect_next(2).await;
    srcs[2].send_next(30).await;
    srcs[2].send_next(31).await;
    sink.expect_next_n([30, 31]).await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test]
async fn merge_of_finite_sources_loses_nothing_and_keeps_per_input_order() {
    let out = fan_in_seq(
        Merge::<i32>::new(3),
        vec![
            Source::range(0, 99),
            Source::range(100, 149),
            Source::range(200, 200),
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 151);
    let mut sorted = out.clone();
    sorted.sort_unstable();
    let expected: Vec<i32> = (0..=99).chain(100..=149).chain(200..=200).collect();
    assert_eq!(sorted, expected);
    for range in [0..100, 100..150, 200..201] {
        let part: Vec<i32> = out.iter().copied().filter(|x| range.contains(x)).collect();
        assert_eq!(part, range.collect::<Vec<_>>(), "per-input order");
    }
}

#[tokio::test(start_paused = true)]
async fn merge_completes_only_after_all_inputs_complete() {
    let (srcs, sink) = fan_in(Merge::<i32>::new(2));
    sink.request(16);
    srcs[0].send_next(1).await;
    srcs[0].send_complete();
    sink.expect_next(1).await;
    sink.expect_no_message(QUIET).await;
    assert!(!srcs[1].is_cancelled(), "the other input keeps running");
    srcs[1].send_next(2).await;
    sink.expect_next(2).await;
    srcs[1].send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_eager_complete_completes_with_the_first_input() {
    let (srcs, sink) = fan_in(Merge::<i32>::eager_complete(3));
    sink.request(16);
    srcs[1].send_next(1).await;
    sink.expect_next(1).await;
    srcs[1].send_complete();
    sink.expect_complete().await;
    srcs[0].expect_cancellation().await;
    srcs[2].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_fails_when_any_input_fails_and_cancels_the_others() {
    let (srcs, sink) = fan_in(Merge::<i32>::new(3));
    sink.request(16);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    srcs[2].send_error(boom());
    assert_boom(&sink.expect_error().await);
    srcs[0].expect_cancellation().await;
    srcs[1].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_cancellation_cancels_every_input() {
    let (srcs, sink) = fan_in(Merge::<i32>::new(2));
    sink.request(1);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    srcs[0].expect_cancellation().await;
    srcs[1].expect_cancellation().await;
}

// =============================================================================================
// MergePreferred
// =============================================================================================

fn merge_preferred_probes() -> (SourceProbe<i32>, SourceProbe<i32>, SinkProbe<i32>) {
    let mut b = GraphBuilder::new();
    let mp = b.add(MergePreferred::<i32>::new(1));
    let (p, kp) = b.add_source_mat(TestSource::<i32>::probe());
    let (s, ks) = b.add_source_mat(TestSource::<i32>::probe());
    let (sink, k) = b.add_sink_mat(TestSink::<i32>::probe());
    b.connect(p, mp.preferred);
    b.connect(s, mp.ins[0]);
    b.connect(mp.out, sink);
    b.build(move |m| (m.take(kp), m.take(ks), m.take(k)))
        .unwrap()
        .run()
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_emits_available_preferred_elements_first() {
    let (preferred, secondary, sink) = merge_preferred_probes();
    // The secondary's elements are there first; the preferred ones still go first.
    secondary.send_unrequested(10);
    secondary.send_unrequested(20);
    preferred.send_unrequested(1);
    preferred.send_unrequested(2);
    sink.request(4);
    sink.expect_next_n([1, 2, 10, 20]).await;

    // Element by element, too.
    secondary.send_unrequested(30);
    preferred.send_unrequested(3);
    preferred.send_unrequested(4);
    assert_eq!(sink.request_next().await, 3);
    assert_eq!(sink.request_next().await, 4);
    assert_eq!(sink.request_next().await, 30);
}

#[tokio::test]
async fn merge_preferred_of_ready_sources_drains_the_preferred_one_first() {
    let mut b = GraphBuilder::new();
    let mp = b.add(MergePreferred::<i32>::new(2));
    let p = b.add_source(Source::range(1, 50));
    let s1 = b.add_source(Source::range(100, 149));
    let s2 = b.add_source(Source::range(200, 249));
    b.connect(p, mp.preferred);
    b.connect(s1, mp.ins[0]);
    b.connect(s2, mp.ins[1]);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(mp.out, sink);
    let out = b.build(move |m| m.take(k)).unwrap().run().await.unwrap();
    assert_eq!(out.len(), 150);
    assert_eq!(out[..50], (1..=50).collect::<Vec<_>>()[..]);
    let mut rest = out[50..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, (100..150).chain(200..250).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_completes_after_all_inputs() {
    let (preferred, secondary, sink) = merge_preferred_probes();
    sink.request(8);
    preferred.send_complete();
    secondary.send_next(1).await;
    sink.expect_next(1).await;
    sink.expect_no_message(QUIET).await;
    secondary.send_complete();
    sink.expect_complete().await;
}

/// A `MergePreferred` with `secondary` other inputs, each input a source probe.
fn merge_preferred_probes_n(
    secondary: usize,
) -> (SourceProbe<i32>, Vec<SourceProbe<i32>>, SinkProbe<i32>) {
    let mut b = GraphBuilder::new();
    let mp = b.add(MergePreferred::<i32>::new(secondary));
    let (p, kp) = b.add_source_mat(TestSource::<i32>::probe());
    b.connect(p, mp.preferred);
    let mut keys = Vec::new();
    for inlet in &mp.ins {
        let (s, k) = b.add_source_mat(TestSource::<i32>::probe());
        b.connect(s, *inlet);
        keys.push(k);
    }
    let (sink, k) = b.add_sink_mat(TestSink::<i32>::probe());
    b.connect(mp.out, sink);
    b.build(move |m| {
        let secondaries = keys.iter().map(|k| m.take(*k)).collect();
        (m.take(kp), secondaries, m.take(k))
    })
    .unwrap()
    .run()
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_cancellation_cancels_every_input() {
    let (preferred, secondaries, sink) = merge_preferred_probes_n(2);
    sink.request(2);
    preferred.send_next(1).await;
    sink.expect_next(1).await;
    secondaries[1].send_next(20).await;
    sink.expect_next(20).await;
    // An element is waiting in a secondary that was never drained.
    secondaries[0].send_unrequested(10);
    sink.cancel();
    preferred.expect_cancellation().await;
    for s in &secondaries {
        s.expect_cancellation().await;
    }
    sink.expect_no_message(QUIET).await;
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_fails_when_the_preferred_input_fails_and_cancels_the_others() {
    let (preferred, secondaries, sink) = merge_preferred_probes_n(2);
    sink.request(8);
    preferred.send_next(1).await;
    sink.expect_next(1).await;
    secondaries[0].send_next(10).await;
    sink.expect_next(10).await;
    preferred.send_error(boom());
    assert_boom(&sink.expect_error().await);
    for s in &secondaries {
        s.expect_cancellation().await;
    }
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_fails_when_a_secondary_input_fails_and_cancels_the_others() {
    let (preferred, secondaries, sink) = merge_preferred_probes_n(2);
    sink.request(8);
    secondaries[1].send_next(20).await;
    sink.expect_next(20).await;
    preferred.send_next(1).await;
    sink.expect_next(1).await;
    secondaries[1].send_error(boom());
    assert_boom(&sink.expect_error().await);
    preferred.expect_cancellation().await;
    secondaries[0].expect_cancellation().await;
}

// =============================================================================================
// MergePrioritized
// =============================================================================================

/// How many of the first `n` elements come from input 0 when inputs with priorities [3, 1] are
/// always ready.
async fn prioritized_share(n: u64, attrs: Attributes) -> (usize, usize) {
    let mut b = GraphBuilder::new();
    let mp = b.add(MergePrioritized::<u8>::new(vec![3, 1]));
    let s0 = b.add_source(Source::repeat(0u8));
    let s1 = b.add_source(Source::repeat(1u8));
    b.connect(s0, mp.ins[0]);
    b.connect(s1, mp.ins[1]);
    let first = b.via(mp.out, Flow::<u8>::new().take(n));
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(first, sink);
    let out = b
        .build(move |m| m.take(k))
        .unwrap()
        .with_attributes(attrs)
        .run()
        .await
        .unwrap();
    assert_eq!(out.len() as u64, n);
    let zeros = out.iter().filter(|&&x| x == 0).count();
    (zeros, out.len() - zeros)
}

#[track_caller]
fn assert_roughly_three_to_one((high, low): (usize, usize)) {
    let share = high as f64 / (high + low) as f64;
    assert!(
        (0.65..=0.85).contains(&share),
        "priorities [3, 1] should give about 3:1, got {high}:{low}"
    );
}

/// How many of the first `n` elements come from input 0 of a `Merge` of two always-ready
/// inputs.
async fn merge_share(n: u64, attrs: Attributes) -> (usize, usize) {
    let mut b = GraphBuilder::new();
    let merge = b.add(Merge::<u8>::new(2));
    let s0 = b.add_source(Source::repeat(0u8));
    let s1 = b.add_source(Source::repeat(1u8));
    b.connect(s0, merge.ins[0]);
    b.connect(s1, merge.ins[1]);
    let first = b.via(merge.out, Flow::<u8>::new().take(n));
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(first, sink);
    let out = b
        .build(move |m| m.take(k))
        .unwrap()
        .with_attributes(attrs)
        .run()
        .await
        .unwrap();
    assert_eq!(out.len() as u64, n);
    let zeros = out.iter().filter(|&&x| x == 0).count();
    (zeros, out.len() - zeros)
}

#[tokio::test]
async fn merge_shares_demand_fairly_between_always_ready_inputs() {
    for attrs in [Attributes::none(), Attributes::input_buffer(1)] {
        let (a, b) = merge_share(400, attrs).await;
        let share = a as f64 / (a + b) as f64;
        assert!(
            (0.4..=0.6).contains(&share),
            "two always-ready inputs should share about 1:1, got {a}:{b}"
        );
    }
}

#[tokio::test]
async fn merge_prioritized_shares_batched_demand_by_priority() {
    assert_roughly_three_to_one(prioritized_share(400, Attributes::none()).await);
}

#[tokio::test]
async fn merge_prioritized_shares_element_by_element_demand_by_priority() {
    // The same, with a downstream that asks for one element at a time.
    assert_roughly_three_to_one(prioritized_share(400, Attributes::input_buffer(1)).await);
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_completes_after_all_inputs() {
    let (srcs, sink) = fan_in(MergePrioritized::<i32>::new(vec![2, 1]));
    sink.request(8);
    srcs[1].send_next(1).await;
    sink.expect_next(1).await;
    srcs[1].send_complete();
    sink.expect_no_message(QUIET).await;
    srcs[0].send_next(2).await;
    sink.expect_next(2).await;
    srcs[0].send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_cancellation_cancels_every_input() {
    let (srcs, sink) = fan_in(MergePrioritized::<i32>::new(vec![3, 2, 1]));
    sink.request(2);
    srcs[2].send_next(3).await;
    sink.expect_next(3).await;
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    for s in &srcs {
        s.expect_cancellation().await;
    }
    sink.expect_no_message(QUIET).await;
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_fails_when_any_input_fails_and_cancels_the_others() {
    for failing in 0..3 {
        let (srcs, sink) = fan_in(MergePrioritized::<i32>::new(vec![3, 2, 1]));
        sink.request(8);
        for (i, s) in srcs.iter().enumerate() {
            s.send_next(i as i32).await;
            sink.expect_next(i as i32).await;
        }
        srcs[failing].send_error(boom());
        assert_boom(&sink.expect_error().await);
        expect_others_cancelled(&srcs, failing, "merge_prioritized").await;
    }
}

// =============================================================================================
// MergeSorted
// =============================================================================================

#[tokio::test]
async fn merge_sorted_merges_two_sorted_inputs() {
    let out = fan_in_seq(
        MergeSorted::<i32>::new(),
        vec![
            Source::from_iter(vec![1, 3, 5, 7, 11]),
            Source::from_iter(vec![2, 2, 4, 8, 9, 12, 13]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(out, vec![1, 2, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13]);
}

#[tokio::test]
async fn merge_sorted_with_an_empty_input_emits_the_other() {
    let out = fan_in_seq(
        MergeSorted::<i32>::new(),
        vec![Source::empty(), Source::from_iter(vec![1, 2, 3])],
    )
    .await
    .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn merge_sorted_waits_for_the_head_of_both_inputs() {
    let (srcs, sink) = fan_in(MergeSorted::<i32>::new());
    sink.request(16);
    srcs[0].send_next(1).await;
    // 1 might not be the smallest until input 1 shows its head.
    sink.expect_no_message(QUIET).await;
    srcs[1].send_next(2).await;
    sink.expect_next(1).await;
    // Now 2 waits for input 0's next head.
    sink.expect_no_message(QUIET).await;
    srcs[0].send_next(3).await;
    sink.expect_next(2).await;
    sink.expect_no_message(QUIET).await;
    // Input 1 completing releases input 0's elements.
    srcs[1].send_complete();
    sink.expect_next(3).await;
    srcs[0].send_next(5).await;
    sink.expect_next(5).await;
    sink.expect_no_message(QUIET).await;
    srcs[0].send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_sorted_fails_when_an_input_fails() {
    let (srcs, sink) = fan_in(MergeSorted::<i32>::new());
    sink.request(4);
    srcs[0].send_next(1).await;
    srcs[1].send_error(boom());
    assert_boom(&sink.expect_error().await);
    srcs[0].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_sorted_cancellation_cancels_both_inputs() {
    let (srcs, sink) = fan_in(MergeSorted::<i32>::new());
    sink.request(4);
    srcs[0].send_next(1).await;
    srcs[1].send_next(2).await;
    sink.expect_next(1).await;
    // 2 is held until input 0 shows its next head; the downstream gives up meanwhile.
    sink.cancel();
    srcs[0].expect_cancellation().await;
    srcs[1].expect_cancellation().await;
    sink.expect_no_message(QUIET).await;
}

// =============================================================================================
// MergeLatest
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn merge_latest_emits_once_all_inputs_emitted_then_on_every_element() {
    let (srcs, sink) = fan_in(MergeLatest::<i32>::new(2, false));
    sink.request(16);
    srcs[0].send_next(1).await;
    sink.expect_no_message(QUIET).await;
    srcs[0].send_next(2).await;
    sink.expect_no_message(QUIET).await;
    srcs[1].send_next(10).await;
    sink.expect_next(vec![2, 10]).await;
    srcs[0].send_next(3).await;
    sink.expect_next(vec![3, 10]).await;
    srcs[1].send_next(20).await;
    sink.expect_next(vec![3, 20]).await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_completes_when_all_inputs_complete() {
    let (srcs, sink) = fan_in(MergeLatest::<i32>::new(2, false));
    sink.request(16);
    srcs[0].send_next(1).await;
    srcs[1].send_next(10).await;
    sink.expect_next(vec![1, 10]).await;
    srcs[0].send_complete();
    sink.expect_no_message(QUIET).await;
    // The completed input's latest element stays in the output.
    srcs[1].send_next(20).await;
    sink.expect_next(vec![1, 20]).await;
    srcs[1].send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_eager_completes_when_any_input_completes() {
    let (srcs, sink) = fan_in(MergeLatest::<i32>::new(3, true));
    sink.request(16);
    srcs[0].send_next(1).await;
    srcs[1].send_next(2).await;
    srcs[2].send_next(3).await;
    sink.expect_next(vec![1, 2, 3]).await;
    srcs[1].send_complete();
    sink.expect_complete().await;
    srcs[0].expect_cancellation().await;
    srcs[2].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_fails_when_an_input_fails() {
    let (srcs, sink) = fan_in(MergeLatest::<i32>::new(2, false));
    sink.request(16);
    srcs[0].send_next(1).await;
    srcs[1].send_error(boom());
    assert_boom(&sink.expect_error().await);
    srcs[0].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_cancellation_cancels_every_input() {
    let (srcs, sink) = fan_in(MergeLatest::<i32>::new(3, false));
    sink.request(4);
    srcs[0].send_next(1).await;
    srcs[1].send_next(2).await;
    srcs[2].send_next(3).await;
    sink.expect_next(vec![1, 2, 3]).await;
    sink.cancel();
    for s in &srcs {
        s.expect_cancellation().await;
    }
    sink.expect_no_message(QUIET).await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_cancellation_before_every_input_emitted_cancels_every_input() {
    let (srcs, sink) = fan_in(MergeLatest::<i32>::new(2, false));
    sink.request(4);
    srcs[0].send_next(1).await;
    sink.expect_no_message(QUIET).await;
    sink.cancel();
    srcs[0].expect_cancellation().await;
    srcs[1].expect_cancellation().await;
}

// =============================================================================================
// ZipLatest
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn zip_latest_emits_once_both_emitted_then_on_every_element() {
    let (a, b, sink) = fan_in2(ZipLatest::<i32, &'static str>::new());
    sink.request(16);
    a.send_next(1).await;
    sink.expect_no_message(QUIET).await;
    a.send_next(2).await;
    sink.expect_no_message(QUIET).await;
    b.send_next("x").await;
    sink.expect_next((2, "x")).await;
    a.send_next(3).await;
    sink.expect_next((3, "x")).await;
    b.send_next("y").await;
    sink.expect_next((3, "y")).await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test(start_paused = true)]
async fn zip_latest_completes_when_either_input_completes() {
    let (a, b, sink) = fan_in2(ZipLatest::<i32, i32>::new());
    sink.request(16);
    a.send_next(1).await;
    b.send_next(10).await;
    sink.expect_next((1, 10)).await;
    b.send_complete();
    sink.expect_complete().await;
    a.expect_cancellation().await;

    let (a, b, sink) = fan_in2(ZipLatest::<i32, i32>::new());
    sink.request(16);
    a.send_complete();
    sink.expect_complete().await;
    b.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_latest_fails_when_an_input_fails() {
    let (a, b, sink) = fan_in2(ZipLatest::<i32, i32>::new());
    sink.request(16);
    a.send_next(1).await;
    b.send_error(boom());
    assert_boom(&sink.expect_error().await);
    a.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_latest_cancellation_cancels_both_inputs() {
    let (a, b, sink) = fan_in2(ZipLatest::<i32, i32>::new());
    sink.request(4);
    a.send_next(1).await;
    b.send_next(10).await;
    sink.expect_next((1, 10)).await;
    sink.cancel();
    a.expect_cancellation().await;
    b.expect_cancellation().await;
    sink.expect_no_message(QUIET).await;
}

// =============================================================================================
// Interleave
// =============================================================================================

#[tokio::test]
async fn interleave_takes_segments_in_turn() {
    let out = fan_in_seq(
        Interleave::<i32>::new(3, 2, false),
        vec![
            Source::range(1, 6),
            Source::range(11, 16),
            Source::range(21, 26),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        vec![1, 2, 11, 12, 21, 22, 3, 4, 13, 14, 23, 24, 5, 6, 15, 16, 25, 26]
    );
}

#[tokio::test]
async fn interleave_goes_on_with_the_other_inputs_when_one_completes() {
    let out = fan_in_seq(
        Interleave::<i32>::new(2, 2, false),
        vec![Source::range(1, 3), Source::range(10, 15)],
    )
    .await
    .unwrap();
    assert_eq!(out, vec![1, 2, 10, 11, 3, 12, 13, 14, 15]);
}

#[tokio::test]
async fn interleave_eager_close_completes_when_an_input_completes() {
    let out = fan_in_seq(
        Interleave::<i32>::new(2, 2, true),
        vec![Source::range(1, 3), Source::range(10, 15)],
    )
    .await
    .unwrap();
    assert_eq!(out, vec![1, 2, 10, 11, 3]);
}

#[tokio::test(start_paused = true)]
async fn interleave_pulls_only_the_input_whose_segment_it_is() {
    let (srcs, sink) = fan_in(Interleave::<i32>::new(2, 2, false));
    sink.request(16);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    expect_no_request(&srcs[1]).await;
    srcs[0].send_next(2).await;
    sink.expect_next(2).await;
    // Input 0's segment is done: now input 1's turn, even though input 0 could go on.
    assert!(srcs[1].expect_request().await > 0);
    srcs[1].send_next(10).await;
    srcs[1].send_next(11).await;
    sink.expect_next_n([10, 11]).await;
    srcs[0].send_next(3).await;
    sink.expect_next(3).await;
}

#[tokio::test(start_paused = true)]
async fn interleave_eager_close_cancels_the_other_inputs() {
    let (srcs, sink) = fan_in(Interleave::<i32>::new(2, 1, true));
    sink.request(16);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    srcs[1].send_complete();
    sink.expect_complete().await;
    srcs[0].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn interleave_fails_when_an_input_fails() {
    let (srcs, sink) = fan_in(Interleave::<i32>::new(2, 1, false));
    sink.request(16);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    srcs[1].send_error(boom());
    assert_boom(&sink.expect_error().await);
    srcs[0].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn interleave_cancellation_cancels_every_input_including_ones_not_yet_pulled() {
    let (srcs, sink) = fan_in(Interleave::<i32>::new(3, 2, false));
    sink.request(3);
    srcs[0].send_next(1).await;
    srcs[0].send_next(2).await;
    srcs[1].send_next(10).await;
    sink.expect_next_n([1, 2, 10]).await;
    // Input 2's turn has not come: it was never pulled.
    expect_no_request(&srcs[2]).await;
    sink.cancel();
    for s in &srcs {
        s.expect_cancellation().await;
    }
    sink.expect_no_message(QUIET).await;
}

// =============================================================================================
// Concat
// =============================================================================================

#[tokio::test]
async fn concat_emits_inputs_in_order() {
    let out = fan_in_seq(
        Concat::<i32>::new(3),
        vec![Source::range(1, 3), Source::empty(), Source::range(4, 6)],
    )
    .await
    .unwrap();
    assert_eq!(out, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn concat_pulls_an_input_only_after_the_previous_completed() {
    let (srcs, sink) = fan_in(Concat::<i32>::new(3));
    sink.request(16);
    assert!(srcs[0].expect_request().await > 0);
    expect_no_request(&srcs[1]).await;
    expect_no_request(&srcs[2]).await;
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    expect_no_request(&srcs[1]).await;
    srcs[0].send_complete();
    assert!(srcs[1].expect_request().await > 0);
    expect_no_request(&srcs[2]).await;
    srcs[1].send_next(2).await;
    sink.expect_next(2).await;
    srcs[1].send_complete();
    assert!(srcs[2].expect_request().await > 0);
    srcs[2].send_next(3).await;
    srcs[2].send_complete();
    sink.expect_next(3).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn concat_failure_of_the_first_input_cancels_the_rest() {
    let (srcs, sink) = fan_in(Concat::<i32>::new(2));
    sink.request(16);
    srcs[0].send_next(1).await;
    srcs[0].send_error(boom());
    sink.expect_next(1).await;
    assert_boom(&sink.expect_error().await);
    srcs[1].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn concat_cancellation_cancels_inputs_not_yet_started() {
    let (srcs, sink) = fan_in(Concat::<i32>::new(2));
    sink.request(1);
    srcs[0].send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    srcs[0].expect_cancellation().await;
    srcs[1].expect_cancellation().await;
}

// =============================================================================================
// Zip, ZipWith, ZipWith3, ZipN
// =============================================================================================

#[tokio::test]
async fn zip_pairs_elements_and_stops_with_the_shorter_input() {
    let mut b = GraphBuilder::new();
    let z = b.add(Zip::<i32, char>::new());
    let a = b.add_source(Source::range(1, 5));
    let c = b.add_source(Source::from_iter(vec!['a', 'b', 'c']));
    b.connect(a, z.in0);
    b.connect(c, z.in1);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(z.out, sink);
    let out = b.build(move |m| m.take(k)).unwrap().run().await.unwrap();
    assert_eq!(out, vec![(1, 'a'), (2, 'b'), (3, 'c')]);
}

#[tokio::test(start_paused = true)]
async fn zip_emits_a_pair_only_when_both_inputs_have_an_element() {
    let (a, b, sink) = fan_in2(Zip::<i32, &'static str>::new());
    sink.request(16);
    a.send_next(1).await;
    a.send_next(2).await;
    sink.expect_no_message(QUIET).await;
    b.send_next("one").await;
    sink.expect_next((1, "one")).await;
    b.send_next("two").await;
    sink.expect_next((2, "two")).await;
    b.send_next("three").await;
    sink.expect_no_message(QUIET).await;
    a.send_next(3).await;
    sink.expect_next((3, "three")).await;
}

#[tokio::test(start_paused = true)]
async fn zip_completes_when_an_input_completes_and_its_buffered_elements_are_used() {
    let (a, b, sink) = fan_in2(Zip::<i32, i32>::new());
    sink.request(2);
    a.send_next(1).await;
    a.send_next(2).await;
    a.send_complete();
    // Input 0 has completed, but its two elements still pair up.
    b.send_next(10).await;
    sink.expect_next((1, 10)).await;
    b.send_next(20).await;
    sink.expect_next((2, 20)).await;
    request_and_expect_complete(&sink).await;
    b.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_completes_when_an_input_completes_with_nothing_buffered() {
    let (a, b, sink) = fan_in2(Zip::<i32, i32>::new());
    sink.request(4);
    a.send_next(1).await;
    b.send_next(10).await;
    sink.expect_next((1, 10)).await;
    b.send_complete();
    sink.expect_complete().await;
    a.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_fails_when_an_input_fails() {
    let (a, b, sink) = fan_in2(Zip::<i32, i32>::new());
    sink.request(4);
    a.send_next(1).await;
    a.send_error(boom());
    assert_boom(&sink.expect_error().await);
    b.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_cancellation_cancels_both_inputs() {
    let (a, b, sink) = fan_in2(Zip::<i32, i32>::new());
    sink.request(4);
    a.send_next(1).await;
    b.send_next(10).await;
    sink.expect_next((1, 10)).await;
    // Input 0's next element waits for a partner when the downstream cancels.
    a.send_next(2).await;
    sink.cancel();
    a.expect_cancellation().await;
    b.expect_cancellation().await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test]
async fn zip_with_combines_with_the_function() {
    let mut b = GraphBuilder::new();
    let z = b.add(ZipWith::new(|n: i32, s: &'static str| format!("{s}{n}")));
    let a = b.add_source(Source::range(1, 10));
    let c = b.add_source(Source::from_iter(vec!["a", "b"]));
    b.connect(a, z.in0);
    b.connect(c, z.in1);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(z.out, sink);
    let out = b.build(move |m| m.take(k)).unwrap().run().await.unwrap();
    assert_eq!(out, vec!["a1".to_string(), "b2".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn zip_with_fails_when_an_input_fails() {
    let (a, b, sink) = fan_in2(ZipWith::new(|x: i32, y: i32| x * y));
    sink.request(4);
    a.send_next(2).await;
    b.send_next(3).await;
    sink.expect_next(6).await;
    b.send_error(boom());
    assert_boom(&sink.expect_error().await);
    a.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_with_cancellation_cancels_both_inputs() {
    let (a, b, sink) = fan_in2(ZipWith::new(|x: i32, y: i32| x * y));
    sink.request(4);
    a.send_next(2).await;
    b.send_next(3).await;
    sink.expect_next(6).await;
    b.send_next(4).await;
    sink.cancel();
    a.expect_cancellation().await;
    b.expect_cancellation().await;
    sink.expect_no_message(QUIET).await;
}

fn zip_with3_probes() -> (
    SourceProbe<i32>,
    SourceProbe<i32>,
    SourceProbe<i32>,
    SinkProbe<i32>,
) {
    let mut b = GraphBuilder::new();
    let z: FanIn3Shape<i32, i32, i32, i32> =
        b.add(ZipWith3::new(|x: i32, y: i32, z: i32| x * 100 + y * 10 + z));
    let (s0, k0) = b.add_source_mat(TestSource::<i32>::probe());
    let (s1, k1) = b.add_source_mat(TestSource::<i32>::probe());
    let (s2, k2) = b.add_source_mat(TestSource::<i32>::probe());
    let (sink, k) = b.add_sink_mat(TestSink::<i32>::probe());
    b.connect(s0, z.in0);
    b.connect(s1, z.in1);
    b.connect(s2, z.in2);
    b.connect(z.out, sink);
    b.build(move |m| (m.take(k0), m.take(k1), m.take(k2), m.take(k)))
        .unwrap()
        .run()
}

#[tokio::test]
async fn zip_with3_combines_three_inputs_up_to_the_shortest() {
    let mut b = GraphBuilder::new();
    let z = b.add(ZipWith3::new(|x: i32, y: char, z: bool| {
        format!("{x}{y}{}", if z { "!" } else { "?" })
    }));
    let s0 = b.add_source(Source::range(1, 4));
    let s1 = b.add_source(Source::from_iter(vec!['a', 'b', 'c']));
    let s2 = b.add_source(Source::from_iter(vec![true, false, true, false, true]));
    b.connect(s0, z.in0);
    b.connect(s1, z.in1);
    b.connect(s2, z.in2);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(z.out, sink);
    let out = b.build(move |m| m.take(k)).unwrap().run().await.unwrap();
    assert_eq!(out, vec!["1a!", "2b?", "3c!"]);
}

#[tokio::test(start_paused = true)]
async fn zip_with3_waits_for_all_three_inputs() {
    let (s0, s1, s2, sink) = zip_with3_probes();
    sink.request(4);
    s0.send_next(1).await;
    s2.send_next(3).await;
    sink.expect_no_message(QUIET).await;
    s1.send_next(2).await;
    sink.expect_next(123).await;
    s2.send_complete();
    request_and_expect_complete(&sink).await;
    s0.expect_cancellation().await;
    s1.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_with3_completes_when_the_first_input_completes() {
    let (s0, s1, s2, sink) = zip_with3_probes();
    sink.request(4);
    s0.send_next(1).await;
    s1.send_next(2).await;
    s2.send_next(3).await;
    sink.expect_next(123).await;
    s0.send_complete();
    sink.expect_complete().await;
    s1.expect_cancellation().await;
    s2.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_with3_fails_when_an_input_fails() {
    let (s0, s1, s2, sink) = zip_with3_probes();
    sink.request(4);
    s1.send_error(boom());
    assert_boom(&sink.expect_error().await);
    s0.expect_cancellation().await;
    s2.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_with3_cancellation_cancels_every_input() {
    let (s0, s1, s2, sink) = zip_with3_probes();
    sink.request(4);
    s0.send_next(1).await;
    s1.send_next(2).await;
    s2.send_next(3).await;
    sink.expect_next(123).await;
    s1.send_next(5).await;
    sink.cancel();
    s0.expect_cancellation().await;
    s1.expect_cancellation().await;
    s2.expect_cancellation().await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test]
async fn zip_n_emits_one_element_of_every_input() {
    let out = fan_in_seq(
        ZipN::<i32>::new(3),
        vec![
            Source::range(1, 4),
            Source::range(10, 12),
            Source::range(100, 105),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        vec![vec![1, 10, 100], vec![2, 11, 101], vec![3, 12, 102]]
    );
}

#[tokio::test(start_paused = true)]
async fn zip_n_waits_for_every_input_and_completes_when_one_is_used_up() {
    let (srcs, sink) = fan_in(ZipN::<i32>::new(3));
    sink.request(2);
    srcs[0].send_next(1).await;
    srcs[2].send_next(3).await;
    sink.expect_no_message(QUIET).await;
    srcs[1].send_next(2).await;
    sink.expect_next(vec![1, 2, 3]).await;
    srcs[0].send_next(4).await;
    srcs[1].send_next(5).await;
    srcs[1].send_complete();
    sink.expect_no_message(QUIET).await;
    srcs[2].send_next(6).await;
    sink.expect_next(vec![4, 5, 6]).await;
    request_and_expect_complete(&sink).await;
    srcs[0].expect_cancellation().await;
    srcs[2].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_n_fails_when_an_input_fails() {
    let (srcs, sink) = fan_in(ZipN::<i32>::new(2));
    sink.request(2);
    srcs[0].send_next(1).await;
    srcs[1].send_error(boom());
    assert_boom(&sink.expect_error().await);
    srcs[0].expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_n_cancellation_cancels_every_input() {
    let (srcs, sink) = fan_in(ZipN::<i32>::new(3));
    sink.request(4);
    for (i, s) in srcs.iter().enumerate() {
        s.send_next(i as i32).await;
    }
    sink.expect_next(vec![0, 1, 2]).await;
    srcs[2].send_next(5).await;
    sink.cancel();
    for s in &srcs {
        s.expect_cancellation().await;
    }
    sink.expect_no_message(QUIET).await;
}

// =============================================================================================
// ZipWith4, ZipWith5
// =============================================================================================

/// A `ZipWith4` whose function writes its inputs as the digits of one number (input 0 first),
/// so every output shows which element of which input it paired.
fn zip_with4_probes() -> (Vec<SourceProbe<i32>>, SinkProbe<i32>) {
    let mut b = GraphBuilder::new();
    let z = b.add(ZipWith4::new(|a: i32, b: i32, c: i32, d: i32| {
        a * 1000 + b * 100 + c * 10 + d
    }));
    let mut keys = Vec::new();
    for inlet in [z.in0, z.in1, z.in2, z.in3] {
        let (s, k) = b.add_source_mat(TestSource::<i32>::probe());
        b.connect(s, inlet);
        keys.push(k);
    }
    let (sink, k) = b.add_sink_mat(TestSink::<i32>::probe());
    b.connect(z.out, sink);
    b.build(move |m| (keys.iter().map(|k| m.take(*k)).collect(), m.take(k)))
        .unwrap()
        .run()
}

/// A `ZipWith5` whose function writes its inputs as the digits of one number (input 0 first).
fn zip_with5_probes() -> (Vec<SourceProbe<i32>>, SinkProbe<i32>) {
    let mut b = GraphBuilder::new();
    let z = b.add(ZipWith5::new(|a: i32, b: i32, c: i32, d: i32, e: i32| {
        a * 10000 + b * 1000 + c * 100 + d * 10 + e
    }));
    let mut keys = Vec::new();
    for inlet in [z.in0, z.in1, z.in2, z.in3, z.in4] {
        let (s, k) = b.add_source_mat(TestSource::<i32>::probe());
        b.connect(s, inlet);
        keys.push(k);
    }
    let (sink, k) = b.add_sink_mat(TestSink::<i32>::probe());
    b.connect(z.out, sink);
    b.build(move |m| (keys.iter().map(|k| m.take(*k)).collect(), m.take(k)))
        .unwrap()
        .run()
}

/// The digits `row` of every input, combined as the zip functions above do.
fn digits(row: &[i32]) -> i32 {
    row.iter().fold(0, |acc, d| acc * 10 + d)
}

type ZipProbes = fn() -> (Vec<SourceProbe<i32>>, SinkProbe<i32>);

const WIDE_ZIPS: [(&str, ZipProbes); 2] = [
    ("zip_with4", zip_with4_probes),
    ("zip_with5", zip_with5_probes),
];

#[tokio::test(start_paused = true)]
async fn zip_with4_and_5_pair_the_nth_elements_whatever_the_arrival_order() {
    for (name, probes) in WIDE_ZIPS {
        let (srcs, sink) = probes();
        let n = srcs.len();
        sink.request(16);
        // The last input runs two elements ahead, the first one arrives last.
        srcs[n - 1].send_next(1).await;
        srcs[n - 1].send_next(2).await;
        for s in srcs[1..n - 1].iter().rev() {
            s.send_next(1).await;
        }
        sink.expect_no_message(QUIET).await;
        srcs[0].send_next(1).await;
        sink.expect_next(digits(&vec![1; n])).await;
        // Second elements: every input but one has sent; nothing is emitted until it does.
        srcs[0].send_next(2).await;
        for s in &srcs[2..n - 1] {
            s.send_next(2).await;
        }
        sink.expect_no_message(QUIET).await;
        srcs[1].send_next(2).await;
        sink.expect_next(digits(&vec![2; n])).await;
        // Distinct values per input show no input is shifted against another.
        for (i, s) in srcs.iter().enumerate() {
            s.send_next(i as i32 + 3).await;
        }
        let third: Vec<i32> = (3..3 + n as i32).collect();
        sink.expect_next(digits(&third)).await;
        sink.expect_no_message(QUIET).await;
        assert!(srcs.iter().all(|s| !s.is_cancelled()), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn zip_with4_and_5_complete_when_any_input_completes_with_nothing_buffered() {
    for (name, probes) in WIDE_ZIPS {
        for done in 0..probes().0.len() {
            let (srcs, sink) = probes();
            sink.request(16);
            for s in &srcs {
                s.send_next(1).await;
            }
            sink.expect_next(digits(&vec![1; srcs.len()])).await;
            srcs[done].send_complete();
            sink.expect_complete().await;
            expect_others_cancelled(&srcs, done, name).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn zip_with4_and_5_complete_after_a_completed_inputs_buffered_elements_are_used() {
    for (name, probes) in WIDE_ZIPS {
        for done in 0..probes().0.len() {
            let (srcs, sink) = probes();
            sink.request(16);
            // The others run ahead by two elements.
            for (i, s) in srcs.iter().enumerate() {
                if i != done {
                    s.send_next(1).await;
                    s.send_next(2).await;
                }
            }
            // The completing input has one element, and completes before it is paired.
            srcs[done].send_next(1).await;
            srcs[done].send_complete();
            sink.expect_next(digits(&vec![1; srcs.len()])).await;
            sink.expect_complete().await;
            expect_others_cancelled(&srcs, done, name).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn zip_with4_and_5_do_not_complete_while_a_completed_input_still_has_elements() {
    for (_, probes) in WIDE_ZIPS {
        let (srcs, sink) = probes();
        let n = srcs.len();
        sink.request(16);
        srcs[n - 1].send_next(1).await;
        srcs[n - 1].send_next(2).await;
        srcs[n - 1].send_complete();
        for s in &srcs[..n - 1] {
            s.send_next(1).await;
        }
        sink.expect_next(digits(&vec![1; n])).await;
        sink.expect_no_message(QUIET).await;
        for s in &srcs[..n - 1] {
            s.send_next(2).await;
        }
        sink.expect_next(digits(&vec![2; n])).await;
        sink.expect_complete().await;
    }
}

#[tokio::test(start_paused = true)]
async fn zip_with4_and_5_fail_when_any_input_fails_and_cancel_the_others() {
    for (name, probes) in WIDE_ZIPS {
        for failing in 0..probes().0.len() {
            let (srcs, sink) = probes();
            sink.request(16);
            for s in &srcs {
                s.send_next(1).await;
            }
            sink.expect_next(digits(&vec![1; srcs.len()])).await;
            srcs[failing].send_error(boom());
            assert_boom(&sink.expect_error().await);
            expect_others_cancelled(&srcs, failing, name).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn zip_with4_and_5_cancellation_cancels_every_input() {
    for (_, probes) in WIDE_ZIPS {
        let (srcs, sink) = probes();
        sink.request(4);
        for s in &srcs {
            s.send_next(1).await;
        }
        sink.expect_next(digits(&vec![1; srcs.len()])).await;
        // Some inputs hold an element waiting for its partners.
        srcs[0].send_next(2).await;
        srcs[srcs.len() - 1].send_next(2).await;
        sink.cancel();
        for s in &srcs {
            s.expect_cancellation().await;
        }
        sink.expect_no_message(QUIET).await;
    }
}

// =============================================================================================
// Broadcast
// =============================================================================================

#[tokio::test]
async fn broadcast_sends_every_element_to_every_output() {
    let outs = collect_all(fan_out_seq(
        Broadcast::<i32>::new(3),
        Source::range(1, 100),
        Attributes::input_buffer(4),
    ))
    .await;
    for out in outs {
        assert_eq!(out, (1..=100).collect::<Vec<_>>());
    }
}

#[tokio::test(start_paused = true)]
async fn broadcast_emits_only_when_every_output_has_room() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(10);
    assert_eq!(src.expect_request().await, 1);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    // Output 1 has not requested: its one-element buffer holds 1, and that blocks output 0.
    expect_no_request(&src).await;
    sinks[0].expect_no_message(QUIET).await;
    sinks[1].request(1);
    sinks[1].expect_next(1).await;
    assert_eq!(src.expect_request().await, 1);
    src.send_next(2).await;
    sinks[0].expect_next(2).await;
    expect_no_request(&src).await;
    sinks[1].request(5);
    sinks[1].expect_next(2).await;
    assert_eq!(src.expect_request().await, 1);
    src.send_next(3).await;
    sinks[0].expect_next(3).await;
    sinks[1].expect_next(3).await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_goes_on_when_one_output_cancels() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(3), Attributes::input_buffer(1));
    for s in &sinks {
        s.request(10);
    }
    src.send_next(1).await;
    for s in &sinks {
        s.expect_next(1).await;
    }
    sinks[1].cancel();
    src.send_next(2).await;
    sinks[0].expect_next(2).await;
    sinks[2].expect_next(2).await;
    expect_not_cancelled(&src).await;
    sinks[0].cancel();
    src.send_next(3).await;
    sinks[2].expect_next(3).await;
    expect_not_cancelled(&src).await;
    sinks[2].cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_cancelled_output_no_longer_holds_back_the_others() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(10);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    // Output 1 never requested and is full; once it cancels, output 0 goes on.
    sinks[1].cancel();
    src.send_next(2).await;
    sinks[0].expect_next(2).await;
    src.send_next(3).await;
    sinks[0].expect_next(3).await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_eager_cancel_cancels_upstream_when_one_output_cancels() {
    let (src, sinks) = fan_out(
        Broadcast::<i32>::eager_cancel(2),
        Attributes::input_buffer(1),
    );
    sinks[0].request(10);
    sinks[1].request(10);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    sinks[1].expect_next(1).await;
    sinks[1].cancel();
    src.expect_cancellation().await;
    sinks[0].expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_eager_cancel_cancels_upstream_while_another_output_is_back_pressured() {
    let (src, sinks) = fan_out(
        Broadcast::<i32>::eager_cancel(2),
        Attributes::input_buffer(1),
    );
    sinks[1].request(1);
    src.send_next(1).await;
    sinks[1].expect_next(1).await;
    // Output 0 never requested: its buffer is full. Output 1 cancels.
    sinks[1].cancel();
    src.expect_cancellation().await;
    sinks[0].request(2);
    sinks[0].expect_next(1).await;
    sinks[0].expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_upstream_completion_reaches_every_output() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(3), Attributes::input_buffer(2));
    for s in &sinks {
        s.request(1);
    }
    src.send_next(7).await;
    for s in &sinks {
        s.expect_next(7).await;
    }
    src.send_complete();
    for s in &sinks {
        request_and_expect_complete(s).await;
    }
}

/// Completion needs no pull: it reaches the asking output while the other is full (as Akka's
/// Broadcast completes on upstream finish), and the full one after its element.
#[tokio::test(start_paused = true)]
async fn broadcast_upstream_completion_reaches_an_asking_output_while_another_is_full() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(4);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    // Output 1 has not asked: its one-element buffer holds 1.
    src.send_complete();
    sinks[0].expect_complete().await;
    sinks[1].request(2);
    sinks[1].expect_next(1).await;
    sinks[1].expect_complete().await;
}

/// As Broadcast: Unzip completes the asking output while the other is full.
#[tokio::test(start_paused = true)]
async fn unzip_upstream_completion_reaches_an_asking_output_while_the_other_is_full() {
    let (src, left, right) = fan_out2(Unzip::<i32, i32>::pairs(), Attributes::input_buffer(1));
    left.request(4);
    src.send_next((1, 10)).await;
    left.expect_next(1).await;
    src.send_complete();
    left.expect_complete().await;
    right.request(2);
    right.expect_next(10).await;
    right.expect_complete().await;
}

/// A failure needs no pull: it reaches the asking output while the other is full (as Akka's
/// Broadcast fails on upstream failure), and the full one gets it after its element.
#[tokio::test(start_paused = true)]
async fn broadcast_upstream_failure_reaches_an_asking_output_while_another_is_full() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(4);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    // Output 1 has not asked: its one-element buffer holds 1.
    src.send_error(boom());
    assert_boom(&sinks[0].expect_error().await);
    sinks[1].request(2);
    sinks[1].expect_next(1).await;
    assert_boom(&sinks[1].expect_error().await);
}

#[tokio::test(start_paused = true)]
async fn broadcast_upstream_failure_reaches_every_output() {
    let (src, sinks) = fan_out(Broadcast::<i32>::new(3), Attributes::input_buffer(2));
    for s in &sinks {
        s.request(4);
    }
    src.send_next(7).await;
    src.send_error(boom());
    for s in &sinks {
        s.expect_next(7).await;
        assert_boom(&s.expect_error().await);
    }
}

// =============================================================================================
// Balance
// =============================================================================================

#[tokio::test]
async fn balance_spreads_elements_over_the_outputs_in_turn() {
    let outs = collect_all(fan_out_seq(
        Balance::<i32>::new(3),
        Source::range(1, 9),
        Attributes::none(),
    ))
    .await;
    assert_eq!(outs, vec![vec![1, 4, 7], vec![2, 5, 8], vec![3, 6, 9]]);
}

#[tokio::test(start_paused = true)]
async fn balance_serves_the_outputs_with_room_in_turn() {
    let (src, sinks) = fan_out(Balance::<i32>::new(3), Attributes::input_buffer(1));
    for s in &sinks {
        s.request(10);
    }
    for x in 1..=6 {
        src.send_next(x).await;
    }
    let mut got = Vec::new();
    for s in &sinks {
        got.push(vec![
            s.expect_next_element().await,
            s.expect_next_element().await,
        ]);
    }
    assert_eq!(got, vec![vec![1, 4], vec![2, 5], vec![3, 6]]);
}

#[tokio::test(start_paused = true)]
async fn balance_gives_an_output_without_demand_nothing_beyond_its_buffer() {
    let mut b = GraphBuilder::new();
    let bal = b.add(Balance::<i32>::new(3));
    let src = b.add_source(Source::range(1, 10));
    b.connect(src, bal.inlet);
    let (s0, k0) = b.add_sink_mat(Sink::seq());
    let (s1, k1) = b.add_sink_mat(TestSink::<i32>::probe());
    let (s2, k2) = b.add_sink_mat(Sink::seq());
    b.connect(bal.outs[0], s0);
    b.connect(bal.outs[1], s1);
    b.connect(bal.outs[2], s2);
    let (c0, idle, c2) = b
        .build(move |m| (m.take(k0), m.take(k1), m.take(k2)))
        .unwrap()
        .with_attributes(Attributes::input_buffer(2))
        .run();
    let (out0, out2) = (c0.await.unwrap(), c2.await.unwrap());
    // The idle output got one round of its two-element buffer, the others everything else.
    idle.request(10);
    idle.expect_next_n([2, 5]).await;
    idle.expect_complete().await;
    let mut rest: Vec<i32> = out0.iter().chain(&out2).copied().collect();
    rest.sort_unstable();
    assert_eq!(rest, vec![1, 3, 4, 6, 7, 8, 9, 10]);
    assert!(out0.windows(2).all(|w| w[0] < w[1]), "{out0:?}");
    assert!(out2.windows(2).all(|w| w[0] < w[1]), "{out2:?}");
}

/// Pekko's `GraphBalanceSpec` "cancel upstream when any downstream cancel if eagerCancel is
/// true": the other output completes.
#[tokio::test(start_paused = true)]
async fn balance_eager_cancel_cancels_upstream_when_any_output_cancels() {
    let (src, sinks) = fan_out(Balance::<i32>::eager_cancel(2), Attributes::input_buffer(1));
    sinks[0].request(1);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    sinks[1].request(1);
    src.send_next(2).await;
    sinks[1].expect_next(2).await;
    sinks[1].cancel();
    src.expect_cancellation().await;
    sinks[0].request(1);
    sinks[0].expect_complete().await;
}

/// Without `eager_cancel`, upstream is cancelled only when every output has cancelled
/// ("cancel upstream when all downstreams cancel if eagerCancel is false").
#[tokio::test(start_paused = true)]
async fn balance_cancels_upstream_only_when_every_output_cancelled() {
    let (src, sinks) = fan_out(Balance::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(1);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    sinks[1].cancel();
    expect_not_cancelled(&src).await;
    sinks[0].request(1);
    src.send_next(2).await;
    sinks[0].expect_next(2).await;
    sinks[0].cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn balance_wait_for_all_downstreams_holds_elements_until_every_output_asked() {
    let (src, sinks) = fan_out(
        Balance::<i32>::wait_for_all_downstreams(2),
        Attributes::input_buffer(1),
    );
    sinks[0].request(4);
    // Output 1 has not asked yet: nothing is pulled from upstream.
    expect_no_request(&src).await;
    sinks[1].request(4);
    assert!(src.expect_request().await > 0);
    src.send_next(1).await;
    src.send_next(2).await;
    sinks[0].expect_next(1).await;
    sinks[1].expect_next(2).await;
}

#[tokio::test(start_paused = true)]
async fn balance_wait_for_all_downstreams_then_balances() {
    let (src, sinks) = fan_out(
        Balance::<i32>::wait_for_all_downstreams(2),
        Attributes::input_buffer(1),
    );
    sinks[0].request(4);
    sinks[1].request(4);
    for x in 1..=4 {
        src.send_next(x).await;
    }
    sinks[0].expect_next_n([1, 3]).await;
    sinks[1].expect_next_n([2, 4]).await;
}

#[tokio::test(start_paused = true)]
async fn balance_upstream_completion_reaches_every_output() {
    let (src, sinks) = fan_out(Balance::<i32>::new(3), Attributes::input_buffer(2));
    for s in &sinks {
        s.request(1);
    }
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    src.send_complete();
    request_and_expect_complete(&sinks[0]).await;
    sinks[1].expect_complete().await;
    sinks[2].expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn balance_upstream_failure_reaches_every_output() {
    let (src, sinks) = fan_out(Balance::<i32>::new(2), Attributes::input_buffer(2));
    for s in &sinks {
        s.request(4);
    }
    src.send_error(boom());
    for s in &sinks {
        assert_boom(&s.expect_error().await);
    }
}

#[tokio::test(start_paused = true)]
async fn balance_routes_no_element_to_a_cancelled_output() {
    let (src, sinks) = fan_out(Balance::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(10);
    sinks[1].request(10);
    src.send_next(1).await;
    sinks[0].expect_next(1).await;
    sinks[0].cancel();
    // Every later element goes to the remaining output; none is lost.
    src.send_next(2).await;
    src.send_next(3).await;
    src.send_next(4).await;
    sinks[1].expect_next_n([2, 3, 4]).await;
    expect_not_cancelled(&src).await;
}

#[tokio::test(start_paused = true)]
async fn balance_cancels_upstream_when_all_outputs_cancel() {
    let (src, sinks) = fan_out(Balance::<i32>::new(2), Attributes::input_buffer(1));
    sinks[0].request(10);
    sinks[1].request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    sinks[0].expect_next(1).await;
    sinks[1].expect_next(2).await;
    sinks[0].cancel();
    expect_not_cancelled(&src).await;
    sinks[1].cancel();
    src.expect_cancellation().await;
}

// =============================================================================================
// Partition
// =============================================================================================

#[tokio::test]
async fn partition_routes_by_the_function() {
    let outs = collect_all(fan_out_seq(
        Partition::new(3, |x: &i32| (*x % 3) as usize),
        Source::range(1, 10),
        Attributes::input_buffer(2),
    ))
    .await;
    assert_eq!(outs, vec![vec![3, 6, 9], vec![1, 4, 7, 10], vec![2, 5, 8]]);
}

#[tokio::test(start_paused = true)]
async fn partition_out_of_range_index_fails_the_stream() {
    let (src, sinks) = fan_out(Partition::new(2, |x: &i32| *x as usize), Attributes::none());
    for s in &sinks {
        s.request(4);
    }
    src.send_next(0).await;
    src.send_next(1).await;
    sinks[0].expect_next(0).await;
    sinks[1].expect_next(1).await;
    src.send_next(7).await;
    for s in &sinks {
        let e = s.expect_error().await;
        assert!(
            matches!(
                e,
                StreamError::PartitionOutOfBounds {
                    index: 7,
                    outputs: 2
                }
            ),
            "{e:?}"
        );
    }
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn partition_drops_elements_for_a_cancelled_output_and_cancels_when_all_cancel() {
    let (src, sinks) = fan_out(
        Partition::new(2, |x: &i32| (*x % 2) as usize),
        Attributes::input_buffer(2),
    );
    sinks[0].request(10);
    sinks[1].request(10);
    sinks[1].cancel();
    for x in 1..=4 {
        src.send_next(x).await;
    }
    sinks[0].expect_next_n([2, 4]).await;
    expect_not_cancelled(&src).await;
    sinks[0].cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn partition_upstream_completion_reaches_every_output() {
    let (src, sinks) = fan_out(
        Partition::new(2, |x: &i32| (*x % 2) as usize),
        Attributes::input_buffer(2),
    );
    for s in &sinks {
        s.request(4);
    }
    src.send_next(1).await;
    src.send_complete();
    sinks[1].expect_next(1).await;
    sinks[0].expect_complete().await;
    sinks[1].expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn partition_upstream_failure_fails_every_output_after_its_elements() {
    let (src, sinks) = fan_out(
        Partition::new(3, |x: &i32| (*x % 3) as usize),
        Attributes::input_buffer(2),
    );
    for s in &sinks {
        s.request(4);
    }
    src.send_next(1).await;
    src.send_next(3).await;
    sinks[1].expect_next(1).await;
    sinks[0].expect_next(3).await;
    src.send_error(boom());
    // Output 2 got no element; it fails too.
    for s in &sinks {
        assert_boom(&s.expect_error().await);
    }
}

#[tokio::test(start_paused = true)]
async fn partition_upstream_failure_fails_an_output_that_never_requested() {
    let (src, sinks) = fan_out(
        Partition::new(2, |x: &i32| (*x % 2) as usize),
        Attributes::input_buffer(2),
    );
    sinks[0].request(4);
    src.send_next(2).await;
    sinks[0].expect_next(2).await;
    src.send_error(boom());
    assert_boom(&sinks[0].expect_error().await);
    // The idle output learns of the failure on its first pull.
    sinks[1].request(1);
    assert_boom(&sinks[1].expect_error().await);
}

#[tokio::test(start_paused = true)]
async fn partition_upstream_termination_reaches_an_asking_output_while_another_is_full() {
    for fail in [false, true] {
        let (src, sinks) = fan_out(
            Partition::new(2, |x: &i32| (*x % 2) as usize),
            Attributes::input_buffer(1),
        );
        sinks[0].request(4);
        // Output 1 has not asked: its one-element buffer holds 1, and nothing else waits for it.
        src.send_next(1).await;
        // Let the junction route it before the input terminates.
        tokio::time::sleep(QUIET).await;
        if fail {
            src.send_error(boom());
            assert_boom(&sinks[0].expect_error().await);
        } else {
            src.send_complete();
            sinks[0].expect_complete().await;
        }
        sinks[1].request(2);
        sinks[1].expect_next(1).await;
        if fail {
            assert_boom(&sinks[1].expect_error().await);
        } else {
            sinks[1].expect_complete().await;
        }
    }
}

// =============================================================================================
// Unzip, UnzipWith
// =============================================================================================

#[tokio::test]
async fn unzip_sends_each_half_to_its_output() {
    let mut b = GraphBuilder::new();
    let uz = b.add(Unzip::<i32, char>::pairs());
    let src = b.add_source(Source::from_iter(vec![(1, 'a'), (2, 'b'), (3, 'c')]));
    b.connect(src, uz.inlet);
    let (s0, k0) = b.add_sink_mat(Sink::seq());
    let (s1, k1) = b.add_sink_mat(Sink::seq());
    b.connect(uz.out0, s0);
    b.connect(uz.out1, s1);
    let (c0, c1) = b.build(move |m| (m.take(k0), m.take(k1))).unwrap().run();
    assert_eq!(c0.await.unwrap(), vec![1, 2, 3]);
    assert_eq!(c1.await.unwrap(), vec!['a', 'b', 'c']);
}

#[tokio::test]
async fn unzip_with_splits_with_the_function() {
    let mut b = GraphBuilder::new();
    let uz = b.add(UnzipWith::new(|s: &'static str| {
        (s.len(), s.to_uppercase())
    }));
    let src = b.add_source(Source::from_iter(vec!["a", "bb", "ccc"]));
    b.connect(src, uz.inlet);
    let (s0, k0) = b.add_sink_mat(Sink::seq());
    let (s1, k1) = b.add_sink_mat(Sink::seq());
    b.connect(uz.out0, s0);
    b.connect(uz.out1, s1);
    let (c0, c1) = b.build(move |m| (m.take(k0), m.take(k1))).unwrap().run();
    assert_eq!(c0.await.unwrap(), vec![1, 2, 3]);
    assert_eq!(c1.await.unwrap(), vec!["A", "BB", "CCC"]);
}

#[tokio::test(start_paused = true)]
async fn unzip_emits_only_when_both_outputs_have_room() {
    let (src, left, right) = fan_out2(Unzip::<i32, i32>::pairs(), Attributes::input_buffer(1));
    left.request(10);
    assert_eq!(src.expect_request().await, 1);
    src.send_next((1, 10)).await;
    left.expect_next(1).await;
    // The right output's one-element buffer is full: nothing more is pulled.
    expect_no_request(&src).await;
    left.expect_no_message(QUIET).await;
    right.request(10);
    right.expect_next(10).await;
    src.send_next((2, 20)).await;
    left.expect_next(2).await;
    right.expect_next(20).await;
}

/// Pekko's `GraphUnzipSpec` "produce to right downstream even though left downstream cancels"
/// (and the mirror case): the other output goes on; upstream is cancelled when both have.
#[tokio::test(start_paused = true)]
async fn unzip_goes_on_with_the_other_output_when_one_cancels() {
    for cancel_left in [true, false] {
        let (src, left, right) = fan_out2(Unzip::<i32, i32>::pairs(), Attributes::input_buffer(1));
        left.request(10);
        right.request(10);
        src.send_next((1, 10)).await;
        left.expect_next(1).await;
        right.expect_next(10).await;
        let (gone, other, expected) = if cancel_left {
            (&left, &right, 20)
        } else {
            (&right, &left, 2)
        };
        gone.cancel();
        src.send_next((2, 20)).await;
        other.expect_next(expected).await;
        expect_not_cancelled(&src).await;
        other.cancel();
        src.expect_cancellation().await;
    }
}

#[tokio::test(start_paused = true)]
async fn unzip_cancellation_of_an_output_frees_a_back_pressured_other() {
    let (src, left, right) = fan_out2(Unzip::<i32, i32>::pairs(), Attributes::input_buffer(1));
    right.request(1);
    src.send_next((1, 10)).await;
    right.expect_next(10).await;
    // The left output never requested and is full; the right one cancels: the left one goes
    // on alone.
    right.cancel();
    left.request(3);
    left.expect_next(1).await;
    src.send_next((2, 20)).await;
    left.expect_next(2).await;
    src.send_complete();
    left.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn unzip_upstream_failure_reaches_both_outputs() {
    let (src, left, right) = fan_out2(Unzip::<i32, i32>::pairs(), Attributes::input_buffer(2));
    left.request(4);
    right.request(4);
    src.send_next((1, 10)).await;
    src.send_error(boom());
    left.expect_next(1).await;
    right.expect_next(10).await;
    assert_boom(&left.expect_error().await);
    assert_boom(&right.expect_error().await);
}

/// As Broadcast: a failure reaches the asking output while the other is full.
#[tokio::test(start_paused = true)]
async fn unzip_upstream_failure_reaches_an_asking_output_while_the_other_is_full() {
    let (src, left, right) = fan_out2(Unzip::<i32, i32>::pairs(), Attributes::input_buffer(1));
    left.request(4);
    src.send_next((1, 10)).await;
    left.expect_next(1).await;
    // The right output has not asked: its one-element buffer holds 10.
    src.send_error(boom());
    assert_boom(&left.expect_error().await);
    right.request(2);
    right.expect_next(10).await;
    assert_boom(&right.expect_error().await);
}

// =============================================================================================
// Properties: no element lost or duplicated
// =============================================================================================

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Merges `counts.len()` inputs, input `i` emitting `(i, 0..counts[i])`, some behind an async
/// boundary, with the given buffer size.
async fn merge_tagged(
    counts: Vec<usize>,
    boundaries: Vec<bool>,
    buffer: usize,
) -> Vec<(usize, usize)> {
    let mut b = GraphBuilder::new();
    let merge = b.add(Merge::<(usize, usize)>::new(counts.len()));
    for (i, (&count, inlet)) in counts.iter().zip(&merge.ins).enumerate() {
        let src = Source::from_iter((0..count).map(move |j| (i, j)).collect::<Vec<_>>());
        let out = if boundaries[i] {
            b.add_source(src.async_boundary())
        } else {
            b.add_source(src)
        };
        b.connect(out, *inlet);
    }
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(merge.out, sink);
    b.build(move |m| m.take(k))
        .unwrap()
        .with_attributes(Attributes::input_buffer(buffer))
        .run()
        .await
        .unwrap()
}

/// Balances `0..total` over `outputs` outputs with the given buffer size; returns each output's
/// elements.
async fn balance_range(total: usize, outputs: usize, buffer: usize) -> Vec<Vec<usize>> {
    let items: Vec<usize> = (0..total).collect();
    collect_all(fan_out_seq(
        Balance::<usize>::new(outputs),
        Source::from_iter(items),
        Attributes::input_buffer(buffer),
    ))
    .await
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn merge_loses_no_element_and_keeps_per_input_order(
        inputs in prop::collection::vec((0usize..60, any::<bool>()), 1..6),
        buffer in 1usize..8,
    ) {
        let counts: Vec<usize> = inputs.iter().map(|(c, _)| *c).collect();
        let boundaries: Vec<bool> = inputs.iter().map(|(_, b)| *b).collect();
        let rt = current_thread_runtime();
        let out = rt.block_on(merge_tagged(counts.clone(), boundaries, buffer));
        let mut expected: Vec<(usize, usize)> = counts
            .iter()
            .enumerate()
            .flat_map(|(i, &c)| (0..c).map(move |j| (i, j)))
            .collect();
        let mut sorted = out.clone();
        sorted.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(sorted, expected);
        let mut per_input: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, j) in out {
            per_input.entry(i).or_default().push(j);
        }
        for (i, js) in per_input {
            prop_assert_eq!(js, (0..counts[i]).collect::<Vec<_>>(), "input {} out of order", i);
        }
    }

    #[test]
    fn balance_loses_no_element_and_keeps_order_per_output(
        total in 0usize..300,
        outputs in 1usize..6,
        buffer in 1usize..8,
    ) {
        let rt = current_thread_runtime();
        let outs = rt.block_on(balance_range(total, outputs, buffer));
        prop_assert_eq!(outs.len(), outputs);
        for out in &outs {
            prop_assert!(out.windows(2).all(|w| w[0] < w[1]), "output out of order: {:?}", out);
        }
        let mut all: Vec<usize> = outs.into_iter().flatten().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..total).collect::<Vec<_>>());
    }
}

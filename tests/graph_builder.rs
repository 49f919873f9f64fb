//! The graph builder (Akka's `GraphDSL`): build-time errors, materialized values, partial graphs
//! as reusable blueprints, live cycles, and custom stages as graph nodes.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use weir::builder::{GraphBuilder, GraphError, In, Out, PartialGraph};
use weir::custom::{AsyncCallback, FlowShape, GraphStage, PortId, StageContext, StageLogic};
use weir::junctions::{Balance, Broadcast, Concat, Merge, Zip};
use weir::prelude::*;
use weir::scoring::{Model, Outcome, Scored, ScoringStage};
use weir::testkit::{TestSink, TestSource};
use weir::{Attributes, Completion, OverflowStrategy};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A guard against a hanging stream (only fires when a test is about to fail).
async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match timeout(Duration::from_secs(20), f).await {
        Ok(x) => x,
        Err(_) => panic!("{what} did not finish"),
    }
}

fn unconnected(node: &'static str, port: &str) -> GraphError {
    GraphError::Unconnected {
        node,
        port: port.to_owned(),
    }
}

fn connected_twice(node: &'static str, port: &str) -> GraphError {
    GraphError::ConnectedTwice {
        node,
        port: port.to_owned(),
    }
}

// =============================================================================================
// Build-time errors
// =============================================================================================

#[test]
fn an_unconnected_inlet_is_reported() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let merge = b.add(Merge::<i32>::new(2));
    b.connect(src, merge.ins[0]);
    b.to(merge.out, Sink::ignore());
    assert_eq!(b.build(|_| ()).unwrap_err(), unconnected("merge", "in 1"));

    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let _sink = b.add_sink(Sink::<i32, _>::ignore());
    let (fi, fo) = b.add_flow(Flow::<i32>::new());
    b.connect(src, fi);
    let _ = fo;
    // The sink's inlet is the first problem found (nodes are checked in the order added).
    assert_eq!(b.build(|_| ()).unwrap_err(), unconnected("sink", "in 0"));
}

#[test]
fn an_unconnected_outlet_is_reported() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let bcast = b.add(Broadcast::<i32>::new(2));
    b.connect(src, bcast.inlet);
    b.to(bcast.outs[0], Sink::ignore());
    assert_eq!(
        b.build(|_| ()).unwrap_err(),
        unconnected("broadcast", "out 1")
    );

    let mut b = GraphBuilder::new();
    let _src = b.add_source(Source::range(1, 3));
    assert_eq!(b.build(|_| ()).unwrap_err(), unconnected("source", "out 0"));
}

#[test]
fn an_inlet_connected_twice_is_reported() {
    let mut b = GraphBuilder::new();
    let s1 = b.add_source(Source::range(1, 3));
    let s2 = b.add_source(Source::range(4, 6));
    let sink = b.add_sink(Sink::ignore());
    b.connect(s1, sink);
    b.connect(s2, sink);
    assert_eq!(
        b.build(|_| ()).unwrap_err(),
        connected_twice("sink", "in 0")
    );
}

#[test]
fn an_outlet_connected_twice_is_reported() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let zip = b.add(Zip::<i32, i32>::new());
    b.connect(src, zip.in0);
    b.connect(src, zip.in1);
    b.to(zip.out, Sink::ignore());
    assert_eq!(
        b.build(|_| ()).unwrap_err(),
        connected_twice("source", "out 0")
    );
}

#[test]
fn an_open_port_that_is_also_connected_is_reported() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let (fi, fo) = b.add_flow(Flow::<i32>::new());
    b.connect(src, fi);
    b.to(fo, Sink::ignore());
    assert_eq!(
        b.build_source(fo, |_| ()).err(),
        Some(connected_twice("flow", "out 0"))
    );

    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let (fi, fo) = b.add_flow(Flow::<i32>::new());
    b.connect(src, fi);
    assert_eq!(
        b.build_flow(fi, fo, |_| ()).err(),
        Some(connected_twice("flow", "in 0"))
    );
}

#[test]
fn partial_graphs_report_their_other_unconnected_ports() {
    let mut b = GraphBuilder::new();
    let merge = b.add(Merge::<i32>::new(2));
    let src = b.add_source(Source::range(1, 3));
    b.connect(src, merge.ins[0]);
    // `ins[1]` is neither connected nor the open port.
    assert_eq!(
        b.build_source(merge.out, |_| ()).err(),
        Some(unconnected("merge", "in 1"))
    );

    let mut b = GraphBuilder::new();
    let bcast = b.add(Broadcast::<i32>::new(2));
    b.to(bcast.outs[0], Sink::ignore());
    assert_eq!(
        b.build_sink(bcast.inlet, |_| ()).err(),
        Some(unconnected("broadcast", "out 1"))
    );
}

#[test]
fn a_cycle_through_fused_stages_only_is_rejected() {
    let mut b = GraphBuilder::new();
    let merge = b.add(Merge::<i32>::new(2));
    let (fi, fo) = b.add_flow(Flow::<i32>::new().map(|x| x + 1));
    let src = b.add_source(Source::single(1));
    b.connect(src, merge.ins[0]);
    b.connect(merge.out, fi);
    b.connect(fo, merge.ins[1]);
    assert_eq!(
        b.build(|_| ()).unwrap_err(),
        GraphError::CycleWithoutBoundary {
            nodes: vec!["merge", "flow"]
        }
    );

    // A longer cycle, through a concat and two flows.
    let mut b = GraphBuilder::new();
    let concat = b.add(Concat::<i32>::new(2));
    let src = b.add_source(Source::single(1));
    b.connect(src, concat.ins[0]);
    let (f1i, f1o) = b.add_flow(Flow::<i32>::new().map(|x| x * 2));
    let (f2i, f2o) = b.add_flow(Flow::<i32>::new().filter(|x| *x < 100));
    b.connect(concat.out, f1i);
    b.connect(f1o, f2i);
    b.connect(f2o, concat.ins[1]);
    match b.build(|_| ()).unwrap_err() {
        GraphError::CycleWithoutBoundary { mut nodes } => {
            nodes.sort_unstable();
            assert_eq!(nodes, vec!["concat", "flow", "flow"]);
        }
        other => panic!("expected CycleWithoutBoundary, got {other:?}"),
    }
}

#[test]
fn a_cycle_through_a_fan_out_junction_is_accepted() {
    let mut b = GraphBuilder::new();
    let merge = b.add(Merge::<i32>::new(2));
    let bcast = b.add(Broadcast::<i32>::new(2));
    let src = b.add_source(Source::single(1));
    b.connect(src, merge.ins[0]);
    b.connect(merge.out, bcast.inlet);
    let fb = b.via(bcast.outs[1], Flow::<i32>::new().map(|x| x + 1));
    b.connect(fb, merge.ins[1]);
    b.to(bcast.outs[0], Sink::ignore());
    assert!(b.build(|_| ()).is_ok());
}

#[test]
fn a_handle_from_another_builder_is_reported() {
    let mut other = GraphBuilder::new();
    for i in 0..4 {
        other.add_source(Source::single(i));
    }
    let foreign = other.add_source(Source::single(9));
    let mut b = GraphBuilder::new();
    let sink = b.add_sink(Sink::ignore());
    b.connect(foreign, sink);
    assert_eq!(b.build(|_| ()).unwrap_err(), GraphError::ForeignPort);
}

#[tokio::test]
async fn a_handle_from_another_builder_is_reported_even_if_its_index_exists_here() {
    let mut b = GraphBuilder::new();
    let mine = b.add_source(Source::single(1));
    let (sink, k) = b.add_sink_mat(Sink::seq());
    let mut other = GraphBuilder::new();
    let foreign = other.add_source(Source::single(2));
    let _ = mine;
    // `foreign` names node 0 of `other`, not `mine` (node 0 of `b`).
    b.connect(foreign, sink);
    match b.build(move |m| m.take(k)) {
        Err(e) => assert_eq!(e, GraphError::ForeignPort),
        Ok(graph) => panic!(
            "the foreign handle was accepted and wired to this builder's node: the graph emits {:?}",
            graph.run().await
        ),
    }
}

#[test]
fn errors_display_the_node_and_port() {
    assert_eq!(
        unconnected("merge", "in 1").to_string(),
        "port `in 1` of `merge` is not connected"
    );
    assert_eq!(
        connected_twice("source", "out 0").to_string(),
        "port `out 0` of `source` is connected more than once"
    );
}

// =============================================================================================
// Materialized values
// =============================================================================================

/// `range(1, 3)` then a `Source::maybe` → `watch_termination` → `Sink::seq`, keeping all three
/// materialized values.
/// The values `maybe_graph` keeps: the maybe source's handle, the termination watch, the
/// collected elements.
type MaybeGraphMat = (weir::MaybeHandle<i32>, Completion<()>, Completion<Vec<i32>>);

fn maybe_graph() -> RunnableGraph<MaybeGraphMat> {
    let mut b = GraphBuilder::new();
    let range = b.add_source(Source::range(1, 3));
    let (maybe, km) = b.add_source_mat(Source::<i32>::maybe());
    let concat = b.add(Concat::<i32>::new(2));
    b.connect(range, concat.ins[0]);
    b.connect(maybe, concat.ins[1]);
    let (fi, fo, kw) = b.add_flow_mat(Flow::<i32>::new().watch_termination());
    b.connect(concat.out, fi);
    let (sink, ks) = b.add_sink_mat(Sink::seq());
    b.connect(fo, sink);
    b.build(move |m| (m.take(km), m.take(kw), m.take(ks)))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_build_function_combines_the_kept_materialized_values() {
    let (handle, done, out) = maybe_graph().run();
    let mut out = out;
    assert!(
        timeout(ms(100), &mut out).await.is_err(),
        "the stream waits for the maybe source"
    );
    handle.complete(Some(4)).unwrap();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3, 4]);
    done.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn each_run_of_a_graph_has_its_own_materialized_values() {
    let graph = maybe_graph();
    let (h1, done1, out1) = graph.run();
    let (h2, done2, out2) = graph.run();
    h2.complete(Some(20)).unwrap();
    assert_eq!(out2.await.unwrap(), vec![1, 2, 3, 20]);
    done2.await.unwrap();
    let mut out1 = out1;
    assert!(
        timeout(ms(100), &mut out1).await.is_err(),
        "the first run is still waiting for its own maybe source"
    );
    h1.complete(None).unwrap();
    assert_eq!(out1.await.unwrap(), vec![1, 2, 3]);
    done1.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn probes_kept_through_mat_keys_drive_the_graph() {
    let mut b = GraphBuilder::new();
    let (src, ks) = b.add_source_mat(TestSource::<i32>::probe());
    let (sink, kk) = b.add_sink_mat(TestSink::<i32>::probe());
    let doubled = b.via(src, Flow::<i32>::new().map(|x| x * 2));
    b.connect(doubled, sink);
    let graph = b.build(move |m| (m.take(ks), m.take(kk))).unwrap();
    let (src1, sink1) = graph.run();
    let (src2, sink2) = graph.run();
    sink1.request(1);
    sink2.request(1);
    src2.send_next(5).await;
    src1.send_next(1).await;
    sink1.expect_next(2).await;
    sink2.expect_next(10).await;
    src1.send_complete();
    sink1.request(1);
    sink1.expect_complete().await;
    assert!(!sink2.is_terminated(), "the second run is independent");
    sink2.cancel();
    src2.expect_cancellation().await;
}

#[tokio::test]
async fn the_graph_value_can_be_mapped() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 10));
    let (sink, k) = b.add_sink_mat(Sink::fold(0, |acc, x| acc + x));
    b.connect(src, sink);
    let graph = b
        .build(move |m| m.take(k))
        .unwrap()
        .map_materialized_value(|sum| async move { sum.await.map(|s| s * 2) });
    assert_eq!(graph.run().await.unwrap(), 110);
}

#[tokio::test]
#[should_panic(expected = "materialized value taken twice")]
async fn taking_a_materialized_value_twice_panics() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(src, sink);
    let graph = b.build(move |m| (m.take(k), m.take(k))).unwrap();
    let _ = graph.run();
}

// =============================================================================================
// Partial graphs as blueprints
// =============================================================================================

/// `1..=3` then whatever the `maybe` source emits, each element paired with ten times itself.
fn pairs_source() -> Source<(i32, i32), weir::MaybeHandle<i32>> {
    let mut b = GraphBuilder::new();
    let range = b.add_source(Source::range(1, 3));
    let (maybe, km) = b.add_source_mat(Source::<i32>::maybe());
    let concat = b.add(Concat::<i32>::new(2));
    b.connect(range, concat.ins[0]);
    b.connect(maybe, concat.ins[1]);
    let bcast = b.add(Broadcast::<i32>::new(2));
    b.connect(concat.out, bcast.inlet);
    let zip = b.add(Zip::<i32, i32>::new());
    b.connect(bcast.outs[0], zip.in0);
    let tens = b.via(bcast.outs[1], Flow::<i32>::new().map(|x| x * 10));
    b.connect(tens, zip.in1);
    b.build_source(zip.out, move |m| m.take(km)).unwrap()
}

#[tokio::test]
async fn build_source_gives_a_reusable_source() {
    let source = pairs_source();
    let (h, out) = source
        .clone()
        .via(Flow::<(i32, i32)>::new().map(|(a, b)| a + b))
        .to_mat(Sink::seq(), Keep::both)
        .run();
    h.complete(Some(4)).unwrap();
    assert_eq!(out.await.unwrap(), vec![11, 22, 33, 44]);

    let (h, out) = source.to_mat(Sink::seq(), Keep::both).run();
    h.complete(None).unwrap();
    assert_eq!(out.await.unwrap(), vec![(1, 10), (2, 20), (3, 30)]);
}

/// Each element paired with its square, through a broadcast and a zip.
fn with_square() -> Flow<i32, (i32, i32), Completion<()>> {
    let mut b = GraphBuilder::new();
    let bcast = b.add(Broadcast::<i32>::new(2));
    let zip = b.add(Zip::<i32, i32>::new());
    b.connect(bcast.outs[0], zip.in0);
    let squares = b.via(bcast.outs[1], Flow::<i32>::new().map(|x| x * x));
    b.connect(squares, zip.in1);
    let (fi, fo, kw) = b.add_flow_mat(Flow::<(i32, i32)>::new().watch_termination());
    b.connect(zip.out, fi);
    b.build_flow(bcast.inlet, fo, move |m| m.take(kw)).unwrap()
}

#[tokio::test]
async fn build_flow_gives_a_reusable_flow() {
    let flow = with_square();
    // Used twice in one stream: two independent materializations.
    let out = Source::range(1, 4)
        .via(flow.clone())
        .map(|(a, b)| a + b)
        .via(flow.clone())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(2, 4), (6, 36), (12, 144), (20, 400)]);

    let (done, out) = Source::range(1, 3)
        .via_mat(flow, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![(1, 1), (2, 4), (3, 9)]);
    done.await.unwrap();
}

/// Balances over two folds; the value is both sums.
fn two_sums() -> Sink<i32, (Completion<i32>, Completion<i32>)> {
    let mut b = GraphBuilder::new();
    let bal = b.add(Balance::<i32>::new(2));
    let (s0, k0) = b.add_sink_mat(Sink::fold(0, |acc, x| acc + x));
    let (s1, k1) = b.add_sink_mat(Sink::fold(0, |acc, x| acc + x));
    b.connect(bal.outs[0], s0);
    b.connect(bal.outs[1], s1);
    b.build_sink(bal.inlet, move |m| (m.take(k0), m.take(k1)))
        .unwrap()
}

#[tokio::test]
async fn build_sink_gives_a_reusable_sink() {
    let sink = two_sums();
    for _ in 0..2 {
        let (a, b) = Source::range(1, 100)
            .to_mat(sink.clone(), Keep::right)
            .run();
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(a + b, 5050);
        assert!(a > 0 && b > 0, "both outputs got elements: {a} + {b}");
    }
    // Composed behind a flow.
    let doubled = Flow::<i32>::new().map(|x| x * 2).to_mat(sink, Keep::right);
    let (a, b) = Source::range(1, 10).to_mat(doubled, Keep::right).run();
    assert_eq!(a.await.unwrap() + b.await.unwrap(), 110);
}

#[tokio::test]
async fn partial_graphs_compose_with_each_other() {
    let (h, (a, b)) = pairs_source()
        .map(|(x, _)| x)
        .via(with_square())
        .map(|(_, sq)| sq)
        .to_mat(two_sums(), Keep::both)
        .run();
    h.complete(Some(4)).unwrap();
    assert_eq!(a.await.unwrap() + b.await.unwrap(), 1 + 4 + 9 + 16);
}

// =============================================================================================
// Cycles
// =============================================================================================

#[tokio::test]
async fn a_broadcast_cycle_with_a_dropping_buffer_stays_live() {
    // source ~> merge ~> broadcast ~> take(200) ~> sink
    //           merge <~ buffer(drop head) <~ generation + 1 <~ broadcast
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 20).map(|x| (0u32, x)));
    let merge = b.add(Merge::<(u32, i32)>::new(2));
    let bcast = b.add(Broadcast::<(u32, i32)>::eager_cancel(2));
    b.connect(src, merge.ins[0]);
    b.connect(merge.out, bcast.inlet);
    let feedback = b.via(
        bcast.outs[1],
        Flow::<(u32, i32)>::new()
            .map(|(g, x)| (g + 1, x))
            .buffer(4, OverflowStrategy::DropHead),
    );
    b.connect(feedback, merge.ins[1]);
    let first = b.via(bcast.outs[0], Flow::<(u32, i32)>::new().take(200));
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(first, sink);
    let graph = b.build(move |m| m.take(k)).unwrap();
    let out = within("the cycle", graph.run()).await.unwrap();

    assert_eq!(out.len(), 200);
    let originals: Vec<i32> = out
        .iter()
        .filter(|(g, _)| *g == 0)
        .map(|(_, x)| *x)
        .collect();
    assert_eq!(
        originals,
        (1..=20).collect::<Vec<_>>(),
        "every source element, in order"
    );
    // Each fed-back element follows its parent.
    for (i, &(g, x)) in out.iter().enumerate() {
        if g > 0 {
            assert!(
                out[..i].contains(&(g - 1, x)),
                "({g}, {x}) emitted before its parent"
            );
        }
    }
    assert!(
        out.iter().any(|(g, _)| *g >= 2),
        "elements went round the cycle more than once"
    );
}

#[tokio::test]
async fn a_zip_cycle_seeded_with_concat_runs() {
    // Running sums: zip each input with the previous sum (seeded with 0).
    //   source ~> zip.in0
    //   single(0) ~> concat ~> zip.in1
    //   zip ~> a + b ~> broadcast ~> sink
    //                  broadcast ~> concat
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 5));
    let zip = b.add(Zip::<i32, i32>::new());
    let concat = b.add(Concat::<i32>::new(2));
    let seed = b.add_source(Source::single(0));
    let bcast = b.add(Broadcast::<i32>::new(2));
    b.connect(src, zip.in0);
    b.connect(seed, concat.ins[0]);
    b.connect(bcast.outs[1], concat.ins[1]);
    b.connect(concat.out, zip.in1);
    let sums = b.via(zip.out, Flow::<(i32, i32)>::new().map(|(a, b)| a + b));
    b.connect(sums, bcast.inlet);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(bcast.outs[0], sink);
    let graph = b.build(move |m| m.take(k)).unwrap();
    for _ in 0..2 {
        let out = within("the zip cycle", graph.run()).await.unwrap();
        assert_eq!(out, vec![1, 3, 6, 10, 15]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_zip_cycle_without_a_seed_does_not_start() {
    // The same cycle without the seed: the zip waits for the feedback forever (as in Akka).
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 5));
    let zip = b.add(Zip::<i32, i32>::new());
    let bcast = b.add(Broadcast::<i32>::new(2));
    b.connect(src, zip.in0);
    b.connect(bcast.outs[1], zip.in1);
    let sums = b.via(zip.out, Flow::<(i32, i32)>::new().map(|(a, b)| a + b));
    b.connect(sums, bcast.inlet);
    let (sink, k) = b.add_sink_mat(TestSink::<i32>::probe());
    b.connect(bcast.outs[0], sink);
    let probe = b.build(move |m| m.take(k)).unwrap().run();
    probe.request(5);
    probe.expect_no_message(ms(200)).await;
}

// =============================================================================================
// Custom stages as nodes
// =============================================================================================

/// Multiplies each element; its value counts the elements it saw.
struct Scale(i32);

struct ScaleLogic {
    shape: FlowShape<i32, i32>,
    factor: i32,
    seen: Arc<AtomicUsize>,
}

impl GraphStage for Scale {
    type Shape = FlowShape<i32, i32>;
    type Logic = ScaleLogic;
    type Mat = Arc<AtomicUsize>;

    fn name(&self) -> &'static str {
        "scale"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (ScaleLogic, Arc<AtomicUsize>) {
        let seen = Arc::new(AtomicUsize::new(0));
        let logic = ScaleLogic {
            shape: self.shape(),
            factor: self.0,
            seen: seen.clone(),
        };
        (logic, seen)
    }
}

impl StageLogic for ScaleLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        ctx.pull(&self.shape.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(x) = ctx.grab(&self.shape.inlet) {
            self.seen.fetch_add(1, Ordering::SeqCst);
            ctx.push(&self.shape.out, x * self.factor);
        }
    }
}

#[tokio::test]
async fn a_custom_flow_stage_is_a_graph_node_with_its_value() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 6));
    let bal = b.add(Balance::<i32>::new(2));
    let merge = b.add(Merge::<i32>::new(2));
    b.connect(src, bal.inlet);
    let ((i0, o0), k0) = b.add_stage(Scale(10));
    let ((i1, o1), k1) = b.add_stage(Scale(100));
    b.connect(bal.outs[0], i0);
    b.connect(bal.outs[1], i1);
    b.connect(o0, merge.ins[0]);
    b.connect(o1, merge.ins[1]);
    let (sink, ks) = b.add_sink_mat(Sink::seq());
    b.connect(merge.out, sink);
    let graph = b
        .build(move |m| (m.take(k0), m.take(k1), m.take(ks)))
        .unwrap();
    for _ in 0..2 {
        let (seen0, seen1, out) = graph.run();
        let mut out = out.await.unwrap();
        out.sort_unstable();
        // Every element went through exactly one of the two stages.
        let (n0, n1) = (seen0.load(Ordering::SeqCst), seen1.load(Ordering::SeqCst));
        assert_eq!(n0 + n1, 6, "fresh counters per run");
        assert_eq!(out.len(), 6);
        let tens = out.iter().filter(|x| **x < 100).count();
        assert_eq!((tens, 6 - tens), (n0, n1));
        let mut originals: Vec<i32> = out
            .iter()
            .map(|&x| if x % 100 == 0 { x / 100 } else { x / 10 })
            .collect();
        originals.sort_unstable();
        assert_eq!(originals, vec![1, 2, 3, 4, 5, 6]);
    }
}

#[tokio::test]
async fn a_custom_flow_stage_in_a_partial_graph() {
    let mut b = GraphBuilder::new();
    let ((i, o), k) = b.add_stage(Scale(3));
    let flow = b.build_flow(i, o, move |m| m.take(k)).unwrap();
    let (seen, out) = Source::range(1, 4)
        .via_mat(flow, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![3, 6, 9, 12]);
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}

/// Flags readings above a threshold; fails on NaN.
#[derive(Clone, Debug)]
struct Threshold {
    name: &'static str,
    cut: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct NotANumber;

impl fmt::Display for NotANumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a number")
    }
}

impl std::error::Error for NotANumber {}

impl Model<f64> for Threshold {
    type Output = bool;
    type Error = NotANumber;

    fn name(&self) -> &str {
        self.name
    }

    fn score(&self, x: &f64) -> Result<bool, NotANumber> {
        if x.is_nan() {
            Err(NotANumber)
        } else {
            Ok(*x > self.cut)
        }
    }
}

type ScoredReading = Scored<f64, bool, NotANumber>;

#[track_caller]
fn assert_scored(got: &ScoredReading, record: f64, output: bool, model: &str) {
    assert_eq!(got.record, record);
    match &got.outcome {
        Outcome::Scored {
            output: o,
            model: m,
            ..
        } => {
            assert_eq!(*o, output, "output for {record}");
            assert_eq!(&**m, model, "model for {record}");
        }
        other => panic!("expected {record} scored by {model}, got {other:?}"),
    }
}

/// Waits (in paused tokio time) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(ms(1)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(start_paused = true)]
async fn the_scoring_stage_is_a_fan_in_node() {
    let mut b = GraphBuilder::new();
    let (shape, kh) = b.add_stage(ScoringStage::<f64, Threshold>::new());
    let (data, kd) = b.add_source_mat(TestSource::<f64>::probe());
    let (models, km) = b.add_source_mat(TestSource::<Threshold>::probe());
    let (sink, ks) = b.add_sink_mat(TestSink::<ScoredReading>::probe());
    b.connect(data, shape.in0);
    b.connect(models, shape.in1);
    b.connect(shape.out, sink);
    let (handle, data, models, sink) = b
        .build(move |m| (m.take(kh), m.take(kd), m.take(km), m.take(ks)))
        .unwrap()
        .run();

    sink.request(10);
    // Before any model: the record is kept, unscored.
    data.send_next(0.9).await;
    let got = sink.expect_next_element().await;
    assert_eq!(got.record, 0.9);
    assert_eq!(got.outcome, Outcome::NoModel);
    assert!(handle.state().is_none());

    models
        .send_next(Threshold {
            name: "half",
            cut: 0.5,
        })
        .await;
    eventually("model `half` serves", || {
        handle.state().is_some_and(|s| s.name == "half")
    })
    .await;
    data.send_next(0.2).await;
    assert_scored(&sink.expect_next_element().await, 0.2, false, "half");
    data.send_next(0.7).await;
    assert_scored(&sink.expect_next_element().await, 0.7, true, "half");
    data.send_next(f64::NAN).await;
    match sink.expect_next_element().await.outcome {
        Outcome::Failed { error, model } => {
            assert_eq!(error, NotANumber);
            assert_eq!(&*model, "half");
        }
        other => panic!("expected a failed scoring, got {other:?}"),
    }
    assert_eq!(handle.state().unwrap().records_scored, 3);

    // A model installed from outside the stream takes over.
    handle
        .install(Threshold {
            name: "strict",
            cut: 0.8,
        })
        .unwrap();
    eventually("model `strict` serves", || {
        handle.state().is_some_and(|s| s.name == "strict")
    })
    .await;
    data.send_next(0.7).await;
    assert_scored(&sink.expect_next_element().await, 0.7, false, "strict");
    assert_eq!(handle.state().unwrap().records_scored, 1);

    // The model inlet completing leaves the model serving; the data inlet completing ends it.
    models.send_complete();
    data.send_next(0.95).await;
    assert_scored(&sink.expect_next_element().await, 0.95, true, "strict");
    data.send_complete();
    sink.expect_complete().await;
}

#[tokio::test]
async fn the_scoring_stage_in_a_graph_with_finite_sources() {
    let mut b = GraphBuilder::new();
    let (shape, kh) = b.add_stage(ScoringStage::<f64, Threshold>::new());
    // The model comes first (concat), then the records through a broadcast, twice each.
    let model = b.add_source(Source::single(Threshold {
        name: "half",
        cut: 0.5,
    }));
    b.connect(model, shape.in1);
    let readings = b.add_source(Source::from_iter(vec![0.1, 0.6]));
    let bcast = b.add(Broadcast::<f64>::new(2));
    b.connect(readings, bcast.inlet);
    let concat = b.add(Concat::<f64>::new(2));
    b.connect(bcast.outs[0], concat.ins[0]);
    b.connect(bcast.outs[1], concat.ins[1]);
    b.connect(concat.out, shape.in0);
    let (sink, ks) = b.add_sink_mat(Sink::seq());
    b.connect(shape.out, sink);
    let graph = b.build(move |m| (m.take(kh), m.take(ks))).unwrap();
    let (handle, out) = graph.run();
    let out = out.await.unwrap();
    let records: Vec<f64> = out.iter().map(|s| s.record).collect();
    assert_eq!(records, vec![0.1, 0.6, 0.1, 0.6]);
    let scored = out
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Scored { .. }))
        .count() as u64;
    let state = handle.state();
    assert_eq!(state.map_or(0, |s| s.records_scored), scored);
}

/// A pass-through that counts what passes into its materialized value.
fn counting_tap() -> PartialGraph<(In<u32>, Out<u32>), Completion<usize>> {
    let mut b = GraphBuilder::new();
    let fan = b.add(Broadcast::<u32>::new(2));
    let (count, key) = b.add_sink_mat(Sink::fold(0usize, |n, _| n + 1));
    b.connect(fan.outs[1], count);
    b.build_partial_mat((fan.inlet, fan.outs[0]), move |m| m.take(key))
        .unwrap()
}

#[tokio::test]
async fn import_mat_gives_each_copy_its_own_materialized_value() {
    let tap = counting_tap();
    let mut b = GraphBuilder::new();
    let ((in_a, out_a), key_a) = b.import_mat(&tap);
    let ((in_b, out_b), key_b) = b.import_mat(&tap);
    let a = b.add_source(Source::range(1u32, 3));
    let bb = b.add_source(Source::range(1u32, 5));
    b.connect(a, in_a);
    b.connect(bb, in_b);
    b.to(out_a, Sink::ignore());
    b.to(out_b, Sink::ignore());
    let graph = b.build(move |m| (m.take(key_a), m.take(key_b))).unwrap();
    for _ in 0..2 {
        let (a, bb) = graph.run();
        assert_eq!((a.await.unwrap(), bb.await.unwrap()), (3, 5));
    }
}

#[tokio::test]
async fn materialized_values_of_nested_partial_graphs_combine_outward() {
    // Two taps in a row, packaged with a sink of their own, imported into a closed graph.
    let tap = counting_tap();
    let mut b = GraphBuilder::new();
    let ((in1, out1), first) = b.import_mat(&tap);
    let ((in2, out2), second) = b.import_mat(&tap);
    let evens = b.via(out1, Flow::<u32>::new().filter(|x| x % 2 == 0));
    b.connect(evens, in2);
    let (sink, seq) = b.add_sink_mat(Sink::seq());
    b.connect(out2, sink);
    let pair = b
        .build_partial_mat(in1, move |m| (m.take(first), m.take(second), m.take(seq)))
        .unwrap();

    let mut b = GraphBuilder::new();
    let (inlet, key) = b.import_mat(&pair);
    let numbers = b.add_source(Source::range(1u32, 6));
    b.connect(numbers, inlet);
    let (first, second, seq) = b.build(move |m| m.take(key)).unwrap().run();
    assert_eq!(seq.await.unwrap(), vec![2, 4, 6]);
    assert_eq!(first.await.unwrap(), 6);
    assert_eq!(second.await.unwrap(), 3);
}

#[tokio::test]
async fn import_without_mat_drops_the_value_and_still_runs() {
    let mut b = GraphBuilder::new();
    let (inlet, out) = b.import(&counting_tap());
    let numbers = b.add_source(Source::range(1u32, 3));
    b.connect(numbers, inlet);
    let (sink, seq) = b.add_sink_mat(Sink::seq());
    b.connect(out, sink);
    let got = b.build(move |m| m.take(seq)).unwrap().run().await.unwrap();
    assert_eq!(got, vec![1, 2, 3]);
}

#[tokio::test]
#[should_panic(expected = "a MatKey from another graph builder was used")]
async fn a_mat_key_from_another_builder_is_refused() {
    let mut other = GraphBuilder::new();
    let (_, foreign) = other.add_source_mat(Source::single(1).map_materialized_value(|_| 7));
    let mut b = GraphBuilder::new();
    let s = b.add_source(Source::single(1));
    b.to(s, Sink::ignore());
    let graph = b.build(move |m| m.take(foreign)).unwrap();
    let _ = graph.run();
}

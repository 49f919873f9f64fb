//! `BidiFlow`: construction from functions and flows, stacking with `atop`, closing with `join`,
//! and `reversed` (Akka's `BidiFlow`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use weir::builder::{GraphBuilder, GraphError};
use weir::custom::{AsyncCallback, BidiShape, GraphStage, PortId, StageContext, StageLogic};
use weir::junctions::{BidiPorts, Broadcast, Merge};
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::{Attributes, BidiFlow};

/// A layer that tags elements on the way out (`top`) and on the way back (`bottom`).
fn layer(name: &'static str) -> BidiFlow<String, String, String, String> {
    BidiFlow::from_functions(
        move |s: String| format!("{s} >{name}"),
        move |s: String| format!("{s} <{name}"),
    )
}

async fn run_flow<I, O>(flow: Flow<I, O>, input: Vec<I>) -> Vec<O>
where
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    Source::from_iter(input)
        .via(flow)
        .run_with(Sink::seq())
        .await
        .expect("the stream completes")
}

/// Runs each direction of `bidi` on its own input (through the graph builder) and collects
/// both outputs.
async fn run_directions<I1, O1, I2, O2, M>(
    bidi: BidiFlow<I1, O1, I2, O2, M>,
    top: Vec<I1>,
    bottom: Vec<I2>,
) -> (Vec<O1>, Vec<O2>)
where
    I1: Clone + Send + Sync + 'static,
    O1: Send + 'static,
    I2: Clone + Send + Sync + 'static,
    O2: Send + 'static,
    M: 'static,
{
    let mut b = GraphBuilder::new();
    let ports = b.add_bidi(bidi);
    let s1 = b.add_source(Source::from_iter(top));
    let s2 = b.add_source(Source::from_iter(bottom));
    b.connect(s1, ports.in1);
    b.connect(s2, ports.in2);
    let (k1, k2) = (b.add_sink_mat(Sink::seq()), b.add_sink_mat(Sink::seq()));
    b.connect(ports.out1, k1.0);
    b.connect(ports.out2, k2.0);
    let (top, bottom) = b
        .build(move |m| (m.take(k1.1), m.take(k2.1)))
        .expect("a closed graph")
        .run();
    (
        top.await.expect("top completes"),
        bottom.await.expect("bottom completes"),
    )
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn from_functions_applies_each_function_in_its_direction() {
    let codec = BidiFlow::from_functions(|n: u32| n.to_string(), |s: String| s.len());
    let (top, bottom) = run_directions(codec, vec![7, 42, 1000], strings(&["a", "bcd", ""])).await;
    assert_eq!(top, strings(&["7", "42", "1000"]));
    assert_eq!(bottom, vec![1, 3, 0]);
}

#[tokio::test]
async fn from_flows_uses_the_flows_as_they_are() {
    // Flows that are not one-to-one, with materialized values that are dropped.
    let top = Flow::<i32>::new()
        .filter(|x| x % 2 == 0)
        .watch_termination();
    let bottom = Flow::<i32>::new().map_concat(|x| vec![x, x]);
    let bidi = BidiFlow::from_flows(top, bottom);
    let (top, bottom) = run_directions(bidi, vec![1, 2, 3, 4], vec![1, 2]).await;
    assert_eq!(top, vec![2, 4]);
    assert_eq!(bottom, vec![1, 1, 2, 2]);
}

#[tokio::test]
async fn join_runs_top_then_the_flow_then_bottom() {
    let codec = BidiFlow::from_functions(
        |n: u32| n.to_string(),
        |s: String| s.parse::<u32>().expect("a number"),
    );
    // A "server" that appends a zero to each message.
    let server = Flow::<String>::new().map(|s| s + "0");
    let client = codec.join(server);
    assert_eq!(run_flow(client, vec![1, 2, 35]).await, vec![10, 20, 350]);
}

#[tokio::test]
async fn join_with_a_flow_that_filters_and_expands() {
    let bidi = BidiFlow::from_functions(|x: i32| x * 10, |x: i32| x + 1);
    let server = Flow::<i32>::new()
        .filter(|x| *x != 20)
        .map_concat(|x| vec![x, -x]);
    let joined = bidi.join(server);
    assert_eq!(run_flow(joined, vec![1, 2, 3]).await, vec![11, -9, 31, -29]);
}

#[tokio::test]
async fn atop_stacks_top_flows_outside_in_and_bottom_flows_inside_out() {
    let stack = layer("a").atop(layer("b")).atop(layer("c"));
    let echo = Flow::<String>::new().map(|s| format!("{s} |"));
    let out = run_flow(stack.join(echo), strings(&["x"])).await;
    assert_eq!(out, strings(&["x >a >b >c | <c <b <a"]));
}

#[tokio::test]
async fn atop_is_associative() {
    let left = layer("a").atop(layer("b")).atop(layer("c"));
    let right = layer("a").atop(layer("b").atop(layer("c")));
    let echo = Flow::<String>::new();
    let input = strings(&["p", "q"]);
    assert_eq!(
        run_flow(left.join(echo.clone()), input.clone()).await,
        run_flow(right.join(echo), input).await
    );
}

#[tokio::test]
async fn atop_composes_layers_of_different_types() {
    // Numbers ↔ strings on the outside, strings ↔ bytes inside.
    let framing = BidiFlow::from_functions(
        |n: u32| n.to_string(),
        |s: String| s.parse::<u32>().expect("a number"),
    );
    let bytes = BidiFlow::from_functions(
        |s: String| s.into_bytes(),
        |b: Vec<u8>| String::from_utf8(b).expect("utf-8"),
    );
    let stack = framing.atop(bytes);
    // The "wire" reverses the bytes.
    let wire = Flow::<Vec<u8>>::new().map(|mut b| {
        b.reverse();
        b
    });
    assert_eq!(
        run_flow(stack.join(wire), vec![12, 340, 5]).await,
        vec![21, 43, 5]
    );
}

#[tokio::test]
async fn reversed_swaps_top_and_bottom() {
    let bidi = BidiFlow::from_functions(|n: u32| n.to_string(), |s: String| s.len());
    let rev = bidi.reversed();
    let (top, bottom) = run_directions(rev, strings(&["ab", "cde"]), vec![5, 66]).await;
    assert_eq!(top, vec![2, 3]);
    assert_eq!(bottom, strings(&["5", "66"]));
}

#[tokio::test]
async fn reversed_stack_joins_from_the_other_side() {
    let stack = layer("a").atop(layer("b"));
    let echo = Flow::<String>::new().map(|s| format!("{s} |"));
    let out = run_flow(stack.reversed().join(echo), strings(&["x"])).await;
    // From the other side the bottom flows go out first: b then a; the top flows come back:
    // a then b.
    assert_eq!(out, strings(&["x <b <a | >a >b"]));
}

#[tokio::test]
async fn reversed_twice_is_the_original() {
    let bidi = layer("a").atop(layer("b"));
    let twice = bidi.clone().reversed().reversed();
    let echo = Flow::<String>::new();
    let input = strings(&["m"]);
    assert_eq!(
        run_flow(twice.join(echo.clone()), input.clone()).await,
        run_flow(bidi.join(echo), input).await
    );
}

#[tokio::test]
async fn a_bidi_flow_is_a_reusable_blueprint() {
    let codec = BidiFlow::from_functions(|x: i32| x + 1, |x: i32| x * 2);
    let joined = codec.clone().join(Flow::<i32>::new());
    assert_eq!(run_flow(joined.clone(), vec![1, 2]).await, vec![4, 6]);
    assert_eq!(run_flow(joined, vec![10]).await, vec![22]);
    // Closures are cloned per materialization: stateful functions start afresh each run.
    let counting = BidiFlow::from_functions(
        {
            let mut n = 0;
            move |x: i32| {
                n += 1;
                x * 100 + n
            }
        },
        |x: i32| x,
    );
    let flow = counting.join(Flow::<i32>::new());
    assert_eq!(run_flow(flow.clone(), vec![1, 2]).await, vec![101, 202]);
    assert_eq!(run_flow(flow, vec![1, 2]).await, vec![101, 202]);
}

#[tokio::test]
async fn a_joined_bidi_flow_passes_back_pressure_and_completion() {
    let bidi = BidiFlow::from_functions(|x: i32| x * 2, |x: i32| x + 1);
    let (src, sink) = TestSource::<i32>::probe()
        .via(bidi.join(Flow::<i32>::new()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    assert_eq!(src.expect_request().await, 1);
    src.send_next(5).await;
    sink.expect_next(11).await;
    sink.request(1);
    src.send_next(6).await;
    sink.expect_next(13).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test]
async fn a_joined_bidi_flow_propagates_failure_and_cancellation() {
    let bidi = BidiFlow::from_functions(|x: i32| x, |x: i32| x);
    let (src, sink) = TestSource::<i32>::probe()
        .via(bidi.clone().join(Flow::<i32>::new()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(4);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::LimitExceeded { max: 1 });
    assert!(matches!(
        sink.expect_error().await,
        StreamError::LimitExceeded { max: 1 }
    ));

    let (src, sink) = TestSource::<i32>::probe()
        .via(bidi.join(Flow::<i32>::new()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test]
async fn from_flows_mat_combines_and_atop_and_join_keep_the_left_value() {
    let tagged = |tag: &'static str| {
        BidiFlow::from_flows_mat(
            Flow::<i32>::new().map_materialized_value(move |_| tag),
            Flow::<i32>::new().map_materialized_value(move |_| tag.len()),
            |a, b| (a, b),
        )
    };
    let server = Flow::<i32>::new().map_materialized_value(|_| 'f');

    let joined = tagged("outer").atop(tagged("in")).join(server.clone());
    let (mat, out) = Source::from_iter(vec![1, 2])
        .via_mat(joined, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(mat, ("outer", 5));
    assert_eq!(out.await.unwrap(), vec![1, 2]);

    let both = tagged("outer")
        .atop_mat(tagged("in"), |a, b| (a, b))
        .join_mat(server, |ab, f| (ab, f));
    let mat = Source::<i32>::empty()
        .via_mat(both, Keep::right)
        .to(Sink::ignore())
        .run();
    assert_eq!(mat, ((("outer", 5), ("in", 2)), 'f'));
}

#[tokio::test]
async fn map_materialized_value_and_reversed_keep_the_value() {
    let bidi = BidiFlow::from_flows_mat(Flow::<i32>::new(), Flow::<i32>::new(), |_, _| 20)
        .map_materialized_value(|n| n + 1)
        .reversed();
    let mat = Source::<i32>::empty()
        .via_mat(bidi.join(Flow::new()), Keep::right)
        .to(Sink::ignore())
        .run();
    assert_eq!(mat, 21);
}

/// A layer whose two directions share state: the bottom direction tags each answer with how
/// many requests have gone out so far. Its materialized value counts the requests.
struct Tally;

struct TallyLogic {
    s: BidiShape<i32, i32, i32, (i32, usize)>,
    sent: Arc<AtomicUsize>,
}

impl GraphStage for Tally {
    type Shape = BidiShape<i32, i32, i32, (i32, usize)>;
    type Logic = TallyLogic;
    type Mat = Arc<AtomicUsize>;

    fn name(&self) -> &'static str {
        "tally"
    }

    fn shape(&self) -> Self::Shape {
        BidiShape::new("requests", "out", "answers", "tagged")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (TallyLogic, Self::Mat) {
        let sent = Arc::new(AtomicUsize::new(0));
        let logic = TallyLogic {
            s: self.shape(),
            sent: sent.clone(),
        };
        (logic, sent)
    }
}

impl StageLogic for TallyLogic {
    type Message = ();

    fn on_pull(&mut self, outlet: PortId, ctx: &mut StageContext<'_, ()>) {
        if outlet == self.s.out1 {
            ctx.try_pull(&self.s.in1);
        } else {
            ctx.try_pull(&self.s.in2);
        }
    }

    fn on_push(&mut self, inlet: PortId, ctx: &mut StageContext<'_, ()>) {
        if inlet == self.s.in1 {
            if let Some(x) = ctx.grab(&self.s.in1) {
                self.sent.fetch_add(1, Ordering::SeqCst);
                ctx.push(&self.s.out1, x);
            }
        } else if let Some(x) = ctx.grab(&self.s.in2) {
            ctx.push(&self.s.out2, (x, self.sent.load(Ordering::SeqCst)));
        }
    }

    fn on_upstream_finish(&mut self, inlet: PortId, ctx: &mut StageContext<'_, ()>) {
        if inlet == self.s.in1 {
            ctx.complete(&self.s.out1);
        } else {
            ctx.complete_stage();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn from_graph_runs_a_stage_whose_directions_share_state() {
    let server = Flow::<i32>::new().map(|x| x * 10);
    let (sent, out) = Source::from_iter(vec![1, 2, 3])
        .via_mat(BidiFlow::from_graph(Tally).join(server), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    let out = out.await.unwrap();
    assert_eq!(
        out.iter().map(|(x, _)| *x).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );
    // Each answer saw at least its own request go out; the count never goes down.
    assert!(out.iter().enumerate().all(|(i, (_, n))| *n > i));
    assert!(out.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(sent.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn build_bidi_exposes_a_graph_whose_directions_cross() {
    // A loopback layer: each request goes out and is also echoed straight back, merged with
    // the answers.
    let mut b = GraphBuilder::new();
    let fan = b.add(Broadcast::<i32>::new(2));
    let merge = b.add(Merge::<i32>::new(2));
    let (in1, out1) = b.add_flow(Flow::<i32>::new());
    b.connect(out1, fan.inlet);
    let (in2, out2) = b.add_flow(Flow::<i32>::new());
    b.connect(out2, merge.ins[0]);
    let echoed = b.via(fan.outs[1], Flow::<i32>::new().map(|x| -x));
    b.connect(echoed, merge.ins[1]);
    let loopback = b
        .build_bidi(
            BidiPorts {
                in1,
                out1: fan.outs[0],
                in2,
                out2: merge.out,
            },
            |_| "loopback",
        )
        .unwrap();

    let (tag, out) = Source::from_iter(vec![1, 2])
        .via_mat(
            loopback.join(Flow::<i32>::new().map(|x| x * 100)),
            Keep::right,
        )
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(tag, "loopback");
    let mut out = out.await.unwrap();
    out.sort();
    assert_eq!(out, vec![-2, -1, 100, 200]);
}

#[test]
fn build_bidi_reports_an_unconnected_port() {
    let mut b = GraphBuilder::new();
    let (in1, out1) = b.add_flow(Flow::<i32>::new());
    let (in2, out2) = b.add_flow(Flow::<i32>::new());
    let _dangling = b.add_flow(Flow::<i32>::new());
    let ports = BidiPorts {
        in1,
        out1,
        in2,
        out2,
    };
    assert!(matches!(
        b.build_bidi(ports, |_| ()),
        Err(GraphError::Unconnected { .. })
    ));
}

#[tokio::test]
async fn add_bidi_may_close_a_cycle_from_one_direction_into_the_other() {
    let mut b = GraphBuilder::new();
    let (ports, key) = b.add_bidi_mat(
        BidiFlow::from_functions(|x: i32| x + 1, |x: i32| x * 2).map_materialized_value(|_| 7),
    );
    let input = b.add_source(Source::from_iter(vec![1, 2, 3]));
    b.connect(input, ports.in1);
    let turned = b.via(ports.out1, Flow::<i32>::new().map(|x| x * 10));
    b.connect(turned, ports.in2);
    let (sink, seq) = b.add_sink_mat(Sink::seq());
    b.connect(ports.out2, sink);
    let (seven, out) = b.build(move |m| (m.take(key), m.take(seq))).unwrap().run();
    assert_eq!(seven, 7);
    assert_eq!(out.await.unwrap(), vec![40, 60, 80]);
}

#[test]
fn a_cycle_from_a_direction_into_itself_is_rejected() {
    let mut b = GraphBuilder::new();
    let ports = b.add_bidi(BidiFlow::from_functions(|x: i32| x, |x: i32| x));
    let merge = b.add(Merge::<i32>::new(2));
    let input = b.add_source(Source::single(1));
    b.connect(input, merge.ins[0]);
    b.connect(merge.out, ports.in1);
    b.connect(ports.out1, merge.ins[1]);
    let bottom = b.add_source(Source::single(1));
    b.connect(bottom, ports.in2);
    b.to(ports.out2, Sink::ignore());
    assert!(matches!(
        b.build(|_| ()),
        Err(GraphError::CycleWithoutBoundary { .. })
    ));
}

/// A bidi flow from a graph whose directions cross: `in1 → ×2 → out2` and `in2 → +1 → out1`.
fn crossed() -> BidiFlow<i32, i32, i32, i32> {
    let mut b = GraphBuilder::new();
    let (a_in, a_out) = b.add_flow(Flow::<i32>::new().map(|x| x * 2));
    let (b_in, b_out) = b.add_flow(Flow::<i32>::new().map(|x| x + 1));
    let ports = BidiPorts {
        in1: a_in,
        out1: b_out,
        in2: b_in,
        out2: a_out,
    };
    b.build_bidi(ports, |_| ()).unwrap()
}

#[tokio::test]
async fn a_crossed_bidi_flow_in_a_straight_line_is_accepted() {
    // source → in1 → ×2 → out2 → ×10 → in2 → +1 → out1 → sink: no cycle at all.
    let mut g = GraphBuilder::new();
    let p = g.add_bidi(crossed());
    let s = g.add_source(Source::from_iter(1..=3));
    g.connect(s, p.in1);
    let back = g.via(p.out2, Flow::<i32>::new().map(|x| x * 10));
    g.connect(back, p.in2);
    let (k, key) = g.add_sink_mat(Sink::seq());
    g.connect(p.out1, k);
    let out = g.build(move |m| m.take(key)).unwrap().run().await.unwrap();
    assert_eq!(out, vec![21, 41, 61]);
}

#[test]
fn a_fused_loop_through_a_crossed_bidi_flow_is_rejected() {
    // out2 reads in1, and out2 feeds in1 through a fused flow: a loop with no island on it.
    let mut g = GraphBuilder::new();
    let p = g.add_bidi(crossed());
    let s = g.add_source(Source::single(1));
    g.connect(s, p.in2);
    g.to(p.out1, Sink::ignore());
    let looped = g.via(p.out2, Flow::<i32>::new().map(|x| x - 1));
    g.connect(looped, p.in1);
    assert!(matches!(
        g.build(|_| ()),
        Err(GraphError::CycleWithoutBoundary { .. })
    ));
}

#[test]
fn build_bidi_rejects_a_port_given_twice() {
    let mut b = GraphBuilder::new();
    let (in1, out1) = b.add_flow(Flow::<String>::new());
    let (in2, _out2) = b.add_flow(Flow::<String>::new());
    let ports = BidiPorts {
        in1,
        out1,
        in2,
        out2: out1,
    };
    assert!(matches!(
        b.build_bidi(ports, |_| ()),
        Err(GraphError::ConnectedTwice { .. })
    ));
}

#[tokio::test]
async fn stacked_straight_layers_keep_their_directions_apart_in_a_graph() {
    // Two straight layers stacked stay straight: a loop from out1 into in2 is fine.
    let mut g = GraphBuilder::new();
    let p = g.add_bidi(layer("a").atop(layer("b")).reversed().reversed());
    let s = g.add_source(Source::single("x".to_string()));
    g.connect(s, p.in1);
    let turned = g.via(p.out1, Flow::<String>::new().map(|s| format!("{s} |")));
    g.connect(turned, p.in2);
    let (k, key) = g.add_sink_mat(Sink::seq());
    g.connect(p.out2, k);
    let out = g.build(move |m| m.take(key)).unwrap().run().await.unwrap();
    assert_eq!(out, strings(&["x >a >b | <b <a"]));
}

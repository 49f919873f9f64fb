//! Custom stages of every shape in the graph builder (`GraphBuilder::add_stage`): several
//! outlets, `n` inlets, `n` outlets, two directions, a shape of the user's own, a stage on a
//! cycle, and shapes whose port ids are wrong.

use std::collections::VecDeque;
use std::time::Duration;

use weir::builder::{GraphBuilder, GraphError, In, Out};
use weir::custom::{
    AsyncCallback, BidiShape, CallbackError, FanInShapeN, FanOutShape2, FanOutShapeN, FlowShape,
    GraphPorts, GraphStage, Inlet, Outlet, PortId, PortList, SourceShape, StageContext, StageLogic,
    StageShape,
};
use weir::junctions::Merge;
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::Attributes;

/// Sends each number to `evens` or `odds`; pulls only when both outlets can take one.
struct Split {
    /// Misbehave: after the first element, complete `evens` and push to it anyway.
    push_after_complete: bool,
}

struct SplitLogic {
    s: FanOutShape2<u32, u32, u32>,
    push_after_complete: bool,
}

impl GraphStage for Split {
    type Shape = FanOutShape2<u32, u32, u32>;
    type Logic = SplitLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "split"
    }

    fn shape(&self) -> Self::Shape {
        FanOutShape2::new("numbers", "evens", "odds")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (SplitLogic, ()) {
        let logic = SplitLogic {
            s: self.shape(),
            push_after_complete: self.push_after_complete,
        };
        (logic, ())
    }
}

impl StageLogic for SplitLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if ctx.is_available_out(&self.s.out0) && ctx.is_available_out(&self.s.out1) {
            ctx.try_pull(&self.s.inlet);
        }
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let Some(n) = ctx.grab(&self.s.inlet) else {
            return;
        };
        if self.push_after_complete {
            ctx.complete(&self.s.out0);
            ctx.push(&self.s.out0, n);
            return;
        }
        let out = if n % 2 == 0 { self.s.out0 } else { self.s.out1 };
        ctx.push(&out, n);
        if ctx.is_available_out(&self.s.out0) && ctx.is_available_out(&self.s.out1) {
            ctx.try_pull(&self.s.inlet);
        }
    }
}

/// Probes around a stage's one inlet and two outlets in `b`, run with `attrs`.
fn probed<I, A, B>(
    mut b: GraphBuilder,
    inlet: In<I>,
    out0: Out<A>,
    out1: Out<B>,
    attrs: Attributes,
) -> (SourceProbe<I>, SinkProbe<A>, SinkProbe<B>)
where
    I: Send + 'static,
    A: Send + 'static,
    B: Send + 'static,
{
    let (src, ks) = b.add_source_mat(TestSource::<I>::probe());
    b.connect(src, inlet);
    let (s0, k0) = b.add_sink_mat(TestSink::probe());
    let (s1, k1) = b.add_sink_mat(TestSink::probe());
    b.connect(out0, s0);
    b.connect(out1, s1);
    b.build(move |m| (m.take(ks), m.take(k0), m.take(k1)))
        .expect("a closed graph")
        .with_attributes(attrs)
        .run()
}

/// The `Split` stage between probes: evens on the first sink, odds on the second.
fn split(
    push_after_complete: bool,
    attrs: Attributes,
) -> (SourceProbe<u32>, SinkProbe<u32>, SinkProbe<u32>) {
    let mut b = GraphBuilder::new();
    let (split, _) = b.add_stage(Split {
        push_after_complete,
    });
    probed(b, split.inlet, split.out0, split.out1, attrs)
}

#[tokio::test(start_paused = true)]
async fn a_two_outlet_stage_routes_each_element_and_completes_both_outlets() {
    let (src, evens, odds) = split(false, Attributes::none());

    evens.request(10);
    odds.request(10);
    for n in 1..=5 {
        src.send_next(n).await;
    }
    evens.expect_next_n(vec![2, 4]).await;
    odds.expect_next_n(vec![1, 3, 5]).await;
    src.send_complete();
    evens.expect_complete().await;
    odds.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn a_two_outlet_stage_waits_for_demand_on_both_outlets() {
    let (src, evens, odds) = split(false, Attributes::input_buffer(1));

    // Only `evens` asks: the stage's outlets hold one element each, so it pulls once, then
    // waits for `odds` to make room.
    evens.request(5);
    src.send_next(1).await;
    evens.expect_no_message(Duration::from_millis(100)).await;
    assert_eq!(src.pending_demand(), 0, "pulled while `odds` had no room");
    odds.request(1);
    odds.expect_next(1).await;
    src.send_next(2).await;
    evens.expect_next(2).await;
    odds.cancel();
    evens.cancel();
    src.expect_cancellation().await;
}

/// Pushing to an outlet the stage completed is misuse; the failure reaches the other outlet,
/// naming the stage and the port.
#[tokio::test(start_paused = true)]
async fn push_to_a_closed_outlet_fails_the_other_outlets_naming_stage_and_port() {
    let (src, evens, odds) = split(true, Attributes::none());

    evens.request(1);
    odds.request(1);
    src.send_next(7).await;
    evens.expect_complete().await;
    match odds.expect_error().await {
        StreamError::StageMisuse {
            stage,
            port,
            problem,
        } => {
            assert_eq!(stage, "split");
            assert_eq!(port, "evens");
            assert_eq!(problem, "push to a closed port");
        }
        other => panic!("expected StageMisuse, got {other:?}"),
    }
    src.expect_cancellation().await;
}

/// Round-robin over `n` inlets: one element from each live inlet in turn (Akka's `Interleave`
/// with segment 1), completing when all inlets have.
struct RoundRobin(usize);

struct RoundRobinLogic {
    s: FanInShapeN<i32, i32>,
    /// Inlets in the order they get their turn; an inlet leaves when it finishes.
    turns: VecDeque<usize>,
    waiting: bool,
}

impl GraphStage for RoundRobin {
    type Shape = FanInShapeN<i32, i32>;
    type Logic = RoundRobinLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "round robin"
    }

    fn shape(&self) -> Self::Shape {
        FanInShapeN::new(self.0, "in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (RoundRobinLogic, ()) {
        let logic = RoundRobinLogic {
            s: self.shape(),
            turns: (0..self.0).collect(),
            waiting: false,
        };
        (logic, ())
    }
}

impl RoundRobinLogic {
    fn next(&mut self, ctx: &mut StageContext<'_, ()>) {
        match self.turns.front() {
            Some(&i) => {
                ctx.pull(&self.s.ins[i]);
                self.waiting = true;
            }
            None => ctx.complete_stage(),
        }
    }
}

impl StageLogic for RoundRobinLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        self.next(ctx);
    }

    fn on_push(&mut self, inlet: PortId, ctx: &mut StageContext<'_, ()>) {
        let i = self.s.ins.iter().position(|p| inlet == *p).unwrap();
        if let Some(x) = ctx.grab(&self.s.ins[i]) {
            self.waiting = false;
            self.turns.rotate_left(1);
            ctx.push(&self.s.out, x);
        }
    }

    fn on_upstream_finish(&mut self, inlet: PortId, ctx: &mut StageContext<'_, ()>) {
        // Any inlet may finish, pulled or not (as in Akka); only the awaited one moves the turn.
        let awaited = self.waiting && self.turns.front().is_some_and(|&i| inlet == self.s.ins[i]);
        self.turns.retain(|&i| inlet != self.s.ins[i]);
        if awaited {
            self.waiting = false;
            self.next(ctx);
        } else if self.turns.is_empty() {
            ctx.complete_stage();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_n_inlet_stage_takes_turns_and_completes_after_every_inlet() {
    let mut b = GraphBuilder::new();
    let (rr, _) = b.add_stage(RoundRobin(3));
    let inputs = [vec![1, 2, 3], vec![10], vec![100, 200]];
    for (inlet, xs) in rr.ins.iter().zip(inputs) {
        let s = b.add_source(Source::from_iter(xs));
        b.connect(s, *inlet);
    }
    let (sink, seq) = b.add_sink_mat(Sink::seq());
    b.connect(rr.out, sink);
    let got = b.build(move |m| m.take(seq)).unwrap().run().await.unwrap();
    assert_eq!(got, vec![1, 10, 100, 2, 200, 3]);
}

/// Deals elements to `n` outlets in turn, each element to the next outlet that has demand.
struct Deal(usize);

struct DealLogic {
    s: FanOutShapeN<char, char>,
    next: usize,
}

impl GraphStage for Deal {
    type Shape = FanOutShapeN<char, char>;
    type Logic = DealLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "deal"
    }

    fn shape(&self) -> Self::Shape {
        FanOutShapeN::new(self.0, "cards", "hand")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (DealLogic, ()) {
        (
            DealLogic {
                s: self.shape(),
                next: 0,
            },
            (),
        )
    }
}

impl StageLogic for DealLogic {
    type Message = ();

    fn on_pull(&mut self, outlet: PortId, ctx: &mut StageContext<'_, ()>) {
        if outlet == self.s.outs[self.next] {
            ctx.try_pull(&self.s.inlet);
        }
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(c) = ctx.grab(&self.s.inlet) {
            ctx.push(&self.s.outs[self.next], c);
            self.next = (self.next + 1) % self.s.outs.len();
            if ctx.is_available_out(&self.s.outs[self.next]) {
                ctx.pull(&self.s.inlet);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_n_outlet_stage_deals_in_turn() {
    let mut b = GraphBuilder::new();
    let (deal, _) = b.add_stage(Deal(3));
    let cards = b.add_source(Source::from_iter("abcdefg".chars()));
    b.connect(cards, deal.inlet);
    let keys: Vec<_> = deal
        .outs
        .iter()
        .map(|out| {
            let (sink, key) = b.add_sink_mat(Sink::seq());
            b.connect(*out, sink);
            key
        })
        .collect();
    let hands = b
        .build(move |m| keys.iter().map(|k| m.take(*k)).collect::<Vec<_>>())
        .unwrap()
        .run();
    let mut got = Vec::new();
    for hand in hands {
        got.push(hand.await.unwrap().into_iter().collect::<String>());
    }
    assert_eq!(got, vec!["adg", "be", "cf"]);
}

/// A client-side protocol layer whose two directions share state: requests go out numbered,
/// responses come back paired with the request they answer.
struct Correlate;

/// Requests out as `(id, request)`, answers in as `(id, answer)`, out as `(request, answer)`.
type CorrelateShape = BidiShape<String, (u64, String), (u64, String), (String, String)>;

struct CorrelateLogic {
    s: CorrelateShape,
    next_id: u64,
    outstanding: Vec<(u64, String)>,
}

impl GraphStage for Correlate {
    type Shape = CorrelateShape;
    type Logic = CorrelateLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "correlate"
    }

    fn shape(&self) -> Self::Shape {
        BidiShape::new("requests", "numbered", "answers", "paired")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (CorrelateLogic, ()) {
        let logic = CorrelateLogic {
            s: self.shape(),
            next_id: 0,
            outstanding: Vec::new(),
        };
        (logic, ())
    }
}

impl StageLogic for CorrelateLogic {
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
            if let Some(request) = ctx.grab(&self.s.in1) {
                self.next_id += 1;
                self.outstanding.push((self.next_id, request.clone()));
                ctx.push(&self.s.out1, (self.next_id, request));
            }
        } else if let Some((id, answer)) = ctx.grab(&self.s.in2) {
            let at = self.outstanding.iter().position(|(i, _)| *i == id);
            let request = at.map_or_else(|| "?".into(), |at| self.outstanding.remove(at).1);
            ctx.push(&self.s.out2, (request, answer));
        }
    }

    fn on_upstream_finish(&mut self, inlet: PortId, ctx: &mut StageContext<'_, ()>) {
        // The requests ending closes the request direction; answers still come back.
        if inlet == self.s.in1 {
            ctx.complete(&self.s.out1);
        } else {
            ctx.complete_stage();
        }
    }
}

/// The bidi stage joined with a "server" inside one builder: a cycle through the stage alone.
#[tokio::test(start_paused = true)]
async fn a_bidi_stage_on_a_cycle_pairs_each_answer_with_its_request() {
    let mut b = GraphBuilder::new();
    let (layer, _) = b.add_stage(Correlate);
    let requests = b.add_source(Source::from_iter(["hi", "bye"].map(String::from)));
    b.connect(requests, layer.in1);
    let server = Flow::<(u64, String)>::new().map(|(id, r)| (id, r.to_uppercase()));
    let answers = b.via(layer.out1, server);
    b.connect(answers, layer.in2);
    let (sink, seq) = b.add_sink_mat(Sink::seq());
    b.connect(layer.out2, sink);
    let got = b.build(move |m| m.take(seq)).unwrap().run().await.unwrap();
    assert_eq!(
        got,
        vec![
            ("hi".to_string(), "HI".to_string()),
            ("bye".to_string(), "BYE".to_string())
        ]
    );
}

/// A shape of the user's own: a countdown with its feedback arc on a second outlet.
struct CountdownShape {
    numbers: Inlet<u32>,
    done: Outlet<u32>,
    again: Outlet<u32>,
}

impl StageShape for CountdownShape {
    type Handles = (In<u32>, Out<u32>, Out<u32>);

    fn declare(&self, ports: &mut PortList<'_>) {
        ports.inlet(&self.numbers);
        ports.outlet(&self.done);
        ports.outlet(&self.again);
    }

    fn handles(&self, g: &GraphPorts) -> Self::Handles {
        (
            g.inlet(&self.numbers),
            g.outlet(&self.done),
            g.outlet(&self.again),
        )
    }
}

/// Emits each number on `done`, and its predecessor on `again` while it is above zero.
struct Countdown;

struct CountdownLogic(CountdownShape);

impl GraphStage for Countdown {
    type Shape = CountdownShape;
    type Logic = CountdownLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "countdown"
    }

    fn shape(&self) -> CountdownShape {
        CountdownShape {
            numbers: Inlet::new(0, "numbers"),
            done: Outlet::new(0, "done"),
            again: Outlet::new(1, "again"),
        }
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (CountdownLogic, ()) {
        (CountdownLogic(self.shape()), ())
    }
}

impl StageLogic for CountdownLogic {
    type Message = ();

    fn on_pull(&mut self, outlet: PortId, ctx: &mut StageContext<'_, ()>) {
        if outlet == self.0.done {
            ctx.try_pull(&self.0.numbers);
        }
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(n) = ctx.grab(&self.0.numbers) {
            ctx.push(&self.0.done, n);
            if n > 0 {
                ctx.emit(&self.0.again, n - 1);
            } else {
                ctx.complete_stage();
            }
        }
    }
}

/// Merge → countdown → Merge: the cycle runs through the custom stage, no fan-out junction.
#[tokio::test(start_paused = true)]
async fn a_user_shape_with_a_feedback_outlet_runs_on_a_cycle() {
    let mut b = GraphBuilder::new();
    let merge = b.add(Merge::<u32>::new(2));
    let (countdown, done, again) = b.add_stage(Countdown).0;
    let start = b.add_source(Source::single(3u32));
    b.connect(start, merge.ins[0]);
    b.connect(again, merge.ins[1]);
    b.connect(merge.out, countdown);
    let (sink, seq) = b.add_sink_mat(Sink::seq());
    b.connect(done, sink);
    let got = b.build(move |m| m.take(seq)).unwrap().run().await.unwrap();
    assert_eq!(got, vec![3, 2, 1, 0]);
}

/// Passes elements through; its shape's ids are set by the test.
struct Misnumbered {
    inlet: usize,
    out: usize,
}

struct PassLogic(FlowShape<i32, i32>);

impl GraphStage for Misnumbered {
    type Shape = FlowShape<i32, i32>;
    type Logic = PassLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "misnumbered"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape {
            inlet: Inlet::new(self.inlet, "in"),
            out: Outlet::new(self.out, "out"),
        }
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (PassLogic, ()) {
        (PassLogic(self.shape()), ())
    }
}

impl StageLogic for PassLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        ctx.pull(&self.0.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(x) = ctx.grab(&self.0.inlet) {
            ctx.push(&self.0.out, x);
        }
    }
}

#[test]
fn a_shape_with_a_wrong_port_id_is_a_build_error() {
    let mut b = GraphBuilder::new();
    let ((inlet, out), _) = b.add_stage(Misnumbered { inlet: 0, out: 2 });
    let s = b.add_source(Source::single(1));
    b.connect(s, inlet);
    b.to(out, Sink::ignore());
    assert_eq!(
        b.build(|_| ()).err(),
        Some(GraphError::InvalidShape {
            stage: "misnumbered",
            port: "out",
            problem: "outlet id differs from its place among the outlets",
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_blueprint_from_a_misnumbered_shape_fails_naming_the_port() {
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(Misnumbered { inlet: 1, out: 0 }))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    match sink.expect_error().await {
        StreamError::StageMisuse { stage, port, .. } => {
            assert_eq!((stage.as_ref(), port), ("misnumbered", "in"));
        }
        other => panic!("expected StageMisuse, got {other:?}"),
    }
    src.expect_cancellation().await;
}

/// Emits what its callback receives; on `0` it emits a burst and completes behind it.
struct Mailbox;

struct MailboxLogic(SourceShape<u32>);

impl GraphStage for Mailbox {
    type Shape = SourceShape<u32>;
    type Logic = MailboxLogic;
    type Mat = AsyncCallback<u32>;

    fn name(&self) -> &'static str {
        "mailbox"
    }

    fn shape(&self) -> Self::Shape {
        SourceShape::new("out")
    }

    fn create_logic(&self, _: &Attributes, cb: AsyncCallback<u32>) -> (MailboxLogic, Self::Mat) {
        (MailboxLogic(self.shape()), cb)
    }
}

impl StageLogic for MailboxLogic {
    type Message = u32;

    fn on_message(&mut self, n: u32, ctx: &mut StageContext<'_, u32>) {
        if n == 0 {
            ctx.emit_multiple(&self.0.out, vec![1, 2, 3]);
            ctx.complete_stage();
        } else {
            ctx.emit(&self.0.out, n);
        }
    }
}

/// Once `complete_stage` is called no handler runs again, so the callback refuses values even
/// while queued emits still drain.
#[tokio::test(start_paused = true)]
async fn the_callback_refuses_values_once_the_stage_is_completing() {
    let (cb, sink) = Source::from_graph(Mailbox)
        .to_mat(TestSink::probe(), Keep::both)
        .with_attributes(Attributes::input_buffer(1))
        .run();
    cb.invoke(0).unwrap();
    sink.request(1);
    sink.expect_next(1).await;
    assert!(matches!(cb.invoke(9), Err(CallbackError::StageStopped(9))));
    sink.request(5);
    sink.expect_next_n(vec![2, 3]).await;
    sink.expect_complete().await;
}

/// Broadcasts to two outlets; when one cancels it goes on with the other (overriding the
/// default, which completes the stage). Fails the stage with its own error on a negative
/// number.
struct Tee;

struct TeeLogic(FanOutShapeN<i32, i32>);

/// A stage's own failure.
#[derive(Debug)]
struct Negative(i32);

impl std::fmt::Display for Negative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "negative: {}", self.0)
    }
}

impl std::error::Error for Negative {}

impl GraphStage for Tee {
    type Shape = FanOutShapeN<i32, i32>;
    type Logic = TeeLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "tee"
    }

    fn shape(&self) -> Self::Shape {
        FanOutShapeN::new(2, "in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (TeeLogic, ()) {
        (TeeLogic(self.shape()), ())
    }
}

impl TeeLogic {
    fn pull_if_ready(&mut self, ctx: &mut StageContext<'_, ()>) {
        let outs = self.0.outs.clone();
        let ready = outs
            .iter()
            .all(|o| ctx.is_closed_out(o) || ctx.is_available_out(o));
        if ready {
            ctx.try_pull(&self.0.inlet);
        }
    }
}

impl StageLogic for TeeLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        self.pull_if_ready(ctx);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let Some(x) = ctx.grab(&self.0.inlet) else {
            return;
        };
        if x < 0 {
            ctx.fail_stage(StreamError::failed(Negative(x)));
            return;
        }
        for o in self.0.outs.clone() {
            if !ctx.is_closed_out(&o) {
                ctx.push(&o, x);
            }
        }
        self.pull_if_ready(ctx);
    }

    fn on_downstream_finish(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        // Keep serving the other outlet; the stage stops once both are closed.
        self.pull_if_ready(ctx);
    }
}

fn tee() -> (SourceProbe<i32>, SinkProbe<i32>, SinkProbe<i32>) {
    let mut b = GraphBuilder::new();
    let (t, _) = b.add_stage(Tee);
    probed(b, t.inlet, t.outs[0], t.outs[1], Attributes::none())
}

#[tokio::test(start_paused = true)]
async fn an_overridden_on_downstream_finish_keeps_the_stage_serving_the_other_outlet() {
    let (src, a, b) = tee();
    a.request(5);
    b.request(5);
    src.send_next(1).await;
    a.expect_next(1).await;
    b.expect_next(1).await;
    a.cancel();
    src.send_next(2).await;
    b.expect_next(2).await;
    src.send_complete();
    b.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn fail_stage_with_the_stages_own_error_fails_every_outlet_and_cancels_the_inlet() {
    let (src, a, b) = tee();
    a.request(5);
    b.request(5);
    src.send_next(3).await;
    a.expect_next(3).await;
    b.expect_next(3).await;
    src.send_next(-4).await;
    for out in [&a, &b] {
        match out.expect_error().await {
            StreamError::Failed(cause) => assert_eq!(cause.to_string(), "negative: -4"),
            other => panic!("expected the stage's own failure, got {other:?}"),
        }
    }
    src.expect_cancellation().await;
}

/// A shape whose `handles` hands out an outlet that `declare` does not list.
struct GhostShape {
    inlet: Inlet<i32>,
    out: Outlet<i32>,
}

impl StageShape for GhostShape {
    type Handles = (In<i32>, Out<i32>, Out<i32>);

    fn declare(&self, ports: &mut PortList<'_>) {
        ports.inlet(&self.inlet);
        ports.outlet(&self.out);
    }

    fn handles(&self, g: &GraphPorts) -> Self::Handles {
        let ghost = Outlet::<i32>::new(5, "ghost");
        (g.inlet(&self.inlet), g.outlet(&self.out), g.outlet(&ghost))
    }
}

struct Ghostly;

impl GraphStage for Ghostly {
    type Shape = GhostShape;
    type Logic = PassLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "ghostly"
    }

    fn shape(&self) -> GhostShape {
        GhostShape {
            inlet: Inlet::new(0, "in"),
            out: Outlet::new(0, "out"),
        }
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (PassLogic, ()) {
        let s = self.shape();
        (
            PassLogic(FlowShape {
                inlet: s.inlet,
                out: s.out,
            }),
            (),
        )
    }
}

#[test]
fn connecting_a_port_the_shape_does_not_declare_is_a_build_error() {
    let mut b = GraphBuilder::new();
    let ((inlet, out, ghost), _) = b.add_stage(Ghostly);
    let s = b.add_source(Source::single(1));
    b.connect(s, inlet);
    b.to(out, Sink::ignore());
    b.to(ghost, Sink::ignore());
    assert!(matches!(
        b.build(|_| ()),
        Err(GraphError::InvalidShape {
            stage: "ghostly",
            ..
        })
    ));
}

/// A failure needs no pull: an inlet the stage is not pulling still reports it (Akka's
/// `onUpstreamFailure`), and the default handler fails the stage at once.
#[tokio::test(start_paused = true)]
async fn an_inlet_that_is_not_pulled_still_reports_its_upstream_failure() {
    let mut b = GraphBuilder::new();
    let (rr, _) = b.add_stage(RoundRobin(2));
    let (first, k0) = b.add_source_mat(TestSource::<i32>::probe());
    let (second, k1) = b.add_source_mat(TestSource::<i32>::probe());
    b.connect(first, rr.ins[0]);
    b.connect(second, rr.ins[1]);
    let (sink, ks) = b.add_sink_mat(TestSink::probe());
    b.connect(rr.out, sink);
    let (first, second, sink) = b
        .build(move |m| (m.take(k0), m.take(k1), m.take(ks)))
        .unwrap()
        .run();
    sink.request(5);
    // The stage waits on the first inlet's turn; the second is never pulled.
    second.send_error(StreamError::failed(Negative(-1)));
    match sink.expect_error().await {
        StreamError::Failed(cause) => assert_eq!(cause.to_string(), "negative: -1"),
        other => panic!("expected the upstream failure, got {other:?}"),
    }
    first.expect_cancellation().await;
}

/// A sink stage that never pulls; it reports when its upstream finishes.
struct NeverPulls(std::sync::mpsc::Sender<&'static str>);

struct NeverPullsLogic(std::sync::mpsc::Sender<&'static str>);

impl GraphStage for NeverPulls {
    type Shape = weir::custom::SinkShape<i32>;
    type Logic = NeverPullsLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "never pulls"
    }

    fn shape(&self) -> Self::Shape {
        weir::custom::SinkShape::new("in")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (NeverPullsLogic, ()) {
        (NeverPullsLogic(self.0.clone()), ())
    }
}

impl StageLogic for NeverPullsLogic {
    type Message = ();

    fn on_upstream_finish(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let _ = self.0.send("finished");
        ctx.complete_stage();
    }
}

/// Completion needs no pull either (Akka's `onUpstreamFinish`).
#[tokio::test(start_paused = true)]
async fn an_inlet_that_is_not_pulled_still_reports_its_upstream_finishing() {
    let (tx, rx) = std::sync::mpsc::channel();
    let src = TestSource::<i32>::probe()
        .to(Sink::from_graph(NeverPulls(tx)))
        .run();
    src.send_complete();
    for _ in 0..100 {
        if rx.try_recv() == Ok("finished") {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("on_upstream_finish never ran");
}

/// Completion passes through a stateless operator that was never pulled, too.
#[tokio::test(start_paused = true)]
async fn completion_reaches_an_unpulled_inlet_through_a_map() {
    let (tx, rx) = std::sync::mpsc::channel();
    let src = TestSource::<i32>::probe()
        .map(|x| x + 1)
        .to(Sink::from_graph(NeverPulls(tx)))
        .run();
    src.send_complete();
    for _ in 0..100 {
        if rx.try_recv() == Ok("finished") {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("on_upstream_finish never ran");
}

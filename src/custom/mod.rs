//! Custom stages: typed ports, push/pull handlers, timers and async callbacks (Akka's
//! `GraphStage`); the user tier of the stage API.
//!
//! A [`GraphStage`] is an immutable blueprint: it declares its [shape](StageShape) (typed
//! [`Inlet`]s and [`Outlet`]s: [`SourceShape`], [`FlowShape`], [`SinkShape`], [`FanInShape2`],
//! [`FanInShapeN`], [`FanOutShape2`], [`FanOutShapeN`], [`BidiShape`], [`ClosedShape`], or one
//! of your own) and creates a fresh [`StageLogic`] and materialized value for every
//! materialization. All mutable state lives in the logic. Any stage goes into a graph with
//! [`GraphBuilder::add_stage`](crate::builder::GraphBuilder::add_stage); the fixed shapes
//! also make blueprints (`Source`/`Flow`/`Sink`/`BidiFlow`/`RunnableGraph::from_graph`).
//!
//! # Lifecycle
//! - `pre_start` runs first. Handlers then run one at a time, on the stage's own task (a custom
//!   stage is an island of its own): the logic is `&mut self` and needs no locks.
//! - Demand: `pull(inlet)` asks for one element; `on_push(inlet)` says it arrived and `grab`
//!   takes it. `on_pull(outlet)` says the outlet can take one element; `push` gives it, once.
//!   `emit` pushes when possible and queues otherwise.
//! - Buffers: each outlet feeds downstream through a bounded buffer of the `input_buffer`
//!   attribute's size (default 16), and each inlet prefetches as much, as at an Akka async
//!   boundary. So `on_pull` means "the outlet's buffer has room", which runs ahead of the
//!   downstream's own requests by up to that many elements; set `Attributes::input_buffer(1)`
//!   for a stage that must push only what downstream has asked for.
//! - Termination: by default an upstream finish completes the stage, an upstream failure fails
//!   it, and a downstream cancellation completes it (as in Akka). The stage also stops when all
//!   its ports are closed, unless `set_keep_going(true)`. `post_stop` runs exactly once on every
//!   kind of termination, including an aborted task. Once `complete_stage` or `fail_stage` is
//!   called no handler runs, and the async callback reports `StageStopped`.
//! - Upstream termination needs no pull (as in Akka): `on_upstream_finish` runs once the
//!   upstream has completed and the elements the inlet prefetched are gone, pulled or not, and
//!   `on_upstream_failure` runs as soon as the stage learns of the failure, ahead of prefetched
//!   elements. (A stage learns of them from upstreams that can tell without being pulled:
//!   boundaries, other stages' outlets, stateless operators in between.)
//! - Misuse of the API fails the stage with [`StreamError::StageMisuse`](crate::StreamError),
//!   naming the stage and the port; it never panics or hangs. A panic in a handler fails the
//!   stage with `StreamError::Panicked`.
//!
//! The low tier, used by the library's own operators and junctions, is
//! [`stage::Pull`](crate::stage::Pull): fused, batched, and unchecked.

mod context;
mod driver;
mod ports;
mod shape;
mod timers;

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use context::StageContext;
pub use ports::{Inlet, Outlet, PortId};
pub use shape::{GraphPorts, PortList, StageShape};
pub use timers::TimerKey;

use crate::builder::{take_pull, AnyPull, Attach, In, Out};
use crate::stage::BoxPull;
use crate::{Attributes, Flow, Materializer, Sink, Source, StreamError};
use driver::StageIsland;

/// How many async-callback messages may wait for the stage before `invoke` reports
/// [`CallbackError::Full`].
pub const CALLBACK_CAPACITY: usize = 256;

/// The handlers of a running custom stage (Akka's `GraphStageLogic` with its port handlers).
///
/// Every handler has a default; implement the ones your ports need. `PortId`s compare equal to
/// the stage's `Inlet`s and `Outlet`s: `if port == self.shape.in0 { .. }`.
pub trait StageLogic: Send + 'static {
    /// Values delivered through the stage's [`AsyncCallback`] (use `()` when unused).
    type Message: Send + 'static;

    /// Runs before any other handler.
    fn pre_start(&mut self, _ctx: &mut StageContext<'_, Self::Message>) {}

    /// An element arrived on `inlet`; `grab` it.
    fn on_push(&mut self, _inlet: PortId, _ctx: &mut StageContext<'_, Self::Message>) {}

    /// `inlet`'s upstream completed. Default: complete the stage (for one of the shape's
    /// inlets; nothing for a [sub-stream inlet](StageContext::sub_sink_inlet)).
    fn on_upstream_finish(&mut self, inlet: PortId, ctx: &mut StageContext<'_, Self::Message>) {
        if !ctx.is_sub_inlet(inlet) {
            ctx.complete_stage();
        }
    }

    /// `inlet`'s upstream failed. Default: fail the stage.
    fn on_upstream_failure(
        &mut self,
        _inlet: PortId,
        error: StreamError,
        ctx: &mut StageContext<'_, Self::Message>,
    ) {
        ctx.fail_stage(error);
    }

    /// Downstream of `outlet` wants an element.
    fn on_pull(&mut self, _outlet: PortId, _ctx: &mut StageContext<'_, Self::Message>) {}

    /// Downstream of `outlet` cancelled. Default: complete the stage (for one of the shape's
    /// outlets; nothing for a [sub-stream outlet](StageContext::sub_source_outlet)).
    fn on_downstream_finish(&mut self, outlet: PortId, ctx: &mut StageContext<'_, Self::Message>) {
        if !ctx.is_sub_outlet(outlet) {
            ctx.complete_stage();
        }
    }

    /// The timer `key` fired.
    fn on_timer(&mut self, _key: TimerKey, _ctx: &mut StageContext<'_, Self::Message>) {}

    /// A value arrived through the stage's [`AsyncCallback`].
    fn on_message(&mut self, _message: Self::Message, _ctx: &mut StageContext<'_, Self::Message>) {}

    /// Runs once when the stage stops, however it stops.
    fn post_stop(&mut self) {}
}

/// A custom stage blueprint (Akka's `GraphStageWithMaterializedValue`).
pub trait GraphStage: Send + Sync + 'static {
    /// The stage's ports.
    type Shape: StageShape;
    /// The logic created per materialization.
    type Logic: StageLogic;
    /// The materialized value.
    type Mat: 'static;

    /// The stage's name, used in errors and logs.
    fn name(&self) -> &'static str;

    /// The ports; the same on every call.
    fn shape(&self) -> Self::Shape;

    /// A fresh logic and materialized value. `callback` delivers values into
    /// [`StageLogic::on_message`] from any task or thread; keep it in the materialized value to
    /// let the outside talk to the running stage.
    ///
    /// # Panics
    /// This runs while the graph is materialized, before anything streams: a panic here
    /// propagates out of `run` (as an exception in Akka's `createLogic` fails materialization).
    /// Put fallible work in `pre_start`, where a panic fails the stage.
    fn create_logic(
        &self,
        attrs: &Attributes,
        callback: AsyncCallback<<Self::Logic as StageLogic>::Message>,
    ) -> (Self::Logic, Self::Mat);
}

/// A handle that delivers values into a running stage's `on_message`, from any task or thread
/// (Akka's `AsyncCallback`). Values sent before the stage starts wait for it (up to
/// [`CALLBACK_CAPACITY`]); after it stops, sending fails with [`CallbackError::StageStopped`].
pub struct AsyncCallback<M> {
    tx: mpsc::Sender<M>,
}

impl<M> Clone for AsyncCallback<M> {
    fn clone(&self) -> Self {
        AsyncCallback {
            tx: self.tx.clone(),
        }
    }
}

impl<M> fmt::Debug for AsyncCallback<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCallback").finish_non_exhaustive()
    }
}

/// Why an [`AsyncCallback`] did not deliver a value; the value is handed back.
pub enum CallbackError<M> {
    /// [`CALLBACK_CAPACITY`] values are already waiting; retry or use `invoke_async`.
    Full(M),
    /// The stage has stopped.
    StageStopped(M),
}

impl<M> CallbackError<M> {
    /// The value that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            CallbackError::Full(m) | CallbackError::StageStopped(m) => m,
        }
    }
}

impl<M> fmt::Debug for CallbackError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::Full(_) => f.write_str("Full(..)"),
            CallbackError::StageStopped(_) => f.write_str("StageStopped(..)"),
        }
    }
}

impl<M> fmt::Display for CallbackError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::Full(_) => f.write_str("stage callback queue is full"),
            CallbackError::StageStopped(_) => f.write_str("stage stopped"),
        }
    }
}

impl<M> std::error::Error for CallbackError<M> {}

impl<M: Send> AsyncCallback<M> {
    /// Delivers `message` without waiting.
    pub fn invoke(&self, message: M) -> Result<(), CallbackError<M>> {
        self.tx.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(m) => CallbackError::Full(m),
            mpsc::error::TrySendError::Closed(m) => CallbackError::StageStopped(m),
        })
    }

    /// Delivers `message`, waiting for room in the queue.
    pub async fn invoke_async(&self, message: M) -> Result<(), CallbackError<M>> {
        self.tx
            .send(message)
            .await
            .map_err(|e| CallbackError::StageStopped(e.0))
    }
}

/// The shape of a stage with no ports: it runs on timers and async callbacks alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClosedShape;

/// The shape of a stage with one outlet.
#[derive(Debug, Clone, Copy)]
pub struct SourceShape<O> {
    /// The outlet.
    pub out: Outlet<O>,
}

/// The shape of a stage with one inlet and one outlet.
#[derive(Debug, Clone, Copy)]
pub struct FlowShape<I, O> {
    /// The inlet.
    pub inlet: Inlet<I>,
    /// The outlet.
    pub out: Outlet<O>,
}

/// The shape of a stage with one inlet.
#[derive(Debug, Clone, Copy)]
pub struct SinkShape<I> {
    /// The inlet.
    pub inlet: Inlet<I>,
}

/// The shape of a stage with two inlets of different types and one outlet.
#[derive(Debug, Clone, Copy)]
pub struct FanInShape2<A, B, O> {
    /// The first inlet.
    pub in0: Inlet<A>,
    /// The second inlet.
    pub in1: Inlet<B>,
    /// The outlet.
    pub out: Outlet<O>,
}

impl<O> SourceShape<O> {
    /// A shape with an outlet named `out`.
    pub fn new(out: &'static str) -> Self {
        SourceShape {
            out: Outlet::new(0, out),
        }
    }
}

impl<I, O> FlowShape<I, O> {
    /// A shape with the given port names.
    pub fn new(inlet: &'static str, out: &'static str) -> Self {
        FlowShape {
            inlet: Inlet::new(0, inlet),
            out: Outlet::new(0, out),
        }
    }
}

impl<I> SinkShape<I> {
    /// A shape with an inlet named `inlet`.
    pub fn new(inlet: &'static str) -> Self {
        SinkShape {
            inlet: Inlet::new(0, inlet),
        }
    }
}

impl<A, B, O> FanInShape2<A, B, O> {
    /// A shape with the given port names.
    pub fn new(in0: &'static str, in1: &'static str, out: &'static str) -> Self {
        FanInShape2 {
            in0: Inlet::new(0, in0),
            in1: Inlet::new(1, in1),
            out: Outlet::new(0, out),
        }
    }
}

/// The shape of a stage with one inlet and two outlets of different types.
#[derive(Debug, Clone, Copy)]
pub struct FanOutShape2<I, A, B> {
    /// The inlet.
    pub inlet: Inlet<I>,
    /// The first outlet.
    pub out0: Outlet<A>,
    /// The second outlet.
    pub out1: Outlet<B>,
}

impl<I, A, B> FanOutShape2<I, A, B> {
    /// A shape with the given port names.
    pub fn new(inlet: &'static str, out0: &'static str, out1: &'static str) -> Self {
        FanOutShape2 {
            inlet: Inlet::new(0, inlet),
            out0: Outlet::new(0, out0),
            out1: Outlet::new(1, out1),
        }
    }
}

/// The shape of a stage with `n` inlets of one type and one outlet (Akka's
/// `UniformFanInShape`).
#[derive(Debug, Clone)]
pub struct FanInShapeN<I, O> {
    /// The inlets, ids 0 to n - 1.
    pub ins: Vec<Inlet<I>>,
    /// The outlet.
    pub out: Outlet<O>,
}

impl<I, O> FanInShapeN<I, O> {
    /// A shape with `n` inlets named `inlet`, told apart by their ids.
    pub fn new(n: usize, inlet: &'static str, out: &'static str) -> Self {
        FanInShapeN {
            ins: (0..n).map(|i| Inlet::new(i, inlet)).collect(),
            out: Outlet::new(0, out),
        }
    }
}

/// The shape of a stage with one inlet and `n` outlets of one type (Akka's
/// `UniformFanOutShape`).
#[derive(Debug, Clone)]
pub struct FanOutShapeN<I, O> {
    /// The inlet.
    pub inlet: Inlet<I>,
    /// The outlets, ids 0 to n - 1.
    pub outs: Vec<Outlet<O>>,
}

impl<I, O> FanOutShapeN<I, O> {
    /// A shape with `n` outlets named `out`, told apart by their ids.
    pub fn new(n: usize, inlet: &'static str, out: &'static str) -> Self {
        FanOutShapeN {
            inlet: Inlet::new(0, inlet),
            outs: (0..n).map(|i| Outlet::new(i, out)).collect(),
        }
    }
}

/// The shape of a stage with two directions (Akka's `BidiShape`): `in1` → `out1` on top,
/// `in2` → `out2` below; a protocol layer whose directions share state.
#[derive(Debug, Clone, Copy)]
pub struct BidiShape<I1, O1, I2, O2> {
    /// The top inlet.
    pub in1: Inlet<I1>,
    /// The top outlet.
    pub out1: Outlet<O1>,
    /// The bottom inlet.
    pub in2: Inlet<I2>,
    /// The bottom outlet.
    pub out2: Outlet<O2>,
}

impl<I1, O1, I2, O2> BidiShape<I1, O1, I2, O2> {
    /// A shape with the given port names.
    pub fn new(
        in1: &'static str,
        out1: &'static str,
        in2: &'static str,
        out2: &'static str,
    ) -> Self {
        BidiShape {
            in1: Inlet::new(0, in1),
            out1: Outlet::new(0, out1),
            in2: Inlet::new(1, in2),
            out2: Outlet::new(1, out2),
        }
    }
}

/// Implements [`StageShape`] for a shape struct: its inlets, its outlets, and the builder
/// handles made of them.
macro_rules! stage_shape {
    (
        $ty:ident < $($g:ident),* > => $handles:ty,
        ins [$($i:ident),*], outs [$($o:ident),*],
        |$g_ports:ident, $s:ident| $make:expr
    ) => {
        impl<$($g: Send + 'static),*> StageShape for $ty<$($g),*> {
            type Handles = $handles;

            fn declare(&self, ports: &mut PortList<'_>) {
                $(ports.inlet(&self.$i);)*
                $(ports.outlet(&self.$o);)*
            }

            fn handles(&self, $g_ports: &GraphPorts) -> Self::Handles {
                let $s = self;
                $make
            }
        }
    };
}

impl StageShape for ClosedShape {
    type Handles = ();

    fn declare(&self, _: &mut PortList<'_>) {}

    fn handles(&self, _: &GraphPorts) -> Self::Handles {}
}

stage_shape!(SourceShape<O> => Out<O>, ins [], outs [out], |g, s| g.outlet(&s.out));
stage_shape!(SinkShape<I> => In<I>, ins [inlet], outs [], |g, s| g.inlet(&s.inlet));
stage_shape!(
    FlowShape<I, O> => (In<I>, Out<O>), ins [inlet], outs [out],
    |g, s| (g.inlet(&s.inlet), g.outlet(&s.out))
);
stage_shape!(
    FanInShape2<A, B, O> => crate::junctions::FanIn2Shape<A, B, O>, ins [in0, in1], outs [out],
    |g, s| crate::junctions::FanIn2Shape {
        in0: g.inlet(&s.in0),
        in1: g.inlet(&s.in1),
        out: g.outlet(&s.out),
    }
);
stage_shape!(
    FanOutShape2<I, A, B> => crate::junctions::FanOut2Shape<I, A, B>, ins [inlet],
    outs [out0, out1],
    |g, s| crate::junctions::FanOut2Shape {
        inlet: g.inlet(&s.inlet),
        out0: g.outlet(&s.out0),
        out1: g.outlet(&s.out1),
    }
);
stage_shape!(
    BidiShape<I1, O1, I2, O2> => crate::junctions::BidiPorts<I1, O1, I2, O2>, ins [in1, in2],
    outs [out1, out2],
    |g, s| crate::junctions::BidiPorts {
        in1: g.inlet(&s.in1),
        out1: g.outlet(&s.out1),
        in2: g.inlet(&s.in2),
        out2: g.outlet(&s.out2),
    }
);

impl<I: Send + 'static, O: Send + 'static> StageShape for FanInShapeN<I, O> {
    type Handles = crate::junctions::UniformFanInShape<I, O>;

    fn declare(&self, ports: &mut PortList<'_>) {
        for i in &self.ins {
            ports.inlet(i);
        }
        ports.outlet(&self.out);
    }

    fn handles(&self, g: &GraphPorts) -> Self::Handles {
        crate::junctions::UniformFanInShape {
            ins: self.ins.iter().map(|i| g.inlet(i)).collect(),
            out: g.outlet(&self.out),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> StageShape for FanOutShapeN<I, O> {
    type Handles = crate::junctions::UniformFanOutShape<I, O>;

    fn declare(&self, ports: &mut PortList<'_>) {
        ports.inlet(&self.inlet);
        for o in &self.outs {
            ports.outlet(o);
        }
    }

    fn handles(&self, g: &GraphPorts) -> Self::Handles {
        crate::junctions::UniformFanOutShape {
            inlet: g.inlet(&self.inlet),
            outs: self.outs.iter().map(|o| g.outlet(o)).collect(),
        }
    }
}

/// Creates `stage`'s logic, materialized value and outlets; the returned closure wires its
/// inlets and registers its island. Outlets exist before inlets, so a stage can sit on a cycle.
fn prepare<G: GraphStage>(
    stage: &G,
    shape: Arc<G::Shape>,
    attrs: &Attributes,
) -> (Vec<AnyPull>, Attach, G::Mat) {
    let (outs, pulls, out_problem) = shape::outlets(&*shape, attrs);
    let (tx, rx) = mpsc::channel(CALLBACK_CAPACITY);
    let (logic, mat) = stage.create_logic(attrs, AsyncCallback { tx });
    let name = attrs.name_or(stage.name());
    let attrs = attrs.clone();
    let attach = Box::new(move |m: &mut Materializer, ins: Vec<AnyPull>| {
        let (ins, in_problem) = shape::inlets(&*shape, &attrs, ins);
        let label = name.clone();
        let mut island = StageIsland::new(logic, name, ins, outs, rx);
        if let Some((port, problem)) = out_problem.or(in_problem) {
            island.fail_at_start(port, problem);
        }
        m.spawn_labeled(label, None, island);
    });
    (pulls, attach, mat)
}

/// Materializes `stage` with all its inlets known; returns its outlets' pulls in id order.
fn materialize<G: GraphStage>(
    m: &mut Materializer,
    stage: &G,
    attrs: &Attributes,
    ins: Vec<AnyPull>,
) -> (Vec<AnyPull>, G::Mat) {
    let (outs, attach, mat) = prepare(stage, Arc::new(stage.shape()), attrs);
    attach(m, ins);
    (outs, mat)
}

fn erase<T: Send + 'static>(pull: BoxPull<T>) -> AnyPull {
    Box::new(pull)
}

impl<O: Send + 'static, Mat: 'static> Source<O, Mat> {
    /// A source from a custom stage with one outlet (Akka's `Source.fromGraph`).
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = SourceShape<O>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Source::from_fn(move |m, a| {
            let (mut outs, mat) = materialize(m, &*stage, a, Vec::new());
            (take_pull::<O>(&mut outs, 0), mat)
        })
    }

    /// A source from a custom stage with two inlets, fed by `in0` and `in1`; keeps the stage's
    /// materialized value.
    pub fn from_fan_in2<A, B, M0, M1, G>(stage: G, in0: Source<A, M0>, in1: Source<B, M1>) -> Self
    where
        A: Send + 'static,
        B: Send + 'static,
        M0: 'static,
        M1: 'static,
        G: GraphStage<Shape = FanInShape2<A, B, O>, Mat = Mat>,
    {
        Source::from_fan_in2_mat(stage, in0, in1).map_materialized_value(|(_, _, m)| m)
    }
}

impl<O: Send + 'static> Source<O> {
    /// Like [`from_fan_in2`](Source::from_fan_in2), keeping all three materialized values:
    /// `(in0's, in1's, the stage's)`.
    pub fn from_fan_in2_mat<A, B, M0, M1, Mat, G>(
        stage: G,
        in0: Source<A, M0>,
        in1: Source<B, M1>,
    ) -> Source<O, (M0, M1, Mat)>
    where
        A: Send + 'static,
        B: Send + 'static,
        M0: 'static,
        M1: 'static,
        Mat: 'static,
        G: GraphStage<Shape = FanInShape2<A, B, O>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Source::from_fn(move |m, a| {
            let (p0, m0) = in0.materialize_into(m, a);
            let (p1, m1) = in1.materialize_into(m, a);
            let (mut outs, mat) = materialize(m, &*stage, a, vec![erase(p0), erase(p1)]);
            (take_pull::<O>(&mut outs, 0), (m0, m1, mat))
        })
    }
}

impl<I: Send + 'static, O: Send + 'static, Mat: 'static> Flow<I, O, Mat> {
    /// A flow from a custom stage with one inlet and one outlet (Akka's `Flow.fromGraph`).
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = FlowShape<I, O>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Flow::from_fn(move |m, up, a| {
            let (mut outs, mat) = materialize(m, &*stage, a, vec![erase(up)]);
            (take_pull::<O>(&mut outs, 0), mat)
        })
    }

    /// A flow from a custom stage with two inlets: the flow's input feeds `in0`, `in1` is fed by
    /// `other` (whose materialized value is dropped).
    pub fn from_fan_in2<B, M1, G>(stage: G, other: Source<B, M1>) -> Self
    where
        B: Send + 'static,
        M1: 'static,
        G: GraphStage<Shape = FanInShape2<I, B, O>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Flow::from_fn(move |m, up, a| {
            let (p1, _) = other.materialize_into(m, a);
            let (mut outs, mat) = materialize(m, &*stage, a, vec![erase(up), erase(p1)]);
            (take_pull::<O>(&mut outs, 0), mat)
        })
    }
}

impl<Mat: 'static> crate::RunnableGraph<Mat> {
    /// A runnable graph from a custom stage without ports (Akka's `RunnableGraph.fromGraph`):
    /// it lives on timers and async callbacks until it calls `complete_stage` (set
    /// `keep_going` in `pre_start`, or it stops at once, having no open ports).
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = ClosedShape, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        crate::RunnableGraph::from_fn(move |m, a| materialize(m, &*stage, a, Vec::new()).1)
    }
}

impl<I: Send + 'static, Mat: 'static> Sink<I, Mat> {
    /// A sink from a custom stage with one inlet (Akka's `Sink.fromGraph`).
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = SinkShape<I>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Sink::from_fn(move |m, up, a| materialize(m, &*stage, a, vec![erase(up)]).1)
    }
}

impl<I1, O1, I2, O2, Mat> crate::BidiFlow<I1, O1, I2, O2, Mat>
where
    I1: Send + 'static,
    O1: Send + 'static,
    I2: Send + 'static,
    O2: Send + 'static,
    Mat: 'static,
{
    /// A bidi flow from a custom stage with a [`BidiShape`] (Akka's `BidiFlow.fromGraph`): a
    /// protocol layer whose two directions share the stage's state. The stage runs as its own
    /// island, so it may be joined with a flow that turns its top output into its bottom input.
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = BidiShape<I1, O1, I2, O2>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        crate::BidiFlow::from_fn(crate::bidi::ISLAND, move |m, a| {
            crate::bidi::on_deferred_inputs(|up1, up2| {
                let (mut outs, mat) = materialize(m, &*stage, a, vec![erase(up1), erase(up2)]);
                let out1 = take_pull::<O1>(&mut outs, 0);
                (out1, take_pull::<O2>(&mut outs, 1), mat)
            })
        })
    }
}

impl crate::builder::GraphBuilder {
    /// Adds a custom stage of any shape and returns the builder handles of its ports (see
    /// [`StageShape::Handles`]) and the key of its materialized value. The stage runs as its
    /// own island, so it may sit on a cycle.
    ///
    /// A shape whose port ids do not match their places is reported by `build` as
    /// [`GraphError::InvalidShape`](crate::builder::GraphError::InvalidShape).
    ///
    /// ```
    /// use weir::builder::GraphBuilder;
    /// use weir::custom::*;
    /// use weir::prelude::*;
    /// use weir::Attributes;
    ///
    /// /// Sends each number to `evens` or `odds` (Akka's `Partition`, written by hand).
    /// struct Split;
    /// struct SplitLogic(FanOutShape2<u32, u32, u32>);
    ///
    /// impl GraphStage for Split {
    ///     type Shape = FanOutShape2<u32, u32, u32>;
    ///     type Logic = SplitLogic;
    ///     type Mat = ();
    ///     fn name(&self) -> &'static str { "split" }
    ///     fn shape(&self) -> Self::Shape { FanOutShape2::new("numbers", "evens", "odds") }
    ///     fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (SplitLogic, ()) {
    ///         (SplitLogic(self.shape()), ())
    ///     }
    /// }
    ///
    /// impl StageLogic for SplitLogic {
    ///     type Message = ();
    ///     fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         // Pull once both outlets can take an element.
    ///         if ctx.is_available_out(&self.0.out0) && ctx.is_available_out(&self.0.out1) {
    ///             ctx.try_pull(&self.0.inlet);
    ///         }
    ///     }
    ///     fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         if let Some(n) = ctx.grab(&self.0.inlet) {
    ///             let out = if n % 2 == 0 { self.0.out0 } else { self.0.out1 };
    ///             ctx.push(&out, n);
    ///         }
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut b = GraphBuilder::new();
    /// let (split, _) = b.add_stage(Split);
    /// let numbers = b.add_source(Source::from_iter(1..=6u32));
    /// b.connect(numbers, split.inlet);
    /// let (evens, e) = b.add_sink_mat(Sink::seq());
    /// let (odds, o) = b.add_sink_mat(Sink::seq());
    /// b.connect(split.out0, evens);
    /// b.connect(split.out1, odds);
    /// let (evens, odds) = b.build(move |m| (m.take(e), m.take(o))).unwrap().run();
    /// assert_eq!(evens.await.unwrap(), vec![2, 4, 6]);
    /// assert_eq!(odds.await.unwrap(), vec![1, 3, 5]);
    /// # }
    /// ```
    pub fn add_stage<G: GraphStage>(
        &mut self,
        stage: G,
    ) -> (
        <G::Shape as StageShape>::Handles,
        crate::builder::MatKey<G::Mat>,
    ) {
        let shape = stage.shape();
        let (inlets, outlets, problem) = shape::count(&shape);
        if let Some((port, problem)) = problem {
            self.report(crate::builder::GraphError::InvalidShape {
                stage: stage.name(),
                port,
                problem,
            });
        }
        let name = stage.name();
        let stage = Arc::new(stage);
        // The shape whose ports were counted and handed out is the one every run wires.
        let shape = Arc::new(shape);
        let wired = shape.clone();
        let imp = crate::builder::NodeImpl::Boundary(Arc::new(move |_, a| {
            let (outs, attach, mat) = prepare(&*stage, wired.clone(), a);
            (outs, attach, Box::new(mat) as crate::builder::AnyMat)
        }));
        let node = self.add_node(name, inlets, outlets, imp, true);
        let handles = shape.handles(&GraphPorts::new(self.id(), node));
        (handles, self.mat_key_of(node))
    }
}

//! Custom stages: typed ports, push/pull handlers, timers and async callbacks (Akka's
//! `GraphStage`); the user tier of the stage API.
//!
//! A [`GraphStage`] is an immutable blueprint: it declares its [shape](FanInShape2) (typed
//! [`Inlet`]s and [`Outlet`]s) and creates a fresh [`StageLogic`] and materialized value for
//! every materialization. All mutable state lives in the logic.
//!
//! # Lifecycle
//! - `pre_start` runs first. Handlers then run one at a time, on the stage's own task (a custom
//!   stage is an island of its own): the logic is `&mut self` and needs no locks.
//! - Demand: `pull(inlet)` asks for one element; `on_push(inlet)` says it arrived and `grab`
//!   takes it. `on_pull(outlet)` says downstream wants one element; `push` gives it, once.
//!   `emit` pushes when possible and queues otherwise.
//! - Termination: by default an upstream finish completes the stage, an upstream failure fails
//!   it, and a downstream cancellation completes it (as in Akka). The stage also stops when all
//!   its ports are closed, unless `set_keep_going(true)`. `post_stop` runs exactly once on every
//!   kind of termination, including an aborted task.
//! - Upstream termination is observed on a pull: an inlet that is never pulled does not report
//!   `on_upstream_finish`.
//! - Misuse of the API fails the stage with [`StreamError::StageMisuse`](crate::StreamError),
//!   naming the stage and the port; it never panics or hangs. A panic in a handler fails the
//!   stage with `StreamError::Panicked`.
//!
//! The low tier, used by the library's own operators and junctions, is
//! [`stage::Pull`](crate::stage::Pull): fused, batched, and unchecked.

mod context;
mod driver;
mod ports;
mod timers;

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use context::StageContext;
pub use ports::{Inlet, Outlet, PortId};
pub use timers::TimerKey;

use crate::boundary;
use crate::stage::BoxPull;
use crate::{Attributes, Flow, Materializer, Sink, Source, StreamError};
use driver::StageIsland;
use ports::{InPort, InSlot, OutPort, OutSlot};

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

    /// `inlet`'s upstream completed. Default: complete the stage.
    fn on_upstream_finish(&mut self, _inlet: PortId, ctx: &mut StageContext<'_, Self::Message>) {
        ctx.complete_stage();
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

    /// Downstream of `outlet` cancelled. Default: complete the stage.
    fn on_downstream_finish(&mut self, _outlet: PortId, ctx: &mut StageContext<'_, Self::Message>) {
        ctx.complete_stage();
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
    type Shape;
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

/// Materializes `stage` as an island with the given ports.
fn launch<G: GraphStage>(
    m: &mut Materializer,
    stage: &G,
    attrs: &Attributes,
    ins: Vec<Box<dyn InPort>>,
    outs: Vec<Box<dyn OutPort>>,
) -> G::Mat {
    let (tx, rx) = mpsc::channel(CALLBACK_CAPACITY);
    let (logic, mat) = stage.create_logic(attrs, AsyncCallback { tx });
    m.spawn_island(StageIsland::new(
        logic,
        attrs.name_or(stage.name()),
        ins,
        outs,
        rx,
    ));
    mat
}

fn in_port<T: Send + 'static>(
    _inlet: &Inlet<T>,
    up: BoxPull<T>,
    attrs: &Attributes,
) -> Box<dyn InPort> {
    Box::new(InSlot::new(up, attrs.input_buffer_size()))
}

fn out_port<T: Send + 'static>(
    _outlet: &Outlet<T>,
    attrs: &Attributes,
) -> (Box<dyn OutPort>, BoxPull<T>) {
    let (tx, rx) = boundary::channel(attrs.input_buffer_size());
    (Box::new(OutSlot::new(tx)), Box::new(rx))
}

impl<O: Send + 'static, Mat: 'static> Source<O, Mat> {
    /// A source from a custom stage with one outlet (Akka's `Source.fromGraph`).
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = SourceShape<O>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Source::from_fn(move |m, a| {
            let shape = stage.shape();
            let (out, pull) = out_port(&shape.out, a);
            let mat = launch(m, &*stage, a, Vec::new(), vec![out]);
            (pull, mat)
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
            let shape = stage.shape();
            let (p0, m0) = in0.materialize_into(m, a);
            let (p1, m1) = in1.materialize_into(m, a);
            let ins = vec![in_port(&shape.in0, p0, a), in_port(&shape.in1, p1, a)];
            let (out, pull) = out_port(&shape.out, a);
            let mat = launch(m, &*stage, a, ins, vec![out]);
            (pull, (m0, m1, mat))
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
            let shape = stage.shape();
            let ins = vec![in_port(&shape.inlet, up, a)];
            let (out, pull) = out_port(&shape.out, a);
            let mat = launch(m, &*stage, a, ins, vec![out]);
            (pull, mat)
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
            let shape = stage.shape();
            let (p1, _) = other.materialize_into(m, a);
            let ins = vec![in_port(&shape.in0, up, a), in_port(&shape.in1, p1, a)];
            let (out, pull) = out_port(&shape.out, a);
            let mat = launch(m, &*stage, a, ins, vec![out]);
            (pull, mat)
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
        crate::RunnableGraph::from_fn(move |m, a| launch(m, &*stage, a, Vec::new(), Vec::new()))
    }
}

impl<I: Send + 'static, Mat: 'static> Sink<I, Mat> {
    /// A sink from a custom stage with one inlet (Akka's `Sink.fromGraph`).
    pub fn from_graph<G>(stage: G) -> Self
    where
        G: GraphStage<Shape = SinkShape<I>, Mat = Mat>,
    {
        let stage = Arc::new(stage);
        Sink::from_fn(move |m, up, a| {
            let shape = stage.shape();
            let ins = vec![in_port(&shape.inlet, up, a)];
            launch(m, &*stage, a, ins, Vec::new())
        })
    }
}

impl crate::builder::GraphBuilder {
    /// Adds a custom stage with one inlet and one outlet; it runs as its own island.
    pub fn add_stage_flow<I, O, G>(
        &mut self,
        stage: G,
    ) -> (
        crate::builder::In<I>,
        crate::builder::Out<O>,
        crate::builder::MatKey<G::Mat>,
    )
    where
        I: Send + 'static,
        O: Send + 'static,
        G: GraphStage<Shape = FlowShape<I, O>>,
    {
        let stage = Arc::new(stage);
        let node = self.add_stage_node::<O, _>(
            "custom flow",
            1,
            move |m: &mut Materializer, a: &Attributes, mut ins: Vec<crate::builder::AnyPull>| {
                let shape = stage.shape();
                let up = crate::builder::take_pull::<I>(&mut ins, 0);
                let (out, pull) = out_port(&shape.out, a);
                let mat = launch(m, &*stage, a, vec![in_port(&shape.inlet, up, a)], vec![out]);
                (pull, mat)
            },
        );
        (
            self.in_handle(node.0, 0),
            self.out_handle(node.0, 0),
            node.1,
        )
    }

    /// Adds a custom stage with two inlets and one outlet (such as the
    /// [scoring stage](crate::scoring::ScoringStage)); it runs as its own island.
    #[allow(clippy::type_complexity)]
    pub fn add_stage_fan_in2<A, B, O, G>(
        &mut self,
        stage: G,
    ) -> (
        crate::junctions::FanIn2Shape<A, B, O>,
        crate::builder::MatKey<G::Mat>,
    )
    where
        A: Send + 'static,
        B: Send + 'static,
        O: Send + 'static,
        G: GraphStage<Shape = FanInShape2<A, B, O>>,
    {
        let stage = Arc::new(stage);
        let node = self.add_stage_node::<O, _>(
            "custom fan-in",
            2,
            move |m: &mut Materializer, a: &Attributes, mut ins: Vec<crate::builder::AnyPull>| {
                let shape = stage.shape();
                let p0 = crate::builder::take_pull::<A>(&mut ins, 0);
                let p1 = crate::builder::take_pull::<B>(&mut ins, 1);
                let (out, pull) = out_port(&shape.out, a);
                let ins = vec![in_port(&shape.in0, p0, a), in_port(&shape.in1, p1, a)];
                let mat = launch(m, &*stage, a, ins, vec![out]);
                (pull, mat)
            },
        );
        let shape = crate::junctions::FanIn2Shape {
            in0: self.in_handle(node.0, 0),
            in1: self.in_handle(node.0, 1),
            out: self.out_handle(node.0, 0),
        };
        (shape, node.1)
    }

    /// A node for a one-outlet custom stage: fused onto its inputs (the stage's own island and
    /// boundary are created when it is materialized).
    fn add_stage_node<O, F>(
        &mut self,
        name: &'static str,
        inputs: usize,
        make: F,
    ) -> (usize, crate::builder::MatKey<F::Mat>)
    where
        O: Send + 'static,
        F: StageNodeFn<O>,
    {
        let imp = crate::builder::NodeImpl::Fused(Arc::new(move |m, a, ins| {
            let (pull, mat) = make.call(m, a, ins);
            (
                vec![Box::new(pull) as crate::builder::AnyPull],
                Box::new(mat) as crate::builder::AnyMat,
            )
        }));
        let node = self.add_node(name, inputs, 1, imp, true);
        (node, self.mat_key_of(node))
    }
}

/// How a one-outlet custom stage node materializes (a named trait so its `Mat` can be named).
trait StageNodeFn<O>: Send + Sync + 'static {
    type Mat: 'static;
    fn call(
        &self,
        m: &mut Materializer,
        a: &Attributes,
        ins: Vec<crate::builder::AnyPull>,
    ) -> (BoxPull<O>, Self::Mat);
}

impl<O, M, F> StageNodeFn<O> for F
where
    M: 'static,
    F: Fn(&mut Materializer, &Attributes, Vec<crate::builder::AnyPull>) -> (BoxPull<O>, M)
        + Send
        + Sync
        + 'static,
{
    type Mat = M;
    fn call(
        &self,
        m: &mut Materializer,
        a: &Attributes,
        ins: Vec<crate::builder::AnyPull>,
    ) -> (BoxPull<O>, M) {
        self(m, a, ins)
    }
}

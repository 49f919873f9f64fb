//! The graph builder: arbitrary graphs of sources, flows, sinks and junctions (Akka's
//! `GraphDSL`).
//!
//! Add blueprints and [junctions](crate::junctions) to a [`GraphBuilder`], connect typed
//! [`Out`] handles to [`In`] handles (a type mismatch does not compile), and close the graph
//! into a [`RunnableGraph`], or expose its open ports as a [`Source`], [`Flow`] or [`Sink`].
//! Materialized values of added blueprints are kept through [`MatKey`]s and combined by a
//! function of [`Mats`] that runs at each materialization.
//!
//! ```
//! use weir::builder::GraphBuilder;
//! use weir::junctions::{Broadcast, Merge};
//! use weir::prelude::*;
//!
//! # #[tokio::main] async fn main() {
//! let mut b = GraphBuilder::new();
//! let src = b.add_source(Source::range(1, 3));
//! let bcast = b.add(Broadcast::<i32>::new(2));
//! let merge = b.add(Merge::<i32>::new(2));
//! let (sink, out) = b.add_sink_mat(Sink::seq());
//! b.connect(src, bcast.inlet);
//! let doubled = b.via(bcast.outs[0], Flow::<i32>::new().map(|x| x * 10));
//! b.connect(doubled, merge.ins[0]);
//! b.connect(bcast.outs[1], merge.ins[1]);
//! b.connect(merge.out, sink);
//! let graph = b.build(move |mats| mats.take(out)).unwrap();
//! let mut got = graph.run().await.unwrap();
//! got.sort();
//! assert_eq!(got, vec![1, 2, 3, 10, 20, 30]);
//! # }
//! ```
//!
//! Ports are typed: connecting an `Out<T>` to an `In<U>` does not compile.
//!
//! ```compile_fail
//! use weir::builder::GraphBuilder;
//! use weir::prelude::*;
//!
//! let mut b = GraphBuilder::new();
//! let numbers = b.add_source(Source::single(1u32));
//! let strings = b.add_sink(Sink::<String>::ignore());
//! b.connect(numbers, strings); // expected `In<u32>`, found `In<String>`
//! ```
//!
//! # Errors at build time
//! An unconnected port, a port connected twice, and a cycle that runs through fused stages only
//! are reported by the `build*` methods as a [`GraphError`], before anything runs.
//!
//! # Cycles and liveness
//! A cycle must pass through a fan-out junction (`Broadcast`, `Balance`, `Partition`,
//! `Unzip`) or a custom stage ([`add_stage`](GraphBuilder::add_stage)): those run as islands
//! whose output buffers break the loop; a cycle through fused nodes only is rejected when the
//! graph is built. As in Akka, a cycle stays live only if
//! elements can circulate: a `Merge` + `Broadcast` loop whose element count grows fills its
//! buffers and stops, so put a dropping `buffer` on the feedback arc; seed a `Zip` cycle with
//! `Concat` + `Source::single` so it can start.

mod materialize;

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::junctions::BidiPorts;
use crate::stage::BoxPull;
use crate::{Attributes, BidiFlow, Flow, Materializer, RunnableGraph, Sink, Source};

pub(crate) type AnyPull = Box<dyn Any + Send>;
pub(crate) type AnyMat = Box<dyn Any>;
pub(crate) type FusedFn =
    dyn Fn(&mut Materializer, &Attributes, Vec<AnyPull>) -> (Vec<AnyPull>, AnyMat) + Send + Sync;
pub(crate) type Attach = Box<dyn FnOnce(&mut Materializer, Vec<AnyPull>)>;
pub(crate) type BoundaryFn =
    dyn Fn(&mut Materializer, &Attributes) -> (Vec<AnyPull>, Attach, AnyMat) + Send + Sync;

/// Which inputs each output of a bidi flow is fused onto: `deps[o][i]` says output `o`
/// (0 = `out1`, 1 = `out2`) reads input `i` through fused stages only.
pub(crate) type Deps = [[bool; 2]; 2];

/// How a node is materialized.
#[derive(Clone)]
pub(crate) enum NodeImpl {
    /// Its outputs are stages fused onto its inputs.
    Fused(Arc<FusedFn>),
    /// It runs as its own island: its outputs (boundaries) exist before its inputs are known.
    Boundary(Arc<BoundaryFn>),
    /// A bidi flow: materialized like `Boundary` (its directions read deferred inputs), but its
    /// outputs are fused onto the inputs its [`Deps`] name, so a cycle through them needs an
    /// island.
    Bidi(Arc<BoundaryFn>, Deps),
}

#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) name: &'static str,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
    pub(crate) imp: NodeImpl,
    pub(crate) mat: Option<usize>,
}

/// An output port of a node in a [`GraphBuilder`].
pub struct Out<T> {
    pub(crate) builder: u64,
    pub(crate) node: usize,
    pub(crate) port: usize,
    _t: PhantomData<fn() -> T>,
}

/// An input port of a node in a [`GraphBuilder`].
pub struct In<T> {
    pub(crate) builder: u64,
    pub(crate) node: usize,
    pub(crate) port: usize,
    _t: PhantomData<fn(T)>,
}

/// Names the materialized value of a blueprint added to a [`GraphBuilder`].
pub struct MatKey<M> {
    builder: u64,
    index: usize,
    _m: PhantomData<fn() -> M>,
}

macro_rules! handle_impls {
    ($t:ident) => {
        impl<T> Clone for $t<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $t<T> {}
    };
}
handle_impls!(Out);
handle_impls!(In);
handle_impls!(MatKey);

impl<T> fmt::Debug for Out<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Out(node {}, port {})", self.node, self.port)
    }
}

impl<T> fmt::Debug for In<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "In(node {}, port {})", self.node, self.port)
    }
}

impl<M> fmt::Debug for MatKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MatKey({})", self.index)
    }
}

impl<T> Out<T> {
    pub(crate) fn new(builder: u64, node: usize, port: usize) -> Self {
        Out {
            builder,
            node,
            port,
            _t: PhantomData,
        }
    }
}

impl<T> In<T> {
    pub(crate) fn new(builder: u64, node: usize, port: usize) -> Self {
        In {
            builder,
            node,
            port,
            _t: PhantomData,
        }
    }
}

/// Gives each builder an identity, so handles from another builder are recognised.
static NEXT_BUILDER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The materialized values of one materialization, for the builder's combining function.
pub struct Mats {
    /// The builder whose keys index `values`.
    builder: u64,
    values: Vec<Option<AnyMat>>,
}

impl fmt::Debug for Mats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mats")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Mats {
    /// Takes the materialized value named by `key`.
    ///
    /// # Panics
    /// If the value was already taken in this materialization, or `key` comes from another
    /// builder (a bug in the combining function, which shows on its first run).
    pub fn take<M: 'static>(&mut self, key: MatKey<M>) -> M {
        assert_eq!(
            key.builder, self.builder,
            "a MatKey from another graph builder was used"
        );
        let value = self.values[key.index]
            .take()
            .expect("materialized value taken twice");
        *value
            .downcast::<M>()
            .expect("MatKey types are checked when the key is created")
    }
}

/// A materialized value computed from the values of an imported partial graph's parts, once
/// they are all materialized.
#[derive(Clone)]
pub(crate) struct Derived {
    /// Where the value goes.
    pub(crate) slot: usize,
    /// The partial graph's own values: `base..base + count`.
    pub(crate) base: usize,
    pub(crate) count: usize,
    /// The imported graph's builder, whose keys its function uses.
    pub(crate) builder: u64,
    pub(crate) make: Arc<dyn Fn(&mut Mats) -> AnyMat + Send + Sync>,
}

/// A graph with open ports, built once and imported into other builders, with the
/// materialized value its combining function computes from its parts' values.
pub struct PartialGraph<S, M = crate::NotUsed> {
    nodes: Vec<Node>,
    edges: HashMap<(usize, usize), (usize, usize)>,
    shape: S,
    builder: u64,
    mats: usize,
    derived: Vec<Derived>,
    mat: Arc<dyn Fn(&mut Mats) -> M + Send + Sync>,
}

impl<S: Clone, M> Clone for PartialGraph<S, M> {
    fn clone(&self) -> Self {
        PartialGraph {
            nodes: self.nodes.clone(),
            edges: self.edges.clone(),
            shape: self.shape.clone(),
            builder: self.builder,
            mats: self.mats,
            derived: self.derived.clone(),
            mat: self.mat.clone(),
        }
    }
}

impl<S, M> fmt::Debug for PartialGraph<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialGraph")
            .field(
                "nodes",
                &self.nodes.iter().map(|n| n.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The open ports of a [`PartialGraph`]: a port handle, a junction shape, or a tuple of them.
pub trait Shape: Sized {
    /// `(builder, node, port)` of every inlet and every outlet.
    #[allow(clippy::type_complexity)]
    fn ports(&self) -> (Vec<(u64, usize, usize)>, Vec<(u64, usize, usize)>);
    /// The same ports in builder `to`, for nodes moved by `offset`.
    fn rebase(&self, from: u64, to: u64, offset: usize) -> Self;
}

impl<T> Shape for In<T> {
    fn ports(&self) -> (Vec<(u64, usize, usize)>, Vec<(u64, usize, usize)>) {
        (vec![(self.builder, self.node, self.port)], Vec::new())
    }
    fn rebase(&self, from: u64, to: u64, offset: usize) -> Self {
        debug_assert_eq!(self.builder, from);
        In::new(to, self.node + offset, self.port)
    }
}

impl<T> Shape for Out<T> {
    fn ports(&self) -> (Vec<(u64, usize, usize)>, Vec<(u64, usize, usize)>) {
        (Vec::new(), vec![(self.builder, self.node, self.port)])
    }
    fn rebase(&self, from: u64, to: u64, offset: usize) -> Self {
        debug_assert_eq!(self.builder, from);
        Out::new(to, self.node + offset, self.port)
    }
}

impl<S: Shape> Shape for Vec<S> {
    fn ports(&self) -> (Vec<(u64, usize, usize)>, Vec<(u64, usize, usize)>) {
        let (mut i, mut o) = (Vec::new(), Vec::new());
        for s in self {
            let (a, b) = s.ports();
            i.extend(a);
            o.extend(b);
        }
        (i, o)
    }
    fn rebase(&self, from: u64, to: u64, offset: usize) -> Self {
        self.iter().map(|s| s.rebase(from, to, offset)).collect()
    }
}

macro_rules! tuple_shape {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: Shape),+> Shape for ($($name,)+) {
            fn ports(&self) -> (Vec<(u64, usize, usize)>, Vec<(u64, usize, usize)>) {
                let (mut i, mut o) = (Vec::new(), Vec::new());
                $(
                    let (a, b) = self.$idx.ports();
                    i.extend(a);
                    o.extend(b);
                )+
                (i, o)
            }
            fn rebase(&self, from: u64, to: u64, offset: usize) -> Self {
                ($(self.$idx.rebase(from, to, offset),)+)
            }
        }
    };
}
tuple_shape!(A.0, B.1);
tuple_shape!(A.0, B.1, C.2);
tuple_shape!(A.0, B.1, C.2, D.3);

/// Why a graph could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphError {
    /// A port is not connected (and is not one of the graph's open ports).
    Unconnected {
        /// The node's name.
        node: &'static str,
        /// `"in N"` or `"out N"`.
        port: String,
    },
    /// A port was connected more than once.
    ConnectedTwice {
        /// The node's name.
        node: &'static str,
        /// `"in N"` or `"out N"`.
        port: String,
    },
    /// A cycle runs through fused nodes only; it must pass through a fan-out junction or a
    /// custom stage.
    CycleWithoutBoundary {
        /// The nodes on the cycle.
        nodes: Vec<&'static str>,
    },
    /// A handle from another builder was used.
    ForeignPort,
    /// A custom stage's shape is inconsistent: a port's id is not its place among the stage's
    /// inlets or outlets.
    InvalidShape {
        /// The stage's name.
        stage: &'static str,
        /// The port's name.
        port: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A junction was given an argument it cannot work with (Akka's `require` failing with an
    /// `IllegalArgumentException` when the stage is created).
    InvalidArgument {
        /// The junction's name.
        node: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Unconnected { node, port } => {
                write!(f, "port `{port}` of `{node}` is not connected")
            }
            GraphError::ConnectedTwice { node, port } => {
                write!(f, "port `{port}` of `{node}` is connected more than once")
            }
            GraphError::CycleWithoutBoundary { nodes } => {
                write!(
                    f,
                    "cycle through fused stages only ({}); route it through a fan-out junction or a custom stage",
                    nodes.join(" → ")
                )
            }
            GraphError::ForeignPort => {
                write!(f, "a port handle from another graph builder was used")
            }
            GraphError::InvalidShape {
                stage,
                port,
                problem,
            } => write!(f, "stage `{stage}` has an invalid port `{port}`: {problem}"),
            GraphError::InvalidArgument { node, problem } => {
                write!(f, "invalid argument to `{node}`: {problem}")
            }
        }
    }
}

impl std::error::Error for GraphError {}

/// Builds a graph; see the [module docs](self).
pub struct GraphBuilder {
    id: u64,
    pub(crate) nodes: Vec<Node>,
    /// Inlet → the outlet connected to it.
    pub(crate) edges: HashMap<(usize, usize), (usize, usize)>,
    used_outlets: HashSet<(usize, usize)>,
    errors: Vec<GraphError>,
    mats: usize,
    derived: Vec<Derived>,
}

impl fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphBuilder")
            .field(
                "nodes",
                &self.nodes.iter().map(|n| n.name).collect::<Vec<_>>(),
            )
            .field("edges", &self.edges.len())
            .finish()
    }
}

impl Default for GraphBuilder {
    fn default() -> Self {
        GraphBuilder {
            id: NEXT_BUILDER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            nodes: Vec::new(),
            edges: HashMap::new(),
            used_outlets: HashSet::new(),
            errors: Vec::new(),
            mats: 0,
            derived: Vec::new(),
        }
    }
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        GraphBuilder::default()
    }

    /// This builder's identity, carried by its handles.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Records an error that `build` reports.
    pub(crate) fn report(&mut self, error: GraphError) {
        self.errors.push(error);
    }

    /// A handle for input `port` of `node` (raw tier).
    pub(crate) fn in_handle<T>(&self, node: usize, port: usize) -> In<T> {
        In::new(self.id, node, port)
    }

    /// A handle for output `port` of `node` (raw tier).
    pub(crate) fn out_handle<T>(&self, node: usize, port: usize) -> Out<T> {
        Out::new(self.id, node, port)
    }

    /// Adds a node (raw tier: how junctions add themselves). Returns its index.
    pub(crate) fn add_node(
        &mut self,
        name: &'static str,
        inputs: usize,
        outputs: usize,
        imp: NodeImpl,
        keep_mat: bool,
    ) -> usize {
        let mat = keep_mat.then(|| {
            self.mats += 1;
            self.mats - 1
        });
        self.nodes.push(Node {
            name,
            inputs,
            outputs,
            imp,
            mat,
        });
        self.nodes.len() - 1
    }

    pub(crate) fn mat_key_of<M>(&self, node: usize) -> MatKey<M> {
        self.mat_key(node)
    }

    fn mat_key<M>(&self, node: usize) -> MatKey<M> {
        MatKey {
            builder: self.id,
            index: self.nodes[node]
                .mat
                .expect("node keeps its materialized value"),
            _m: PhantomData,
        }
    }

    /// Adds a source; its materialized value is dropped.
    pub fn add_source<T: Send + 'static, M: 'static>(&mut self, source: Source<T, M>) -> Out<T> {
        self.add_source_inner(source, false)
    }

    /// Adds a source, keeping its materialized value.
    pub fn add_source_mat<T: Send + 'static, M: 'static>(
        &mut self,
        source: Source<T, M>,
    ) -> (Out<T>, MatKey<M>) {
        let out = self.add_source_inner(source, true);
        (out, self.mat_key(out.node))
    }

    fn add_source_inner<T: Send + 'static, M: 'static>(
        &mut self,
        source: Source<T, M>,
        keep: bool,
    ) -> Out<T> {
        let imp = NodeImpl::Fused(Arc::new(move |m, a, _| {
            let (p, mat) = source.materialize_into(m, a);
            (vec![Box::new(p) as AnyPull], Box::new(mat) as AnyMat)
        }));
        let node = self.add_node("source", 0, 1, imp, keep);
        self.out_handle(node, 0)
    }

    /// Adds a flow; its materialized value is dropped.
    pub fn add_flow<I: Send + 'static, O: Send + 'static, M: 'static>(
        &mut self,
        flow: Flow<I, O, M>,
    ) -> (In<I>, Out<O>) {
        self.add_flow_inner(flow, false)
    }

    /// Adds a flow, keeping its materialized value.
    pub fn add_flow_mat<I: Send + 'static, O: Send + 'static, M: 'static>(
        &mut self,
        flow: Flow<I, O, M>,
    ) -> (In<I>, Out<O>, MatKey<M>) {
        let (i, o) = self.add_flow_inner(flow, true);
        (i, o, self.mat_key(o.node))
    }

    fn add_flow_inner<I: Send + 'static, O: Send + 'static, M: 'static>(
        &mut self,
        flow: Flow<I, O, M>,
        keep: bool,
    ) -> (In<I>, Out<O>) {
        let imp = NodeImpl::Fused(Arc::new(move |m, a, mut ins| {
            let up = take_pull::<I>(&mut ins, 0);
            let (p, mat) = flow.materialize_into(m, up, a);
            (vec![Box::new(p) as AnyPull], Box::new(mat) as AnyMat)
        }));
        let node = self.add_node("flow", 1, 1, imp, keep);
        (self.in_handle(node, 0), self.out_handle(node, 0))
    }

    /// Adds a sink; its materialized value is dropped.
    pub fn add_sink<T: Send + 'static, M: 'static>(&mut self, sink: Sink<T, M>) -> In<T> {
        self.add_sink_inner(sink, false)
    }

    /// Adds a sink, keeping its materialized value.
    pub fn add_sink_mat<T: Send + 'static, M: 'static>(
        &mut self,
        sink: Sink<T, M>,
    ) -> (In<T>, MatKey<M>) {
        let i = self.add_sink_inner(sink, true);
        (i, self.mat_key(i.node))
    }

    fn add_sink_inner<T: Send + 'static, M: 'static>(
        &mut self,
        sink: Sink<T, M>,
        keep: bool,
    ) -> In<T> {
        let imp = NodeImpl::Fused(Arc::new(move |m, a, mut ins| {
            let up = take_pull::<T>(&mut ins, 0);
            let mat = sink.materialize_into(m, up, a);
            (Vec::new(), Box::new(mat) as AnyMat)
        }));
        let node = self.add_node("sink", 1, 0, imp, keep);
        self.in_handle(node, 0)
    }

    /// Adds a bidi flow; its materialized value is dropped. Each direction is fused onto its
    /// input, so the bidi flow may sit on a cycle that runs from one direction into the other
    /// (`out1` → a flow → `in2`, as [`BidiFlow::join`] does).
    pub fn add_bidi<I1, O1, I2, O2, M>(
        &mut self,
        bidi: BidiFlow<I1, O1, I2, O2, M>,
    ) -> BidiPorts<I1, O1, I2, O2>
    where
        I1: Send + 'static,
        O1: Send + 'static,
        I2: Send + 'static,
        O2: Send + 'static,
        M: 'static,
    {
        let node = self.add_bidi_inner(bidi, false);
        self.bidi_ports(node)
    }

    /// Adds a bidi flow, keeping its materialized value.
    pub fn add_bidi_mat<I1, O1, I2, O2, M>(
        &mut self,
        bidi: BidiFlow<I1, O1, I2, O2, M>,
    ) -> (BidiPorts<I1, O1, I2, O2>, MatKey<M>)
    where
        I1: Send + 'static,
        O1: Send + 'static,
        I2: Send + 'static,
        O2: Send + 'static,
        M: 'static,
    {
        let node = self.add_bidi_inner(bidi, true);
        (self.bidi_ports(node), self.mat_key(node))
    }

    fn add_bidi_inner<I1, O1, I2, O2, M>(
        &mut self,
        bidi: BidiFlow<I1, O1, I2, O2, M>,
        keep: bool,
    ) -> usize
    where
        I1: Send + 'static,
        O1: Send + 'static,
        I2: Send + 'static,
        O2: Send + 'static,
        M: 'static,
    {
        let deps = bidi.deps();
        let imp = NodeImpl::Bidi(
            Arc::new(move |m, a| {
                let halves = bidi.materialize_halves(m, a);
                let (top, bottom) = (halves.top, halves.bottom);
                let (fill1, up1) = crate::bidi::deferred::<I1>();
                let (fill2, up2) = crate::bidi::deferred::<I2>();
                let outs: Vec<AnyPull> = vec![Box::new(top(up1)), Box::new(bottom(up2))];
                let attach: Attach = Box::new(move |_, mut ins| {
                    fill1.fill(take_pull::<I1>(&mut ins, 0));
                    fill2.fill(take_pull::<I2>(&mut ins, 1));
                });
                (outs, attach, Box::new(halves.mat) as AnyMat)
            }),
            deps,
        );
        self.add_node("bidi flow", 2, 2, imp, keep)
    }

    fn bidi_ports<I1, O1, I2, O2>(&self, node: usize) -> BidiPorts<I1, O1, I2, O2> {
        BidiPorts {
            in1: self.in_handle(node, 0),
            out1: self.out_handle(node, 0),
            in2: self.in_handle(node, 1),
            out2: self.out_handle(node, 1),
        }
    }

    /// Adds a junction (or any [`Junction`](crate::junctions::Junction)) and returns its shape.
    pub fn add<J: crate::junctions::Junction>(&mut self, junction: J) -> J::Shape {
        junction.add_to(self)
    }

    /// Connects `from` to `to`.
    pub fn connect<T>(&mut self, from: Out<T>, to: In<T>) {
        if from.builder != self.id || to.builder != self.id {
            self.errors.push(GraphError::ForeignPort);
            return;
        }
        for (node, port, declared, dir) in [
            (from.node, from.port, self.nodes[from.node].outputs, "out"),
            (to.node, to.port, self.nodes[to.node].inputs, "in"),
        ] {
            if port >= declared {
                // Only a user-defined stage shape whose `handles` and `declare` disagree.
                self.errors.push(GraphError::InvalidShape {
                    stage: self.nodes[node].name,
                    port: dir,
                    problem: "the shape made a handle for a port it does not declare",
                });
                return;
            }
        }
        if !self.used_outlets.insert((from.node, from.port)) {
            self.errors.push(GraphError::ConnectedTwice {
                node: self.nodes[from.node].name,
                port: format!("out {}", from.port),
            });
        }
        if self
            .edges
            .insert((to.node, to.port), (from.node, from.port))
            .is_some()
        {
            self.errors.push(GraphError::ConnectedTwice {
                node: self.nodes[to.node].name,
                port: format!("in {}", to.port),
            });
        }
    }

    /// Adds `flow` after `from` and returns the flow's output.
    pub fn via<I: Send + 'static, O: Send + 'static, M: 'static>(
        &mut self,
        from: Out<I>,
        flow: Flow<I, O, M>,
    ) -> Out<O> {
        let (i, o) = self.add_flow(flow);
        self.connect(from, i);
        o
    }

    /// Connects `from` to a new `sink`.
    pub fn to<T: Send + 'static, M: 'static>(&mut self, from: Out<T>, sink: Sink<T, M>) {
        let i = self.add_sink(sink);
        self.connect(from, i);
    }

    /// Checks the wiring: every port connected once except the open ones, no fused-only cycle.
    fn validate(
        &self,
        open_in: Option<(usize, usize)>,
        open_out: Option<(usize, usize)>,
    ) -> Result<(), GraphError> {
        self.validate_open(
            &open_in.into_iter().collect::<Vec<_>>(),
            &open_out.into_iter().collect::<Vec<_>>(),
        )
    }

    /// Checks the wiring, with `open_in`/`open_out` the ports left for the outside.
    fn validate_open(
        &self,
        open_in: &[(usize, usize)],
        open_out: &[(usize, usize)],
    ) -> Result<(), GraphError> {
        if let Some(e) = self.errors.first() {
            return Err(e.clone());
        }
        for (ports, dir) in [(open_in, "in"), (open_out, "out")] {
            for (i, &(n, p)) in ports.iter().enumerate() {
                if ports[..i].contains(&(n, p)) {
                    return Err(GraphError::ConnectedTwice {
                        node: self.nodes[n].name,
                        port: format!("{dir} {p}"),
                    });
                }
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            for p in 0..node.inputs {
                let open = open_in.contains(&(n, p));
                let connected = self.edges.contains_key(&(n, p));
                if open && connected {
                    return Err(GraphError::ConnectedTwice {
                        node: node.name,
                        port: format!("in {p}"),
                    });
                }
                if !open && !connected {
                    return Err(GraphError::Unconnected {
                        node: node.name,
                        port: format!("in {p}"),
                    });
                }
            }
            for p in 0..node.outputs {
                let open = open_out.contains(&(n, p));
                let connected = self.used_outlets.contains(&(n, p));
                if open && connected {
                    return Err(GraphError::ConnectedTwice {
                        node: node.name,
                        port: format!("out {p}"),
                    });
                }
                if !open && !connected {
                    return Err(GraphError::Unconnected {
                        node: node.name,
                        port: format!("out {p}"),
                    });
                }
            }
        }
        self.check_cycles()
    }

    /// The unit output `out_port` of node `n` belongs to (a fused node is one unit, each
    /// direction of a bidi flow one) and the inputs it reads through fused stages; `None` for
    /// an island, which reads nothing fused.
    fn fused_reads(&self, n: usize, out_port: usize) -> Option<((usize, usize), Vec<usize>)> {
        match &self.nodes[n].imp {
            NodeImpl::Boundary(_) => None,
            NodeImpl::Bidi(_, deps) => Some((
                (n, out_port),
                (0..2).filter(|&i| deps[out_port][i]).collect(),
            )),
            NodeImpl::Fused(_) => Some(((n, 0), (0..self.nodes[n].inputs).collect())),
        }
    }

    /// Which of `targets` (open inputs) output `from` reads through fused stages only.
    fn fused_inputs(&self, from: (usize, usize), targets: &[(usize, usize); 2]) -> [bool; 2] {
        let mut found = [false; 2];
        let mut seen = HashSet::new();
        let mut stack = vec![from];
        while let Some((n, out_port)) = stack.pop() {
            if !seen.insert((n, out_port)) {
                continue;
            }
            let Some((_, inputs)) = self.fused_reads(n, out_port) else {
                continue;
            };
            for i in inputs {
                if let Some(t) = targets.iter().position(|&t| t == (n, i)) {
                    found[t] = true;
                } else if let Some(&up) = self.edges.get(&(n, i)) {
                    stack.push(up);
                }
            }
        }
        found
    }

    /// A cycle through fused nodes only would make materialization recurse forever (or, through
    /// one direction of a bidi flow, never start).
    fn check_cycles(&self) -> Result<(), GraphError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        /// See `fused_reads`.
        type Unit = (usize, usize);
        fn visit(
            b: &GraphBuilder,
            n: usize,
            out_port: usize,
            marks: &mut HashMap<Unit, Mark>,
            path: &mut Vec<usize>,
        ) -> Result<(), GraphError> {
            let Some((unit, inputs)) = b.fused_reads(n, out_port) else {
                return Ok(());
            };
            match marks.get(&unit) {
                Some(Mark::Done) => return Ok(()),
                Some(Mark::Active) => {
                    let start = path.iter().position(|&x| x == n).unwrap_or(0);
                    return Err(GraphError::CycleWithoutBoundary {
                        nodes: path[start..].iter().map(|&x| b.nodes[x].name).collect(),
                    });
                }
                None => {}
            }
            marks.insert(unit, Mark::Active);
            path.push(n);
            for p in inputs {
                if let Some(&(up, up_port)) = b.edges.get(&(n, p)) {
                    visit(b, up, up_port, marks, path)?;
                }
            }
            path.pop();
            marks.insert(unit, Mark::Done);
            Ok(())
        }
        let mut marks = HashMap::new();
        for n in 0..self.nodes.len() {
            for out_port in 0..self.nodes[n].outputs.max(1) {
                visit(self, n, out_port, &mut marks, &mut Vec::new())?;
            }
        }
        Ok(())
    }

    fn into_spec(self) -> Arc<materialize::Spec> {
        Arc::new(materialize::Spec {
            builder: self.id,
            nodes: self.nodes,
            edges: self.edges,
            mats: self.mats,
            derived: self.derived,
        })
    }

    /// Packages the graph as a reusable partial graph whose open ports are those of `shape`
    /// (Akka's partial `GraphDSL`); add it to other builders with
    /// [`import`](GraphBuilder::import). Its materialized value is `()`; see
    /// [`build_partial_mat`](GraphBuilder::build_partial_mat) to keep its parts' values.
    ///
    /// ```
    /// use weir::builder::{GraphBuilder, PartialGraph};
    /// use weir::junctions::{UniformFanInShape, Zip};
    /// use weir::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // A three-input "pick the largest" fan-in, built once…
    /// let mut b = GraphBuilder::new();
    /// let z1 = b.add(Zip::<i32, i32>::new());
    /// let z2 = b.add(Zip::<i32, i32>::new());
    /// let m1 = b.via(z1.out, Flow::<(i32, i32)>::new().map(|(a, b)| a.max(b)));
    /// b.connect(m1, z2.in0);
    /// let out = b.via(z2.out, Flow::<(i32, i32)>::new().map(|(a, b)| a.max(b)));
    /// let max3 = b
    ///     .build_partial(UniformFanInShape { ins: vec![z1.in0, z1.in1, z2.in1], out })
    ///     .unwrap();
    ///
    /// // …and used inside another graph.
    /// let mut b = GraphBuilder::new();
    /// let shape = b.import(&max3);
    /// for (i, input) in shape.ins.iter().enumerate() {
    ///     let s = b.add_source(Source::from_iter(vec![i as i32, 10 - i as i32]));
    ///     b.connect(s, *input);
    /// }
    /// let (sink, seq) = b.add_sink_mat(Sink::seq());
    /// b.connect(shape.out, sink);
    /// let got = b.build(move |m| m.take(seq)).unwrap().run().await.unwrap();
    /// assert_eq!(got, vec![2, 10]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`build`](GraphBuilder::build), with the shape's ports as the open ones.
    pub fn build_partial<S: Shape>(self, shape: S) -> Result<PartialGraph<S>, GraphError> {
        self.build_partial_mat(shape, |_| ())
    }

    /// Like [`build_partial`](GraphBuilder::build_partial), with the materialized value `mat`
    /// computes from the values of the parts added with the `_mat` methods; a builder that
    /// imports the graph with [`import_mat`](GraphBuilder::import_mat) gets it.
    ///
    /// ```
    /// use weir::builder::GraphBuilder;
    /// use weir::junctions::{Broadcast, UniformFanInShape};
    /// use weir::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // A tap: passes elements on, and counts them into its materialized value.
    /// let mut b = GraphBuilder::new();
    /// let fan = b.add(Broadcast::<u32>::new(2));
    /// let (count, key) = b.add_sink_mat(Sink::fold(0, |n, _| n + 1));
    /// b.connect(fan.outs[1], count);
    /// let tap = b.build_partial_mat((fan.inlet, fan.outs[0]), move |m| m.take(key)).unwrap();
    ///
    /// let mut b = GraphBuilder::new();
    /// let ((inlet, out), counted) = b.import_mat(&tap);
    /// let numbers = b.add_source(Source::range(1u32, 5));
    /// b.connect(numbers, inlet);
    /// let (sink, seq) = b.add_sink_mat(Sink::seq());
    /// b.connect(out, sink);
    /// let (counted, seq) = b.build(move |m| (m.take(counted), m.take(seq))).unwrap().run();
    /// assert_eq!(seq.await.unwrap(), vec![1, 2, 3, 4, 5]);
    /// assert_eq!(counted.await.unwrap(), 5);
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`build_partial`](GraphBuilder::build_partial).
    pub fn build_partial_mat<S, M, F>(
        self,
        shape: S,
        mat: F,
    ) -> Result<PartialGraph<S, M>, GraphError>
    where
        S: Shape,
        F: Fn(&mut Mats) -> M + Send + Sync + 'static,
    {
        let (ins, outs) = shape.ports();
        if ins.iter().chain(&outs).any(|(b, _, _)| *b != self.id) {
            return Err(GraphError::ForeignPort);
        }
        let strip =
            |v: Vec<(u64, usize, usize)>| v.into_iter().map(|(_, n, p)| (n, p)).collect::<Vec<_>>();
        self.validate_open(&strip(ins), &strip(outs))?;
        Ok(PartialGraph {
            nodes: self.nodes,
            edges: self.edges,
            shape,
            builder: self.id,
            mats: self.mats,
            derived: self.derived,
            mat: Arc::new(mat),
        })
    }

    /// Adds a copy of `graph`'s parts to this builder and returns its open ports, now ports of
    /// this builder; `graph`'s materialized value is dropped.
    pub fn import<S: Shape, M>(&mut self, graph: &PartialGraph<S, M>) -> S {
        self.import_parts(graph, false)
    }

    /// Like [`import`](GraphBuilder::import), keeping `graph`'s materialized value.
    pub fn import_mat<S: Shape, M: 'static>(
        &mut self,
        graph: &PartialGraph<S, M>,
    ) -> (S, MatKey<M>) {
        let base = self.mats;
        let shape = self.import_parts(graph, true);
        let slot = self.mats;
        self.mats += 1;
        let mat = graph.mat.clone();
        self.derived.push(Derived {
            slot,
            base,
            count: graph.mats,
            builder: graph.builder,
            make: Arc::new(move |m| Box::new(mat(m)) as AnyMat),
        });
        let key = MatKey {
            builder: self.id,
            index: slot,
            _m: PhantomData,
        };
        (shape, key)
    }

    fn import_parts<S: Shape, M>(&mut self, graph: &PartialGraph<S, M>, keep: bool) -> S {
        let offset = self.nodes.len();
        let base = self.mats;
        for node in &graph.nodes {
            let mut node = node.clone();
            node.mat = node.mat.filter(|_| keep).map(|i| i + base);
            self.nodes.push(node);
        }
        if keep {
            self.mats += graph.mats;
            self.derived.extend(graph.derived.iter().map(|d| Derived {
                slot: d.slot + base,
                base: d.base + base,
                ..d.clone()
            }));
        }
        for (&(n, p), &(un, up)) in &graph.edges {
            self.edges.insert((n + offset, p), (un + offset, up));
            self.used_outlets.insert((un + offset, up));
        }
        graph.shape.rebase(graph.builder, self.id, offset)
    }

    /// Closes the graph into a runnable graph whose materialized value `mat` computes.
    ///
    /// # Errors
    /// A [`GraphError`] for an unconnected or doubly connected port or a fused-only cycle.
    pub fn build<M, F>(self, mat: F) -> Result<RunnableGraph<M>, GraphError>
    where
        M: 'static,
        F: Fn(&mut Mats) -> M + Send + Sync + 'static,
    {
        self.validate(None, None)?;
        let spec = self.into_spec();
        Ok(RunnableGraph::from_fn(move |m, a| {
            let (_, mut mats) = spec.materialize(m, a, Vec::new(), &[]);
            mat(&mut mats)
        }))
    }

    /// Exposes `out` as the output of a source.
    ///
    /// # Errors
    /// As [`build`](GraphBuilder::build).
    pub fn build_source<T, M, F>(self, out: Out<T>, mat: F) -> Result<Source<T, M>, GraphError>
    where
        T: Send + 'static,
        M: 'static,
        F: Fn(&mut Mats) -> M + Send + Sync + 'static,
    {
        if out.builder != self.id {
            return Err(GraphError::ForeignPort);
        }
        self.validate(None, Some((out.node, out.port)))?;
        let spec = self.into_spec();
        Ok(Source::from_fn(move |m, a| {
            let (mut p, mut mats) = spec.materialize(m, a, Vec::new(), &[(out.node, out.port)]);
            (take_pull::<T>(&mut p, 0), mat(&mut mats))
        }))
    }

    /// Exposes `inlet` and `out` as the input and output of a flow.
    ///
    /// # Errors
    /// As [`build`](GraphBuilder::build).
    pub fn build_flow<I, O, M, F>(
        self,
        inlet: In<I>,
        out: Out<O>,
        mat: F,
    ) -> Result<Flow<I, O, M>, GraphError>
    where
        I: Send + 'static,
        O: Send + 'static,
        M: 'static,
        F: Fn(&mut Mats) -> M + Send + Sync + 'static,
    {
        if inlet.builder != self.id || out.builder != self.id {
            return Err(GraphError::ForeignPort);
        }
        self.validate(Some((inlet.node, inlet.port)), Some((out.node, out.port)))?;
        let spec = self.into_spec();
        Ok(Flow::from_fn(move |m, up, a| {
            let external = vec![((inlet.node, inlet.port), Box::new(up) as AnyPull)];
            let (mut p, mut mats) = spec.materialize(m, a, external, &[(out.node, out.port)]);
            (take_pull::<O>(&mut p, 0), mat(&mut mats))
        }))
    }

    /// Exposes `inlet` as the input of a sink.
    ///
    /// # Errors
    /// As [`build`](GraphBuilder::build).
    pub fn build_sink<I, M, F>(self, inlet: In<I>, mat: F) -> Result<Sink<I, M>, GraphError>
    where
        I: Send + 'static,
        M: 'static,
        F: Fn(&mut Mats) -> M + Send + Sync + 'static,
    {
        if inlet.builder != self.id {
            return Err(GraphError::ForeignPort);
        }
        self.validate(Some((inlet.node, inlet.port)), None)?;
        let spec = self.into_spec();
        Ok(Sink::from_fn(move |m, up, a| {
            let external = vec![((inlet.node, inlet.port), Box::new(up) as AnyPull)];
            let (_, mut mats) = spec.materialize(m, a, external, &[]);
            mat(&mut mats)
        }))
    }

    /// Exposes `ports` as the two directions of a bidi flow: `in1` → `out1` on top, `in2` →
    /// `out2` below (Akka's `BidiFlow.fromGraph` of a `BidiShape` graph).
    ///
    /// ```
    /// use weir::builder::GraphBuilder;
    /// use weir::junctions::BidiPorts;
    /// use weir::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Frames on the way out, unframes on the way back.
    /// let mut b = GraphBuilder::new();
    /// let (in1, out1) = b.add_flow(Flow::<String>::new().map(|s| format!("<{s}>")));
    /// let (in2, out2) = b.add_flow(Flow::<String>::new().map(|s| s.trim_matches(['<', '>']).to_string()));
    /// let framing = b.build_bidi(BidiPorts { in1, out1, in2, out2 }, |_| ()).unwrap();
    ///
    /// let echo = framing.join(Flow::<String>::new().map(|s| s.to_uppercase()));
    /// let got = Source::single("hi".to_string()).via(echo).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(got, vec!["HI"]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`build`](GraphBuilder::build), with the four ports as the open ones.
    pub fn build_bidi<I1, O1, I2, O2, M, F>(
        self,
        ports: BidiPorts<I1, O1, I2, O2>,
        mat: F,
    ) -> Result<BidiFlow<I1, O1, I2, O2, M>, GraphError>
    where
        I1: Send + 'static,
        O1: Send + 'static,
        I2: Send + 'static,
        O2: Send + 'static,
        M: 'static,
        F: Fn(&mut Mats) -> M + Send + Sync + 'static,
    {
        let BidiPorts {
            in1,
            out1,
            in2,
            out2,
        } = ports;
        let all = [in1.builder, out1.builder, in2.builder, out2.builder];
        if all.iter().any(|b| *b != self.id) {
            return Err(GraphError::ForeignPort);
        }
        let ins = [(in1.node, in1.port), (in2.node, in2.port)];
        let outs = [(out1.node, out1.port), (out2.node, out2.port)];
        self.validate_open(&ins, &outs)?;
        let deps = [
            self.fused_inputs(outs[0], &ins),
            self.fused_inputs(outs[1], &ins),
        ];
        let spec = self.into_spec();
        Ok(BidiFlow::from_fn(deps, move |m, a| {
            crate::bidi::on_deferred_inputs(|up1: BoxPull<I1>, up2: BoxPull<I2>| {
                let external = vec![(ins[0], Box::new(up1) as AnyPull), (ins[1], Box::new(up2))];
                let (mut p, mut mats) = spec.materialize(m, a, external, &outs);
                let out1 = take_pull::<O1>(&mut p, 0);
                (out1, take_pull::<O2>(&mut p, 1), mat(&mut mats))
            })
        }))
    }
}

/// Takes input `i` as a typed pull. Types are guaranteed by the typed handles.
pub(crate) fn take_pull<T: 'static>(ins: &mut [AnyPull], i: usize) -> BoxPull<T> {
    let any = std::mem::replace(&mut ins[i], Box::new(()));
    downcast_pull(any)
}

pub(crate) fn downcast_pull<T: 'static>(any: AnyPull) -> BoxPull<T> {
    *any.downcast::<BoxPull<T>>()
        .expect("port types are checked by the typed handles")
}

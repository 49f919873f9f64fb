//! `BidiFlow`: two flows in opposite directions, composed as one (Akka's `BidiFlow`).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::builder::Deps;
use crate::stage::{BoxPull, Pull, Step};
use crate::{Attributes, Flow, Keep, Materializer, NotUsed, StreamError};

/// One direction of a materialized bidi flow, wired once its input is known.
pub(crate) type Half<I, O> = Box<dyn FnOnce(BoxPull<I>) -> BoxPull<O>>;

/// One materialization of a bidi flow: both directions and the materialized value.
pub(crate) struct Halves<I1, O1, I2, O2, Mat> {
    pub(crate) top: Half<I1, O1>,
    pub(crate) bottom: Half<I2, O2>,
    pub(crate) mat: Mat,
}

type BidiFn<I1, O1, I2, O2, Mat> =
    dyn Fn(&mut Materializer, &Attributes) -> Halves<I1, O1, I2, O2, Mat> + Send + Sync;

/// A blueprint with two directions: `top` from `I1` to `O1` and `bottom` from `I2` to `O2`,
/// typically a codec or protocol layer (Akka's `BidiFlow`).
///
/// Immutable and reusable like every blueprint. Build one from two flows or functions, from a
/// custom stage with a [`BidiShape`](crate::custom::BidiShape) (when the two directions share
/// state), or from a graph with
/// [`GraphBuilder::build_bidi`](crate::builder::GraphBuilder::build_bidi); put one in a graph
/// with [`GraphBuilder::add_bidi`](crate::builder::GraphBuilder::add_bidi). Stack layers with
/// [`atop`](BidiFlow::atop) and close the stack with [`join`](BidiFlow::join). As in Akka,
/// `atop` and `join` keep this (the left) materialized value; the `_mat` variants combine both.
///
/// ```
/// use weir::prelude::*;
/// use weir::BidiFlow;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // A codec: numbers to strings on the way out, strings to numbers on the way back.
/// let codec = BidiFlow::from_functions(|n: u32| n.to_string(), |s: String| s.parse::<u32>().unwrap_or(0));
/// let echo = Flow::<String>::new().map(|s| s + "0"); // a "server" that appends a zero
/// let client = codec.join(echo);
/// let out = Source::from_iter(vec![1u32, 2]).via(client).run_with(Sink::seq()).await.unwrap();
/// assert_eq!(out, vec![10, 20]);
/// # }
/// ```
#[must_use = "streams do nothing unless run"]
pub struct BidiFlow<I1, O1, I2, O2, Mat = NotUsed> {
    make: Arc<BidiFn<I1, O1, I2, O2, Mat>>,
    /// Which input each output reads through fused stages only (see `Deps`).
    deps: Deps,
}

impl<I1, O1, I2, O2, Mat> Clone for BidiFlow<I1, O1, I2, O2, Mat> {
    fn clone(&self) -> Self {
        BidiFlow {
            make: self.make.clone(),
            deps: self.deps,
        }
    }
}

impl<I1, O1, I2, O2, Mat> fmt::Debug for BidiFlow<I1, O1, I2, O2, Mat> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BidiFlow").finish_non_exhaustive()
    }
}

impl<I1, O1, I2, O2> BidiFlow<I1, O1, I2, O2, NotUsed>
where
    I1: Send + 'static,
    O1: Send + 'static,
    I2: Send + 'static,
    O2: Send + 'static,
{
    /// A bidi flow of two flows; their materialized values are dropped (Akka's `fromFlows`).
    pub fn from_flows<M1: 'static, M2: 'static>(
        top: Flow<I1, O1, M1>,
        bottom: Flow<I2, O2, M2>,
    ) -> Self {
        BidiFlow::from_flows_mat(top, bottom, Keep::none)
    }

    /// A bidi flow of two functions (Akka's `fromFunctions`).
    ///
    /// # Supervision
    /// Each function runs in a `map` stage: a panic fails that direction with
    /// `StreamError::Panicked`, unless a supervision decider attribute resumes or restarts.
    pub fn from_functions<F, G>(top: F, bottom: G) -> Self
    where
        F: FnMut(I1) -> O1 + Clone + Send + Sync + 'static,
        G: FnMut(I2) -> O2 + Clone + Send + Sync + 'static,
    {
        use crate::StreamOps;
        BidiFlow::from_flows(Flow::<I1>::new().map(top), Flow::<I2>::new().map(bottom))
    }
}

impl<I1, O1, I2, O2, Mat> BidiFlow<I1, O1, I2, O2, Mat>
where
    I1: Send + 'static,
    O1: Send + 'static,
    I2: Send + 'static,
    O2: Send + 'static,
    Mat: 'static,
{
    /// A bidi flow from its materialization function (raw tier); `deps` says which input
    /// each output reads through fused stages only.
    pub(crate) fn from_fn<F>(deps: Deps, make: F) -> Self
    where
        F: Fn(&mut Materializer, &Attributes) -> Halves<I1, O1, I2, O2, Mat>
            + Send
            + Sync
            + 'static,
    {
        BidiFlow {
            make: Arc::new(make),
            deps,
        }
    }

    /// Which input each output reads through fused stages only.
    pub(crate) fn deps(&self) -> Deps {
        self.deps
    }

    /// Materializes the bidi flow; each direction is wired by calling its half (raw tier).
    pub(crate) fn materialize_halves(
        &self,
        m: &mut Materializer,
        attrs: &Attributes,
    ) -> Halves<I1, O1, I2, O2, Mat> {
        (self.make)(m, attrs)
    }

    /// A bidi flow of two flows, their materialized values combined by `combine` (Akka's
    /// `fromFlowsMat`).
    pub fn from_flows_mat<M1, M2, F>(
        top: Flow<I1, O1, M1>,
        bottom: Flow<I2, O2, M2>,
        combine: F,
    ) -> Self
    where
        M1: 'static,
        M2: 'static,
        F: Fn(M1, M2) -> Mat + Send + Sync + 'static,
    {
        BidiFlow::from_fn(STRAIGHT, move |m, a| {
            on_deferred_inputs(|up1, up2| {
                let (out1, m1) = top.materialize_into(m, up1, a);
                let (out2, m2) = bottom.materialize_into(m, up2, a);
                (out1, out2, combine(m1, m2))
            })
        })
    }

    /// Stacks `other` below this layer, keeping this layer's materialized value (Akka's
    /// `atop`): the top direction runs this, then `other`; the bottom runs `other`, then this.
    pub fn atop<O12, I22, M2>(
        self,
        other: BidiFlow<O1, O12, I22, I2, M2>,
    ) -> BidiFlow<I1, O12, I22, O2, Mat>
    where
        O12: Send + 'static,
        I22: Send + 'static,
        M2: 'static,
    {
        self.atop_mat(other, Keep::left)
    }

    /// Like [`atop`](BidiFlow::atop), combining both materialized values with `combine`.
    pub fn atop_mat<O12, I22, M2, M3, F>(
        self,
        other: BidiFlow<O1, O12, I22, I2, M2>,
        combine: F,
    ) -> BidiFlow<I1, O12, I22, O2, M3>
    where
        O12: Send + 'static,
        I22: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        let deps = stacked(self.deps, other.deps);
        BidiFlow::from_fn(deps, move |m, a| {
            let upper = self.materialize_halves(m, a);
            let lower = other.materialize_halves(m, a);
            let (t1, t2, b1, b2) = (upper.top, lower.top, upper.bottom, lower.bottom);
            Halves {
                top: Box::new(move |up| t2(t1(up))),
                bottom: Box::new(move |up| b1(b2(up))),
                mat: combine(upper.mat, lower.mat),
            }
        })
    }

    /// Closes the stack with `flow`, which turns the top output into the bottom input: the
    /// result is a flow from `I1` to `O2` that keeps this bidi flow's materialized value
    /// (Akka's `join`).
    pub fn join<M2: 'static>(self, flow: Flow<O1, I2, M2>) -> Flow<I1, O2, Mat> {
        self.join_mat(flow, Keep::left)
    }

    /// Like [`join`](BidiFlow::join), combining both materialized values with `combine`.
    pub fn join_mat<M2, M3, F>(self, flow: Flow<O1, I2, M2>, combine: F) -> Flow<I1, O2, M3>
    where
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        // A layer whose top output reads its bottom input (a crossed graph from `build_bidi`)
        // closes a loop through `flow`: an async boundary keeps that loop from being fused.
        let flow = if self.deps[0][1] {
            flow.async_boundary()
        } else {
            flow
        };
        Flow::from_fn(move |m, up, a| {
            let halves = self.materialize_halves(m, a);
            let top = (halves.top)(up);
            let (turned, m2) = flow.materialize_into(m, top, a);
            ((halves.bottom)(turned), combine(halves.mat, m2))
        })
    }

    /// The same layer seen from the other side: top and bottom swapped.
    pub fn reversed(self) -> BidiFlow<I2, O2, I1, O1, Mat> {
        let d = self.deps;
        let deps = [[d[1][1], d[1][0]], [d[0][1], d[0][0]]];
        BidiFlow::from_fn(deps, move |m, a| {
            let h = self.materialize_halves(m, a);
            Halves {
                top: h.bottom,
                bottom: h.top,
                mat: h.mat,
            }
        })
    }

    /// Transforms the materialized value.
    pub fn map_materialized_value<M2, F>(self, f: F) -> BidiFlow<I1, O1, I2, O2, M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        BidiFlow::from_fn(self.deps, move |m, a| {
            let h = self.materialize_halves(m, a);
            Halves {
                top: h.top,
                bottom: h.bottom,
                mat: f(h.mat),
            }
        })
    }

    /// Attaches attributes to every operator of this bidi flow that has no closer ones.
    pub fn with_attributes(self, attrs: Attributes) -> Self {
        let deps = self.deps;
        BidiFlow::from_fn(deps, move |m, a| self.materialize_halves(m, &a.and(&attrs)))
    }

    /// Names this bidi flow (Akka's `named`).
    pub fn named(self, name: &'static str) -> Self {
        self.with_attributes(Attributes::name(name))
    }
}

/// Each output reads its own direction's input: two flows side by side.
pub(crate) const STRAIGHT: Deps = [[true, false], [false, true]];

/// Reads nothing through fused stages: a custom stage, its own island.
pub(crate) const ISLAND: Deps = [[false, false], [false, false]];

/// The dependencies of `upper` stacked on `lower` (`upper.atop(lower)`): the stack's top
/// output is `lower`'s, its bottom output `upper`'s; `upper`'s bottom input is `lower`'s bottom
/// output and `lower`'s top input is `upper`'s top output.
fn stacked(upper: Deps, lower: Deps) -> Deps {
    // Ports: 0/1 the stack's inputs; the rest name the layers' outputs.
    #[derive(Clone, Copy, PartialEq)]
    enum Port {
        Input(usize),
        Upper(usize),
        Lower(usize),
    }
    // What feeds each layer's input `i`.
    let feed = |layer_is_upper: bool, i: usize| match (layer_is_upper, i) {
        (true, 0) => Port::Input(0),
        (true, _) => Port::Lower(1),
        (false, 0) => Port::Upper(0),
        (false, _) => Port::Input(1),
    };
    let reads = |out: Port| {
        let mut found = [false; 2];
        let mut stack = vec![out];
        let mut seen = Vec::new();
        while let Some(p) = stack.pop() {
            if seen.contains(&p) {
                continue;
            }
            seen.push(p);
            let (is_upper, o, deps) = match p {
                Port::Input(i) => {
                    found[i] = true;
                    continue;
                }
                Port::Upper(o) => (true, o, upper),
                Port::Lower(o) => (false, o, lower),
            };
            for (i, &reads) in deps[o].iter().enumerate() {
                if reads {
                    stack.push(feed(is_upper, i));
                }
            }
        }
        found
    };
    [reads(Port::Lower(0)), reads(Port::Upper(1))]
}

/// Materializes both directions at once on deferred inputs (`wire` gets them and returns the
/// outputs and the value); each half then supplies its input and hands back its output.
pub(crate) fn on_deferred_inputs<I1, O1, I2, O2, Mat>(
    wire: impl FnOnce(BoxPull<I1>, BoxPull<I2>) -> (BoxPull<O1>, BoxPull<O2>, Mat),
) -> Halves<I1, O1, I2, O2, Mat>
where
    I1: Send + 'static,
    O1: 'static,
    I2: Send + 'static,
    O2: 'static,
{
    let (fill1, up1) = deferred();
    let (fill2, up2) = deferred();
    let (out1, out2, mat) = wire(up1, up2);
    Halves {
        top: half(fill1, out1),
        bottom: half(fill2, out2),
        mat,
    }
}

/// A direction whose stages are already materialized on `fill`'s deferred input.
fn half<I: Send + 'static, O: 'static>(fill: Filler<I>, out: BoxPull<O>) -> Half<I, O> {
    Box::new(move |up| {
        fill.fill(up);
        out
    })
}

/// A stage input that is wired after the stages reading it have been materialized: a
/// direction of a bidi flow exists before what feeds it does. Nothing is pulled before the
/// materialization completes, so the input is always there by the first pull.
pub(crate) fn deferred<T: Send + 'static>() -> (Filler<T>, BoxPull<T>) {
    let slot = Arc::new(Mutex::new(None));
    (Filler(slot.clone()), Box::new(Deferred { slot, up: None }))
}

/// Supplies a [`deferred`] input.
pub(crate) struct Filler<T>(Arc<Mutex<Option<BoxPull<T>>>>);

impl<T> Filler<T> {
    pub(crate) fn fill(self, up: BoxPull<T>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(up);
    }
}

struct Deferred<T> {
    slot: Arc<Mutex<Option<BoxPull<T>>>>,
    up: Option<BoxPull<T>>,
}

impl<T: Send + 'static> Pull<T> for Deferred<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if self.up.is_none() {
            self.up = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        match self.up.as_mut() {
            Some(up) => up.pull(cx, out, max),
            // Every combinator wires both directions before the stream starts.
            None => Poll::Ready(Step::Failed(StreamError::AbruptTermination)),
        }
    }
}

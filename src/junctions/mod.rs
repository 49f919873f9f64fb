//! Fan-in and fan-out junctions for the [graph builder](crate::builder), with Akka's emission,
//! completion and cancellation rules.
//!
//! Fan-in junctions (`Merge`, `Zip`, `Concat`, …) are fused stages — the same stages behind the
//! linear shortcuts `merge`, `zip`, `concat`. Fan-out junctions (`Broadcast`, `Balance`,
//! `Partition`, `Unzip`) run as an island of their own with one bounded buffer per output.

mod fan_out;

use std::marker::PhantomData;
use std::sync::Arc;

pub(crate) use fan_out::{
    BalanceRouter, BroadcastRouter, FanOut, PartitionRouter, Router, TapRouter,
};

use crate::boundary;
use crate::builder::{take_pull, AnyMat, AnyPull, GraphBuilder, In, NodeImpl, Out};
use crate::ops;
use crate::stage::{BoxPull, Supervisor};

/// Something that adds itself to a [`GraphBuilder`] and returns its ports.
pub trait Junction {
    /// The junction's ports.
    type Shape;
    /// Adds the junction to `b`.
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape;
}

/// `n` inputs of `I`, one output of `O`.
#[derive(Debug, Clone)]
pub struct UniformFanInShape<I, O> {
    /// The inputs.
    pub ins: Vec<In<I>>,
    /// The output.
    pub out: Out<O>,
}

/// One input of `I`, `n` outputs of `O`.
#[derive(Debug, Clone)]
pub struct UniformFanOutShape<I, O> {
    /// The input.
    pub inlet: In<I>,
    /// The outputs.
    pub outs: Vec<Out<O>>,
}

/// Two inputs of different types, one output.
#[derive(Debug, Clone, Copy)]
pub struct FanIn2Shape<A, B, O> {
    /// The first input.
    pub in0: In<A>,
    /// The second input.
    pub in1: In<B>,
    /// The output.
    pub out: Out<O>,
}

/// Three inputs of different types, one output.
#[derive(Debug, Clone, Copy)]
pub struct FanIn3Shape<A, B, C, O> {
    /// The first input.
    pub in0: In<A>,
    /// The second input.
    pub in1: In<B>,
    /// The third input.
    pub in2: In<C>,
    /// The output.
    pub out: Out<O>,
}

/// One input, two outputs of different types.
#[derive(Debug, Clone, Copy)]
pub struct FanOut2Shape<I, A, B> {
    /// The input.
    pub inlet: In<I>,
    /// The first output.
    pub out0: Out<A>,
    /// The second output.
    pub out1: Out<B>,
}

/// Two directions: `in1` → `out1` on top, `in2` → `out2` below (a bidi stage's ports, or a
/// [`BidiFlow`](crate::BidiFlow) added to a builder).
#[derive(Debug, Clone, Copy)]
pub struct BidiPorts<I1, O1, I2, O2> {
    /// The top input.
    pub in1: In<I1>,
    /// The top output.
    pub out1: Out<O1>,
    /// The bottom input.
    pub in2: In<I2>,
    /// The bottom output.
    pub out2: Out<O2>,
}

/// A preferred input, `n` other inputs, one output.
#[derive(Debug, Clone)]
pub struct MergePreferredShape<T> {
    /// The input drained first.
    pub preferred: In<T>,
    /// The other inputs.
    pub ins: Vec<In<T>>,
    /// The output.
    pub out: Out<T>,
}

fn no_mat() -> AnyMat {
    Box::new(())
}

/// Adds a fused fan-in node built by `make` from its typed inputs.
fn fan_in<I, O, F>(
    b: &mut GraphBuilder,
    name: &'static str,
    n: usize,
    make: F,
) -> UniformFanInShape<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(Vec<BoxPull<I>>) -> BoxPull<O> + Send + Sync + 'static,
{
    let imp = NodeImpl::Fused(Arc::new(move |_, _, mut ins: Vec<AnyPull>| {
        // A junction with no inputs has nothing to emit: it completes at once.
        let out: BoxPull<O> = if ins.is_empty() {
            Box::new(crate::stage::Completed)
        } else {
            let typed = (0..ins.len())
                .map(|i| take_pull::<I>(&mut ins, i))
                .collect();
            make(typed)
        };
        (vec![Box::new(out) as AnyPull], no_mat())
    }));
    let node = b.add_node(name, n, 1, imp, false);
    UniformFanInShape {
        ins: (0..n).map(|p| b.in_handle(node, p)).collect(),
        out: b.out_handle(node, 0),
    }
}

/// Adds a fan-out island node: `n` bounded outputs fed by the future `make` builds.
fn fan_out<I, O, F>(
    b: &mut GraphBuilder,
    name: &'static str,
    n: usize,
    make: F,
) -> UniformFanOutShape<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(
            BoxPull<I>,
            Vec<boundary::Sender<O>>,
            &crate::Attributes,
        ) -> futures::future::BoxFuture<'static, ()>
        + Send
        + Sync
        + 'static,
{
    let make = Arc::new(make);
    let imp = NodeImpl::Boundary(Arc::new(move |_, a| {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| boundary::channel::<O>(a.input_buffer_size()))
            .unzip();
        let outs = rxs
            .into_iter()
            .map(|rx| Box::new(Box::new(rx) as BoxPull<O>) as AnyPull)
            .collect();
        let make = make.clone();
        let attrs = a.clone();
        let attach: crate::builder::Attach = Box::new(move |m, mut ins| {
            let up = take_pull::<I>(&mut ins, 0);
            m.spawn_labeled(attrs.name_or(name), None, make(up, txs, &attrs));
        });
        (outs, attach, no_mat())
    }));
    let node = b.add_node(name, 1, n, imp, false);
    UniformFanOutShape {
        inlet: b.in_handle(node, 0),
        outs: (0..n).map(|p| b.out_handle(node, p)).collect(),
    }
}

macro_rules! junction_struct {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* }) => {
        $(#[$doc])*
        pub struct $name<T> {
            $($field: $ty,)*
            _t: PhantomData<fn(T)>,
        }

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}

junction_struct!(
    /// Emits elements of `n` inputs as they arrive (Akka's `Merge`). Completes when all inputs
    /// complete, or when any does with `eager_complete`; fails when any fails.
    Merge { n: usize, eager_complete: bool }
);

impl<T> Merge<T> {
    /// A merge of `n` inputs.
    pub fn new(n: usize) -> Self {
        Merge {
            n,
            eager_complete: false,
            _t: PhantomData,
        }
    }

    /// A merge that completes as soon as any input completes.
    pub fn eager_complete(n: usize) -> Self {
        Merge {
            n,
            eager_complete: true,
            _t: PhantomData,
        }
    }
}

impl<T: Send + 'static> Junction for Merge<T> {
    type Shape = UniformFanInShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let eager = self.eager_complete;
        fan_in(b, "merge", self.n, move |ins| {
            Box::new(ops::Merge::new(ins, eager))
        })
    }
}

junction_struct!(
    /// Like `Merge`, but drains the preferred input before the others on every pull (Akka's
    /// `MergePreferred`).
    MergePreferred { secondary: usize, eager_complete: bool }
);

impl<T> MergePreferred<T> {
    /// A preferred input and `secondary` others; completes when all inputs have.
    pub fn new(secondary: usize) -> Self {
        MergePreferred {
            secondary,
            eager_complete: false,
            _t: PhantomData,
        }
    }

    /// Like [`new`](MergePreferred::new), but completes as soon as any input completes (Akka's
    /// `eagerComplete = true`).
    pub fn eager_complete(secondary: usize) -> Self {
        MergePreferred {
            secondary,
            eager_complete: true,
            _t: PhantomData,
        }
    }
}

impl<T: Send + 'static> Junction for MergePreferred<T> {
    type Shape = MergePreferredShape<T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let eager = self.eager_complete;
        let shape = fan_in(b, "merge_preferred", self.secondary + 1, move |ins| {
            Box::new(ops::Merge::preferred(ins, eager))
        });
        let mut ins = shape.ins;
        let preferred = ins.remove(0);
        MergePreferredShape {
            preferred,
            ins,
            out: shape.out,
        }
    }
}

junction_struct!(
    /// Like `Merge`, but when several inputs have elements, each gets a share of the demand in
    /// proportion to its priority (Akka's `MergePrioritized`, which picks at random with these
    /// weights; weir shares deterministically). A priority of 0 makes the graph's `build` fail
    /// with [`GraphError::InvalidArgument`](crate::builder::GraphError::InvalidArgument), as
    /// Akka requires positive priorities.
    MergePrioritized { priorities: Vec<usize>, eager_complete: bool }
);

impl<T> MergePrioritized<T> {
    /// One input per priority; completes when all inputs have.
    pub fn new(priorities: Vec<usize>) -> Self {
        MergePrioritized {
            priorities,
            eager_complete: false,
            _t: PhantomData,
        }
    }

    /// Like [`new`](MergePrioritized::new), but completes as soon as any input completes
    /// (Akka's `eagerComplete = true`).
    pub fn eager_complete(priorities: Vec<usize>) -> Self {
        MergePrioritized {
            priorities,
            eager_complete: true,
            _t: PhantomData,
        }
    }
}

impl<T: Send + 'static> Junction for MergePrioritized<T> {
    type Shape = UniformFanInShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let (priorities, eager) = (self.priorities, self.eager_complete);
        if priorities.contains(&0) {
            b.report(crate::builder::GraphError::InvalidArgument {
                node: "merge_prioritized",
                problem: "priorities must be at least 1",
            });
        }
        let n = priorities.len();
        fan_in(b, "merge_prioritized", n, move |ins| {
            Box::new(ops::Merge::weighted(ins, priorities.clone(), eager))
        })
    }
}

junction_struct!(
    /// Merges two sorted inputs into a sorted output (Akka's `MergeSorted`): emits when both
    /// inputs have an element (or one has completed); completes when both complete.
    MergeSorted {}
);

impl<T> MergeSorted<T> {
    /// A sorted merge of two inputs.
    pub fn new() -> Self {
        MergeSorted { _t: PhantomData }
    }
}

impl<T> Default for MergeSorted<T> {
    fn default() -> Self {
        MergeSorted::new()
    }
}

impl<T: Ord + Send + 'static> Junction for MergeSorted<T> {
    type Shape = UniformFanInShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        fan_in(b, "merge_sorted", 2, |mut ins| {
            let second = ins.pop().expect("two inputs");
            let first = ins.pop().expect("two inputs");
            Box::new(ops::MergeSorted::new(first, second))
        })
    }
}

junction_struct!(
    /// Emits the latest element of every input whenever any input emits, once each has emitted
    /// (Akka's `MergeLatest`). Completes when all inputs complete (or any, with
    /// `eager_complete`).
    MergeLatest { n: usize, eager_complete: bool }
);

impl<T> MergeLatest<T> {
    /// A latest-merge of `n` inputs.
    pub fn new(n: usize, eager_complete: bool) -> Self {
        MergeLatest {
            n,
            eager_complete,
            _t: PhantomData,
        }
    }
}

impl<T: Clone + Send + 'static> Junction for MergeLatest<T> {
    type Shape = UniformFanInShape<T, Vec<T>>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let eager = self.eager_complete;
        fan_in(b, "merge_latest", self.n, move |ins| {
            Box::new(ops::MergeLatest::new(ins, eager))
        })
    }
}

junction_struct!(
    /// Takes `segment_size` elements from each input in turn (Akka's `Interleave`). With
    /// `eager_close` it completes when any input completes; otherwise it goes on with the rest.
    /// A `segment_size` of 0 makes the graph's `build` fail with
    /// [`GraphError::InvalidArgument`](crate::builder::GraphError::InvalidArgument), as Akka
    /// rejects it when the stage is created.
    Interleave { n: usize, segment_size: usize, eager_close: bool }
);

impl<T> Interleave<T> {
    /// An interleave of `n` inputs.
    pub fn new(n: usize, segment_size: usize, eager_close: bool) -> Self {
        Interleave {
            n,
            segment_size,
            eager_close,
            _t: PhantomData,
        }
    }
}

impl<T: Send + 'static> Junction for Interleave<T> {
    type Shape = UniformFanInShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let (seg, eager) = (self.segment_size, self.eager_close);
        if seg == 0 {
            b.report(crate::builder::GraphError::InvalidArgument {
                node: "interleave",
                problem: "segment_size must be at least 1",
            });
        }
        fan_in(b, "interleave", self.n, move |ins| {
            Box::new(ops::Interleave::new(ins, seg, eager))
        })
    }
}

junction_struct!(
    /// Emits all of input 0, then all of input 1, …; an input is pulled only after the previous
    /// one completed (Akka's `Concat`, with `concatLazy`'s pulling).
    Concat { n: usize }
);

impl<T> Concat<T> {
    /// A concatenation of `n` inputs.
    pub fn new(n: usize) -> Self {
        Concat { n, _t: PhantomData }
    }
}

impl<T: Send + 'static> Junction for Concat<T> {
    type Shape = UniformFanInShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        fan_in(b, "concat", self.n, |ins| {
            let mut ins = ins.into_iter().rev();
            let Some(last) = ins.next() else {
                return Box::new(crate::stage::Completed) as BoxPull<T>;
            };
            ins.fold(last, |rest, first| {
                Box::new(ops::Concat {
                    first: Some(first),
                    second: Some(rest),
                })
            })
        })
    }
}

junction_struct!(
    /// Emits a `Vec` of one element from each of `n` inputs (Akka's `ZipN`); completes when any
    /// input completes.
    ZipN { n: usize }
);

impl<T> ZipN<T> {
    /// A zip of `n` inputs.
    pub fn new(n: usize) -> Self {
        ZipN { n, _t: PhantomData }
    }
}

impl<T: Send + 'static> Junction for ZipN<T> {
    type Shape = UniformFanInShape<T, Vec<T>>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        fan_in(b, "zip_n", self.n, |ins| Box::new(ops::ZipN::new(ins)))
    }
}

/// Adds a fused node with two typed inputs.
fn fan_in2<A, B, O, F>(b: &mut GraphBuilder, name: &'static str, make: F) -> FanIn2Shape<A, B, O>
where
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    F: Fn(BoxPull<A>, BoxPull<B>, &crate::Attributes) -> BoxPull<O> + Send + Sync + 'static,
{
    let imp = NodeImpl::Fused(Arc::new(move |_, a, mut ins: Vec<AnyPull>| {
        let (pa, pb) = (take_pull::<A>(&mut ins, 0), take_pull::<B>(&mut ins, 1));
        (vec![Box::new(make(pa, pb, a)) as AnyPull], no_mat())
    }));
    let node = b.add_node(name, 2, 1, imp, false);
    FanIn2Shape {
        in0: b.in_handle(node, 0),
        in1: b.in_handle(node, 1),
        out: b.out_handle(node, 0),
    }
}

/// Pairs elements of two inputs (Akka's `Zip`); completes when either input completes.
#[derive(Debug, Default)]
pub struct Zip<A, B>(PhantomData<fn(A, B)>);

impl<A, B> Zip<A, B> {
    /// A zip.
    pub fn new() -> Self {
        Zip(PhantomData)
    }
}

impl<A: Send + 'static, B: Send + 'static> Junction for Zip<A, B> {
    type Shape = FanIn2Shape<A, B, (A, B)>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        fan_in2(b, "zip", |pa, pb, a| {
            Box::new(ops::ZipWith::new(pa, pb, |x, y| (x, y), a))
        })
    }
}

/// Combines elements of two inputs with a function (Akka's `ZipWith`).
pub struct ZipWith<A, B, F>(F, PhantomData<fn(A, B)>);

impl<A, B, F> std::fmt::Debug for ZipWith<A, B, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZipWith")
    }
}

impl<A, B, F> ZipWith<A, B, F> {
    /// A zip combining with `f`.
    pub fn new(f: F) -> Self {
        ZipWith(f, PhantomData)
    }
}

impl<A, B, O, F> Junction for ZipWith<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    F: FnMut(A, B) -> O + Clone + Send + Sync + 'static,
{
    type Shape = FanIn2Shape<A, B, O>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let f = self.0;
        fan_in2(b, "zip_with", move |pa, pb, a| {
            Box::new(ops::ZipWith::new(pa, pb, f.clone(), a))
        })
    }
}

/// Combines elements of three inputs with a function (Akka's `ZipWith3`).
pub struct ZipWith3<A, B, C, F>(F, PhantomData<fn(A, B, C)>);

impl<A, B, C, F> std::fmt::Debug for ZipWith3<A, B, C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZipWith3")
    }
}

impl<A, B, C, F> ZipWith3<A, B, C, F> {
    /// A zip combining with `f`.
    pub fn new(f: F) -> Self {
        ZipWith3(f, PhantomData)
    }
}

impl<A, B, C, O, F> Junction for ZipWith3<A, B, C, F>
where
    A: Send + 'static,
    B: Send + 'static,
    C: Send + 'static,
    O: Send + 'static,
    F: FnMut(A, B, C) -> O + Clone + Send + Sync + 'static,
{
    type Shape = FanIn3Shape<A, B, C, O>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let f = self.0;
        let imp = NodeImpl::Fused(Arc::new(move |_, a, mut ins: Vec<AnyPull>| {
            let (pa, pb, pc) = (
                take_pull::<A>(&mut ins, 0),
                take_pull::<B>(&mut ins, 1),
                take_pull::<C>(&mut ins, 2),
            );
            let ab: BoxPull<(A, B)> = Box::new(ops::ZipWith::new(pa, pb, |x, y| (x, y), a));
            let mut f = f.clone();
            let out: BoxPull<O> =
                Box::new(ops::ZipWith::new(ab, pc, move |(x, y), z| f(x, y, z), a));
            (vec![Box::new(out) as AnyPull], no_mat())
        }));
        let node = b.add_node("zip_with3", 3, 1, imp, false);
        FanIn3Shape {
            in0: b.in_handle(node, 0),
            in1: b.in_handle(node, 1),
            in2: b.in_handle(node, 2),
            out: b.out_handle(node, 0),
        }
    }
}

/// Four inputs of different types, one output.
#[derive(Debug, Clone, Copy)]
pub struct FanIn4Shape<A, B, C, D, O> {
    /// The first input.
    pub in0: In<A>,
    /// The second input.
    pub in1: In<B>,
    /// The third input.
    pub in2: In<C>,
    /// The fourth input.
    pub in3: In<D>,
    /// The output.
    pub out: Out<O>,
}

/// Five inputs of different types, one output.
#[derive(Debug, Clone, Copy)]
pub struct FanIn5Shape<A, B, C, D, E, O> {
    /// The first input.
    pub in0: In<A>,
    /// The second input.
    pub in1: In<B>,
    /// The third input.
    pub in2: In<C>,
    /// The fourth input.
    pub in3: In<D>,
    /// The fifth input.
    pub in4: In<E>,
    /// The output.
    pub out: Out<O>,
}

/// Combines elements of four inputs with a function (Akka's `ZipWith4`).
pub struct ZipWith4<A, B, C, D, F>(F, PhantomData<fn(A, B, C, D)>);

/// Combines elements of five inputs with a function (Akka's `ZipWith5`).
#[allow(clippy::type_complexity)] // the phantom names the five input types
pub struct ZipWith5<A, B, C, D, E, F>(F, PhantomData<fn(A, B, C, D, E)>);

impl<A, B, C, D, F> std::fmt::Debug for ZipWith4<A, B, C, D, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZipWith4")
    }
}

impl<A, B, C, D, E, F> std::fmt::Debug for ZipWith5<A, B, C, D, E, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZipWith5")
    }
}

impl<A, B, C, D, F> ZipWith4<A, B, C, D, F> {
    /// A zip combining with `f`.
    pub fn new(f: F) -> Self {
        ZipWith4(f, PhantomData)
    }
}

impl<A, B, C, D, E, F> ZipWith5<A, B, C, D, E, F> {
    /// A zip combining with `f`.
    pub fn new(f: F) -> Self {
        ZipWith5(f, PhantomData)
    }
}

/// Pairs two pulls into a fused zip of tuples.
fn pair<X: Send + 'static, Y: Send + 'static>(
    x: BoxPull<X>,
    y: BoxPull<Y>,
    a: &crate::Attributes,
) -> BoxPull<(X, Y)> {
    Box::new(ops::ZipWith::new(x, y, |x, y| (x, y), a))
}

impl<A, B, C, D, O, F> Junction for ZipWith4<A, B, C, D, F>
where
    A: Send + 'static,
    B: Send + 'static,
    C: Send + 'static,
    D: Send + 'static,
    O: Send + 'static,
    F: FnMut(A, B, C, D) -> O + Clone + Send + Sync + 'static,
{
    type Shape = FanIn4Shape<A, B, C, D, O>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let f = self.0;
        let imp = NodeImpl::Fused(Arc::new(move |_, a, mut ins: Vec<AnyPull>| {
            let ab = pair(take_pull::<A>(&mut ins, 0), take_pull::<B>(&mut ins, 1), a);
            let cd = pair(take_pull::<C>(&mut ins, 2), take_pull::<D>(&mut ins, 3), a);
            let mut f = f.clone();
            let out: BoxPull<O> = Box::new(ops::ZipWith::new(
                ab,
                cd,
                move |(x, y), (z, w)| f(x, y, z, w),
                a,
            ));
            (vec![Box::new(out) as AnyPull], no_mat())
        }));
        let node = b.add_node("zip_with4", 4, 1, imp, false);
        FanIn4Shape {
            in0: b.in_handle(node, 0),
            in1: b.in_handle(node, 1),
            in2: b.in_handle(node, 2),
            in3: b.in_handle(node, 3),
            out: b.out_handle(node, 0),
        }
    }
}

impl<A, B, C, D, E, O, F> Junction for ZipWith5<A, B, C, D, E, F>
where
    A: Send + 'static,
    B: Send + 'static,
    C: Send + 'static,
    D: Send + 'static,
    E: Send + 'static,
    O: Send + 'static,
    F: FnMut(A, B, C, D, E) -> O + Clone + Send + Sync + 'static,
{
    type Shape = FanIn5Shape<A, B, C, D, E, O>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let f = self.0;
        let imp = NodeImpl::Fused(Arc::new(move |_, a, mut ins: Vec<AnyPull>| {
            let ab = pair(take_pull::<A>(&mut ins, 0), take_pull::<B>(&mut ins, 1), a);
            let cd = pair(take_pull::<C>(&mut ins, 2), take_pull::<D>(&mut ins, 3), a);
            let abcd = pair(ab, cd, a);
            let e = take_pull::<E>(&mut ins, 4);
            let mut f = f.clone();
            let out: BoxPull<O> = Box::new(ops::ZipWith::new(
                abcd,
                e,
                move |((x, y), (z, w)), v| f(x, y, z, w, v),
                a,
            ));
            (vec![Box::new(out) as AnyPull], no_mat())
        }));
        let node = b.add_node("zip_with5", 5, 1, imp, false);
        FanIn5Shape {
            in0: b.in_handle(node, 0),
            in1: b.in_handle(node, 1),
            in2: b.in_handle(node, 2),
            in3: b.in_handle(node, 3),
            in4: b.in_handle(node, 4),
            out: b.out_handle(node, 0),
        }
    }
}

/// Emits `(latest a, latest b)` whenever either input emits, once both have (Akka's
/// `ZipLatest`); completes when either input completes.
#[derive(Debug, Default)]
pub struct ZipLatest<A, B>(PhantomData<fn(A, B)>);

impl<A, B> ZipLatest<A, B> {
    /// A latest-zip.
    pub fn new() -> Self {
        ZipLatest(PhantomData)
    }
}

impl<A: Clone + Send + 'static, B: Clone + Send + 'static> Junction for ZipLatest<A, B> {
    type Shape = FanIn2Shape<A, B, (A, B)>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        fan_in2(b, "zip_latest", |pa, pb, _| {
            Box::new(ops::ZipLatest::new(pa, pb))
        })
    }
}

junction_struct!(
    /// Emits each element to every output, only when all outputs have room (Akka's
    /// `Broadcast`). A cancelled output is dropped from the set; the junction cancels upstream
    /// when all outputs cancelled, or the first one with `eager_cancel`.
    ///
    /// Unlike Akka, whose `Broadcast` emits only when every output has asked, each output has
    /// a buffer of `input_buffer` elements that is filled ahead of its demand (so that the
    /// outputs run in parallel with the junction); `input_buffer(1)` comes closest to Akka.
    Broadcast { n: usize, eager_cancel: bool }
);

impl<T> Broadcast<T> {
    /// A broadcast to `n` outputs.
    pub fn new(n: usize) -> Self {
        Broadcast {
            n,
            eager_cancel: false,
            _t: PhantomData,
        }
    }

    /// A broadcast that cancels upstream as soon as any output cancels.
    pub fn eager_cancel(n: usize) -> Self {
        Broadcast {
            n,
            eager_cancel: true,
            _t: PhantomData,
        }
    }
}

impl<T: Clone + Send + 'static> Junction for Broadcast<T> {
    type Shape = UniformFanOutShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let eager = self.eager_cancel;
        fan_out(b, "broadcast", self.n, move |up, txs, _| {
            Box::pin(FanOut::new(
                up,
                txs,
                BroadcastRouter {
                    eager_cancel: eager,
                },
            ))
        })
    }
}

junction_struct!(
    /// Sends each element to the next output with room, in turn (Akka's `Balance`). With
    /// `wait_for_all_downstreams` nothing is sent until every output has asked once. A cancelled
    /// output is left out; upstream is cancelled when every output has cancelled, or the first
    /// one with `eager_cancel` (the other outputs then complete).
    ///
    /// Unlike Akka, which serves outputs in the order their demand arrived, elements go in
    /// turn to the outputs with room in their buffer of `input_buffer` elements, ahead of
    /// their demand; `input_buffer(1)` comes closest to Akka.
    Balance { n: usize, wait_for_all_downstreams: bool, eager_cancel: bool }
);

impl<T> Balance<T> {
    /// A balance over `n` outputs.
    pub fn new(n: usize) -> Self {
        Balance::with_settings(n, false, false)
    }

    /// A balance that waits until every output has demand before the first element.
    pub fn wait_for_all_downstreams(n: usize) -> Self {
        Balance::with_settings(n, true, false)
    }

    /// A balance that cancels upstream, and completes its other outputs, as soon as any output
    /// cancels (Akka's `eagerCancel = true`).
    ///
    /// ```
    /// use weir::builder::GraphBuilder;
    /// use weir::junctions::Balance;
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let mut b = GraphBuilder::new();
    /// let balance = b.add(Balance::<u32>::eager_cancel(2));
    /// let src = b.add_source(Source::repeat(1));
    /// b.connect(src, balance.inlet);
    /// let (first, k) = b.add_sink_mat(Sink::head());
    /// let (rest, k2) = b.add_sink_mat(Sink::ignore());
    /// b.connect(balance.outs[0], first);
    /// b.connect(balance.outs[1], rest);
    /// let (head, ignored) = b.build(move |m| (m.take(k), m.take(k2))).unwrap().run();
    /// // `head` cancels after one element; the endless source is cancelled and the other
    /// // output completes.
    /// assert_eq!(head.await.unwrap(), 1);
    /// assert!(ignored.await.is_ok());
    /// # }
    /// ```
    pub fn eager_cancel(n: usize) -> Self {
        Balance::with_settings(n, false, true)
    }

    /// A balance with both of Akka's settings.
    pub fn with_settings(n: usize, wait_for_all_downstreams: bool, eager_cancel: bool) -> Self {
        Balance {
            n,
            wait_for_all_downstreams,
            eager_cancel,
            _t: PhantomData,
        }
    }
}

impl<T: Send + 'static> Junction for Balance<T> {
    type Shape = UniformFanOutShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let (wait, eager) = (self.wait_for_all_downstreams, self.eager_cancel);
        fan_out(b, "balance", self.n, move |up, txs, _| {
            Box::pin(FanOut::new(
                up,
                txs,
                BalanceRouter {
                    wait_for_all_downstreams: wait,
                    eager_cancel: eager,
                    started: false,
                    next: 0,
                },
            ))
        })
    }
}

/// Sends each element to the output its function picks (Akka's `Partition`); an index out of
/// range fails the stream with [`StreamError::PartitionOutOfBounds`](crate::StreamError).
///
/// # Supervision
/// An index out of range, or a panic in the function, is handed to the decider of the graph's
/// [`Attributes::supervision`](crate::Attributes::supervision): Stop fails every output; Resume
/// and Restart drop the element and go on, as Akka's `Partition`.
///
/// # Back pressure
/// An element waits for room on its own output only: while one output is full, elements for the
/// others keep flowing until an element for the full output arrives, which is held back (and
/// the input with it) until that output has room. An element for a cancelled output is dropped;
/// the partition stops when every output has cancelled. "Room" is a buffer of `input_buffer`
/// elements per output, filled ahead of its demand, where Akka's `Partition` hands an element
/// on only when its output asks.
///
/// # Completion
/// Completes every output when the input completes, after a held-back element went out; fails
/// every output when the input fails or the function panics.
pub struct Partition<T, F> {
    n: usize,
    f: F,
    _t: PhantomData<fn(T)>,
}

impl<T, F> std::fmt::Debug for Partition<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Partition({})", self.n)
    }
}

impl<T, F> Partition<T, F> {
    /// A partition into `n` outputs by `f`.
    pub fn new(n: usize, f: F) -> Self {
        Partition {
            n,
            f,
            _t: PhantomData,
        }
    }
}

impl<T, F> Junction for Partition<T, F>
where
    T: Send + 'static,
    F: FnMut(&T) -> usize + Clone + Send + Sync + 'static,
{
    type Shape = UniformFanOutShape<T, T>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        let (n, f) = (self.n, self.f);
        fan_out(b, "partition", n, move |up, txs, a| {
            Box::pin(FanOut::new(
                up,
                txs,
                PartitionRouter {
                    f: f.clone(),
                    outputs: n,
                    held: None,
                    sup: Supervisor::new("partition", a),
                },
            ))
        })
    }
}

/// Splits each element in two with a function and sends the halves to two outputs, when both
/// have room (Akka's `UnzipWith`). When one output cancels, the other goes on alone; upstream
/// is cancelled when both have cancelled (as current Pekko).
pub struct UnzipWith<I, A, B, F>(F, PhantomData<fn(I) -> (A, B)>);

impl<I, A, B, F> std::fmt::Debug for UnzipWith<I, A, B, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnzipWith")
    }
}

impl<I, A, B, F> UnzipWith<I, A, B, F> {
    /// An unzip by `f`.
    pub fn new(f: F) -> Self {
        UnzipWith(f, PhantomData)
    }
}

/// Splits pairs into two outputs (Akka's `Unzip`).
pub type Unzip<A, B> = UnzipWith<(A, B), A, B, fn((A, B)) -> (A, B)>;

impl<A, B> Unzip<A, B> {
    /// An unzip of pairs.
    pub fn pairs() -> Self {
        UnzipWith(|p| p, PhantomData)
    }
}

/// Either half of an unzipped element, so one fan-out island can carry both types.
enum Half<A, B> {
    A(A),
    B(B),
}

impl<I, A, B, F> Junction for UnzipWith<I, A, B, F>
where
    I: Send + 'static,
    A: Send + 'static,
    B: Send + 'static,
    F: FnMut(I) -> (A, B) + Clone + Send + Sync + 'static,
{
    type Shape = FanOut2Shape<I, A, B>;
    fn add_to(self, b: &mut GraphBuilder) -> Self::Shape {
        // One island routes `Half`s; each output strips its half in a fused map.
        let f = self.0;
        let shape = fan_out::<I, Half<A, B>, _>(b, "unzip", 2, move |up, txs, _| {
            let mut f = f.clone();
            Box::pin(FanOut::new(
                up,
                txs,
                fan_out::UnzipRouter {
                    f: move |x| {
                        let (a, c) = f(x);
                        (Half::A(a), Half::B(c))
                    },
                },
            ))
        });
        let a = strip(b, shape.outs[0], |h| match h {
            Half::A(a) => Some(a),
            Half::B(_) => None,
        });
        let c = strip(b, shape.outs[1], |h| match h {
            Half::B(c) => Some(c),
            Half::A(_) => None,
        });
        FanOut2Shape {
            inlet: shape.inlet,
            out0: a,
            out1: c,
        }
    }
}

fn strip<A: Send + 'static, B: Send + 'static, T: Send + 'static>(
    b: &mut GraphBuilder,
    from: Out<Half<A, B>>,
    f: fn(Half<A, B>) -> Option<T>,
) -> Out<T> {
    use crate::StreamOps;
    b.via(from, crate::Flow::<Half<A, B>>::new().filter_map(f))
}

macro_rules! struct_shape {
    ($ty:ident < $($g:ident),+ > { $($field:ident),+ }) => {
        impl<$($g),+> crate::builder::Shape for $ty<$($g),+> {
            fn ports(&self) -> (Vec<(u64, usize, usize)>, Vec<(u64, usize, usize)>) {
                let (mut i, mut o) = (Vec::new(), Vec::new());
                $(
                    let (a, b) = crate::builder::Shape::ports(&self.$field);
                    i.extend(a);
                    o.extend(b);
                )+
                (i, o)
            }
            fn rebase(&self, from: u64, to: u64, offset: usize) -> Self {
                $ty { $($field: crate::builder::Shape::rebase(&self.$field, from, to, offset)),+ }
            }
        }
    };
}

struct_shape!(UniformFanInShape<I, O> { ins, out });
struct_shape!(UniformFanOutShape<I, O> { inlet, outs });
struct_shape!(FanIn2Shape<A, B, O> { in0, in1, out });
struct_shape!(FanIn3Shape<A, B, C, O> { in0, in1, in2, out });
struct_shape!(FanIn4Shape<A, B, C, D, O> { in0, in1, in2, in3, out });
struct_shape!(FanIn5Shape<A, B, C, D, E, O> { in0, in1, in2, in3, in4, out });
struct_shape!(FanOut2Shape<I, A, B> { inlet, out0, out1 });
struct_shape!(MergePreferredShape<T> { preferred, ins, out });
struct_shape!(BidiPorts<I1, O1, I2, O2> { in1, out1, in2, out2 });

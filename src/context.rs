//! Context-carrying streams (Akka's `SourceWithContext` / `FlowWithContext`).
//!
//! A context travels beside each element — a Kafka offset to commit once the record is
//! processed, a request id, a trace span — through operators that keep one-to-one or
//! one-to-many order: [`map`](ContextOps::map), [`filter`](ContextOps::filter),
//! [`filter_map`](ContextOps::filter_map), [`map_concat`](ContextOps::map_concat),
//! [`grouped`](ContextOps::grouped), [`map_async`](ContextOps::map_async) and flows of the same
//! kind ([`via`](ContextOps::via)). Operators that could reorder or merge elements are not
//! offered, so a context always belongs to the element beside it.
//!
//! # Where weir differs from Akka
//! Akka drops an element's context with the element (`filter`, an empty `mapConcat`). weir
//! hands it to [`Context::dropped`] first: a Kafka [`CommittableOffset`] then counts as
//! processed, so a filtered record's offset is committed with the next commit instead of
//! stalling the committer's contiguous tracking (see `weir::kafka::Committer`). Every context
//! type implements [`Context`]; for most the default (nothing happens) is right.
//!
//! A supervision decider that resumes or restarts after a panicking closure drops that element
//! and its context without [`Context::dropped`] (a failed element is not a processed one). For
//! Kafka offsets this stalls the partition's commits on the safe side; skip records with
//! [`filter_map`](ContextOps::filter_map) instead of panicking past them.
//!
//! ```
//! use weir::prelude::*;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Each line travels with its line number; empty lines are dropped, their numbers with them.
//! let lines = Source::from_iter(["a", "", "b"]).zip_with_index();
//! let out = SourceWithContext::from_tuples(lines)
//!     .filter(|line| !line.is_empty())
//!     .map(|line| format!("{}!", line.to_uppercase()))
//!     .as_source()
//!     .run_with(Sink::seq())
//!     .await
//!     .unwrap();
//! assert_eq!(out, vec![("A!".to_owned(), 0), ("B!".to_owned(), 2)]);
//! # }
//! ```
//!
//! [`CommittableOffset`]: https://docs.rs/weir/latest/weir/kafka/struct.CommittableOffset.html

use std::future::Future;

use crate::{Flow, Keep, NotUsed, RunnableGraph, Sink, Source, StreamOps};

/// A flow of pairs of element and context.
type PairFlow<In, CtxIn, Out, CtxOut, Mat> = Flow<(In, CtxIn), (Out, CtxOut), Mat>;

/// A value that travels beside an element of a context-carrying stream.
pub trait Context: Send + 'static {
    /// An operator dropped the element this context travels with, emitting nothing for it
    /// ([`filter`](ContextOps::filter), [`filter_map`](ContextOps::filter_map), an empty
    /// [`map_concat`](ContextOps::map_concat)): the element is done with. By default nothing
    /// happens.
    fn dropped(self)
    where
        Self: Sized,
    {
    }
}

macro_rules! plain_contexts {
    ($($t:ty),*) => { $(impl Context for $t {})* };
}
plain_contexts!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    String,
    &'static str,
    std::time::Instant,
    std::time::Duration
);

impl<C: Context> Context for Vec<C> {
    /// Each context of the group is dropped.
    fn dropped(self) {
        self.into_iter().for_each(Context::dropped);
    }
}

impl<C: Context> Context for Option<C> {
    fn dropped(self) {
        if let Some(c) = self {
            c.dropped();
        }
    }
}

impl<A: Context, B: Context> Context for (A, B) {
    fn dropped(self) {
        self.0.dropped();
        self.1.dropped();
    }
}

/// A source whose elements each carry a context (Akka's `SourceWithContext`).
///
/// Build one with [`SourceWithContext::from_tuples`] or
/// [`Source::as_source_with_context`]; leave with [`as_source`](SourceWithContext::as_source).
#[derive(Clone)]
pub struct SourceWithContext<Out, Ctx, Mat = NotUsed> {
    source: Source<(Out, Ctx), Mat>,
}

impl<Out, Ctx, Mat> std::fmt::Debug for SourceWithContext<Out, Ctx, Mat> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceWithContext")
    }
}

/// A flow whose elements each carry a context (Akka's `FlowWithContext`): from `In` with
/// `CtxIn` to `Out` with `CtxOut`.
pub struct FlowWithContext<In, CtxIn, Out, CtxOut, Mat = NotUsed> {
    flow: Flow<(In, CtxIn), (Out, CtxOut), Mat>,
}

impl<In, CtxIn, Out, CtxOut, Mat> Clone for FlowWithContext<In, CtxIn, Out, CtxOut, Mat>
where
    Flow<(In, CtxIn), (Out, CtxOut), Mat>: Clone,
{
    fn clone(&self) -> Self {
        FlowWithContext {
            flow: self.flow.clone(),
        }
    }
}

impl<In, CtxIn, Out, CtxOut, Mat> std::fmt::Debug for FlowWithContext<In, CtxIn, Out, CtxOut, Mat> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowWithContext")
    }
}

impl<Out, Ctx, Mat> SourceWithContext<Out, Ctx, Mat>
where
    Out: Send + 'static,
    Ctx: Send + 'static,
    Mat: 'static,
{
    /// Pairs of element and context as a context-carrying source (Akka's `fromTuples`).
    pub fn from_tuples(source: Source<(Out, Ctx), Mat>) -> Self {
        SourceWithContext { source }
    }

    /// The pairs of element and context as a plain source (Akka's `asSource`).
    pub fn as_source(self) -> Source<(Out, Ctx), Mat> {
        self.source
    }

    /// Appends a flow of the same kind, keeping this source's materialized value.
    pub fn via_mat<T, C, M2, M3, F>(
        self,
        flow: FlowWithContext<Out, Ctx, T, C, M2>,
        combine: F,
    ) -> SourceWithContext<T, C, M3>
    where
        T: Send + 'static,
        C: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        SourceWithContext {
            source: self.source.via_mat(flow.flow, combine),
        }
    }

    /// Connects to a sink of pairs, combining materialized values with `combine`.
    pub fn to_mat<M2, M3, F>(self, sink: Sink<(Out, Ctx), M2>, combine: F) -> RunnableGraph<M3>
    where
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        self.source.to_mat(sink, combine)
    }

    /// Connects to a sink of pairs, keeping this source's materialized value.
    pub fn to<M2: 'static>(self, sink: Sink<(Out, Ctx), M2>) -> RunnableGraph<Mat> {
        self.source.to(sink)
    }

    /// Runs into `sink` and returns the sink's materialized value.
    pub fn run_with<M2: 'static>(&self, sink: Sink<(Out, Ctx), M2>) -> M2 {
        self.source.run_with(sink)
    }

    /// Transforms the materialized value.
    pub fn map_materialized_value<M2, F>(self, f: F) -> SourceWithContext<Out, Ctx, M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        SourceWithContext {
            source: self.source.map_materialized_value(f),
        }
    }
}

impl<Out, Mat> Source<Out, Mat>
where
    Out: Send + 'static,
    Mat: 'static,
{
    /// Each element with the context `extract` finds in it (Akka's `asSourceWithContext`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter([(1, "a"), (2, "b")])
    ///     .as_source_with_context(|&(n, _)| n)
    ///     .map(|(_, s)| s.to_uppercase())
    ///     .as_source()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![("A".to_owned(), 1), ("B".to_owned(), 2)]);
    /// # }
    /// ```
    pub fn as_source_with_context<Ctx, F>(self, mut extract: F) -> SourceWithContext<Out, Ctx, Mat>
    where
        Ctx: Send + 'static,
        F: FnMut(&Out) -> Ctx + Clone + Send + Sync + 'static,
    {
        SourceWithContext {
            source: self.map(move |x| {
                let c = extract(&x);
                (x, c)
            }),
        }
    }
}

impl<In, Ctx> FlowWithContext<In, Ctx, In, Ctx>
where
    In: Send + 'static,
    Ctx: Send + 'static,
{
    /// The identity flow, to build on (Akka's `FlowWithContext.apply`).
    pub fn new() -> Self {
        FlowWithContext { flow: Flow::new() }
    }
}

impl<In, Ctx> Default for FlowWithContext<In, Ctx, In, Ctx>
where
    In: Send + 'static,
    Ctx: Send + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<In, CtxIn, Out, CtxOut, Mat> FlowWithContext<In, CtxIn, Out, CtxOut, Mat>
where
    In: Send + 'static,
    CtxIn: Send + 'static,
    Out: Send + 'static,
    CtxOut: Send + 'static,
    Mat: 'static,
{
    /// A flow of pairs of element and context as a context-carrying flow (Akka's `fromTuples`).
    /// The flow must keep each context beside the element it came with.
    pub fn from_tuples(flow: Flow<(In, CtxIn), (Out, CtxOut), Mat>) -> Self {
        FlowWithContext { flow }
    }

    /// The flow of pairs (Akka's `asFlow`).
    pub fn as_flow(self) -> Flow<(In, CtxIn), (Out, CtxOut), Mat> {
        self.flow
    }

    /// Appends a flow of the same kind, combining materialized values with `combine`.
    pub fn via_mat<T, C, M2, M3, F>(
        self,
        flow: FlowWithContext<Out, CtxOut, T, C, M2>,
        combine: F,
    ) -> FlowWithContext<In, CtxIn, T, C, M3>
    where
        T: Send + 'static,
        C: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        FlowWithContext {
            flow: self.flow.via_mat(flow.flow, combine),
        }
    }

    /// Transforms the materialized value.
    pub fn map_materialized_value<M2, F>(self, f: F) -> FlowWithContext<In, CtxIn, Out, CtxOut, M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        FlowWithContext {
            flow: self.flow.map_materialized_value(f),
        }
    }
}

/// The operators of [`SourceWithContext`] and [`FlowWithContext`] (Akka's `FlowWithContextOps`).
/// Bring them into scope with `use weir::prelude::*`.
///
/// Each is the plain operator on the pairs, keeping every context beside its element; closures
/// see only the element (or, for [`map_context`](ContextOps::map_context), only the context).
pub trait ContextOps: Sized {
    /// The element type.
    type Out: Send + 'static;
    /// The context type.
    type Ctx: Send + 'static;
    /// The same kind of blueprint with another element and context type.
    type Repr<T: Send + 'static, C: Send + 'static>;

    /// Appends `flow`, a flow of pairs, keeping the materialized value (also the way to use a
    /// plain operator on the pairs, which must then keep each context beside its element).
    fn via_pairs<T, C, M>(self, flow: PairFlow<Self::Out, Self::Ctx, T, C, M>) -> Self::Repr<T, C>
    where
        T: Send + 'static,
        C: Send + 'static,
        M: 'static;

    /// Appends a flow of the same kind, keeping the materialized value (Akka's `via`).
    fn via<T, C, M>(self, flow: FlowWithContext<Self::Out, Self::Ctx, T, C, M>) -> Self::Repr<T, C>
    where
        T: Send + 'static,
        C: Send + 'static,
        M: 'static,
    {
        self.via_pairs(flow.flow)
    }

    /// Transforms each element; the context stays.
    fn map<T, F>(self, mut f: F) -> Self::Repr<T, Self::Ctx>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> T + Clone + Send + Sync + 'static,
    {
        self.via_pairs(Flow::new().map(move |(x, c)| (f(x), c)))
    }

    /// Transforms each context; the element stays (Akka's `mapContext`).
    fn map_context<C, F>(self, mut f: F) -> Self::Repr<Self::Out, C>
    where
        C: Send + 'static,
        F: FnMut(Self::Ctx) -> C + Clone + Send + Sync + 'static,
    {
        self.via_pairs(Flow::new().map(move |(x, c)| (x, f(c))))
    }

    /// Keeps the elements `pred` accepts; a rejected element's context is
    /// [dropped](Context::dropped).
    fn filter<F>(self, mut pred: F) -> Self::Repr<Self::Out, Self::Ctx>
    where
        Self::Ctx: Context,
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        self.filter_map(move |x| pred(&x).then_some(x))
    }

    /// Keeps the elements `pred` rejects; an accepted element's context is
    /// [dropped](Context::dropped).
    fn filter_not<F>(self, mut pred: F) -> Self::Repr<Self::Out, Self::Ctx>
    where
        Self::Ctx: Context,
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        self.filter_map(move |x| (!pred(&x)).then_some(x))
    }

    /// Transforms each element and keeps the `Some` results (Akka's `collect`); the context of
    /// a `None` is [dropped](Context::dropped).
    fn filter_map<T, F>(self, mut f: F) -> Self::Repr<T, Self::Ctx>
    where
        T: Send + 'static,
        Self::Ctx: Context,
        F: FnMut(Self::Out) -> Option<T> + Clone + Send + Sync + 'static,
    {
        self.via_pairs(
            Flow::new().filter_map(move |(x, c): (Self::Out, Self::Ctx)| match f(x) {
                Some(y) => Some((y, c)),
                None => {
                    c.dropped();
                    None
                }
            }),
        )
    }

    /// Expands each element into zero or more, each with a clone of its context (Akka's
    /// `mapConcat`); the context of an element that expands to nothing is
    /// [dropped](Context::dropped).
    fn map_concat<T, I, F>(self, mut f: F) -> Self::Repr<T, Self::Ctx>
    where
        T: Send + 'static,
        Self::Ctx: Context + Clone,
        I: IntoIterator<Item = T> + 'static,
        I::IntoIter: Send,
        F: FnMut(Self::Out) -> I + Clone + Send + Sync + 'static,
    {
        self.via_pairs(
            Flow::new().map_concat(move |(x, c): (Self::Out, Self::Ctx)| {
                let items: Vec<T> = f(x).into_iter().collect();
                let Some(clones) = items.len().checked_sub(1) else {
                    c.dropped();
                    return Vec::new();
                };
                let mut items = items.into_iter();
                let mut out: Vec<(T, Self::Ctx)> = Vec::with_capacity(clones + 1);
                out.extend(items.by_ref().take(clones).map(|y| (y, c.clone())));
                out.extend(items.next().map(|y| (y, c)));
                out
            }),
        )
    }

    /// Groups of `n` elements with the group of their contexts; the last group may be smaller.
    ///
    /// # Panics
    /// If `n` is 0.
    fn grouped(self, n: usize) -> Self::Repr<Vec<Self::Out>, Vec<Self::Ctx>> {
        self.via_pairs(
            Flow::<(Self::Out, Self::Ctx)>::new()
                .grouped(n)
                .map(|pairs| pairs.into_iter().unzip()),
        )
    }

    /// Runs `f`'s future for each element with at most `parallelism` in flight, emitting in
    /// order, each result with its element's context (Akka's `mapAsync`).
    fn map_async<T, F, Fut>(self, parallelism: usize, mut f: F) -> Self::Repr<T, Self::Ctx>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.via_pairs(
            Flow::new().map_async(parallelism, move |(x, c): (Self::Out, Self::Ctx)| {
                let fut = f(x);
                async move { (fut.await, c) }
            }),
        )
    }
}

impl<Out, Ctx, Mat> ContextOps for SourceWithContext<Out, Ctx, Mat>
where
    Out: Send + 'static,
    Ctx: Send + 'static,
    Mat: 'static,
{
    type Out = Out;
    type Ctx = Ctx;
    type Repr<T: Send + 'static, C: Send + 'static> = SourceWithContext<T, C, Mat>;

    fn via_pairs<T, C, M>(self, flow: Flow<(Out, Ctx), (T, C), M>) -> SourceWithContext<T, C, Mat>
    where
        T: Send + 'static,
        C: Send + 'static,
        M: 'static,
    {
        SourceWithContext {
            source: self.source.via_mat(flow, Keep::left),
        }
    }
}

impl<In, CtxIn, Out, CtxOut, Mat> ContextOps for FlowWithContext<In, CtxIn, Out, CtxOut, Mat>
where
    In: Send + 'static,
    CtxIn: Send + 'static,
    Out: Send + 'static,
    CtxOut: Send + 'static,
    Mat: 'static,
{
    type Out = Out;
    type Ctx = CtxOut;
    type Repr<T: Send + 'static, C: Send + 'static> = FlowWithContext<In, CtxIn, T, C, Mat>;

    fn via_pairs<T, C, M>(
        self,
        flow: Flow<(Out, CtxOut), (T, C), M>,
    ) -> FlowWithContext<In, CtxIn, T, C, Mat>
    where
        T: Send + 'static,
        C: Send + 'static,
        M: 'static,
    {
        FlowWithContext {
            flow: self.flow.via_mat(flow, Keep::left),
        }
    }
}

//! The operators shared by `Source` and `Flow` (Akka's `FlowOps`).

use std::fmt::Debug;
use std::future::Future;

use crate::boundary;
use crate::materializer::completion;
use crate::ops::{self, Linear, Logic, OverflowStrategy};
use crate::stage::{BoxPull, Pull, Supervisor};
use crate::{Attributes, Completion, Flow, Keep, Materializer, Sink, Source, StreamError};

/// What [`prefix_and_tail`](StreamOps::prefix_and_tail) emits: the first elements, and a
/// one-shot source of the rest.
pub type PrefixWithTail<T> = (Vec<T>, Source<T>);

/// The operators of `Source` and `Flow`. Bring them into scope with `use weir::prelude::*`.
///
/// Each operator adds one stage to the blueprint; nothing runs until the blueprint is run. In a
/// fused island elements move in batches bounded by downstream demand, so the side effects of two
/// consecutive operators interleave per batch rather than per element (Akka interleaves per
/// element); give a sink `Attributes::input_buffer(1)` for element-by-element interleaving.
///
/// Operators that run user closures catch panics: by default a panic fails the stream with
/// [`StreamError::Panicked`]; a supervision decider
/// ([`Attributes::supervision`]) may instead resume (drop the element) or restart (drop it and
/// reset the operator's state). Closures are cloned for each materialization, so each run starts
/// with fresh closure state.
pub trait StreamOps: Sized {
    /// The element type.
    type Out: Send + 'static;
    /// The materialized value.
    type Mat: 'static;
    /// The same kind of blueprint with another element type and materialized value.
    type Repr<T: Send + 'static, M: 'static>;

    /// Appends `flow`, combining materialized values with `combine`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::Completion;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Generic over sources and flows: adds a termination watch next to the value already kept.
    /// fn watched<S: StreamOps<Out = i32>>(s: S) -> S::Repr<i32, (S::Mat, Completion<()>)> {
    ///     s.via_mat(Flow::new().watch_termination(), Keep::both)
    /// }
    /// let ((handle, done), out) = watched(Source::maybe()).to_mat(Sink::seq(), Keep::both).run();
    /// handle.complete(Some(5)).unwrap();
    /// assert_eq!(out.await.unwrap(), vec![5]);
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    fn via_mat<T, M2, M3, F>(self, flow: Flow<Self::Out, T, M2>, combine: F) -> Self::Repr<T, M3>
    where
        T: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Self::Mat, M2) -> M3 + Send + Sync + 'static;

    #[doc(hidden)]
    fn via_raw<T, P, F>(self, make: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        P: Pull<T>,
        F: Fn(&mut Materializer, BoxPull<Self::Out>, &Attributes) -> P + Send + Sync + 'static,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| (Box::new(make(m, up, a)) as BoxPull<T>, ())),
            Keep::left,
        )
    }

    /// Transforms each element with `f`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3).map(|x| x * 10).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![10, 20, 30]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream; Resume and Restart drop the element.
    fn map<T, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> T + Clone + Send + Sync + 'static,
    {
        via_logic(self, "map", move |_| ops::Map(f.clone()))
    }

    /// Transforms each element with a fallible `f`: `Ok` values are emitted, an `Err` is a
    /// failure of this stage, handled by the supervision decider like a panic.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{Attributes, Decider};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parsed = Source::from_iter(vec!["1", "x", "3"])
    ///     .try_map(|s| s.parse::<i32>())
    ///     .with_attributes(Attributes::supervision(Decider::resuming()))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(parsed, vec![1, 3]);
    ///
    /// let err = Source::from_iter(vec!["1", "x"]).try_map(|s| s.parse::<i32>()).run_with(Sink::seq()).await.unwrap_err();
    /// assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
    /// # }
    /// ```
    ///
    /// # Supervision
    /// An `Err` or a panic: Stop fails the stream with [`StreamError::Failed`] carrying the
    /// error; Resume and Restart drop the element.
    fn try_map<T, E, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: FnMut(Self::Out) -> Result<T, E> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "try_map", move |_| ops::TryMap(f.clone()))
    }

    /// Keeps the elements for which `pred` returns true.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 6).filter(|x| x % 2 == 0).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![2, 4, 6]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `pred`: Stop fails the stream; Resume and Restart drop the element.
    fn filter<F>(self, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        via_logic(self, "filter", move |_| {
            ops::Filter::<_, true>(pred.clone())
        })
    }

    /// Drops the elements for which `pred` returns true.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 6).filter_not(|x| x % 2 == 0).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 3, 5]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As [`filter`](StreamOps::filter).
    fn filter_not<F>(self, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        via_logic(self, "filter_not", move |_| {
            ops::Filter::<_, false>(pred.clone())
        })
    }

    /// Maps and filters in one step: emits `f(x)` when it is `Some` (Akka's `collect`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["1", "x", "3"])
    ///     .filter_map(|s| s.parse::<i32>().ok())
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 3]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream; Resume and Restart drop the element.
    fn filter_map<T, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> Option<T> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "filter_map", move |_| ops::FilterMap(f.clone()))
    }

    /// Expands each element into the items of `f(x)`, emitted lazily and in order (Akka's
    /// `mapConcat`). An element may expand to any number of items, even infinitely many.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3).map_concat(|x| vec![x; x]).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 2, 3, 3, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits the expansion only as fast as downstream demands it.
    ///
    /// # Supervision
    /// A panic in `f` or in the iterator: Stop fails the stream; Resume and Restart drop the
    /// element's remaining items.
    fn map_concat<T, I, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        I: IntoIterator<Item = T> + 'static,
        I::IntoIter: Send,
        F: FnMut(Self::Out) -> I + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| {
            let f = f.clone();
            ops::MapConcat::new(up, move || f.clone(), "map_concat", a)
        })
    }

    /// Like [`map_concat`](StreamOps::map_concat) with state: `create` makes a fresh function for
    /// each materialization (Akka's `statefulMapConcat`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Emit each element once per time it has been seen so far.
    /// let out = Source::from_iter(vec!['a', 'b', 'a'])
    ///     .stateful_map_concat(|| {
    ///         let mut seen = std::collections::HashMap::new();
    ///         move |c| {
    ///             let n = seen.entry(c).or_insert(0);
    ///             *n += 1;
    ///             vec![c; *n]
    ///         }
    ///     })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!['a', 'b', 'a', 'a']);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `map_concat`; Restart calls `create` again.
    fn stateful_map_concat<T, I, F, C>(self, create: C) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        I: IntoIterator<Item = T> + 'static,
        I::IntoIter: Send,
        F: FnMut(Self::Out) -> I + Send + 'static,
        C: FnMut() -> F + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::MapConcat::new(up, create.clone(), "stateful_map_concat", a)
        })
    }

    /// Emits `zero`, then each new state `f(state, x)` (Akka's `scan`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 4).scan(0, |acc, x| acc + x).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![0, 1, 3, 6, 10]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream; Resume drops the element and keeps the state;
    /// Restart drops it, resets the state to `zero` and emits `zero` again.
    fn scan<S, F>(self, zero: S, f: F) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> S + Clone + Send + Sync + 'static,
    {
        via_logic(self, "scan", move |_| {
            ops::Scan::new(zero.clone(), f.clone())
        })
    }

    /// Like [`scan`](StreamOps::scan) with an asynchronous step; one step runs at a time.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3)
    ///     .scan_async(0, |acc, x| async move { acc + x })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 3, 6]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f` or its future: Stop fails the stream; Resume keeps the previous state;
    /// Restart resets to `zero` and emits it again.
    fn scan_async<S, F, Fut>(self, zero: S, f: F) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = S> + Send + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::AsyncFold::<_, _, _, _, true>::new(up, zero.clone(), f.clone(), a)
        })
    }

    /// Folds all elements and emits the result when upstream completes.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 4).fold(0, |a, x| a + x).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![10]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// Emits `zero` for an empty stream; emits nothing if upstream fails.
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume keeps the previous state; Restart resets to `zero`.
    fn fold<S, F>(self, zero: S, f: F) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> S + Clone + Send + Sync + 'static,
    {
        via_logic(self, "fold", move |_| {
            ops::Fold::new(zero.clone(), f.clone())
        })
    }

    /// Like [`fold`](StreamOps::fold) with an asynchronous step.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 4)
    ///     .fold_async(0, |a, x| async move { a + x })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![10]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `fold`.
    fn fold_async<S, F, Fut>(self, zero: S, f: F) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = S> + Send + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::AsyncFold::<_, _, _, _, false>::new(up, zero.clone(), f.clone(), a)
        })
    }

    /// Combines elements with `f`, the first element being the initial state; emits the result
    /// when upstream completes.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 4).reduce(|a, b| a * b).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![24]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// Fails with [`StreamError::Empty`] if upstream completes without elements.
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume keeps the previous state; Restart forgets the state
    /// (the next element starts a new reduction).
    fn reduce<F>(self, f: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone,
        F: FnMut(Self::Out, Self::Out) -> Self::Out + Clone + Send + Sync + 'static,
    {
        via_logic(self, "reduce", move |_| ops::Reduce::new(f.clone()))
    }

    /// Emits the first `n` elements, then completes and cancels upstream.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 100).take(3).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Never requests more than the elements it still needs, so upstream produces at most `n`.
    fn take(self, n: u64) -> Self::Repr<Self::Out, Self::Mat> {
        via_logic(self, "take", move |_| ops::Take { remaining: n })
    }

    /// Emits elements while `pred` holds, then completes and cancels upstream.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 10).take_while(|x| *x < 4).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `pred`: Stop fails; Resume and Restart drop the element.
    fn take_while<F>(self, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        via_logic(self, "take_while", move |_| ops::TakeWhile {
            pred: pred.clone(),
            inclusive: false,
        })
    }

    /// Like [`take_while`](StreamOps::take_while), also emitting the first element for which
    /// `pred` fails (Akka's `takeWhile(p, inclusive = true)`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 10).take_while_inclusive(|x| *x < 4).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 4]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `pred`: Stop fails the stream with [`StreamError::Panicked`]; Resume and
    /// Restart drop the element (it is neither emitted nor the one that ends the stream).
    fn take_while_inclusive<F>(self, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        via_logic(self, "take_while_inclusive", move |_| ops::TakeWhile {
            pred: pred.clone(),
            inclusive: true,
        })
    }

    /// Drops the first `n` elements.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 5).drop(3).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![4, 5]);
    /// # }
    /// ```
    fn drop(self, n: u64) -> Self::Repr<Self::Out, Self::Mat> {
        via_logic(self, "drop", move |_| ops::Drop { remaining: n })
    }

    /// Drops elements while `pred` holds, then emits everything.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![1, 2, 5, 1]).drop_while(|x| *x < 3).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![5, 1]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `pred`: Stop fails; Resume and Restart drop the element.
    fn drop_while<F>(self, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        via_logic(self, "drop_while", move |_| ops::DropWhile {
            pred: pred.clone(),
            dropping: true,
        })
    }

    /// Passes elements through, failing the stream if more than `max` arrive.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = Source::range(1, 5).limit(3).run_with(Sink::seq()).await.unwrap_err();
    /// assert!(matches!(err, StreamError::LimitExceeded { max: 3 }));
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StreamError::LimitExceeded`] on element `max + 1` (not subject to supervision).
    fn limit(self, max: u64) -> Self::Repr<Self::Out, Self::Mat> {
        via_logic(self, "limit", move |_| ops::Limit { max, seen: 0 })
    }

    /// Passes elements through, failing the stream once the summed `cost` of the elements
    /// exceeds `max` (Akka's `limitWeighted`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ok = Source::range(1, 3).limit_weighted(6, |x| *x).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(ok, vec![1, 2, 3]);
    /// let err = Source::range(1, 4).limit_weighted(6, |x| *x).run_with(Sink::seq()).await.unwrap_err();
    /// assert!(matches!(err, StreamError::LimitExceeded { max: 6 }));
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StreamError::LimitExceeded`] on the element that takes the total past `max` (that
    /// element is not emitted; not subject to supervision), cancelling upstream.
    ///
    /// # Supervision
    /// A panic in `cost`: Stop fails; Resume and Restart drop the element (it counts nothing).
    fn limit_weighted<F>(self, max: u64, cost: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> u64 + Clone + Send + Sync + 'static,
    {
        via_logic(self, "limit_weighted", move |_| ops::LimitWeighted {
            max,
            total: 0,
            cost: cost.clone(),
        })
    }

    /// Collects elements into groups whose summed `cost` is at least `min_weight`; the last
    /// group may weigh less (Akka's `groupedWeighted`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["ab", "c", "defg", "h"])
    ///     .grouped_weighted(3, |s| s.len() as u64)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![vec!["ab", "c"], vec!["defg"], vec!["h"]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when the group reaches `min_weight`; back-pressures when a group is ready and
    /// downstream has not asked.
    ///
    /// # Completion
    /// Emits the open group, if any, when upstream completes; a failure drops it.
    ///
    /// # Errors
    /// A `min_weight` of 0 fails the stream with [`StreamError::InvalidArgument`] when it runs
    /// (Akka's `IllegalArgumentException`).
    ///
    /// # Supervision
    /// A panic in `cost`: Stop fails; Resume drops the element; Restart drops it and the open
    /// group.
    fn grouped_weighted<F>(self, min_weight: u64, cost: F) -> Self::Repr<Vec<Self::Out>, Self::Mat>
    where
        F: FnMut(&Self::Out) -> u64 + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| -> BoxPull<Vec<Self::Out>> {
            if min_weight == 0 {
                return invalid("grouped_weighted", "min_weight must be at least 1");
            }
            let logic = ops::GroupedWeighted {
                min_weight,
                cost: cost.clone(),
                weight: 0,
                buf: Vec::new(),
            };
            Box::new(Linear::new(up, logic, "grouped_weighted", a))
        })
    }

    /// Emits `pf(x)` for the first element where it is `Some`, then completes (Akka's
    /// `collectFirst`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["a", "7", "8"])
    ///     .collect_first(|s| s.parse::<i32>().ok())
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![7]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// Completes after the first match, cancelling upstream, or when upstream completes
    /// without one.
    ///
    /// # Supervision
    /// A panic in `pf`: Stop fails; Resume and Restart skip the element.
    fn collect_first<T, F>(self, pf: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> Option<T> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "collect_first", move |_| {
            ops::CollectFirst(pf.clone())
        })
    }

    /// Emits `pf(x)` while it is `Some`; completes at the first `None` (Akka's
    /// `collectWhile`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["1", "2", "x", "3"])
    ///     .collect_while(|s| s.parse::<i32>().ok())
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// Completes at the first element `pf` rejects (cancelling upstream), or when upstream
    /// completes.
    ///
    /// # Supervision
    /// A panic in `pf`: Stop fails; Resume and Restart skip the element.
    fn collect_while<T, F>(self, pf: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> Option<T> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "collect_while", move |_| {
            ops::CollectWhile(pf.clone())
        })
    }

    /// Aggregates elements into an aggregate made by `allocate`, emitting `harvest(agg)` each
    /// time `aggregate` returns true (the boundary), and, with `emit_on_timer =
    /// Some((pred, interval))`, every `interval` at which `pred(&agg)` holds (Akka's
    /// `aggregateWithBoundary`). The timer runs on tokio time.
    ///
    /// Where Akka's `aggregate` returns `(agg, boundary)`, weir's updates the aggregate in
    /// place and returns the boundary.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Groups closed by a sum of at least 5; no timer.
    /// let out = Source::from_iter(vec![1, 4, 2, 2, 2, 1])
    ///     .aggregate_with_boundary(
    ///         Vec::new,
    ///         |group: &mut Vec<i32>, x| {
    ///             group.push(x);
    ///             group.iter().sum::<i32>() >= 5
    ///         },
    ///         |group| group,
    ///         None::<(fn(&Vec<i32>) -> bool, Duration)>,
    ///     )
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![vec![1, 4], vec![2, 2, 2], vec![1]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Back-pressures when a harvest is ready and downstream has not asked. The timer is
    /// looked at while downstream is asking: a tick that passes while it back-pressures is
    /// acted on at its next request (Akka's timer fires regardless and holds the harvest).
    ///
    /// # Completion
    /// Emits the open aggregate's harvest, if any, when upstream completes; an upstream
    /// failure drops it and fails the stream.
    ///
    /// # Supervision
    /// A panic in any of the functions: Stop fails the stream; Resume skips the element (a
    /// panicking `pred` leaves the aggregate as it was); Restart also drops the aggregate. A
    /// panicking `harvest` loses its aggregate either way.
    fn aggregate_with_boundary<Agg, E, A, G, H, P>(
        self,
        allocate: A,
        aggregate: G,
        harvest: H,
        emit_on_timer: Option<(P, std::time::Duration)>,
    ) -> Self::Repr<E, Self::Mat>
    where
        Agg: Send + 'static,
        E: Send + 'static,
        A: FnMut() -> Agg + Clone + Send + Sync + 'static,
        G: FnMut(&mut Agg, Self::Out) -> bool + Clone + Send + Sync + 'static,
        H: FnMut(Agg) -> E + Clone + Send + Sync + 'static,
        P: FnMut(&Agg) -> bool + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| {
            let fns = (allocate.clone(), aggregate.clone(), harvest.clone());
            ops::AggregateWithBoundary::new(up, fns, emit_on_timer.clone(), a)
        })
    }

    /// Collects elements into groups of `n`; the last group may be smaller.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 5).grouped(2).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![vec![1, 2], vec![3, 4], vec![5]]);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `n` is 0.
    fn grouped(self, n: usize) -> Self::Repr<Vec<Self::Out>, Self::Mat> {
        assert!(n > 0, "grouped: n must be at least 1");
        via_logic(self, "grouped", move |_| ops::Grouped::new(n))
    }

    /// Collects elements into groups of at most `n`, closing a group when it is full or when
    /// `within` has passed since the previous group (Akka's `groupedWithin`): the way to batch
    /// writes to a database, or offsets to a committer, by size and by time. A window in which
    /// nothing arrived emits nothing; the last group is emitted at completion; a failure drops
    /// the open group and fails the stream at once, as in Akka.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// // Two elements at once, then one after three seconds: a full group, then one by time.
    /// let out = Source::from_iter(vec![1, 2, 3])
    ///     .throttle(2, Duration::from_secs(3), 2)
    ///     .grouped_within(2, Duration::from_secs(1))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![vec![1, 2], vec![3]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Pulls upstream only while downstream pulls; a full group waits for demand. Unlike Akka,
    /// which keeps pulling while downstream is busy, an element that arrives then is seen when
    /// downstream asks again, and timed from that window: its group may close up to one window
    /// later than in Akka.
    ///
    /// # Panics
    /// If `n` is 0.
    fn grouped_within(
        self,
        n: usize,
        within: std::time::Duration,
    ) -> Self::Repr<Vec<Self::Out>, Self::Mat> {
        assert!(n > 0, "grouped_within: n must be at least 1");
        self.via_raw(move |_, up, _| ops::GroupedWithin::new(up, n, within))
    }

    /// Like [`grouped_within`](StreamOps::grouped_within), but a group closes when its elements
    /// weigh `max_weight` in total (each weighs `cost(&x)`), when it holds `max_number`
    /// elements, or when `within` has passed since the previous group (Akka's
    /// `groupedWeightedWithin`; pass `usize::MAX` for Akka's variant without `maxNumber`).
    /// An element that does not fit starts the next group; an element heavier than
    /// `max_weight` on its own forms a group by itself; elements that weigh nothing join a full
    /// group while they are at hand.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// let out = Source::from_iter(vec![1u64, 2, 3, 4, 5, 6, 11, 7, 2])
    ///     .grouped_weighted_within(10, 3, Duration::from_secs(30), |x| *x)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(
    ///     out,
    ///     vec![vec![1, 2, 3], vec![4, 5], vec![6], vec![11], vec![7, 2]]
    /// );
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// As `grouped_within`: pulls upstream only while downstream pulls (at most `max_number`,
    /// and at most 64, elements per pull); a closed group waits for demand.
    ///
    /// # Completion
    /// When upstream completes, the open group, then a group of the element that did not fit,
    /// go out before the completion.
    ///
    /// # Errors
    /// An upstream failure drops the open group and fails the stream at once, as in Akka.
    ///
    /// # Supervision
    /// A panic in `cost`: Stop fails the stream with [`StreamError::Panicked`]; Resume drops the
    /// element and keeps the group; Restart drops the element and the group, and starts a new
    /// window (as Akka).
    ///
    /// # Panics
    /// If `max_weight` or `max_number` is 0 (Akka requires both to be positive).
    fn grouped_weighted_within<C>(
        self,
        max_weight: u64,
        max_number: usize,
        within: std::time::Duration,
        cost: C,
    ) -> Self::Repr<Vec<Self::Out>, Self::Mat>
    where
        C: FnMut(&Self::Out) -> u64 + Clone + Send + Sync + 'static,
    {
        assert!(
            max_weight > 0,
            "grouped_weighted_within: max_weight must be at least 1"
        );
        assert!(
            max_number > 0,
            "grouped_weighted_within: max_number must be at least 1"
        );
        self.via_raw(move |_, up, a| {
            ops::GroupedWeightedWithin::new(up, max_weight, max_number, within, cost.clone(), a)
        })
    }

    /// Passes elements for `d` after the stream starts, then completes and cancels upstream
    /// (Akka's `takeWithin`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// // One element a second, for two and a half seconds.
    /// let out = Source::range(1, 10)
    ///     .throttle(1, Duration::from_secs(1), 1)
    ///     .take_within(Duration::from_millis(2500))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    fn take_within(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::Timed::new(up, ops::TimeoutKind::Complete, d))
    }

    /// Fails with [`StreamError::Timeout`] when no element passed for `d` (Akka's
    /// `idleTimeout`), counting from the start and from each element. As in Akka, time spent
    /// with downstream not asking counts too; the failure is signalled on downstream's next
    /// pull.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// let e = Source::<i32>::never()
    ///     .idle_timeout(Duration::from_secs(5))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(e, StreamError::Timeout { stage: "idle_timeout", .. }));
    /// # }
    /// ```
    fn idle_timeout(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::Timed::new(up, ops::TimeoutKind::Idle, d))
    }

    /// Fails with [`StreamError::Timeout`] unless the first element passes within `d` of the
    /// start (Akka's `initialTimeout`); after it, no timeout applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let e = Source::<u32>::never()
    ///     .initial_timeout(Duration::from_secs(5))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(e, StreamError::Timeout { stage: "initial_timeout", .. }));
    /// # }
    /// ```
    fn initial_timeout(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::Timed::new(up, ops::TimeoutKind::Initial, d))
    }

    /// Pulls nothing from upstream until `d` has passed since the stream started (Akka's
    /// `initialDelay`); then elements pass as they come. An upstream failure is not delayed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let start = tokio::time::Instant::now();
    /// let first = Source::single(1).initial_delay(Duration::from_secs(2)).run_with(Sink::head());
    /// assert_eq!(first.await.unwrap(), 1);
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # }
    /// ```
    fn initial_delay(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::InitialDelay::new(up, d))
    }

    /// Emits `inject()` whenever upstream has emitted nothing for `idle` while downstream pulls
    /// (Akka's `keepAlive`): heartbeats on a quiet connection. The time counts from the last
    /// element emitted, upstream's or made up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let out = Source::<&str>::never()
    ///     .keep_alive(Duration::from_secs(1), || "ping")
    ///     .take(3)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!["ping"; 3]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `inject`: Stop fails the stream; Resume and Restart skip that heartbeat.
    fn keep_alive<F>(self, idle: std::time::Duration, inject: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut() -> Self::Out + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::KeepAlive::new(up, idle, inject.clone(), Supervisor::new("keep_alive", a))
        })
    }

    /// Fails with [`StreamError::Timeout`] unless the stream completes within `d` of its start
    /// (Akka's `completionTimeout`); elements pass until then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// let done = Source::range(1, 3)
    ///     .completion_timeout(Duration::from_secs(1))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(done, vec![1, 2, 3]);
    /// # }
    /// ```
    fn completion_timeout(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::Timed::new(up, ops::TimeoutKind::Completion, d))
    }

    /// Drops every element that arrives within `d` of the stream's start, then passes the
    /// rest (Akka's `dropWithin`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let out = Source::from_iter(vec![(0, "early"), (5, "late")])
    ///     .map_async(1, |(secs, x)| async move {
    ///         tokio::time::sleep(Duration::from_secs(secs)).await;
    ///         x
    ///     })
    ///     .drop_within(Duration::from_secs(2))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!["late"]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// While dropping it pulls upstream as fast as it delivers, demand or not being beside
    /// the point for what is dropped; afterwards it passes demand through.
    ///
    /// # Completion
    /// Completes, and fails, with upstream, dropping or not.
    fn drop_within(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::DropWithin::new(up, d))
    }

    /// Fails with [`StreamError::Timeout`] when downstream takes longer than `d` to ask for
    /// more after elements were handed to it (Akka's `backpressureTimeout`): a consumer that
    /// stalls fails the stream instead of holding it up forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let e = Source::from_iter(0u32..)
    ///     .backpressure_timeout(Duration::from_secs(1))
    ///     .map_async(1, |x| async move {
    ///         tokio::time::sleep(Duration::from_secs(if x == 3 { 5 } else { 0 })).await;
    ///         x
    ///     })
    ///     .run_with(Sink::ignore())
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(e, StreamError::Timeout { stage: "backpressure_timeout", .. }));
    /// # }
    /// ```
    ///
    /// # Errors
    /// The timeout is heard on downstream's next pull, or at once by a downstream stage that
    /// waits without pulling and asks whether upstream failed (as `map_async` with its
    /// futures running does). Time before the first element does not count.
    fn backpressure_timeout(self, d: std::time::Duration) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::BackpressureTimeout::new(up, d))
    }

    /// Holds each element back for `d` from when it arrived, keeping their order (Akka's
    /// `delay`). Up to the `input_buffer` attribute's size (default 16) elements wait at once;
    /// `strategy` says what happens when another arrives.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::DelayOverflowStrategy;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let start = tokio::time::Instant::now();
    /// let out = Source::range(1, 3)
    ///     .delay(Duration::from_secs(1), DelayOverflowStrategy::BackPressure)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// assert_eq!(start.elapsed().as_secs(), 1, "all three waited the same second");
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// With [`DelayOverflowStrategy::BackPressure`](crate::DelayOverflowStrategy::BackPressure) upstream waits while the buffer is full;
    /// with `EmitEarly` the oldest element is emitted before its time to make room; the drop
    /// strategies keep reading and drop as they say; `Fail` fails with
    /// [`StreamError::BufferOverflow`]. Elements are read (and timed) only while downstream
    /// pulls, as every weir stage reads (Akka's `delay` keeps reading in between).
    ///
    /// # Completion
    /// Upstream's completion waits for the held elements to be emitted; a failure overtakes
    /// them.
    fn delay(
        self,
        d: std::time::Duration,
        strategy: crate::DelayOverflowStrategy,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, a| ops::Delay::new(up, strategy, move |_: &Self::Out| d, a))
    }

    /// [`delay`](StreamOps::delay) with a delay per element: `delay_of` is made once per
    /// materialization by `make` and asked for each element's delay (Akka's `delayWith` and
    /// its `DelayStrategy`). Elements keep their order: one with a short delay behind one with
    /// a long delay waits for it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::DelayOverflowStrategy;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// // A linearly increasing delay: 0 s, 1 s, 2 s after each element's arrival.
    /// let start = tokio::time::Instant::now();
    /// let out = Source::range(1, 3)
    ///     .delay_with(
    ///         || { let mut n = 0; move |_: &i32| { n += 1; Duration::from_secs(n - 1) } },
    ///         DelayOverflowStrategy::BackPressure,
    ///     )
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// assert_eq!(start.elapsed().as_secs(), 2);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `delay_of`: Stop fails the stream; Resume and Restart drop the element.
    fn delay_with<M, D>(
        self,
        make: M,
        strategy: crate::DelayOverflowStrategy,
    ) -> Self::Repr<Self::Out, Self::Mat>
    where
        M: Fn() -> D + Send + Sync + 'static,
        D: FnMut(&Self::Out) -> std::time::Duration + Send + 'static,
    {
        self.via_raw(move |_, up, a| ops::Delay::new(up, strategy, make(), a))
    }

    /// Emits windows of `n` elements, each starting `step` elements after the previous one. At
    /// completion a shorter last window is emitted if it holds elements no window has shown.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 6).sliding(3, 2).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![vec![1, 2, 3], vec![3, 4, 5], vec![5, 6]]);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `n` or `step` is 0.
    fn sliding(self, n: usize, step: usize) -> Self::Repr<Vec<Self::Out>, Self::Mat>
    where
        Self::Out: Clone,
    {
        assert!(n > 0 && step > 0, "sliding: n and step must be at least 1");
        via_logic(self, "sliding", move |_| ops::Sliding::new(n, step))
    }

    /// Emits `inject` between consecutive elements.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["a", "b", "c"]).intersperse(",").run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out.concat(), "a,b,c");
    /// # }
    /// ```
    fn intersperse(self, inject: Self::Out) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone + Sync,
    {
        via_logic(self, "intersperse", move |_| ops::Intersperse {
            start: None,
            inject: inject.clone(),
            end: None,
            first: true,
        })
    }

    /// Emits `start` first, `inject` between elements and `end` at completion (Akka's
    /// three-argument `intersperse`). `start` and `end` are emitted even for an empty stream.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["a", "b"]).intersperse_with("[", ",", "]").run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out.concat(), "[a,b]");
    /// # }
    /// ```
    fn intersperse_with(
        self,
        start: Self::Out,
        inject: Self::Out,
        end: Self::Out,
    ) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone + Sync,
    {
        via_logic(self, "intersperse", move |_| ops::Intersperse {
            start: Some(start.clone()),
            inject: inject.clone(),
            end: Some(end.clone()),
            first: true,
        })
    }

    /// Pairs each element with its index, from 0.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!['a', 'b']).zip_with_index().run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![('a', 0), ('b', 1)]);
    /// # }
    /// ```
    fn zip_with_index(self) -> Self::Repr<(Self::Out, u64), Self::Mat> {
        via_logic(self, "zip_with_index", |_| ops::ZipWithIndex(0))
    }

    /// Maps with a mutable state created per materialization by `create`; at completion
    /// `on_complete` may emit one last element from the final state (Akka's `statefulMap`).
    /// As in Pekko, `on_complete` also runs when the stage fails (upstream failure, or its own
    /// `f` failing under Stop), its element emitted before the failure, and on cancellation, its
    /// element discarded.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Running difference, then the final total.
    /// let out = Source::from_iter(vec![1, 4, 9])
    ///     .stateful_map(|| 0, |prev: &mut i32, x| { let d = x - *prev; *prev = x; d }, |last| Some(last * 100))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 3, 5, 900]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume drops the element and keeps the state; Restart drops
    /// it, closes the old state with `on_complete` (emitting what it returns, as Pekko's
    /// `statefulMap`) and calls `create` again.
    fn stateful_map<S, T, C, F, D>(
        self,
        create: C,
        f: F,
        on_complete: D,
    ) -> Self::Repr<T, Self::Mat>
    where
        S: Send + 'static,
        T: Send + 'static,
        C: FnMut() -> S + Clone + Send + Sync + 'static,
        F: FnMut(&mut S, Self::Out) -> T + Clone + Send + Sync + 'static,
        D: FnMut(S) -> Option<T> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "stateful_map", move |_| ops::StatefulMap {
            create: create.clone(),
            f: f.clone(),
            on_complete: on_complete.clone(),
            state: None,
            _out: std::marker::PhantomData,
        })
    }

    /// Runs `f`'s future for each element with at most `parallelism` in flight and emits the
    /// results in upstream order (Akka's `mapAsync`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 5)
    ///     .map_async(2, |x| async move { x * 2 })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![2, 4, 6, 8, 10]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Pulls from upstream only while fewer than `parallelism` futures are in flight or done but
    /// not yet emitted. A slot freed by an emitted result is refilled at once, as in Akka, so
    /// up to `parallelism` futures keep running while downstream holds its demand.
    ///
    /// # Errors
    /// An upstream failure fails the stage at once, dropping in-flight futures (as in Akka),
    /// even while `parallelism` futures are in flight and upstream is not pulled.
    ///
    /// # Supervision
    /// A panic in `f` or in its future: Stop fails; Resume and Restart drop that element.
    fn map_async<T, F, Fut>(self, parallelism: usize, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::MapAsync::<_, _, _, _, true>::new(up, parallelism, f.clone(), a)
        })
    }

    /// Like [`map_async`](StreamOps::map_async), but runs at most one future at a time per
    /// partition key (Akka's `mapAsyncPartitioned`): up to `parallelism` elements are in flight,
    /// the futures of elements with the same key run one after the other in upstream order, and
    /// the results are emitted in upstream order. The Kafka use: process records of one key (or
    /// one partition) in order while keys proceed in parallel, then commit in order.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::from_iter([("a", 1), ("b", 2), ("a", 3)])
    ///     .map_async_partitioned(4, |&(key, _)| key, |(key, n), _| async move {
    ///         format!("{key}{n}")
    ///     })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!["a1", "b2", "a3"]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `partitioner`, `f` or its future: Stop fails; Resume and Restart drop that
    /// element (a later element of its key then runs).
    ///
    /// # Where weir differs from Akka
    /// Each future is boxed (one allocation per element), and the keys in flight are compared
    /// with `==` (so `K` needs only `PartialEq`), which suits the small `parallelism` the
    /// operator is for.
    fn map_async_partitioned<T, K, P, F, Fut>(
        self,
        parallelism: usize,
        partitioner: P,
        f: F,
    ) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        K: PartialEq + Send + 'static,
        P: FnMut(&Self::Out) -> K + Clone + Send + Sync + 'static,
        F: FnMut(Self::Out, &K) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::MapAsyncPartitioned::new(up, parallelism, partitioner.clone(), f.clone(), a)
        })
    }

    /// Like [`map_async`](StreamOps::map_async), emitting results as soon as they are ready
    /// (Akka's `mapAsyncUnordered`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let mut out = Source::range(1, 5)
    ///     .map_async_unordered(3, |x| async move { x * 2 })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![2, 4, 6, 8, 10]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `map_async`.
    fn map_async_unordered<T, F, Fut>(self, parallelism: usize, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        F: FnMut(Self::Out) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::MapAsync::<_, _, _, _, false>::new(up, parallelism, f.clone(), a)
        })
    }

    /// Limits the rate to `elements` per `per`, letting bursts of up to `burst` elements through
    /// at once (Akka's `throttle` in shaping mode: elements are delayed, never dropped).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// let start = tokio::time::Instant::now();
    /// let out = Source::range(1, 5)
    ///     .throttle(1, Duration::from_secs(1), 1)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 4, 5]);
    /// assert_eq!(start.elapsed().as_secs(), 4); // the first passes at once
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Requests from upstream only as many elements as may pass now.
    fn throttle(
        self,
        elements: u32,
        per: std::time::Duration,
        burst: u32,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |_, up, _| ops::Throttle::new(up, elements, per, burst))
    }

    /// Limits the rate to `cost` units per `per`, each element costing `cost_of(&elem)` units,
    /// with bursts of up to `burst` units (Akka's `throttle(cost, per, maximumBurst,
    /// costCalculation, mode)`). Rate is measured with a token bucket of `burst` tokens, full at
    /// the start, gaining one token every `per / cost`.
    ///
    /// An element costing more than the tokens present waits for the missing ones under
    /// [`ThrottleMode::Shaping`](crate::ThrottleMode::Shaping) (it passes once they have
    /// accrued, leaving the bucket empty: an element may cost more than `burst`), and fails the
    /// stream under [`ThrottleMode::Enforcing`](crate::ThrottleMode::Enforcing). An element
    /// costing 0 always passes at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::ThrottleMode;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// let start = tokio::time::Instant::now();
    /// // 10 bytes per second, in bursts of up to 10 bytes.
    /// let out = Source::from_iter(vec!["hello", "rust", "streams"])
    ///     .throttle_with(10, Duration::from_secs(1), 10, |s: &&str| s.len() as u32, ThrottleMode::Shaping)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!["hello", "rust", "streams"]);
    /// // 5 + 4 bytes pass in the first burst; "streams" waits for 6 more tokens: 600 ms
    /// // (and the timer's millisecond tick).
    /// assert_eq!(start.elapsed().as_millis() / 100, 6);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Pulls one element at a time, and the next only after the one before has passed.
    ///
    /// # Completion
    /// When upstream completes, after an element still waiting for its tokens has passed.
    ///
    /// # Errors
    /// [`StreamError::RateExceeded`] in enforcing mode. [`StreamError::InvalidArgument`] at the
    /// first pull if `cost` is 0, `per` is zero, or `burst` is 0 in enforcing mode (where Akka
    /// throws when the blueprint is built).
    ///
    /// # Supervision
    /// A panic in `cost_of`: Stop fails the stream; Resume and Restart drop the element.
    fn throttle_with<F>(
        self,
        cost: u32,
        per: std::time::Duration,
        burst: u32,
        cost_of: F,
        mode: crate::ThrottleMode,
    ) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&Self::Out) -> u32 + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| {
            ops::ThrottleWeighted::new(up, (cost, per, burst), mode, cost_of.clone(), a)
        })
    }

    /// Buffers up to `size` elements, applying `strategy` when full (Akka's `buffer`).
    ///
    /// Upstream runs on its own island, so the buffer fills while downstream is busy.
    /// `OverflowStrategy::BackPressure` is an async boundary of `size` elements.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::OverflowStrategy;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 10)
    ///     .buffer(4, OverflowStrategy::BackPressure)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, (1..=10).collect::<Vec<_>>());
    /// # }
    /// ```
    ///
    /// # Errors
    /// With `OverflowStrategy::Fail`, [`StreamError::BufferOverflow`] when an element arrives
    /// while full. Under every strategy an upstream failure overtakes the elements waiting in
    /// the buffer (they are dropped), as in Akka; with `BackPressure` a batch that downstream
    /// has already taken over from the buffer still goes out first.
    ///
    /// # Panics
    /// If `size` is 0.
    fn buffer(self, size: usize, strategy: OverflowStrategy) -> Self::Repr<Self::Out, Self::Mat> {
        assert!(size > 0, "buffer: size must be at least 1");
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                let out: BoxPull<Self::Out> = if strategy == OverflowStrategy::BackPressure {
                    Box::new(boundary::overtaking_boundary(m, up, size))
                } else {
                    let policy = ops::BufferPolicy {
                        queue: std::collections::VecDeque::with_capacity(size),
                        size,
                        strategy,
                    };
                    ops::decouple(m, up, policy, Supervisor::new("buffer", a))
                };
                (out, ())
            }),
            Keep::left,
        )
    }

    /// Decouples upstream from downstream with a one-element buffer (Akka's `detach`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// assert_eq!(Source::range(1, 3).detach().run_with(Sink::seq()).await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    fn detach(self) -> Self::Repr<Self::Out, Self::Mat> {
        self.buffer(1, OverflowStrategy::BackPressure)
    }

    /// While downstream is busy, combines arriving elements with `f` into one; never
    /// back-pressures upstream (Akka's `conflate`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 100).conflate(|a, b| a + b).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out.iter().sum::<i32>(), 5050); // however the sums were grouped
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume drops the element; Restart drops the aggregate.
    fn conflate<F>(self, f: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone,
        F: FnMut(Self::Out, Self::Out) -> Self::Out + Clone + Send + Sync + 'static,
    {
        conflate_named(self, "conflate", |x| x, f)
    }

    /// Like [`conflate`](StreamOps::conflate), starting each aggregate with `seed(x)`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 50)
    ///     .conflate_with_seed(|x| vec![x], |mut v, x| { v.push(x); v })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out.concat(), (1..=50).collect::<Vec<_>>());
    /// # }
    /// ```
    ///
    /// # Errors
    /// An upstream failure overtakes the aggregate not yet emitted, which is dropped (as in
    /// Akka).
    ///
    /// # Supervision
    /// A panic in `seed` or `f`: Stop fails the stream with [`StreamError::Panicked`]; Resume
    /// drops the element and keeps the aggregate; Restart drops the element and the aggregate.
    fn conflate_with_seed<S, Seed, F>(self, seed: Seed, f: F) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + 'static,
        Seed: FnMut(Self::Out) -> S + Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> S + Clone + Send + Sync + 'static,
    {
        conflate_named(self, "conflate_with_seed", seed, f)
    }

    /// Like [`conflate_with_seed`](StreamOps::conflate_with_seed), but back-pressures once an
    /// aggregate holds `max` elements (Akka's `batch`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 20)
    ///     .batch(5, |x| vec![x], |mut v, x| { v.push(x); v })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert!(out.iter().all(|b| b.len() <= 5));
    /// assert_eq!(out.concat(), (1..=20).collect::<Vec<_>>());
    /// # }
    /// ```
    ///
    /// # Errors
    /// An upstream failure overtakes the batch not yet emitted, which is dropped (as in Akka),
    /// also while a full batch back-pressures upstream.
    ///
    /// # Supervision
    /// As [`conflate_with_seed`](StreamOps::conflate_with_seed): a panic in `seed` or `f` under
    /// Stop fails the stream; Resume drops the element and keeps the batch; Restart drops the
    /// element and the batch.
    fn batch<S, Seed, F>(self, max: usize, seed: Seed, f: F) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + 'static,
        Seed: FnMut(Self::Out) -> S + Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> S + Clone + Send + Sync + 'static,
    {
        let max = max.max(1);
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                let policy = ops::ConflatePolicy {
                    agg: None,
                    count: 0,
                    max: Some(max),
                    seed: seed.clone(),
                    aggregate: f.clone(),
                };
                (
                    ops::decouple(m, up, policy, Supervisor::new("batch", a)),
                    (),
                )
            }),
            Keep::left,
        )
    }

    /// Like [`batch`](StreamOps::batch), but each element weighs `cost(&x)` and an aggregate
    /// holds at most `max` in total (Akka's `batchWeighted`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::from_iter(vec!["ab", "cde", "f", "ghij"])
    ///     .batch_weighted(4, |s: &&str| s.len() as u64, |s| s.to_string(), |acc, s| acc + s)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// // However the elements were grouped, nothing is lost or reordered.
    /// assert_eq!(out.concat(), "abcdefghij");
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Never while the aggregate has room: upstream runs on its own island and is pulled while
    /// downstream is busy. An element that would take the aggregate past `max` is held back,
    /// and upstream with it, until downstream takes the aggregate; it then seeds the next one.
    /// An element heavier than `max` on its own forms an aggregate by itself.
    ///
    /// # Completion
    /// When upstream completes, the aggregate and then the held-back element go out before the
    /// completion.
    ///
    /// # Errors
    /// An upstream failure overtakes the aggregate not yet emitted, which is dropped (as in
    /// Akka).
    ///
    /// # Supervision
    /// A panic in `cost`, `seed` or `f` under Stop fails the stream; Resume drops the element
    /// and keeps the aggregate; Restart drops the element, the aggregate and a held-back
    /// element.
    fn batch_weighted<S, C, Seed, F>(
        self,
        max: u64,
        cost: C,
        seed: Seed,
        f: F,
    ) -> Self::Repr<S, Self::Mat>
    where
        S: Clone + Send + 'static,
        C: FnMut(&Self::Out) -> u64 + Clone + Send + Sync + 'static,
        Seed: FnMut(Self::Out) -> S + Clone + Send + Sync + 'static,
        F: FnMut(S, Self::Out) -> S + Clone + Send + Sync + 'static,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                let policy =
                    ops::BatchWeightedPolicy::new(max, cost.clone(), seed.clone(), f.clone());
                (
                    ops::decouple(m, up, policy, Supervisor::new("batch_weighted", a)),
                    (),
                )
            }),
            Keep::left,
        )
    }

    /// While upstream is slower than downstream, extrapolates from the latest element with the
    /// iterator `f(x)` (Akka's `expand`). Completes when upstream completes, once the latest
    /// element has been emitted.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// // Upstream gives one element and then nothing: downstream still gets three.
    /// let out = Source::single(1)
    ///     .concat(Source::never())
    ///     .expand(std::iter::repeat)
    ///     .take(3)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 1, 1]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream with [`StreamError::Panicked`]; Resume drops the
    /// element and goes on extrapolating the previous one; Restart drops both, so nothing is
    /// emitted until the next element arrives (as Pekko). A panic in the iterator: Stop
    /// fails the stream; Resume and Restart drop the iterator and wait for the next element.
    fn expand<T, I, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        I: Iterator<Item = T> + Send + 'static,
        F: FnMut(Self::Out) -> I + Clone + Send + Sync + 'static,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                let policy = ops::ExpandPolicy {
                    f: f.clone(),
                    current: None,
                    emitted: false,
                    finished: false,
                };
                (
                    ops::decouple(m, up, policy, Supervisor::new("expand", a)),
                    (),
                )
            }),
            Keep::left,
        )
    }

    /// On upstream failure, emits `f(&error)` if it is `Some` and completes; otherwise fails
    /// with the error.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3)
    ///     .concat(Source::failed(StreamError::AbruptTermination))
    ///     .recover(|_| Some(-1))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3, -1]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// The decider is not consulted (there is no element to drop): a panic in `f` fails the
    /// stream with [`StreamError::Panicked`] instead of the upstream error.
    fn recover<F>(self, f: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&StreamError) -> Option<Self::Out> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "recover", move |_| ops::Recover(f.clone()))
    }

    /// Completes instead of failing when upstream fails with an error `pred` accepts (Akka's
    /// `onErrorComplete`); other failures pass on. `|_| true` completes on any failure.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter([1, 2])
    ///     .concat(Source::failed(StreamError::AbruptTermination))
    ///     .on_error_complete(|e| matches!(e, StreamError::AbruptTermination))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2]);
    /// # }
    /// ```
    fn on_error_complete<F>(self, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(&StreamError) -> bool + Clone + Send + Sync + 'static,
    {
        via_logic(self, "on_error_complete", move |_| {
            ops::OnErrorComplete(pred.clone())
        })
    }

    /// Drops each element equal to the one just before it (Akka's `dropRepeated`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter([1, 1, 2, 2, 2, 1, 3, 3])
    ///     .drop_repeated()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 1, 3]);
    /// # }
    /// ```
    fn drop_repeated(self) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: PartialEq + Clone,
    {
        via_logic(self, "drop_repeated", |_| ops::DropRepeated(None))
    }

    /// On upstream failure, continues with the source `f(&error)` returns, at most `attempts`
    /// times (`None`: without limit); `f` returning `None` lets the failure through.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 2)
    ///     .concat(Source::failed(StreamError::AbruptTermination))
    ///     .recover_with_retries(Some(1), |_| Some(Source::from_iter(vec![8, 9])))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 8, 9]);
    /// # }
    /// ```
    ///
    /// `Some(0)` lets every failure through without calling `f`. The recovery source's
    /// materialized value is dropped.
    ///
    /// # Supervision
    /// The decider is not consulted: a panic in `f` fails the stream with
    /// [`StreamError::Panicked`] instead of the upstream error.
    fn recover_with_retries<M, F>(
        self,
        attempts: Option<u64>,
        f: F,
    ) -> Self::Repr<Self::Out, Self::Mat>
    where
        M: 'static,
        F: FnMut(&StreamError) -> Option<Source<Self::Out, M>> + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| ops::RecoverWithRetries::new(up, attempts, f.clone(), a))
    }

    /// Transforms an upstream failure.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = Source::<i32>::failed(StreamError::AbruptTermination)
    ///     .map_error(|_| StreamError::LimitExceeded { max: 0 })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, StreamError::LimitExceeded { .. }));
    /// # }
    /// ```
    ///
    /// # Supervision
    /// The decider is not consulted: a panic in `f` fails the stream with
    /// [`StreamError::Panicked`] instead of the upstream error.
    fn map_error<F>(self, f: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        F: FnMut(StreamError) -> StreamError + Clone + Send + Sync + 'static,
    {
        via_logic(self, "map_error", move |_| ops::MapError(f.clone()))
    }

    /// Materializes a [`Completion`] that resolves when this point of the stream terminates:
    /// `Ok` on completion or downstream cancellation, `Err` on failure.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (done, out) = Source::range(1, 3).watch_termination().to_mat(Sink::seq(), Keep::both).run();
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    fn watch_termination(self) -> Self::Repr<Self::Out, Completion<()>> {
        self.via_mat(
            Flow::from_fn(|_, up, a| {
                let (promise, done) = completion();
                let stage = Linear::new(up, ops::WatchTermination(promise), "watch_termination", a);
                (Box::new(stage) as BoxPull<Self::Out>, done)
            }),
            Keep::right,
        )
    }

    /// Logs each element, completion, failure and cancellation through `tracing` under `name`,
    /// at the levels of the [`LogLevels`](crate::LogLevels) attribute (default: elements and
    /// finish at DEBUG, failure at ERROR).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 2).log("numbers").run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2]);
    /// # }
    /// ```
    fn log(self, name: &'static str) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Debug,
    {
        via_logic(self, "log", move |a| ops::Log {
            // The name given here is the operator's own: an outer `named` does not replace it.
            name: std::borrow::Cow::Borrowed(name),
            levels: a.log_levels_or_default(),
            finished: false,
        })
    }

    /// Also sends every element to `sink`. The slower of the two sets the pace; if `sink`
    /// cancels, this stream completes (Akka's `alsoTo`, which cancels eagerly).
    ///
    /// This is the `Broadcast` junction with eager cancellation underneath: upstream runs as its
    /// own island feeding both.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 3)
    ///     .also_to(Sink::foreach(|x| println!("side: {x}")))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    fn also_to<M: 'static>(self, sink: Sink<Self::Out, M>) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                let main = fan_out_to(
                    m,
                    up,
                    &sink,
                    a,
                    crate::junctions::BroadcastRouter { eager_cancel: true },
                );
                (main, ())
            }),
            Keep::left,
        )
    }

    /// Also sends every element to each of `sinks` (Akka's `alsoToAll`): the slowest sets the
    /// pace; if any sink cancels, this stream completes and the other sinks complete.
    ///
    /// This is the `Broadcast` junction with eager cancellation, over `sinks.len() + 1`
    /// outputs: upstream runs as its own island feeding them all.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 3)
    ///     .also_to_all(vec![Sink::ignore(), Sink::foreach(|x| println!("side: {x}"))])
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Back-pressures when any output (this stream or a sink) has no room.
    ///
    /// # Completion
    /// Completion and failure of upstream reach every sink and this stream. Cancellation of
    /// this stream or of any sink cancels upstream.
    fn also_to_all<M: 'static>(
        self,
        sinks: Vec<Sink<Self::Out, M>>,
    ) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                if sinks.is_empty() {
                    return (up, ());
                }
                let (tx_main, rx_main) = boundary::channel(a.input_buffer_size());
                let mut txs = vec![tx_main];
                for sink in &sinks {
                    let (tx, rx) = boundary::channel(a.input_buffer_size());
                    let _ = sink.materialize_into(m, Box::new(rx), a);
                    txs.push(tx);
                }
                let router = crate::junctions::BroadcastRouter { eager_cancel: true };
                m.spawn_island(crate::junctions::FanOut::new(up, txs, router));
                (Box::new(rx_main) as BoxPull<Self::Out>, ())
            }),
            Keep::left,
        )
    }

    /// Sends the elements for which `pred` is true to `sink` instead of downstream (Akka's
    /// `divertTo`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let (odd, out) = {
    ///     let (odd, sink) = Sink::seq().pre_materialize();
    ///     let out = Source::range(1, 5).divert_to(sink, |x| x % 2 == 1).run_with(Sink::seq());
    ///     (odd, out)
    /// };
    /// assert_eq!(out.await.unwrap(), vec![2, 4]);
    /// assert_eq!(odd.await.unwrap(), vec![1, 3, 5]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// An element waits for room on the output it goes to (holding upstream back meanwhile).
    ///
    /// # Completion
    /// Upstream's completion and failure reach both; cancellation of this stream or of `sink`
    /// cancels upstream (Akka's `Partition` with `eagerCancel`), and the other completes.
    ///
    /// # Supervision
    /// A panic in `pred`: Stop fails both; Resume and Restart drop the element.
    fn divert_to<M, F>(self, sink: Sink<Self::Out, M>, pred: F) -> Self::Repr<Self::Out, Self::Mat>
    where
        M: 'static,
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                let mut pred = pred.clone();
                let router = ops::DivertRouter(crate::junctions::PartitionRouter {
                    f: move |x: &Self::Out| usize::from(pred(x)),
                    outputs: 2,
                    held: None,
                    sup: Supervisor::new("divert_to", a),
                });
                (fan_out_to(m, up, &sink, a, router), ())
            }),
            Keep::left,
        )
    }

    /// Materializes a [`FlowMonitor`](crate::FlowMonitor) showing the state of the stream at
    /// this point: nothing yet, the latest element, finished or failed (Akka's `monitor`).
    /// Keep the upstream value too with `via_mat(Flow::new().monitor(), Keep::both)`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::FlowMonitorState;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (monitor, out) = Source::range(1, 3).monitor().to_mat(Sink::seq(), Keep::both).run();
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    /// assert!(matches!(monitor.state(), FlowMonitorState::Finished));
    /// # }
    /// ```
    ///
    /// Elements pass through unchanged, with no effect on back pressure, completion or
    /// failure. Cancellation downstream shows as `Finished`, as in Akka. In a fused island
    /// weir updates the state once per batch, so `Received` holds the last element of the
    /// batch that went through (Akka's holds each element in turn).
    fn monitor(self) -> Self::Repr<Self::Out, crate::FlowMonitor<Self::Out>>
    where
        Self::Out: Clone,
    {
        self.via_mat(
            Flow::from_fn(|_, up, _| {
                let (stage, monitor) = ops::Monitor::new(up);
                (Box::new(stage) as BoxPull<Self::Out>, monitor)
            }),
            Keep::right,
        )
    }

    /// Like [`stateful_map`](StreamOps::stateful_map), named for a resource (Akka's
    /// `mapWithResource`): `create` opens it at the first pull, `f` maps each element with
    /// it, and `close` releases it once — on completion (emitting what it returns last), on
    /// failure (its element emitted before the failure) and on cancellation (its element
    /// discarded).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["a", "b"])
    ///     .map_with_resource(
    ///         || Vec::<String>::new(),
    ///         |log: &mut Vec<String>, s| {
    ///             log.push(s.to_string());
    ///             s.to_uppercase()
    ///         },
    ///         |log| Some(format!("{} written", log.len())),
    ///     )
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!["A", "B", "2 written"]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop closes the resource and fails; Resume drops the element; Restart
    /// drops it, closes the resource (emitting what `close` returns) and creates a new one.
    fn map_with_resource<R, T, C, F, D>(self, create: C, f: F, close: D) -> Self::Repr<T, Self::Mat>
    where
        R: Send + 'static,
        T: Send + 'static,
        C: FnMut() -> R + Clone + Send + Sync + 'static,
        F: FnMut(&mut R, Self::Out) -> T + Clone + Send + Sync + 'static,
        D: FnMut(R) -> Option<T> + Clone + Send + Sync + 'static,
    {
        via_logic(self, "map_with_resource", move |_| ops::StatefulMap {
            create: create.clone(),
            f: f.clone(),
            on_complete: close.clone(),
            state: None,
            _out: std::marker::PhantomData,
        })
    }

    /// Sends a copy of each element to `sink` when it has room, dropping the copy otherwise; never
    /// slows this stream down, and `sink` cancelling does not stop it (Akka's `wireTap`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 3).wire_tap(Sink::ignore()).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    fn wire_tap<M: 'static>(self, sink: Sink<Self::Out, M>) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Clone,
    {
        self.via_mat(
            Flow::from_fn(move |m, up, a| {
                (fan_out_to(m, up, &sink, a, crate::junctions::TapRouter), ())
            }),
            Keep::left,
        )
    }

    /// Emits this stream's elements, then `other`'s. `other` is materialized with this stream but
    /// pulled only after this one completes.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 2).concat(Source::range(8, 9)).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 8, 9]);
    /// # }
    /// ```
    fn concat<M: 'static>(self, other: Source<Self::Out, M>) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            ops::Concat {
                first: Some(up),
                second: Some(second),
            }
        })
    }

    /// Emits `other`'s elements, then this stream's; this stream is pulled only after `other`
    /// completes.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 2).prepend(Source::range(8, 9)).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![8, 9, 1, 2]);
    /// # }
    /// ```
    fn prepend<M: 'static>(self, other: Source<Self::Out, M>) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| {
            let (first, _) = other.materialize_into(m, a);
            ops::Concat {
                first: Some(first),
                second: Some(up),
            }
        })
    }

    /// Emits this stream's elements; if it completes without any, emits `other`'s instead.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::<i32>::empty().or_else(Source::single(0)).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![0]);
    /// # }
    /// ```
    fn or_else<M: 'static>(self, other: Source<Self::Out, M>) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| {
            let (secondary, _) = other.materialize_into(m, a);
            ops::OrElse {
                primary: Some(up),
                secondary: Some(secondary),
                emitted: false,
            }
        })
    }

    /// Emits elements of this stream and `other` as they arrive; completes when both have.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut out = Source::range(1, 3).merge(Source::range(10, 12)).run_with(Sink::seq()).await.unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![1, 2, 3, 10, 11, 12]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// Completes when both inputs completed; fails as soon as either fails.
    fn merge<M: 'static>(self, other: Source<Self::Out, M>) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            ops::Merge::new(vec![up, second], false)
        })
    }

    /// Pairs elements of this stream and `other`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3).zip(Source::from_iter(vec!['a', 'b'])).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![(1, 'a'), (2, 'b')]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// Completes when either input has completed and no more pairs can be formed.
    fn zip<U, M>(self, other: Source<U, M>) -> Self::Repr<(Self::Out, U), Self::Mat>
    where
        U: Send + 'static,
        M: 'static,
    {
        self.zip_with(other, |a, b| (a, b))
    }

    /// Combines elements of this stream and `other` pairwise with `f`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3).zip_with(Source::range(10, 12), |a, b| a + b).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![11, 13, 15]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume and Restart drop the pair.
    fn zip_with<U, T, M, F>(self, other: Source<U, M>, f: F) -> Self::Repr<T, Self::Mat>
    where
        U: Send + 'static,
        T: Send + 'static,
        M: 'static,
        F: FnMut(Self::Out, U) -> T + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |m, up, a| {
            let (right, _) = other.materialize_into(m, a);
            ops::ZipWith::new(up, right, f.clone(), a)
        })
    }

    /// Merges this stream with `other`, preferring one of them when both have elements ready
    /// (Akka's `mergePreferred`): with `prefer_other` the elements of `other` go first,
    /// otherwise this stream's.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Both sides are always ready: the preferred one is drained first.
    /// let out = Source::range(1, 3)
    ///     .merge_preferred(Source::range(10, 12), true, false)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![10, 11, 12, 1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when either input has an element, the preferred one first; back-pressures when
    /// downstream does. In a fused island weir fills a whole demand batch from the preferred
    /// input before the other is asked, where Akka decides element by element.
    ///
    /// # Completion
    /// Completes when both inputs completed, or as soon as either does with `eager_complete`;
    /// fails as soon as either fails. Cancelling downstream cancels both inputs.
    fn merge_preferred<M: 'static>(
        self,
        other: Source<Self::Out, M>,
        prefer_other: bool,
        eager_complete: bool,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            let inputs = if prefer_other {
                vec![second, up]
            } else {
                vec![up, second]
            };
            ops::Merge::preferred(inputs, eager_complete)
        })
    }

    /// Merges this stream with `other`; when both have elements ready, each gets a share of the
    /// demand in proportion to its priority (Akka's `mergePrioritized`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::repeat('a')
    ///     .merge_prioritized(Source::repeat('b'), 3, 1, false)
    ///     .take(8)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out.iter().filter(|&&c| c == 'a').count(), 6);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when either input has an element; back-pressures when downstream does. Akka picks
    /// the next input at random, weighted by priority; weir shares deterministically (smooth
    /// weighted round-robin), so the proportions hold over any window of demand.
    ///
    /// # Completion
    /// As [`merge_preferred`](StreamOps::merge_preferred).
    ///
    /// # Errors
    /// A priority of 0 fails the stream with [`StreamError::InvalidArgument`] when it runs
    /// (Akka requires positive priorities), cancelling both inputs.
    fn merge_prioritized<M: 'static>(
        self,
        other: Source<Self::Out, M>,
        left_priority: usize,
        right_priority: usize,
        eager_complete: bool,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| -> BoxPull<Self::Out> {
            let (second, _) = other.materialize_into(m, a);
            if left_priority == 0 || right_priority == 0 {
                return invalid("merge_prioritized", "priorities must be at least 1");
            }
            Box::new(ops::Merge::weighted(
                vec![up, second],
                vec![left_priority, right_priority],
                eager_complete,
            ))
        })
    }

    /// Merges this sorted stream with the sorted `other` into one sorted stream (Akka's
    /// `mergeSorted`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![1, 4, 9])
    ///     .merge_sorted(Source::from_iter(vec![2, 3, 10]))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3, 4, 9, 10]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when both inputs have an element (the smaller goes out; on a tie, this stream's),
    /// or when one has completed and the other has one; back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes when both inputs completed; fails as soon as either fails.
    fn merge_sorted<M: 'static>(
        self,
        other: Source<Self::Out, M>,
    ) -> Self::Repr<Self::Out, Self::Mat>
    where
        Self::Out: Ord,
    {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            ops::MergeSorted::new(up, second)
        })
    }

    /// Emits `[latest of this, latest of other]` each time either emits, once both have
    /// emitted (Akka's `mergeLatest`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::single(1).merge_latest(Source::single(2), false).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![vec![1, 2]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when an input has a new element and both have emitted at least once;
    /// back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes when both inputs completed, or as soon as either does with `eager_complete`;
    /// fails as soon as either fails.
    fn merge_latest<M: 'static>(
        self,
        other: Source<Self::Out, M>,
        eager_complete: bool,
    ) -> Self::Repr<Vec<Self::Out>, Self::Mat>
    where
        Self::Out: Clone,
    {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            ops::MergeLatest::new(vec![up, second], eager_complete)
        })
    }

    /// Emits `segment_size` elements of this stream, then `segment_size` of `other`, and so on
    /// (Akka's `interleave`). When one input completes the other goes on alone.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 4).interleave(Source::range(10, 15), 2).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 10, 11, 3, 4, 12, 13, 14, 15]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when the input whose turn it is has an element; waits for that input (the other is
    /// not asked meanwhile); back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes when both inputs completed; fails as soon as the input being read fails.
    ///
    /// # Errors
    /// A `segment_size` of 0 fails the stream with [`StreamError::InvalidArgument`] when it
    /// runs (Akka's `IllegalArgumentException`).
    fn interleave<M: 'static>(
        self,
        other: Source<Self::Out, M>,
        segment_size: usize,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.interleave_all(vec![other], segment_size, false)
    }

    /// Like [`interleave`](StreamOps::interleave), but with `eager_close` completes as soon as
    /// either input completes (Akka's `interleave(that, segmentSize, eagerClose)`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // This stream ends with its second element: so does the interleave.
    /// let out = Source::range(1, 2)
    ///     .interleave_eager_close(Source::range(10, 15), 1, true)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 10, 2]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`interleave`](StreamOps::interleave).
    fn interleave_eager_close<M: 'static>(
        self,
        other: Source<Self::Out, M>,
        segment_size: usize,
        eager_close: bool,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.interleave_all(vec![other], segment_size, eager_close)
    }

    /// Interleaves this stream and `others` in turn, `segment_size` elements each (Akka's
    /// `interleaveAll`); `eager_close` as in
    /// [`interleave_eager_close`](StreamOps::interleave_eager_close).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::single(1)
    ///     .interleave_all(vec![Source::single(2), Source::single(3)], 1, false)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`interleave`](StreamOps::interleave).
    fn interleave_all<M: 'static>(
        self,
        others: Vec<Source<Self::Out, M>>,
        segment_size: usize,
        eager_close: bool,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| -> BoxPull<Self::Out> {
            let mut inputs = vec![up];
            inputs.extend(others.iter().map(|o| o.materialize_into(m, a).0));
            if segment_size == 0 {
                return invalid("interleave", "segment_size must be at least 1");
            }
            Box::new(ops::Interleave::new(inputs, segment_size, eager_close))
        })
    }

    /// Emits `(latest of this, latest of other)` each time either emits, once both have
    /// emitted (Akka's `zipLatest`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::single(1)
    ///     .concat(Source::never())
    ///     .zip_latest(Source::from_iter(vec!['a', 'b']))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(1, 'a'), (1, 'b')]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when both inputs have emitted at least once, and then each time either has a new
    /// element; back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes as soon as either input completes, after the pairs its last elements made,
    /// cancelling the other; an input that completes before the other emitted anything ends
    /// the stream empty. Fails as soon as either fails.
    fn zip_latest<U, M>(self, other: Source<U, M>) -> Self::Repr<(Self::Out, U), Self::Mat>
    where
        Self::Out: Clone,
        U: Clone + Send + 'static,
        M: 'static,
    {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            ops::ZipLatest::new(up, second)
        })
    }

    /// Like [`zip_latest`](StreamOps::zip_latest), combining the latest pair with `f` (Akka's
    /// `zipLatestWith`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::single(1)
    ///     .concat(Source::never())
    ///     .zip_latest_with(Source::from_iter(vec![10, 20]), |a, b| a + b)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![11, 21]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// As [`zip_latest`](StreamOps::zip_latest).
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume and Restart drop that pair. Pekko does not list
    /// `zipLatestWith` among the supervised operators; weir supervises it as `zip_with`.
    fn zip_latest_with<U, T, M, F>(self, other: Source<U, M>, f: F) -> Self::Repr<T, Self::Mat>
    where
        Self::Out: Clone,
        U: Clone + Send + 'static,
        T: Send + 'static,
        M: 'static,
        F: FnMut(Self::Out, U) -> T + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            let latest: BoxPull<(Self::Out, U)> = Box::new(ops::ZipLatest::new(up, second));
            let mut f = f.clone();
            let f = move |(x, y): (Self::Out, U)| f(x, y);
            Linear::new(latest, ops::Map(f), "zip_latest_with", a)
        })
    }

    /// Merges this stream with every source of `others` (Akka's `mergeAll`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut out = Source::single(1)
    ///     .merge_all(vec![Source::single(2), Source::single(3)], false)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when any input has an element, in fair shares; back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes when all inputs completed, or as soon as any does with `eager_complete`; fails
    /// as soon as any fails.
    fn merge_all<M: 'static>(
        self,
        others: Vec<Source<Self::Out, M>>,
        eager_complete: bool,
    ) -> Self::Repr<Self::Out, Self::Mat> {
        self.via_raw(move |m, up, a| {
            let mut inputs = vec![up];
            inputs.extend(others.iter().map(|o| o.materialize_into(m, a).0));
            ops::Merge::new(inputs, eager_complete)
        })
    }

    /// Pairs elements of this stream and `other`; once one has completed, pairs the rest of the
    /// other with `this_elem` (for this stream) or `that_elem` (for `other`) (Akka's `zipAll`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3)
    ///     .zip_all(Source::single('a'), 0, '-')
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(1, 'a'), (2, '-'), (3, '-')]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when both inputs have an element, or, once one completed, when the other has;
    /// back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes when both inputs completed; fails as soon as either fails.
    fn zip_all<U, M>(
        self,
        other: Source<U, M>,
        this_elem: Self::Out,
        that_elem: U,
    ) -> Self::Repr<(Self::Out, U), Self::Mat>
    where
        Self::Out: Clone + Sync,
        U: Clone + Send + Sync + 'static,
        M: 'static,
    {
        self.via_raw(move |m, up, a| {
            let (second, _) = other.materialize_into(m, a);
            ops::ZipAll::new(up, second, this_elem.clone(), that_elem.clone())
        })
    }

    /// Maps each element to a source and emits each source's elements in turn, one source at a
    /// time (Akka's `flatMapConcat`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::range(1, 3).flat_map_concat(|x| Source::repeat(x).take(2)).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 1, 2, 2, 3, 3]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// An upstream failure fails the stream at once, cancelling the running substream (as in
    /// Akka); elements that arrived before it whose substreams have not started are dropped. A
    /// substream's failure fails the stream and cancels upstream.
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume and Restart drop the element.
    fn flat_map_concat<T, M, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        M: 'static,
        F: FnMut(Self::Out) -> Source<T, M> + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| ops::FlatMap::new(up, 1, f.clone(), a))
    }

    /// Maps each element to a source and emits from up to `breadth` of them at once, as their
    /// elements arrive (Akka's `flatMapMerge`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut out = Source::range(1, 3)
    ///     .flat_map_merge(2, |x| Source::repeat(x).take(2))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![1, 1, 2, 2, 3, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Pulls a new element from upstream only while fewer than `breadth` substreams are open.
    ///
    /// # Errors
    /// An upstream failure fails the stream at once and cancels the open substreams (as in
    /// Akka), even while `breadth` substreams are open and upstream is not pulled. A
    /// substream's failure fails the stream at once.
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream with [`StreamError::Panicked`]; Resume and Restart
    /// drop the element (no substream is opened for it).
    fn flat_map_merge<T, M, F>(self, breadth: usize, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        M: 'static,
        F: FnMut(Self::Out) -> Source<T, M> + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| ops::FlatMap::new(up, breadth, f.clone(), a))
    }

    /// Splits the stream into one substream per key: each element goes to the substream of
    /// `key_fn(&x)`, opened by the key's first element (Akka's `groupBy(maxSubstreams, f)`).
    /// Operators applied to the returned [`SubFlow`](crate::SubFlow) apply to every substream;
    /// [`merge_substreams`](crate::SubFlow::merge_substreams) or
    /// [`concat_substreams`](crate::SubFlow::concat_substreams) join them again.
    ///
    /// Once a key's substream has ended before upstream did (it cancelled its input, e.g. with
    /// `take`), later elements of that key are dropped, as in Akka; see
    /// [`group_by_with_recreation`](StreamOps::group_by_with_recreation) to open a new substream
    /// for them instead.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut words = Source::from_iter(vec!["apple", "avocado", "banana", "blueberry", "cherry"])
    ///     .group_by(8, |w| w.chars().next())
    ///     .fold(Vec::new(), |mut group, w| { group.push(w); group })
    ///     .merge_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// words.sort();
    /// assert_eq!(words, vec![vec!["apple", "avocado"], vec!["banana", "blueberry"], vec!["cherry"]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Upstream is read in batches of at most the `input_buffer` attribute's size (default 16)
    /// and only when the previous batch has been handed out; each substream holds at most as
    /// many elements it has not yet taken. An element whose substream is full holds up every
    /// element behind it (as Akka's one pending element does), so a substream that is not
    /// consumed eventually stops upstream. (Once upstream has completed, the last batch is
    /// handed out past a full substream, so that every substream can complete: a substream then
    /// holds at most twice the buffer size.)
    ///
    /// # Completion
    /// Upstream's completion completes each substream once it has taken its elements.
    ///
    /// # Errors
    /// A new key while `max_substreams` substreams are open fails the stream with
    /// [`StreamError::TooManySubstreams`]. Unlike Akka, only open substreams count: a
    /// substream that has ended frees its slot (Akka also counts the keys of ended substreams,
    /// so that a stream with ever new keys eventually fails, akka/akka#21434). So that this
    /// does not depend on timing, the new key's element first waits until every open
    /// substream has taken the elements already given to it (one may end when it does, as
    /// with `take`); only then does the stream fail. An upstream failure fails every substream
    /// and the stream.
    ///
    /// # Supervision
    /// A panic in `key_fn`: Stop fails the stream; Resume and Restart drop the element. A
    /// decider that resumes also drops an element that would exceed `max_substreams` instead of
    /// failing, as in Akka.
    ///
    /// # Memory
    /// To drop the elements of ended substreams, the stage remembers the key of every substream
    /// that ended before upstream did (one `K` each, no elements), as Akka does; with an endless
    /// supply of such keys use `group_by_with_recreation`, which remembers none.
    fn group_by<K, F>(self, max_substreams: usize, key_fn: F) -> crate::SubFlow<Self, Self::Out>
    where
        K: Clone + Eq + std::hash::Hash + Send + 'static,
        F: FnMut(&Self::Out) -> K + Clone + Send + Sync + 'static,
    {
        crate::SubFlow::new(self, move || {
            ops::GroupBy::new(max_substreams, key_fn.clone(), false)
        })
    }

    /// Like [`group_by`](StreamOps::group_by), but an element whose key's substream has
    /// ended opens a new substream for the key (Akka's `groupBy(maxSubstreams, f,
    /// allowClosedSubstreamRecreation = true)`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Each substream takes one element and ends; the key's next element opens a new one.
    /// let out = Source::from_iter(vec![1, 1, 1])
    ///     .group_by_with_recreation(1, |x| *x)
    ///     .take(1)
    ///     .concat_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 1, 1]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// As [`group_by`](StreamOps::group_by).
    ///
    /// # Completion
    /// As [`group_by`](StreamOps::group_by).
    ///
    /// # Errors
    /// As [`group_by`](StreamOps::group_by). No key is remembered once its substream has
    /// ended, so memory stays bounded by `max_substreams` however many keys come and go. The
    /// elements an ended substream had been given but not taken go, in order, to the key's
    /// new substream, so none is lost; in Akka such elements may be lost (its docs warn of the
    /// race). They wait ahead of the next batch, so up to twice the buffer size may wait.
    fn group_by_with_recreation<K, F>(
        self,
        max_substreams: usize,
        key_fn: F,
    ) -> crate::SubFlow<Self, Self::Out>
    where
        K: Clone + Eq + std::hash::Hash + Send + 'static,
        F: FnMut(&Self::Out) -> K + Clone + Send + Sync + 'static,
    {
        crate::SubFlow::new(self, move || {
            ops::GroupBy::new(max_substreams, key_fn.clone(), true)
        })
    }

    /// Splits the stream into consecutive substreams, starting a new one with each element for
    /// which `pred` holds (Akka's `splitWhen`). The first element always starts the first
    /// substream.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![1, 2, 0, 3, 0, 4, 5])
    ///     .split_when(|x| *x == 0)
    ///     .grouped(10)
    ///     .concat_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![vec![1, 2], vec![0, 3], vec![0, 4, 5]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// As [`group_by`](StreamOps::group_by): upstream is read in bounded batches, and the
    /// current substream holds at most the `input_buffer` size of elements it has not taken.
    ///
    /// # Completion
    /// A split completes the current substream; upstream's completion completes the last one.
    /// A substream that ends early (e.g. `take`) makes the elements up to the next split be
    /// dropped (Akka's default, `SubstreamCancelStrategy.drain`).
    ///
    /// # Errors
    /// An upstream failure fails the substreams still running and the stream.
    ///
    /// # Supervision
    /// A panic in `pred`: Stop fails the stream; Resume and Restart drop the element.
    fn split_when<F>(self, pred: F) -> crate::SubFlow<Self, Self::Out>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        crate::SubFlow::new(self, move || ops::Split::new(pred.clone(), false))
    }

    /// Splits the stream into consecutive substreams, ending the current one after each
    /// element for which `pred` holds (Akka's `splitAfter`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![1, 2, 0, 3, 0, 4])
    ///     .split_after(|x| *x == 0)
    ///     .grouped(10)
    ///     .concat_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![vec![1, 2, 0], vec![3, 0], vec![4]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// As [`split_when`](StreamOps::split_when).
    ///
    /// # Completion
    /// An element for which `pred` holds completes its substream; the next element opens a new
    /// one, so a stream that ends with such an element ends with no empty substream.
    /// Upstream's completion completes the last substream. A substream that ends early makes
    /// the elements up to and including the next split be dropped.
    ///
    /// # Errors
    /// As [`split_when`](StreamOps::split_when).
    ///
    /// # Supervision
    /// As [`split_when`](StreamOps::split_when).
    fn split_after<F>(self, pred: F) -> crate::SubFlow<Self, Self::Out>
    where
        F: FnMut(&Self::Out) -> bool + Clone + Send + Sync + 'static,
    {
        crate::SubFlow::new(self, move || ops::Split::new(pred.clone(), true))
    }

    /// Emits one pair: the first `n` elements (fewer if upstream completes first) and a source
    /// of the rest of the stream, then completes (Akka's `prefixAndTail`).
    ///
    /// The tail source can be run once, anywhere (in another stream, on another task); it
    /// takes over this stream's upstream itself, so its elements pass no buffer or boundary.
    /// Running it a second time fails that run with [`StreamError::AlreadyMaterialized`].
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (header, rest) = Source::from_iter(vec!["id,name", "1,ada", "2,alan"])
    ///     .prefix_and_tail(1)
    ///     .run_with(Sink::head())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(header, vec!["id,name"]);
    /// assert_eq!(rest.run_with(Sink::seq()).await.unwrap(), vec!["1,ada", "2,alan"]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Reads at most `n` elements before the pair is emitted; after that the tail reads
    /// upstream as fast as its own downstream demands.
    ///
    /// # Completion
    /// Completes right after emitting the pair. If upstream completes before `n` elements,
    /// the pair holds what came and an empty tail. With `n == 0` the pair is emitted at the
    /// first pull.
    ///
    /// # Cancellation
    /// Dropping the tail source without running it cancels upstream at once. Akka instead waits
    /// for a subscriber up to the subscription timeout (5 s by default) and then cancels; weir
    /// has no such timeout, and makes no speculative pull after the prefix.
    ///
    /// # Errors
    /// An upstream failure before the prefix is complete fails the stream; after that it
    /// fails the tail.
    fn prefix_and_tail(self, n: usize) -> Self::Repr<PrefixWithTail<Self::Out>, Self::Mat> {
        self.via_raw(move |_, up, _| ops::PrefixAndTail::new(up, n))
    }

    /// Takes the first `n` elements (fewer if upstream completes first), builds a flow from
    /// them with `f`, and runs the rest of the stream through that flow (Akka's
    /// `flatMapPrefix`). The prefix itself does not go through the flow.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // The first element says how to scale the others.
    /// let out = Source::from_iter(vec![10, 1, 2, 3])
    ///     .flat_map_prefix(1, |prefix| {
    ///         let factor = prefix[0];
    ///         Flow::new().map(move |x: i32| x * factor)
    ///     })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![10, 20, 30]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Reads at most `n` elements before the flow exists; after that, as the flow does.
    ///
    /// # Completion
    /// Completes when the flow does. If upstream completes before `n` elements, `f` gets what
    /// came and the flow starts on a completed upstream (as in Akka).
    ///
    /// # Errors
    /// An upstream failure before the prefix is complete fails the stream (the flow is never
    /// built); after that it reaches the flow. The flow's materialized value is dropped (Akka's
    /// `flatMapPrefixMat` would keep it).
    ///
    /// # Supervision
    /// A panic in `f` fails the stream whatever the decider says: there is no element to skip.
    fn flat_map_prefix<T, M, F>(self, n: usize, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        M: 'static,
        F: FnMut(Vec<Self::Out>) -> Flow<Self::Out, T, M> + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| ops::FlatMapPrefix::new(up, n, f.clone(), a))
    }

    /// Maps each element to a source and emits that source's elements until the next element
    /// arrives, which cancels it and switches to the new element's source (Akka's
    /// `switchMap`, also called `flatMapLatest`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::testkit::{TestSink, TestSource};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (queries, results) = TestSource::<&str>::probe()
    ///     .switch_map(|q| Source::repeat(q))
    ///     .to_mat(TestSink::probe(), Keep::both)
    ///     .run();
    /// results.request(2);
    /// queries.send_next("ru").await;
    /// results.expect_next_n(["ru", "ru"]).await;
    /// queries.send_next("rust").await;
    /// results.request(1);
    /// results.expect_next("rust").await;
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Upstream is never back-pressured by the running source: each time the stage is pulled it
    /// first reads every element upstream has ready, in batches of at most the
    /// `input_buffer` size. `f` runs for each of them, but only the latest one's source is
    /// run (the others would be cancelled before being pulled).
    ///
    /// # Completion
    /// Completes when upstream has completed and the current source has completed.
    ///
    /// # Errors
    /// An upstream failure or a source's failure fails the stream at once, cancelling the
    /// running source.
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream; Resume and Restart drop the element (the
    /// running source keeps running).
    fn switch_map<T, M, F>(self, f: F) -> Self::Repr<T, Self::Mat>
    where
        T: Send + 'static,
        M: 'static,
        F: FnMut(Self::Out) -> Source<T, M> + Clone + Send + Sync + 'static,
    {
        self.via_raw(move |_, up, a| ops::SwitchMap::new(up, f.clone(), a))
    }
}

/// `conflate_with_seed` under the operator name its panics report.
fn conflate_named<St, S, Seed, F>(
    s: St,
    name: &'static str,
    seed: Seed,
    f: F,
) -> St::Repr<S, St::Mat>
where
    St: StreamOps,
    S: Clone + Send + 'static,
    Seed: FnMut(St::Out) -> S + Clone + Send + Sync + 'static,
    F: FnMut(S, St::Out) -> S + Clone + Send + Sync + 'static,
{
    s.via_mat(
        Flow::from_fn(move |m, up, a| {
            let policy = ops::ConflatePolicy {
                agg: None,
                count: 0,
                max: None,
                seed: seed.clone(),
                aggregate: f.clone(),
            };
            (ops::decouple(m, up, policy, Supervisor::new(name, a)), ())
        }),
        Keep::left,
    )
}

/// Runs `up` into a two-output fan-out island: output 0 continues the stream, output 1 feeds
/// `sink` (whose materialized value is dropped).
fn fan_out_to<T, M, R>(
    m: &mut Materializer,
    up: BoxPull<T>,
    sink: &Sink<T, M>,
    a: &Attributes,
    router: R,
) -> BoxPull<T>
where
    T: Send + 'static,
    M: 'static,
    R: crate::junctions::Router<T, Out = T>,
{
    let (tx_main, rx_main) = boundary::channel(a.input_buffer_size());
    let (tx_side, rx_side) = boundary::channel(a.input_buffer_size());
    let _ = sink.materialize_into(m, Box::new(rx_side), a);
    m.spawn_island(crate::junctions::FanOut::new(
        up,
        vec![tx_main, tx_side],
        router,
    ));
    Box::new(rx_main)
}

/// Fails the stream with the first `Err` element; `Ok` elements pass through unwrapped.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub(crate) fn try_unwrap<S, T>(s: S) -> S::Repr<T, S::Mat>
where
    S: StreamOps<Out = Result<T, StreamError>>,
    T: Send + 'static,
{
    via_logic(s, "try_unwrap", |_| ops::TryUnwrap)
}

/// A stage that fails at once with [`StreamError::InvalidArgument`]: an operator given an
/// argument it cannot work with (Akka's `require` throwing `IllegalArgumentException`).
pub(crate) fn invalid<T: Send + 'static>(stage: &'static str, problem: &'static str) -> BoxPull<T> {
    Box::new(crate::source::FailedPull(Some(
        StreamError::InvalidArgument { stage, problem },
    )))
}

/// Appends a one-by-one stage running the [`Logic`] that `make` builds per materialization.
fn via_logic<S, T, L, F>(s: S, name: &'static str, make: F) -> S::Repr<T, S::Mat>
where
    S: StreamOps,
    T: Send + 'static,
    L: Logic<S::Out, T>,
    F: Fn(&Attributes) -> L + Send + Sync + 'static,
{
    s.via_raw(move |_, up, a| Linear::new(up, make(a), name, a))
}

impl<Out: Send + 'static, Mat: 'static> StreamOps for Source<Out, Mat> {
    type Out = Out;
    type Mat = Mat;
    type Repr<T: Send + 'static, M: 'static> = Source<T, M>;

    fn via_mat<T, M2, M3, F>(self, flow: Flow<Out, T, M2>, combine: F) -> Source<T, M3>
    where
        T: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        Source::via_mat(self, flow, combine)
    }
}

impl<In: Send + 'static, Out: Send + 'static, Mat: 'static> StreamOps for Flow<In, Out, Mat> {
    type Out = Out;
    type Mat = Mat;
    type Repr<T: Send + 'static, M: 'static> = Flow<In, T, M>;

    fn via_mat<T, M2, M3, F>(self, flow: Flow<Out, T, M2>, combine: F) -> Flow<In, T, M3>
    where
        T: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        Flow::via_mat(self, flow, combine)
    }
}

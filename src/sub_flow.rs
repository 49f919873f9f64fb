//! `SubFlow`: a stream split into substreams, each running the same flow.

use std::fmt;
use std::sync::Arc;

use crate::ops::{MergeSubstreams, Router};
use crate::{Flow, Keep, NotUsed, StreamOps};

type MakeRouter<T> = dyn Fn() -> Box<dyn Router<T>> + Send + Sync;

/// A stream split into substreams by [`group_by`](StreamOps::group_by),
/// [`split_when`](StreamOps::split_when) or [`split_after`](StreamOps::split_after) (Akka's
/// `SubFlow`).
///
/// Every operator of [`StreamOps`] applies to each substream; the substreams are joined again
/// with [`merge_substreams`](SubFlow::merge_substreams),
/// [`merge_substreams_with_parallelism`](SubFlow::merge_substreams_with_parallelism) or
/// [`concat_substreams`](SubFlow::concat_substreams), which give back the kind of blueprint
/// the split was made on, with its materialized value. As in Akka, substreams cannot add to the
/// materialized value: the values of operators applied to them (`watch_termination`, `via_mat`)
/// are dropped.
#[must_use = "streams do nothing unless run"]
pub struct SubFlow<S: StreamOps, Out> {
    parent: S,
    router: Arc<MakeRouter<S::Out>>,
    inner: Flow<S::Out, Out, NotUsed>,
}

impl<S: StreamOps + Clone, Out> Clone for SubFlow<S, Out> {
    fn clone(&self) -> Self {
        SubFlow {
            parent: self.parent.clone(),
            router: self.router.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: StreamOps, Out> fmt::Debug for SubFlow<S, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubFlow").finish_non_exhaustive()
    }
}

impl<S: StreamOps> SubFlow<S, S::Out> {
    pub(crate) fn new<R, F>(parent: S, make_router: F) -> Self
    where
        R: Router<S::Out>,
        F: Fn() -> R + Send + Sync + 'static,
    {
        SubFlow {
            parent,
            router: Arc::new(move || Box::new(make_router()) as Box<dyn Router<S::Out>>),
            inner: Flow::new(),
        }
    }
}

impl<S: StreamOps, Out: Send + 'static> SubFlow<S, Out> {
    /// Runs each substream through `flow` (one materialization per substream; its
    /// materialized value is dropped).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let running_total = Flow::<u32>::new().scan(0, |a, x| a + x);
    /// let out = Source::from_iter(vec![1, 2, 3, 10, 20])
    ///     .split_when(|x| *x >= 10)
    ///     .via(running_total)
    ///     .concat_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 3, 6, 0, 10, 0, 20]);
    /// # }
    /// ```
    pub fn via<T: Send + 'static, M2: 'static>(self, flow: Flow<Out, T, M2>) -> SubFlow<S, T> {
        self.via_mat(flow, Keep::left)
    }

    /// Joins the substreams again, emitting their elements as they come, from all of them at
    /// once (Akka's `mergeSubstreams`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut sums = Source::range(1, 10)
    ///     .group_by(2, |x| x % 2)
    ///     .fold(0, |a, x| a + x)
    ///     .merge_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// sums.sort();
    /// assert_eq!(sums, vec![25, 30]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Substreams are pulled round-robin as downstream demands; a substream that is not pulled
    /// holds at most the `input_buffer` attribute's size (default 16) of its elements, and then
    /// holds up the splitting operator (see [`group_by`](StreamOps::group_by)).
    ///
    /// # Completion
    /// Completes when upstream and every substream have completed.
    ///
    /// # Errors
    /// A substream's failure fails the stream at once, cancelling upstream and the other
    /// substreams. An upstream failure fails every substream, then the stream.
    pub fn merge_substreams(self) -> S::Repr<Out, S::Mat> {
        self.merge_substreams_with_parallelism(usize::MAX)
    }

    /// Like [`merge_substreams`](SubFlow::merge_substreams), with at most `parallelism`
    /// substreams running at once (at least 1) (Akka's `mergeSubstreamsWithParallelism`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut out = Source::from_iter(vec![1, 2, 10, 11, 20])
    ///     .split_when(|x| x % 10 == 0)
    ///     .fold(0, |a, x| a + x)
    ///     .merge_substreams_with_parallelism(2)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![3, 20, 21]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// An element that would open a substream while `parallelism` are running waits, and holds
    /// up upstream, until one of them completes. A `group_by` substream completes only when
    /// upstream does (or it stops itself, e.g. with `take`), so with more keys than
    /// `parallelism` on an endless upstream this deadlocks, as in Akka.
    ///
    /// # Completion
    /// As [`merge_substreams`](SubFlow::merge_substreams).
    ///
    /// # Errors
    /// As [`merge_substreams`](SubFlow::merge_substreams).
    pub fn merge_substreams_with_parallelism(self, parallelism: usize) -> S::Repr<Out, S::Mat> {
        let SubFlow {
            parent,
            router,
            inner,
        } = self;
        parent.via_raw(move |_, up, a| {
            MergeSubstreams::new(up, router(), inner.clone(), parallelism, a)
        })
    }

    /// Joins the substreams again one after the other: each substream's elements, in the
    /// order the substreams were opened (Akka's `concatSubstreams`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter("a b  c".chars())
    ///     .split_after(|c| *c == ' ')
    ///     .filter(|c| *c != ' ')
    ///     .fold(String::new(), |mut s, c| { s.push(c); s })
    ///     .concat_substreams()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec!["a", "b", "", "c"]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One substream runs at a time: an element for the next one waits (holding up upstream)
    /// until the current one completes. With `split_when`/`split_after` that is at the split;
    /// a `group_by` substream completes only when upstream does, so `group_by` with more than
    /// one key on an endless upstream deadlocks here, as in Akka.
    ///
    /// # Completion
    /// As [`merge_substreams`](SubFlow::merge_substreams).
    ///
    /// # Errors
    /// As [`merge_substreams`](SubFlow::merge_substreams).
    pub fn concat_substreams(self) -> S::Repr<Out, S::Mat> {
        self.merge_substreams_with_parallelism(1)
    }
}

impl<S: StreamOps, Out: Send + 'static> StreamOps for SubFlow<S, Out> {
    type Out = Out;
    type Mat = NotUsed;
    type Repr<T: Send + 'static, M: 'static> = SubFlow<S, T>;

    /// Applies `flow` to each substream; the materialized values are dropped (a substream
    /// cannot add to the stream's materialized value).
    fn via_mat<T, M2, M3, F>(self, flow: Flow<Out, T, M2>, combine: F) -> SubFlow<S, T>
    where
        T: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(NotUsed, M2) -> M3 + Send + Sync + 'static,
    {
        SubFlow {
            parent: self.parent,
            router: self.router,
            inner: self.inner.via_mat(flow, move |(), m2| {
                drop(combine((), m2));
            }),
        }
    }
}

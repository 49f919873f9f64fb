//! Sources that combine several sources: `zip_n`, `zip_with_n`, `merge_prioritized_n`,
//! `combine`.

use crate::builder::{GraphBuilder, GraphError};
use crate::junctions::{Junction, UniformFanInShape};
use crate::ops::{self, Linear};
use crate::stage::{BoxPull, Completed};
use crate::{NotUsed, Source};

impl<T: Send + 'static> Source<T, NotUsed> {
    /// Emits a `Vec` with one element of each of `sources`, in their order (Akka's
    /// `Source.zipN`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::zip_n(vec![Source::range(1, 3), Source::range(10, 11)])
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![vec![1, 10], vec![2, 11]]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when every source has an element; back-pressures when downstream does.
    ///
    /// # Completion
    /// Completes when any source has completed and its elements are used up, cancelling the
    /// others; fails as soon as any fails. With no sources it completes at once.
    pub fn zip_n<M: 'static>(sources: Vec<Source<T, M>>) -> Source<Vec<T>, NotUsed> {
        Source::from_fn(move |m, a| {
            let ins: Vec<BoxPull<T>> = sources.iter().map(|s| s.materialize_into(m, a).0).collect();
            let out: BoxPull<Vec<T>> = if ins.is_empty() {
                Box::new(Completed)
            } else {
                Box::new(ops::ZipN::new(ins))
            };
            (out, ())
        })
    }

    /// Combines one element of each of `sources` with `f` (Akka's `Source.zipWithN`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::zip_with_n(
    ///     vec![Source::range(1, 3), Source::range(10, 12), Source::range(100, 102)],
    ///     |xs: Vec<i32>| xs.iter().sum::<i32>(),
    /// )
    /// .run_with(Sink::seq())
    /// .await
    /// .unwrap();
    /// assert_eq!(out, vec![111, 114, 117]);
    /// # }
    /// ```
    ///
    /// # Back pressure and completion
    /// As [`zip_n`](Source::zip_n).
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails; Resume and Restart drop that row.
    pub fn zip_with_n<O, M, F>(sources: Vec<Source<T, M>>, f: F) -> Source<O, NotUsed>
    where
        O: Send + 'static,
        M: 'static,
        F: FnMut(Vec<T>) -> O + Clone + Send + Sync + 'static,
    {
        let rows = Source::zip_n(sources);
        Source::from_fn(move |m, a| {
            let (up, ()) = rows.materialize_into(m, a);
            let out: BoxPull<O> = Box::new(Linear::new(up, ops::Map(f.clone()), "zip_with_n", a));
            (out, ())
        })
    }

    /// Merges `sources`; when several have elements ready, each gets a share of the demand in
    /// proportion to its priority (Akka's `Source.mergePrioritizedN`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::merge_prioritized_n(
    ///     vec![(Source::repeat('a'), 1), (Source::repeat('b'), 3)],
    ///     false,
    /// )
    /// .take(40)
    /// .run_with(Sink::seq())
    /// .await
    /// .unwrap();
    /// assert_eq!(out.iter().filter(|&&c| c == 'b').count(), 30);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits when any source has an element; back-pressures when downstream does. Akka picks
    /// the next source at random, weighted by priority; weir shares deterministically.
    ///
    /// # Completion
    /// Completes when all sources completed, or as soon as any does with `eager_complete`;
    /// fails as soon as any fails. With no sources it completes at once.
    ///
    /// # Errors
    /// A priority of 0 fails the stream with
    /// [`StreamError::InvalidArgument`](crate::StreamError::InvalidArgument) when it runs, as
    /// Akka requires positive priorities.
    pub fn merge_prioritized_n<M: 'static>(
        sources: Vec<(Source<T, M>, usize)>,
        eager_complete: bool,
    ) -> Source<T, NotUsed> {
        Source::from_fn(move |m, a| {
            let ins: Vec<BoxPull<T>> = sources
                .iter()
                .map(|(s, _)| s.materialize_into(m, a).0)
                .collect();
            let priorities: Vec<usize> = sources.iter().map(|(_, p)| *p).collect();
            let out: BoxPull<T> = if priorities.contains(&0) {
                crate::dsl::invalid("merge_prioritized_n", "priorities must be at least 1")
            } else if ins.is_empty() {
                Box::new(Completed)
            } else {
                Box::new(ops::Merge::weighted(ins, priorities, eager_complete))
            };
            (out, ())
        })
    }
}

impl<T: Send + 'static, M: 'static> Source<T, M> {
    /// Combines `sources` with the fan-in junction `strategy` builds for their number (Akka's
    /// `Source.combine`): [`Merge`](crate::junctions::Merge),
    /// [`Concat`](crate::junctions::Concat), [`Interleave`](crate::junctions::Interleave),
    /// [`MergeLatest`](crate::junctions::MergeLatest), [`ZipN`](crate::junctions::ZipN), or any
    /// other junction with `n` inputs. The materialized value holds the sources' values, in
    /// order.
    ///
    /// ```
    /// use weir::junctions::Concat;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let both = Source::combine(vec![Source::range(1, 2), Source::range(8, 9)], Concat::new).unwrap();
    /// assert_eq!(both.run_with(Sink::seq()).await.unwrap(), vec![1, 2, 8, 9]);
    /// # }
    /// ```
    ///
    /// # Back pressure, completion, cancellation
    /// Those of the junction.
    ///
    /// # Errors
    /// The junction's [`GraphError`] when it rejects its arguments (an `Interleave` with
    /// segment size 0).
    pub fn combine<U, J, F>(
        sources: Vec<Source<T, M>>,
        strategy: F,
    ) -> Result<Source<U, Vec<M>>, GraphError>
    where
        U: Send + 'static,
        J: Junction<Shape = UniformFanInShape<T, U>>,
        F: FnOnce(usize) -> J,
    {
        let mut b = GraphBuilder::new();
        let junction = b.add(strategy(sources.len()));
        let mut keys = Vec::with_capacity(sources.len());
        for (source, inlet) in sources.into_iter().zip(junction.ins) {
            let (out, key) = b.add_source_mat(source);
            b.connect(out, inlet);
            keys.push(key);
        }
        b.build_source(junction.out, move |mats| {
            keys.iter().map(|&k| mats.take(k)).collect()
        })
    }
}

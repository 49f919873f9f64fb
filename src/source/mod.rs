//! `Source`: a blueprint with one output.

mod fan_in;
mod iter;
mod lazy;
mod maybe;
mod queue;
mod resource;
mod resource_async;
mod stream;
mod tick;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub use maybe::MaybeHandle;
pub use queue::{QueueClosedError, QueueOfferResult, SourceQueue};
pub use stream::SourceStream;
pub use tick::Cancellable;

use crate::boundary;
use crate::stage::{BoxPull, Pull, Step};
use crate::supervision::Directive;
use crate::{
    Attributes, Completion, Flow, Keep, Materializer, NotUsed, RunnableGraph, Sink, StreamError,
};

type SourceFn<Out, Mat> =
    dyn Fn(&mut Materializer, &Attributes) -> (BoxPull<Out>, Mat) + Send + Sync;

/// A blueprint of a stream with one output of `Out` that materializes a `Mat` (Akka's `Source`).
///
/// Immutable and reusable: every materialization creates fresh stages with fresh state.
/// Operators come from [`StreamOps`](crate::StreamOps) (`use weir::prelude::*`).
#[must_use = "streams do nothing unless run"]
pub struct Source<Out, Mat = NotUsed> {
    make: Arc<SourceFn<Out, Mat>>,
}

impl<Out, Mat> Clone for Source<Out, Mat> {
    fn clone(&self) -> Self {
        Source {
            make: self.make.clone(),
        }
    }
}

impl<Out, Mat> fmt::Debug for Source<Out, Mat> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl<Out: Send + 'static, Mat: 'static> Source<Out, Mat> {
    /// A source from its materialization function: the raw tier that library sources use.
    ///
    /// `make` is called once per materialization and returns the first stage of the island
    /// and the materialized value.
    pub fn from_fn<F>(make: F) -> Self
    where
        F: Fn(&mut Materializer, &Attributes) -> (BoxPull<Out>, Mat) + Send + Sync + 'static,
    {
        Source {
            make: Arc::new(make),
        }
    }

    /// Materializes this source into `m` (raw tier): its first stage and materialized value.
    pub fn materialize_into(
        &self,
        m: &mut Materializer,
        attrs: &Attributes,
    ) -> (BoxPull<Out>, Mat) {
        (self.make)(m, attrs)
    }

    /// Connects this source to `flow`, keeping this source's materialized value.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let double = Flow::<i32>::new().map(|x| x * 2);
    /// let out = Source::range(1, 3).via(double).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![2, 4, 6]);
    /// # }
    /// ```
    pub fn via<T: Send + 'static, M2: 'static>(self, flow: Flow<Out, T, M2>) -> Source<T, Mat> {
        self.via_mat(flow, Keep::left)
    }

    /// Connects this source to `flow`, combining both materialized values with `combine`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Keep both: the source's `maybe` handle and the flow's termination watch.
    /// let ((handle, done), out) = Source::maybe()
    ///     .via_mat(Flow::<i32>::new().watch_termination(), Keep::both)
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// handle.complete(Some(1)).unwrap();
    /// assert_eq!(out.await.unwrap(), vec![1]);
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    pub fn via_mat<T, M2, M3, F>(self, flow: Flow<Out, T, M2>, combine: F) -> Source<T, M3>
    where
        T: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        let make = self.make;
        Source::from_fn(move |m, a| {
            let (up, m1) = make(m, a);
            let (out, m2) = flow.materialize_into(m, up, a);
            (out, combine(m1, m2))
        })
    }

    /// Connects this source to `sink`, keeping this source's materialized value.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = futures::channel::mpsc::channel(4);
    /// // The graph materializes the source's value: the `maybe` handle.
    /// let handle = Source::maybe().to(Sink::from_sink(tx)).run();
    /// handle.complete(Some("hello")).unwrap();
    /// assert_eq!(rx.collect::<Vec<_>>().await, vec!["hello"]);
    /// # }
    /// ```
    pub fn to<M2: 'static>(self, sink: Sink<Out, M2>) -> RunnableGraph<Mat> {
        self.to_mat(sink, Keep::left)
    }

    /// Connects this source to `sink`, combining both materialized values with `combine`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let total = Source::range(1, 4).to_mat(Sink::fold(0, |a, x| a + x), Keep::right).run();
    /// assert_eq!(total.await.unwrap(), 10);
    /// # }
    /// ```
    pub fn to_mat<M2, M3, F>(self, sink: Sink<Out, M2>, combine: F) -> RunnableGraph<M3>
    where
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        let make = self.make;
        RunnableGraph::from_fn(move |m, a| {
            let (up, m1) = make(m, a);
            let m2 = sink.materialize_into(m, up, a);
            combine(m1, m2)
        })
    }

    /// Transforms the materialized value, once per materialization.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Replace the `maybe` handle with a function that completes it with a doubled value.
    /// let (complete, out) = Source::maybe()
    ///     .map_materialized_value(|handle| move |x: i32| handle.complete(Some(x * 2)))
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// complete(21).unwrap();
    /// assert_eq!(out.await.unwrap(), vec![42]);
    /// # }
    /// ```
    pub fn map_materialized_value<M2, F>(self, f: F) -> Source<Out, M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        let make = self.make;
        Source::from_fn(move |m, a| {
            let (p, mat) = make(m, a);
            (p, f(mat))
        })
    }

    /// Runs this source into `sink` and returns the sink's materialized value.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let source = Source::range(1, 4);
    /// // The source is borrowed: each run is a new stream.
    /// assert_eq!(source.run_with(Sink::fold(0, |a, x| a + x)).await.unwrap(), 10);
    /// assert_eq!(source.run_with(Sink::last()).await.unwrap(), 4);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn run_with<M2: 'static>(&self, sink: Sink<Out, M2>) -> M2 {
        self.clone().to_mat(sink, Keep::right).run()
    }

    /// Runs this source, calling `f` on each element; resolves when the stream terminates.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// Source::range(1, 3).run_foreach(move |x| s.lock().unwrap().push(x)).await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As [`Sink::foreach`].
    pub fn run_foreach<F>(&self, f: F) -> Completion<()>
    where
        F: FnMut(Out) + Clone + Send + Sync + 'static,
    {
        self.run_with(Sink::foreach(f))
    }

    /// Runs this source, folding its elements; resolves with the result.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let letters = Source::from_iter(vec!["a", "bc", "def"]).run_fold(0, |n, s| n + s.len());
    /// assert_eq!(letters.await.unwrap(), 6);
    /// # }
    /// ```
    pub fn run_fold<Acc, F>(&self, zero: Acc, f: F) -> Completion<Acc>
    where
        Acc: Clone + Send + Sync + 'static,
        F: FnMut(Acc, Out) -> Acc + Clone + Send + Sync + 'static,
    {
        self.run_with(Sink::fold(zero, f))
    }

    /// Attaches attributes to every operator of this source that has no closer ones.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{Attributes, Decider};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![1, 0, 2])
    ///     .map(|x| 10 / x) // panics on 0
    ///     .with_attributes(Attributes::supervision(Decider::resuming()))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![10, 5]);
    /// # }
    /// ```
    pub fn with_attributes(self, attrs: Attributes) -> Self {
        let make = self.make;
        Source::from_fn(move |m, a| make(m, &a.and(&attrs)))
    }

    /// Names this source (Akka's `named`). Naming changes no element.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let doubles = Source::range(1, 3).map(|x| x * 2).named("doubles");
    /// assert_eq!(doubles.run_with(Sink::seq()).await.unwrap(), vec![2, 4, 6]);
    /// # }
    /// ```
    pub fn named(self, name: &'static str) -> Self {
        self.with_attributes(Attributes::name(name))
    }

    /// Runs everything upstream of this point as a separate island (task), joined to what follows
    /// by a bounded buffer of `input_buffer` elements (default 16) with batched demand
    /// (Akka's `.async`).
    ///
    /// # Back pressure
    /// The upstream island requests the whole buffer at first, then tops it up each time the
    /// downstream has consumed half of it.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let out = Source::range(1, 100)
    ///     .map(|x| x * 2)
    ///     .async_boundary()
    ///     .filter(|x| x % 3 == 0)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out.len(), 33);
    /// # }
    /// ```
    pub fn async_boundary(self) -> Self {
        let make = self.make;
        Source::from_fn(move |m, a| {
            let (up, mat) = make(m, a);
            let rx = boundary::boundary(m, up, a.input_buffer_size());
            (Box::new(rx) as BoxPull<Out>, mat)
        })
    }

    /// Starts this source now and returns its materialized value together with a source that
    /// emits its elements (Akka's `preMaterialize`). Use it when the materialized value (a queue,
    /// a `maybe` handle, a consumer control) must be available before the rest of the graph is
    /// wired.
    ///
    /// The returned source can be materialized once; a second materialization fails with
    /// [`StreamError::AlreadyMaterialized`]. Dropping it unmaterialized cancels the running source.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let (handle, source) = Source::<i32, _>::maybe().pre_materialize();
    /// handle.complete(Some(7));
    /// assert_eq!(source.run_with(Sink::seq()).await.unwrap(), vec![7]);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn pre_materialize(self) -> (Mat, Source<Out, NotUsed>) {
        let mut m = Materializer::new();
        let attrs = Attributes::none();
        let (up, mat) = (self.make)(&mut m, &attrs);
        let rx = boundary::boundary(&mut m, up, attrs.input_buffer_size());
        m.launch();
        let slot = Arc::new(Mutex::new(Some(rx)));
        let source = Source::from_fn(move |_, _| {
            let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            match taken {
                Some(rx) => (Box::new(rx) as BoxPull<Out>, ()),
                None => (
                    Box::new(FailedPull(Some(StreamError::AlreadyMaterialized {
                        stage: "pre_materialize",
                    }))) as BoxPull<Out>,
                    (),
                ),
            }
        });
        (mat, source)
    }

    /// Materializes this source and returns it as a `futures::Stream` of results, driven by
    /// whoever polls it (no task is spawned for the chain itself).
    ///
    /// The stream reads ahead up to 16 elements (the default `input_buffer`; see
    /// [`run_as_stream_with`](Source::run_as_stream_with) to choose). After an `Err` item the
    /// stream ends.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let items: Vec<_> = Source::range(1, 3).into_stream().collect().await;
    /// assert_eq!(items.into_iter().map(Result::unwrap).collect::<Vec<_>>(), vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn into_stream(self) -> SourceStream<Out> {
        self.run_as_stream()
    }

    /// Like [`into_stream`](Source::into_stream), without consuming the blueprint.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let source = Source::range(1, 3).concat(Source::failed(StreamError::AbruptTermination));
    /// // The blueprint stays usable: each call is a new stream.
    /// for _ in 0..2 {
    ///     let items: Vec<_> = source.run_as_stream().collect().await;
    ///     assert_eq!(items.len(), 4);
    ///     assert_eq!(items[2].as_ref().unwrap(), &3);
    ///     assert!(matches!(items[3], Err(StreamError::AbruptTermination)));
    /// }
    /// # }
    /// ```
    pub fn run_as_stream(&self) -> SourceStream<Out> {
        self.run_as_stream_with(Attributes::none())
    }

    /// Like [`run_as_stream`](Source::run_as_stream), materialized with `attrs`: an
    /// `input_buffer` among them sets how far the stream reads ahead, and they reach every
    /// operator that has no closer ones.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir::prelude::*;
    /// use weir::Attributes;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let stream = Source::range(1, 100).run_as_stream_with(Attributes::input_buffer(4));
    /// let first: Vec<_> = stream.take(2).map(Result::unwrap).collect().await;
    /// assert_eq!(first, vec![1, 2]);
    /// # }
    /// ```
    pub fn run_as_stream_with(&self, attrs: Attributes) -> SourceStream<Out> {
        let mut m = Materializer::new();
        let (up, _mat) = (self.make)(&mut m, &attrs);
        m.launch();
        SourceStream::new(up, attrs.input_buffer_size())
    }
}

/// A stage that fails on first pull.
pub(crate) struct FailedPull(pub(crate) Option<StreamError>);

impl<T> Pull<T> for FailedPull {
    /// As Akka's `Source.failed`, the failure needs no demand.
    fn poll_failed(&mut self, _cx: &mut Context<'_>) -> Poll<StreamError> {
        match &self.0 {
            Some(e) => Poll::Ready(e.clone()),
            None => Poll::Pending,
        }
    }

    fn pull(&mut self, _cx: &mut Context<'_>, _out: &mut Vec<T>, _max: usize) -> Poll<Step> {
        Poll::Ready(Step::Failed(
            self.0.take().unwrap_or(StreamError::AbruptTermination),
        ))
    }
}

/// A stage that never emits and never completes.
struct NeverPull;

impl<T> Pull<T> for NeverPull {
    fn pull(&mut self, _cx: &mut Context<'_>, _out: &mut Vec<T>, _max: usize) -> Poll<Step> {
        Poll::Pending
    }
}

impl<Out: Send + 'static> Source<Out, NotUsed> {
    /// Emits the elements of `iter`, then completes. Each materialization iterates a fresh clone.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec!["a", "b"]).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec!["a", "b"]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits only on demand; spends tokio's cooperative budget so a long iterator cannot starve
    /// other tasks.
    ///
    /// # Supervision
    /// A panic in the iterator: Stop (the default) fails the stream with
    /// [`StreamError::Panicked`] after the elements already produced; Resume goes on with the
    /// same iterator; Restart starts again from a fresh clone of `iter` (Akka's `fromIterator`
    /// re-creating its iterator).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{Attributes, Decider};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter((1..=3).inspect(|x| assert!(*x != 2, "two")))
    ///     .take(4)
    ///     .with_attributes(Attributes::supervision(Decider::restarting()))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 1, 1, 1]); // 2 panics: each restart begins at 1 again
    /// # }
    /// ```
    #[allow(clippy::should_implement_trait)] // Akka's name; it takes a reusable iterable
    pub fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = Out> + Clone + Send + Sync + 'static,
        I::IntoIter: Send + 'static,
    {
        Source::from_fn(move |_, a| {
            let pull: BoxPull<Out> = if a.has_decider() {
                let fresh = iter.clone();
                Box::new(iter::SupervisedIterPull::new(
                    iter.clone().into_iter(),
                    move || fresh.clone().into_iter(),
                    crate::stage::Supervisor::new("from_iter", a),
                ))
            } else {
                Box::new(iter::IterPull::new(iter.clone().into_iter()))
            };
            (pull, ())
        })
    }

    /// Emits `value` once, then completes.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::single(5).run_with(Sink::seq()).await.unwrap(), vec![5]);
    /// # }
    /// ```
    pub fn single(value: Out) -> Self
    where
        Out: Clone + Sync,
    {
        Source::from_iter(std::iter::once(value))
    }

    /// Completes at once without emitting.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert!(Source::<i32>::empty().run_with(Sink::seq()).await.unwrap().is_empty());
    /// # }
    /// ```
    pub fn empty() -> Self {
        Source::from_fn(|_, _| {
            (
                Box::new(iter::IterPull::new(std::iter::empty())) as BoxPull<Out>,
                (),
            )
        })
    }

    /// Fails at once with `error`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = Source::<i32>::failed(StreamError::LimitExceeded { max: 1 })
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, StreamError::LimitExceeded { max: 1 }));
    /// # }
    /// ```
    pub fn failed(error: StreamError) -> Self {
        Source::from_fn(move |_, _| {
            (
                Box::new(FailedPull(Some(error.clone()))) as BoxPull<Out>,
                (),
            )
        })
    }

    /// Never emits and never completes (until cancelled).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// tokio::time::pause();
    /// // Nothing arrives, and the stream does not end on its own...
    /// let waiting = tokio::time::timeout(
    ///     Duration::from_secs(60),
    ///     Source::<i32>::never().run_with(Sink::seq()),
    /// );
    /// assert!(waiting.await.is_err());
    /// // ...until something downstream ends it.
    /// let out = Source::<i32>::never()
    ///     .take_within(Duration::from_secs(1))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert!(out.is_empty());
    /// # }
    /// ```
    pub fn never() -> Self {
        Source::from_fn(|_, _| (Box::new(NeverPull) as BoxPull<Out>, ()))
    }

    /// Emits `value` forever.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::repeat(7).take(3).run_with(Sink::seq()).await.unwrap(), vec![7, 7, 7]);
    /// # }
    /// ```
    pub fn repeat(value: Out) -> Self
    where
        Out: Clone + Sync,
    {
        Source::from_iter(std::iter::repeat(value))
    }

    /// Emits the elements of `iter` over and over (Akka's `cycle`).
    ///
    /// # Errors
    /// An empty `iter` fails the stream with [`StreamError::InvalidArgument`], as Akka's `cycle`
    /// fails with an `IllegalArgumentException`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::cycle(vec![1, 2]).take(5).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 1, 2, 1]);
    /// # }
    /// ```
    pub fn cycle<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = Out> + Clone + Send + Sync + 'static,
        I::IntoIter: Clone + Send + 'static,
    {
        Source::from_fn(move |_, a| {
            let items = iter.clone().into_iter().cycle();
            let cycle = iter::IterPull::named(items, a.name_or("cycle"));
            let pull = NonEmpty {
                inner: cycle,
                seen: false,
            };
            (Box::new(pull) as BoxPull<Out>, ())
        })
    }

    /// Emits `seed`, `f(seed)`, `f(f(seed))`, … forever (Akka's `iterate`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::iterate(1, |x| x * 2).take(4).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2, 4, 8]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// Not supervised: a panic in `f` fails the stream with [`StreamError::Panicked`] after the
    /// elements already emitted, whatever the decider.
    pub fn iterate<F>(seed: Out, f: F) -> Self
    where
        Out: Clone + Sync,
        F: FnMut(&Out) -> Out + Clone + Send + Sync + 'static,
    {
        Source::from_fn(move |_, a| {
            let it = iter::Iterate::new(seed.clone(), f.clone());
            let pull = iter::IterPull::named(it, a.name_or("iterate"));
            (Box::new(pull) as BoxPull<Out>, ())
        })
    }

    /// Emits the elements produced by repeatedly applying `f` to a state, until it returns `None`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Fibonacci numbers below 20.
    /// let fib = Source::unfold((0u32, 1u32), |(a, b)| (a < 20).then(|| ((b, a + b), a)));
    /// assert_eq!(fib.run_with(Sink::seq()).await.unwrap(), vec![0, 1, 1, 2, 3, 5, 8, 13]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// Not supervised: a panic in `f` fails the stream with [`StreamError::Panicked`] after the
    /// elements already emitted, whatever the decider.
    pub fn unfold<S, F>(state: S, f: F) -> Self
    where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S) -> Option<(S, Out)> + Clone + Send + Sync + 'static,
    {
        Source::from_fn(move |_, a| {
            let mut f = f.clone();
            let mut state = Some(state.clone());
            let it = std::iter::from_fn(move || {
                let (next, out) = f(state.take()?)?;
                state = Some(next);
                Some(out)
            });
            let pull = iter::IterPull::named(it, a.name_or("unfold"));
            (Box::new(pull) as BoxPull<Out>, ())
        })
    }

    /// Like [`unfold`](Source::unfold) with an asynchronous step.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = Source::unfold_async(3, |n| async move { (n > 0).then(|| (n - 1, n)) });
    /// assert_eq!(s.run_with(Sink::seq()).await.unwrap(), vec![3, 2, 1]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// Not supervised: a panic in `f` or in its future fails the stream with
    /// [`StreamError::Panicked`] after the elements already emitted, whatever the decider.
    pub fn unfold_async<S, F, Fut>(state: S, f: F) -> Self
    where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Option<(S, Out)>> + Send + 'static,
    {
        Source::from_fn(move |_, a| {
            let mut f = f.clone();
            // `futures::stream::unfold` wants (element, state); Akka's order is (state, element).
            let unfold = futures::stream::unfold(state.clone(), move |s| {
                let step = f(s);
                async move { step.await.map(|(s, x)| (x, s)) }
            });
            let pull = stream::StreamPull::new(unfold, a.name_or("unfold_async"));
            (Box::new(pull) as BoxPull<Out>, ())
        })
    }

    /// Reads from a resource: `create` opens it at the first pull, `read` yields elements until
    /// `None`, and `close` runs exactly once on every kind of termination — completion, failure
    /// of `read`, or cancellation (Akka's `unfoldResource`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let c = closed.clone();
    /// let lines = Source::unfold_resource(
    ///     || vec!["a", "b"].into_iter(),
    ///     |it| it.next(),
    ///     move |_it| {
    ///         c.fetch_add(1, Ordering::SeqCst);
    ///     },
    /// );
    /// assert_eq!(lines.run_with(Sink::seq()).await.unwrap(), vec!["a", "b"]);
    /// assert_eq!(closed.load(Ordering::SeqCst), 1);
    /// // Cancelled after one element: the resource is closed too.
    /// assert_eq!(lines.take(1).run_with(Sink::seq()).await.unwrap(), vec!["a"]);
    /// assert_eq!(closed.load(Ordering::SeqCst), 2);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `read`: Stop closes the resource and fails; Resume skips that read; Restart
    /// closes the resource and creates a new one.
    pub fn unfold_resource<R, C, Rd, Cl>(create: C, read: Rd, close: Cl) -> Self
    where
        R: Send + 'static,
        C: FnMut() -> R + Clone + Send + Sync + 'static,
        Rd: FnMut(&mut R) -> Option<Out> + Clone + Send + Sync + 'static,
        Cl: FnMut(R) + Clone + Send + Sync + 'static,
    {
        Source::from_fn(move |_, a| {
            (
                Box::new(resource::UnfoldResource::new(
                    create.clone(),
                    read.clone(),
                    close.clone(),
                    a,
                )) as BoxPull<Out>,
                (),
            )
        })
    }

    /// Emits the output of `future` once it resolves, then completes (Akka's `Source.future`).
    /// The future runs once and is shared by every materialization.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = Source::future(async { 42 });
    /// assert_eq!(s.run_with(Sink::seq()).await.unwrap(), vec![42]);
    /// # }
    /// ```
    pub fn future<Fut>(future: Fut) -> Self
    where
        Fut: Future<Output = Out> + Send + 'static,
        Out: Clone + Sync,
    {
        use futures::FutureExt;
        let shared = future.boxed().shared();
        Source::from_stream_fn(move || futures::stream::once(shared.clone()))
    }

    /// Calls `f` when first pulled and emits its result (Akka's `lazySingle`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = Source::lazy_single(|| "computed on demand");
    /// assert_eq!(s.run_with(Sink::seq()).await.unwrap(), vec!["computed on demand"]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// Not supervised: a panic in `f` fails the stream with [`StreamError::Panicked`], whatever
    /// the decider.
    pub fn lazy_single<F>(f: F) -> Self
    where
        F: FnMut() -> Out + Clone + Send + Sync + 'static,
    {
        Source::from_fn(move |_, a| {
            let it = std::iter::once_with(f.clone());
            let pull = iter::IterPull::named(it, a.name_or("lazy_single"));
            (Box::new(pull) as BoxPull<Out>, ())
        })
    }

    /// Emits the items of `stream` (any `futures::Stream`).
    ///
    /// A stream can be consumed once, so the returned source is one-shot: a second
    /// materialization fails with [`StreamError::AlreadyMaterialized`]. Use
    /// [`from_stream_fn`](Source::from_stream_fn) for a reusable source.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = Source::from_stream(futures::stream::iter(vec![1, 2]));
    /// assert_eq!(s.run_with(Sink::seq()).await.unwrap(), vec![1, 2]);
    /// # }
    /// ```
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: futures::Stream<Item = Out> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Some(stream)));
        Source::from_fn(move |_, a| {
            let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            match taken {
                Some(s) => {
                    let pull = stream::StreamPull::new(s, a.name_or("from_stream"));
                    (Box::new(pull) as BoxPull<Out>, ())
                }
                None => (
                    Box::new(FailedPull(Some(StreamError::AlreadyMaterialized {
                        stage: "from_stream",
                    }))) as BoxPull<Out>,
                    (),
                ),
            }
        })
    }

    /// Emits the items of a stream created by `make` for each materialization.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = Source::from_stream_fn(|| futures::stream::iter(1..=2));
    /// assert_eq!(s.run_with(Sink::seq()).await.unwrap(), vec![1, 2]);
    /// assert_eq!(s.run_with(Sink::seq()).await.unwrap(), vec![1, 2]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `make` or in the stream: Stop (the default) fails the stream with
    /// [`StreamError::Panicked`]. Restart calls `make` again for a fresh stream (a second panic
    /// of `make` in a row fails the stream), as Akka's `fromIterator` re-creates its iterator.
    /// Resume does the same after a panic in the stream, because a stream that panicked is not
    /// safe to poll again (an `async` stream panics again), and completes the source after a
    /// panic in `make`, as Akka's Resume does when the iterator cannot be created.
    pub fn from_stream_fn<S, F>(make: F) -> Self
    where
        S: futures::Stream<Item = Out> + Send + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        Source::from_fn(move |_, a| {
            // A panicking factory fails this run, like any other user code.
            let name = a.name_or("from_stream_fn");
            let created = crate::stage::guarded(&name, &*make);
            if !a.has_decider() {
                let pull: BoxPull<Out> = match created {
                    Ok(stream) => Box::new(stream::StreamPull::new(stream, name)),
                    Err(e) => Box::new(FailedPull(Some(e))),
                };
                return (pull, ());
            }
            let sup = crate::stage::Supervisor::new("from_stream_fn", a);
            let created = match created {
                Ok(stream) => Ok(stream),
                Err(e) => match sup.decide(&e) {
                    Directive::Stop => Err(e),
                    Directive::Resume => {
                        return (Box::new(iter::IterPull::new(std::iter::empty())), ());
                    }
                    Directive::Restart => crate::stage::guarded(&name, &*make),
                },
            };
            let pull: BoxPull<Out> = match created {
                Ok(stream) => {
                    Box::new(stream::SupervisedStreamPull::new(stream, make.clone(), sup))
                }
                Err(e) => Box::new(FailedPull(Some(e))),
            };
            (pull, ())
        })
    }

    /// Emits at most one element, supplied later through the materialized [`MaybeHandle`]
    /// (Akka's `Source.maybe`). `complete(None)`, or dropping the handle, completes the stream
    /// empty.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (handle, out) = Source::maybe().to_mat(Sink::seq(), Keep::both).run();
    /// handle.complete(Some("late"));
    /// assert_eq!(out.await.unwrap(), vec!["late"]);
    /// # }
    /// ```
    pub fn maybe() -> Source<Out, MaybeHandle<Out>> {
        Source::from_fn(|_, _| {
            let (handle, pull) = maybe::maybe();
            (Box::new(pull) as BoxPull<Out>, handle)
        })
    }

    /// Emits `elem` after `initial` and then every `interval` (Akka's `Source.tick`); its
    /// materialized value cancels it (the source then completes). A tick that comes while
    /// downstream does not pull is dropped, so a slow consumer sees fewer elements, never a
    /// burst.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let (ticks, seen) = Source::tick(Duration::ZERO, Duration::from_secs(1), "tick")
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// tokio::time::sleep(Duration::from_millis(2500)).await;
    /// ticks.cancel();
    /// assert_eq!(seen.await.unwrap(), vec!["tick"; 3]);
    /// # }
    /// ```
    pub fn tick(
        initial: std::time::Duration,
        interval: std::time::Duration,
        elem: Out,
    ) -> Source<Out, Cancellable>
    where
        Out: Clone + Sync,
    {
        Source::from_fn(move |_, _| {
            let (cancel, pull) = tick::tick(initial, interval, elem.clone());
            (Box::new(pull) as BoxPull<Out>, cancel)
        })
    }
}

impl<Out: Send + 'static> Source<Out, SourceQueue<Out>> {
    /// A source fed through the materialized [`SourceQueue`], which buffers at most `n`
    /// elements (Akka's `Source.queue(bufferSize)`, the `BoundedSourceQueue`).
    ///
    /// [`offer`](SourceQueue::offer) enqueues without waiting and reports
    /// [`Dropped`](QueueOfferResult::Dropped) when the buffer is full;
    /// [`send`](SourceQueue::send) waits for room. Each materialization has its own queue.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main] async fn main() {
    /// let (queue, out) = Source::queue(8)
    ///     .map(|x: u32| x * 10)
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// let producers: Vec<_> = (0..4)
    ///     .map(|i| {
    ///         let queue = queue.clone();
    ///         tokio::spawn(async move { queue.send(i).await.is_enqueued() })
    ///     })
    ///     .collect();
    /// for p in producers {
    ///     assert!(p.await.unwrap());
    /// }
    /// queue.complete().unwrap();
    /// let mut out = out.await.unwrap();
    /// out.sort();
    /// assert_eq!(out, vec![0, 10, 20, 30]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// The stream takes elements from the buffer as downstream demands them; the buffer never
    /// holds more than `n`. Producers see back pressure as `Dropped` from `offer` or as a wait
    /// in `send`.
    ///
    /// # Completion
    /// After [`complete`](SourceQueue::complete), or once every handle is dropped, the
    /// buffered elements are emitted and the stream completes. (Akka's queue keeps its stream
    /// running when the handle is forgotten; a Rust handle that is dropped can offer nothing
    /// more, so weir completes, as a channel does.)
    ///
    /// # Errors
    /// [`fail`](SourceQueue::fail) fails the stream at once, dropping the buffer. A queue of
    /// `n == 0` fails its stream with [`StreamError::InvalidArgument`], and its offers return
    /// that failure (Akka throws at construction).
    ///
    /// # Cancellation
    /// When downstream cancels, the buffer is dropped, later offers and waiting sends get
    /// [`Failure`](QueueOfferResult::Failure) with [`StreamError::Detached`], and
    /// [`watch_completion`](SourceQueue::watch_completion) resolves `Ok`.
    pub fn queue(n: usize) -> Self {
        Source::from_fn(move |_, _| {
            let (handle, pull) = queue::queue(n);
            (Box::new(pull) as BoxPull<Out>, handle)
        })
    }
}

impl<T> Source<T, NotUsed>
where
    T: Send + 'static,
    std::ops::RangeInclusive<T>: Iterator<Item = T> + Clone + Send + Sync + 'static,
{
    /// Emits `start..=end` (inclusive, like Akka's `Source(1 to 10)`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 4).run_with(Sink::seq()).await.unwrap(), vec![1, 2, 3, 4]);
    /// # }
    /// ```
    pub fn range(start: T, end: T) -> Self {
        Source::from_iter(start..=end)
    }
}

/// Fails with [`StreamError::InvalidArgument`] when `inner` completes without ever emitting: a
/// cycle of nothing. (`cycle` only ends when its iterator is empty.)
struct NonEmpty<P> {
    inner: P,
    seen: bool,
}

impl<T: Send + 'static, P: Pull<T>> Pull<T> for NonEmpty<P> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let before = out.len();
        let step = self.inner.pull(cx, out, max);
        self.seen |= out.len() > before;
        match step {
            Poll::Ready(Step::Complete) if !self.seen => {
                Poll::Ready(Step::Failed(StreamError::InvalidArgument {
                    stage: "cycle",
                    problem: "empty iterator",
                }))
            }
            step => step,
        }
    }
}

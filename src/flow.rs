//! `Flow`: a blueprint with one input and one output.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::boundary;
use crate::stage::{BoxPull, Pull};
use crate::{Attributes, Keep, Materializer, NotUsed, Sink};

type FlowFn<In, Out, Mat> =
    dyn Fn(&mut Materializer, BoxPull<In>, &Attributes) -> (BoxPull<Out>, Mat) + Send + Sync;

/// A blueprint of a processing step from `In` to `Out` that materializes a `Mat` (Akka's `Flow`).
///
/// Immutable and reusable. Operators come from [`StreamOps`](crate::StreamOps).
#[must_use = "streams do nothing unless run"]
pub struct Flow<In, Out = In, Mat = NotUsed> {
    make: Arc<FlowFn<In, Out, Mat>>,
    _in: PhantomData<fn(In)>,
}

impl<In, Out, Mat> Clone for Flow<In, Out, Mat> {
    fn clone(&self) -> Self {
        Flow {
            make: self.make.clone(),
            _in: PhantomData,
        }
    }
}

impl<In, Out, Mat> fmt::Debug for Flow<In, Out, Mat> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Flow<T, T, NotUsed> {
    /// The identity flow, to start a chain of operators on (Akka's `Flow[T]`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let f = Flow::<u32>::new().map(|x| x + 1);
    /// assert_eq!(Source::single(1).via(f).run_with(Sink::seq()).await.unwrap(), vec![2]);
    /// # }
    /// ```
    pub fn new() -> Self {
        Flow::from_fn(|_, up, _| (up, ()))
    }
}

impl<T: Send + 'static> Default for Flow<T, T, NotUsed> {
    fn default() -> Self {
        Flow::new()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Flow<In, Out, NotUsed> {
    /// A flow of one raw stage built by `make` per materialization.
    pub fn from_pull<P, F>(make: F) -> Self
    where
        P: Pull<Out>,
        F: Fn(BoxPull<In>, &Attributes) -> P + Send + Sync + 'static,
    {
        Flow::from_fn(move |_, up, a| (Box::new(make(up, a)) as BoxPull<Out>, ()))
    }
}

impl<In: Send + 'static, Out: Send + 'static, Mat: 'static> Flow<In, Out, Mat> {
    /// A flow from its materialization function: the raw tier that library operators use.
    pub fn from_fn<F>(make: F) -> Self
    where
        F: Fn(&mut Materializer, BoxPull<In>, &Attributes) -> (BoxPull<Out>, Mat)
            + Send
            + Sync
            + 'static,
    {
        Flow {
            make: Arc::new(make),
            _in: PhantomData,
        }
    }

    /// Materializes this flow after `up` (raw tier).
    pub fn materialize_into(
        &self,
        m: &mut Materializer,
        up: BoxPull<In>,
        attrs: &Attributes,
    ) -> (BoxPull<Out>, Mat) {
        (self.make)(m, up, attrs)
    }

    /// Connects this flow to `flow`, keeping this flow's materialized value.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parse = Flow::<&str>::new().map(|s| s.parse::<i32>().unwrap());
    /// let double = Flow::<i32>::new().map(|x| x * 2);
    /// let out = Source::from_iter(vec!["1", "2"])
    ///     .via(parse.via(double))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![2, 4]);
    /// # }
    /// ```
    pub fn via<T: Send + 'static, M2: 'static>(self, flow: Flow<Out, T, M2>) -> Flow<In, T, Mat> {
        self.via_mat(flow, Keep::left)
    }

    /// Connects this flow to `flow`, combining the materialized values with `combine`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Keep the second flow's value: its termination watch.
    /// let watched = Flow::<i32>::new()
    ///     .map(|x| x + 1)
    ///     .via_mat(Flow::new().watch_termination(), Keep::right);
    /// let (done, out) = Source::range(1, 3)
    ///     .via_mat(watched, Keep::right)
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// assert_eq!(out.await.unwrap(), vec![2, 3, 4]);
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    pub fn via_mat<T, M2, M3, F>(self, flow: Flow<Out, T, M2>, combine: F) -> Flow<In, T, M3>
    where
        T: Send + 'static,
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        let make = self.make;
        Flow::from_fn(move |m, up, a| {
            let (mid, m1) = make(m, up, a);
            let (out, m2) = flow.materialize_into(m, mid, a);
            (out, combine(m1, m2))
        })
    }

    /// Connects this flow to `sink`, giving a sink; keeps this flow's materialized value.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = futures::channel::mpsc::channel(4);
    /// // A sink that materializes the flow's termination watch.
    /// let doubled = Flow::<i32>::new()
    ///     .map(|x| x * 2)
    ///     .watch_termination()
    ///     .to(Sink::from_sink(tx));
    /// let done = Source::range(1, 3).run_with(doubled);
    /// assert_eq!(rx.collect::<Vec<_>>().await, vec![2, 4, 6]);
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    pub fn to<M2: 'static>(self, sink: Sink<Out, M2>) -> Sink<In, Mat> {
        self.to_mat(sink, Keep::left)
    }

    /// Connects this flow to `sink`, combining the materialized values with `combine`.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let count = Flow::<i32>::new().filter(|x| x % 2 == 0).to_mat(Sink::fold(0, |n, _| n + 1), Keep::right);
    /// assert_eq!(Source::range(1, 10).run_with(count).await.unwrap(), 5);
    /// # }
    /// ```
    pub fn to_mat<M2, M3, F>(self, sink: Sink<Out, M2>, combine: F) -> Sink<In, M3>
    where
        M2: 'static,
        M3: 'static,
        F: Fn(Mat, M2) -> M3 + Send + Sync + 'static,
    {
        let make = self.make;
        Sink::from_fn(move |m, up, a| {
            let (mid, m1) = make(m, up, a);
            let m2 = sink.materialize_into(m, mid, a);
            combine(m1, m2)
        })
    }

    /// Transforms the materialized value, once per materialization.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // The termination watch, as a future of a plain `bool`.
    /// let flow = Flow::<i32>::new()
    ///     .watch_termination()
    ///     .map_materialized_value(|done| async move { done.await.is_ok() });
    /// let (ok, out) = Source::range(1, 2)
    ///     .via_mat(flow, Keep::right)
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// assert_eq!(out.await.unwrap(), vec![1, 2]);
    /// assert!(ok.await);
    /// # }
    /// ```
    pub fn map_materialized_value<M2, F>(self, f: F) -> Flow<In, Out, M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        let make = self.make;
        Flow::from_fn(move |m, up, a| {
            let (p, mat) = make(m, up, a);
            (p, f(mat))
        })
    }

    /// Attaches attributes to every operator of this flow that has no closer ones.
    pub fn with_attributes(self, attrs: Attributes) -> Self {
        let make = self.make;
        Flow::from_fn(move |m, up, a| make(m, up, &a.and(&attrs)))
    }

    /// Names this flow (Akka's `named`).
    pub fn named(self, name: &'static str) -> Self {
        self.with_attributes(Attributes::name(name))
    }

    /// Runs this flow and everything upstream of it as a separate island, joined to what follows
    /// by a bounded buffer (Akka's `.async`); see [`Source::async_boundary`](crate::Source::async_boundary).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let doubling = Flow::<i32>::new().map(|x| x * 2).async_boundary();
    /// let out = Source::range(1, 100)
    ///     .via(doubling)
    ///     .map(|x| x + 1)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, (1..=100).map(|x| x * 2 + 1).collect::<Vec<_>>());
    /// # }
    /// ```
    pub fn async_boundary(self) -> Self {
        let make = self.make;
        Flow::from_fn(move |m, up, a| {
            let (out, mat) = make(m, up, a);
            let rx = boundary::boundary(m, out, a.input_buffer_size());
            (Box::new(rx) as BoxPull<Out>, mat)
        })
    }
}

impl<In: Send + 'static, Out: Send + 'static> Flow<In, Out, NotUsed> {
    /// A flow whose input goes to `sink` and whose output comes from `source`, the two not
    /// connected to each other (Akka's `Flow.fromSinkAndSource`): the termination of one does
    /// not end the other.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let flow = Flow::from_sink_and_source(Sink::ignore(), Source::from_iter(vec!['x', 'y']));
    /// let out = Source::range(1, 100).via(flow).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec!['x', 'y']);
    /// # }
    /// ```
    pub fn from_sink_and_source<M1: 'static, M2: 'static>(
        sink: Sink<In, M1>,
        source: crate::Source<Out, M2>,
    ) -> Self {
        Flow::from_sink_and_source_mat(sink, source, Keep::none)
    }
}

impl<In: Send + 'static, Out: Send + 'static, Mat: 'static> Flow<In, Out, Mat> {
    /// Like [`from_sink_and_source`](Flow::from_sink_and_source), combining the sink's and the
    /// source's materialized values with `combine` (Akka's `fromSinkAndSourceMat`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let flow = Flow::from_sink_and_source_mat(Sink::seq(), Source::<u8>::empty(), Keep::left);
    /// let seen = Source::range(1, 3).via_mat(flow, Keep::right).to(Sink::ignore()).run();
    /// assert_eq!(seen.await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn from_sink_and_source_mat<M1, M2, F>(
        sink: Sink<In, M1>,
        source: crate::Source<Out, M2>,
        combine: F,
    ) -> Self
    where
        M1: 'static,
        M2: 'static,
        F: Fn(M1, M2) -> Mat + Send + Sync + 'static,
    {
        Flow::from_fn(move |m, up, a| {
            let m1 = sink.materialize_into(m, up, a);
            let (out, m2) = source.materialize_into(m, a);
            (out, combine(m1, m2))
        })
    }
}

impl<In: Send + 'static, Out: Send + 'static, M: Send + 'static>
    Flow<In, Out, crate::Completion<M>>
{
    /// Makes the flow `factory` returns when the first element arrives, and runs the stream
    /// through it from that element on (Akka's `Flow.lazyFlow`); materializes a
    /// [`Completion`](crate::Completion) of that flow's materialized value.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lazy = Flow::lazy_flow(|| Flow::<i32>::new().map(|x| x * 2));
    /// let (mat, out) = Source::range(1, 3).via_mat(lazy, Keep::right).to_mat(Sink::seq(), Keep::both).run();
    /// assert_eq!(out.await.unwrap(), vec![2, 4, 6]);
    /// assert!(mat.await.is_ok());
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One element is asked for when downstream first asks; then the inner flow sets the pace.
    ///
    /// # Completion
    /// Completes and fails as the inner flow does. If upstream completes or fails before its
    /// first element, this stage does the same and the materialized value fails with
    /// [`StreamError::NeverMaterialized`](crate::StreamError::NeverMaterialized), as does a
    /// cancellation before it. A panic in `factory` fails the stream and the value;
    /// `factory` is not supervised, as in Akka.
    pub fn lazy_flow<F>(factory: F) -> Self
    where
        F: FnMut() -> Flow<In, Out, M> + Clone + Send + Sync + 'static,
    {
        Flow::from_fn(move |_, up, a| {
            let (stage, done) = crate::ops::LazyFlow::new(up, factory.clone(), a);
            (Box::new(stage) as BoxPull<Out>, done)
        })
    }
}

//! `Sink`: a blueprint with one input.

mod consumers;
mod exists;
mod forall;
mod from_sink;
mod lazy;
mod queue;
mod root;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

pub use queue::SinkQueue;
pub(crate) use root::{Consume, Root};

use crate::materializer::completion;
use crate::stage::BoxPull;
use crate::{Attributes, Completion, Flow, Keep, Materializer, NotUsed, StreamError, StreamOps};

type SinkFn<In, Mat> = dyn Fn(&mut Materializer, BoxPull<In>, &Attributes) -> Mat + Send + Sync;

/// A blueprint of a consumer of `In` that materializes a `Mat` (Akka's `Sink`). Most sinks
/// materialize a [`Completion`] of their result.
///
/// Immutable and reusable.
#[must_use = "streams do nothing unless run"]
pub struct Sink<In, Mat = NotUsed> {
    make: Arc<SinkFn<In, Mat>>,
    _in: PhantomData<fn(In)>,
}

impl<In, Mat> Clone for Sink<In, Mat> {
    fn clone(&self) -> Self {
        Sink {
            make: self.make.clone(),
            _in: PhantomData,
        }
    }
}

impl<In, Mat> fmt::Debug for Sink<In, Mat> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink").finish_non_exhaustive()
    }
}

impl<In: Send + 'static, Mat: 'static> Sink<In, Mat> {
    /// A sink from its materialization function (raw tier): it receives the last stage of the
    /// island and must register a root for it with [`Materializer::spawn_island`] (or drop it to
    /// cancel).
    pub fn from_fn<F>(make: F) -> Self
    where
        F: Fn(&mut Materializer, BoxPull<In>, &Attributes) -> Mat + Send + Sync + 'static,
    {
        Sink {
            make: Arc::new(make),
            _in: PhantomData,
        }
    }

    /// Materializes this sink after `up` (raw tier).
    pub fn materialize_into(
        &self,
        m: &mut Materializer,
        up: BoxPull<In>,
        attrs: &Attributes,
    ) -> Mat {
        (self.make)(m, up, attrs)
    }

    /// Transforms the materialized value, once per materialization.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let count = Sink::seq().map_materialized_value(|all| async move {
    ///     all.await.map(|v: Vec<i32>| v.len())
    /// });
    /// assert_eq!(Source::range(1, 5).run_with(count).await.unwrap(), 5);
    /// # }
    /// ```
    pub fn map_materialized_value<M2, F>(self, f: F) -> Sink<In, M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        let make = self.make;
        Sink::from_fn(move |m, up, a| f(make(m, up, a)))
    }

    /// Attaches attributes to every operator of this sink that has no closer ones.
    pub fn with_attributes(self, attrs: Attributes) -> Self {
        let make = self.make;
        Sink::from_fn(move |m, up, a| make(m, up, &a.and(&attrs)))
    }

    /// Names this sink.
    pub fn named(self, name: &'static str) -> Self {
        self.with_attributes(Attributes::name(name))
    }

    /// Runs this sink on its own island, behind a bounded buffer (Akka's `.async`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sum_of_doubles = Flow::<i32>::new()
    ///     .map(|x| x * 2)
    ///     .to_mat(Sink::fold(0, |a, x| a + x), Keep::right)
    ///     .async_boundary();
    /// assert_eq!(Source::range(1, 4).run_with(sum_of_doubles).await.unwrap(), 20);
    /// # }
    /// ```
    pub fn async_boundary(self) -> Self {
        let make = self.make;
        Sink::from_fn(move |m, up, a| {
            let rx = crate::boundary::boundary(m, up, a.input_buffer_size());
            make(m, Box::new(rx), a)
        })
    }

    /// Starts this sink now and returns its materialized value with a sink that feeds it
    /// (Akka's `Sink.preMaterialize`). The returned sink can be materialized once; a second
    /// materialization is cancelled at once. Dropping it unmaterialized fails the running sink
    /// with [`StreamError::AbruptTermination`].
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (total, sink) = Sink::fold(0, |a, x: i32| a + x).pre_materialize();
    /// // The fold already runs; a source is connected to it later, once.
    /// Source::range(1, 4).run_with(sink);
    /// assert_eq!(total.await.unwrap(), 10);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn pre_materialize(self) -> (Mat, Sink<In, NotUsed>) {
        let mut m = Materializer::new();
        let attrs = Attributes::none();
        let (tx, rx) = crate::boundary::channel::<In>(attrs.input_buffer_size());
        let mat = (self.make)(&mut m, Box::new(rx), &attrs);
        m.launch();
        let slot = Arc::new(Mutex::new(Some(tx)));
        let sink = Sink::from_fn(move |m, up, _| {
            let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(tx) = taken {
                m.spawn_island(crate::boundary::forward(up, tx));
            }
        });
        (mat, sink)
    }
}

fn consumer<In, C, F>(make: F) -> Sink<In, Completion<C::Output>>
where
    In: Send + 'static,
    C: Consume<In>,
    F: Fn(&Attributes) -> C + Send + Sync + 'static,
{
    Sink::from_fn(move |m, up, a| {
        let (promise, done) = completion();
        m.spawn_labeled(
            a.name_or("sink"),
            None,
            Root::new(up, make(a), promise, a.fused_batch::<In>()),
        );
        done
    })
}

impl<In: Send + 'static> Sink<In, SinkQueue<In>> {
    /// A sink read through the materialized [`SinkQueue`], one
    /// [`pull`](SinkQueue::pull) at a time (Akka's `Sink.queue()`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut queue = Source::from_iter(vec!["a", "b"]).run_with(Sink::queue());
    /// let mut seen = Vec::new();
    /// while let Some(x) = queue.pull().await.unwrap() {
    ///     seen.push(x);
    /// }
    /// assert_eq!(seen, vec!["a", "b"]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Demand only when pulled: while a pull waits on an empty buffer, the sink requests up to
    /// `input_buffer` elements (default 16) and keeps the ones beyond the first for the next
    /// pulls; the buffer never holds more. Nothing is requested before the first pull.
    /// `Attributes::input_buffer(1)` requests exactly one element per pull. (Akka's sink
    /// requests its whole buffer as soon as it starts.)
    ///
    /// # Completion
    /// A completion is reported, as `Ok(None)`, after the elements buffered before it; it needs
    /// no demand to arrive.
    ///
    /// # Errors
    /// A failure is reported after the elements buffered before it, and needs no demand either.
    ///
    /// # Cancellation
    /// [`SinkQueue::cancel`], or dropping the handle, cancels the stream.
    pub fn queue() -> Self {
        Sink::from_fn(|m, up, a| {
            let (handle, root) = queue::queue(up, a.input_buffer_size());
            m.spawn_island(root);
            handle
        })
    }
}

impl<In: Send + 'static> Sink<In, Completion<Vec<In>>> {
    /// Collects every element; resolves with them when the stream completes (Akka's `Sink.seq`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 3).run_with(Sink::seq()).await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Errors
    /// Resolves with the stream's failure, dropping what was collected.
    pub fn seq() -> Self {
        consumer(|_| consumers::Seq(Vec::new()))
    }

    /// Keeps the last `n` elements; resolves with them in order when the stream completes.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 5).run_with(Sink::take_last(2)).await.unwrap(), vec![4, 5]);
    /// # }
    /// ```
    pub fn take_last(n: usize) -> Self {
        consumer(move |_| consumers::TakeLast::new(n))
    }
}

impl<In: Send + 'static> Sink<In, Completion<()>> {
    /// Calls `f` on each element; resolves when the stream completes.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let done = Source::range(1, 3).run_with(Sink::foreach(move |x| s.lock().unwrap().push(x)));
    /// done.await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream; Resume and Restart skip the element.
    pub fn foreach<F>(f: F) -> Self
    where
        F: FnMut(In) + Clone + Send + Sync + 'static,
    {
        consumer(move |a| consumers::Foreach::new(f.clone(), a))
    }

    /// Runs `f` on each element, in order of arrival, with at most `parallelism` of its futures
    /// in flight; they may finish in any order, and a finished one makes room at once even while
    /// an earlier one is still running (Akka's `Sink.foreachAsync`, which also runs on
    /// `mapAsyncUnordered`). Resolves when all have finished and the stream completed.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let done = Source::range(1, 3).run_with(Sink::foreach_async(2, move |x| {
    ///     let s = s.clone();
    ///     async move { s.lock().unwrap().push(x) }
    /// }));
    /// done.await.unwrap();
    /// let mut seen = seen.lock().unwrap().clone();
    /// seen.sort();
    /// assert_eq!(seen, vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f` or in its future: Stop fails the stream with [`StreamError::Panicked`]
    /// (naming the stage `map_async_unordered`, which runs the futures); Resume and Restart skip
    /// the element.
    pub fn foreach_async<F, Fut>(parallelism: usize, f: F) -> Self
    where
        F: FnMut(In) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Flow::<In>::new()
            .map_async_unordered(parallelism, f)
            .to_mat(Sink::ignore(), Keep::right)
    }

    /// Consumes and discards every element; resolves when the stream completes
    /// (Akka's `Sink.ignore`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert!(Source::range(1, 3).run_with(Sink::ignore()).await.is_ok());
    /// # }
    /// ```
    pub fn ignore() -> Self {
        consumer(|_| consumers::Ignore)
    }
}

impl<In: Send + 'static> Sink<In, NotUsed> {
    /// Cancels its upstream at once (Akka's `Sink.cancelled`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let done = Source::range(1, 3).watch_termination().to(Sink::cancelled()).run();
    /// assert!(done.await.is_ok());
    /// # }
    /// ```
    pub fn cancelled() -> Self {
        Sink::from_fn(|_, up, _| drop(up))
    }

    /// Discards elements and calls `f` with the stream's outcome when it terminates
    /// (Akka's `Sink.onComplete`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = futures::channel::oneshot::channel();
    /// let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    /// Source::range(1, 3).run_with(Sink::on_complete(move |r| {
    ///     if let Some(tx) = tx.lock().unwrap().take() { let _ = tx.send(r.is_ok()); }
    /// }));
    /// assert!(rx.await.unwrap());
    /// # }
    /// ```
    pub fn on_complete<F>(f: F) -> Self
    where
        F: Fn(Result<(), StreamError>) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Sink::from_fn(move |m, up, a| {
            let (promise, done) = completion::<()>();
            m.spawn_island(Root::new(
                up,
                consumers::Ignore,
                promise,
                a.input_buffer_size(),
            ));
            let f = f.clone();
            m.spawn_island(async move { f(done.await) });
        })
    }

    /// Sends every element into a `futures::Sink`, flushing when the stream pauses and closing
    /// it on completion. One-shot: a second materialization fails its upstream with
    /// [`StreamError::AlreadyMaterialized`]. A send error fails the stream. On an upstream
    /// failure the sink is flushed, not closed, and then dropped: the failure is reported once
    /// the sink has taken what it accepted (a channel sender waits for room, as a send would).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = futures::channel::mpsc::channel::<i32>(4);
    /// let _ = Source::range(1, 3).run_with(Sink::from_sink(tx));
    /// use futures::StreamExt;
    /// assert_eq!(rx.collect::<Vec<_>>().await, vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn from_sink<S>(sink: S) -> Sink<In, Completion<()>>
    where
        S: futures::Sink<In> + Send + 'static,
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        let slot = Arc::new(Mutex::new(Some(sink)));
        Sink::from_fn(move |m, up, a| {
            let (promise, done) = completion();
            let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            m.spawn_island(from_sink::FromSink::new(
                up,
                taken,
                promise,
                a.input_buffer_size(),
            ));
            done
        })
    }
}

impl<In: Send + 'static> Sink<In, Completion<()>> {
    /// Sends every element into a `futures::Sink` created by `make` for each materialization
    /// (so the blueprint is reusable). If `make` fails, the stream fails with its error.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sink = Sink::from_sink_fn(|| {
    ///     Ok::<_, std::io::Error>(futures::sink::drain())
    /// });
    /// Source::range(1, 3).run_with(sink.clone()).await.unwrap();
    /// Source::range(1, 3).run_with(sink).await.unwrap();
    /// # }
    /// ```
    pub fn from_sink_fn<S, E, F>(make: F) -> Self
    where
        S: futures::Sink<In> + Send + 'static,
        S::Error: std::error::Error + Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: Fn() -> Result<S, E> + Send + Sync + 'static,
    {
        Sink::from_fn(move |m, up, a| {
            let (mut promise, done) = completion();
            // A panicking factory fails this run, like any other user code.
            let made = crate::stage::guarded(&a.name_or("from_sink_fn"), &make);
            match made.and_then(|r| r.map_err(StreamError::failed)) {
                Ok(sink) => m.spawn_island(from_sink::FromSink::new(
                    up,
                    Some(sink),
                    promise,
                    a.input_buffer_size(),
                )),
                Err(e) => {
                    drop(up);
                    promise.complete(Err(e));
                }
            }
            done
        })
    }
}

impl<In: Send + 'static> Sink<In, Completion<In>> {
    /// Resolves with the first element and cancels upstream (Akka's `Sink.head`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::repeat(9).run_with(Sink::head()).await.unwrap(), 9);
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StreamError::Empty`] if the stream completes without elements.
    pub fn head() -> Self {
        consumer(|_| consumers::Required(consumers::Head, "head"))
    }

    /// Resolves with the last element (Akka's `Sink.last`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 3).run_with(Sink::last()).await.unwrap(), 3);
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StreamError::Empty`] if the stream completes without elements.
    pub fn last() -> Self {
        consumer(|_| consumers::Required(consumers::Last(None), "last"))
    }

    /// Combines elements with `f`; resolves with the result (Akka's `Sink.reduce`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 4).run_with(Sink::reduce(|a, b| a * b)).await.unwrap(), 24);
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StreamError::Empty`] on an empty stream.
    pub fn reduce<F>(f: F) -> Self
    where
        In: Clone,
        F: FnMut(In, In) -> In + Clone + Send + Sync + 'static,
    {
        Flow::<In>::new()
            .reduce(f)
            .to_mat(Sink::last(), Keep::right)
    }
}

impl<In: Send + 'static> Sink<In, Completion<Option<In>>> {
    /// Resolves with the first element, or `None` on an empty stream (Akka's `Sink.headOption`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::<i32>::empty().run_with(Sink::head_option()).await.unwrap(), None);
    /// # }
    /// ```
    pub fn head_option() -> Self {
        consumer(|_| consumers::Head)
    }

    /// Resolves with the last element, or `None` on an empty stream.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 3).run_with(Sink::last_option()).await.unwrap(), Some(3));
    /// # }
    /// ```
    pub fn last_option() -> Self {
        consumer(|_| consumers::Last(None))
    }
}

impl<In: Send + 'static, Acc: Send + 'static> Sink<In, Completion<Acc>> {
    /// Folds the elements; resolves with the result when the stream completes (Akka's
    /// `Sink.fold`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 4).run_with(Sink::fold(0, |a, x| a + x)).await.unwrap(), 10);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in `f`: Stop fails the stream; Resume skips the element; Restart starts again from
    /// `zero`.
    pub fn fold<F>(zero: Acc, f: F) -> Self
    where
        Acc: Clone + Sync,
        F: FnMut(Acc, In) -> Acc + Clone + Send + Sync + 'static,
    {
        consumer(move |a| consumers::Fold::new(zero.clone(), f.clone(), a))
    }
}

impl<In: Send + 'static> Sink<In, Completion<u64>> {
    /// Counts the elements; resolves with the count when the stream completes (Akka's
    /// `Sink.count`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert_eq!(Source::range(1, 4).run_with(Sink::count()).await.unwrap(), 4);
    /// # }
    /// ```
    pub fn count() -> Self {
        Sink::fold(0u64, |n, _| n + 1)
    }
}

impl<In: Send + 'static> Sink<In, Completion<bool>> {
    /// Tests every element with `p`: resolves with `false` at the first element for which `p` is
    /// false (cancelling upstream), or with `true` when the stream completes, so also for an
    /// empty stream (Akka's `Sink.forall`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert!(Source::range(1, 4).run_with(Sink::forall(|x| *x < 5)).await.unwrap());
    /// assert!(!Source::range(1, 4).run_with(Sink::forall(|x| *x < 3)).await.unwrap());
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Tests elements as they arrive; there is nothing to wait for.
    ///
    /// # Completion
    /// Resolves `false` and cancels upstream at the first element that fails `p`; resolves
    /// `true` when the stream completes.
    ///
    /// # Errors
    /// Resolves with the stream's failure if it fails before a verdict.
    ///
    /// # Supervision
    /// A panic in `p`: Stop fails with [`StreamError::Panicked`]; Resume and Restart skip the
    /// element.
    pub fn forall<F>(p: F) -> Self
    where
        F: FnMut(&In) -> bool + Clone + Send + Sync + 'static,
    {
        consumer(move |a| forall::Forall::new(p.clone(), a))
    }

    /// Tests elements with `p`: resolves with `true` at the first element for which `p` holds
    /// (cancelling upstream), or with `false` when the stream completes, so also for an empty
    /// stream (Akka's `Sink.exists`).
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// assert!(Source::range(1, 4).run_with(Sink::exists(|x| *x == 3)).await.unwrap());
    /// assert!(!Source::range(1, 4).run_with(Sink::exists(|x| *x > 4)).await.unwrap());
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Tests elements as they arrive; there is nothing to wait for.
    ///
    /// # Completion
    /// Resolves `true` and cancels upstream at the first element that satisfies `p`; resolves
    /// `false` when the stream completes.
    ///
    /// # Errors
    /// Resolves with the stream's failure if it fails before a verdict.
    ///
    /// # Supervision
    /// A panic in `p`: Stop fails with [`StreamError::Panicked`]; Resume and Restart skip the
    /// element.
    pub fn exists<F>(p: F) -> Self
    where
        F: FnMut(&In) -> bool + Clone + Send + Sync + 'static,
    {
        consumer(move |a| exists::Exists::new(p.clone(), a))
    }
}

//! `Sink::lazy_sink`.

use std::future::poll_fn;
use std::task::Poll;

use crate::materializer::completion;
use crate::ops::Prepended;
use crate::stage::{pull_guarded, BoxPull, Step, Supervisor};
use crate::{Completion, Materializer, Sink, StreamError};

impl<In: Send + 'static, M: Send + 'static> Sink<In, Completion<M>> {
    /// Makes the sink `factory` returns when the first element arrives, and runs the stream
    /// into it from that element on (Akka's `Sink.lazySink`); materializes a [`Completion`] of
    /// that sink's materialized value.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (out, ()) = Source::range(1, 3)
    ///     .to_mat(Sink::lazy_sink(Sink::seq), Keep::right)
    ///     .run()
    ///     .await
    ///     .map(|seq| (seq, ()))
    ///     .unwrap();
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One element is asked for before the sink exists; then the sink sets the pace.
    ///
    /// # Completion
    /// If the stream completes or fails before its first element, the sink is never made and
    /// the materialized value fails with [`StreamError::NeverMaterialized`] (Akka's
    /// `NeverMaterializedException`). A panic in `factory` fails it with
    /// [`StreamError::Panicked`] and cancels upstream; `factory` is not supervised.
    pub fn lazy_sink<F>(factory: F) -> Self
    where
        F: FnMut() -> Sink<In, M> + Clone + Send + Sync + 'static,
    {
        Sink::from_fn(move |m, up: BoxPull<In>, a| {
            let (mut promise, done) = completion();
            let mut factory = factory.clone();
            let (attrs, sup) = (a.clone(), Supervisor::new("lazy_sink", a));
            m.spawn_island(async move {
                let mut up = up;
                let mut first = Vec::with_capacity(1);
                let step = poll_fn(|cx| match pull_guarded(&mut up, cx, &mut first, 1) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(step) => Poll::Ready(step),
                })
                .await;
                if first.is_empty() {
                    promise.complete(Err(StreamError::NeverMaterialized { stage: "lazy_sink" }));
                    return;
                }
                let sink = match sup.call(&mut factory) {
                    Ok(sink) => sink,
                    Err(e) => {
                        promise.complete(Err(e));
                        return;
                    }
                };
                let terminal = (!matches!(step, Step::Open)).then_some(step);
                let feed: BoxPull<In> = Box::new(Prepended::new(first, up, terminal));
                let mut m = Materializer::new();
                let mat = sink.materialize_into(&mut m, feed, &attrs);
                m.launch();
                promise.complete(Ok(mat));
            });
            done
        })
    }
}

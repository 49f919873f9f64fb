//! Sources whose inner source is made later: `Source::future_source`, `Source::lazy_source`.

use std::future::Future;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::materializer::{completion, Promise};
use crate::stage::{poll_caught, BoxPull, Pull, Step};
use crate::{Attributes, Completion, Materializer, Source, StreamError};

/// Waits for `pending` to yield a source, materializes it, and then emits its elements.
struct Deferred<T, M> {
    pending: Option<BoxFuture<'static, Source<T, M>>>,
    inner: Option<BoxPull<T>>,
    promise: Option<Promise<M>>,
    attrs: Attributes,
    stage: &'static str,
}

impl<T: Send + 'static, M: 'static> Deferred<T, M> {
    fn new(
        pending: BoxFuture<'static, Source<T, M>>,
        attrs: &Attributes,
        stage: &'static str,
    ) -> (Self, Completion<M>) {
        let (promise, done) = completion();
        let d = Deferred {
            pending: Some(pending),
            inner: None,
            promise: Some(promise),
            attrs: attrs.clone(),
            stage,
        };
        (d, done)
    }
}

impl<T: Send + 'static, M: Send + 'static> Pull<T> for Deferred<T, M> {
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.inner.as_mut() {
            Some(inner) => inner.poll_failed(cx),
            None => Poll::Pending,
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.inner.as_mut() {
            Some(inner) => inner.poll_complete(cx),
            None => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if let Some(pending) = self.pending.as_mut() {
            let source = match poll_caught(std::pin::Pin::new(pending), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(source)) => source,
                Poll::Ready(Err(payload)) => {
                    let e = StreamError::panicked(self.attrs.name_or(self.stage), payload);
                    self.pending = None;
                    if let Some(mut p) = self.promise.take() {
                        p.complete(Err(e.clone()));
                    }
                    return Poll::Ready(Step::Failed(e));
                }
            };
            self.pending = None;
            let mut m = Materializer::new();
            let (inner, mat) = source.materialize_into(&mut m, &self.attrs);
            m.launch();
            if let Some(mut p) = self.promise.take() {
                p.complete(Ok(mat));
            }
            self.inner = Some(inner);
        }
        match self.inner.as_mut() {
            Some(inner) => inner.pull(cx, out, max),
            None => Poll::Ready(Step::Complete),
        }
    }
}

impl<T, M> Drop for Deferred<T, M> {
    fn drop(&mut self) {
        // Cancelled (or failed) before the inner source existed: its value never will.
        if let Some(mut p) = self.promise.take() {
            p.complete(Err(StreamError::NeverMaterialized { stage: self.stage }));
        }
    }
}

impl<T: Send + 'static, M: Send + 'static> Source<T, Completion<M>> {
    /// Emits the elements of the source `future` yields, once it has (Akka's
    /// `Source.futureSource`); materializes a [`Completion`] of that source's materialized
    /// value. The future runs once and its source is shared by every materialization, each of
    /// which materializes it afresh.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let later = Source::future_source(async { Source::range(1, 3).map_materialized_value(|()| "inner") });
    /// let (mat, out) = later.to_mat(Sink::seq(), Keep::both).run();
    /// assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    /// assert_eq!(mat.await.unwrap(), "inner");
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Emits as the inner source does. Akka waits for the future as soon as the stream is
    /// materialized; weir polls it at the first pull (when downstream first asks).
    ///
    /// # Completion
    /// Completes and fails as the inner source does. A panic in the future fails the stream and
    /// the materialized value with [`StreamError::Panicked`]; cancelled before the future
    /// resolved, the materialized value fails with [`StreamError::NeverMaterialized`] (Akka's
    /// `NeverMaterializedException`).
    pub fn future_source<Fut>(future: Fut) -> Self
    where
        Fut: Future<Output = Source<T, M>> + Send + 'static,
    {
        let shared = future.boxed().shared();
        Source::from_fn(move |_, a| {
            let (d, done) = Deferred::new(shared.clone().boxed(), a, "future_source");
            (Box::new(d) as BoxPull<T>, done)
        })
    }

    /// Calls `factory` at the first pull and emits the elements of the source it returns
    /// (Akka's `Source.lazySource`); materializes a [`Completion`] of that source's
    /// materialized value.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let made = Arc::new(AtomicBool::new(false));
    /// let m = made.clone();
    /// let lazy = Source::lazy_source(move || {
    ///     m.store(true, Ordering::SeqCst);
    ///     Source::range(1, 2)
    /// });
    /// let (mat, out) = lazy.to_mat(Sink::seq(), Keep::both).run();
    /// assert_eq!(out.await.unwrap(), vec![1, 2]);
    /// assert!(made.load(Ordering::SeqCst));
    /// assert!(mat.await.is_ok());
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Nothing is created until downstream first asks; then the inner source sets the pace.
    ///
    /// # Completion
    /// As [`future_source`](Source::future_source): a panic in `factory` fails the stream and
    /// the materialized value; cancelled before the first pull, the value fails with
    /// [`StreamError::NeverMaterialized`]. `factory` is not supervised, as in Akka.
    pub fn lazy_source<F>(factory: F) -> Self
    where
        F: FnMut() -> Source<T, M> + Clone + Send + Sync + 'static,
    {
        Source::from_fn(move |_, a| {
            let mut f = factory.clone();
            let pending = futures::future::lazy(move |_| f()).boxed();
            let (d, done) = Deferred::new(pending, a, "lazy_source");
            (Box::new(d) as BoxPull<T>, done)
        })
    }
}

//! `RunnableGraph`: a closed blueprint, ready to run.

use std::fmt;
use std::sync::Arc;

use crate::{Attributes, Materializer};

type GraphFn<Mat> = dyn Fn(&mut Materializer, &Attributes) -> Mat + Send + Sync;

/// A blueprint with no open ports: running it starts the stream and returns its materialized
/// value (Akka's `RunnableGraph`). Reusable: each `run` is an independent stream.
#[must_use = "streams do nothing unless run"]
pub struct RunnableGraph<Mat> {
    make: Arc<GraphFn<Mat>>,
}

impl<Mat> Clone for RunnableGraph<Mat> {
    fn clone(&self) -> Self {
        RunnableGraph {
            make: self.make.clone(),
        }
    }
}

impl<Mat: 'static> RunnableGraph<Mat> {
    /// A graph from its materialization function (the raw tier).
    pub fn from_fn<F>(make: F) -> Self
    where
        F: Fn(&mut Materializer, &Attributes) -> Mat + Send + Sync + 'static,
    {
        RunnableGraph {
            make: Arc::new(make),
        }
    }

    /// Materializes the graph into `materializer` without launching it.
    pub fn materialize_into(&self, materializer: &mut Materializer, attrs: &Attributes) -> Mat {
        (self.make)(materializer, attrs)
    }

    /// Starts the stream on the current tokio runtime and returns its materialized value at once.
    ///
    /// ```
    /// use weir::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let graph = Source::range(1, 3).to_mat(Sink::seq(), Keep::right);
    /// // The same blueprint, run twice: two independent streams.
    /// assert_eq!(graph.run().await.unwrap(), vec![1, 2, 3]);
    /// assert_eq!(graph.run().await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn run(&self) -> Mat {
        let mut m = Materializer::new();
        let mat = (self.make)(&mut m, &Attributes::none());
        m.launch();
        mat
    }

    /// As [`run`](RunnableGraph::run), and a handle on the run's islands for
    /// [stall diagnostics](crate::diagnostics).
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::diagnostics::IslandState;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (queue, diagnostics) = Source::<u32, _>::queue(4)
    ///     .async_boundary()
    ///     .to(Sink::ignore())
    ///     .run_diagnosed();
    /// tokio::task::yield_now().await;
    /// let islands = diagnostics.snapshot();
    /// // The queue's island feeds the boundary; the sink's island waits for it.
    /// assert_eq!(islands.len(), 2);
    /// assert!(islands.iter().all(|i| i.state == IslandState::WaitingForElement));
    /// queue.complete().unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn run_diagnosed(&self) -> (Mat, crate::diagnostics::StreamDiagnostics) {
        let mut m = Materializer::new();
        let diagnostics = crate::diagnostics::StreamDiagnostics { stream: m.stream() };
        let mat = (self.make)(&mut m, &Attributes::none());
        m.launch();
        (mat, diagnostics)
    }

    /// Starts the stream on the runtime behind `handle`; callable from any thread.
    pub fn run_on(&self, handle: &tokio::runtime::Handle) -> Mat {
        let mut m = Materializer::new();
        let mat = (self.make)(&mut m, &Attributes::none());
        m.launch_on(handle);
        mat
    }

    /// Transforms the materialized value, on each run.
    ///
    /// ```
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let graph = Source::range(1, 4)
    ///     .to_mat(Sink::fold(0, |a, x| a + x), Keep::right)
    ///     .map_materialized_value(|total| async move { total.await.map(|t| t * 100) });
    /// assert_eq!(graph.run().await.unwrap(), 1000);
    /// # }
    /// ```
    pub fn map_materialized_value<M2, F>(self, f: F) -> RunnableGraph<M2>
    where
        M2: 'static,
        F: Fn(Mat) -> M2 + Send + Sync + 'static,
    {
        let make = self.make;
        RunnableGraph::from_fn(move |m, a| f(make(m, a)))
    }

    /// Attaches attributes to every operator in the graph that has no closer ones.
    ///
    /// ```
    /// use weir::prelude::*;
    /// use weir::{Attributes, Decider};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let graph = Source::from_iter(vec![1, 0, 2])
    ///     .map(|x| 10 / x) // panics on 0
    ///     .to_mat(Sink::seq(), Keep::right)
    ///     .with_attributes(Attributes::supervision(Decider::resuming()));
    /// assert_eq!(graph.run().await.unwrap(), vec![10, 5]);
    /// # }
    /// ```
    pub fn with_attributes(self, attrs: Attributes) -> Self {
        let make = self.make;
        RunnableGraph::from_fn(move |m, a| make(m, &a.and(&attrs)))
    }
}

impl<Mat> fmt::Debug for RunnableGraph<Mat> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnableGraph").finish_non_exhaustive()
    }
}

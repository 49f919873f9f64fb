//! Materialization: turning blueprints into running islands, and the completion futures they
//! hand back.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::future::BoxFuture;

use crate::diagnostics::{self, Gauge};
use crate::StreamError;

/// An island waiting to be launched, with what diagnostics report of it.
struct Pending {
    label: Cow<'static, str>,
    gauge: Option<std::sync::Arc<dyn Gauge>>,
    island: BoxFuture<'static, ()>,
}

/// Collects the islands (tasks) one materialization creates and spawns them together.
///
/// Blueprint factories receive a `&mut Materializer`; an island is a future that drives one fused
/// chain. Nothing runs until [`Materializer::launch`], which spawns every island on the current
/// tokio runtime.
///
/// Every island is registered with [`diagnostics`](crate::diagnostics) while it runs, under
/// the materializer's stream number.
#[must_use = "islands do nothing until launched"]
pub struct Materializer {
    stream: u64,
    islands: Vec<Pending>,
}

impl Materializer {
    /// An empty materializer: a new stream, or, when created by a running island (a substream,
    /// a stage materializing a source), part of that island's stream.
    pub fn new() -> Self {
        Materializer {
            stream: diagnostics::stream_for_new_materialization(),
            islands: Vec::new(),
        }
    }

    /// The stream number its islands are reported under.
    pub(crate) fn stream(&self) -> u64 {
        self.stream
    }

    /// Registers an island to be spawned by [`launch`](Materializer::launch).
    pub fn spawn_island<F>(&mut self, island: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_labeled(Cow::Borrowed("island"), None, island);
    }

    /// As [`spawn_island`](Materializer::spawn_island), reported in diagnostics as `label`,
    /// with the fill of the buffer it feeds.
    pub(crate) fn spawn_labeled<F>(
        &mut self,
        label: Cow<'static, str>,
        gauge: Option<std::sync::Arc<dyn Gauge>>,
        island: F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        self.islands.push(Pending {
            label,
            gauge,
            island: Box::pin(island),
        });
    }

    fn instrumented(self) -> impl Iterator<Item = diagnostics::Instrumented> {
        let stream = self.stream;
        self.islands
            .into_iter()
            .map(move |p| diagnostics::instrument(stream, p.label, p.gauge, p.island))
    }

    /// Spawns every registered island on the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime and there is an island to spawn.
    pub fn launch(self) {
        for island in self.instrumented() {
            drop(tokio::spawn(island));
        }
    }

    /// Spawns every registered island through `handle`.
    pub fn launch_on(self, handle: &tokio::runtime::Handle) {
        for island in self.instrumented() {
            drop(handle.spawn(island));
        }
    }
}

impl Default for Materializer {
    fn default() -> Self {
        Materializer::new()
    }
}

impl fmt::Debug for Materializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Materializer")
            .field("stream", &self.stream)
            .field("islands", &self.islands.len())
            .finish()
    }
}

/// The materialized value of most sinks: resolves with the sink's result when the stream
/// completes, or with the stream's failure (Akka's `Future[T]`).
///
/// The stream runs whether or not this future is polled or kept.
#[must_use = "a completion does nothing unless awaited (the stream runs regardless)"]
pub struct Completion<T> {
    rx: oneshot::Receiver<Result<T, StreamError>>,
}

/// The sending half of a [`Completion`].
pub(crate) struct Promise<T> {
    tx: Option<oneshot::Sender<Result<T, StreamError>>>,
}

/// A connected promise/completion pair.
pub(crate) fn completion<T>() -> (Promise<T>, Completion<T>) {
    let (tx, rx) = oneshot::channel();
    (Promise { tx: Some(tx) }, Completion { rx })
}

impl<T> Promise<T> {
    /// Fulfils the completion; later calls do nothing.
    pub(crate) fn complete(&mut self, result: Result<T, StreamError>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.tx.is_none()
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        self.complete(Err(StreamError::AbruptTermination));
    }
}

impl<T> Future for Completion<T> {
    type Output = Result<T, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(StreamError::AbruptTermination)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion").finish_non_exhaustive()
    }
}

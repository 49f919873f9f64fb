//! Restarting a source, flow or sink with exponential backoff (Akka's `RestartSource`,
//! `RestartFlow`, `RestartSink`).

mod backoff;
mod feed;
mod flow;
mod retry;
mod settings;
mod sink;
mod source;

use std::sync::Arc;

pub use retry::RetryFlow;
pub use settings::RestartSettings;

use crate::stage::BoxPull;
use crate::{Flow, NotUsed, Sink, Source};
use backoff::Backoff;

/// Sources that start again when they end (Akka's `RestartSource`).
#[derive(Debug, Clone, Copy)]
pub struct RestartSource;

impl RestartSource {
    /// A source that runs the source made by `factory` and, whenever it completes or fails,
    /// makes and runs a new one after a backoff (Akka's `RestartSource.withBackoff`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::{RestartSettings, RestartSource};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let runs = Arc::new(AtomicU32::new(0));
    /// let settings = RestartSettings::new(Duration::from_millis(10), Duration::from_secs(1), 0.0);
    /// let r = runs.clone();
    /// let restarting = RestartSource::with_backoff(settings, move || {
    ///     Source::single(r.fetch_add(1, Ordering::SeqCst))
    /// });
    /// // Each run emits one element and completes; the source starts it again.
    /// let out = restarting.take(3).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![0, 1, 2]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Passes the downstream's demand to the running source. Elements that source had taken
    /// from its own upstream are lost with it when it fails, as in Akka.
    ///
    /// # Completion
    /// Never completes on its own unless [`max_restarts`](RestartSettings::with_max_restarts)
    /// runs out, when it completes or fails as the last run did. The backoff starts when the
    /// stage sees the run end, which is at once when it has demand.
    ///
    /// # Errors
    /// A failure for which [`restart_on`](RestartSettings::with_restart_on) is false passes
    /// through. A panicking `factory` counts as a failed run.
    ///
    /// # Cancellation
    /// Cancelling it cancels the running source, or the pending restart.
    pub fn with_backoff<T, M, F>(settings: RestartSettings, factory: F) -> Source<T, NotUsed>
    where
        T: Send + 'static,
        M: 'static,
        F: Fn() -> Source<T, M> + Send + Sync + 'static,
    {
        restart_source(settings, factory, false)
    }

    /// Like [`with_backoff`](RestartSource::with_backoff), restarting only after failures; a
    /// run that completes completes the stream (Akka's `RestartSource.onFailuresWithBackoff`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::{RestartSettings, RestartSource};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let runs = Arc::new(AtomicU32::new(0));
    /// let settings = RestartSettings::new(Duration::from_millis(10), Duration::from_secs(1), 0.0);
    /// let r = runs.clone();
    /// let flaky = RestartSource::on_failures_with_backoff(settings, move || {
    ///     let run = r.fetch_add(1, Ordering::SeqCst);
    ///     // The first run fails after one element; the second completes.
    ///     let tail = if run == 0 {
    ///         Source::failed(StreamError::AbruptTermination)
    ///     } else {
    ///         Source::empty()
    ///     };
    ///     Source::single(run).concat(tail)
    /// });
    /// assert_eq!(flaky.run_with(Sink::seq()).await.unwrap(), vec![0, 1]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// Completes when a run completes, or when restarts run out.
    pub fn on_failures_with_backoff<T, M, F>(
        settings: RestartSettings,
        factory: F,
    ) -> Source<T, NotUsed>
    where
        T: Send + 'static,
        M: 'static,
        F: Fn() -> Source<T, M> + Send + Sync + 'static,
    {
        restart_source(settings, factory, true)
    }
}

fn restart_source<T, M, F>(
    settings: RestartSettings,
    factory: F,
    only_on_failures: bool,
) -> Source<T>
where
    T: Send + 'static,
    M: 'static,
    F: Fn() -> Source<T, M> + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    Source::from_fn(move |m, a| {
        let backoff = Backoff::new(settings.clone(), "RestartSource");
        let pull = source::RestartSourcePull::new(factory.clone(), m, a, backoff, only_on_failures);
        (Box::new(pull) as BoxPull<T>, ())
    })
}

/// Flows that start again when they end (Akka's `RestartFlow`).
#[derive(Debug, Clone, Copy)]
pub struct RestartFlow;

impl RestartFlow {
    /// A flow that runs its input through the flow made by `factory` and, whenever that flow
    /// completes or fails while the input goes on, runs the input through a new one after a
    /// backoff (Akka's `RestartFlow.withBackoff`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::{RestartFlow, RestartSettings};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let settings = RestartSettings::new(Duration::from_millis(10), Duration::from_secs(1), 0.0);
    /// // Each flow handles two elements, then completes: the restart handles the rest.
    /// let pairs = RestartFlow::with_backoff(settings, || Flow::<u32>::new().take(2).map(|x| x * 10));
    /// let out = Source::range(1, 5).via(pairs).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![10, 20, 30, 40, 50]);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// Passes demand through the running flow, which reads its input one element per pull (so
    /// a flow that fails loses only what it was working on, as in Akka). During a backoff
    /// nothing is pulled.
    ///
    /// # Completion
    /// When the input completes, the running flow sees the completion and its end is the
    /// stream's: no restart follows. An input that ends during a backoff ends the stage at
    /// once. The flow restarts when its output ends; a flow that cancels its input but keeps
    /// emitting (Akka restarts at the cancellation) restarts once its output ends.
    ///
    /// # Errors
    /// As [`RestartSource::with_backoff`]. An element the failed flow had taken is lost.
    ///
    /// # Cancellation
    /// Cancelling it cancels the running flow and the input.
    pub fn with_backoff<In, Out, M, F>(
        settings: RestartSettings,
        factory: F,
    ) -> Flow<In, Out, NotUsed>
    where
        In: Send + 'static,
        Out: Send + 'static,
        M: 'static,
        F: Fn() -> Flow<In, Out, M> + Send + Sync + 'static,
    {
        restart_flow(settings, factory, false)
    }

    /// Like [`with_backoff`](RestartFlow::with_backoff), restarting only after failures (Akka's
    /// `RestartFlow.onFailuresWithBackoff`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::{RestartFlow, RestartSettings};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let settings = RestartSettings::new(Duration::from_millis(10), Duration::from_secs(1), 0.0);
    /// let flow = RestartFlow::on_failures_with_backoff(settings, || Flow::<u32>::new().take(2));
    /// // `take(2)` completes: no restart, so the stream ends after two.
    /// let out = Source::range(1, 5).via(flow).run_with(Sink::seq()).await.unwrap();
    /// assert_eq!(out, vec![1, 2]);
    /// # }
    /// ```
    pub fn on_failures_with_backoff<In, Out, M, F>(
        settings: RestartSettings,
        factory: F,
    ) -> Flow<In, Out, NotUsed>
    where
        In: Send + 'static,
        Out: Send + 'static,
        M: 'static,
        F: Fn() -> Flow<In, Out, M> + Send + Sync + 'static,
    {
        restart_flow(settings, factory, true)
    }
}

fn restart_flow<In, Out, M, F>(
    settings: RestartSettings,
    factory: F,
    only_on_failures: bool,
) -> Flow<In, Out>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: Fn() -> Flow<In, Out, M> + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    Flow::from_fn(move |m, up, a| {
        let backoff = Backoff::new(settings.clone(), "RestartFlow");
        let pull = flow::RestartFlowPull::new(factory.clone(), up, m, a, backoff, only_on_failures);
        (Box::new(pull) as BoxPull<Out>, ())
    })
}

/// Sinks that start again when they cancel (Akka's `RestartSink`).
#[derive(Debug, Clone, Copy)]
pub struct RestartSink;

impl RestartSink {
    /// A sink that feeds the sink made by `factory` and, whenever that sink cancels (it
    /// finished early, or failed) while the input goes on, feeds a new one after a backoff
    /// (Akka's `RestartSink.withBackoff`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::{RestartSettings, RestartSink};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let settings = RestartSettings::new(Duration::from_millis(10), Duration::from_secs(1), 0.0);
    /// let s = seen.clone();
    /// // Each sink takes two elements, then cancels.
    /// let sink = RestartSink::with_backoff(settings, move || {
    ///     let s = s.clone();
    ///     Flow::<u32>::new().take(2).to(Sink::foreach(move |x| s.lock().unwrap().push(x)))
    /// });
    /// let done = Source::range(1, 5).watch_termination().to(sink).run();
    /// done.await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    /// # }
    /// ```
    ///
    /// # Completion
    /// When the input completes or fails, the running sink sees it and no restart follows; an
    /// input that ends during a backoff ends the sink at once.
    ///
    /// # Errors
    /// A sink's failure shows here only as its cancellation, which carries no error in weir,
    /// so [`restart_on`](RestartSettings::with_restart_on) is not asked (Akka passes the
    /// cancellation cause to it). When restarts run out, the input is cancelled.
    pub fn with_backoff<T, M, F>(settings: RestartSettings, factory: F) -> Sink<T, NotUsed>
    where
        T: Send + 'static,
        M: 'static,
        F: Fn() -> Sink<T, M> + Send + Sync + 'static,
    {
        let factory = Arc::new(factory);
        Sink::from_fn(move |m, up, a| {
            let backoff = Backoff::new(settings.clone(), "RestartSink");
            sink::restart_sink(factory.clone(), up, m, a, backoff);
        })
    }
}

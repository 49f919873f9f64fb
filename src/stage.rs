//! The raw pull protocol every weir stage speaks inside a fused island.
//!
//! A fused island is a chain of [`Pull`] stages driven by one root (a sink, or the producer side
//! of an async boundary) on one tokio task. Demand travels upstream as the `max` of a pull,
//! elements travel downstream in batches, and each stage costs one dynamic call per *batch*, not
//! per element. This is the low tier of the stage API; library operators are written on it.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll};

use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// What a pull ended with, besides the elements it delivered.
#[derive(Debug)]
pub enum Step {
    /// The stage delivered at least one element and may deliver more.
    Open,
    /// The stage completed; elements delivered by this same pull precede the completion.
    Complete,
    /// The stage failed; elements delivered by this same pull precede the failure.
    Failed(StreamError),
}

impl Step {
    /// Whether this is a terminal signal.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Step::Open)
    }
}

/// One stage of a fused island, seen from downstream.
///
/// # Contract
/// - `pull` is called with `max >= 1`: the downstream demand. The stage appends at most `max`
///   elements to `out` (never more: this is back pressure).
/// - `Poll::Ready(Step::Open)` means at least one element was appended.
/// - `Poll::Ready(Step::Complete | Step::Failed(_))` is the one terminal signal, possibly after
///   some elements; the stage is never pulled again.
/// - `Poll::Pending` means nothing was appended and the task's waker will be woken when the stage
///   can make progress.
/// - Cancellation is `Drop`: dropping a stage cancels it and, through its fields, everything
///   upstream of it, releasing their resources.
/// - A stage that stops pulling (it has all the work it can hold) may still ask
///   [`poll_failed`](Pull::poll_failed), so that an upstream failure reaches it without demand,
///   as Reactive Streams' `onError` does.
pub trait Pull<T>: Send + 'static {
    /// Delivers up to `max` elements into `out`. See the trait docs for the contract.
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step>;

    /// Whether the stream this stage reads has failed, asked without taking elements.
    /// `Ready(e)` means it has, and the caller may fail at once (the failure overtakes elements
    /// not yet delivered, as in Akka); the stage is then dropped, not pulled. `Pending` means it
    /// has not, or this stage cannot tell; a stage that can tell wakes the task when it learns
    /// of a failure. The default cannot tell.
    fn poll_failed(&mut self, _cx: &mut Context<'_>) -> Poll<StreamError> {
        Poll::Pending
    }

    /// Whether this stage has completed with nothing left to deliver, asked without demand
    /// (Reactive Streams' `onComplete` needs none). `Ready` means the next pull would only
    /// complete; `Pending` means it would not, or this stage cannot tell (the default); a stage
    /// that can tell wakes the task when it completes.
    fn poll_complete(&mut self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// Whether `up` has terminated, asked without demand: its failure (which overtakes elements
/// not yet delivered) or its completion, from a stage that can tell; `Pending` otherwise.
pub(crate) fn poll_terminal<T, P: Pull<T> + ?Sized>(
    up: &mut P,
    cx: &mut Context<'_>,
) -> Poll<Step> {
    match up.poll_failed(cx) {
        Poll::Ready(e) => Poll::Ready(Step::Failed(e)),
        Poll::Pending => up.poll_complete(cx).map(|()| Step::Complete),
    }
}

/// A stage that is complete from the start (the output of a junction with no inputs, a port
/// that could not be wired).
pub(crate) struct Completed;

impl<T> Pull<T> for Completed {
    fn pull(&mut self, _: &mut Context<'_>, _: &mut Vec<T>, _: usize) -> Poll<Step> {
        Poll::Ready(Step::Complete)
    }
}

/// A type-erased stage: how stages are chained at materialization.
pub type BoxPull<T> = Box<dyn Pull<T>>;

impl<T: 'static> Pull<T> for BoxPull<T> {
    #[inline]
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        (**self).pull(cx, out, max)
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        (**self).poll_failed(cx)
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_complete(cx)
    }
}

/// Runs `f`, turning a panic into [`StreamError::Panicked`] naming `stage`.
#[inline]
#[allow(clippy::ptr_arg)] // a `Cow` so that a static name is cloned into the error for free
pub(crate) fn guarded<R>(
    stage: &Cow<'static, str>,
    f: impl FnOnce() -> R,
) -> Result<R, StreamError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| StreamError::panicked(stage.clone(), p))
}

/// Pulls from `up`, turning a panic anywhere upstream into a failure (island roots use this so a
/// panicking iterator or stream fails the stream instead of tearing down the task).
#[inline]
pub(crate) fn pull_guarded<T: 'static>(
    up: &mut BoxPull<T>,
    cx: &mut Context<'_>,
    out: &mut Vec<T>,
    max: usize,
) -> Poll<Step> {
    match catch_unwind(AssertUnwindSafe(|| up.pull(cx, out, max))) {
        Ok(p) => p,
        Err(payload) => Poll::Ready(Step::Failed(StreamError::panicked(
            Cow::Borrowed("upstream"),
            payload,
        ))),
    }
}

/// The name and decider of a stage that runs user code.
#[derive(Debug, Clone)]
pub(crate) struct Supervisor {
    pub(crate) name: Cow<'static, str>,
    attrs: Attributes,
}

impl Supervisor {
    pub(crate) fn new(default_name: &'static str, attrs: &Attributes) -> Self {
        Supervisor {
            name: attrs.name_or(default_name),
            attrs: attrs.clone(),
        }
    }

    /// Runs user code, catching a panic as a failure of this stage.
    #[inline]
    pub(crate) fn call<R>(&self, f: impl FnOnce() -> R) -> Result<R, StreamError> {
        guarded(&self.name, f)
    }

    /// Whether a decider is attached (otherwise every failure stops the stage).
    pub(crate) fn is_supervised(&self) -> bool {
        self.attrs.has_decider()
    }

    pub(crate) fn decide(&self, error: &StreamError) -> Directive {
        self.attrs.decide(error)
    }
}

/// Polls `fut`, turning a panic into `Err(payload)`.
#[inline]
pub(crate) fn poll_caught<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Box<dyn std::any::Any + Send>>> {
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Ready(x)) => Poll::Ready(Ok(x)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(payload)),
    }
}

/// Spends one unit of tokio's cooperative budget for an always-ready source; `Pending` (with the
/// waker scheduled) once the task has used its budget, so a hot stream yields to other tasks.
#[inline]
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
    match tokio::task::coop::poll_proceed(cx) {
        Poll::Ready(restore) => {
            restore.made_progress();
            Poll::Ready(())
        }
        Poll::Pending => Poll::Pending,
    }
}

//! The root of a fused island: a sink that pulls batches and consumes them.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::materializer::Promise;
use crate::stage::{pull_guarded, BoxPull, Step};
use crate::StreamError;

/// What a sink does with the elements and the terminal signal.
pub(crate) trait Consume<T>: Send + 'static {
    type Output: Send + 'static;

    /// Consumes (drains) a batch; `Break` finishes the sink early and cancels upstream.
    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<Self::Output, StreamError>>;

    /// The stream completed.
    fn on_complete(&mut self) -> Result<Self::Output, StreamError>;

    /// The stream failed.
    fn on_failure(&mut self, error: StreamError) -> Result<Self::Output, StreamError> {
        Err(error)
    }
}

/// Drives `up` into a [`Consume`] and fulfils `promise` with the result.
pub(crate) struct Root<T, C: Consume<T>> {
    up: Option<BoxPull<T>>,
    consume: C,
    promise: Promise<C::Output>,
    buf: Vec<T>,
    batch: usize,
}

impl<T, C: Consume<T>> Root<T, C> {
    pub(crate) fn new(
        up: BoxPull<T>,
        consume: C,
        promise: Promise<C::Output>,
        batch: usize,
    ) -> Self {
        Root {
            up: Some(up),
            consume,
            promise,
            buf: Vec::with_capacity(batch),
            batch,
        }
    }
}

// No field is structurally pinned.
impl<T, C: Consume<T>> Unpin for Root<T, C> {}

impl<T: Send + 'static, C: Consume<T>> Future for Root<T, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(up) = this.up.as_mut() else {
            return Poll::Ready(());
        };
        let result = loop {
            let step = match pull_guarded(up, cx, &mut this.buf, this.batch) {
                Poll::Pending => {
                    crate::diagnostics::waiting_for_element();
                    return Poll::Pending;
                }
                Poll::Ready(step) => step,
            };
            crate::diagnostics::passed(this.buf.len());
            if let ControlFlow::Break(r) = this.consume.on_batch(&mut this.buf) {
                break r;
            }
            match step {
                Step::Open => {}
                Step::Complete => break this.consume.on_complete(),
                Step::Failed(e) => break this.consume.on_failure(e),
            }
        };
        // Cancel (or release) upstream before reporting, so that by the time the completion
        // resolves, the island's resources are gone.
        this.up = None;
        this.buf.clear();
        this.promise.complete(result);
        Poll::Ready(())
    }
}

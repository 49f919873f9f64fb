//! Interop with `futures::Stream`, both ways.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;

use crate::stage::{guarded, poll_budget, pull_guarded, BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::StreamError;

/// Emits the items of a `futures::Stream`. A panic while polling it fails the stream naming
/// the source.
pub(crate) struct StreamPull<S> {
    stream: Pin<Box<S>>,
    name: Cow<'static, str>,
}

impl<S> StreamPull<S> {
    pub(crate) fn new(stream: S, name: Cow<'static, str>) -> Self {
        StreamPull {
            stream: Box::pin(stream),
            name,
        }
    }
}

impl<S> Pull<S::Item> for StreamPull<S>
where
    S: Stream + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<S::Item>, max: usize) -> Poll<Step> {
        if poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let before = out.len();
        while out.len() - before < max {
            let stream = self.stream.as_mut();
            match guarded(&self.name, || stream.poll_next(cx)) {
                Ok(Poll::Ready(Some(x))) => out.push(x),
                Ok(Poll::Ready(None)) => return Poll::Ready(Step::Complete),
                Ok(Poll::Pending) => break,
                Err(e) => return Poll::Ready(Step::Failed(e)),
            }
        }
        if out.len() > before {
            // A stream that knows it is exhausted (`once`, exact-size iterators) completes with
            // its last element instead of waiting for more demand to find out.
            if self.stream.size_hint() == (0, Some(0)) {
                Poll::Ready(Step::Complete)
            } else {
                Poll::Ready(Step::Open)
            }
        } else {
            Poll::Pending
        }
    }
}

/// A materialized source seen as a `futures::Stream` (from [`Source::into_stream`]).
///
/// [`Source::into_stream`]: crate::Source::into_stream
#[must_use = "streams do nothing unless polled"]
pub struct SourceStream<T> {
    up: Option<BoxPull<T>>,
    buf: Vec<T>,
    batch: usize,
    terminal: Option<Step>,
}

impl<T: Send + 'static> SourceStream<T> {
    pub(crate) fn new(up: BoxPull<T>, batch: usize) -> Self {
        SourceStream {
            up: Some(up),
            buf: Vec::with_capacity(batch),
            batch,
            terminal: None,
        }
    }
}

// No field is structurally pinned.
impl<T> Unpin for SourceStream<T> {}

impl<T: Send + 'static> Stream for SourceStream<T> {
    type Item = Result<T, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            // The batch is stored reversed, so popping yields elements in order.
            if let Some(x) = this.buf.pop() {
                return Poll::Ready(Some(Ok(x)));
            }
            if let Some(t) = this.terminal.take() {
                return Poll::Ready(match t {
                    Step::Failed(e) => Some(Err(e)),
                    _ => None,
                });
            }
            let Some(up) = this.up.as_mut() else {
                return Poll::Ready(None);
            };
            match pull_guarded(up, cx, &mut this.buf, this.batch) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(step) => {
                    this.buf.reverse();
                    if step.is_terminal() {
                        this.up = None;
                        this.terminal = Some(step);
                    }
                }
            }
        }
    }
}

impl<T> fmt::Debug for SourceStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceStream").finish_non_exhaustive()
    }
}

/// `from_stream_fn` under a supervision decider: a panic while polling the stream goes to the
/// decider. Restart, and Resume too, call the factory for a fresh stream: a stream that
/// panicked is not safe to poll again (an `async` stream panics again when resumed), where
/// Akka's Resume would go on with the same iterator.
pub(crate) struct SupervisedStreamPull<S, F> {
    inner: StreamPull<S>,
    make: Arc<F>,
    sup: Supervisor,
}

impl<S, F> SupervisedStreamPull<S, F> {
    pub(crate) fn new(stream: S, make: Arc<F>, sup: Supervisor) -> Self {
        SupervisedStreamPull {
            inner: StreamPull::new(stream, sup.name.clone()),
            make,
            sup,
        }
    }
}

impl<S, F> Pull<S::Item> for SupervisedStreamPull<S, F>
where
    S: Stream + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<S::Item>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let room = max - (out.len() - start);
            match self.inner.pull(cx, out, room) {
                Poll::Ready(Step::Failed(e)) => match self.sup.decide(&e) {
                    Directive::Stop => return Poll::Ready(Step::Failed(e)),
                    Directive::Resume | Directive::Restart => {
                        match self.sup.call(|| (self.make)()) {
                            Ok(stream) => self.inner.stream = Box::pin(stream),
                            Err(e) => return Poll::Ready(Step::Failed(e)),
                        }
                    }
                },
                Poll::Pending if out.len() > start => return Poll::Ready(Step::Open),
                other => return other,
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
        }
    }
}

//! `Sink::from_sink`: feeding a `futures::Sink`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::materializer::Promise;
use crate::stage::{pull_guarded, BoxPull, Step};
use crate::StreamError;

pub(crate) struct FromSink<T, S> {
    up: Option<BoxPull<T>>,
    sink: Option<Pin<Box<S>>>,
    /// Pulled elements not yet sent, stored reversed so `pop` yields them in order.
    buf: Vec<T>,
    terminal: Option<Step>,
    promise: Promise<()>,
    batch: usize,
}

impl<T, S> FromSink<T, S> {
    pub(crate) fn new(up: BoxPull<T>, sink: Option<S>, promise: Promise<()>, batch: usize) -> Self {
        FromSink {
            up: Some(up),
            sink: sink.map(Box::pin),
            buf: Vec::with_capacity(batch),
            terminal: None,
            promise,
            batch,
        }
    }
}

impl<T, S> Future for FromSink<T, S>
where
    T: Send + 'static,
    S: futures::Sink<T> + Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let result = match this.drive(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        this.up = None;
        this.sink = None;
        this.promise.complete(result);
        Poll::Ready(())
    }
}

// No field is structurally pinned (the sink is boxed), so moving the driver is fine.
impl<T, S> Unpin for FromSink<T, S> {}

impl<T: Send + 'static, S> FromSink<T, S>
where
    S: futures::Sink<T>,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamError>> {
        let Some(sink) = self.sink.as_mut() else {
            return Poll::Ready(Err(StreamError::AlreadyMaterialized { stage: "from_sink" }));
        };
        loop {
            if !self.buf.is_empty() {
                match sink.as_mut().poll_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(StreamError::failed(e))),
                    Poll::Ready(Ok(())) => {}
                }
                let x = self.buf.pop().expect("buffer is not empty");
                if let Err(e) = sink.as_mut().start_send(x) {
                    return Poll::Ready(Err(StreamError::failed(e)));
                }
                continue;
            }
            match self.terminal.take() {
                // The sink is not closed (the stream did not end well), but what it accepted
                // is flushed first, so no element it took is lost.
                Some(Step::Failed(e)) => {
                    return match sink.as_mut().poll_flush(cx) {
                        Poll::Pending => {
                            self.terminal = Some(Step::Failed(e));
                            Poll::Pending
                        }
                        Poll::Ready(_) => Poll::Ready(Err(e)),
                    };
                }
                Some(done) => {
                    return match sink.as_mut().poll_close(cx) {
                        Poll::Pending => {
                            self.terminal = Some(done);
                            Poll::Pending
                        }
                        Poll::Ready(r) => Poll::Ready(r.map_err(StreamError::failed)),
                    };
                }
                None => {}
            }
            let Some(up) = self.up.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match pull_guarded(up, cx, &mut self.buf, self.batch) {
                Poll::Pending => {
                    // Nothing to send for now: push out what the sink buffered.
                    if let Poll::Ready(Err(e)) = sink.as_mut().poll_flush(cx) {
                        return Poll::Ready(Err(StreamError::failed(e)));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(step) => {
                    self.buf.reverse();
                    if step.is_terminal() {
                        self.up = None;
                        self.terminal = Some(step);
                    }
                }
            }
        }
    }
}

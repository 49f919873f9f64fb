//! `Flow::lazy_flow`, and the prepending stage it and `Sink::lazy_sink` hand their inner
//! blueprint.

use std::task::{Context, Poll};

use crate::materializer::{completion, Promise};
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::{Attributes, Completion, Flow, Materializer, StreamError};

/// Emits `first`, then what `up` emits (or `up`'s terminal signal, if it came with `first`).
pub(crate) struct Prepended<T> {
    first: std::vec::IntoIter<T>,
    up: Option<BoxPull<T>>,
    terminal: Option<Step>,
}

impl<T> Prepended<T> {
    /// `first` then `up`, or, if `up` already ended with `first` (`terminal`), that end.
    pub(crate) fn new(first: Vec<T>, up: BoxPull<T>, terminal: Option<Step>) -> Self {
        let up = if terminal.is_some() { None } else { Some(up) };
        Prepended {
            first: first.into_iter(),
            up,
            terminal,
        }
    }
}

impl<T: Send + 'static> Pull<T> for Prepended<T> {
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match (&self.terminal, self.up.as_mut()) {
            (Some(Step::Failed(e)), _) => Poll::Ready(e.clone()),
            (_, Some(up)) => up.poll_failed(cx),
            _ => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        out.extend(self.first.by_ref().take(max));
        let room = max - (out.len() - start);
        if self.first.len() > 0 || room == 0 {
            return Poll::Ready(Step::Open);
        }
        if let Some(t) = self.terminal.take() {
            return Poll::Ready(t);
        }
        match self.up.as_mut() {
            Some(up) => match up.pull(cx, out, room) {
                Poll::Pending if out.len() > start => Poll::Ready(Step::Open),
                p => p,
            },
            None => Poll::Ready(Step::Complete),
        }
    }
}

/// Waits for the first element, then makes the flow, materializes it and runs through it.
pub(crate) struct LazyFlow<In, Out, M, F> {
    up: Option<BoxPull<In>>,
    factory: F,
    inner: Option<BoxPull<Out>>,
    promise: Option<Promise<M>>,
    buf: Vec<In>,
    attrs: Attributes,
    sup: Supervisor,
}

impl<In, Out, M, F> LazyFlow<In, Out, M, F> {
    pub(crate) fn new(up: BoxPull<In>, factory: F, attrs: &Attributes) -> (Self, Completion<M>) {
        let (promise, done) = completion();
        let stage = LazyFlow {
            up: Some(up),
            factory,
            inner: None,
            promise: Some(promise),
            buf: Vec::new(),
            attrs: attrs.clone(),
            sup: Supervisor::new("lazy_flow", attrs),
        };
        (stage, done)
    }

    fn never(&mut self) {
        if let Some(mut p) = self.promise.take() {
            p.complete(Err(StreamError::NeverMaterialized { stage: "lazy_flow" }));
        }
    }
}

impl<In, Out, M, F> Pull<Out> for LazyFlow<In, Out, M, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: Send + 'static,
    F: FnMut() -> Flow<In, Out, M> + Send + 'static,
{
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match (self.inner.as_mut(), self.up.as_mut()) {
            (Some(inner), _) => inner.poll_failed(cx),
            (None, Some(up)) => up.poll_failed(cx),
            _ => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        if self.inner.is_none() {
            let Some(up) = self.up.as_mut() else {
                return Poll::Ready(Step::Complete);
            };
            let step = match up.pull(cx, &mut self.buf, 1) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(step) => step,
            };
            if self.buf.is_empty() {
                // Ended before the first element: the flow is never made.
                self.up = None;
                self.never();
                return Poll::Ready(step);
            }
            let factory = &mut self.factory;
            let flow = match self.sup.call(factory) {
                Ok(flow) => flow,
                Err(e) => {
                    self.up = None;
                    if let Some(mut p) = self.promise.take() {
                        p.complete(Err(e.clone()));
                    }
                    return Poll::Ready(Step::Failed(e));
                }
            };
            let up = self
                .up
                .take()
                .expect("upstream is open until the flow is made");
            let terminal = step.is_terminal().then_some(step);
            let first = std::mem::take(&mut self.buf);
            let feed: BoxPull<In> = Box::new(Prepended::new(first, up, terminal));
            let mut m = Materializer::new();
            let (inner, mat) = flow.materialize_into(&mut m, feed, &self.attrs);
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

impl<In, Out, M, F> Drop for LazyFlow<In, Out, M, F> {
    fn drop(&mut self) {
        self.never();
    }
}

//! `scan_async` and `fold_async`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::stage::{poll_caught, BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// Folds with an asynchronous step, one element at a time. With `EMIT_EACH` it is `scan_async`
/// (emits the seed, then every new state); without, `fold_async` (emits the final state).
pub(crate) struct AsyncFold<In, S, F, Fut, const EMIT_EACH: bool> {
    up: Option<BoxPull<In>>,
    zero: S,
    /// The state, when no step is running.
    acc: Option<S>,
    f: F,
    running: Option<Pin<Box<Fut>>>,
    /// State saved for Resume while a step runs.
    saved: Option<S>,
    inbuf: std::collections::VecDeque<In>,
    scratch: Vec<In>,
    started: bool,
    upstream_done: Option<Step>,
    sup: Supervisor,
}

impl<In, S: Clone, F, Fut, const EMIT_EACH: bool> AsyncFold<In, S, F, Fut, EMIT_EACH> {
    pub(crate) fn new(up: BoxPull<In>, zero: S, f: F, attrs: &Attributes) -> Self {
        AsyncFold {
            up: Some(up),
            acc: Some(zero.clone()),
            zero,
            f,
            running: None,
            saved: None,
            inbuf: Default::default(),
            scratch: Vec::new(),
            started: false,
            upstream_done: None,
            sup: Supervisor::new(
                if EMIT_EACH {
                    "scan_async"
                } else {
                    "fold_async"
                },
                attrs,
            ),
        }
    }
}

impl<In, S, F, Fut, const EMIT_EACH: bool> AsyncFold<In, S, F, Fut, EMIT_EACH>
where
    S: Clone,
{
    /// Applies the directive for `e`; `Some` to fail the stage.
    fn on_error(&mut self, e: StreamError, out: &mut Vec<S>) -> Option<StreamError> {
        match self.sup.decide(&e) {
            Directive::Stop => Some(e),
            Directive::Resume => {
                self.acc = self.saved.take().or_else(|| Some(self.zero.clone()));
                None
            }
            Directive::Restart => {
                self.acc = Some(self.zero.clone());
                if EMIT_EACH {
                    out.push(self.zero.clone());
                }
                None
            }
        }
    }
}

impl<In, S, F, Fut, const EMIT_EACH: bool> Pull<S> for AsyncFold<In, S, F, Fut, EMIT_EACH>
where
    In: Send + 'static,
    S: Clone + Send + 'static,
    F: FnMut(S, In) -> Fut + Send + 'static,
    Fut: Future<Output = S> + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<S>, max: usize) -> Poll<Step> {
        let start = out.len();
        if EMIT_EACH && !self.started {
            self.started = true;
            out.push(self.zero.clone());
        }
        loop {
            if out.len() - start >= max {
                return Poll::Ready(Step::Open);
            }
            if let Some(fut) = self.running.as_mut() {
                match poll_caught(fut.as_mut(), cx) {
                    Poll::Pending => break,
                    Poll::Ready(Ok(next)) => {
                        self.running = None;
                        self.saved = None;
                        if EMIT_EACH {
                            out.push(next.clone());
                        }
                        self.acc = Some(next);
                    }
                    Poll::Ready(Err(p)) => {
                        self.running = None;
                        let e = StreamError::panicked(self.sup.name.clone(), p);
                        if let Some(e) = self.on_error(e, out) {
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
                }
                continue;
            }
            if let Some(x) = self.inbuf.pop_front() {
                let acc = self.acc.take().expect("state present between steps");
                self.saved = self.sup.is_supervised().then(|| acc.clone());
                let f = &mut self.f;
                match self.sup.call(|| f(acc, x)) {
                    Ok(fut) => self.running = Some(Box::pin(fut)),
                    Err(e) => {
                        if let Some(e) = self.on_error(e, out) {
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
                }
                continue;
            }
            if let Some(t) = self.upstream_done.take() {
                if let (Step::Complete, false) = (&t, EMIT_EACH) {
                    out.push(self.acc.take().unwrap_or_else(|| self.zero.clone()));
                }
                return Poll::Ready(t);
            }
            let Some(up) = self.up.as_mut() else { break };
            match up.pull(cx, &mut self.scratch, 1) {
                Poll::Pending => break,
                Poll::Ready(step) => {
                    self.inbuf.extend(self.scratch.drain(..));
                    if step.is_terminal() {
                        self.up = None;
                        self.upstream_done = Some(step);
                    }
                }
            }
        }
        if out.len() > start {
            Poll::Ready(Step::Open)
        } else {
            Poll::Pending
        }
    }
}

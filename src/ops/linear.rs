//! The skeleton shared by one-input, one-output operators that process elements one by one.
//!
//! An operator supplies a [`Logic`]; [`Linear`] does the batching, demand, supervision,
//! completion and cancellation around it. Output beyond the current demand (an operator that
//! emits more than one element per input, or flushes at completion) waits in a small overflow
//! queue bounded by a constant factor of the demand.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll};

use crate::stage::{guarded, BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// What an operator wants after an element.
pub(crate) enum Ctl {
    /// Keep going.
    Continue,
    /// Complete now and cancel upstream (`take`, `take_while`).
    Complete,
    /// Fail now with an error that is not subject to supervision (`limit`).
    Fail(StreamError),
}

/// Where a [`Logic`] emits, and how it runs user code.
pub(crate) struct Emit<'a, Out> {
    out: &'a mut Vec<Out>,
    limit: usize,
    overflow: &'a mut VecDeque<Out>,
    pub(crate) sup: &'a Supervisor,
    /// Whether to catch panics per call (with a decider) rather than per batch.
    per_element: bool,
}

impl<Out> Emit<'_, Out> {
    #[inline]
    pub(crate) fn push(&mut self, x: Out) {
        if self.out.len() < self.limit {
            self.out.push(x);
        } else {
            self.overflow.push_back(x);
        }
    }

    /// Runs user code. With a decider attached a panic becomes an error for it; without one,
    /// the panic is caught once per batch by [`Linear`] (cheaper, and Stop is all that can happen).
    #[inline]
    pub(crate) fn call<R>(&self, f: impl FnOnce() -> R) -> Result<R, StreamError> {
        if self.per_element {
            self.sup.call(f)
        } else {
            Ok(f())
        }
    }

    /// Whether a decider is attached (so the logic may need to keep state for Resume).
    #[inline]
    pub(crate) fn supervised(&self) -> bool {
        self.sup.is_supervised()
    }
}

/// The per-operator part of a one-by-one stage.
pub(crate) trait Logic<In, Out>: Send + 'static {
    /// Before the first element, on the first pull (`scan` emits its seed here).
    fn on_start(&mut self, _out: &mut Emit<'_, Out>) -> Ctl {
        Ctl::Continue
    }

    /// One element. `Err` is a failure of user code, handed to the supervision decider.
    fn on_element(&mut self, x: In, out: &mut Emit<'_, Out>) -> Result<Ctl, StreamError>;

    /// Upstream completed; emit what is left. An `Err` fails the stream.
    fn on_complete(&mut self, _out: &mut Emit<'_, Out>) -> Result<(), StreamError> {
        Ok(())
    }

    /// Upstream failed; `Ok` recovers (the stage completes), `Err` propagates.
    fn on_failure(
        &mut self,
        error: StreamError,
        _out: &mut Emit<'_, Out>,
    ) -> Result<(), StreamError> {
        Err(error)
    }

    /// Whether `on_failure` does more than pass the failure on (recovers, transforms, records
    /// or flushes): then a failure must reach it through a pull, not overtake it.
    fn intercepts_failure(&self) -> bool {
        false
    }

    /// Whether completion passes through unchanged: `on_start` and `on_complete` emit nothing
    /// and record nothing. Then a consumer may learn of it without a pull. `false` unless a
    /// logic says so.
    fn passes_completion(&self) -> bool {
        false
    }

    /// The stage itself failed (its user code, under Stop); emit what is owed before the failure.
    fn on_stop(&mut self, _error: &StreamError, _out: &mut Emit<'_, Out>) {}

    /// Supervision chose Restart: reset accumulated state. `Ctl::Fail` fails the stage (the
    /// state could not be re-created).
    fn on_restart(&mut self, _out: &mut Emit<'_, Out>) -> Ctl {
        Ctl::Continue
    }

    /// How many elements to request from upstream for a downstream demand of `max`.
    fn demand(&self, max: usize) -> usize {
        max
    }
}

/// A stage running a [`Logic`].
pub(crate) struct Linear<In, Out, L> {
    up: Option<BoxPull<In>>,
    logic: L,
    sup: Supervisor,
    inbuf: Vec<In>,
    overflow: VecDeque<Out>,
    started: bool,
    terminal: Option<Step>,
}

impl<In, Out, L> Linear<In, Out, L> {
    pub(crate) fn new(up: BoxPull<In>, logic: L, name: &'static str, attrs: &Attributes) -> Self {
        Linear {
            up: Some(up),
            logic,
            sup: Supervisor::new(name, attrs),
            inbuf: Vec::new(),
            overflow: VecDeque::new(),
            started: false,
            terminal: None,
        }
    }
}

impl<In, Out, L> Pull<Out> for Linear<In, Out, L>
where
    In: Send + 'static,
    Out: Send + 'static,
    L: Logic<In, Out>,
{
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) if !self.logic.intercepts_failure() => up.poll_failed(cx),
            _ => Poll::Pending,
        }
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // `passes_completion` logics emit nothing on start, so one never pulled holds nothing.
        let holding = !self.overflow.is_empty() || !self.inbuf.is_empty();
        match self.up.as_mut() {
            Some(up) if self.logic.passes_completion() && !holding => up.poll_complete(cx),
            _ => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let start = out.len();
        let limit = start + max;
        while out.len() < limit {
            match self.overflow.pop_front() {
                Some(x) => out.push(x),
                None => break,
            }
        }
        if self.overflow.is_empty() {
            if let Some(t) = self.terminal.take() {
                return Poll::Ready(t);
            }
        }
        if out.len() == limit || self.terminal.is_some() {
            return Poll::Ready(Step::Open);
        }
        let Linear {
            up,
            logic,
            sup,
            inbuf,
            overflow,
            started,
            terminal,
        } = self;
        let per_element = sup.is_supervised();
        // Whether the stage failed by its own user code (not by an upstream failure).
        let mut own_failure = false;
        let mut emit = Emit {
            out,
            limit,
            overflow,
            sup,
            per_element,
        };
        if !*started {
            *started = true;
            match guarded(&emit.sup.name, || logic.on_start(&mut emit)) {
                Ok(Ctl::Continue) => {}
                Ok(Ctl::Complete) => *terminal = Some(Step::Complete),
                Ok(Ctl::Fail(e)) | Err(e) => {
                    *terminal = Some(Step::Failed(e));
                    own_failure = true;
                }
            }
        }
        while terminal.is_none() && emit.out.len() < limit {
            let Some(upstream) = up.as_mut() else { break };
            let want = logic.demand(limit - emit.out.len()).max(1);
            let step = match upstream.pull(cx, inbuf, want) {
                Poll::Pending => break,
                Poll::Ready(step) => step,
            };
            let mut batch = |emit: &mut Emit<'_, Out>| -> Option<Step> {
                for x in inbuf.drain(..) {
                    match logic.on_element(x, emit) {
                        Ok(Ctl::Continue) => {}
                        Ok(Ctl::Complete) => return Some(Step::Complete),
                        Ok(Ctl::Fail(e)) => return Some(Step::Failed(e)),
                        Err(e) => match emit.sup.decide(&e) {
                            Directive::Stop => return Some(Step::Failed(e)),
                            Directive::Resume => {}
                            Directive::Restart => match logic.on_restart(emit) {
                                Ctl::Fail(e) => return Some(Step::Failed(e)),
                                Ctl::Continue | Ctl::Complete => {}
                            },
                        },
                    }
                }
                None
            };
            *terminal = if per_element {
                batch(&mut emit)
            } else {
                // One guard for the whole batch: without a decider a panic can only stop the
                // stage, and the logic is never called again after it.
                match catch_unwind(AssertUnwindSafe(|| batch(&mut emit))) {
                    Ok(t) => t,
                    Err(payload) => Some(Step::Failed(StreamError::panicked(
                        emit.sup.name.clone(),
                        payload,
                    ))),
                }
            };
            own_failure = matches!(terminal, Some(Step::Failed(_)));
            if terminal.is_none() {
                match step {
                    Step::Open => {}
                    Step::Complete => {
                        *terminal = Some(
                            match guarded(&emit.sup.name, || logic.on_complete(&mut emit)) {
                                Ok(Ok(())) => Step::Complete,
                                Ok(Err(e)) | Err(e) => Step::Failed(e),
                            },
                        )
                    }
                    Step::Failed(e) => {
                        *terminal = Some(
                            match guarded(&emit.sup.name, || logic.on_failure(e, &mut emit)) {
                                Ok(Ok(())) => Step::Complete,
                                Ok(Err(e)) | Err(e) => Step::Failed(e),
                            },
                        )
                    }
                }
            }
        }
        if let Some(Step::Failed(e)) = terminal.as_ref() {
            if own_failure {
                let mut emit = Emit {
                    out,
                    limit,
                    overflow,
                    sup,
                    per_element: true,
                };
                let _ = guarded(&emit.sup.name, || logic.on_stop(e, &mut emit));
            }
        }
        if terminal.is_some() {
            // Cancel (or release) upstream as soon as this stage is done with it.
            *up = None;
            inbuf.clear();
            if overflow.is_empty() {
                return Poll::Ready(terminal.take().expect("terminal was just checked"));
            }
        }
        if out.len() > start {
            Poll::Ready(Step::Open)
        } else {
            Poll::Pending
        }
    }
}

//! The island that runs a custom stage's logic.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::context::{StageContext, StageState};
use super::ports::{InEvent, InPort, OutEvent, OutPort, PortId};
use super::timers::Timers;
use super::StageLogic;
use crate::stage::Step;
use crate::StreamError;

/// How many async-callback messages one poll handles before giving other events a turn.
const MESSAGES_PER_POLL: usize = 64;

pub(crate) struct StageIsland<L: StageLogic> {
    logic: L,
    name: Cow<'static, str>,
    ins: Vec<Box<dyn InPort>>,
    outs: Vec<Box<dyn OutPort>>,
    timers: Timers,
    state: StageState,
    messages: mpsc::Receiver<L::Message>,
    started: bool,
    stopped: bool,
}

impl<L: StageLogic> StageIsland<L> {
    pub(crate) fn new(
        logic: L,
        name: Cow<'static, str>,
        ins: Vec<Box<dyn InPort>>,
        outs: Vec<Box<dyn OutPort>>,
        messages: mpsc::Receiver<L::Message>,
    ) -> Self {
        let state = StageState {
            fixed_ins: ins.len(),
            fixed_outs: outs.len(),
            ..StageState::default()
        };
        StageIsland {
            logic,
            name,
            ins,
            outs,
            timers: Timers::default(),
            state,
            messages,
            started: false,
            stopped: false,
        }
    }

    /// Fails the stage before any handler runs: its shape is inconsistent.
    pub(crate) fn fail_at_start(&mut self, port: &'static str, problem: &'static str) {
        self.started = true;
        self.state.failure = Some(StreamError::StageMisuse {
            stage: self.name.clone(),
            port,
            problem,
        });
    }

    /// Runs one handler with a fresh context; a panic fails the stage.
    fn handle(&mut self, f: impl FnOnce(&mut L, &mut StageContext<'_, L::Message>)) {
        let mut ctx = StageContext {
            stage: &self.name,
            ins: &mut self.ins,
            outs: &mut self.outs,
            timers: &mut self.timers,
            state: &mut self.state,
            _m: PhantomData,
        };
        let logic = &mut self.logic;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(logic, &mut ctx))) {
            let e = StreamError::panicked(self.name.clone(), payload);
            if self.state.failure.is_none() {
                self.state.failure = Some(e);
            }
        }
        if self.stopping() {
            // No handler runs from now on: a value sent now would never be delivered.
            self.messages.close();
        }
    }

    /// Runs the handler for `event` on inlet `i`.
    fn dispatch(&mut self, i: usize, event: InEvent) {
        match event {
            InEvent::Push => self.handle(|l, ctx| l.on_push(PortId(i), ctx)),
            InEvent::Finish => self.handle(|l, ctx| l.on_upstream_finish(PortId(i), ctx)),
            InEvent::Failure(e) => self.handle(|l, ctx| l.on_upstream_failure(PortId(i), e, ctx)),
        }
    }

    /// Applies `complete_stage`/`fail_stage`; true once every port is closed and nothing is
    /// queued, so the stage can stop.
    fn settle(&mut self) -> bool {
        if let Some(e) = self.state.failure.take() {
            for i in &mut self.ins {
                i.cancel();
            }
            for o in &mut self.outs {
                o.finish(Step::Failed(e.clone()));
            }
            return true;
        }
        if self.state.completing {
            for i in &mut self.ins {
                i.cancel();
            }
            for o in &mut self.outs {
                o.finish(Step::Complete);
            }
            return self.outs.iter().all(|o| o.is_closed());
        }
        let all_closed =
            self.ins.iter().all(|i| i.is_closed()) && self.outs.iter().all(|o| o.is_closed());
        all_closed && !self.state.keep_going
    }

    /// `complete_stage` or `fail_stage` was called (or the stage failed).
    fn stopping(&self) -> bool {
        self.state.failure.is_some() || self.state.completing
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.messages.close();
            for o in &mut self.outs {
                o.finish(Step::Complete);
            }
            let logic = &mut self.logic;
            let _ = catch_unwind(AssertUnwindSafe(|| logic.post_stop()));
        }
    }
}

impl<L: StageLogic> Unpin for StageIsland<L> {}

impl<L: StageLogic> Future for StageIsland<L> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.stopped {
            return Poll::Ready(());
        }
        if !this.started {
            this.started = true;
            this.handle(|l, ctx| l.pre_start(ctx));
        }
        'events: loop {
            if this.settle() {
                this.stop();
                return Poll::Ready(());
            }
            let mut progressed = false;
            for i in 0..this.outs.len() {
                match this.outs[i].poll_event(cx) {
                    Some(OutEvent::Pull) => this.handle(|l, ctx| l.on_pull(PortId(i), ctx)),
                    Some(OutEvent::Closed) => {}
                    Some(OutEvent::DownstreamFinish) => {
                        this.handle(|l, ctx| l.on_downstream_finish(PortId(i), ctx))
                    }
                    None => continue,
                }
                progressed = true;
                if this.stopping() {
                    // No handler runs once the stage is stopping; settle it first.
                    continue 'events;
                }
            }
            for i in 0..this.ins.len() {
                let Some(event) = this.ins[i].poll_event(cx) else {
                    continue;
                };
                this.dispatch(i, event);
                progressed = true;
                if this.stopping() {
                    continue 'events;
                }
            }
            if this.stopping() {
                // Completing behind queued emits: only the outlets still have work.
                if !progressed {
                    for o in &mut this.outs {
                        o.flush();
                    }
                    return Poll::Pending;
                }
                continue 'events;
            }
            for _ in 0..MESSAGES_PER_POLL {
                match this.messages.poll_recv(cx) {
                    Poll::Ready(Some(m)) => {
                        this.handle(|l, ctx| l.on_message(m, ctx));
                        progressed = true;
                        if this.stopping() {
                            continue 'events;
                        }
                    }
                    _ => break,
                }
            }
            if let Some(key) = this.timers.poll_due(cx) {
                this.handle(|l, ctx| l.on_timer(key, ctx));
                progressed = true;
            }
            // A logic that always has work (a hot upstream, self-sent messages) still yields.
            if !progressed || crate::stage::poll_budget(cx).is_pending() {
                // Inlets the logic is not pulling may still end (Akka signals termination
                // without a pull); asked once per turn, not on every event.
                let mut ended = false;
                for i in 0..this.ins.len() {
                    if let Some(event) = this.ins[i].poll_unpulled(cx) {
                        this.dispatch(i, event);
                        ended = true;
                    }
                }
                if ended {
                    continue 'events;
                }
                let mut cancelled = false;
                for o in &mut this.outs {
                    o.flush();
                    // Downstream cancelling must wake the stage even while it has credit left.
                    cancelled |= o.watch_cancel(cx);
                }
                if cancelled && !progressed {
                    continue 'events;
                }
                // Either nothing to do (wakers are registered) or out of budget (the budget's
                // waker reschedules the task).
                return Poll::Pending;
            }
        }
    }
}

impl<L: StageLogic> Drop for StageIsland<L> {
    fn drop(&mut self) {
        // Abrupt termination (the task was aborted): downstream learns of it, and post_stop runs.
        if !self.stopped {
            for o in &mut self.outs {
                o.finish(Step::Failed(StreamError::AbruptTermination));
            }
            self.stop();
        }
    }
}

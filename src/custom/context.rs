//! What a custom stage's handlers can do: the stage context.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::Duration;

use super::ports::{InPort, InSlot, Inlet, OutPort, OutSlot, Outlet};
use super::timers::{TimerKey, Timers};
use crate::stage::Step;
use crate::StreamError;

/// Stage-wide state the handlers change.
#[derive(Default)]
pub(crate) struct StageState {
    pub(crate) keep_going: bool,
    /// `complete_stage` was called.
    pub(crate) completing: bool,
    /// The stage must fail (explicitly or by misuse).
    pub(crate) failure: Option<StreamError>,
}

/// The operations available to a [`StageLogic`](super::StageLogic)'s handlers (Akka's
/// `GraphStageLogic` methods). Handlers run one at a time on the stage's task, so the logic
/// needs no locks.
///
/// Misuse — pushing without a pull, pulling twice, grabbing with nothing pushed, pushing to a
/// closed port — does not panic: the stage fails with [`StreamError::StageMisuse`] naming the
/// stage and the port once the handler returns.
pub struct StageContext<'a, M> {
    pub(crate) stage: &'a Cow<'static, str>,
    pub(crate) ins: &'a mut [Box<dyn InPort>],
    pub(crate) outs: &'a mut [Box<dyn OutPort>],
    pub(crate) timers: &'a mut Timers,
    pub(crate) state: &'a mut StageState,
    pub(crate) _m: PhantomData<fn(M)>,
}

impl<M> std::fmt::Debug for StageContext<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageContext")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl<M> StageContext<'_, M> {
    fn misuse(&mut self, port: &'static str, problem: &'static str) {
        if self.state.failure.is_none() {
            self.state.failure = Some(StreamError::StageMisuse {
                stage: self.stage.clone(),
                port,
                problem,
            });
        }
    }

    fn inlet<T: Send + 'static>(&mut self, inlet: &Inlet<T>) -> Option<&mut InSlot<T>> {
        self.ins
            .get_mut(inlet.id)?
            .as_any()
            .downcast_mut::<InSlot<T>>()
    }

    fn outlet<T: Send + 'static>(&mut self, outlet: &Outlet<T>) -> Option<&mut OutSlot<T>> {
        self.outs
            .get_mut(outlet.id)?
            .as_any()
            .downcast_mut::<OutSlot<T>>()
    }

    /// The stage's name.
    pub fn stage_name(&self) -> &str {
        self.stage
    }

    /// Requests one element on `inlet`; `on_push` follows when it arrives.
    pub fn pull<T: Send + 'static>(&mut self, inlet: &Inlet<T>) {
        let Some(slot) = self.inlet(inlet) else {
            return self.misuse(inlet.name, "not a port of this stage");
        };
        if slot.closed {
            return self.misuse(inlet.name, "pull on a closed port");
        }
        if slot.pulled || slot.grabbed.is_some() {
            return self.misuse(
                inlet.name,
                "pulled twice (already pulled, or an element is waiting to be grabbed)",
            );
        }
        slot.pulled = true;
    }

    /// Requests one element unless `inlet` is closed or already pulled.
    pub fn try_pull<T: Send + 'static>(&mut self, inlet: &Inlet<T>) {
        if let Some(slot) = self.inlet(inlet) {
            if !slot.closed && !slot.pulled && slot.grabbed.is_none() {
                slot.pulled = true;
            }
        }
    }

    /// Takes the element pushed on `inlet`. Grabbing with nothing pushed is misuse: it returns
    /// `None` and fails the stage.
    pub fn grab<T: Send + 'static>(&mut self, inlet: &Inlet<T>) -> Option<T> {
        let taken = self.inlet(inlet).and_then(|slot| slot.grabbed.take());
        if taken.is_none() {
            self.misuse(inlet.name, "grab with no element pushed");
        }
        taken
    }

    /// Whether an element was pushed on `inlet` and not yet grabbed.
    pub fn is_available<T: Send + 'static>(&mut self, inlet: &Inlet<T>) -> bool {
        self.inlet(inlet).is_some_and(|s| s.grabbed.is_some())
    }

    /// Whether `inlet` was pulled and its element has not arrived yet.
    pub fn has_been_pulled<T: Send + 'static>(&mut self, inlet: &Inlet<T>) -> bool {
        self.inlet(inlet).is_some_and(|s| s.pulled)
    }

    /// Whether `inlet` is closed (upstream finished or failed, or the stage cancelled it).
    pub fn is_closed<T: Send + 'static>(&mut self, inlet: &Inlet<T>) -> bool {
        self.inlet(inlet).is_none_or(|s| s.closed)
    }

    /// Cancels `inlet`: upstream is told to stop.
    pub fn cancel<T: Send + 'static>(&mut self, inlet: &Inlet<T>) {
        if let Some(slot) = self.ins.get_mut(inlet.id) {
            slot.cancel();
        }
    }

    /// Pushes `x` on `outlet`; allowed once per `on_pull`.
    pub fn push<T: Send + 'static>(&mut self, outlet: &Outlet<T>, x: T) {
        let Some(slot) = self.outlet(outlet) else {
            return self.misuse(outlet.name, "not a port of this stage");
        };
        if slot.closed {
            return self.misuse(outlet.name, "push to a closed port");
        }
        if !slot.available {
            return self.misuse(outlet.name, "push without pull");
        }
        slot.push(x);
    }

    /// Whether downstream has pulled `outlet` and nothing was pushed since.
    pub fn is_available_out<T: Send + 'static>(&mut self, outlet: &Outlet<T>) -> bool {
        self.outlet(outlet)
            .is_some_and(|s| s.available && !s.closed)
    }

    /// Whether `outlet` is closed (completed, failed, or cancelled by downstream).
    pub fn is_closed_out<T: Send + 'static>(&mut self, outlet: &Outlet<T>) -> bool {
        self.outlet(outlet).is_none_or(|s| s.closed)
    }

    /// Pushes `x` now if `outlet` was pulled, otherwise queues it to be pushed on the next pulls
    /// (Akka's `emit`). Queued elements are sent before a later `complete(outlet)`.
    pub fn emit<T: Send + 'static>(&mut self, outlet: &Outlet<T>, x: T) {
        self.emit_multiple(outlet, std::iter::once(x));
    }

    /// Emits every element of `xs` in order (Akka's `emitMultiple`).
    pub fn emit_multiple<T: Send + 'static>(
        &mut self,
        outlet: &Outlet<T>,
        xs: impl IntoIterator<Item = T>,
    ) {
        let Some(slot) = self.outlet(outlet) else {
            return self.misuse(outlet.name, "not a port of this stage");
        };
        if slot.closed {
            return self.misuse(outlet.name, "emit to a closed port");
        }
        let mut xs = xs.into_iter();
        if slot.available && slot.emits.is_empty() {
            if let Some(first) = xs.next() {
                slot.push(first);
            }
        }
        slot.emits.extend(xs);
    }

    /// Completes `outlet` once its queued emits are sent.
    pub fn complete<T: Send + 'static>(&mut self, outlet: &Outlet<T>) {
        if let Some(slot) = self.outs.get_mut(outlet.id) {
            slot.finish(Step::Complete);
        }
    }

    /// Fails `outlet` with `error` at once.
    pub fn fail<T: Send + 'static>(&mut self, outlet: &Outlet<T>, error: StreamError) {
        if let Some(slot) = self.outs.get_mut(outlet.id) {
            slot.finish(Step::Failed(error));
        }
    }

    /// Cancels every inlet and completes every outlet (after queued emits); the stage stops.
    pub fn complete_stage(&mut self) {
        self.state.completing = true;
    }

    /// Cancels every inlet and fails every outlet with `error`; the stage stops.
    pub fn fail_stage(&mut self, error: StreamError) {
        if self.state.failure.is_none() {
            self.state.failure = Some(error);
        }
    }

    /// Keeps the stage running after all its ports closed (for timers and async callbacks),
    /// until `complete_stage` or `fail_stage`.
    pub fn set_keep_going(&mut self, keep_going: bool) {
        self.state.keep_going = keep_going;
    }

    /// Fires `on_timer(key)` once after `delay`; replaces any timer with the same key.
    pub fn schedule_once(&mut self, key: TimerKey, delay: Duration) {
        self.timers.schedule(key, delay, None, false);
    }

    /// Fires `on_timer(key)` after `initial`, then `interval` after each firing was handled.
    pub fn schedule_with_fixed_delay(
        &mut self,
        key: TimerKey,
        initial: Duration,
        interval: Duration,
    ) {
        self.timers.schedule(key, initial, Some(interval), false);
    }

    /// Fires `on_timer(key)` after `initial`, then every `interval` on a fixed schedule.
    pub fn schedule_at_fixed_rate(&mut self, key: TimerKey, initial: Duration, interval: Duration) {
        self.timers.schedule(key, initial, Some(interval), true);
    }

    /// Cancels the timer with `key`, if any.
    pub fn cancel_timer(&mut self, key: TimerKey) {
        self.timers.cancel(key);
    }

    /// Whether a timer with `key` is scheduled.
    pub fn is_timer_active(&self, key: TimerKey) -> bool {
        self.timers.is_active(key)
    }
}

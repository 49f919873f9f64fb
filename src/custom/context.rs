//! What a custom stage's handlers can do: the stage context.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ports::{InPort, InSlot, Inlet, OutPort, OutSlot, Outlet, PortId};
use super::timers::{TimerKey, Timers};
use crate::attributes::DEFAULT_INPUT_BUFFER;
use crate::stage::{BoxPull, Step};
use crate::sync::lock;
use crate::{NotUsed, Sink, Source, StreamError};

/// Stage-wide state the handlers change.
#[derive(Default)]
pub(crate) struct StageState {
    pub(crate) keep_going: bool,
    /// `complete_stage` was called.
    pub(crate) completing: bool,
    /// The stage must fail (explicitly or by misuse).
    pub(crate) failure: Option<StreamError>,
    /// How many inlets and outlets the shape declared; ports numbered from there on are
    /// sub-stream ports created while the stage runs.
    pub(crate) fixed_ins: usize,
    pub(crate) fixed_outs: usize,
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
    pub(crate) ins: &'a mut Vec<Box<dyn InPort>>,
    pub(crate) outs: &'a mut Vec<Box<dyn OutPort>>,
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

    /// A new input port fed by a sub-stream (Akka's `SubSinkInlet`): the returned sink, run
    /// with any source (`source.to(sink).run()` from a handler), delivers into `inlet`.
    ///
    /// The inlet is used like the shape's own — [`pull`](StageContext::pull),
    /// [`grab`](StageContext::grab), [`cancel`](StageContext::cancel) — and its events reach
    /// the same handlers with its [`PortId`] (numbered after the shape's inlets). The default
    /// `on_upstream_finish` does not complete the stage for a sub-stream inlet (it does for the
    /// shape's own); a failure fails the stage by default, as for any inlet. Like the shape's
    /// inlets it prefetches up to 16 elements ahead of the pulls.
    ///
    /// The sink can be materialized once: a second materialization cancels its upstream at
    /// once. Dropping it unmaterialized fails the inlet with
    /// [`StreamError::AbruptTermination`]. When the stage stops, the inlet is cancelled.
    ///
    /// ```
    /// use weir::custom::{AsyncCallback, FlowShape, GraphStage, Inlet, PortId, StageContext};
    /// use weir::custom::StageLogic;
    /// use weir::prelude::*;
    ///
    /// /// Replaces each element `n` with the elements of a sub-stream `0..n`, one sub-stream
    /// /// at a time (a hand-written `flat_map_concat`).
    /// struct Expand;
    /// struct ExpandLogic {
    ///     shape: FlowShape<u32, u32>,
    ///     sub: Option<Inlet<u32>>,
    /// }
    ///
    /// impl GraphStage for Expand {
    ///     type Shape = FlowShape<u32, u32>;
    ///     type Logic = ExpandLogic;
    ///     type Mat = ();
    ///     fn name(&self) -> &'static str {
    ///         "expand"
    ///     }
    ///     fn shape(&self) -> Self::Shape {
    ///         FlowShape::new("in", "out")
    ///     }
    ///     fn create_logic(
    ///         &self,
    ///         _: &weir::Attributes,
    ///         _: AsyncCallback<()>,
    ///     ) -> (ExpandLogic, ()) {
    ///         (ExpandLogic { shape: self.shape(), sub: None }, ())
    ///     }
    /// }
    ///
    /// impl StageLogic for ExpandLogic {
    ///     type Message = ();
    ///     fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         match self.sub {
    ///             Some(sub) => ctx.pull(&sub),
    ///             None => ctx.pull(&self.shape.inlet),
    ///         }
    ///     }
    ///     fn on_push(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         if port == self.shape.inlet {
    ///             let n = ctx.grab(&self.shape.inlet).unwrap();
    ///             let (sub, sink) = ctx.sub_sink_inlet::<u32>("range");
    ///             Source::from_iter(0..n).to(sink).run();
    ///             ctx.pull(&sub);
    ///             self.sub = Some(sub);
    ///         } else if let Some(sub) = self.sub {
    ///             let x = ctx.grab(&sub).unwrap();
    ///             ctx.push(&self.shape.out, x);
    ///         }
    ///     }
    ///     fn on_upstream_finish(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         match self.sub {
    ///             // The sub-stream ended: read the next element.
    ///             Some(sub) if port == sub => {
    ///                 self.sub = None;
    ///                 if ctx.is_closed(&self.shape.inlet) {
    ///                     ctx.complete_stage();
    ///                 } else if ctx.is_available_out(&self.shape.out) {
    ///                     ctx.pull(&self.shape.inlet);
    ///                 }
    ///             }
    ///             // The main upstream ended: finish after the open sub-stream.
    ///             Some(_) => {}
    ///             None => ctx.complete_stage(),
    ///         }
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![2, 0, 3])
    ///     .via(Flow::from_graph(Expand))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 0, 1, 2]);
    /// # }
    /// ```
    pub fn sub_sink_inlet<T: Send + 'static>(
        &mut self,
        name: &'static str,
    ) -> (Inlet<T>, Sink<T, NotUsed>) {
        let (tx, rx) = crate::boundary::channel::<T>(DEFAULT_INPUT_BUFFER);
        let inlet = Inlet::new(self.ins.len(), name);
        self.ins
            .push(Box::new(InSlot::new(Box::new(rx), DEFAULT_INPUT_BUFFER)));
        let slot = Arc::new(Mutex::new(Some(tx)));
        let label: Cow<'static, str> = format!("{} sub-stream `{name}`", self.stage).into();
        let sink = Sink::from_fn(move |m, up, _| {
            if let Some(tx) = lock(&slot).take() {
                m.spawn_labeled(label.clone(), None, crate::boundary::forward(up, tx));
            }
            // Otherwise `up` is dropped here: a second run is cancelled at once.
        });
        (inlet, sink)
    }

    /// A new output port read by a sub-stream (Akka's `SubSourceOutlet`): the returned source,
    /// run anywhere (or emitted as an element on one of the stage's outlets), reads what the
    /// stage pushes on `outlet`.
    ///
    /// The outlet is used like the shape's own — `on_pull`, [`push`](StageContext::push),
    /// [`emit`](StageContext::emit), [`complete`](StageContext::complete),
    /// [`fail`](StageContext::fail) — and its events reach the same handlers with its
    /// [`PortId`] (numbered after the shape's outlets). As for the shape's outlets, `on_pull`
    /// means its buffer (16 elements) has room, so it comes before the source runs. The
    /// default `on_downstream_finish` does not complete the stage for a sub-stream outlet.
    ///
    /// The source can be materialized once: a second materialization fails with
    /// [`StreamError::AlreadyMaterialized`]. Dropping it unmaterialized cancels the outlet
    /// (`on_downstream_finish`). When the stage stops, the outlet completes (or fails with the
    /// stage).
    ///
    /// ```
    /// use weir::custom::{AsyncCallback, FlowShape, GraphStage, Outlet, PortId, StageContext};
    /// use weir::custom::StageLogic;
    /// use weir::prelude::*;
    ///
    /// /// Emits each element as a sub-stream of itself repeated twice.
    /// struct Twice;
    /// struct TwiceLogic {
    ///     shape: FlowShape<u32, Source<u32>>,
    /// }
    ///
    /// impl GraphStage for Twice {
    ///     type Shape = FlowShape<u32, Source<u32>>;
    ///     type Logic = TwiceLogic;
    ///     type Mat = ();
    ///     fn name(&self) -> &'static str {
    ///         "twice"
    ///     }
    ///     fn shape(&self) -> Self::Shape {
    ///         FlowShape::new("in", "out")
    ///     }
    ///     fn create_logic(
    ///         &self,
    ///         _: &weir::Attributes,
    ///         _: AsyncCallback<()>,
    ///     ) -> (TwiceLogic, ()) {
    ///         (TwiceLogic { shape: self.shape() }, ())
    ///     }
    /// }
    ///
    /// impl StageLogic for TwiceLogic {
    ///     type Message = ();
    ///     fn on_pull(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         if port == self.shape.out {
    ///             ctx.pull(&self.shape.inlet);
    ///         }
    ///     }
    ///     fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
    ///         let x = ctx.grab(&self.shape.inlet).unwrap();
    ///         let (sub, source): (Outlet<u32>, _) = ctx.sub_source_outlet("copies");
    ///         ctx.emit_multiple(&sub, [x, x]);
    ///         ctx.complete(&sub);
    ///         ctx.push(&self.shape.out, source);
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = Source::from_iter(vec![1, 2])
    ///     .via(Flow::from_graph(Twice))
    ///     .flat_map_concat(|s| s)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![1, 1, 2, 2]);
    /// # }
    /// ```
    pub fn sub_source_outlet<T: Send + 'static>(
        &mut self,
        name: &'static str,
    ) -> (Outlet<T>, Source<T, NotUsed>) {
        let (tx, rx) = crate::boundary::channel::<T>(DEFAULT_INPUT_BUFFER);
        let outlet = Outlet::new(self.outs.len(), name);
        self.outs.push(Box::new(OutSlot::new(tx)));
        let slot = Arc::new(Mutex::new(Some(rx)));
        let source = Source::from_fn(move |_, _| match lock(&slot).take() {
            Some(rx) => (Box::new(rx) as BoxPull<T>, ()),
            None => (
                Box::new(crate::source::FailedPull(Some(
                    StreamError::AlreadyMaterialized {
                        stage: "sub_source_outlet",
                    },
                ))) as BoxPull<T>,
                (),
            ),
        });
        (outlet, source)
    }

    /// Whether `inlet` is a sub-stream inlet made by
    /// [`sub_sink_inlet`](StageContext::sub_sink_inlet), not one of the shape's.
    pub fn is_sub_inlet(&self, inlet: PortId) -> bool {
        inlet.0 >= self.state.fixed_ins
    }

    /// Whether `outlet` is a sub-stream outlet made by
    /// [`sub_source_outlet`](StageContext::sub_source_outlet), not one of the shape's.
    pub fn is_sub_outlet(&self, outlet: PortId) -> bool {
        outlet.0 >= self.state.fixed_outs
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

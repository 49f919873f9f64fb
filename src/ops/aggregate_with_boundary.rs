//! `aggregate_with_boundary`.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// Aggregates elements until `aggregate` says the boundary is reached (or, on a timer, the
/// predicate does), then emits the harvest (Akka's `aggregateWithBoundary`).
pub(crate) struct AggregateWithBoundary<In, Agg, A, G, H, P> {
    up: Option<BoxPull<In>>,
    inbuf: Vec<In>,
    agg: Option<Agg>,
    allocate: A,
    aggregate: G,
    harvest: H,
    on_timer: Option<(P, Duration)>,
    next_tick: Option<Instant>,
    timer: Timer,
    /// Upstream completed: harvest what is left, then complete.
    completed: bool,
    sup: Supervisor,
}

impl<In, Agg, A, G, H, P> AggregateWithBoundary<In, Agg, A, G, H, P> {
    pub(crate) fn new(
        up: BoxPull<In>,
        (allocate, aggregate, harvest): (A, G, H),
        on_timer: Option<(P, Duration)>,
        attrs: &Attributes,
    ) -> Self {
        AggregateWithBoundary {
            up: Some(up),
            inbuf: Vec::new(),
            agg: None,
            allocate,
            aggregate,
            harvest,
            // A zero interval would fire on every pull: keep it positive.
            on_timer: on_timer.map(|(p, d)| (p, d.max(Duration::from_nanos(1)))),
            next_tick: None,
            timer: Timer::default(),
            completed: false,
            sup: Supervisor::new("aggregate_with_boundary", attrs),
        }
    }
}

impl<In, Agg, Emit, A, G, H, P> AggregateWithBoundary<In, Agg, A, G, H, P>
where
    A: FnMut() -> Agg,
    G: FnMut(&mut Agg, In) -> bool,
    H: FnMut(Agg) -> Emit,
    P: FnMut(&Agg) -> bool,
{
    /// A failure of user code: `Err` to stop, `Ok` to go on (Restart drops the aggregate).
    fn decide(&mut self, e: StreamError) -> Result<(), StreamError> {
        match self.sup.decide(&e) {
            Directive::Stop => Err(e),
            Directive::Resume => Ok(()),
            Directive::Restart => {
                self.agg = None;
                Ok(())
            }
        }
    }

    fn harvest_into(&mut self, out: &mut Vec<Emit>) -> Result<(), StreamError> {
        if let Some(agg) = self.agg.take() {
            let harvest = &mut self.harvest;
            match self.sup.call(|| harvest(agg)) {
                Ok(x) => out.push(x),
                Err(e) => self.decide(e)?,
            }
        }
        Ok(())
    }

    fn on_element(&mut self, x: In, out: &mut Vec<Emit>) -> Result<(), StreamError> {
        if self.agg.is_none() {
            let allocate = &mut self.allocate;
            match self.sup.call(allocate) {
                Ok(agg) => self.agg = Some(agg),
                Err(e) => return self.decide(e),
            }
        }
        let (aggregate, agg) = (&mut self.aggregate, &mut self.agg);
        let agg = agg.as_mut().expect("allocated above");
        match self.sup.call(|| aggregate(agg, x)) {
            Ok(true) => self.harvest_into(out),
            Ok(false) => Ok(()),
            Err(e) => self.decide(e),
        }
    }

    /// The timer: when a tick has passed, harvest if the predicate holds.
    fn on_tick(&mut self, now: Instant, out: &mut Vec<Emit>) -> Result<(), StreamError> {
        let Some((pred, every)) = self.on_timer.as_mut() else {
            return Ok(());
        };
        let every = *every;
        let tick = *self.next_tick.get_or_insert_with(|| later(now, every));
        if now < tick {
            return Ok(());
        }
        self.next_tick = Some(later(now, every));
        let Some(agg) = self.agg.as_ref() else {
            return Ok(());
        };
        match self.sup.call(|| pred(agg)) {
            Ok(true) => self.harvest_into(out),
            Ok(false) => Ok(()),
            Err(e) => self.decide(e),
        }
    }
}

impl<In, Agg, Emit, A, G, H, P> Pull<Emit> for AggregateWithBoundary<In, Agg, A, G, H, P>
where
    In: Send + 'static,
    Agg: Send + 'static,
    Emit: Send + 'static,
    A: FnMut() -> Agg + Send + 'static,
    G: FnMut(&mut Agg, In) -> bool + Send + 'static,
    H: FnMut(Agg) -> Emit + Send + 'static,
    P: FnMut(&Agg) -> bool + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Emit>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            if self.completed {
                return Poll::Ready(match self.harvest_into(out) {
                    Ok(()) => Step::Complete,
                    Err(e) => Step::Failed(e),
                });
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            if let Err(e) = self.on_tick(Instant::now(), out) {
                return Poll::Ready(Step::Failed(e));
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            let Some(up) = self.up.as_mut() else {
                return Poll::Ready(Step::Complete);
            };
            // Each element emits at most one harvest: pulling no more than the room left keeps
            // the output within demand.
            let step = match up.pull(cx, &mut self.inbuf, max - (out.len() - start)) {
                Poll::Ready(step) => step,
                Poll::Pending => {
                    if out.len() > start {
                        return Poll::Ready(Step::Open);
                    }
                    // Only an aggregate can be harvested on a timer; upstream wakes us for
                    // elements.
                    let timed = self.on_timer.is_some() && self.agg.is_some();
                    match self.next_tick {
                        Some(at) if timed && self.timer.poll_until(at, cx) => continue,
                        _ => return Poll::Pending,
                    }
                }
            };
            let mut batch = std::mem::take(&mut self.inbuf);
            for x in batch.drain(..) {
                if let Err(e) = self.on_element(x, out) {
                    self.up = None;
                    return Poll::Ready(Step::Failed(e));
                }
            }
            self.inbuf = batch;
            match step {
                Step::Open => {}
                Step::Complete => {
                    self.up = None;
                    self.completed = true;
                }
                Step::Failed(e) => {
                    // As Akka: the aggregate is dropped and the failure passed on.
                    self.up = None;
                    self.agg = None;
                    return Poll::Ready(Step::Failed(e));
                }
            }
        }
    }
}

//! `map_async` and `map_async_unordered`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::stage::{poll_caught, BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// A future's home: pinned once, reused for the next future when this one is done, so running
/// futures costs no allocation per element (at most `parallelism + 1` homes per stage).
type Running<Fut> = Pin<Box<Option<Fut>>>;

enum Slot<T, Fut> {
    Ready(T),
    Running(Running<Fut>),
}

/// Runs `f`'s futures with at most `parallelism` in flight.
///
/// A future is polled once as soon as it is created, and a result that may be emitted at once goes
/// straight downstream without touching the in-flight queue.
pub(crate) struct MapAsync<In, Out, F, Fut, const ORDERED: bool> {
    up: Option<BoxPull<In>>,
    f: F,
    parallelism: usize,
    /// In flight, in arrival order (ordered), or in any order (unordered: all `Running`).
    slots: VecDeque<Slot<Out, Fut>>,
    /// Unordered results that are ready but were not yet emitted.
    done: VecDeque<Out>,
    /// Empty homes for the next futures.
    free: Vec<Running<Fut>>,
    inbuf: Vec<In>,
    upstream_done: Option<Step>,
    sup: Supervisor,
}

impl<In, Out, F, Fut, const ORDERED: bool> MapAsync<In, Out, F, Fut, ORDERED> {
    pub(crate) fn new(up: BoxPull<In>, parallelism: usize, f: F, attrs: &Attributes) -> Self {
        let parallelism = parallelism.max(1);
        let name = if ORDERED {
            "map_async"
        } else {
            "map_async_unordered"
        };
        MapAsync {
            up: Some(up),
            f,
            parallelism,
            slots: VecDeque::with_capacity(parallelism),
            done: VecDeque::new(),
            free: Vec::new(),
            inbuf: Vec::with_capacity(parallelism),
            upstream_done: None,
            sup: Supervisor::new(name, attrs),
        }
    }

    fn in_flight(&self) -> usize {
        self.slots.len() + self.done.len()
    }
}

/// Outcome of handling one failed future or closure.
enum Failure {
    Skip,
    Stop(StreamError),
}

impl<In, Out, F, Fut, const ORDERED: bool> MapAsync<In, Out, F, Fut, ORDERED>
where
    F: FnMut(In) -> Fut,
    Fut: Future<Output = Out>,
{
    fn failure(&self, e: StreamError) -> Failure {
        match self.sup.decide(&e) {
            Directive::Stop => Failure::Stop(e),
            Directive::Resume | Directive::Restart => Failure::Skip,
        }
    }

    fn panicked(&self, payload: Box<dyn std::any::Any + Send>) -> Failure {
        self.failure(StreamError::panicked(self.sup.name.clone(), payload))
    }

    /// Drops the finished future in its home and keeps the home for the next one.
    fn recycle(&mut self, mut home: Running<Fut>) {
        home.as_mut().set(None);
        self.free.push(home);
    }
}

/// Polls the future living in `home` (there is always one while it is `Running`).
fn poll_home<Fut: Future>(
    home: &mut Running<Fut>,
    cx: &mut Context<'_>,
) -> Poll<Result<Fut::Output, Box<dyn std::any::Any + Send>>> {
    match home.as_mut().as_pin_mut() {
        Some(fut) => poll_caught(fut, cx),
        None => Poll::Pending,
    }
}

impl<In, Out, F, Fut, const ORDERED: bool> Pull<Out> for MapAsync<In, Out, F, Fut, ORDERED>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(In) -> Fut + Send + 'static,
    Fut: Future<Output = Out> + Send + 'static,
{
    /// An upstream failure overtakes the futures in flight.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let start = out.len();
        // Whether this pull has filled its demand and now only starts futures for freed slots.
        let mut refilling = false;
        loop {
            // 1. Poll what is in flight; emit what may be emitted.
            let mut i = 0;
            while i < self.slots.len() {
                if let Slot::Running(home) = &mut self.slots[i] {
                    match poll_home(home, cx) {
                        Poll::Pending => {}
                        Poll::Ready(Ok(y)) => {
                            if let Slot::Running(home) =
                                std::mem::replace(&mut self.slots[i], Slot::Ready(y))
                            {
                                self.recycle(home);
                            }
                        }
                        Poll::Ready(Err(p)) => match self.panicked(p) {
                            Failure::Stop(e) => return Poll::Ready(Step::Failed(e)),
                            Failure::Skip => {
                                if let Some(Slot::Running(home)) = self.slots.remove(i) {
                                    self.recycle(home);
                                }
                                continue;
                            }
                        },
                    }
                }
                i += 1;
            }
            if ORDERED {
                while out.len() - start < max && matches!(self.slots.front(), Some(Slot::Ready(_)))
                {
                    if let Some(Slot::Ready(y)) = self.slots.pop_front() {
                        out.push(y);
                    }
                }
            } else {
                let mut j = 0;
                while j < self.slots.len() {
                    if matches!(self.slots[j], Slot::Ready(_)) {
                        if let Some(Slot::Ready(y)) = self.slots.remove(j) {
                            self.done.push_back(y);
                        }
                    } else {
                        j += 1;
                    }
                }
                while out.len() - start < max {
                    match self.done.pop_front() {
                        Some(y) => out.push(y),
                        None => break,
                    }
                }
            }
            if out.len() - start == max {
                if self.up.is_none() && self.in_flight() == 0 {
                    // The last result: the completion goes with it, needing no more demand
                    // (as in Pekko).
                    if let Some(t) = self.upstream_done.take() {
                        return Poll::Ready(t);
                    }
                }
                // As Pekko: a slot freed by an emitted result is refilled at once, so that
                // `parallelism` futures keep running while downstream holds its demand.
                if refilling || self.up.is_none() || self.in_flight() == self.parallelism {
                    return Poll::Ready(Step::Open);
                }
                refilling = true;
            }
            // 2. Start new futures while there is room.
            let room = self.parallelism - self.in_flight();
            if room == 0 {
                // Saturated, so not pulling: a failure still fails the stage at once (in-flight
                // work is dropped), as in Akka.
                if let Some(Poll::Ready(e)) = self.up.as_mut().map(|up| up.poll_failed(cx)) {
                    return Poll::Ready(Step::Failed(e));
                }
            }
            if room == 0 || self.up.is_none() {
                if self.slots.is_empty() && self.done.is_empty() {
                    if let Some(t) = self.upstream_done.take() {
                        return Poll::Ready(t);
                    }
                }
                return if out.len() > start {
                    Poll::Ready(Step::Open)
                } else {
                    Poll::Pending
                };
            }
            let up = self.up.as_mut().expect("checked above");
            let step = match up.pull(cx, &mut self.inbuf, room) {
                Poll::Pending => {
                    return if out.len() > start {
                        Poll::Ready(Step::Open)
                    } else {
                        Poll::Pending
                    };
                }
                Poll::Ready(step) => step,
            };
            let mut batch = std::mem::take(&mut self.inbuf);
            for x in batch.drain(..) {
                let f = &mut self.f;
                let fut = match self.sup.call(|| f(x)) {
                    Ok(fut) => fut,
                    Err(e) => match self.failure(e) {
                        Failure::Stop(e) => return Poll::Ready(Step::Failed(e)),
                        Failure::Skip => continue,
                    },
                };
                let mut home = self.free.pop().unwrap_or_else(|| Box::pin(None));
                home.as_mut().set(Some(fut));
                // The fast path: a future that is ready at once is emitted (or queued) directly.
                let can_emit_now = out.len() - start < max && (!ORDERED || self.slots.is_empty());
                let polled = poll_home(&mut home, cx);
                if polled.is_pending() {
                    self.slots.push_back(Slot::Running(home));
                    continue;
                }
                self.recycle(home);
                match polled {
                    Poll::Ready(Ok(y)) if can_emit_now => out.push(y),
                    Poll::Ready(Ok(y)) => {
                        if ORDERED {
                            self.slots.push_back(Slot::Ready(y));
                        } else {
                            self.done.push_back(y);
                        }
                    }
                    Poll::Ready(Err(p)) => match self.panicked(p) {
                        Failure::Stop(e) => return Poll::Ready(Step::Failed(e)),
                        Failure::Skip => {}
                    },
                    Poll::Pending => {}
                }
            }
            self.inbuf = batch;
            if let Step::Failed(e) = step {
                // As in Akka, an upstream failure fails the stage at once; in-flight work is dropped.
                return Poll::Ready(Step::Failed(e));
            }
            if step.is_terminal() {
                self.up = None;
                self.upstream_done = Some(step);
            }
            if refilling {
                if self.slots.is_empty() && self.done.is_empty() {
                    if let Some(t) = self.upstream_done.take() {
                        return Poll::Ready(t);
                    }
                }
                return Poll::Ready(Step::Open);
            }
        }
    }
}

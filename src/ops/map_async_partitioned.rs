//! `map_async_partitioned`: `map_async` with at most one future at a time per partition key.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::stage::{poll_caught, BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

enum Slot<In, Out, K, Fut> {
    /// Waiting for the future of an earlier element of the same key.
    Waiting(Option<In>, K),
    Running(K, Pin<Box<Fut>>),
    Ready(Out),
}

/// Elements in arrival order, at most `parallelism`; a slot starts when no earlier one of its
/// key is unfinished, and results leave from the front.
pub(crate) struct MapAsyncPartitioned<In, Out, K, P, F, Fut> {
    up: Option<BoxPull<In>>,
    partitioner: P,
    f: F,
    parallelism: usize,
    slots: VecDeque<Slot<In, Out, K, Fut>>,
    inbuf: Vec<In>,
    upstream_done: Option<Step>,
    sup: Supervisor,
}

impl<In, Out, K, P, F, Fut> MapAsyncPartitioned<In, Out, K, P, F, Fut> {
    pub(crate) fn new(
        up: BoxPull<In>,
        parallelism: usize,
        partitioner: P,
        f: F,
        attrs: &Attributes,
    ) -> Self {
        let parallelism = parallelism.max(1);
        MapAsyncPartitioned {
            up: Some(up),
            partitioner,
            f,
            parallelism,
            slots: VecDeque::with_capacity(parallelism),
            inbuf: Vec::with_capacity(parallelism),
            upstream_done: None,
            sup: Supervisor::new("map_async_partitioned", attrs),
        }
    }
}

impl<In, Out, K, P, F, Fut> MapAsyncPartitioned<In, Out, K, P, F, Fut>
where
    K: PartialEq,
    F: FnMut(In, &K) -> Fut,
    Fut: Future<Output = Out>,
{
    /// A failure of user code: `Ok` to skip the element (Resume, Restart), `Err` to fail.
    fn skip_or_fail(&self, e: StreamError) -> Result<(), StreamError> {
        match self.sup.decide(&e) {
            Directive::Stop => Err(e),
            Directive::Resume | Directive::Restart => Ok(()),
        }
    }

    /// Starts every waiting slot whose key has no earlier unfinished slot, and polls every
    /// running one; `true` if anything finished or started.
    fn run(&mut self, cx: &mut Context<'_>) -> Result<bool, StreamError> {
        let mut progressed = false;
        let mut i = 0;
        while i < self.slots.len() {
            let busy = self
                .slots
                .range(..i)
                .any(|earlier| match (earlier, &self.slots[i]) {
                    (Slot::Waiting(_, a) | Slot::Running(a, _), Slot::Waiting(_, k)) => a == k,
                    _ => false,
                });
            if let Slot::Waiting(x, k) = &mut self.slots[i] {
                if busy {
                    i += 1;
                    continue;
                }
                let x = x.take().expect("a waiting slot holds its element");
                let f = &mut self.f;
                let k_ref: &K = k;
                match self.sup.call(|| f(x, k_ref)) {
                    Ok(fut) => {
                        let Some(Slot::Waiting(_, k)) = self.slots.remove(i) else {
                            unreachable!("slot {i} was waiting");
                        };
                        self.slots.insert(i, Slot::Running(k, Box::pin(fut)));
                        progressed = true;
                    }
                    Err(e) => {
                        self.skip_or_fail(e)?;
                        self.slots.remove(i);
                        progressed = true;
                        continue;
                    }
                }
            }
            if let Slot::Running(_, fut) = &mut self.slots[i] {
                match poll_caught(fut.as_mut(), cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(y)) => {
                        self.slots[i] = Slot::Ready(y);
                        progressed = true;
                    }
                    Poll::Ready(Err(p)) => {
                        self.skip_or_fail(StreamError::panicked(self.sup.name.clone(), p))?;
                        self.slots.remove(i);
                        progressed = true;
                        continue;
                    }
                }
            }
            i += 1;
        }
        Ok(progressed)
    }
}

impl<In, Out, K, P, F, Fut> Pull<Out> for MapAsyncPartitioned<In, Out, K, P, F, Fut>
where
    In: Send + 'static,
    Out: Send + 'static,
    K: PartialEq + Send + 'static,
    P: FnMut(&In) -> K + Send + 'static,
    F: FnMut(In, &K) -> Fut + Send + 'static,
    Fut: Future<Output = Out> + Send + 'static,
{
    /// An upstream failure overtakes the futures in flight, as for `map_async`.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let mut progressed = match self.run(cx) {
                Ok(p) => p,
                Err(e) => return Poll::Ready(Step::Failed(e)),
            };
            while out.len() - start < max && matches!(self.slots.front(), Some(Slot::Ready(_))) {
                if let Some(Slot::Ready(y)) = self.slots.pop_front() {
                    out.push(y);
                }
            }
            if self.slots.is_empty() {
                if let Some(t) = self.upstream_done.take() {
                    return Poll::Ready(t);
                }
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            let room = self.parallelism - self.slots.len();
            if let (Some(up), true) = (self.up.as_mut(), room > 0) {
                if let Poll::Ready(step) = up.pull(cx, &mut self.inbuf, room) {
                    progressed = true;
                    let mut batch = std::mem::take(&mut self.inbuf);
                    for x in batch.drain(..) {
                        let partitioner = &mut self.partitioner;
                        match self.sup.call(|| partitioner(&x)) {
                            Ok(k) => self.slots.push_back(Slot::Waiting(Some(x), k)),
                            Err(e) => {
                                if let Err(e) = self.skip_or_fail(e) {
                                    return Poll::Ready(Step::Failed(e));
                                }
                            }
                        }
                    }
                    self.inbuf = batch;
                    if let Step::Failed(e) = step {
                        return Poll::Ready(Step::Failed(e));
                    }
                    if step.is_terminal() {
                        self.up = None;
                        self.upstream_done = Some(step);
                    }
                }
            } else if let Some(up) = self.up.as_mut() {
                // Saturated: an upstream failure still fails the stage at once.
                if let Poll::Ready(e) = up.poll_failed(cx) {
                    return Poll::Ready(Step::Failed(e));
                }
            }
            if !progressed {
                return if out.len() > start {
                    Poll::Ready(Step::Open)
                } else {
                    Poll::Pending
                };
            }
        }
    }
}

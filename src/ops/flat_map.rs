//! `flat_map_concat` and `flat_map_merge`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, Materializer, Source};

/// Materializes each element's source and emits from up to `breadth` of them at once: with
/// `breadth == 1` that is `flat_map_concat` (one substream at a time, in order).
pub(crate) struct FlatMap<In, U, M, F> {
    up: Option<BoxPull<In>>,
    f: F,
    breadth: usize,
    active: Vec<BoxPull<U>>,
    next: usize,
    inbuf: Vec<In>,
    upstream_done: Option<Step>,
    attrs: Attributes,
    sup: Supervisor,
    _mat: std::marker::PhantomData<fn() -> M>,
}

impl<In, U, M, F> FlatMap<In, U, M, F> {
    pub(crate) fn new(up: BoxPull<In>, breadth: usize, f: F, attrs: &Attributes) -> Self {
        let breadth = breadth.max(1);
        FlatMap {
            up: Some(up),
            f,
            breadth,
            active: Vec::with_capacity(breadth),
            next: 0,
            inbuf: Vec::with_capacity(breadth),
            upstream_done: None,
            attrs: attrs.clone(),
            sup: Supervisor::new(
                if breadth == 1 {
                    "flat_map_concat"
                } else {
                    "flat_map_merge"
                },
                attrs,
            ),
            _mat: std::marker::PhantomData,
        }
    }
}

impl<In, U, M, F> Pull<U> for FlatMap<In, U, M, F>
where
    In: Send + 'static,
    U: Send + 'static,
    M: 'static,
    F: FnMut(In) -> Source<U, M> + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<U>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            // Whether upstream answered this round (then no waker is registered with it).
            let mut upstream_ready = false;
            // Every slot taken, so upstream is not pulled: a failure still fails the stage (and
            // cancels the open substreams) at once, as in Akka, however busy they are.
            if self.active.len() == self.breadth {
                if let Some(Poll::Ready(e)) = self.up.as_mut().map(|up| up.poll_failed(cx)) {
                    return Poll::Ready(Step::Failed(e));
                }
            }
            // Open substreams while there is room.
            if self.active.len() < self.breadth {
                if let Some(up) = self.up.as_mut() {
                    match up.pull(cx, &mut self.inbuf, self.breadth - self.active.len()) {
                        Poll::Pending => {}
                        Poll::Ready(step) => {
                            upstream_ready = true;
                            for x in self.inbuf.drain(..) {
                                let f = &mut self.f;
                                match self.sup.call(|| f(x)) {
                                    Ok(source) => {
                                        let mut m = Materializer::new();
                                        let (p, _) = source.materialize_into(&mut m, &self.attrs);
                                        m.launch();
                                        self.active.push(p);
                                    }
                                    Err(e) => {
                                        if self.sup.decide(&e) == Directive::Stop {
                                            return Poll::Ready(Step::Failed(e));
                                        }
                                    }
                                }
                            }
                            match step {
                                Step::Open => {}
                                Step::Complete => {
                                    self.up = None;
                                    self.upstream_done = Some(Step::Complete);
                                }
                                Step::Failed(e) => return Poll::Ready(Step::Failed(e)),
                            }
                        }
                    }
                }
            }
            if self.active.is_empty() {
                if self.upstream_done.is_some() {
                    return Poll::Ready(Step::Complete);
                }
                if upstream_ready {
                    // Every element was skipped (supervision): ask upstream again.
                    continue;
                }
                return self.open_or_pending(out.len() > start);
            }
            // Pull substreams: in order for concat, round-robin for merge.
            let n = self.active.len();
            let first = if self.breadth == 1 { 0 } else { self.next % n };
            self.next = self.next.wrapping_add(1);
            let mut finished = Vec::new();
            let mut progressed = false;
            for k in 0..n {
                let room = max - (out.len() - start);
                if room == 0 {
                    break;
                }
                let i = (first + k) % n;
                let before = out.len();
                match self.active[i].pull(cx, out, room) {
                    Poll::Pending => {}
                    Poll::Ready(Step::Open) => {}
                    Poll::Ready(Step::Complete) => finished.push(i),
                    Poll::Ready(Step::Failed(e)) => return Poll::Ready(Step::Failed(e)),
                }
                progressed |= out.len() > before;
            }
            let any_finished = !finished.is_empty();
            finished.sort_unstable();
            for i in finished.into_iter().rev() {
                drop(self.active.remove(i));
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            if !any_finished && !progressed {
                // Upstream answered with room left: ask it again so that it registers a waker
                // (or gives more), else a later element or failure would go unnoticed.
                if upstream_ready && self.up.is_some() && self.active.len() < self.breadth {
                    continue;
                }
                // Substreams opened this round may have filled the slots: watch for a failure
                // before waiting.
                if self.active.len() == self.breadth {
                    if let Some(Poll::Ready(e)) = self.up.as_mut().map(|up| up.poll_failed(cx)) {
                        return Poll::Ready(Step::Failed(e));
                    }
                }
                return self.open_or_pending(out.len() > start);
            }
        }
    }
}

impl<In, U, M, F> FlatMap<In, U, M, F> {
    fn open_or_pending(&self, emitted: bool) -> Poll<Step> {
        if emitted {
            Poll::Ready(Step::Open)
        } else {
            Poll::Pending
        }
    }
}

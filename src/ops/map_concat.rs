//! `map_concat` and `stateful_map_concat`.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::Attributes;

/// Expands each element into an iterator, emitted lazily so an element may expand to any number
/// of outputs without buffering them. `make` creates the per-run (possibly stateful) function
/// when the first element arrives; Restart makes it again. A panic in `make` fails the stream
/// (as an exception in Akka's `statefulMapConcat` factory fails the stage), whatever the
/// decider says.
pub(crate) struct MapConcat<In, F, M, I: IntoIterator> {
    up: Option<BoxPull<In>>,
    make: M,
    f: Option<F>,
    current: Option<I::IntoIter>,
    inbuf: VecDeque<In>,
    scratch: Vec<In>,
    upstream_done: Option<Step>,
    sup: Supervisor,
}

impl<In, F, M, I> MapConcat<In, F, M, I>
where
    M: FnMut() -> F,
    I: IntoIterator,
{
    pub(crate) fn new(up: BoxPull<In>, make: M, name: &'static str, attrs: &Attributes) -> Self {
        MapConcat {
            up: Some(up),
            f: None,
            make,
            current: None,
            inbuf: VecDeque::new(),
            scratch: Vec::new(),
            upstream_done: None,
            sup: Supervisor::new(name, attrs),
        }
    }
}

impl<In, Out, F, M, I> Pull<Out> for MapConcat<In, F, M, I>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(In) -> I + Send + 'static,
    M: FnMut() -> F + Send + 'static,
    I: IntoIterator<Item = Out> + 'static,
    I::IntoIter: Send,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let room = max - (out.len() - start);
            if room == 0 {
                return Poll::Ready(Step::Open);
            }
            if let Some(it) = self.current.as_mut() {
                let before = out.len();
                match self.sup.call(|| out.extend(it.by_ref().take(room))) {
                    Ok(()) => {
                        if out.len() - before < room {
                            self.current = None;
                        }
                    }
                    Err(e) => {
                        self.current = None;
                        match self.sup.decide(&e) {
                            Directive::Stop => return Poll::Ready(Step::Failed(e)),
                            Directive::Resume => {}
                            Directive::Restart => self.f = None,
                        }
                    }
                }
                continue;
            }
            if let Some(x) = self.inbuf.pop_front() {
                if self.f.is_none() {
                    let make = &mut self.make;
                    match self.sup.call(make) {
                        Ok(f) => self.f = Some(f),
                        Err(e) => return Poll::Ready(Step::Failed(e)),
                    }
                }
                let Some(f) = self.f.as_mut() else {
                    continue;
                };
                match self.sup.call(|| f(x).into_iter()) {
                    Ok(it) => self.current = Some(it),
                    Err(e) => match self.sup.decide(&e) {
                        Directive::Stop => return Poll::Ready(Step::Failed(e)),
                        Directive::Resume => {}
                        Directive::Restart => self.f = None,
                    },
                }
                continue;
            }
            if let Some(t) = self.upstream_done.take() {
                return Poll::Ready(t);
            }
            let Some(up) = self.up.as_mut() else {
                return Poll::Ready(Step::Complete);
            };
            match up.pull(cx, &mut self.scratch, room) {
                Poll::Pending => {
                    return if out.len() > start {
                        Poll::Ready(Step::Open)
                    } else {
                        Poll::Pending
                    };
                }
                Poll::Ready(step) => {
                    self.inbuf.extend(self.scratch.drain(..));
                    if step.is_terminal() {
                        self.up = None;
                        self.upstream_done = Some(step);
                    }
                }
            }
        }
    }
}

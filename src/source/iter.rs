//! Sources backed by an iterator.

use std::borrow::Cow;
use std::task::{Context, Poll};

use crate::stage::{guarded, poll_budget, Pull, Step, Supervisor};
use crate::supervision::Directive;

/// Emits an iterator's items on demand, one budget unit per batch. A panic in the iterator (user
/// code: an `iterate` or `unfold` function) fails the stream naming the source.
pub(crate) struct IterPull<I> {
    iter: I,
    name: Cow<'static, str>,
}

impl<I> IterPull<I> {
    pub(crate) fn new(iter: I) -> Self {
        IterPull::named(iter, Cow::Borrowed("from_iter"))
    }

    pub(crate) fn named(iter: I, name: Cow<'static, str>) -> Self {
        IterPull { iter, name }
    }
}

impl<I> Pull<I::Item> for IterPull<I>
where
    I: Iterator + Send + 'static,
{
    #[inline]
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<I::Item>, max: usize) -> Poll<Step> {
        if poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let before = out.len();
        let iter = &mut self.iter;
        // Elements produced before a panic stay in `out` and go out ahead of the failure.
        if let Err(e) = guarded(&self.name, || out.extend(iter.by_ref().take(max))) {
            return Poll::Ready(Step::Failed(e));
        }
        let n = out.len() - before;
        if n < max || self.iter.size_hint().1 == Some(0) {
            Poll::Ready(Step::Complete)
        } else {
            Poll::Ready(Step::Open)
        }
    }
}

/// `seed`, `f(seed)`, `f(f(seed))`, …: each successor is computed when it is asked for, not
/// when its predecessor is emitted (so `take(n)` never calls `f` on the n-th element).
pub(crate) struct Iterate<T, F> {
    current: Option<T>,
    f: F,
    started: bool,
}

impl<T, F> Iterate<T, F> {
    pub(crate) fn new(seed: T, f: F) -> Self {
        Iterate {
            current: Some(seed),
            f,
            started: false,
        }
    }
}

impl<T: Clone, F: FnMut(&T) -> T> Iterator for Iterate<T, F> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.started {
            let next = (self.f)(self.current.as_ref()?);
            self.current = Some(next);
        }
        self.started = true;
        self.current.clone()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

/// `from_iter` under a supervision decider: a panic in the iterator goes to the decider. Resume
/// goes on with the same iterator; Restart starts a fresh one from `restart` (Akka's
/// `IteratorSource`). Only built when a decider is attached, so the plain path stays as is.
pub(crate) struct SupervisedIterPull<I, R> {
    inner: IterPull<I>,
    restart: R,
    sup: Supervisor,
}

impl<I, R> SupervisedIterPull<I, R> {
    pub(crate) fn new(iter: I, restart: R, sup: Supervisor) -> Self {
        SupervisedIterPull {
            inner: IterPull::named(iter, sup.name.clone()),
            restart,
            sup,
        }
    }
}

impl<I, R> Pull<I::Item> for SupervisedIterPull<I, R>
where
    I: Iterator + Send + 'static,
    R: FnMut() -> I + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<I::Item>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let room = max - (out.len() - start);
            match self.inner.pull(cx, out, room) {
                Poll::Ready(Step::Failed(e)) => match self.sup.decide(&e) {
                    Directive::Stop => return Poll::Ready(Step::Failed(e)),
                    Directive::Resume => {}
                    Directive::Restart => {
                        let restart = &mut self.restart;
                        match self.sup.call(restart) {
                            Ok(iter) => self.inner.iter = iter,
                            Err(e) => return Poll::Ready(Step::Failed(e)),
                        }
                    }
                },
                Poll::Pending if out.len() > start => return Poll::Ready(Step::Open),
                other => return other,
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
        }
    }
}

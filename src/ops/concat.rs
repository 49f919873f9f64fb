//! `concat`, `prepend` and `or_else`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};

/// Emits all of `first`, then all of `second`; `second` is pulled only after `first` completed
/// (Akka's `concatLazy` pulling behaviour).
pub(crate) struct Concat<T> {
    pub(crate) first: Option<BoxPull<T>>,
    pub(crate) second: Option<BoxPull<T>>,
}

impl<T: Send + 'static> Pull<T> for Concat<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        if let Some(first) = self.first.as_mut() {
            match first.pull(cx, out, max) {
                Poll::Ready(Step::Complete) => {
                    self.first = None;
                    if out.len() > start {
                        return Poll::Ready(Step::Open);
                    }
                }
                Poll::Ready(Step::Failed(e)) => {
                    self.second = None;
                    return Poll::Ready(Step::Failed(e));
                }
                other => return other,
            }
        }
        match self.second.as_mut() {
            Some(second) => second.pull(cx, out, max),
            None => Poll::Ready(Step::Complete),
        }
    }
}

/// Emits `primary`; if it completes without emitting anything, emits `secondary` instead.
pub(crate) struct OrElse<T> {
    pub(crate) primary: Option<BoxPull<T>>,
    pub(crate) secondary: Option<BoxPull<T>>,
    pub(crate) emitted: bool,
}

impl<T: Send + 'static> Pull<T> for OrElse<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if let Some(primary) = self.primary.as_mut() {
            let before = out.len();
            let p = primary.pull(cx, out, max);
            if out.len() > before && !self.emitted {
                // As Pekko's `orElse`: the secondary is cancelled on the primary's first element.
                self.emitted = true;
                self.secondary = None;
            }
            match p {
                Poll::Ready(Step::Complete) if !self.emitted => self.primary = None,
                Poll::Ready(step) => {
                    if step.is_terminal() {
                        self.secondary = None;
                    }
                    return Poll::Ready(step);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match self.secondary.as_mut() {
            Some(secondary) => secondary.pull(cx, out, max),
            None => Poll::Ready(Step::Complete),
        }
    }
}

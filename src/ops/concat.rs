//! `concat`, `prepend` and `or_else`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};
use crate::StreamError;

/// Emits all of `first`, then all of `second`; `second` is pulled only after `first` completed
/// (Akka's `concatLazy` pulling behaviour).
pub(crate) struct Concat<T> {
    pub(crate) first: Option<BoxPull<T>>,
    pub(crate) second: Option<BoxPull<T>>,
}

impl<T: Send + 'static> Pull<T> for Concat<T> {
    /// Either source's failure fails the concatenation, so a chain of them (`Concat` of `n`)
    /// sees a failure anywhere.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        for side in [self.first.as_mut(), self.second.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Poll::Ready(e) = side.poll_failed(cx) {
                return Poll::Ready(e);
            }
        }
        Poll::Pending
    }

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
                Poll::Pending => {
                    // The waiting source is materialized too: its failure fails the stream at
                    // once (cancelling the first), as in Akka, instead of after the first ends.
                    if let Some(Poll::Ready(e)) = self.second.as_mut().map(|s| s.poll_failed(cx)) {
                        self.first = None;
                        self.second = None;
                        return Poll::Ready(Step::Failed(e));
                    }
                    return Poll::Pending;
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
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        for side in [self.primary.as_mut(), self.secondary.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Poll::Ready(e) = side.poll_failed(cx) {
                return Poll::Ready(e);
            }
        }
        Poll::Pending
    }

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
                Poll::Pending => {
                    // Until the primary emits, a failure of the secondary fails the stream and
                    // cancels the primary (Akka's `orElse`).
                    if let Some(Poll::Ready(e)) = self.secondary.as_mut().map(|s| s.poll_failed(cx))
                    {
                        self.primary = None;
                        self.secondary = None;
                        return Poll::Ready(Step::Failed(e));
                    }
                    return Poll::Pending;
                }
            }
        }
        match self.secondary.as_mut() {
            Some(secondary) => secondary.pull(cx, out, max),
            None => Poll::Ready(Step::Complete),
        }
    }
}

//! Sources backed by an iterator.

use std::task::{Context, Poll};

use crate::stage::{poll_budget, Pull, Step};

/// Emits an iterator's items on demand, one budget unit per batch.
pub(crate) struct IterPull<I> {
    iter: I,
}

impl<I> IterPull<I> {
    pub(crate) fn new(iter: I) -> Self {
        IterPull { iter }
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
        out.extend(self.iter.by_ref().take(max));
        let n = out.len() - before;
        if n < max || self.iter.size_hint().1 == Some(0) {
            Poll::Ready(Step::Complete)
        } else {
            Poll::Ready(Step::Open)
        }
    }
}

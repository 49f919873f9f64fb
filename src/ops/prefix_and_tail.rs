//! `prefix_and_tail`: the first elements, and a source of the rest.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::source::FailedPull;
use crate::stage::{BoxPull, Pull, Step};
use crate::{Source, StreamError};

/// How much of a large `n` is reserved up front: the prefix grows past it as elements come.
const RESERVE: usize = 1024;

/// Collects up to `n` elements, then emits them with a one-shot source that takes over the
/// upstream itself, and completes.
pub(crate) struct PrefixAndTail<T> {
    up: Option<BoxPull<T>>,
    n: usize,
    prefix: Vec<T>,
}

impl<T> PrefixAndTail<T> {
    pub(crate) fn new(up: BoxPull<T>, n: usize) -> Self {
        PrefixAndTail {
            up: Some(up),
            n,
            prefix: Vec::with_capacity(n.min(RESERVE)),
        }
    }
}

/// A source that materializes `up` once; a second materialization fails.
pub(crate) fn one_shot<T: Send + 'static>(up: BoxPull<T>, stage: &'static str) -> Source<T> {
    let slot = Arc::new(Mutex::new(Some(up)));
    Source::from_fn(move |_, _| {
        let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some(up) => (up, ()),
            None => (
                Box::new(FailedPull(Some(StreamError::AlreadyMaterialized { stage })))
                    as BoxPull<T>,
                (),
            ),
        }
    })
}

impl<T: Send + 'static> Pull<(Vec<T>, Source<T>)> for PrefixAndTail<T> {
    fn pull(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<(Vec<T>, Source<T>)>,
        _max: usize,
    ) -> Poll<Step> {
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        while self.prefix.len() < self.n {
            let want = self.n - self.prefix.len();
            match up.pull(cx, &mut self.prefix, want) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Step::Open) => {}
                Poll::Ready(Step::Complete) => {
                    self.up = None;
                    out.push((std::mem::take(&mut self.prefix), Source::empty()));
                    return Poll::Ready(Step::Complete);
                }
                Poll::Ready(Step::Failed(e)) => return Poll::Ready(Step::Failed(e)),
            }
        }
        let up = self.up.take().expect("checked above");
        let tail = one_shot(up, "prefix_and_tail");
        out.push((std::mem::take(&mut self.prefix), tail));
        Poll::Ready(Step::Complete)
    }

    /// Until the prefix is emitted, an upstream failure fails the stage without demand.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }
}

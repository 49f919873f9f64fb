//! `zip_all`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};
use crate::StreamError;

/// Pairs elements of two inputs; once one input has completed, pairs the rest of the other with
/// a fixed element (Akka's `zipAll`). Completes when both inputs have completed.
pub(crate) struct ZipAll<A, B> {
    left: Option<BoxPull<A>>,
    right: Option<BoxPull<B>>,
    lbuf: Vec<A>,
    rbuf: Vec<B>,
    this_elem: A,
    that_elem: B,
}

impl<A, B> ZipAll<A, B> {
    pub(crate) fn new(left: BoxPull<A>, right: BoxPull<B>, this_elem: A, that_elem: B) -> Self {
        ZipAll {
            left: Some(left),
            right: Some(right),
            lbuf: Vec::new(),
            rbuf: Vec::new(),
            this_elem,
            that_elem,
        }
    }
}

/// Pulls until `buf` holds `want` elements or the side has nothing ready; `Err` on failure.
fn fill<T: 'static>(
    side: &mut Option<BoxPull<T>>,
    buf: &mut Vec<T>,
    cx: &mut Context<'_>,
    want: usize,
) -> Result<(), StreamError> {
    if buf.len() >= want {
        return Ok(());
    }
    let Some(p) = side.as_mut() else {
        return Ok(());
    };
    match p.pull(cx, buf, want - buf.len()) {
        Poll::Pending | Poll::Ready(Step::Open) => Ok(()),
        Poll::Ready(Step::Complete) => {
            *side = None;
            Ok(())
        }
        Poll::Ready(Step::Failed(e)) => Err(e),
    }
}

impl<A, B> Pull<(A, B)> for ZipAll<A, B>
where
    A: Clone + Send + 'static,
    B: Clone + Send + 'static,
{
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        if let Some(Poll::Ready(e)) = self.left.as_mut().map(|p| p.poll_failed(cx)) {
            return Poll::Ready(e);
        }
        match self.right.as_mut() {
            Some(p) => p.poll_failed(cx),
            None => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<(A, B)>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let want = max - (out.len() - start);
            if want == 0 {
                return Poll::Ready(Step::Open);
            }
            if let Err(e) = fill(&mut self.left, &mut self.lbuf, cx, want) {
                self.right = None;
                return Poll::Ready(Step::Failed(e));
            }
            if let Err(e) = fill(&mut self.right, &mut self.rbuf, cx, want) {
                self.left = None;
                return Poll::Ready(Step::Failed(e));
            }
            let pairs = self.lbuf.len().min(self.rbuf.len()).min(want);
            out.extend(self.lbuf.drain(..pairs).zip(self.rbuf.drain(..pairs)));
            let want = max - (out.len() - start);
            // One side has ended: the other is padded, element by element as it arrives.
            let padded = if self.left.is_none() && self.lbuf.is_empty() {
                let n = self.rbuf.len().min(want);
                let pad = &self.this_elem;
                out.extend(self.rbuf.drain(..n).map(|b| (pad.clone(), b)));
                n
            } else if self.right.is_none() && self.rbuf.is_empty() {
                let n = self.lbuf.len().min(want);
                let pad = &self.that_elem;
                out.extend(self.lbuf.drain(..n).map(|a| (a, pad.clone())));
                n
            } else {
                0
            };
            let left_done = self.left.is_none() && self.lbuf.is_empty();
            let right_done = self.right.is_none() && self.rbuf.is_empty();
            if left_done && right_done {
                return Poll::Ready(Step::Complete);
            }
            if pairs == 0 && padded == 0 {
                return if out.len() > start {
                    Poll::Ready(Step::Open)
                } else {
                    Poll::Pending
                };
            }
        }
    }
}

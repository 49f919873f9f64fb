//! `zip` and `zip_with`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// Pairs elements of two inputs with `f`; completes as soon as one input has completed and its
/// buffered elements are used up.
pub(crate) struct ZipWith<A, B, F> {
    left: Option<BoxPull<A>>,
    right: Option<BoxPull<B>>,
    lbuf: Vec<A>,
    rbuf: Vec<B>,
    f: F,
    sup: Supervisor,
}

impl<A, B, F> ZipWith<A, B, F> {
    pub(crate) fn new(left: BoxPull<A>, right: BoxPull<B>, f: F, attrs: &Attributes) -> Self {
        ZipWith {
            left: Some(left),
            right: Some(right),
            lbuf: Vec::new(),
            rbuf: Vec::new(),
            f,
            sup: Supervisor::new("zip_with", attrs),
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

impl<A, B, O, F> Pull<O> for ZipWith<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    F: FnMut(A, B) -> O + Send + 'static,
{
    /// Complete once either input has ended with nothing of it left to pair (Akka's `Zip`
    /// completes then, without demand). Both inputs are asked, so that either wakes the task.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let left_done = self.lbuf.is_empty()
            && self
                .left
                .as_mut()
                .is_none_or(|p| p.poll_complete(cx).is_ready());
        let right_done = self.rbuf.is_empty()
            && self
                .right
                .as_mut()
                .is_none_or(|p| p.poll_complete(cx).is_ready());
        if left_done || right_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<O>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let want = max - (out.len() - start);
            if want == 0 {
                return Poll::Ready(Step::Open);
            }
            if let Err(e) = fill(&mut self.left, &mut self.lbuf, cx, want) {
                return Poll::Ready(Step::Failed(e));
            }
            if let Err(e) = fill(&mut self.right, &mut self.rbuf, cx, want) {
                return Poll::Ready(Step::Failed(e));
            }
            let pairs = self.lbuf.len().min(self.rbuf.len()).min(want);
            if pairs > 0 {
                let (f, sup) = (&mut self.f, &self.sup);
                let zipped = self.lbuf.drain(..pairs).zip(self.rbuf.drain(..pairs));
                if sup.is_supervised() {
                    for (a, b) in zipped {
                        match sup.call(|| f(a, b)) {
                            Ok(o) => out.push(o),
                            Err(e) if sup.decide(&e) == Directive::Stop => {
                                return Poll::Ready(Step::Failed(e))
                            }
                            Err(_) => {}
                        }
                    }
                } else if let Err(e) = sup.call(|| out.extend(zipped.map(|(a, b)| f(a, b)))) {
                    return Poll::Ready(Step::Failed(e));
                }
            }
            let left_done = self.left.is_none() && self.lbuf.is_empty();
            let right_done = self.right.is_none() && self.rbuf.is_empty();
            if left_done || right_done {
                self.left = None;
                self.right = None;
                return Poll::Ready(Step::Complete);
            }
            if pairs == 0 {
                return if out.len() > start {
                    Poll::Ready(Step::Open)
                } else {
                    Poll::Pending
                };
            }
        }
    }
}

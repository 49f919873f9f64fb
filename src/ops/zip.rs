//! `zip` and `zip_with`.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::Attributes;

/// Pairs elements of two inputs with `f`; completes as soon as one input has completed and its
/// buffered elements are used up.
pub(crate) struct ZipWith<A, B, F> {
    left: Option<BoxPull<A>>,
    right: Option<BoxPull<B>>,
    lbuf: VecDeque<A>,
    rbuf: VecDeque<B>,
    scratch_a: Vec<A>,
    scratch_b: Vec<B>,
    f: F,
    sup: Supervisor,
}

impl<A, B, F> ZipWith<A, B, F> {
    pub(crate) fn new(left: BoxPull<A>, right: BoxPull<B>, f: F, attrs: &Attributes) -> Self {
        ZipWith {
            left: Some(left),
            right: Some(right),
            lbuf: VecDeque::new(),
            rbuf: VecDeque::new(),
            scratch_a: Vec::new(),
            scratch_b: Vec::new(),
            f,
            sup: Supervisor::new("zip_with", attrs),
        }
    }
}

/// Pulls up to `want` more into `buf`; `Some` carries a failure.
fn fill<T: 'static>(
    side: &mut Option<BoxPull<T>>,
    buf: &mut VecDeque<T>,
    scratch: &mut Vec<T>,
    cx: &mut Context<'_>,
    want: usize,
) -> Option<crate::StreamError> {
    if buf.len() >= want {
        return None;
    }
    let p = side.as_mut()?;
    match p.pull(cx, scratch, want - buf.len()) {
        Poll::Pending => None,
        Poll::Ready(step) => {
            buf.extend(scratch.drain(..));
            match step {
                Step::Open => None,
                Step::Complete => {
                    *side = None;
                    None
                }
                Step::Failed(e) => Some(e),
            }
        }
    }
}

impl<A, B, O, F> Pull<O> for ZipWith<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    F: FnMut(A, B) -> O + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<O>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let want = max - (out.len() - start);
            if want == 0 {
                return Poll::Ready(Step::Open);
            }
            if let Some(e) = fill(
                &mut self.left,
                &mut self.lbuf,
                &mut self.scratch_a,
                cx,
                want,
            ) {
                return Poll::Ready(Step::Failed(e));
            }
            if let Some(e) = fill(
                &mut self.right,
                &mut self.rbuf,
                &mut self.scratch_b,
                cx,
                want,
            ) {
                return Poll::Ready(Step::Failed(e));
            }
            let pairs = self.lbuf.len().min(self.rbuf.len()).min(want);
            for _ in 0..pairs {
                let (a, b) = (self.lbuf.pop_front(), self.rbuf.pop_front());
                let (Some(a), Some(b)) = (a, b) else { break };
                let f = &mut self.f;
                match self.sup.call(|| f(a, b)) {
                    Ok(o) => out.push(o),
                    Err(e) => {
                        if self.sup.decide(&e) == Directive::Stop {
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
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

//! `merge`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};

/// Emits elements from all inputs as they arrive, in fair shares per pull, starting each pull at
/// the next input in turn so a busy input cannot starve the others. Completes when all inputs complete (or, with
/// `eager_complete`, when any does); fails when any fails.
pub(crate) struct Merge<T> {
    inputs: Vec<Option<BoxPull<T>>>,
    next: usize,
    eager_complete: bool,
}

impl<T> Merge<T> {
    pub(crate) fn new(inputs: Vec<BoxPull<T>>, eager_complete: bool) -> Self {
        Merge {
            inputs: inputs.into_iter().map(Some).collect(),
            next: 0,
            eager_complete,
        }
    }
}

impl<T: Send + 'static> Pull<T> for Merge<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        let n = self.inputs.len();
        let first = self.next;
        self.next = (self.next + 1) % n.max(1);
        // Rounds of fair shares: each live input may fill `room / live` per round, so one busy
        // input cannot take a whole batch while another also has elements.
        loop {
            let live = self.inputs.iter().filter(|i| i.is_some()).count();
            let room = max - (out.len() - start);
            if live == 0 || room == 0 {
                break;
            }
            let share = (room / live).max(1);
            let mut progressed = false;
            for k in 0..n {
                let room = max - (out.len() - start);
                if room == 0 {
                    break;
                }
                let i = (first + k) % n;
                let Some(input) = self.inputs[i].as_mut() else {
                    continue;
                };
                let before = out.len();
                match input.pull(cx, out, share.min(room)) {
                    Poll::Pending | Poll::Ready(Step::Open) => {}
                    Poll::Ready(Step::Complete) => {
                        self.inputs[i] = None;
                        if self.eager_complete {
                            self.inputs.clear();
                            return Poll::Ready(Step::Complete);
                        }
                    }
                    Poll::Ready(Step::Failed(e)) => {
                        self.inputs.clear();
                        return Poll::Ready(Step::Failed(e));
                    }
                }
                progressed |= out.len() > before;
            }
            if !progressed {
                break;
            }
        }
        if self.inputs.iter().all(Option::is_none) {
            Poll::Ready(Step::Complete)
        } else if out.len() > start {
            Poll::Ready(Step::Open)
        } else {
            Poll::Pending
        }
    }
}

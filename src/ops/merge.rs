//! `merge`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};

/// Emits elements from all inputs as they arrive, in fair shares per pull, starting each pull at
/// the next input in turn so a busy input cannot starve the others. Completes when all inputs complete (or, with
/// `eager_complete`, when any does); fails when any fails.
pub(crate) struct Merge<T> {
    inputs: Vec<Option<BoxPull<T>>>,
    /// Relative share of each input per round (Akka's `MergePrioritized`); all 1 for `Merge`.
    weights: Vec<usize>,
    /// Input 0 is drained first on every pull (Akka's `MergePreferred`).
    preferred: bool,
    /// Smooth weighted round-robin credit, kept across pulls so that priorities hold even when
    /// demand comes one element at a time.
    current: Vec<i64>,
    next: usize,
    eager_complete: bool,
}

impl<T> Merge<T> {
    pub(crate) fn new(inputs: Vec<BoxPull<T>>, eager_complete: bool) -> Self {
        let weights = vec![1; inputs.len()];
        Merge {
            current: vec![0; inputs.len()],
            inputs: inputs.into_iter().map(Some).collect(),
            weights,
            preferred: false,
            next: 0,
            eager_complete,
        }
    }

    /// A merge whose inputs get shares in proportion to `weights` (each at least 1).
    pub(crate) fn weighted(
        inputs: Vec<BoxPull<T>>,
        weights: Vec<usize>,
        eager_complete: bool,
    ) -> Self {
        let mut m = Merge::new(inputs, eager_complete);
        m.weights = weights.into_iter().map(|w| w.max(1)).collect();
        m
    }

    /// A merge that drains input 0 before the others on every pull.
    pub(crate) fn preferred(inputs: Vec<BoxPull<T>>, eager_complete: bool) -> Self {
        let mut m = Merge::new(inputs, eager_complete);
        m.preferred = true;
        m
    }
}

impl<T> Merge<T> {
    /// How many elements each input may give in a round of `room`.
    fn quotas(&mut self, room: usize, live_weight: usize) -> Vec<usize> {
        let n = self.inputs.len();
        let live = |i: usize| self.inputs[i].is_some();
        if self.weights.iter().all(|&w| w == 1) {
            let live_count = (0..n).filter(|&i| live(i)).count().max(1);
            let share = (room / live_count).max(1);
            return (0..n).map(|i| if live(i) { share } else { 0 }).collect();
        }
        let mut quotas = vec![0; n];
        let total = live_weight as i64;
        for _ in 0..room {
            let mut best: Option<usize> = None;
            for i in (0..n).filter(|&i| live(i)) {
                self.current[i] += self.weights[i] as i64;
                if best.is_none_or(|b| self.current[i] > self.current[b]) {
                    best = Some(i);
                }
            }
            if let Some(b) = best {
                self.current[b] -= total;
                quotas[b] += 1;
            }
        }
        quotas
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
            let live_weight: usize = (0..n)
                .filter(|&i| self.inputs[i].is_some())
                .map(|i| self.weights[i])
                .sum();
            let round_room = max - (out.len() - start);
            if live_weight == 0 || round_room == 0 {
                break;
            }
            let quotas = self.quotas(round_room, live_weight);
            let mut progressed = false;
            for k in 0..n {
                let room = max - (out.len() - start);
                if room == 0 {
                    break;
                }
                // The preferred input always goes first and may fill the whole room.
                let i = if self.preferred {
                    if k == 0 {
                        0
                    } else {
                        1 + (first + k - 1) % (n - 1).max(1)
                    }
                } else {
                    (first + k) % n
                };
                let share = if self.preferred && i == 0 {
                    room
                } else {
                    quotas[i]
                };
                if share == 0 {
                    continue;
                }
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
                // Inputs with no share this round were not polled; poll them now so that each
                // live input has a waker registered (or gives what it has).
                for (i, &quota) in quotas.iter().enumerate() {
                    let room = max - (out.len() - start);
                    if room == 0 || quota > 0 || (self.preferred && i == 0) {
                        continue;
                    }
                    let Some(input) = self.inputs[i].as_mut() else {
                        continue;
                    };
                    match input.pull(cx, out, room) {
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
                }
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

//! `split_when` and `split_after`: a new substream where a predicate holds.

use std::collections::VecDeque;

use super::merge_substreams::{Decision, Route, Router};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Current {
    /// The next element opens a substream.
    None,
    Open(usize),
    /// The current substream ended early: elements are dropped until the next split.
    Draining,
}

/// The predicate's answers for the waiting elements, and the substream being fed.
pub(crate) struct Split<F> {
    pred: F,
    /// `split_after` (the matching element ends its substream) rather than `split_when` (it
    /// starts the next one).
    after: bool,
    answers: VecDeque<bool>,
    current: Current,
}

impl<F> Split<F> {
    pub(crate) fn new(pred: F, after: bool) -> Self {
        Split {
            pred,
            after,
            answers: VecDeque::new(),
            current: Current::None,
        }
    }
}

impl<T, F> Router<T> for Split<F>
where
    F: FnMut(&T) -> bool + Send + 'static,
{
    fn arrive(&mut self, x: &T) {
        let split = (self.pred)(x);
        self.answers.push_back(split);
    }

    fn arrive_front(&mut self, x: &T) {
        let split = (self.pred)(x);
        self.answers.push_front(split);
    }

    fn reclaims(&self) -> bool {
        false
    }

    fn route(&self, i: usize) -> Decision {
        let split = self.answers[i];
        match (self.current, self.after) {
            (Current::None, after) => Decision {
                close_first: None,
                route: Route::Open,
                then_close: after && split,
            },
            (Current::Open(slot), false) if split => Decision {
                close_first: Some(slot),
                route: Route::Open,
                then_close: false,
            },
            (Current::Open(slot), after) => Decision {
                close_first: None,
                route: Route::To(slot),
                then_close: after && split,
            },
            (Current::Draining, false) if split => Decision::to(Route::Open),
            (Current::Draining, _) => Decision::to(Route::Drop),
        }
    }

    fn opened(&mut self, _i: usize, slot: usize) {
        self.current = Current::Open(slot);
    }

    fn taken(&mut self, i: usize) {
        let split = self.answers.remove(i).unwrap_or(false);
        if self.after && split && self.current == Current::Draining {
            self.current = Current::None;
        }
    }

    fn detached(&mut self, slot: usize) {
        if self.current == Current::Open(slot) {
            self.current = Current::None;
        }
    }

    fn ended(&mut self, slot: usize) {
        if self.current == Current::Open(slot) {
            self.current = Current::Draining;
        }
    }

    fn reorders(&self) -> bool {
        false
    }

    fn max_substreams(&self) -> usize {
        usize::MAX
    }
}

//! `batch_weighted`.

use super::decoupled::Policy;
use crate::stage::Supervisor;
use crate::supervision::Directive;
use crate::StreamError;

/// Aggregates elements while downstream is busy, up to a total cost of `max` per aggregate
/// (Akka's `batchWeighted`). An element that does not fit waits as `pending` (back-pressuring
/// upstream) and seeds the next aggregate; an element heavier than `max` on its own starts an
/// aggregate by itself.
pub(crate) struct BatchWeightedPolicy<T, S, C, Seed, Agg> {
    pub(crate) agg: Option<S>,
    /// Cost still allowed in the current aggregate (negative once a heavy element seeded it).
    pub(crate) left: i128,
    pub(crate) max: u64,
    /// The element that did not fit, with its cost.
    pub(crate) pending: Option<(T, u64)>,
    pub(crate) cost: C,
    pub(crate) seed: Seed,
    pub(crate) aggregate: Agg,
}

impl<T, S, C, Seed, Agg> BatchWeightedPolicy<T, S, C, Seed, Agg> {
    pub(crate) fn new(max: u64, cost: C, seed: Seed, aggregate: Agg) -> Self {
        BatchWeightedPolicy {
            agg: None,
            left: i128::from(max),
            max,
            pending: None,
            cost,
            seed,
            aggregate,
        }
    }

    /// Supervision chose Restart: forget the aggregate and the pending element.
    fn restart(&mut self) {
        self.agg = None;
        self.left = i128::from(self.max);
        self.pending = None;
    }
}

impl<T, S, C, Seed, Agg> BatchWeightedPolicy<T, S, C, Seed, Agg>
where
    S: Clone,
    Seed: FnMut(T) -> S,
    Agg: FnMut(S, T) -> S,
{
    /// Starts an aggregate with `x` of cost `c`.
    fn seed_with(&mut self, x: T, c: u64, sup: &Supervisor) -> Result<(), StreamError> {
        let seed = &mut self.seed;
        match sup.call(|| seed(x)) {
            Ok(s) => {
                self.agg = Some(s);
                self.left -= i128::from(c);
                Ok(())
            }
            Err(e) => self.failed(e, sup),
        }
    }

    /// A failure of user code: `Err` under Stop; Resume skips the element, Restart also forgets
    /// the aggregate.
    fn failed(&mut self, e: StreamError, sup: &Supervisor) -> Result<(), StreamError> {
        match sup.decide(&e) {
            Directive::Stop => Err(e),
            Directive::Resume => Ok(()),
            Directive::Restart => {
                self.restart();
                Ok(())
            }
        }
    }
}

impl<T, S, C, Seed, Agg> Policy<T, S> for BatchWeightedPolicy<T, S, C, Seed, Agg>
where
    T: Send + 'static,
    S: Clone + Send + 'static,
    C: FnMut(&T) -> u64 + Send + 'static,
    Seed: FnMut(T) -> S + Send + 'static,
    Agg: FnMut(S, T) -> S + Send + 'static,
{
    fn room(&self) -> usize {
        // One at a time: whether the next element fits is known only once its cost is.
        usize::from(self.pending.is_none())
    }

    fn offer(&mut self, x: T, sup: &Supervisor) -> Result<(), StreamError> {
        let cost = &mut self.cost;
        let c = match sup.call(|| cost(&x)) {
            Ok(c) => c,
            Err(e) => return self.failed(e, sup),
        };
        let Some(prev) = self.agg.take() else {
            return self.seed_with(x, c, sup);
        };
        if self.left < i128::from(c) {
            self.agg = Some(prev);
            self.pending = Some((x, c));
            return Ok(());
        }
        // Resume keeps the aggregate as it was before the failing element.
        let kept = sup.is_supervised().then(|| prev.clone());
        let aggregate = &mut self.aggregate;
        match sup.call(|| aggregate(prev, x)) {
            Ok(s) => {
                self.agg = Some(s);
                self.left -= i128::from(c);
                Ok(())
            }
            Err(e) => {
                self.agg = kept;
                self.failed(e, sup)
            }
        }
    }

    fn take(&mut self, out: &mut Vec<S>, max: usize, sup: &Supervisor) -> Result<(), StreamError> {
        let mut n = 0;
        while n < max {
            let Some(s) = self.agg.take() else { break };
            out.push(s);
            n += 1;
            self.left = i128::from(self.max);
            if let Some((x, c)) = self.pending.take() {
                self.seed_with(x, c, sup)?;
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.agg.is_none() && self.pending.is_none()
    }
}

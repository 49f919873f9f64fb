//! `conflate`, `conflate_with_seed` and `batch`.

use super::decoupled::Policy;
use crate::stage::Supervisor;
use crate::supervision::Directive;
use crate::StreamError;

/// Aggregates elements while downstream is busy. `max` bounds how many elements one aggregate
/// may hold before upstream is back-pressured (`batch`); `None` never back-pressures
/// (`conflate`).
pub(crate) struct ConflatePolicy<S, Seed, Agg> {
    pub(crate) agg: Option<S>,
    pub(crate) count: usize,
    pub(crate) max: Option<usize>,
    pub(crate) seed: Seed,
    pub(crate) aggregate: Agg,
}

impl<T, S, Seed, Agg> Policy<T, S> for ConflatePolicy<S, Seed, Agg>
where
    T: Send + 'static,
    S: Clone + Send + 'static,
    Seed: FnMut(T) -> S + Send + 'static,
    Agg: FnMut(S, T) -> S + Send + 'static,
{
    fn room(&self) -> usize {
        match self.max {
            Some(max) => max.saturating_sub(self.count),
            None => usize::MAX,
        }
    }

    fn offer(&mut self, x: T, sup: &Supervisor) -> Result<(), StreamError> {
        let prev = self.agg.take();
        let kept = sup.is_supervised().then(|| prev.clone()).flatten();
        let result = match prev {
            None => {
                let seed = &mut self.seed;
                sup.call(|| seed(x))
            }
            Some(s) => {
                let agg = &mut self.aggregate;
                sup.call(|| agg(s, x))
            }
        };
        match result {
            Ok(s) => {
                self.agg = Some(s);
                self.count += 1;
                Ok(())
            }
            Err(e) => match sup.decide(&e) {
                Directive::Stop => Err(e),
                Directive::Resume => {
                    self.agg = kept;
                    Ok(())
                }
                Directive::Restart => {
                    self.agg = None;
                    self.count = 0;
                    Ok(())
                }
            },
        }
    }

    fn take(
        &mut self,
        out: &mut Vec<S>,
        _max: usize,
        _sup: &Supervisor,
    ) -> Result<(), StreamError> {
        if let Some(s) = self.agg.take() {
            out.push(s);
            self.count = 0;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.agg.is_none()
    }
}

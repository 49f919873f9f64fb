//! `take`, `take_while`, `limit`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Take {
    pub(crate) remaining: u64,
}

impl<T: Send + 'static> Logic<T, T> for Take {
    fn on_start(&mut self, _out: &mut Emit<'_, T>) -> Ctl {
        if self.remaining == 0 {
            Ctl::Complete
        } else {
            Ctl::Continue
        }
    }

    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        out.push(x);
        self.remaining -= 1;
        Ok(if self.remaining == 0 {
            Ctl::Complete
        } else {
            Ctl::Continue
        })
    }

    fn demand(&self, max: usize) -> usize {
        usize::try_from(self.remaining).map_or(max, |r| r.min(max))
    }
}

pub(crate) struct TakeWhile<F> {
    pub(crate) pred: F,
    pub(crate) inclusive: bool,
}

impl<T, F> Logic<T, T> for TakeWhile<F>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        let pred = &mut self.pred;
        if out.call(|| pred(&x))? {
            out.push(x);
            Ok(Ctl::Continue)
        } else {
            if self.inclusive {
                out.push(x);
            }
            Ok(Ctl::Complete)
        }
    }
}

pub(crate) struct Limit {
    pub(crate) max: u64,
    pub(crate) seen: u64,
}

impl<T: Send + 'static> Logic<T, T> for Limit {
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        self.seen += 1;
        if self.seen > self.max {
            return Ok(Ctl::Fail(StreamError::LimitExceeded { max: self.max }));
        }
        out.push(x);
        Ok(Ctl::Continue)
    }
}

/// Fails once the summed cost of the elements exceeds `max` (Akka's `limitWeighted`).
pub(crate) struct LimitWeighted<F> {
    pub(crate) max: u64,
    pub(crate) total: u64,
    pub(crate) cost: F,
}

impl<T, F> Logic<T, T> for LimitWeighted<F>
where
    T: Send + 'static,
    F: FnMut(&T) -> u64 + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        let cost = &mut self.cost;
        let c = out.call(|| cost(&x))?;
        self.total = self.total.saturating_add(c);
        if self.total > self.max {
            return Ok(Ctl::Fail(StreamError::LimitExceeded { max: self.max }));
        }
        out.push(x);
        Ok(Ctl::Continue)
    }
}

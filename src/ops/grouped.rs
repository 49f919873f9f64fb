//! `grouped` and `sliding`.

use std::collections::VecDeque;

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Grouped<T> {
    n: usize,
    buf: Vec<T>,
}

impl<T> Grouped<T> {
    pub(crate) fn new(n: usize) -> Self {
        Grouped {
            n,
            buf: Vec::with_capacity(n.min(1024)),
        }
    }
}

impl<T: Send + 'static> Logic<T, Vec<T>> for Grouped<T> {
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, Vec<T>>) -> Result<Ctl, StreamError> {
        self.buf.push(x);
        if self.buf.len() == self.n {
            out.push(std::mem::replace(
                &mut self.buf,
                Vec::with_capacity(self.n.min(1024)),
            ));
        }
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, Vec<T>>) -> Result<(), StreamError> {
        if !self.buf.is_empty() {
            out.push(std::mem::take(&mut self.buf));
        }
        Ok(())
    }
}

pub(crate) struct Sliding<T> {
    n: usize,
    step: usize,
    buf: VecDeque<T>,
    /// Elements to skip before the next window starts (when `step > n`).
    skip: usize,
    /// Elements in `buf` not yet part of an emitted window.
    fresh: usize,
}

impl<T> Sliding<T> {
    pub(crate) fn new(n: usize, step: usize) -> Self {
        Sliding {
            n,
            step,
            buf: VecDeque::with_capacity(n.min(1024)),
            skip: 0,
            fresh: 0,
        }
    }
}

impl<T: Clone + Send + 'static> Logic<T, Vec<T>> for Sliding<T> {
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, Vec<T>>) -> Result<Ctl, StreamError> {
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(Ctl::Continue);
        }
        self.buf.push_back(x);
        self.fresh += 1;
        if self.buf.len() == self.n {
            out.push(self.buf.iter().cloned().collect());
            self.fresh = 0;
            let drop = self.step.min(self.n);
            self.buf.drain(..drop);
            self.skip = self.step - drop;
        }
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, Vec<T>>) -> Result<(), StreamError> {
        // A last, shorter window only if it holds elements no window has shown yet.
        if self.fresh > 0 {
            out.push(self.buf.drain(..).collect());
        }
        Ok(())
    }
}

/// Groups elements until their summed cost reaches `min_weight` (Akka's `groupedWeighted`).
pub(crate) struct GroupedWeighted<T, F> {
    pub(crate) min_weight: u64,
    pub(crate) cost: F,
    pub(crate) weight: u64,
    pub(crate) buf: Vec<T>,
}

impl<T, F> Logic<T, Vec<T>> for GroupedWeighted<T, F>
where
    T: Send + 'static,
    F: FnMut(&T) -> u64 + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, Vec<T>>) -> Result<Ctl, StreamError> {
        let cost = &mut self.cost;
        let c = out.call(|| cost(&x))?;
        self.buf.push(x);
        self.weight = self.weight.saturating_add(c);
        if self.weight >= self.min_weight {
            self.weight = 0;
            out.push(std::mem::take(&mut self.buf));
        }
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, Vec<T>>) -> Result<(), StreamError> {
        if !self.buf.is_empty() {
            out.push(std::mem::take(&mut self.buf));
        }
        Ok(())
    }

    fn on_restart(&mut self, _out: &mut Emit<'_, Vec<T>>) -> Ctl {
        self.buf.clear();
        self.weight = 0;
        Ctl::Continue
    }
}

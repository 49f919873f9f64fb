//! `intersperse`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Intersperse<T> {
    pub(crate) start: Option<T>,
    pub(crate) inject: T,
    pub(crate) end: Option<T>,
    pub(crate) first: bool,
}

impl<T: Clone + Send + 'static> Logic<T, T> for Intersperse<T> {
    fn on_start(&mut self, out: &mut Emit<'_, T>) -> Ctl {
        if let Some(s) = self.start.clone() {
            out.push(s);
        }
        Ctl::Continue
    }

    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        if self.first {
            self.first = false;
        } else {
            out.push(self.inject.clone());
        }
        out.push(x);
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, T>) -> Result<(), StreamError> {
        if let Some(e) = self.end.clone() {
            out.push(e);
        }
        Ok(())
    }

    fn demand(&self, max: usize) -> usize {
        // Each element may bring an injected separator with it.
        max.div_ceil(2)
    }
}

//! `drop` and `drop_while`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Drop {
    pub(crate) remaining: u64,
}

impl<T: Send + 'static> Logic<T, T> for Drop {
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        if self.remaining > 0 {
            self.remaining -= 1;
        } else {
            out.push(x);
        }
        Ok(Ctl::Continue)
    }
}

pub(crate) struct DropWhile<F> {
    pub(crate) pred: F,
    pub(crate) dropping: bool,
}

impl<T, F> Logic<T, T> for DropWhile<F>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        if self.dropping {
            let pred = &mut self.pred;
            if out.call(|| pred(&x))? {
                return Ok(Ctl::Continue);
            }
            self.dropping = false;
        }
        out.push(x);
        Ok(Ctl::Continue)
    }
}

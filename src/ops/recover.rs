//! `recover` and `map_error`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Recover<F>(pub(crate) F);

impl<T, F> Logic<T, T> for Recover<F>
where
    T: Send + 'static,
    F: FnMut(&StreamError) -> Option<T> + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        out.push(x);
        Ok(Ctl::Continue)
    }

    fn intercepts_failure(&self) -> bool {
        true
    }

    fn on_failure(&mut self, error: StreamError, out: &mut Emit<'_, T>) -> Result<(), StreamError> {
        let f = &mut self.0;
        match out.call(|| f(&error))? {
            Some(x) => {
                out.push(x);
                Ok(())
            }
            None => Err(error),
        }
    }
}

pub(crate) struct MapError<F>(pub(crate) F);

impl<T, F> Logic<T, T> for MapError<F>
where
    T: Send + 'static,
    F: FnMut(StreamError) -> StreamError + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        out.push(x);
        Ok(Ctl::Continue)
    }

    fn intercepts_failure(&self) -> bool {
        true
    }

    fn on_failure(&mut self, error: StreamError, out: &mut Emit<'_, T>) -> Result<(), StreamError> {
        let f = &mut self.0;
        Err(out.call(|| f(error))?)
    }
}

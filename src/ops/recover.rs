//! `recover`, `on_error_complete` and `map_error`.

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

/// Completes instead of failing when `pred` accepts the failure.
pub(crate) struct OnErrorComplete<F>(pub(crate) F);

impl<T, F> Logic<T, T> for OnErrorComplete<F>
where
    T: Send + 'static,
    F: FnMut(&StreamError) -> bool + Send + 'static,
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
        if out.call(|| f(&error))? {
            Ok(())
        } else {
            Err(error)
        }
    }
}

/// Drops an element equal to the one before it.
pub(crate) struct DropRepeated<T>(pub(crate) Option<T>);

impl<T> Logic<T, T> for DropRepeated<T>
where
    T: PartialEq + Clone + Send + 'static,
{
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        if self.0.as_ref() != Some(&x) {
            self.0 = Some(x.clone());
            out.push(x);
        }
        Ok(Ctl::Continue)
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

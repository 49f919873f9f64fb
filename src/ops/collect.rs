//! `collect_first` and `collect_while`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

/// Emits `f(x)` for the first `x` where it is `Some`, then completes (Akka's `collectFirst`).
pub(crate) struct CollectFirst<F>(pub(crate) F);

impl<In, Out, F> Logic<In, Out> for CollectFirst<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(In) -> Option<Out> + Send + 'static,
{
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, Out>) -> Result<Ctl, StreamError> {
        let f = &mut self.0;
        Ok(match out.call(|| f(x))? {
            Some(y) => {
                out.push(y);
                Ctl::Complete
            }
            None => Ctl::Continue,
        })
    }

    fn demand(&self, _max: usize) -> usize {
        // Only one element can be emitted: ask for no more than needed to find it one by one,
        // so that nothing past the match is taken from upstream.
        1
    }
}

/// Emits `f(x)` while it is `Some`; completes at the first `None` (Akka's `collectWhile`).
pub(crate) struct CollectWhile<F>(pub(crate) F);

impl<In, Out, F> Logic<In, Out> for CollectWhile<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(In) -> Option<Out> + Send + 'static,
{
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, Out>) -> Result<Ctl, StreamError> {
        let f = &mut self.0;
        Ok(match out.call(|| f(x))? {
            Some(y) => {
                out.push(y);
                Ctl::Continue
            }
            None => Ctl::Complete,
        })
    }
}

//! `map`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Map<F>(pub(crate) F);

impl<In, Out, F> Logic<In, Out> for Map<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(In) -> Out + Send + 'static,
{
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, Out>) -> Result<Ctl, StreamError> {
        let f = &mut self.0;
        out.push(out.call(|| f(x))?);
        Ok(Ctl::Continue)
    }
}

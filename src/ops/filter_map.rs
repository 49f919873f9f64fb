//! `filter_map` (Akka's `collect`).

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct FilterMap<F>(pub(crate) F);

impl<In, Out, F> Logic<In, Out> for FilterMap<F>
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
        if let Some(y) = out.call(|| f(x))? {
            out.push(y);
        }
        Ok(Ctl::Continue)
    }
}

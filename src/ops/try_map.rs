//! `try_map`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct TryMap<F>(pub(crate) F);

impl<In, Out, E, F> Logic<In, Out> for TryMap<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
    F: FnMut(In) -> Result<Out, E> + Send + 'static,
{
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, Out>) -> Result<Ctl, StreamError> {
        let f = &mut self.0;
        match out.call(|| f(x))? {
            Ok(y) => {
                out.push(y);
                Ok(Ctl::Continue)
            }
            // A returned error goes to the decider like a panic does.
            Err(e) => Err(StreamError::failed(e)),
        }
    }
}

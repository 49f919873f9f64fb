//! `filter` and `filter_not`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

/// Keeps elements for which the predicate returns `KEEP`.
pub(crate) struct Filter<F, const KEEP: bool>(pub(crate) F);

impl<T, F, const KEEP: bool> Logic<T, T> for Filter<F, KEEP>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        let f = &mut self.0;
        if out.call(|| f(&x))? == KEEP {
            out.push(x);
        }
        Ok(Ctl::Continue)
    }
}

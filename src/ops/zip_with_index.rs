//! `zip_with_index`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct ZipWithIndex(pub(crate) u64);

impl<T: Send + 'static> Logic<T, (T, u64)> for ZipWithIndex {
    fn passes_completion(&self) -> bool {
        true
    }

    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, (T, u64)>) -> Result<Ctl, StreamError> {
        out.push((x, self.0));
        self.0 += 1;
        Ok(Ctl::Continue)
    }
}

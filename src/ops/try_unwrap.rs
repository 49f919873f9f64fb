//! Fails the stream on an `Err` element (used by operators built from fallible steps).

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub(crate) struct TryUnwrap;

impl<T: Send + 'static> Logic<Result<T, StreamError>, T> for TryUnwrap {
    #[inline]
    fn on_element(
        &mut self,
        x: Result<T, StreamError>,
        out: &mut Emit<'_, T>,
    ) -> Result<Ctl, StreamError> {
        Ok(match x {
            Ok(x) => {
                out.push(x);
                Ctl::Continue
            }
            Err(e) => Ctl::Fail(e),
        })
    }
}

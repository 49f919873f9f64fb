//! `watch_termination`.

use super::linear::{Ctl, Emit, Logic};
use crate::materializer::Promise;
use crate::StreamError;

pub(crate) struct WatchTermination(pub(crate) Promise<()>);

impl<T: Send + 'static> Logic<T, T> for WatchTermination {
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        out.push(x);
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, _out: &mut Emit<'_, T>) -> Result<(), StreamError> {
        self.0.complete(Ok(()));
        Ok(())
    }

    fn intercepts_failure(&self) -> bool {
        true
    }

    fn on_failure(
        &mut self,
        error: StreamError,
        _out: &mut Emit<'_, T>,
    ) -> Result<(), StreamError> {
        self.0.complete(Err(error.clone()));
        Err(error)
    }
}

impl Drop for WatchTermination {
    fn drop(&mut self) {
        // Dropped before upstream terminated: downstream cancelled, which Akka reports as done.
        if !self.0.is_done() {
            self.0.complete(Ok(()));
        }
    }
}

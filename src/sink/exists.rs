//! `Sink::exists`.

use std::ops::ControlFlow;

use super::Consume;
use crate::stage::Supervisor;
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// Tests each element with `p` and stops at the first element that satisfies `p` (Akka's `Sink.exists`).
pub(crate) struct Exists<F> {
    p: F,
    sup: Supervisor,
}

impl<F> Exists<F> {
    pub(crate) fn new(p: F, attrs: &Attributes) -> Self {
        Exists {
            p,
            sup: Supervisor::new("exists", attrs),
        }
    }
}

impl<T: Send + 'static, F: FnMut(&T) -> bool + Send + 'static> Consume<T> for Exists<F> {
    type Output = bool;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<bool, StreamError>> {
        let p = &mut self.p;
        for x in batch.drain(..) {
            match self.sup.call(|| p(&x)) {
                Ok(true) => return ControlFlow::Break(Ok(true)),
                Ok(_) => {}
                // Resume and Restart skip the element: the verdict so far holds either way.
                Err(e) if self.sup.decide(&e) != Directive::Stop => {}
                Err(e) => return ControlFlow::Break(Err(e)),
            }
        }
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<bool, StreamError> {
        Ok(false)
    }
}

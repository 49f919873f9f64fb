//! `Sink::forall`.

use std::ops::ControlFlow;

use super::Consume;
use crate::stage::Supervisor;
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// Tests each element with `p` and stops at the first element that fails `p` (Akka's `Sink.forall`).
pub(crate) struct Forall<F> {
    p: F,
    sup: Supervisor,
}

impl<F> Forall<F> {
    pub(crate) fn new(p: F, attrs: &Attributes) -> Self {
        Forall {
            p,
            sup: Supervisor::new("forall", attrs),
        }
    }
}

impl<T: Send + 'static, F: FnMut(&T) -> bool + Send + 'static> Consume<T> for Forall<F> {
    type Output = bool;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<bool, StreamError>> {
        let p = &mut self.p;
        for x in batch.drain(..) {
            match self.sup.call(|| p(&x)) {
                Ok(false) => return ControlFlow::Break(Ok(false)),
                Ok(_) => {}
                // Resume and Restart skip the element: the verdict so far holds either way.
                Err(e) if self.sup.decide(&e) != Directive::Stop => {}
                Err(e) => return ControlFlow::Break(Err(e)),
            }
        }
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<bool, StreamError> {
        Ok(true)
    }
}

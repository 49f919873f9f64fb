//! `expand`.

use super::decoupled::Policy;
use crate::stage::Supervisor;
use crate::supervision::Directive;
use crate::StreamError;

/// Extrapolates from the latest element while upstream is slower than downstream. Upstream is
/// pulled again once the current element has been emitted at least once.
pub(crate) struct ExpandPolicy<I: Iterator, F> {
    pub(crate) f: F,
    pub(crate) current: Option<I>,
    pub(crate) emitted: bool,
    pub(crate) finished: bool,
}

impl<T, I, F> Policy<T, I::Item> for ExpandPolicy<I, F>
where
    T: Send + 'static,
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
    F: FnMut(T) -> I + Send + 'static,
{
    fn room(&self) -> usize {
        usize::from(self.current.is_none() || self.emitted)
    }

    fn offer(&mut self, x: T, sup: &Supervisor) -> Result<(), StreamError> {
        let f = &mut self.f;
        match sup.call(|| f(x)) {
            Ok(it) => {
                self.current = Some(it);
                self.emitted = false;
                Ok(())
            }
            Err(e) => match sup.decide(&e) {
                Directive::Stop => Err(e),
                // Resume keeps extrapolating the previous element.
                Directive::Resume => Ok(()),
                // Restart drops it too: nothing is emitted until the next element (Pekko's
                // `restartState`).
                Directive::Restart => {
                    self.current = None;
                    Ok(())
                }
            },
        }
    }

    fn take(
        &mut self,
        out: &mut Vec<I::Item>,
        max: usize,
        sup: &Supervisor,
    ) -> Result<(), StreamError> {
        // After upstream finished, only an element not yet shown is still owed.
        let max = if self.finished {
            usize::from(!self.emitted)
        } else {
            max
        };
        let Some(it) = self.current.as_mut() else {
            return Ok(());
        };
        let before = out.len();
        match sup.call(|| out.extend(it.by_ref().take(max))) {
            Ok(()) => {
                if out.len() - before < max {
                    self.current = None;
                }
                if out.len() > before {
                    self.emitted = true;
                }
                if self.finished {
                    self.current = None;
                }
                Ok(())
            }
            Err(e) => {
                self.current = None;
                if sup.decide(&e) == Directive::Stop {
                    Err(e)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        if self.emitted {
            self.current = None;
        }
    }

    fn is_empty(&self) -> bool {
        self.current.is_none()
    }
}

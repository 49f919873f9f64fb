//! `scan`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Scan<S, F> {
    zero: S,
    acc: Option<S>,
    f: F,
}

impl<S, F> Scan<S, F> {
    pub(crate) fn new(zero: S, f: F) -> Self {
        Scan { zero, acc: None, f }
    }
}

impl<In, S, F> Logic<In, S> for Scan<S, F>
where
    In: Send + 'static,
    S: Clone + Send + 'static,
    F: FnMut(S, In) -> S + Send + 'static,
{
    fn on_start(&mut self, out: &mut Emit<'_, S>) -> Ctl {
        self.acc = Some(self.zero.clone());
        out.push(self.zero.clone());
        Ctl::Continue
    }

    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, S>) -> Result<Ctl, StreamError> {
        let acc = self.acc.take().expect("scan state present after start");
        let prev = out.supervised().then(|| acc.clone());
        let f = &mut self.f;
        match out.call(|| f(acc, x)) {
            Ok(next) => {
                out.push(next.clone());
                self.acc = Some(next);
                Ok(Ctl::Continue)
            }
            Err(e) => {
                // Resume continues from the previous state; Restart resets it in `on_restart`.
                self.acc = prev;
                Err(e)
            }
        }
    }

    fn on_restart(&mut self, out: &mut Emit<'_, S>) -> Ctl {
        self.on_start(out)
    }
}

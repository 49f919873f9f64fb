//! `stateful_map`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct StatefulMap<S, Out, C, F, D>
where
    D: FnMut(S) -> Option<Out>,
{
    pub(crate) create: C,
    pub(crate) f: F,
    pub(crate) on_complete: D,
    pub(crate) state: Option<S>,
    pub(crate) _out: std::marker::PhantomData<fn() -> Out>,
}

impl<S, Out, C, F, D> Drop for StatefulMap<S, Out, C, F, D>
where
    D: FnMut(S) -> Option<Out>,
{
    fn drop(&mut self) {
        // Downstream cancelled with state left: like Pekko, call `on_complete` and discard its
        // element (there is nobody to emit it to). A panic here has nobody to report to either.
        if let Some(state) = self.state.take() {
            let done = &mut self.on_complete;
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(done(state))));
        }
    }
}

impl<In, Out, S, C, F, D> Logic<In, Out> for StatefulMap<S, Out, C, F, D>
where
    In: Send + 'static,
    Out: Send + 'static,
    S: Send + 'static,
    C: FnMut() -> S + Send + 'static,
    F: FnMut(&mut S, In) -> Out + Send + 'static,
    D: FnMut(S) -> Option<Out> + Send + 'static,
{
    fn on_start(&mut self, out: &mut Emit<'_, Out>) -> Ctl {
        let create = &mut self.create;
        match out.call(create) {
            Ok(s) => {
                self.state = Some(s);
                Ctl::Continue
            }
            Err(e) => Ctl::Fail(e),
        }
    }

    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, Out>) -> Result<Ctl, StreamError> {
        let Some(state) = self.state.as_mut() else {
            return Ok(Ctl::Continue);
        };
        let f = &mut self.f;
        out.push(out.call(|| f(state, x))?);
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, Out>) -> Result<(), StreamError> {
        if let Some(state) = self.state.take() {
            let done = &mut self.on_complete;
            if let Some(last) = out.call(|| done(state))? {
                out.push(last);
            }
        }
        Ok(())
    }

    fn intercepts_failure(&self) -> bool {
        true
    }

    fn on_failure(
        &mut self,
        error: StreamError,
        out: &mut Emit<'_, Out>,
    ) -> Result<(), StreamError> {
        // As Pekko's `statefulMap`: flush the state, then fail.
        self.on_complete(out)?;
        Err(error)
    }

    fn on_stop(&mut self, _error: &StreamError, out: &mut Emit<'_, Out>) {
        // As Pekko's `closeStateAndFail`: the state's last element precedes the failure.
        let _ = self.on_complete(out);
    }

    fn on_restart(&mut self, out: &mut Emit<'_, Out>) -> Ctl {
        // As Pekko's `resetStateAndPull`: the old state is closed with `on_complete`, whose
        // element is emitted, before a fresh one is created.
        if let Some(state) = self.state.take() {
            let done = &mut self.on_complete;
            match out.call(|| done(state)) {
                Ok(Some(last)) => out.push(last),
                Ok(None) => {}
                Err(e) => return Ctl::Fail(e),
            }
        }
        self.on_start(out)
    }
}

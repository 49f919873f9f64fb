//! `fold` and `reduce`.

use super::linear::{Ctl, Emit, Logic};
use crate::StreamError;

pub(crate) struct Fold<S, F> {
    zero: S,
    acc: Option<S>,
    f: F,
}

impl<S: Clone, F> Fold<S, F> {
    pub(crate) fn new(zero: S, f: F) -> Self {
        Fold {
            acc: Some(zero.clone()),
            zero,
            f,
        }
    }
}

impl<In, S, F> Logic<In, S> for Fold<S, F>
where
    In: Send + 'static,
    S: Clone + Send + 'static,
    F: FnMut(S, In) -> S + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: In, out: &mut Emit<'_, S>) -> Result<Ctl, StreamError> {
        let acc = self.acc.take().expect("fold state present");
        let prev = out.supervised().then(|| acc.clone());
        let f = &mut self.f;
        match out.call(|| f(acc, x)) {
            Ok(next) => {
                self.acc = Some(next);
                Ok(Ctl::Continue)
            }
            Err(e) => {
                self.acc = Some(prev.unwrap_or_else(|| self.zero.clone()));
                Err(e)
            }
        }
    }

    fn on_complete(&mut self, out: &mut Emit<'_, S>) -> Result<(), StreamError> {
        out.push(self.acc.take().unwrap_or_else(|| self.zero.clone()));
        Ok(())
    }

    fn on_restart(&mut self, _out: &mut Emit<'_, S>) -> Ctl {
        self.acc = Some(self.zero.clone());
        Ctl::Continue
    }
}

pub(crate) struct Reduce<T, F> {
    acc: Option<T>,
    f: F,
}

impl<T, F> Reduce<T, F> {
    pub(crate) fn new(f: F) -> Self {
        Reduce { acc: None, f }
    }
}

impl<T, F> Logic<T, T> for Reduce<T, F>
where
    T: Clone + Send + 'static,
    F: FnMut(T, T) -> T + Send + 'static,
{
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        match self.acc.take() {
            None => self.acc = Some(x),
            Some(acc) => {
                let prev = out.supervised().then(|| acc.clone());
                let f = &mut self.f;
                match out.call(|| f(acc, x)) {
                    Ok(next) => self.acc = Some(next),
                    Err(e) => {
                        self.acc = prev;
                        return Err(e);
                    }
                }
            }
        }
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, T>) -> Result<(), StreamError> {
        match self.acc.take() {
            Some(acc) => {
                out.push(acc);
                Ok(())
            }
            None => Err(StreamError::Empty { stage: "reduce" }),
        }
    }

    fn on_restart(&mut self, _out: &mut Emit<'_, T>) -> Ctl {
        self.acc = None;
        Ctl::Continue
    }
}

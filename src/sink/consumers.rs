//! The simple sinks, as [`Consume`] implementations.

use std::collections::VecDeque;
use std::ops::ControlFlow;

use super::Consume;
use crate::stage::Supervisor;
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

pub(crate) struct Seq<T>(pub(crate) Vec<T>);

impl<T: Send + 'static> Consume<T> for Seq<T> {
    type Output = Vec<T>;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<Vec<T>, StreamError>> {
        self.0.append(batch);
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<Vec<T>, StreamError> {
        Ok(std::mem::take(&mut self.0))
    }
}

pub(crate) struct TakeLast<T> {
    n: usize,
    buf: VecDeque<T>,
}

impl<T> TakeLast<T> {
    pub(crate) fn new(n: usize) -> Self {
        TakeLast {
            n,
            buf: VecDeque::with_capacity(n.min(1024)),
        }
    }
}

impl<T: Send + 'static> Consume<T> for TakeLast<T> {
    type Output = Vec<T>;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<Vec<T>, StreamError>> {
        for x in batch.drain(..) {
            if self.n == 0 {
                continue;
            }
            if self.buf.len() == self.n {
                self.buf.pop_front();
            }
            self.buf.push_back(x);
        }
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<Vec<T>, StreamError> {
        Ok(std::mem::take(&mut self.buf).into())
    }
}

pub(crate) struct Ignore;

impl<T: Send + 'static> Consume<T> for Ignore {
    type Output = ();

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<(), StreamError>> {
        batch.clear();
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
}

pub(crate) struct Head;

impl<T: Send + 'static> Consume<T> for Head {
    type Output = Option<T>;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<Option<T>, StreamError>> {
        if batch.is_empty() {
            ControlFlow::Continue(())
        } else {
            let first = batch.swap_remove(0);
            batch.clear();
            ControlFlow::Break(Ok(Some(first)))
        }
    }

    fn on_complete(&mut self) -> Result<Option<T>, StreamError> {
        Ok(None)
    }
}

pub(crate) struct Last<T>(pub(crate) Option<T>);

impl<T: Send + 'static> Consume<T> for Last<T> {
    type Output = Option<T>;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<Option<T>, StreamError>> {
        if let Some(x) = batch.pop() {
            self.0 = Some(x);
        }
        batch.clear();
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<Option<T>, StreamError> {
        Ok(self.0.take())
    }
}

pub(crate) struct Foreach<F> {
    f: F,
    sup: Supervisor,
}

impl<F> Foreach<F> {
    pub(crate) fn new(f: F, attrs: &Attributes) -> Self {
        Foreach {
            f,
            sup: Supervisor::new("foreach", attrs),
        }
    }
}

impl<T: Send + 'static, F: FnMut(T) + Send + 'static> Consume<T> for Foreach<F> {
    type Output = ();

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<(), StreamError>> {
        let f = &mut self.f;
        if !self.sup.is_supervised() {
            return match self.sup.call(|| batch.drain(..).for_each(&mut *f)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(Err(e)),
            };
        }
        for x in batch.drain(..) {
            if let Err(e) = self.sup.call(|| f(x)) {
                if self.sup.decide(&e) == Directive::Stop {
                    return ControlFlow::Break(Err(e));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
}

pub(crate) struct Fold<Acc, F> {
    zero: Acc,
    acc: Option<Acc>,
    f: F,
    sup: Supervisor,
}

impl<Acc: Clone, F> Fold<Acc, F> {
    pub(crate) fn new(zero: Acc, f: F, attrs: &Attributes) -> Self {
        Fold {
            acc: Some(zero.clone()),
            zero,
            f,
            sup: Supervisor::new("fold", attrs),
        }
    }
}

impl<T, Acc, F> Consume<T> for Fold<Acc, F>
where
    T: Send + 'static,
    Acc: Clone + Send + 'static,
    F: FnMut(Acc, T) -> Acc + Send + 'static,
{
    type Output = Acc;

    #[inline]
    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<Acc, StreamError>> {
        let f = &mut self.f;
        if !self.sup.is_supervised() {
            // Without a decider a panic can only stop the sink: guard the batch once.
            let acc = &mut self.acc;
            let folded = self.sup.call(|| {
                let mut a = acc
                    .take()
                    .expect("fold accumulator present between batches");
                for x in batch.drain(..) {
                    a = f(a, x);
                }
                *acc = Some(a);
            });
            return match folded {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(Err(e)),
            };
        }
        for x in batch.drain(..) {
            let acc = self
                .acc
                .take()
                .expect("fold accumulator present between elements");
            let prev = acc.clone();
            match self.sup.call(|| f(acc, x)) {
                Ok(next) => self.acc = Some(next),
                Err(e) => match self.sup.decide(&e) {
                    Directive::Resume => self.acc = Some(prev),
                    Directive::Restart => self.acc = Some(self.zero.clone()),
                    Directive::Stop => return ControlFlow::Break(Err(e)),
                },
            }
        }
        ControlFlow::Continue(())
    }

    fn on_complete(&mut self) -> Result<Acc, StreamError> {
        Ok(self.acc.take().unwrap_or_else(|| self.zero.clone()))
    }
}

/// Turns a sink's `Option` result into a required one: `None` fails with
/// [`StreamError::Empty`].
pub(crate) struct Required<C>(pub(crate) C, pub(crate) &'static str);

impl<T, C, R> Consume<T> for Required<C>
where
    T: Send + 'static,
    R: Send + 'static,
    C: Consume<T, Output = Option<R>>,
{
    type Output = R;

    fn on_batch(&mut self, batch: &mut Vec<T>) -> ControlFlow<Result<R, StreamError>> {
        match self.0.on_batch(batch) {
            ControlFlow::Continue(()) => ControlFlow::Continue(()),
            ControlFlow::Break(r) => ControlFlow::Break(self.require(r)),
        }
    }

    fn on_complete(&mut self) -> Result<R, StreamError> {
        let r = self.0.on_complete();
        self.require(r)
    }

    fn on_failure(&mut self, error: StreamError) -> Result<R, StreamError> {
        let r = self.0.on_failure(error);
        self.require(r)
    }
}

impl<C> Required<C> {
    fn require<R>(&self, r: Result<Option<R>, StreamError>) -> Result<R, StreamError> {
        r?.ok_or(StreamError::Empty { stage: self.1 })
    }
}

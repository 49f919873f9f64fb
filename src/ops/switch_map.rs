//! `switch_map`: each element's source replaces the previous one's.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, Materializer, Source, StreamError};

/// Reads every element upstream has ready and runs the source of the latest, cancelling the
/// one before.
pub(crate) struct SwitchMap<In, Out, M, F> {
    up: Option<BoxPull<In>>,
    f: F,
    inner: Option<BoxPull<Out>>,
    inbuf: Vec<In>,
    batch: usize,
    attrs: Attributes,
    sup: Supervisor,
    _mat: std::marker::PhantomData<fn() -> M>,
}

impl<In, Out, M, F> SwitchMap<In, Out, M, F> {
    pub(crate) fn new(up: BoxPull<In>, f: F, attrs: &Attributes) -> Self {
        let batch = attrs.input_buffer_size().max(1);
        SwitchMap {
            up: Some(up),
            f,
            inner: None,
            inbuf: Vec::with_capacity(batch),
            batch,
            attrs: attrs.clone(),
            sup: Supervisor::new("switch_map", attrs),
            _mat: std::marker::PhantomData,
        }
    }
}

impl<In, Out, M, F> SwitchMap<In, Out, M, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: FnMut(In) -> Source<Out, M> + Send + 'static,
{
    /// Reads upstream until it has nothing ready; `Ok(true)` if it gave anything.
    fn read_upstream(&mut self, cx: &mut Context<'_>) -> Result<bool, StreamError> {
        let mut progressed = false;
        while let Some(up) = self.up.as_mut() {
            let Poll::Ready(step) = up.pull(cx, &mut self.inbuf, self.batch) else {
                break;
            };
            progressed = true;
            let mut latest = None;
            let mut failure = None;
            for x in self.inbuf.drain(..) {
                let f = &mut self.f;
                match self.sup.call(|| f(x)) {
                    Ok(source) => latest = Some(source),
                    Err(e) => {
                        if self.sup.decide(&e) == Directive::Stop {
                            failure = Some(e);
                            break;
                        }
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
            // Only the latest source of a batch is run: the earlier ones would be cancelled
            // before they could be pulled.
            if let Some(source) = latest {
                self.inner = None;
                let mut m = Materializer::new();
                let (p, _) = source.materialize_into(&mut m, &self.attrs);
                m.launch();
                self.inner = Some(p);
            }
            match step {
                Step::Open => {}
                Step::Complete => self.up = None,
                Step::Failed(e) => return Err(e),
            }
        }
        Ok(progressed)
    }
}

impl<In, Out, M, F> Pull<Out> for SwitchMap<In, Out, M, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: FnMut(In) -> Source<Out, M> + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let mut progressed = match self.read_upstream(cx) {
                Ok(p) => p,
                Err(e) => return Poll::Ready(Step::Failed(e)),
            };
            if let Some(inner) = self.inner.as_mut() {
                match inner.pull(cx, out, max - (out.len() - start)) {
                    Poll::Pending => {}
                    Poll::Ready(Step::Open) => progressed = true,
                    Poll::Ready(Step::Complete) => {
                        self.inner = None;
                        progressed = true;
                    }
                    Poll::Ready(Step::Failed(e)) => return Poll::Ready(Step::Failed(e)),
                }
            }
            if self.up.is_none() && self.inner.is_none() {
                return Poll::Ready(Step::Complete);
            }
            if out.len() > start {
                return Poll::Ready(Step::Open);
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// An upstream failure fails the stage at once, cancelling the running source.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }
}

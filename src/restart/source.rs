//! The stage behind `RestartSource`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use super::backoff::{poll_timer, Backoff};
use crate::source::FailedPull;
use crate::stage::{guarded, BoxPull, Pull, Step};
use crate::{Attributes, Materializer, Source};

enum State<T> {
    Running(BoxPull<T>),
    Waiting(Pin<Box<Sleep>>),
}

/// Emits the inner source's elements; when it ends, waits out the backoff and starts a new one.
pub(crate) struct RestartSourcePull<T, F> {
    factory: Arc<F>,
    attrs: Attributes,
    backoff: Backoff,
    only_on_failures: bool,
    state: State<T>,
}

/// Materializes a fresh inner source on its own materializer; a panicking factory reads as a
/// failed source.
pub(crate) fn start_source<T, M, F>(
    factory: &F,
    m: &mut Materializer,
    attrs: &Attributes,
) -> BoxPull<T>
where
    T: Send + 'static,
    M: 'static,
    F: Fn() -> Source<T, M>,
{
    match guarded(&attrs.name_or("RestartSource"), factory) {
        Ok(source) => source.materialize_into(m, attrs).0,
        Err(e) => Box::new(FailedPull(Some(e))),
    }
}

impl<T, M, F> RestartSourcePull<T, F>
where
    T: Send + 'static,
    M: 'static,
    F: Fn() -> Source<T, M> + Send + Sync + 'static,
{
    pub(crate) fn new(
        factory: Arc<F>,
        m: &mut Materializer,
        attrs: &Attributes,
        backoff: Backoff,
        only_on_failures: bool,
    ) -> Self {
        let first = start_source(&*factory, m, attrs);
        RestartSourcePull {
            factory,
            attrs: attrs.clone(),
            backoff,
            only_on_failures,
            state: State::Running(first),
        }
    }
}

impl<T, M, F> Pull<T> for RestartSourcePull<T, F>
where
    T: Send + 'static,
    M: 'static,
    F: Fn() -> Source<T, M> + Send + Sync + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        loop {
            match &mut self.state {
                State::Running(inner) => {
                    let step = match inner.pull(cx, out, max) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Step::Open) => return Poll::Ready(Step::Open),
                        Poll::Ready(step) => step,
                    };
                    let timer = self.backoff.after_run(&step, self.only_on_failures);
                    let Some(timer) = timer else {
                        return Poll::Ready(step);
                    };
                    self.state = State::Waiting(timer);
                    if !out.is_empty() {
                        // Deliver what the last run emitted; the backoff runs from now, and
                        // the next pull waits for the rest of it.
                        return Poll::Ready(Step::Open);
                    }
                }
                State::Waiting(timer) => {
                    if poll_timer(timer, cx).is_pending() {
                        return Poll::Pending;
                    }
                    let mut m = Materializer::new();
                    let inner = start_source(&*self.factory, &mut m, &self.attrs);
                    m.launch();
                    self.backoff.started();
                    self.state = State::Running(inner);
                }
            }
        }
    }
}

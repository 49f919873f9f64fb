//! The stage behind `RestartFlow`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use super::backoff::{poll_timer, Backoff};
use super::feed::Upstream;
use crate::source::FailedPull;
use crate::stage::{guarded, BoxPull, Pull, Step};
use crate::{Attributes, Flow, Materializer};

enum State<T> {
    Running(BoxPull<T>),
    Waiting(Pin<Box<Sleep>>),
}

/// Runs the outer upstream through the inner flow; when the flow ends while the upstream has
/// not, waits out the backoff and runs it through a new one.
pub(crate) struct RestartFlowPull<In, Out, F> {
    factory: Arc<F>,
    attrs: Attributes,
    upstream: Upstream<In>,
    backoff: Backoff,
    only_on_failures: bool,
    state: State<Out>,
}

fn start_flow<In, Out, M, F>(
    factory: &F,
    upstream: &Upstream<In>,
    m: &mut Materializer,
    attrs: &Attributes,
) -> BoxPull<Out>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: Fn() -> Flow<In, Out, M>,
{
    match guarded(&attrs.name_or("RestartFlow"), factory) {
        Ok(flow) => {
            let (feed, _gone) = upstream.lend();
            flow.materialize_into(m, Box::new(feed), attrs).0
        }
        Err(e) => Box::new(FailedPull(Some(e))),
    }
}

impl<In, Out, M, F> RestartFlowPull<In, Out, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: Fn() -> Flow<In, Out, M> + Send + Sync + 'static,
{
    pub(crate) fn new(
        factory: Arc<F>,
        up: BoxPull<In>,
        m: &mut Materializer,
        attrs: &Attributes,
        backoff: Backoff,
        only_on_failures: bool,
    ) -> Self {
        let upstream = Upstream::new(up);
        let first = start_flow(&*factory, &upstream, m, attrs);
        RestartFlowPull {
            factory,
            attrs: attrs.clone(),
            upstream,
            backoff,
            only_on_failures,
            state: State::Running(first),
        }
    }
}

impl<In, Out, M, F> Pull<Out> for RestartFlowPull<In, Out, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: Fn() -> Flow<In, Out, M> + Send + Sync + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        loop {
            match &mut self.state {
                State::Running(inner) => {
                    let step = match inner.pull(cx, out, max) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Step::Open) => return Poll::Ready(Step::Open),
                        Poll::Ready(step) => step,
                    };
                    // Once the outer upstream has ended, the flow's end is the stream's.
                    let timer = if self.upstream.ended() {
                        None
                    } else {
                        self.backoff.after_run(&step, self.only_on_failures)
                    };
                    let Some(timer) = timer else {
                        return Poll::Ready(step);
                    };
                    self.state = State::Waiting(timer);
                    if !out.is_empty() {
                        return Poll::Ready(Step::Open);
                    }
                }
                State::Waiting(timer) => {
                    // As Akka, an upstream that ends during the backoff ends the stage.
                    if let Poll::Ready(step) = self.upstream.poll_ended(cx) {
                        return Poll::Ready(step);
                    }
                    if poll_timer(timer, cx).is_pending() {
                        return Poll::Pending;
                    }
                    let mut m = Materializer::new();
                    let inner = start_flow(&*self.factory, &self.upstream, &mut m, &self.attrs);
                    m.launch();
                    self.backoff.started();
                    self.state = State::Running(inner);
                }
            }
        }
    }
}

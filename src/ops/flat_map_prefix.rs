//! `flat_map_prefix`: the first elements choose the flow the rest goes through.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Completed, Pull, Step, Supervisor};
use crate::{Attributes, Flow, Materializer, StreamError};

enum State<In, Out> {
    Prefix(Option<BoxPull<In>>),
    Running(BoxPull<Out>),
}

/// Collects up to `n` elements, builds a flow from them with `f`, and runs the rest of
/// upstream through it.
pub(crate) struct FlatMapPrefix<In, Out, F> {
    state: State<In, Out>,
    n: usize,
    prefix: Vec<In>,
    f: F,
    attrs: Attributes,
    sup: Supervisor,
}

impl<In, Out, F> FlatMapPrefix<In, Out, F> {
    pub(crate) fn new(up: BoxPull<In>, n: usize, f: F, attrs: &Attributes) -> Self {
        FlatMapPrefix {
            state: State::Prefix(Some(up)),
            n,
            prefix: Vec::with_capacity(n.min(1024)),
            f,
            attrs: attrs.clone(),
            sup: Supervisor::new("flat_map_prefix", attrs),
        }
    }
}

impl<In, Out, M, F> Pull<Out> for FlatMapPrefix<In, Out, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    M: 'static,
    F: FnMut(Vec<In>) -> Flow<In, Out, M> + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        if let State::Prefix(up) = &mut self.state {
            let Some(source) = up.as_mut() else {
                return Poll::Ready(Step::Complete);
            };
            let mut rest = None;
            while self.prefix.len() < self.n {
                let want = self.n - self.prefix.len();
                match source.pull(cx, &mut self.prefix, want) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Step::Open) => {}
                    Poll::Ready(Step::Complete) => {
                        rest = Some(Box::new(Completed) as BoxPull<In>);
                        break;
                    }
                    Poll::Ready(Step::Failed(e)) => return Poll::Ready(Step::Failed(e)),
                }
            }
            let rest = match rest {
                Some(completed) => {
                    *up = None;
                    completed
                }
                None => up.take().expect("checked above"),
            };
            let prefix = std::mem::take(&mut self.prefix);
            let f = &mut self.f;
            // No element to skip: a failure of `f` fails the stage whatever the decider says.
            let flow = match self.sup.call(|| f(prefix)) {
                Ok(flow) => flow,
                Err(e) => return Poll::Ready(Step::Failed(e)),
            };
            let mut m = Materializer::new();
            let (chain, _) = flow.materialize_into(&mut m, rest, &self.attrs);
            m.launch();
            self.state = State::Running(chain);
        }
        match &mut self.state {
            State::Running(chain) => chain.pull(cx, out, max),
            State::Prefix(_) => unreachable!("the flow was started above"),
        }
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match &mut self.state {
            State::Prefix(Some(up)) => up.poll_failed(cx),
            State::Prefix(None) => Poll::Pending,
            State::Running(chain) => chain.poll_failed(cx),
        }
    }
}

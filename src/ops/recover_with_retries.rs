//! `recover_with_retries`.

use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::{Attributes, Materializer, Source, StreamError};

/// On failure, switches to the source `f` returns, at most `attempts` times (`None`: no limit).
pub(crate) struct RecoverWithRetries<T, M, F> {
    current: BoxPull<T>,
    attempts: Option<u64>,
    f: F,
    attrs: Attributes,
    sup: Supervisor,
    _mat: std::marker::PhantomData<fn() -> M>,
}

impl<T, M, F> RecoverWithRetries<T, M, F> {
    pub(crate) fn new(up: BoxPull<T>, attempts: Option<u64>, f: F, attrs: &Attributes) -> Self {
        RecoverWithRetries {
            current: up,
            attempts,
            f,
            attrs: attrs.clone(),
            sup: Supervisor::new("recover_with_retries", attrs),
            _mat: std::marker::PhantomData,
        }
    }
}

impl<T, M, F> Pull<T> for RecoverWithRetries<T, M, F>
where
    T: Send + 'static,
    M: 'static,
    F: FnMut(&StreamError) -> Option<Source<T, M>> + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let room = max - (out.len() - start);
            match self.current.pull(cx, out, room) {
                Poll::Ready(Step::Failed(e)) if self.attempts != Some(0) => {
                    let f = &mut self.f;
                    let next = match self.sup.call(|| f(&e)) {
                        Ok(Some(source)) => source,
                        Ok(None) => return Poll::Ready(Step::Failed(e)),
                        Err(panic) => return Poll::Ready(Step::Failed(panic)),
                    };
                    if let Some(a) = self.attempts.as_mut() {
                        *a -= 1;
                    }
                    let mut m = Materializer::new();
                    let (p, _) = next.materialize_into(&mut m, &self.attrs);
                    m.launch();
                    self.current = p;
                    if out.len() - start == max {
                        return Poll::Ready(Step::Open);
                    }
                    if out.len() == start {
                        // Yield between recoveries, so a source that fails at once cannot
                        // spin here forever.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Poll::Pending if out.len() > start => return Poll::Ready(Step::Open),
                other => return other,
            }
        }
    }
}

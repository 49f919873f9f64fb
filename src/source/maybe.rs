//! `Source::maybe`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::oneshot;

use crate::stage::{Pull, Step};

/// Completes a [`Source::maybe`](crate::Source::maybe) with at most one element.
pub struct MaybeHandle<T> {
    tx: oneshot::Sender<Option<T>>,
}

impl<T> MaybeHandle<T> {
    /// Emits `value` (if `Some`) and completes the source. Returns the value back if the stream
    /// was already cancelled.
    pub fn complete(self, value: Option<T>) -> Result<(), Option<T>> {
        self.tx.send(value)
    }
}

impl<T> fmt::Debug for MaybeHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaybeHandle").finish_non_exhaustive()
    }
}

pub(crate) struct MaybePull<T> {
    rx: oneshot::Receiver<Option<T>>,
}

pub(crate) fn maybe<T>() -> (MaybeHandle<T>, MaybePull<T>) {
    let (tx, rx) = oneshot::channel();
    (MaybeHandle { tx }, MaybePull { rx })
}

impl<T: Send + 'static> Pull<T> for MaybePull<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, _max: usize) -> Poll<Step> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(x))) => {
                out.push(x);
                Poll::Ready(Step::Complete)
            }
            // `None`, or the handle was dropped: complete empty.
            Poll::Ready(_) => Poll::Ready(Step::Complete),
        }
    }
}

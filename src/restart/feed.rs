//! The upstream of a restarting flow or sink, lent to one inner stream at a time.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::channel::oneshot;

use crate::stage::{poll_terminal, BoxPull, Pull, Step};
use crate::StreamError;

struct Lent<T> {
    up: Option<BoxPull<T>>,
    /// Which feed may read: a feed of an inner stream that was replaced reads nothing more.
    current: u64,
}

/// The outer upstream, which outlives every inner stream.
pub(crate) struct Upstream<T> {
    lent: Arc<Mutex<Lent<T>>>,
}

impl<T: Send + 'static> Upstream<T> {
    pub(crate) fn new(up: BoxPull<T>) -> Self {
        Upstream {
            lent: Arc::new(Mutex::new(Lent {
                up: Some(up),
                current: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lent<T>> {
        self.lent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new inner stream's input; the previous one's reads nothing more. `gone` resolves
    /// when the new one is dropped (its inner stream cancelled it or ended).
    pub(crate) fn lend(&self) -> (Feed<T>, oneshot::Receiver<()>) {
        let (tx, gone) = oneshot::channel();
        let mut lent = self.lock();
        lent.current += 1;
        let feed = Feed {
            lent: self.lent.clone(),
            id: lent.current,
            _alive: tx,
        };
        (feed, gone)
    }

    /// Whether the outer upstream has ended (an inner stream read its completion or failure).
    pub(crate) fn ended(&self) -> bool {
        self.lock().up.is_none()
    }

    /// Between inner streams: how the outer upstream ended, if it has, asked without demand
    /// (Akka terminates a restarting stage whose upstream ends during a backoff).
    pub(crate) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Step> {
        let mut lent = self.lock();
        let Some(up) = lent.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        let step = poll_terminal(up, cx);
        if step.is_ready() {
            lent.up = None;
        }
        step
    }
}

/// An inner stream's input: reads the outer upstream while it is the current feed.
pub(crate) struct Feed<T> {
    lent: Arc<Mutex<Lent<T>>>,
    id: u64,
    _alive: oneshot::Sender<()>,
}

impl<T: Send + 'static> Feed<T> {
    /// Asks the outer upstream, if this feed may still read it, whether it has ended; once it
    /// says so it is released, as nothing is left to read. `None` when this feed is cut off.
    fn poll_end<R>(
        &mut self,
        cx: &mut Context<'_>,
        ask: impl FnOnce(&mut BoxPull<T>, &mut Context<'_>) -> Poll<R>,
    ) -> Option<Poll<R>> {
        let mut lent = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        if lent.current != self.id {
            return None;
        }
        let up = lent.up.as_mut()?;
        let answer = ask(up, cx);
        if answer.is_ready() {
            lent.up = None;
        }
        Some(answer)
    }
}

impl<T: Send + 'static> Pull<T> for Feed<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut lent = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        if lent.current != self.id {
            return Poll::Ready(Step::Complete);
        }
        let Some(up) = lent.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        // One element per pull: a flow that fails loses the element it was working on, not
        // a whole batch taken from the outer upstream (Akka's flow takes one at a time too).
        let _ = max;
        let step = up.pull(cx, out, 1);
        if matches!(&step, Poll::Ready(s) if s.is_terminal()) {
            lent.up = None;
        }
        step
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        self.poll_end(cx, |up, cx| up.poll_failed(cx))
            .unwrap_or(Poll::Pending)
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_end(cx, |up, cx| up.poll_complete(cx))
            .unwrap_or(Poll::Ready(()))
    }
}

//! Typed ports and the driver's per-port state.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use crate::boundary::{Cancelled, Sender};
use crate::stage::{pull_guarded, BoxPull, Step};
use crate::StreamError;

/// Identifies a port within its stage: inlets and outlets are numbered separately, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortId(pub(crate) usize);

/// A typed input port of a custom stage (Akka's `Inlet[T]`).
pub struct Inlet<T> {
    pub(crate) id: usize,
    pub(crate) name: &'static str,
    _t: PhantomData<fn() -> T>,
}

/// A typed output port of a custom stage (Akka's `Outlet[T]`).
pub struct Outlet<T> {
    pub(crate) id: usize,
    pub(crate) name: &'static str,
    _t: PhantomData<fn(T)>,
}

macro_rules! port_impls {
    ($port:ident) => {
        impl<T> $port<T> {
            /// A port named `name` with index `id` among its stage's ports of this direction.
            pub fn new(id: usize, name: &'static str) -> Self {
                $port {
                    id,
                    name,
                    _t: PhantomData,
                }
            }

            /// The port's id, as handlers receive it.
            pub fn id(&self) -> PortId {
                PortId(self.id)
            }

            /// The port's name.
            pub fn name(&self) -> &'static str {
                self.name
            }
        }

        impl<T> Clone for $port<T> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<T> Copy for $port<T> {}

        impl<T> fmt::Debug for $port<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({}#{})", stringify!($port), self.name, self.id)
            }
        }

        impl<T> PartialEq<$port<T>> for PortId {
            fn eq(&self, other: &$port<T>) -> bool {
                self.0 == other.id
            }
        }
    };
}

port_impls!(Inlet);
port_impls!(Outlet);

/// What an inlet has for the logic.
pub(crate) enum InEvent {
    Push,
    Finish,
    Failure(StreamError),
}

/// The type-erased face of an inlet's state.
pub(crate) trait InPort: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    /// Makes progress; returns an event for the logic if there is one.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Option<InEvent>;
    /// The end of an inlet the logic has not pulled: a failure at once, ahead of prefetched
    /// elements; completion once none is left (Akka signals both without a pull).
    fn poll_unpulled(&mut self, cx: &mut Context<'_>) -> Option<InEvent>;
    fn cancel(&mut self);
    fn is_closed(&self) -> bool;
}

/// An inlet's state: the upstream chain, a small prefetch buffer and the element handed over.
pub(crate) struct InSlot<T> {
    up: Option<BoxPull<T>>,
    buf: VecDeque<T>,
    scratch: Vec<T>,
    batch: usize,
    pub(crate) grabbed: Option<T>,
    pub(crate) pulled: bool,
    terminal: Option<Step>,
    pub(crate) closed: bool,
}

impl<T> InSlot<T> {
    pub(crate) fn new(up: BoxPull<T>, batch: usize) -> Self {
        InSlot {
            up: Some(up),
            buf: VecDeque::new(),
            scratch: Vec::new(),
            batch: batch.max(1),
            grabbed: None,
            pulled: false,
            terminal: None,
            closed: false,
        }
    }
}

impl<T: Send + 'static> InPort for InSlot<T> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Option<InEvent> {
        if self.closed || !self.pulled {
            return None;
        }
        loop {
            if let Some(x) = self.buf.pop_front() {
                self.grabbed = Some(x);
                self.pulled = false;
                return Some(InEvent::Push);
            }
            if let Some(t) = self.terminal.take() {
                self.closed = true;
                self.pulled = false;
                return Some(match t {
                    Step::Failed(e) => InEvent::Failure(e),
                    _ => InEvent::Finish,
                });
            }
            let up = self.up.as_mut()?;
            match pull_guarded(up, cx, &mut self.scratch, self.batch) {
                Poll::Pending => return None,
                Poll::Ready(step) => {
                    self.buf.extend(self.scratch.drain(..));
                    if step.is_terminal() {
                        self.up = None;
                        self.terminal = Some(step);
                    }
                }
            }
        }
    }

    fn poll_unpulled(&mut self, cx: &mut Context<'_>) -> Option<InEvent> {
        if self.closed || self.pulled {
            return None;
        }
        let failure = match self.terminal.take() {
            Some(Step::Failed(e)) => Some(e),
            other => {
                self.terminal = other;
                match self.up.as_mut().map(|up| up.poll_failed(cx)) {
                    Some(Poll::Ready(e)) => Some(e),
                    _ => None,
                }
            }
        };
        if let Some(e) = failure {
            self.cancel();
            return Some(InEvent::Failure(e));
        }
        // Completion needs no pull either, once nothing prefetched is left.
        if self.buf.is_empty() {
            let complete = matches!(self.terminal, Some(Step::Complete))
                || matches!(
                    self.up.as_mut().map(|up| up.poll_complete(cx)),
                    Some(Poll::Ready(()))
                );
            if complete {
                self.up = None;
                self.terminal = None;
                self.closed = true;
                return Some(InEvent::Finish);
            }
        }
        None
    }

    fn cancel(&mut self) {
        self.up = None;
        self.buf.clear();
        self.closed = true;
        self.pulled = false;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

/// What an outlet has for the logic.
pub(crate) enum OutEvent {
    Pull,
    DownstreamFinish,
    /// The port closed itself (a completion deferred behind emits went out).
    Closed,
}

/// The type-erased face of an outlet's state.
pub(crate) trait OutPort: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    /// Sends what was pushed, tops up from the emit queue, and reports new demand or
    /// cancellation.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Option<OutEvent>;
    /// Sends the elements pushed since the last flush.
    fn flush(&mut self);
    /// Wakes the task when downstream cancels; `true` if it already has.
    fn watch_cancel(&mut self, cx: &mut Context<'_>) -> bool;
    /// Completes (after queued emits) or fails the port.
    fn finish(&mut self, terminal: Step);
    fn is_closed(&self) -> bool;
}

/// An outlet's state: a boundary to the downstream island.
pub(crate) struct OutSlot<T> {
    tx: Option<Sender<T>>,
    batch: Vec<T>,
    /// Downstream demand the logic has been told about (`on_pull` delivered, no push yet).
    pub(crate) available: bool,
    pub(crate) emits: VecDeque<T>,
    deferred: Option<Step>,
    pub(crate) closed: bool,
}

impl<T> OutSlot<T> {
    pub(crate) fn new(tx: Sender<T>) -> Self {
        OutSlot {
            tx: Some(tx),
            batch: Vec::new(),
            available: false,
            emits: VecDeque::new(),
            deferred: None,
            closed: false,
        }
    }

    pub(crate) fn push(&mut self, x: T) {
        self.available = false;
        self.batch.push(x);
    }

    fn close_with(&mut self, terminal: Step) {
        if let Some(mut tx) = self.tx.take() {
            let _ = tx.send(&mut self.batch, Some(terminal));
        }
        self.batch.clear();
        self.emits.clear();
        self.closed = true;
        self.available = false;
    }
}

impl<T: Send + 'static> OutPort for OutSlot<T> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Option<OutEvent> {
        loop {
            let tx = self.tx.as_mut()?;
            // `room` is credit for elements not yet sent; `batch` holds pushed, unsent ones.
            let room = match tx.poll_room(cx) {
                Poll::Pending => return None,
                Poll::Ready(Err(Cancelled)) => {
                    self.tx = None;
                    self.closed = true;
                    self.available = false;
                    self.emits.clear();
                    self.batch.clear();
                    return Some(OutEvent::DownstreamFinish);
                }
                Poll::Ready(Ok(room)) => room,
            };
            if self.batch.len() >= room {
                self.flush();
                continue;
            }
            if !self.emits.is_empty() {
                let n = self.emits.len().min(room - self.batch.len());
                self.batch.extend(self.emits.drain(..n));
                continue;
            }
            if let Some(t) = self.deferred.take() {
                self.close_with(t);
                return Some(OutEvent::Closed);
            }
            if self.available {
                return None;
            }
            self.available = true;
            return Some(OutEvent::Pull);
        }
    }

    fn flush(&mut self) {
        if let Some(tx) = self.tx.as_mut() {
            // A refused send means downstream cancelled; the next poll reports it.
            if !self.batch.is_empty() && tx.send(&mut self.batch, None).is_err() {
                self.batch.clear();
            }
        }
    }

    fn watch_cancel(&mut self, cx: &mut Context<'_>) -> bool {
        match self.tx.as_mut() {
            Some(tx) => tx.watch_cancel(cx).is_err(),
            None => false,
        }
    }

    fn finish(&mut self, terminal: Step) {
        if self.closed {
            return;
        }
        match terminal {
            Step::Complete if !self.emits.is_empty() => self.deferred = Some(Step::Complete),
            t => self.close_with(t),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

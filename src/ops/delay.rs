//! `delay` and `delay_with`: each element held back for a time, in order, in a bounded buffer.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::timer::{later, Timer};
use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, StreamError};

/// What `delay` does when an element arrives and its buffer is full (Akka's
/// `DelayOverflowStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayOverflowStrategy {
    /// When an element arrives at a full buffer, emit the oldest at once, before its time (the
    /// buffer holds the arrival beside it until it has gone).
    EmitEarly,
    /// Stop pulling from upstream until an element's time has come (lossless).
    BackPressure,
    /// Drop the oldest buffered element to make room.
    DropHead,
    /// Drop the newest buffered element to make room.
    DropTail,
    /// Drop every buffered element to make room.
    DropBuffer,
    /// Drop the arriving element.
    DropNew,
    /// Fail the stream with [`StreamError::BufferOverflow`].
    Fail,
}

pub(crate) struct Delay<T, F> {
    up: Option<BoxPull<T>>,
    /// Each element with when it is due, in arrival order.
    buf: VecDeque<(Instant, T)>,
    size: usize,
    strategy: DelayOverflowStrategy,
    delay_of: F,
    supervisor: Supervisor,
    timer: Timer,
    scratch: Vec<T>,
}

impl<T, F: FnMut(&T) -> Duration> Delay<T, F> {
    pub(crate) fn new(
        up: BoxPull<T>,
        strategy: DelayOverflowStrategy,
        delay_of: F,
        attrs: &Attributes,
    ) -> Self {
        let size = attrs.input_buffer_size().max(1);
        Delay {
            up: Some(up),
            buf: VecDeque::with_capacity(size.min(1024)),
            size,
            strategy,
            delay_of,
            supervisor: Supervisor::new("delay", attrs),
            timer: Timer::default(),
            scratch: Vec::new(),
        }
    }

    /// How many elements to ask upstream for now.
    fn room(&self) -> usize {
        let free = self.size - self.buf.len().min(self.size);
        match self.strategy {
            DelayOverflowStrategy::BackPressure => free,
            // One more than fits: its arrival sends the oldest out early (see `admit`), and
            // nothing more is read until that one has gone.
            DelayOverflowStrategy::EmitEarly => (self.size + 1).saturating_sub(self.buf.len()),
            _ => self.size,
        }
    }

    /// Buffers one element that arrived now, making room as the strategy says.
    fn admit(&mut self, x: T) -> Result<(), StreamError> {
        let delay_of = &mut self.delay_of;
        let d = match self.supervisor.call(|| delay_of(&x)) {
            Ok(d) => d,
            // Resume and Restart drop the element; the function keeps no state of ours.
            Err(e) if !matches!(self.supervisor.decide(&e), Directive::Stop) => return Ok(()),
            Err(e) => return Err(e),
        };
        let due = later(Instant::now(), d);
        if self.buf.len() >= self.size {
            match self.strategy {
                DelayOverflowStrategy::DropHead => {
                    self.buf.pop_front();
                }
                DelayOverflowStrategy::DropTail => {
                    self.buf.pop_back();
                }
                DelayOverflowStrategy::DropBuffer => self.buf.clear(),
                DelayOverflowStrategy::DropNew => return Ok(()),
                DelayOverflowStrategy::Fail => {
                    return Err(StreamError::BufferOverflow { size: self.size })
                }
                DelayOverflowStrategy::EmitEarly => {
                    if let Some((due, _)) = self.buf.front_mut() {
                        *due = Instant::now();
                    }
                }
                // Never reads into a full buffer.
                DelayOverflowStrategy::BackPressure => {}
            }
        }
        self.buf.push_back((due, x));
        Ok(())
    }
}

impl<T, F> Pull<T> for Delay<T, F>
where
    T: Send + 'static,
    F: FnMut(&T) -> Duration + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        loop {
            // Read what upstream has while there is room: elements are timed from arrival.
            let mut more = false;
            let room = self.room();
            if let (Some(up), true) = (self.up.as_mut(), room > 0) {
                if let Poll::Ready(step) = up.pull(cx, &mut self.scratch, room) {
                    let mut arrived = std::mem::take(&mut self.scratch);
                    for x in arrived.drain(..) {
                        if let Err(e) = self.admit(x) {
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
                    self.scratch = arrived;
                    match step {
                        Step::Open => more = true,
                        Step::Complete => self.up = None,
                        // A failure overtakes the elements still held back, as in Akka.
                        Step::Failed(e) => return Poll::Ready(Step::Failed(e)),
                    }
                }
            }
            let now = Instant::now();
            let before = out.len();
            while out.len() - before < max {
                match self.buf.front() {
                    Some((due, _)) if *due <= now => {
                        if let Some((_, x)) = self.buf.pop_front() {
                            out.push(x);
                        }
                    }
                    _ => break,
                }
            }
            let done = self.up.is_none() && self.buf.is_empty();
            if out.len() > before {
                return Poll::Ready(if done { Step::Complete } else { Step::Open });
            }
            if done {
                return Poll::Ready(Step::Complete);
            }
            if more {
                continue;
            }
            match self.buf.front() {
                Some((due, _)) if self.timer.poll_until(*due, cx) => continue,
                _ => return Poll::Pending,
            }
        }
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        match self.up.as_mut() {
            Some(up) => up.poll_failed(cx),
            None => Poll::Pending,
        }
    }
}

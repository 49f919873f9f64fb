//! `buffer` with a dropping or failing overflow strategy.

use std::collections::VecDeque;

use super::decoupled::Policy;
use crate::stage::Supervisor;
use crate::StreamError;

/// What `buffer` does when an element arrives and the buffer is full (Akka's
/// `OverflowStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowStrategy {
    /// Stop pulling from upstream until there is room (lossless).
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

pub(crate) struct BufferPolicy<T> {
    pub(crate) queue: VecDeque<T>,
    pub(crate) size: usize,
    pub(crate) strategy: OverflowStrategy,
}

impl<T: Send + 'static> Policy<T, T> for BufferPolicy<T> {
    fn room(&self) -> usize {
        match self.strategy {
            OverflowStrategy::BackPressure => self.size - self.queue.len(),
            _ => self.size,
        }
    }

    fn offer(&mut self, x: T, _sup: &Supervisor) -> Result<(), StreamError> {
        if self.queue.len() == self.size {
            match self.strategy {
                OverflowStrategy::DropHead => drop(self.queue.pop_front()),
                OverflowStrategy::DropTail => drop(self.queue.pop_back()),
                OverflowStrategy::DropBuffer => self.queue.clear(),
                OverflowStrategy::DropNew => return Ok(()),
                OverflowStrategy::Fail => {
                    return Err(StreamError::BufferOverflow { size: self.size })
                }
                OverflowStrategy::BackPressure => unreachable!("room() was 0"),
            }
        }
        self.queue.push_back(x);
        Ok(())
    }

    fn take(&mut self, out: &mut Vec<T>, max: usize, _sup: &Supervisor) -> Result<(), StreamError> {
        let n = max.min(self.queue.len());
        out.extend(self.queue.drain(..n));
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

//! `monitor`.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};
use crate::sync::lock;
use crate::StreamError;

/// What a [`FlowMonitor`] last saw (Akka's `FlowMonitorState`).
#[derive(Debug, Clone)]
pub enum FlowMonitorState<T> {
    /// Nothing has passed yet.
    Initialized,
    /// The latest element that passed.
    Received(T),
    /// The stream completed, or was cancelled downstream.
    Finished,
    /// The stream failed with this error.
    Failed(StreamError),
}

/// The materialized value of [`monitor`](crate::StreamOps::monitor): the state of the stream at
/// that point, readable from anywhere.
pub struct FlowMonitor<T> {
    state: Arc<Mutex<FlowMonitorState<T>>>,
}

impl<T> Clone for FlowMonitor<T> {
    fn clone(&self) -> Self {
        FlowMonitor {
            state: self.state.clone(),
        }
    }
}

impl<T> std::fmt::Debug for FlowMonitor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowMonitor").finish_non_exhaustive()
    }
}

impl<T: Clone> FlowMonitor<T> {
    /// The current state.
    pub fn state(&self) -> FlowMonitorState<T> {
        lock(&self.state).clone()
    }
}

/// Passes elements through, recording the last of each batch and the terminal signal.
pub(crate) struct Monitor<T> {
    up: BoxPull<T>,
    state: Arc<Mutex<FlowMonitorState<T>>>,
    terminated: bool,
}

impl<T> Monitor<T> {
    pub(crate) fn new(up: BoxPull<T>) -> (Self, FlowMonitor<T>) {
        let state = Arc::new(Mutex::new(FlowMonitorState::Initialized));
        let stage = Monitor {
            up,
            state: state.clone(),
            terminated: false,
        };
        (stage, FlowMonitor { state })
    }

    fn set(&mut self, s: FlowMonitorState<T>) {
        *lock(&self.state) = s;
    }
}

impl<T: Clone + Send + 'static> Pull<T> for Monitor<T> {
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let p = self.up.poll_failed(cx);
        if let Poll::Ready(e) = &p {
            self.terminated = true;
            self.set(FlowMonitorState::Failed(e.clone()));
        }
        p
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.up.poll_complete(cx)
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        let p = self.up.pull(cx, out, max);
        if let Poll::Ready(step) = &p {
            // One lock per batch: the monitor shows the batch's last element.
            let next = match step {
                Step::Open => out[start..].last().cloned().map(FlowMonitorState::Received),
                Step::Complete => Some(FlowMonitorState::Finished),
                Step::Failed(e) => Some(FlowMonitorState::Failed(e.clone())),
            };
            self.terminated = step.is_terminal();
            if let Some(s) = next {
                self.set(s);
            }
        }
        p
    }
}

impl<T> Drop for Monitor<T> {
    fn drop(&mut self) {
        // Cancelled downstream: Akka's monitor reports `Finished` too.
        if !self.terminated {
            *lock(&self.state) = FlowMonitorState::Finished;
        }
    }
}

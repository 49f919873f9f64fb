//! Supervision: what a stage does when user code fails.

use std::fmt;
use std::sync::Arc;

use crate::StreamError;

/// What a stage does after its user code failed on an element (Akka's `Supervision.Directive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Directive {
    /// Fail the stream with the error (the default).
    Stop,
    /// Drop the element and go on.
    Resume,
    /// Drop the element, reset the stage's accumulated state, and go on.
    Restart,
}

/// Decides a [`Directive`] for an error; attach one with
/// [`Attributes::supervision`](crate::Attributes::supervision).
#[derive(Clone)]
pub struct Decider(Arc<dyn Fn(&StreamError) -> Directive + Send + Sync>);

impl Decider {
    /// A decider from a function.
    pub fn new<F>(f: F) -> Self
    where
        F: Fn(&StreamError) -> Directive + Send + Sync + 'static,
    {
        Decider(Arc::new(f))
    }

    /// Always [`Directive::Stop`] (Akka's `stoppingDecider`, the default).
    pub fn stopping() -> Self {
        Decider::new(|_| Directive::Stop)
    }

    /// Always [`Directive::Resume`] (Akka's `resumingDecider`).
    pub fn resuming() -> Self {
        Decider::new(|_| Directive::Resume)
    }

    /// Always [`Directive::Restart`] (Akka's `restartingDecider`).
    pub fn restarting() -> Self {
        Decider::new(|_| Directive::Restart)
    }

    /// The directive for `error`.
    pub fn decide(&self, error: &StreamError) -> Directive {
        (self.0)(error)
    }
}

impl fmt::Debug for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decider").finish_non_exhaustive()
    }
}

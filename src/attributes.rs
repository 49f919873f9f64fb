//! Attributes: settings attached to any blueprint; the one closest to an operator wins.

use std::borrow::Cow;

use tracing::Level;

use crate::supervision::{Decider, Directive};
use crate::StreamError;

/// Default size of async-boundary buffers and of the batches a fused island's sink requests.
pub const DEFAULT_INPUT_BUFFER: usize = 16;

/// Log levels used by the `log` operator (Akka's `Attributes.logLevels`). `None` turns a kind of
/// event off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLevels {
    /// Level for each element.
    pub on_element: Option<Level>,
    /// Level for completion and cancellation.
    pub on_finish: Option<Level>,
    /// Level for failure.
    pub on_failure: Option<Level>,
}

impl Default for LogLevels {
    fn default() -> Self {
        LogLevels {
            on_element: Some(Level::DEBUG),
            on_finish: Some(Level::DEBUG),
            on_failure: Some(Level::ERROR),
        }
    }
}

/// Settings for the operators of a blueprint (Akka's `Attributes`).
///
/// Attach them with `with_attributes` or `named`. An attribute set on a
/// composite blueprint applies to every operator inside it that does not carry a closer one.
///
/// ```
/// use weir::prelude::*;
/// use weir::{Attributes, Decider};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sum = Source::from_iter(vec![1, 0, 2])
///     .map(|x| 10 / x) // panics on 0
///     .with_attributes(Attributes::supervision(Decider::resuming()))
///     .run_fold(0, |acc, x| acc + x)
///     .await;
/// assert_eq!(sum.unwrap(), 15);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    name: Option<Cow<'static, str>>,
    input_buffer: Option<usize>,
    decider: Option<Decider>,
    log_levels: Option<LogLevels>,
}

impl Attributes {
    /// No attributes.
    pub fn none() -> Self {
        Attributes::default()
    }

    /// Names the operator (used in logs and errors).
    pub fn name(name: impl Into<Cow<'static, str>>) -> Self {
        Attributes {
            name: Some(name.into()),
            ..Attributes::default()
        }
    }

    /// Size of async-boundary buffers and of the batches a sink requests (at least 1).
    pub fn input_buffer(size: usize) -> Self {
        Attributes {
            input_buffer: Some(size.max(1)),
            ..Attributes::default()
        }
    }

    /// The supervision decider for operators that run user code.
    pub fn supervision(decider: Decider) -> Self {
        Attributes {
            decider: Some(decider),
            ..Attributes::default()
        }
    }

    /// Log levels for the `log` operator.
    pub fn log_levels(levels: LogLevels) -> Self {
        Attributes {
            log_levels: Some(levels),
            ..Attributes::default()
        }
    }

    /// These attributes with `closer` layered on top: where both set a value, `closer` wins
    /// (Akka's `and`).
    pub fn and(&self, closer: &Attributes) -> Attributes {
        Attributes {
            name: closer.name.clone().or_else(|| self.name.clone()),
            input_buffer: closer.input_buffer.or(self.input_buffer),
            decider: closer.decider.clone().or_else(|| self.decider.clone()),
            log_levels: closer.log_levels.or(self.log_levels),
        }
    }

    /// The name, or `default`.
    pub fn name_or(&self, default: &'static str) -> Cow<'static, str> {
        self.name.clone().unwrap_or(Cow::Borrowed(default))
    }

    /// The input buffer size, or [`DEFAULT_INPUT_BUFFER`].
    pub fn input_buffer_size(&self) -> usize {
        self.input_buffer.unwrap_or(DEFAULT_INPUT_BUFFER)
    }

    /// How many elements the root of a fused island (a sink) requests per pull: the
    /// `input_buffer` attribute when set, otherwise as many elements as fit in 16 KiB, between 16
    /// and 1024. Larger batches amortise the per-stage dynamic call; an explicit
    /// `input_buffer(1)` gives strictly element-by-element processing.
    pub fn fused_batch<T>(&self) -> usize {
        self.input_buffer.unwrap_or_else(|| {
            let size = std::mem::size_of::<T>().max(1);
            (16 * 1024 / size).clamp(16, 1024)
        })
    }

    /// The directive the attached decider picks for `error` ([`Directive::Stop`] without one).
    pub fn decide(&self, error: &StreamError) -> Directive {
        self.decider
            .as_ref()
            .map_or(Directive::Stop, |d| d.decide(error))
    }

    /// Whether a decider is attached.
    pub fn has_decider(&self) -> bool {
        self.decider.is_some()
    }

    /// The log levels, or the defaults.
    pub fn log_levels_or_default(&self) -> LogLevels {
        self.log_levels.unwrap_or_default()
    }
}

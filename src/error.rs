//! The error a stream fails with.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a stream failed: the terminal failure signal that flows downstream.
///
/// `StreamError` is cheap to clone (causes are reference counted) because one failure may reach
/// several materialized values (a sink's completion, `watch_termination`, a side sink).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// A stage failed with a cause supplied by user code (`Source::failed`, a fallible closure).
    Failed(Arc<dyn Error + Send + Sync + 'static>),
    /// User code panicked inside a stage; the panic was turned into this failure.
    Panicked {
        /// The stage whose closure panicked (its `name` attribute or its operator name).
        stage: Cow<'static, str>,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// `limit(max)` saw more than `max` elements (Akka's `StreamLimitReachedException`).
    LimitExceeded {
        /// The configured limit.
        max: u64,
    },
    /// A stage that needs at least one element (`Sink::head`, `reduce`, `Sink::last`) saw none
    /// (Akka's `NoSuchElementException`).
    Empty {
        /// The operator that needed an element.
        stage: &'static str,
    },
    /// `buffer(size, OverflowStrategy::Fail)` received an element while full
    /// (Akka's `BufferOverflowException`).
    BufferOverflow {
        /// The buffer's capacity.
        size: usize,
    },
    /// The stream was torn down before it terminated: its task was aborted or its runtime shut
    /// down (Akka's `AbruptTerminationException`).
    AbruptTermination,
    /// A custom stage broke the stage API's rules (push without pull, pulling twice, grabbing
    /// with nothing pushed, pushing to a closed port); the stage failed.
    StageMisuse {
        /// The stage (its name).
        stage: Cow<'static, str>,
        /// The port involved.
        port: &'static str,
        /// What was done wrong.
        problem: &'static str,
    },
    /// A `Partition` junction's function chose an output that does not exist (Akka's
    /// `PartitionOutOfBoundsException`).
    PartitionOutOfBounds {
        /// The index chosen.
        index: usize,
        /// The number of outputs.
        outputs: usize,
    },
    /// A one-shot blueprint (from `Source::from_stream`, `Sink::from_sink`, `pre_materialize`)
    /// was materialized a second time.
    AlreadyMaterialized {
        /// The one-shot operator.
        stage: &'static str,
    },
    /// `idle_timeout` or `completion_timeout` ran out (Akka's `StreamIdleTimeoutException`,
    /// `CompletionTimeoutException`).
    Timeout {
        /// The operator whose time ran out.
        stage: &'static str,
        /// Its timeout.
        after: std::time::Duration,
    },
    /// An operator was given an argument it cannot work with, found when the stream runs
    /// (Akka's `IllegalArgumentException`: `Source::cycle` of an empty iterator).
    InvalidArgument {
        /// The operator.
        stage: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A handle on a materialized value was used after its stream terminated: an offer to a
    /// `Source::queue` whose stream was cancelled, a pull from a cancelled `Sink::queue`
    /// (Akka's `StreamDetachedException`).
    Detached {
        /// The operator whose handle was used.
        stage: &'static str,
    },
    /// A deferred blueprint (`Source::lazy_source`, `Source::future_source`, `Flow::lazy_flow`,
    /// `Sink::lazy_sink`) was never materialized, because its stream terminated first (Akka's
    /// `NeverMaterializedException`): the failure of its materialized value.
    NeverMaterialized {
        /// The deferred operator.
        stage: &'static str,
    },
    /// `group_by(max_substreams, ..)` met a new key while `max` substreams were open (Akka's
    /// `TooManySubstreamsOpenException`).
    TooManySubstreams {
        /// The configured `max_substreams`.
        max: usize,
    },
    /// `throttle_with(.., ThrottleMode::Enforcing)` received an element faster than its rate
    /// allows (Akka's `RateExceededException`).
    RateExceeded {
        /// The configured cost per period.
        cost: u32,
        /// The period.
        per: std::time::Duration,
    },
}

impl StreamError {
    /// A failure carrying `cause`, for user code that fails a stream on purpose.
    ///
    /// ```
    /// use weir::StreamError;
    /// let e = StreamError::failed(std::io::Error::new(std::io::ErrorKind::Other, "disk full"));
    /// assert_eq!(e.to_string(), "stream failed: disk full");
    /// ```
    pub fn failed<E: Error + Send + Sync + 'static>(cause: E) -> Self {
        StreamError::Failed(Arc::new(cause))
    }

    /// The user-supplied cause, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        match self {
            StreamError::Failed(cause) => cause.downcast_ref::<E>(),
            _ => None,
        }
    }

    pub(crate) fn panicked(stage: Cow<'static, str>, payload: Box<dyn Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        StreamError::Panicked { stage, message }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Failed(cause) => write!(f, "stream failed: {cause}"),
            StreamError::Panicked { stage, message } => {
                write!(f, "stage `{stage}` panicked: {message}")
            }
            StreamError::LimitExceeded { max } => {
                write!(f, "stream limit of {max} elements exceeded")
            }
            StreamError::Empty { stage } => write!(f, "`{stage}` found an empty stream"),
            StreamError::BufferOverflow { size } => {
                write!(f, "buffer of {size} elements overflowed")
            }
            StreamError::AbruptTermination => write!(f, "stream terminated abruptly"),
            StreamError::StageMisuse {
                stage,
                port,
                problem,
            } => {
                write!(f, "stage `{stage}` misused port `{port}`: {problem}")
            }
            StreamError::PartitionOutOfBounds { index, outputs } => {
                write!(f, "partition chose output {index} of {outputs}")
            }
            StreamError::AlreadyMaterialized { stage } => {
                write!(f, "one-shot `{stage}` was materialized more than once")
            }
            StreamError::Timeout { stage, after } => {
                write!(f, "`{stage}` timed out after {after:?}")
            }
            StreamError::InvalidArgument { stage, problem } => {
                write!(f, "invalid argument to `{stage}`: {problem}")
            }
            StreamError::Detached { stage } => {
                write!(f, "the stream of `{stage}` has terminated")
            }
            StreamError::NeverMaterialized { stage } => {
                write!(f, "`{stage}` was never materialized")
            }
            StreamError::TooManySubstreams { max } => {
                write!(
                    f,
                    "cannot open a substream: {max} substreams are already open"
                )
            }
            StreamError::RateExceeded { cost, per } => {
                write!(
                    f,
                    "maximum throttle throughput exceeded: {cost} per {per:?}"
                )
            }
        }
    }
}

impl Error for StreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StreamError::Failed(cause) => Some(&**cause as &(dyn Error + 'static)),
            _ => None,
        }
    }
}

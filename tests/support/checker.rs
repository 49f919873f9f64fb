//! A pass-through stage that checks the raw pull protocol on both of its sides.
//!
//! Put [`ContractLog::flow`] between two stages: every pull through it is checked against the
//! contract of [`weir::stage::Pull`], and each breach is recorded in the shared log instead of
//! panicking inside a stream task, so that a test can assert the log empty with the pipeline's
//! own positions in the messages.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use weir::stage::{BoxPull, Pull, Step};
use weir::Flow;

/// Where checkers record breaches of the pull protocol, and how many are alive.
#[derive(Default)]
pub struct ContractLog {
    violations: Mutex<Vec<String>>,
    created: AtomicUsize,
    live: AtomicUsize,
}

impl fmt::Debug for ContractLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContractLog")
            .field("violations", &self.violations())
            .field("created", &self.created())
            .field("live", &self.live())
            .finish()
    }
}

impl ContractLog {
    /// An empty log.
    pub fn new() -> Arc<Self> {
        Arc::new(ContractLog::default())
    }

    /// A flow of one checker named `name` (a position in the pipeline) per materialization.
    ///
    /// The checker sees its downstream neighbour as the caller of `pull` and its upstream
    /// neighbour as the callee, so it checks both: downstream never pulls with `max == 0` nor
    /// after a terminal; upstream never appends more than `max` elements, answers `Open` only
    /// with at least one element and `Pending` only with none, and never removes elements.
    pub fn flow<T: Send + 'static>(self: &Arc<Self>, name: impl Into<String>) -> Flow<T, T> {
        let log = self.clone();
        let name: Arc<str> = name.into().into();
        Flow::from_pull(move |up: BoxPull<T>, _| {
            log.created.fetch_add(1, Ordering::SeqCst);
            log.live.fetch_add(1, Ordering::SeqCst);
            Checked {
                up,
                name: name.clone(),
                log: log.clone(),
                terminal: None,
                pulls: 0,
            }
        })
    }

    /// Every breach recorded so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many checkers were materialized.
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    /// How many checkers are still alive (not yet dropped, i.e. not released by downstream).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Panics, listing them, if any breach was recorded.
    #[track_caller]
    pub fn assert_clean(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "pull protocol violated:\n  {}",
            v.join("\n  ")
        );
    }

    fn record(&self, name: &str, pull: u64, what: String) {
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{name}, pull #{pull}: {what}"));
    }
}

/// Copies a step (`Step` is not `Clone`; its error is).
fn copy_step(step: &Step) -> Step {
    match step {
        Step::Open => Step::Open,
        Step::Complete => Step::Complete,
        Step::Failed(e) => Step::Failed(e.clone()),
    }
}

struct Checked<T> {
    up: BoxPull<T>,
    name: Arc<str>,
    log: Arc<ContractLog>,
    /// The terminal this checker passed on, to answer a (forbidden) later pull with.
    terminal: Option<Step>,
    pulls: u64,
}

impl<T: Send + 'static> Pull<T> for Checked<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        self.pulls += 1;
        let (name, pull) = (&*self.name, self.pulls);
        if max == 0 {
            self.log
                .record(name, pull, "downstream pulled with max 0".to_owned());
        }
        if let Some(t) = &self.terminal {
            // Upstream must not be pulled again; answer with the same terminal so that the
            // stream still ends and the log, not a hang, reports the breach.
            self.log.record(
                name,
                pull,
                format!("downstream pulled again after the terminal {t:?}"),
            );
            return Poll::Ready(copy_step(t));
        }
        let start = out.len();
        let poll = self.up.pull(cx, out, max);
        let Some(n) = out.len().checked_sub(start) else {
            self.log.record(
                name,
                pull,
                format!(
                    "upstream removed {} elements it had not appended",
                    start - out.len()
                ),
            );
            return poll;
        };
        if n > max {
            self.log.record(
                name,
                pull,
                format!("upstream appended {n} elements for a max of {max}"),
            );
        }
        match &poll {
            Poll::Pending if n > 0 => self.log.record(
                name,
                pull,
                format!("upstream answered Pending after appending {n} elements"),
            ),
            Poll::Ready(Step::Open) if n == 0 => self.log.record(
                name,
                pull,
                "upstream answered Open without appending an element".to_owned(),
            ),
            Poll::Ready(t) if t.is_terminal() => self.terminal = Some(copy_step(t)),
            _ => {}
        }
        poll
    }
}

impl<T> Drop for Checked<T> {
    fn drop(&mut self) {
        self.log.live.fetch_sub(1, Ordering::SeqCst);
    }
}

//! Stall diagnostics: what every running island of a stream is doing, so that a stalled
//! pipeline explains itself (no anchor library does this well: akka/akka#27509).
//!
//! A stream runs as islands — fused chains of stages, each one tokio task — joined by bounded
//! buffers at async boundaries (see the crate docs). Every island weir spawns is registered
//! while it runs, with:
//!
//! - the **stream** it belongs to (one per materialization; substreams and the islands a
//!   running stage materializes join the stream of the island that started them) and its own
//!   number,
//! - a **label**: what drives it (the sink, `async boundary`, the custom stage's or junction's
//!   name; a `name` attribute overrides the operator's name),
//! - its **state**: running, waiting for an element from upstream, waiting for demand from
//!   downstream (its output buffer is full), or waiting on something else (a timer, a custom
//!   stage's events),
//! - the **elements** it has passed on: into the buffers it feeds (async boundaries, fan-out
//!   junctions, custom stages' outlets), or, at a sink, into the sink (a sink that consumes
//!   what an operator before it made of the elements, such as the committer's batches, counts
//!   those); how often it was polled, and how long ago it last passed an element,
//! - the **fill** of the buffer it feeds, where it feeds one (async boundaries).
//!
//! A stall reads directly off a snapshot: the island nearest the sink that waits for an
//! element, upstream of which the first island waits for demand, or a source island waiting
//! with nothing passed for a long time. Take one with [`snapshot`] (every stream in the
//! process), [`StreamDiagnostics::snapshot`] (one run, from
//! [`RunnableGraph::run_diagnosed`](crate::RunnableGraph::run_diagnosed)), log one through
//! `tracing` with [`log_snapshot`], or let [`watch_stalls`] warn about islands that have not
//! made progress for a while.
//!
//! The state is per island, not per stage: inside a fused island the stages call each other
//! directly and keep no state of their own worth reporting, which is what makes them fast.
//! Recording costs a few atomic updates per poll and one per batch, never one per element,
//! and a clock read per poll that passed elements on.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::sync::lock;

/// What an island was doing when the snapshot was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IslandState {
    /// Being polled (on another thread) right now.
    Running,
    /// Waiting for an element (or a terminal signal) from upstream.
    WaitingForElement,
    /// Waiting for downstream demand: the buffer it feeds is full.
    WaitingForDemand,
    /// Waiting on something else: a timer, a future, a custom stage's events.
    Waiting,
}

impl IslandState {
    fn from_u8(v: u8) -> Self {
        match v {
            RUNNING => IslandState::Running,
            FOR_ELEMENT => IslandState::WaitingForElement,
            FOR_DEMAND => IslandState::WaitingForDemand,
            _ => IslandState::Waiting,
        }
    }
}

const RUNNING: u8 = 0;
const FOR_ELEMENT: u8 = 1;
const FOR_DEMAND: u8 = 2;
const WAITING: u8 = 3;

impl fmt::Display for IslandState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IslandState::Running => "running",
            IslandState::WaitingForElement => "waiting for an element",
            IslandState::WaitingForDemand => "waiting for demand",
            IslandState::Waiting => "waiting",
        })
    }
}

/// How full a buffer between two islands is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferFill {
    /// Elements in the buffer, sent and not yet taken by the downstream island.
    pub len: usize,
    /// The buffer's capacity.
    pub capacity: usize,
}

/// One running island, as [`snapshot`] saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IslandSnapshot {
    /// The stream (materialization) it belongs to.
    pub stream: u64,
    /// Its number, unique in the process.
    pub island: u64,
    /// What drives it.
    pub label: Cow<'static, str>,
    /// What it was doing.
    pub state: IslandState,
    /// Elements it has passed on.
    pub elements: u64,
    /// Times its task was polled.
    pub polls: u64,
    /// Time since it last passed an element (or since it started, before the first).
    pub since_progress: Duration,
    /// The buffer it feeds, if it feeds one.
    pub buffer: Option<BufferFill>,
}

impl fmt::Display for IslandSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream {} island {} `{}`: {}, {} elements, last progress {:?} ago",
            self.stream, self.island, self.label, self.state, self.elements, self.since_progress
        )?;
        if let Some(b) = self.buffer {
            write!(f, ", buffer {}/{}", b.len, b.capacity)?;
        }
        Ok(())
    }
}

/// A buffer that can tell how full it is.
pub(crate) trait Gauge: Send + Sync {
    fn fill(&self) -> BufferFill;
}

/// The live record of one island.
pub(crate) struct Probe {
    stream: u64,
    island: u64,
    label: Cow<'static, str>,
    state: AtomicU8,
    /// The state this poll ends in if the island returns `Pending`, as its code reported it.
    pending: AtomicU8,
    elements: AtomicU64,
    polls: AtomicU64,
    /// Nanoseconds after [`base`] of the last progress.
    progress_at: AtomicU64,
    gauge: Option<Arc<dyn Gauge>>,
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(Instant::now().saturating_duration_since(base()).as_nanos()).unwrap_or(u64::MAX)
}

impl Probe {
    fn snapshot(&self) -> IslandSnapshot {
        let since = now_nanos().saturating_sub(self.progress_at.load(Ordering::Relaxed));
        IslandSnapshot {
            stream: self.stream,
            island: self.island,
            label: self.label.clone(),
            state: IslandState::from_u8(self.state.load(Ordering::Relaxed)),
            elements: self.elements.load(Ordering::Relaxed),
            polls: self.polls.load(Ordering::Relaxed),
            since_progress: Duration::from_nanos(since),
            buffer: self.gauge.as_ref().map(|g| g.fill()),
        }
    }
}

/// Every live island; dead entries are pruned as new ones arrive and on snapshots.
fn registry() -> &'static std::sync::Mutex<Vec<Weak<Probe>>> {
    static REGISTRY: OnceLock<std::sync::Mutex<Vec<Weak<Probe>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);
static NEXT_ISLAND: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The island being polled on this thread.
    static CURRENT: RefCell<Option<Arc<Probe>>> = const { RefCell::new(None) };
}

/// The stream a new materialization belongs to: the one of the island materializing it, or a
/// new one.
pub(crate) fn stream_for_new_materialization() -> u64 {
    CURRENT
        .with(|c| c.borrow().as_ref().map(|p| p.stream))
        .unwrap_or_else(|| NEXT_STREAM.fetch_add(1, Ordering::Relaxed))
}

/// The island being polled has passed on `n` elements.
pub(crate) fn passed(n: usize) {
    if n == 0 {
        return;
    }
    CURRENT.with(|c| {
        if let Some(p) = c.borrow().as_ref() {
            p.elements.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
}

fn pending_as(state: u8) {
    CURRENT.with(|c| {
        if let Some(p) = c.borrow().as_ref() {
            p.pending.store(state, Ordering::Relaxed);
        }
    });
}

/// The island being polled is about to wait for an element from upstream.
pub(crate) fn waiting_for_element() {
    pending_as(FOR_ELEMENT);
}

/// The island being polled is about to wait for downstream demand.
pub(crate) fn waiting_for_demand() {
    pending_as(FOR_DEMAND);
}

/// Registers an island and wraps it so that its polls are recorded.
pub(crate) fn instrument(
    stream: u64,
    label: Cow<'static, str>,
    gauge: Option<Arc<dyn Gauge>>,
    island: BoxFuture<'static, ()>,
) -> Instrumented {
    let probe = Arc::new(Probe {
        stream,
        island: NEXT_ISLAND.fetch_add(1, Ordering::Relaxed),
        label,
        state: AtomicU8::new(WAITING),
        pending: AtomicU8::new(WAITING),
        elements: AtomicU64::new(0),
        polls: AtomicU64::new(0),
        progress_at: AtomicU64::new(now_nanos()),
        gauge,
    });
    let mut all = lock(registry());
    // Amortised pruning: at most one sweep per doubling of the live set.
    if all.len() >= 64 && all.len().is_power_of_two() {
        all.retain(|w| w.strong_count() > 0);
    }
    all.push(Arc::downgrade(&probe));
    drop(all);
    Instrumented { probe, island }
}

/// An island future whose polls are recorded in its [`Probe`].
pub(crate) struct Instrumented {
    probe: Arc<Probe>,
    island: BoxFuture<'static, ()>,
}

impl Future for Instrumented {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let p = &this.probe;
        p.polls.fetch_add(1, Ordering::Relaxed);
        p.state.store(RUNNING, Ordering::Relaxed);
        p.pending.store(WAITING, Ordering::Relaxed);
        let before = p.elements.load(Ordering::Relaxed);
        let outer = CURRENT.with(|c| c.replace(Some(p.clone())));
        let r = this.island.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = outer);
        // The clock is read once per poll that made progress, not per batch.
        if p.elements.load(Ordering::Relaxed) != before {
            p.progress_at.store(now_nanos(), Ordering::Relaxed);
        }
        if r.is_pending() {
            p.state
                .store(p.pending.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        r
    }
}

fn collect(stream: Option<u64>) -> Vec<IslandSnapshot> {
    let live: Vec<Arc<Probe>> = {
        let mut all = lock(registry());
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    live.iter()
        .filter(|p| stream.is_none_or(|s| p.stream == s))
        .map(|p| p.snapshot())
        .collect()
}

/// Every island running in the process, by stream and island number.
///
/// ```
/// use weir::prelude::*;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (queue, done) = Source::queue(8)
///     .map(|x: u32| x + 1)
///     .to_mat(Sink::seq(), Keep::both)
///     .run();
/// tokio::task::yield_now().await;
/// let islands = weir::diagnostics::snapshot();
/// // The fused chain `queue → map → seq` is one island, waiting for an element.
/// assert!(islands
///     .iter()
///     .any(|i| i.state == weir::diagnostics::IslandState::WaitingForElement));
/// queue.complete().unwrap();
/// assert_eq!(done.await.unwrap(), Vec::<u32>::new());
/// # }
/// ```
pub fn snapshot() -> Vec<IslandSnapshot> {
    collect(None)
}

/// Logs a snapshot through `tracing`, one INFO event per island (target `weir::diagnostics`).
pub fn log_snapshot() {
    for i in snapshot() {
        tracing::info!(
            target: "weir::diagnostics",
            stream = i.stream,
            island = i.island,
            label = %i.label,
            state = %i.state,
            elements = i.elements,
            since_progress_ms = i.since_progress.as_millis() as u64,
            buffer = ?i.buffer,
            "island"
        );
    }
}

/// The islands of one run, from [`RunnableGraph::run_diagnosed`](crate::RunnableGraph::run_diagnosed).
#[derive(Clone, Debug)]
pub struct StreamDiagnostics {
    pub(crate) stream: u64,
}

impl StreamDiagnostics {
    /// The run's stream number, as in [`IslandSnapshot::stream`].
    pub fn stream(&self) -> u64 {
        self.stream
    }

    /// The run's islands still running (substreams included).
    pub fn snapshot(&self) -> Vec<IslandSnapshot> {
        collect(Some(self.stream))
    }

    /// Whether every island of the run has ended.
    pub fn is_finished(&self) -> bool {
        self.snapshot().is_empty()
    }
}

/// Warns through `tracing` (target `weir::diagnostics`, level WARN) about every island that has
/// waited without passing an element for longer than `after`, checking every `after`; once per
/// island until it makes progress again. Runs on the current tokio runtime until the returned
/// handle is dropped.
///
/// A source waiting for outside input (a queue, a Kafka topic with nothing new) is reported
/// too: the warning is a prompt to look, with the island's state and buffer beside it.
///
/// # Panics
/// Outside a tokio runtime.
pub fn watch_stalls(after: Duration) -> StallWatch {
    let after = after.max(Duration::from_millis(1));
    let task = tokio::spawn(async move {
        let mut warned: Vec<(u64, u64)> = Vec::new();
        let mut tick = tokio::time::interval(after);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let islands = snapshot();
            warned.retain(|(id, elements)| {
                islands
                    .iter()
                    .any(|i| i.island == *id && i.elements == *elements)
            });
            for i in islands {
                let stalled = i.state != IslandState::Running && i.since_progress >= after;
                if stalled && !warned.iter().any(|(id, _)| *id == i.island) {
                    warned.push((i.island, i.elements));
                    tracing::warn!(target: "weir::diagnostics", "stalled: {i}");
                }
            }
        }
    });
    StallWatch { task }
}

/// The watcher started by [`watch_stalls`]; dropping it stops the watching.
#[derive(Debug)]
pub struct StallWatch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StallWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! Event time and keyed windowed aggregation, with Kafka Streams' semantics.
//!
//! See the README section "Event time and windows" for the model: stream time, grace, closing,
//! and where weir differs from Kafka Streams.

mod clock;
mod error;
mod metrics;
mod session_aggregate;
mod session_windows;
mod sliding_aggregate;
mod sliding_windows;
mod time_aggregate;
mod time_windows;

use std::fmt;

pub use error::WindowError;
pub use metrics::WindowMetrics;
pub use session_windows::SessionWindows;
pub use sliding_windows::SlidingWindows;
pub use time_windows::TimeWindows;

use crate::ops::{Linear, Logic};
use crate::stage::BoxPull;
use crate::{Flow, Keep, StreamOps};
use clock::Clock;
use session_aggregate::{SessionAggregate, SessionFns};
use sliding_aggregate::SlidingAggregate;
use time_aggregate::TimeAggregate;

/// A key and the window an aggregate belongs to (Kafka Streams' `Windowed<K>`); times in
/// milliseconds, `start` inclusive, `end` exclusive for time windows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window start.
    pub start: i64,
    /// The window end.
    pub end: i64,
}

/// When a windowed aggregation emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmitMode {
    /// The new aggregate of every window a record updates, at once (Kafka Streams' default
    /// with record caching off).
    #[default]
    Updates,
    /// Each window once, when stream time passes its end plus the grace period (Kafka Streams'
    /// `suppress(untilWindowCloses)` / `EmitStrategy.onWindowClose`). Windows still open when
    /// upstream completes are not emitted, as Kafka Streams never emits them without later
    /// records.
    Final,
    /// As [`Final`](EmitMode::Final), and at upstream completion the windows still open too,
    /// in order of window end: for finite inputs, where no later record will ever close them.
    FinalOrComplete,
}

/// Event-time windowing for streams of `(key, value)` pairs.
///
/// Implemented for every [`Source`](crate::Source) and [`Flow`] of pairs; bring it into scope
/// with `use weir::window::WindowOps`. For a stream of other elements, `map` each to its key
/// and itself first.
pub trait WindowOps<K, V>: StreamOps<Out = (K, V)>
where
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Groups records by key and by the time windows their `timestamp` (milliseconds since the
    /// epoch, from the record) falls in (Kafka Streams' `groupByKey().windowedBy(windows)`);
    /// aggregate them with `count`, `reduce` or `aggregate` ([`WindowedStream`]).
    ///
    /// Stream time is the largest timestamp seen. A record is added to each of its windows
    /// that is still open — whose end is after stream time minus the grace period — and
    /// dropped from the others: counted in [`WindowMetrics::dropped_late`] and logged through
    /// `tracing` (the first at WARN, the rest at DEBUG). A negative timestamp is dropped the
    /// same way and counted in [`WindowMetrics::dropped_invalid_timestamp`]. Windows are
    /// removed from memory as they close, so the state is bounded by the open windows.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, TimeWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", 1), ("a", 4), ("b", 12), ("a", 25)])
    ///     .windowed_by(w, |&(_, ts)| ts)
    ///     .emit(EmitMode::Final)
    ///     .count()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// // At 25, [0, 10) and [10, 20) have closed; [20, 30) is still open at completion.
    /// let win = |key, start| Windowed { key, start, end: start + 10 };
    /// assert_eq!(out, vec![(win("a", 0), 2), (win("b", 10), 1)]);
    /// # }
    /// ```
    fn windowed_by<T>(
        self,
        windows: TimeWindows,
        timestamp: T,
    ) -> WindowedStream<Self, TimeWindows, T>
    where
        T: Fn(&(K, V)) -> i64 + Clone + Send + Sync + 'static,
    {
        WindowedStream {
            stream: self,
            windows,
            timestamp,
            emit: EmitMode::Updates,
        }
    }

    /// Groups records by key into sessions of activity (Kafka Streams'
    /// `groupByKey().windowedBy(SessionWindows)`); aggregate them with
    /// `count`, `reduce` or `aggregate` ([`WindowedStream`]).
    ///
    /// A record joins (and merges) the sessions of its key within the inactivity gap; a session
    /// `[start, end]` closes once stream time − grace − gap reaches `end`, and a record whose
    /// merged session would end before that is dropped and counted in
    /// [`WindowMetrics::dropped_late`]. In [`EmitMode::Updates`] each output is the session's
    /// new aggregate, `Some`, preceded by a `None` (a tombstone, as Kafka Streams forwards) for
    /// every session the record replaced; the final modes emit each session once, `Some`.
    ///
    /// A closed session is gone: a record within the gap of it (and not late itself) starts or
    /// joins an open session instead of reopening the closed one, whose final result was already
    /// emitted; so does Kafka Streams with its default store retention (gap + grace). With a
    /// longer retention Kafka Streams would find it and merge.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SessionWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = SessionWindows::of_inactivity_gap_no_grace(Duration::from_millis(5)).unwrap();
    /// let out = Source::from_iter(vec![("a", 1), ("a", 4), ("a", 20)])
    ///     .session_windowed_by(s, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .count()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// let session = |start, end| Windowed { key: "a", start, end };
    /// assert_eq!(out, vec![(session(1, 4), Some(2)), (session(20, 20), Some(1))]);
    /// # }
    /// ```
    fn session_windowed_by<T>(
        self,
        windows: SessionWindows,
        timestamp: T,
    ) -> WindowedStream<Self, SessionWindows, T>
    where
        T: Fn(&(K, V)) -> i64 + Clone + Send + Sync + 'static,
    {
        WindowedStream {
            stream: self,
            windows,
            timestamp,
            emit: EmitMode::Updates,
        }
    }

    /// Groups records by key into sliding windows (Kafka Streams'
    /// `groupByKey().windowedBy(SlidingWindows)`); aggregate them with `count`, `reduce` or
    /// `aggregate` ([`WindowedStream`]).
    ///
    /// A window `[start, start + difference]` is inclusive at both ends. A record at `t`
    /// updates every window holding it, creates its left window `[t - difference, t]` (with the
    /// records already in that span) and, if later records are within `difference` after it,
    /// its right window `[t + 1, t + 1 + difference]`, as Kafka Streams does; records before
    /// `difference` share `[0, difference]`. A window closes once stream time − grace passes its
    /// end; a record is dropped from closed windows and counted in
    /// [`WindowMetrics::dropped_late`], once per window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SlidingWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = SlidingWindows::of_time_difference_no_grace(Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", 20), ("a", 25), ("a", 40)])
    ///     .sliding_windowed_by(w, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .count()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// let win = |start| Windowed { key: "a", start, end: start + 10 };
    /// // 20's left window, 25's left window (with 20), 20's right window (25 alone), 40's.
    /// assert_eq!(out, vec![(win(10), 1), (win(15), 2), (win(21), 1), (win(30), 1)]);
    /// # }
    /// ```
    fn sliding_windowed_by<T>(
        self,
        windows: SlidingWindows,
        timestamp: T,
    ) -> WindowedStream<Self, SlidingWindows, T>
    where
        T: Fn(&(K, V)) -> i64 + Clone + Send + Sync + 'static,
    {
        WindowedStream {
            stream: self,
            windows,
            timestamp,
            emit: EmitMode::Updates,
        }
    }
}

impl<S, K, V> WindowOps<K, V> for S
where
    S: StreamOps<Out = (K, V)>,
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
}

/// A stream grouped by key and window of kind `W` ([`TimeWindows`] or [`SessionWindows`]),
/// waiting for its aggregation (Kafka Streams' `TimeWindowedKStream` and
/// `SessionWindowedKStream`); made by [`WindowOps::windowed_by`] and
/// [`WindowOps::session_windowed_by`].
#[must_use = "streams do nothing unless run"]
pub struct WindowedStream<S, W, T> {
    stream: S,
    windows: W,
    timestamp: T,
    emit: EmitMode,
}

impl<S, W: fmt::Debug, T> fmt::Debug for WindowedStream<S, W, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowedStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish_non_exhaustive()
    }
}

impl<S, W, T> WindowedStream<S, W, T> {
    /// Sets when results are emitted (default [`EmitMode::Updates`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, TimeWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", 1), ("a", 4)])
    ///     .windowed_by(w, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .count()
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(Windowed { key: "a", start: 0, end: 10 }, 2)]);
    /// # }
    /// ```
    pub fn emit(self, mode: EmitMode) -> Self {
        WindowedStream { emit: mode, ..self }
    }

    /// Appends the stage running the logic `make` builds per materialization, with fresh
    /// metrics, materializing them.
    fn via_window<Out, L, F>(self, name: &'static str, make: F) -> S::Repr<Out, WindowMetrics>
    where
        S: StreamOps,
        T: Clone + Send + Sync + 'static,
        Out: Send + 'static,
        L: Logic<S::Out, Out>,
        F: Fn(T, WindowMetrics) -> L + Send + Sync + 'static,
    {
        let timestamp = self.timestamp;
        self.stream.via_mat(
            Flow::from_fn(move |_, up, a| {
                let metrics = WindowMetrics::new();
                let logic = make(timestamp.clone(), metrics.clone());
                (
                    Box::new(Linear::new(up, logic, name, a)) as BoxPull<Out>,
                    metrics,
                )
            }),
            Keep::right,
        )
    }
}

impl<S, K, V, T> WindowedStream<S, TimeWindows, T>
where
    S: StreamOps<Out = (K, V)>,
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    T: Fn(&(K, V)) -> i64 + Clone + Send + Sync + 'static,
{
    /// Counts the records per key and window (`count()`); materializes the
    /// [`WindowMetrics`] in place of upstream's value (use `Flow::new()` and `via_mat` with
    /// [`Keep::both`] to keep both).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{TimeWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// let (metrics, out) = Source::from_iter(vec![("a", 1), ("a", 12), ("a", 3)])
    ///     .windowed_by(w, |&(_, ts)| ts)
    ///     .count()
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// let win = |start| Windowed { key: "a", start, end: start + 10 };
    /// // The record at 3 arrives after stream time 12 closed [0, 10): dropped and counted.
    /// assert_eq!(out.await.unwrap(), vec![(win(0), 1), (win(10), 1)]);
    /// assert_eq!(metrics.dropped_late(), 1);
    /// assert_eq!(metrics.stream_time(), Some(12));
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One record in, at most one result per window of the record out (plus the windows it
    /// closes, in final modes); demand passes through.
    ///
    /// # Supervision
    /// A panic in the timestamp extractor or the aggregator: Stop fails the stream; Resume
    /// drops the record (the windows it already updated keep the update); Restart drops it and
    /// all open windows, keeping stream time, so records late before stay late.
    pub fn count(self) -> S::Repr<(Windowed<K>, u64), WindowMetrics> {
        self.aggregate_with(|_, _, n: Option<u64>| n.map_or(1, |n| n + 1))
    }

    /// Combines the values per key and window with `f`, the first value as it is
    /// (`reduce(reducer)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, TimeWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", (1, 5)), ("a", (2, 7))])
    ///     .windowed_by(w, |&(_, (ts, _))| ts)
    ///     .emit(EmitMode::Updates)
    ///     .reduce(|(_, x), (ts, y)| (ts, x.max(y)))
    ///     .map(|(w, (_, max))| (w.start, max))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(0, 5), (0, 7)]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `count` of time windows.
    pub fn reduce<F>(self, f: F) -> S::Repr<(Windowed<K>, V), WindowMetrics>
    where
        F: Fn(V, V) -> V + Clone + Send + Sync + 'static,
    {
        self.aggregate_with(move |_, v, acc: Option<V>| match acc {
            None => v,
            Some(acc) => f(acc, v),
        })
    }

    /// Folds the values per key and window into an aggregate that starts as `init()`
    /// (`aggregate(initializer, aggregator)`); `agg` gets the key, the value and the aggregate.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, TimeWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // Hopping windows of 10 ms every 5 ms: the record at 7 is in [0, 10) and [5, 15).
    /// let w = TimeWindows::of_size_no_grace(Duration::from_millis(10))
    ///     .and_then(|w| w.advance_by(Duration::from_millis(5)))
    ///     .unwrap();
    /// let out = Source::from_iter(vec![("a", 2), ("a", 7)])
    ///     .windowed_by(w, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .aggregate(Vec::new, |_, ts, mut seen: Vec<i64>| {
    ///         seen.push(ts);
    ///         seen
    ///     })
    ///     .map(|(w, seen)| (w.start, seen))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(0, vec![2, 7]), (5, vec![7])]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `count` of time windows.
    pub fn aggregate<A, I, F>(self, init: I, agg: F) -> S::Repr<(Windowed<K>, A), WindowMetrics>
    where
        A: Clone + Send + Sync + 'static,
        I: Fn() -> A + Clone + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Clone + Send + Sync + 'static,
    {
        self.aggregate_with(move |k: &K, v, acc: Option<A>| agg(k, v, acc.unwrap_or_else(&init)))
    }

    fn aggregate_with<A, G>(self, g: G) -> S::Repr<(Windowed<K>, A), WindowMetrics>
    where
        A: Clone + Send + Sync + 'static,
        G: Fn(&K, V, Option<A>) -> A + Clone + Send + Sync + 'static,
    {
        let emit = self.emit;
        let windows = self.windows;
        self.via_window("windowed_aggregate", move |timestamp, metrics| {
            let clock = Clock::new(windows.grace, metrics);
            TimeAggregate::new(windows, emit, timestamp, g.clone(), clock)
        })
    }
}

impl<S, K, V, T> WindowedStream<S, SessionWindows, T>
where
    S: StreamOps<Out = (K, V)>,
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    T: Fn(&(K, V)) -> i64 + Clone + Send + Sync + 'static,
{
    /// Counts the records per key and session (`count()`); materializes the
    /// [`WindowMetrics`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SessionWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let gap = Duration::from_millis(5);
    /// let s = SessionWindows::of_inactivity_gap_with_grace(gap, Duration::from_millis(10)).unwrap();
    /// // 5 bridges [1, 1] and [10, 10] (both within 5 of it) into one session.
    /// let (metrics, out) = Source::from_iter(vec![("a", 1), ("a", 10), ("a", 5)])
    ///     .session_windowed_by(s, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .count()
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// assert_eq!(out.await.unwrap(), vec![(Windowed { key: "a", start: 1, end: 10 }, Some(3))]);
    /// assert_eq!(metrics.dropped_late(), 0);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// A panic in the timestamp extractor, the aggregator or the merger: Stop fails the stream;
    /// Resume drops the record, leaving its sessions as they were; Restart drops it and all
    /// open sessions, keeping stream time.
    pub fn count(self) -> S::Repr<(Windowed<K>, Option<u64>), WindowMetrics> {
        self.aggregate_with(SessionFns {
            init: || Some(0),
            merge: |_: &K, a: u64, b: u64| a + b,
            agg: |_: &K, _: V, n: Option<u64>| n.map_or(1, |n| n + 1),
        })
    }

    /// Combines the values per key and session with `f`, which also merges two sessions'
    /// results (the earlier first) when a record bridges them (`reduce(reducer)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SessionWindows, WindowOps};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = SessionWindows::of_inactivity_gap_no_grace(Duration::from_millis(5)).unwrap();
    /// let out = Source::from_iter(vec![("a", (1, 3)), ("a", (4, 9)), ("a", (30, 2))])
    ///     .session_windowed_by(s, |&(_, (ts, _))| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .reduce(|(t1, x), (t2, y)| (t1.max(t2), x + y))
    ///     .map(|(w, v)| (w.start, w.end, v.map(|(_, sum)| sum)))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(1, 4, Some(12)), (30, 30, Some(2))]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `count` of sessions.
    pub fn reduce<F>(self, f: F) -> S::Repr<(Windowed<K>, Option<V>), WindowMetrics>
    where
        F: Fn(V, V) -> V + Clone + Send + Sync + 'static,
    {
        let g = f.clone();
        self.aggregate_with(SessionFns {
            init: || None,
            merge: move |_: &K, a: V, b: V| f(a, b),
            agg: move |_: &K, v: V, acc: Option<V>| match acc {
                None => v,
                Some(acc) => g(acc, v),
            },
        })
    }

    /// Folds the values per key and session into an aggregate that starts as `init()`;
    /// `merge` combines the aggregates of sessions a record bridges, starting from `init()`
    /// (`aggregate(initializer, aggregator, merger)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SessionWindows, WindowOps};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let gap = Duration::from_millis(5);
    /// let s = SessionWindows::of_inactivity_gap_with_grace(gap, Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", 1), ("a", 10), ("a", 5)])
    ///     .session_windowed_by(s, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .aggregate(
    ///         Vec::new,
    ///         |_, ts, mut seen: Vec<i64>| {
    ///             seen.push(ts);
    ///             seen
    ///         },
    ///         |_, mut a, b| {
    ///             a.extend(b);
    ///             a
    ///         },
    ///     )
    ///     .map(|(_, seen)| seen)
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![Some(vec![1, 10, 5])]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `count` of sessions.
    pub fn aggregate<A, I, F, M>(
        self,
        init: I,
        agg: F,
        merge: M,
    ) -> S::Repr<(Windowed<K>, Option<A>), WindowMetrics>
    where
        A: Clone + Send + Sync + 'static,
        I: Fn() -> A + Clone + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Clone + Send + Sync + 'static,
        M: Fn(&K, A, A) -> A + Clone + Send + Sync + 'static,
    {
        let first = init.clone();
        self.aggregate_with(SessionFns {
            init: move || Some(first()),
            merge,
            agg: move |k: &K, v: V, acc: Option<A>| agg(k, v, acc.unwrap_or_else(&init)),
        })
    }

    fn aggregate_with<A, I, M, G>(
        self,
        fns: SessionFns<I, M, G>,
    ) -> S::Repr<(Windowed<K>, Option<A>), WindowMetrics>
    where
        A: Clone + Send + Sync + 'static,
        I: Fn() -> Option<A> + Clone + Send + Sync + 'static,
        M: Fn(&K, A, A) -> A + Clone + Send + Sync + 'static,
        G: Fn(&K, V, Option<A>) -> A + Clone + Send + Sync + 'static,
    {
        let emit = self.emit;
        let windows = self.windows;
        self.via_window("session_windowed_aggregate", move |timestamp, metrics| {
            let fns = SessionFns {
                init: fns.init.clone(),
                merge: fns.merge.clone(),
                agg: fns.agg.clone(),
            };
            SessionAggregate::new(windows, emit, timestamp, fns, metrics)
        })
    }
}

impl<S, K, V, T> WindowedStream<S, SlidingWindows, T>
where
    S: StreamOps<Out = (K, V)>,
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    T: Fn(&(K, V)) -> i64 + Clone + Send + Sync + 'static,
{
    /// Counts the records per key and sliding window (`count()`); materializes the
    /// [`WindowMetrics`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{SlidingWindows, WindowOps, Windowed};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = SlidingWindows::of_time_difference_no_grace(Duration::from_millis(10)).unwrap();
    /// let (metrics, out) = Source::from_iter(vec![("a", 20), ("a", 40), ("a", 15)])
    ///     .sliding_windowed_by(w, |&(_, ts)| ts)
    ///     .count()
    ///     .to_mat(Sink::seq(), Keep::both)
    ///     .run();
    /// let win = |start| Windowed { key: "a", start, end: start + 10 };
    /// // 15 is late: even its right window [16, 26] ended before stream time 40.
    /// assert_eq!(out.await.unwrap(), vec![(win(10), 1), (win(30), 1)]);
    /// assert_eq!(metrics.dropped_late(), 1);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One record in, at most one result per window it creates or updates out (plus the
    /// windows it closes, in final modes); demand passes through.
    ///
    /// # Supervision
    /// As `count` of time windows.
    pub fn count(self) -> S::Repr<(Windowed<K>, u64), WindowMetrics> {
        self.aggregate_with(|_, _, n: Option<u64>| n.map_or(1, |n| n + 1))
    }

    /// Combines the values per key and sliding window with `f`, the first value as it is
    /// (`reduce(reducer)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SlidingWindows, WindowOps};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = SlidingWindows::of_time_difference_no_grace(Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", (20, 5)), ("a", (25, 7))])
    ///     .sliding_windowed_by(w, |&(_, (ts, _))| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .reduce(|(t1, x), (t2, y)| (t1.max(t2), x + y))
    ///     .map(|(w, (_, sum))| (w.start, w.end, sum))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(10, 20, 5), (15, 25, 12), (21, 31, 7)]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `count` of time windows.
    pub fn reduce<F>(self, f: F) -> S::Repr<(Windowed<K>, V), WindowMetrics>
    where
        F: Fn(V, V) -> V + Clone + Send + Sync + 'static,
    {
        self.aggregate_with(move |_, v, acc: Option<V>| match acc {
            None => v,
            Some(acc) => f(acc, v),
        })
    }

    /// Folds the values per key and sliding window into an aggregate that starts as `init()`
    /// (`aggregate(initializer, aggregator)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::prelude::*;
    /// use weir::window::{EmitMode, SlidingWindows, WindowOps};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let w = SlidingWindows::of_time_difference_no_grace(Duration::from_millis(10)).unwrap();
    /// let out = Source::from_iter(vec![("a", 20), ("a", 25)])
    ///     .sliding_windowed_by(w, |&(_, ts)| ts)
    ///     .emit(EmitMode::FinalOrComplete)
    ///     .aggregate(Vec::new, |_, ts, mut seen: Vec<i64>| {
    ///         seen.push(ts);
    ///         seen
    ///     })
    ///     .map(|(w, seen)| (w.start, seen))
    ///     .run_with(Sink::seq())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out, vec![(10, vec![20]), (15, vec![20, 25]), (21, vec![25])]);
    /// # }
    /// ```
    ///
    /// # Supervision
    /// As `count` of time windows.
    pub fn aggregate<A, I, F>(self, init: I, agg: F) -> S::Repr<(Windowed<K>, A), WindowMetrics>
    where
        A: Clone + Send + Sync + 'static,
        I: Fn() -> A + Clone + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Clone + Send + Sync + 'static,
    {
        self.aggregate_with(move |k: &K, v, acc: Option<A>| agg(k, v, acc.unwrap_or_else(&init)))
    }

    fn aggregate_with<A, G>(self, g: G) -> S::Repr<(Windowed<K>, A), WindowMetrics>
    where
        A: Clone + Send + Sync + 'static,
        G: Fn(&K, V, Option<A>) -> A + Clone + Send + Sync + 'static,
    {
        let emit = self.emit;
        let windows = self.windows;
        self.via_window("sliding_windowed_aggregate", move |timestamp, metrics| {
            let clock = Clock::new(windows.grace, metrics);
            SlidingAggregate::new(windows, emit, timestamp, g.clone(), clock)
        })
    }
}

//! Property tests of the Reactive Streams rules over generated pipelines.
//!
//! A random chain of operators is placed between a `TestSource` probe and a `TestSink` probe and
//! driven by a random script of demand, elements, completion, failure and cancellation. After
//! every step the observed signals are checked against the rules:
//!
//! - the sink never receives more elements than it requested in total (rule 1.1);
//! - at most one terminal signal, and nothing after it (rules 1.3, 1.7);
//! - after cancellation nothing more arrives, and the source is eventually cancelled (3.6, 3.13);
//! - demand accumulates and saturates: `request(u64::MAX)` twice is fine (3.17);
//! - once the source terminates and demand is unbounded the stream terminates, with the elements
//!   and terminal signal a reference model of the operators computes, and every stage is
//!   released.
//!
//! The model follows order-insensitive operators after an unordered one (`map_async_unordered`,
//! `merge` with another source) by comparing multisets, allows any prefix where a stage lets a
//! failure overtake the elements it holds (`map_async`, `flat_map_concat`), allows any
//! subsequence after a `buffer` that drops when full (followed by elementwise operators), and
//! gives up on the elements, checking only the rules, where they depend on timing otherwise
//! (`conflate`, `expand` into several copies, what follows a dropping buffer).
//!
//! The sink probe stops pulling after the first terminal, so the rules about what happens after a
//! terminal cannot fail there. A contract checker (`support::checker`) therefore sits after the
//! source and after every operator and checks the pull protocol between each pair of neighbours.
//!
//! Each case runs in a fresh current-thread runtime with paused time, so it is deterministic and
//! takes no real time.

mod support;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use support::checker::ContractLog;
use support::observed::Observed;
use support::paused_runtime;
use weir::prelude::*;
use weir::testkit::{Event, SinkProbe, SourceProbe, TestSink, TestSource};
use weir::OverflowStrategy;

#[derive(Debug, Clone)]
enum Op {
    Map,
    Filter,
    FilterMap,
    Take(u64),
    /// `take_while` of elements that are not multiples of the argument.
    TakeWhile(u32),
    Drop(u64),
    /// `drop_while` of elements that are not multiples of the argument.
    DropWhile(u32),
    Scan,
    Grouped(usize),
    Sliding(usize, usize),
    MapConcat(usize),
    /// A running sum; with `emit_last`, a last element derived from the total at termination.
    StatefulMap {
        emit_last: bool,
    },
    Fold,
    Reduce,
    Intersperse,
    AsyncBoundary,
    Buffer(usize, OverflowStrategy),
    ZipWithIndex,
    /// Futures that are ready at once, or that complete after a (paused-time) delay.
    MapAsync {
        parallelism: usize,
        delayed: bool,
    },
    MapAsyncUnordered {
        parallelism: usize,
        delayed: bool,
    },
    MergeEmpty,
    /// `merge` with a finite source of this many fixed elements.
    MergeFixed(usize),
    /// `concat` of a finite source of this many fixed elements.
    Concat(usize),
    /// `prepend` of a finite source of this many fixed elements.
    Prepend(usize),
    /// `or_else` with a finite source of this many fixed elements.
    OrElse(usize),
    /// `flat_map_concat` into a finite source of this many elements per element.
    FlatMapConcat(usize),
    Recover,
    /// `expand` into this many copies of the latest element.
    Expand(usize),
    Conflate,
}

impl Op {
    /// Whether the multiset of elements out depends on the order of the elements in (so the
    /// model cannot follow it after an operator that loses the order).
    fn order_sensitive(&self) -> bool {
        matches!(
            self,
            Op::Take(_)
                | Op::TakeWhile(_)
                | Op::Drop(_)
                | Op::DropWhile(_)
                | Op::Scan
                | Op::Grouped(_)
                | Op::Sliding(..)
                | Op::StatefulMap { .. }
                | Op::ZipWithIndex
        )
    }

    /// Whether an upstream failure fails the stage at once, dropping elements it holds (as in
    /// Akka: `mapAsync`, `flatMapConcat`, `buffer` and the decoupled stages let a failure
    /// overtake).
    fn drops_on_failure(&self) -> bool {
        matches!(
            self,
            Op::MapAsync { .. }
                | Op::Buffer(_, OverflowStrategy::BackPressure)
                | Op::MapAsyncUnordered { .. }
                | Op::FlatMapConcat(_)
                | Op::Expand(1)
        )
    }

    /// Whether the order of the elements out is not determined by the order in.
    fn scrambles(&self) -> bool {
        matches!(self, Op::MapAsyncUnordered { .. } | Op::MergeFixed(_))
    }

    /// Whether some elements are dropped, depending on timing: a `buffer` that does not
    /// back-pressure (the `Fail` strategy fails instead, at an unknown point).
    fn drops_when_full(&self) -> bool {
        matches!(self, Op::Buffer(_, s) if *s != OverflowStrategy::BackPressure)
    }

    /// Whether the output for a subsequence of the input is a subsequence of the output for the
    /// whole input (elementwise operators), so the model can follow a dropping buffer.
    fn keeps_subsequences(&self) -> bool {
        matches!(
            self,
            Op::Map
                | Op::Filter
                | Op::FilterMap
                | Op::MapConcat(_)
                | Op::FlatMapConcat(_)
                | Op::Intersperse
                | Op::AsyncBoundary
                | Op::Buffer(..)
                | Op::MapAsync { .. }
                | Op::MergeEmpty
                | Op::Expand(1)
        )
    }
}

#[derive(Debug, Clone)]
enum Action {
    Request(u64),
    /// Sends up to this many elements, each only while the source probe shows demand.
    Send(usize),
    Complete,
    Error,
    Cancel,
}

fn strategy() -> impl Strategy<Value = OverflowStrategy> {
    prop_oneof![
        5 => Just(OverflowStrategy::BackPressure),
        1 => Just(OverflowStrategy::DropHead),
        1 => Just(OverflowStrategy::DropTail),
        1 => Just(OverflowStrategy::DropBuffer),
        1 => Just(OverflowStrategy::DropNew),
        1 => Just(OverflowStrategy::Fail),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let async_op = (1usize..4, any::<bool>(), 0u8..4).prop_map(|(parallelism, delayed, kind)| {
        if kind == 0 {
            Op::MapAsyncUnordered {
                parallelism,
                delayed,
            }
        } else {
            Op::MapAsync {
                parallelism,
                delayed,
            }
        }
    });
    prop_oneof![
        2 => Just(Op::Map),
        2 => Just(Op::Filter),
        1 => Just(Op::FilterMap),
        2 => (0u64..6).prop_map(Op::Take),
        1 => (3u32..9).prop_map(Op::TakeWhile),
        2 => (0u64..4).prop_map(Op::Drop),
        1 => (3u32..9).prop_map(Op::DropWhile),
        2 => Just(Op::Scan),
        2 => (1usize..4).prop_map(Op::Grouped),
        2 => (1usize..4, 1usize..4).prop_map(|(n, step)| Op::Sliding(n, step)),
        2 => (0usize..3).prop_map(Op::MapConcat),
        1 => any::<bool>().prop_map(|emit_last| Op::StatefulMap { emit_last }),
        1 => Just(Op::Fold),
        1 => Just(Op::Reduce),
        1 => Just(Op::Intersperse),
        2 => Just(Op::AsyncBoundary),
        2 => (1usize..5, strategy()).prop_map(|(n, s)| Op::Buffer(n, s)),
        2 => Just(Op::ZipWithIndex),
        3 => async_op,
        1 => Just(Op::MergeEmpty),
        1 => (1usize..4).prop_map(Op::MergeFixed),
        1 => (0usize..3).prop_map(Op::Concat),
        1 => (0usize..3).prop_map(Op::Prepend),
        1 => (0usize..3).prop_map(Op::OrElse),
        2 => (0usize..3).prop_map(Op::FlatMapConcat),
        2 => Just(Op::Recover),
        1 => (1usize..3).prop_map(Op::Expand),
        1 => Just(Op::Conflate),
    ]
}

/// Demand and elements, with at most a few terminal actions (completion, failure,
/// cancellation) at random points, so that most scripts move elements for a while first.
fn script() -> impl Strategy<Value = Vec<Action>> {
    let flow = prop_oneof![
        4 => prop_oneof![5 => 1u64..=6, 1 => Just(u64::MAX)].prop_map(Action::Request),
        5 => (1usize..=4).prop_map(Action::Send),
    ];
    let terminal = prop_oneof![
        Just(Action::Complete),
        Just(Action::Error),
        Just(Action::Cancel),
    ];
    (
        vec(flow, 0..40),
        vec((any::<prop::sample::Index>(), terminal), 0..3),
    )
        .prop_map(|(mut script, terminals)| {
            for (at, action) in terminals {
                let at = at.index(script.len() + 1);
                script.insert(at, action);
            }
            script
        })
}

fn map_fn(x: u32) -> u32 {
    x.wrapping_mul(2).wrapping_add(1)
}

fn filter_fn(x: &u32) -> bool {
    x % 3 != 0
}

fn filter_map_fn(x: u32) -> Option<u32> {
    (x % 4 != 1).then(|| x.wrapping_mul(3))
}

fn scan_fn(acc: u32, x: u32) -> u32 {
    acc.wrapping_add(x)
}

/// `take_while` and `drop_while` hold until a multiple of `m`.
fn not_multiple(m: u32) -> impl Fn(&u32) -> bool + Clone + Send + Sync + 'static {
    move |x| x % m != 0
}

/// Folds a group into one `u32`, so every pipeline carries `u32`.
fn encode_group(group: &[u32]) -> u32 {
    group.iter().fold(group.len() as u32, |a, x| {
        a.wrapping_mul(31).wrapping_add(*x)
    })
}

fn zip_index_fn((x, i): (u32, u64)) -> u32 {
    x.wrapping_add((i as u32).wrapping_mul(7))
}

fn running_sum(sum: &mut u32, x: u32) -> u32 {
    *sum = sum.wrapping_add(x);
    *sum
}

fn last_of_sum(sum: u32) -> u32 {
    sum.wrapping_mul(5)
}

const FOLD_ZERO: u32 = 3;
const INJECTED: u32 = 5_555;
const RECOVERED: u32 = 7_777;

fn async_fn(x: u32) -> u32 {
    x.wrapping_add(11)
}

/// `async_fn` as a future, ready at once or after 1–3 ms of (paused) time, so that futures in
/// flight together complete out of order.
async fn async_step(x: u32, delayed: bool) -> u32 {
    if delayed {
        tokio::time::sleep(Duration::from_millis(1 + u64::from(x % 3))).await;
    }
    async_fn(x)
}

/// The elements of the finite sources that `merge` and `concat` add.
fn fixed(k: usize) -> Vec<u32> {
    (0..k as u32).map(|i| 9_000 + i).collect()
}

/// The substream `flat_map_concat` opens for `x`.
fn expansion(x: u32, k: usize) -> Vec<u32> {
    (0..k as u32)
        .map(|i| x.wrapping_add(i.wrapping_mul(100)))
        .collect()
}

/// Appends `op`; the inner sources of the fan-in stages and `flat_map_concat` get checkers of
/// their own (named after `at`), so the protocol is checked on each input of those stages too.
fn apply<M: 'static>(
    source: Source<u32, M>,
    op: &Op,
    log: &Arc<ContractLog>,
    at: &str,
) -> Source<u32, M> {
    let inner = |k| Source::from_iter(fixed(k)).via(log.flow(format!("{at}, inner source")));
    match *op {
        Op::Map => source.map(map_fn),
        Op::Filter => source.filter(filter_fn),
        Op::FilterMap => source.filter_map(filter_map_fn),
        Op::Take(n) => source.take(n),
        Op::TakeWhile(m) => source.take_while(not_multiple(m)),
        Op::Drop(n) => source.drop(n),
        Op::DropWhile(m) => source.drop_while(not_multiple(m)),
        Op::Scan => source.scan(0, scan_fn),
        Op::Grouped(k) => source.grouped(k).map(|g| encode_group(&g)),
        Op::Sliding(n, step) => source.sliding(n, step).map(|g| encode_group(&g)),
        Op::MapConcat(k) => source.map_concat(move |x| vec![x; k]),
        Op::StatefulMap { emit_last } => source.stateful_map(
            || 0u32,
            running_sum,
            move |sum| emit_last.then(|| last_of_sum(sum)),
        ),
        Op::Fold => source.fold(FOLD_ZERO, scan_fn),
        Op::Reduce => source.reduce(scan_fn),
        Op::Intersperse => source.intersperse(INJECTED),
        Op::AsyncBoundary => source.async_boundary(),
        Op::Buffer(n, strategy) => source.buffer(n, strategy),
        Op::ZipWithIndex => source.zip_with_index().map(zip_index_fn),
        Op::MapAsync {
            parallelism,
            delayed,
        } => source.map_async(parallelism, move |x| async_step(x, delayed)),
        Op::MapAsyncUnordered {
            parallelism,
            delayed,
        } => source.map_async_unordered(parallelism, move |x| async_step(x, delayed)),
        Op::MergeEmpty => {
            source.merge(Source::empty().via(log.flow(format!("{at}, inner source"))))
        }
        Op::MergeFixed(k) => source.merge(inner(k)),
        Op::Concat(k) => source.concat(inner(k)),
        Op::Prepend(k) => source.prepend(inner(k)),
        Op::OrElse(k) => source.or_else(inner(k)),
        Op::FlatMapConcat(k) => {
            let checker = log.flow(format!("{at}, substream"));
            source.flat_map_concat(move |x| Source::from_iter(expansion(x, k)).via(checker.clone()))
        }
        Op::Recover => source.recover(|_| Some(RECOVERED)),
        Op::Expand(k) => source.expand(move |x| std::iter::repeat_n(x, k)),
        Op::Conflate => source.conflate(scan_fn),
    }
}

/// Appends `ops` to `source` with a contract checker after the source and after every operator.
fn build<M: 'static>(source: Source<u32, M>, ops: &[Op], log: &Arc<ContractLog>) -> Source<u32, M> {
    let mut source = source.via(log.flow("after the source"));
    for (i, op) in ops.iter().enumerate() {
        let at = format!("op {i} {op:?}");
        source = apply(source, op, log, &at).via(log.flow(format!("after {at}")));
    }
    source
}

/// How a stream ended (or not yet), as far as the model tells errors apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Open,
    Complete,
    /// The failure injected at the source.
    Injected,
    /// `reduce` of an empty stream.
    Empty,
    /// A `buffer` with `OverflowStrategy::Fail` overflowed.
    Overflow,
}

impl End {
    fn is_failure(self) -> bool {
        !matches!(self, End::Open | End::Complete)
    }

    fn of(event: &Event<u32>) -> End {
        match event {
            Event::Complete => End::Complete,
            Event::Error(e) if e.downcast_ref::<TestErr>().is_some() => End::Injected,
            Event::Error(StreamError::Empty { .. }) => End::Empty,
            Event::Error(StreamError::BufferOverflow { .. }) => End::Overflow,
            Event::Error(e) => panic!("unexpected error {e:?}"),
            Event::Next(x) => panic!("element {x} is not a terminal"),
        }
    }
}

/// One way the pipeline may behave: these elements, then this end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Outcome {
    xs: Vec<u32>,
    end: End,
}

/// How observed elements compare with the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// In the model's order.
    Exact,
    /// In any order (after `map_async_unordered` or `merge` with another source).
    Multiset,
    /// In the model's order with some left out (after a `buffer` that drops); the stream may
    /// also fail with an overflow if one of those buffers has the `Fail` strategy.
    Subsequence { may_overflow: bool },
    /// Timing-dependent (`conflate`, `expand` into several copies): only the rules are checked.
    Unknown,
}

/// What the model allows.
#[derive(Debug)]
struct Expected {
    order: Order,
    outcomes: Vec<Outcome>,
}

/// Enough for every failure that a stage may overtake; beyond it the model gives up.
const MAX_OUTCOMES: usize = 4096;

fn sliding_model(xs: &[u32], n: usize, step: usize, completed: bool) -> Vec<u32> {
    let mut out = Vec::new();
    let (mut start, mut shown) = (0, 0);
    while start < xs.len() {
        if start + n <= xs.len() {
            out.push(encode_group(&xs[start..start + n]));
            shown = start + n;
            start += step;
        } else {
            // A last, shorter window only at completion, and only with elements not yet shown.
            if completed && xs.len() > shown {
                out.push(encode_group(&xs[start..]));
            }
            break;
        }
    }
    out
}

/// The reference semantics of one operator; `None` where it depends on timing.
fn model_op(op: &Op, Outcome { mut xs, mut end }: Outcome) -> Option<Outcome> {
    let completed = end == End::Complete;
    xs = match *op {
        Op::Map => xs.into_iter().map(map_fn).collect(),
        Op::Filter => xs.into_iter().filter(filter_fn).collect(),
        Op::FilterMap => xs.into_iter().filter_map(filter_map_fn).collect(),
        Op::Take(n) => {
            let n = n as usize;
            if xs.len() >= n {
                end = End::Complete;
                xs.truncate(n);
            }
            xs
        }
        Op::TakeWhile(m) => {
            if let Some(i) = xs.iter().position(|x| !not_multiple(m)(x)) {
                end = End::Complete;
                xs.truncate(i);
            }
            xs
        }
        Op::Drop(n) => xs.into_iter().skip(n as usize).collect(),
        Op::DropWhile(m) => xs.into_iter().skip_while(not_multiple(m)).collect(),
        Op::Scan => {
            let mut acc = 0;
            let mut out = vec![acc];
            for x in xs {
                acc = scan_fn(acc, x);
                out.push(acc);
            }
            out
        }
        Op::Grouped(k) => xs
            .chunks(k)
            .filter(|g| g.len() == k || completed)
            .map(encode_group)
            .collect(),
        Op::Sliding(n, step) => sliding_model(&xs, n, step, completed),
        Op::MapConcat(k) => xs.into_iter().flat_map(|x| vec![x; k]).collect(),
        Op::StatefulMap { emit_last } => {
            let mut sum = 0;
            let mut out: Vec<u32> = xs.into_iter().map(|x| running_sum(&mut sum, x)).collect();
            // As Pekko's statefulMap, the last element comes on completion and on failure.
            if emit_last && end != End::Open {
                out.push(last_of_sum(sum));
            }
            out
        }
        Op::Fold => match end {
            End::Complete => vec![xs.into_iter().fold(FOLD_ZERO, scan_fn)],
            _ => Vec::new(),
        },
        Op::Reduce => match (end, xs.into_iter().reduce(scan_fn)) {
            (End::Complete, Some(sum)) => vec![sum],
            (End::Complete, None) => {
                end = End::Empty;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Op::Intersperse => {
            let mut out = Vec::with_capacity(xs.len() * 2);
            for (i, x) in xs.into_iter().enumerate() {
                if i > 0 {
                    out.push(INJECTED);
                }
                out.push(x);
            }
            out
        }
        Op::AsyncBoundary | Op::Buffer(_, OverflowStrategy::BackPressure) | Op::MergeEmpty => xs,
        // Timing decides which elements a full buffer drops; `model` checks a subsequence.
        Op::Buffer(..) => xs,
        Op::Conflate => return None,
        Op::ZipWithIndex => xs.into_iter().zip(0u64..).map(zip_index_fn).collect(),
        Op::MapAsync { .. } | Op::MapAsyncUnordered { .. } => {
            xs.into_iter().map(async_fn).collect()
        }
        Op::MergeFixed(k) => {
            // A failure overtakes whatever of the other source was not merged yet.
            if end.is_failure() {
                return None;
            }
            xs.extend(fixed(k));
            xs
        }
        Op::Concat(k) => {
            if completed {
                xs.extend(fixed(k));
            }
            xs
        }
        Op::Prepend(k) => fixed(k).into_iter().chain(xs).collect(),
        Op::OrElse(k) => {
            if completed && xs.is_empty() {
                fixed(k)
            } else {
                xs
            }
        }
        Op::FlatMapConcat(k) => xs.into_iter().flat_map(|x| expansion(x, k)).collect(),
        Op::Recover => {
            if end.is_failure() {
                xs.push(RECOVERED);
                end = End::Complete;
            }
            xs
        }
        // One copy is the element itself: nothing to extrapolate.
        Op::Expand(1) => xs,
        Op::Expand(_) => return None,
    };
    Some(Outcome { xs, end })
}

/// The reference semantics of the pipeline for `inputs` followed by `end` at the source.
fn model(ops: &[Op], inputs: &[u32], end: End) -> Expected {
    let unknown = Expected {
        order: Order::Unknown,
        outcomes: Vec::new(),
    };
    let mut order = Order::Exact;
    let mut outcomes = vec![Outcome {
        xs: inputs.to_vec(),
        end,
    }];
    for op in ops {
        let follows = match order {
            Order::Exact => true,
            Order::Multiset => !op.order_sensitive() && !op.drops_when_full(),
            Order::Subsequence { .. } => op.keeps_subsequences(),
            Order::Unknown => unreachable!("returned early"),
        };
        if !follows {
            return unknown;
        }
        let mut next = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let Some(o) = model_op(op, o) else {
                return unknown;
            };
            let subsequence = matches!(order, Order::Subsequence { .. });
            if op.drops_on_failure() && o.end.is_failure() && !subsequence {
                if order == Order::Multiset || op.scrambles() {
                    return unknown;
                }
                // Any prefix of what the stage would have emitted, then the failure.
                next.extend((0..=o.xs.len()).map(|i| Outcome {
                    xs: o.xs[..i].to_vec(),
                    end: o.end,
                }));
            } else {
                next.push(o);
            }
        }
        next.sort();
        next.dedup();
        if next.len() > MAX_OUTCOMES {
            return unknown;
        }
        if op.scrambles() {
            order = Order::Multiset;
        }
        if op.drops_when_full() {
            let fails = matches!(op, Op::Buffer(_, OverflowStrategy::Fail));
            order = match order {
                Order::Subsequence { may_overflow } => Order::Subsequence {
                    may_overflow: may_overflow || fails,
                },
                _ => Order::Subsequence {
                    may_overflow: fails,
                },
            };
        }
        outcomes = next;
    }
    Expected { order, outcomes }
}

fn sorted(xs: &[u32]) -> Vec<u32> {
    let mut v = xs.to_vec();
    v.sort_unstable();
    v
}

/// Whether `small` is `big` with some elements left out.
fn subsequence(small: &[u32], big: &[u32]) -> bool {
    let mut big = big.iter();
    small.iter().all(|x| big.any(|y| y == x))
}

/// Whether the multiset `small` is contained in the multiset `big`.
fn sub_multiset(small: &[u32], big: &[u32]) -> bool {
    let (small, big) = (sorted(small), sorted(big));
    let mut big = big.iter().peekable();
    small.iter().all(|x| {
        while big.next_if(|y| *y < x).is_some() {}
        big.next_if(|y| *y == x).is_some()
    })
}

impl Expected {
    /// Whether `elements`, then `terminal` (or no terminal yet), is one of the allowed behaviours.
    fn allows(&self, elements: &[u32], terminal: Option<End>) -> bool {
        match self.order {
            Order::Unknown => true,
            Order::Exact => self.outcomes.iter().any(|o| match terminal {
                Some(t) => o.end == t && o.xs == elements,
                None => o.xs.starts_with(elements),
            }),
            Order::Multiset => self.outcomes.iter().any(|o| match terminal {
                Some(t) => o.end == t && sorted(&o.xs) == sorted(elements),
                None => sub_multiset(elements, &o.xs),
            }),
            Order::Subsequence { may_overflow } => self.outcomes.iter().any(|o| {
                let end_allowed = match terminal {
                    None => true,
                    Some(End::Overflow) if may_overflow => true,
                    Some(t) => o.end == t,
                };
                end_allowed && subsequence(elements, &o.xs)
            }),
        }
    }

    #[track_caller]
    fn check(&self, elements: &[u32], terminal: Option<End>, context: &str) {
        assert!(
            self.allows(elements, terminal),
            "received {elements:?} then {terminal:?} ({context}); the model allows, {:?}: {:?}",
            self.order,
            &self.outcomes[..self.outcomes.len().min(8)],
        );
    }

    /// The one behaviour, when the model has a single one.
    fn single(&self) -> Option<&Outcome> {
        match (self.order, self.outcomes.as_slice()) {
            (Order::Exact | Order::Multiset, [one]) => Some(one),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct TestErr;

impl fmt::Display for TestErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("injected failure")
    }
}

impl std::error::Error for TestErr {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceState {
    Open,
    Completed,
    Failed,
}

impl SourceState {
    fn end(self) -> End {
        match self {
            SourceState::Open => End::Open,
            SourceState::Completed => End::Complete,
            SourceState::Failed => End::Injected,
        }
    }
}

/// Lets every runnable island run until the runtime is idle. Time is paused, so this takes no
/// real time however long it is, and it is long enough for every delayed future of `map_async`
/// (a few milliseconds each, one after the other at parallelism 1) to complete.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(10)).await;
}

impl Observed<u32> {
    fn end(&self) -> Option<End> {
        self.terminal.as_ref().map(End::of)
    }
}

async fn run_script(ops: Vec<Op>, script: Vec<Action>) {
    let log = ContractLog::new();
    let (src, sink): (SourceProbe<u32>, SinkProbe<u32>) = build(TestSource::probe(), &ops, &log)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    assert!(log.created() > ops.len(), "a checker after every stage");

    let mut obs = Observed::default();
    let mut inputs = Vec::new();
    let mut state = SourceState::Open;
    // The source's state when the sink saw its terminal, or else when it cancelled: what the
    // model must be given (an `Open` source still has more to send).
    let mut decisive_state = None;
    let mut next = 1u32;

    for action in script {
        match action {
            Action::Request(n) => {
                sink.request(n);
                if !obs.cancelled {
                    obs.requested = obs.requested.saturating_add(n);
                }
            }
            Action::Send(k) => {
                for _ in 0..k {
                    if state == SourceState::Open && !src.is_cancelled() && src.pending_demand() > 0
                    {
                        src.send_next(next).await;
                        inputs.push(next);
                        next += 1;
                    }
                }
            }
            Action::Complete => {
                if state == SourceState::Open {
                    src.send_complete();
                    state = SourceState::Completed;
                }
            }
            Action::Error => {
                if state == SourceState::Open {
                    src.send_error(StreamError::failed(TestErr));
                    state = SourceState::Failed;
                }
            }
            Action::Cancel => {
                sink.cancel();
                obs.cancelled = true;
                decisive_state.get_or_insert(state);
            }
        }
        settle().await;
        obs.absorb_all(&sink);
        if obs.terminal.is_some() {
            decisive_state.get_or_insert(state);
        }
        log.assert_clean();
    }

    if obs.cancelled {
        // Nothing arrives after cancellation, whatever happens next.
        sink.request(10);
        settle().await;
        obs.absorb_all(&sink);
        src.expect_cancellation().await;
        let end = decisive_state.expect("recorded at cancellation").end();
        model(&ops, &inputs, end).check(&obs.elements, obs.end(), "cancelled");
    } else {
        // Unbounded demand, accumulated twice (must saturate, not overflow), then let the source
        // finish: the stream must terminate.
        sink.request(u64::MAX);
        sink.request(u64::MAX);
        obs.requested = u64::MAX;
        if state == SourceState::Open {
            src.send_complete();
            state = SourceState::Completed;
        }
        while obs.terminal.is_none() {
            let event = sink.expect_event().await;
            obs.absorb(event);
        }
        settle().await;
        obs.absorb_all(&sink);
        let end = decisive_state.unwrap_or(state).end();
        model(&ops, &inputs, end).check(
            &obs.elements,
            obs.end(),
            &format!("inputs {inputs:?}, source {end:?}"),
        );
        // Termination releases the source.
        src.expect_cancellation().await;
    }
    settle().await;
    log.assert_clean();
    // ... and every stage.
    assert_eq!(log.live(), 0, "stages still alive after the stream ended");
}

/// With an always-ready source, demand is met exactly: after each request the sink has
/// received `min(total demand, everything the pipeline can produce)`.
async fn run_demand(ops: Vec<Op>, requests: Vec<u64>) {
    let log = ContractLog::new();
    let inputs: Vec<u32> = (1..=40).collect();
    let sink = build(Source::from_iter(inputs.clone()), &ops, &log).run_with(TestSink::probe());
    let expected = model(&ops, &inputs, End::Complete);

    let mut obs = Observed::default();
    for n in requests {
        sink.request(n);
        obs.requested = obs.requested.saturating_add(n);
        settle().await;
        obs.absorb_all(&sink);
        log.assert_clean();
        let Some(outcome) = expected.single() else {
            continue;
        };
        let due = outcome
            .xs
            .len()
            .min(usize::try_from(obs.requested).unwrap_or(usize::MAX));
        let context = format!("after a total demand of {}", obs.requested);
        assert_eq!(obs.elements.len(), due, "{context}");
        expected.check(&obs.elements, None, &context);
    }
    sink.request(u64::MAX);
    obs.requested = u64::MAX;
    while obs.terminal.is_none() {
        let event = sink.expect_event().await;
        obs.absorb(event);
    }
    expected.check(&obs.elements, obs.end(), "at the end");
    settle().await;
    log.assert_clean();
    assert_eq!(log.live(), 0, "stages still alive after the stream ended");
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Keep the working tree clean: no regression files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn reactive_streams_rules_hold(ops in vec(op(), 0..6), script in script()) {
        paused_runtime().block_on(run_script(ops, script));
    }

    #[test]
    fn demand_is_met_exactly_with_a_ready_source(
        ops in vec(op(), 0..6),
        requests in vec(prop_oneof![4 => 0u64..5, 1 => 5u64..40], 1..12),
    ) {
        paused_runtime().block_on(run_demand(ops, requests));
    }
}

#[test]
fn model_sanity() {
    let one = |ops: &[Op], inputs: &[u32], end: End| {
        let e = model(ops, inputs, end);
        let o = e.single().expect("one outcome").clone();
        (o.xs, o.end)
    };
    let g = encode_group;
    assert_eq!(
        one(&[Op::Grouped(2)], &[1, 2, 3], End::Complete),
        (vec![g(&[1, 2]), g(&[3])], End::Complete)
    );
    assert_eq!(
        one(&[Op::Grouped(2)], &[1, 2, 3], End::Injected),
        (vec![g(&[1, 2])], End::Injected)
    );
    assert_eq!(
        one(&[Op::Scan, Op::Take(2)], &[5, 6], End::Injected),
        (vec![0, 5], End::Complete)
    );
    // The example of `sliding`'s docs, and a step past the window.
    assert_eq!(
        one(&[Op::Sliding(3, 2)], &[1, 2, 3, 4, 5, 6], End::Complete).0,
        vec![g(&[1, 2, 3]), g(&[3, 4, 5]), g(&[5, 6])]
    );
    assert_eq!(
        one(&[Op::Sliding(2, 3)], &[1, 2, 3, 4, 5, 6, 7], End::Complete).0,
        vec![g(&[1, 2]), g(&[4, 5]), g(&[7])]
    );
    assert_eq!(
        one(&[Op::Sliding(2, 1)], &[1, 2, 3], End::Open).0,
        vec![g(&[1, 2]), g(&[2, 3])]
    );
    assert_eq!(one(&[Op::Reduce], &[], End::Complete), (vec![], End::Empty));
    assert_eq!(
        one(&[Op::Reduce, Op::Recover], &[], End::Complete),
        (vec![RECOVERED], End::Complete)
    );
    assert_eq!(
        one(
            &[Op::StatefulMap { emit_last: true }],
            &[1, 2],
            End::Injected
        ),
        (vec![1, 3, last_of_sum(3)], End::Injected)
    );
    assert_eq!(
        one(&[Op::TakeWhile(3)], &[1, 2, 3, 4], End::Open),
        (vec![1, 2], End::Complete)
    );
    assert_eq!(
        one(&[Op::Intersperse, Op::Concat(1)], &[1, 2], End::Complete).0,
        vec![1, INJECTED, 2, 9_000]
    );
    // A failure overtakes what `map_async` holds: any prefix, then the failure.
    let e = model(
        &[
            Op::MapAsync {
                parallelism: 2,
                delayed: true,
            },
            Op::Recover,
        ],
        &[1, 2],
        End::Injected,
    );
    assert_eq!(e.order, Order::Exact);
    assert_eq!(e.outcomes.len(), 3);
    assert!(e.allows(&[async_fn(1), RECOVERED], Some(End::Complete)));
    assert!(!e.allows(&[async_fn(2), RECOVERED], Some(End::Complete)));
    // Unordered results compare as multisets, and an order-sensitive stage after them is not
    // modelled.
    let unordered = Op::MapAsyncUnordered {
        parallelism: 2,
        delayed: true,
    };
    let e = model(&[unordered.clone(), Op::Fold], &[1, 2], End::Complete);
    assert_eq!(e.order, Order::Multiset);
    assert!(e.allows(
        &[FOLD_ZERO + async_fn(1) + async_fn(2)],
        Some(End::Complete)
    ));
    let e = model(&[unordered, Op::Map], &[1, 2], End::Open);
    assert!(e.allows(&[map_fn(async_fn(2))], None));
    assert!(!e.allows(&[map_fn(async_fn(2)), 0], None));
    let e = model(&[Op::MergeFixed(1), Op::Scan], &[1], End::Complete);
    assert_eq!(e.order, Order::Unknown);
    // A dropping buffer leaves a subsequence, failing with an overflow only for `Fail`.
    let e = model(
        &[Op::Buffer(2, OverflowStrategy::DropHead), Op::Map],
        &[1, 2, 3],
        End::Complete,
    );
    assert!(e.allows(&[map_fn(1), map_fn(3)], Some(End::Complete)));
    assert!(!e.allows(&[map_fn(3), map_fn(1)], Some(End::Complete)));
    assert!(!e.allows(&[map_fn(1)], Some(End::Overflow)));
    let e = model(
        &[Op::Buffer(2, OverflowStrategy::Fail)],
        &[1, 2, 3],
        End::Complete,
    );
    assert!(e.allows(&[1, 2], Some(End::Overflow)));
    let e = model(
        &[Op::Buffer(2, OverflowStrategy::DropNew), Op::Fold],
        &[1],
        End::Complete,
    );
    assert_eq!(e.order, Order::Unknown);
    assert!(sub_multiset(&[3, 1, 3], &[1, 2, 3, 3]));
    assert!(!sub_multiset(&[3, 3, 3], &[1, 2, 3, 3]));
}

/// The contract checker itself: a stage that breaks the pull protocol is reported.
#[test]
fn the_contract_checker_reports_a_broken_stage() {
    use std::task::{Context, Poll};
    use weir::stage::{BoxPull, Pull, Step};

    /// Answers `Open` without elements once, then appends one element more than asked for.
    struct Greedy {
        up: BoxPull<u32>,
        pulls: u32,
    }

    impl Pull<u32> for Greedy {
        fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<u32>, max: usize) -> Poll<Step> {
            self.pulls += 1;
            if self.pulls == 1 {
                return Poll::Ready(Step::Open);
            }
            let start = out.len();
            let poll = self.up.pull(cx, out, max);
            if out.len() > start {
                out.push(0);
            }
            poll
        }
    }

    paused_runtime().block_on(async {
        let log = ContractLog::new();
        let greedy = Flow::from_pull(|up, _| Greedy { up, pulls: 0 });
        // `take` asks for no more than it needs, and tolerates the surplus.
        let out = Source::from_iter(vec![1u32, 2, 3])
            .via(greedy)
            .via(log.flow("after greedy"))
            .take(2)
            .run_with(Sink::seq())
            .await;
        assert_eq!(out.expect("completes"), vec![1, 2]);
        let v = log.violations();
        assert!(
            v.iter().any(|m| m.contains("Open without appending")),
            "{v:?}"
        );
        assert!(v.iter().any(|m| m.contains("for a max of")), "{v:?}");
        assert_eq!(log.live(), 0);
    });
}

/// Counts the elements and checks the terminal of a sink probe that was given unbounded demand.
async fn expect_all(sink: &SinkProbe<u32>, expected: &[u32]) {
    let mut got = Vec::new();
    loop {
        match sink.expect_event().await {
            Event::Next(x) => got.push(x),
            Event::Complete => break,
            Event::Error(e) => panic!("failed: {e}"),
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn demand_accumulates_across_requests() {
    paused_runtime().block_on(async {
        let (src, sink) = TestSource::<u32>::probe()
            .map(map_fn)
            .async_boundary()
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(3);
        sink.request(4);
        for x in 0..10 {
            src.send_next(x).await;
        }
        settle().await;
        let got: Vec<_> = sink.drain_events();
        assert_eq!(got.len(), 7, "3 + 4 requested: {got:?}");
        assert_eq!(sink.outstanding(), 0);
        sink.request(u64::MAX);
        sink.request(u64::MAX);
        assert_eq!(sink.outstanding(), u64::MAX);
        for x in 10..100 {
            src.send_next(x).await;
        }
        src.send_complete();
        let mut n = got.len();
        loop {
            match sink.expect_event().await {
                Event::Next(_) => n += 1,
                Event::Complete => break,
                Event::Error(e) => panic!("failed: {e}"),
            }
        }
        assert_eq!(n, 100);
    });
}

/// Rule 3.17 through boundaries and operators: chunks of demand that sum past `u64::MAX` are
/// unbounded demand, not an overflow, and every stage still meets it. The source sees only
/// the bounded demand of the island in front of it.
#[test]
fn demand_summing_past_u64_max_is_unbounded() {
    paused_runtime().block_on(async {
        let log = ContractLog::new();
        let ops = [
            Op::Map,
            Op::AsyncBoundary,
            Op::Filter,
            Op::MapAsync {
                parallelism: 3,
                delayed: true,
            },
            Op::Buffer(4, OverflowStrategy::BackPressure),
            Op::MapConcat(2),
            Op::AsyncBoundary,
        ];
        let (src, sink) = build(TestSource::<u32>::probe(), &ops, &log)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        for _ in 0..3 {
            sink.request(u64::MAX / 2 + 1);
        }
        assert_eq!(sink.outstanding(), u64::MAX);
        let inputs: Vec<u32> = (1..=300).collect();
        for &x in &inputs {
            src.send_next(x).await;
            assert!(
                src.pending_demand() <= weir::DEFAULT_INPUT_BUFFER as u64,
                "unbounded demand reached the source: {}",
                src.pending_demand()
            );
        }
        src.send_complete();
        let expected = model(&ops, &inputs, End::Complete);
        expect_all(&sink, &expected.single().expect("one outcome").xs).await;
        src.expect_cancellation().await;
        settle().await;
        log.assert_clean();
        assert_eq!(log.live(), 0);
    });
}

/// `request(u64::MAX)` at once, over a boundary, from a ready source of more elements than any
/// stage's window: everything arrives and the stream completes.
#[test]
fn unbounded_demand_at_once_over_a_boundary() {
    paused_runtime().block_on(async {
        let log = ContractLog::new();
        let ops = [
            Op::AsyncBoundary,
            Op::Scan,
            Op::Grouped(3),
            Op::Buffer(2, OverflowStrategy::BackPressure),
            Op::Intersperse,
        ];
        let inputs: Vec<u32> = (1..=100_000).collect();
        let sink = build(Source::from_iter(inputs.clone()), &ops, &log).run_with(TestSink::probe());
        sink.request(u64::MAX);
        let expected = model(&ops, &inputs, End::Complete);
        expect_all(&sink, &expected.single().expect("one outcome").xs).await;
        assert_eq!(
            sink.outstanding(),
            u64::MAX - expected.outcomes[0].xs.len() as u64,
            "unbounded demand is counted down, not reset"
        );
        settle().await;
        log.assert_clean();
        assert_eq!(log.live(), 0);
    });
}

#[test]
fn cancel_is_idempotent_and_stops_delivery() {
    paused_runtime().block_on(async {
        let (src, sink) = TestSource::<u32>::probe()
            .async_boundary()
            .map(map_fn)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(1);
        src.send_next(1).await;
        sink.expect_next(map_fn(1)).await;
        sink.cancel();
        sink.cancel();
        sink.request(10);
        src.expect_cancellation().await;
        sink.expect_no_message(Duration::from_millis(200)).await;
    });
}

//! Supervision: what operators running user code do when that code panics, under each
//! `Decider` attached with `Attributes::supervision`, and which attribute applies.

use std::time::Duration;

use tokio::time::sleep;
use weir::prelude::*;
use weir::testkit::{Event, SourceProbe, TestSink, TestSource};
use weir::{Attributes, Decider, Directive};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn resuming() -> Attributes {
    Attributes::supervision(Decider::resuming())
}

fn restarting() -> Attributes {
    Attributes::supervision(Decider::restarting())
}

fn stopping() -> Attributes {
    Attributes::supervision(Decider::stopping())
}

/// The input used throughout: the third element (0) makes the user code panic.
fn input() -> Source<i32> {
    Source::from_iter(vec![1, 2, 0, 3])
}

/// Multiplies by ten; panics on 0.
fn times_ten(x: i32) -> i32 {
    assert!(x != 0, "zero");
    x * 10
}

/// Adds; panics when the element is 0.
fn add(acc: i32, x: i32) -> i32 {
    assert!(x != 0, "zero");
    acc + x
}

async fn run<T: Send + 'static>(source: Source<T>) -> Result<Vec<T>, StreamError> {
    source.run_with(Sink::seq()).await
}

#[track_caller]
fn assert_panicked(result: Result<impl std::fmt::Debug, StreamError>, stage: &str) {
    match result {
        Err(StreamError::Panicked { stage: s, message }) => {
            assert_eq!(s, stage, "stage named in the error");
            assert!(!message.is_empty());
        }
        other => panic!("expected a panic of `{stage}`, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// map, filter, filter_not, filter_map
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn map_resume_and_restart_drop_the_element() {
    for attrs in [resuming(), restarting()] {
        let out = run(input().map(times_ten).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![10, 20, 30]);
    }
}

#[tokio::test]
async fn map_stop_fails_with_panicked() {
    assert_panicked(
        run(input().map(times_ten).with_attributes(stopping())).await,
        "map",
    );
}

#[tokio::test]
async fn map_without_decider_stops_with_the_stage_name_and_message() {
    match run(input().map(times_ten)).await {
        Err(StreamError::Panicked { stage, message }) => {
            assert_eq!(stage, "map");
            assert_eq!(message, "zero");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn map_stop_delivers_earlier_elements_then_fails() {
    for attrs in [Attributes::none(), stopping()] {
        let (src, sink) = TestSource::<i32>::probe()
            .map(times_ten)
            .with_attributes(attrs)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(10);
        for x in [1, 2, 0, 3] {
            src.send_unrequested(x);
        }
        sink.expect_next_n([10, 20]).await;
        match sink.expect_error().await {
            StreamError::Panicked { stage, .. } => assert_eq!(stage, "map"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        src.expect_cancellation().await;
    }
}

#[tokio::test]
async fn named_operator_is_named_in_the_panic() {
    assert_panicked(
        run(input().map(times_ten).named("tenfold")).await,
        "tenfold",
    );
}

#[tokio::test]
async fn filter_supervision() {
    let pred = |x: &i32| {
        assert!(*x != 0, "zero");
        x % 2 == 1
    };
    for attrs in [resuming(), restarting()] {
        let out = run(input().filter(pred).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![1, 3]);
    }
    assert_panicked(
        run(input().filter(pred).with_attributes(stopping())).await,
        "filter",
    );
    assert_panicked(run(input().filter(pred)).await, "filter");
}

#[tokio::test]
async fn filter_not_supervision() {
    let pred = |x: &i32| {
        assert!(*x != 0, "zero");
        x % 2 == 1
    };
    let out = run(input().filter_not(pred).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![2]);
    assert_panicked(run(input().filter_not(pred)).await, "filter_not");
}

#[tokio::test]
async fn filter_map_supervision() {
    let f = |x: i32| {
        assert!(x != 0, "zero");
        (x % 2 == 1).then_some(x * 10)
    };
    for attrs in [resuming(), restarting()] {
        let out = run(input().filter_map(f).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![10, 30]);
    }
    assert_panicked(
        run(input().filter_map(f).with_attributes(stopping())).await,
        "filter_map",
    );
    assert_panicked(run(input().filter_map(f)).await, "filter_map");
}

// ---------------------------------------------------------------------------------------------
// map_concat, stateful_map_concat
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn map_concat_supervision_on_the_function() {
    let f = |x: i32| {
        assert!(x != 0, "zero");
        vec![x; x as usize]
    };
    for attrs in [resuming(), restarting()] {
        let out = run(input().map_concat(f).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![1, 2, 2, 3, 3, 3]);
    }
    assert_panicked(
        run(input().map_concat(f).with_attributes(stopping())).await,
        "map_concat",
    );
    assert_panicked(run(input().map_concat(f)).await, "map_concat");
}

#[tokio::test]
async fn map_concat_resume_drops_the_rest_of_a_panicking_iterator() {
    let f = |x: i32| {
        (0..3).map(move |i| {
            assert!(!(x == 2 && i == 1), "mid-iterator");
            x * 10 + i
        })
    };
    let out = run(Source::from_iter(vec![1, 2, 3])
        .map_concat(f)
        .with_attributes(resuming()))
    .await;
    assert_eq!(out.unwrap(), vec![10, 11, 12, 20, 30, 31, 32]);
    assert_panicked(
        run(Source::from_iter(vec![1, 2, 3]).map_concat(f)).await,
        "map_concat",
    );
}

/// Emits how many elements the current function instance has seen; panics on 0.
fn counting() -> impl FnMut(i32) -> Vec<i32> + Send {
    let mut seen = 0;
    move |x| {
        seen += 1;
        assert!(x != 0, "zero");
        vec![seen]
    }
}

#[tokio::test]
async fn stateful_map_concat_resume_keeps_and_restart_recreates_the_function() {
    let src = Source::from_iter(vec![5, 5, 0, 5]);
    let out = run(src
        .clone()
        .stateful_map_concat(counting)
        .with_attributes(resuming()))
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 4]);
    let out = run(src
        .clone()
        .stateful_map_concat(counting)
        .with_attributes(restarting()))
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 1]);
    assert_panicked(
        run(src.stateful_map_concat(counting)).await,
        "stateful_map_concat",
    );
}

// ---------------------------------------------------------------------------------------------
// scan, fold, reduce
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scan_resume_keeps_the_state() {
    let out = run(input().scan(0, add).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![0, 1, 3, 6]);
}

#[tokio::test]
async fn scan_restart_resets_to_and_re_emits_the_seed() {
    let out = run(input().scan(0, add).with_attributes(restarting())).await;
    assert_eq!(out.unwrap(), vec![0, 1, 3, 0, 3]);
}

#[tokio::test(start_paused = true)]
async fn scan_stop_emits_the_states_so_far_then_fails() {
    for attrs in [Attributes::none(), stopping()] {
        let sink = input()
            .scan(0, add)
            .with_attributes(attrs)
            .run_with(TestSink::probe());
        sink.request(10);
        sink.expect_next_n([0, 1, 3]).await;
        match sink.expect_error().await {
            StreamError::Panicked { stage, .. } => assert_eq!(stage, "scan"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn fold_supervision() {
    let out = run(input().fold(0, add).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![6]);
    let out = run(input().fold(0, add).with_attributes(restarting())).await;
    assert_eq!(out.unwrap(), vec![3]);
    assert_panicked(
        run(input().fold(0, add).with_attributes(stopping())).await,
        "fold",
    );
    assert_panicked(run(input().fold(0, add)).await, "fold");
}

#[tokio::test]
async fn reduce_supervision() {
    let out = run(input().reduce(add).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![6]);
    // Restart forgets the state: the next element starts a new reduction.
    let out = run(input().reduce(add).with_attributes(restarting())).await;
    assert_eq!(out.unwrap(), vec![3]);
    assert_panicked(
        run(input().reduce(add).with_attributes(stopping())).await,
        "reduce",
    );
    assert_panicked(run(input().reduce(add)).await, "reduce");
}

#[tokio::test]
async fn reduce_restart_on_the_last_element_leaves_nothing_to_emit() {
    let out = run(Source::from_iter(vec![1, 2, 0])
        .reduce(add)
        .with_attributes(restarting()))
    .await;
    assert!(
        matches!(out, Err(StreamError::Empty { stage: "reduce" })),
        "got {out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// map_async
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn map_async_supervision_of_a_panicking_future() {
    let f = |x: i32| async move {
        sleep(ms(u64::from(x.unsigned_abs()) * 5)).await;
        times_ten(x)
    };
    for attrs in [resuming(), restarting()] {
        let out = run(input().map_async(2, f).with_attributes(attrs.clone())).await;
        assert_eq!(out.unwrap(), vec![10, 20, 30]);
        let mut out = run(input().map_async_unordered(2, f).with_attributes(attrs))
            .await
            .unwrap();
        out.sort_unstable();
        assert_eq!(out, vec![10, 20, 30]);
    }
    assert_panicked(
        run(input().map_async(2, f).with_attributes(stopping())).await,
        "map_async",
    );
    assert_panicked(run(input().map_async(2, f)).await, "map_async");
    assert_panicked(
        run(input().map_async_unordered(2, f)).await,
        "map_async_unordered",
    );
}

#[tokio::test(start_paused = true)]
async fn map_async_supervision_of_a_panicking_closure() {
    let f = |x: i32| {
        let y = times_ten(x);
        async move { y }
    };
    for attrs in [resuming(), restarting()] {
        let out = run(input().map_async(2, f).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![10, 20, 30]);
    }
    assert_panicked(run(input().map_async(2, f)).await, "map_async");
}

#[tokio::test(start_paused = true)]
async fn scan_async_supervision() {
    let step = |acc: i32, x: i32| async move {
        sleep(ms(1)).await;
        add(acc, x)
    };
    let out = run(input().scan_async(0, step).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![0, 1, 3, 6]);
    // As documented for weir (like `scan`): Restart resets to the seed and emits it again.
    let out = run(input().scan_async(0, step).with_attributes(restarting())).await;
    assert_eq!(out.unwrap(), vec![0, 1, 3, 0, 3]);
    assert_panicked(run(input().scan_async(0, step)).await, "scan_async");
}

#[tokio::test(start_paused = true)]
async fn fold_async_supervision() {
    let step = |acc: i32, x: i32| async move {
        sleep(ms(1)).await;
        add(acc, x)
    };
    let out = run(input().fold_async(0, step).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![6]);
    let out = run(input().fold_async(0, step).with_attributes(restarting())).await;
    assert_eq!(out.unwrap(), vec![3]);
    assert_panicked(run(input().fold_async(0, step)).await, "fold_async");
}

// ---------------------------------------------------------------------------------------------
// stateful_map
// ---------------------------------------------------------------------------------------------

/// Pairs each element with how many elements the current state has counted; panics on 0
/// before touching the state. At completion, emits `(99, count)`.
fn stateful(source: Source<i32>) -> Source<(i32, u32)> {
    source.stateful_map(
        || 0u32,
        |count: &mut u32, x| {
            assert!(x != 0, "zero");
            *count += 1;
            (x, *count)
        },
        |count| Some((99, count)),
    )
}

#[tokio::test]
async fn stateful_map_resume_keeps_the_state() {
    let out = run(stateful(input()).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![(1, 1), (2, 2), (3, 3), (99, 3)]);
}

#[tokio::test]
async fn stateful_map_restart_closes_the_old_state_and_creates_a_new_one() {
    // As Pekko's `statefulMap`: the old state's `on_complete` element is emitted at the restart.
    let out = run(stateful(input()).with_attributes(restarting())).await;
    assert_eq!(out.unwrap(), vec![(1, 1), (2, 2), (99, 2), (3, 1), (99, 1)]);
}

#[tokio::test]
async fn stateful_map_stop_fails_with_panicked() {
    assert_panicked(
        run(stateful(input()).with_attributes(stopping())).await,
        "stateful_map",
    );
    assert_panicked(run(stateful(input())).await, "stateful_map");
}

/// Pekko's `statefulMap` calls `onComplete` "when the upstream or downstream finished" and
/// emits its element if there is one: a stage stopped by a failure flushes its state before
/// failing.
#[tokio::test(start_paused = true)]
async fn stateful_map_stop_flushes_on_complete_before_failing() {
    let sink = stateful(input()).run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([(1, 1), (2, 2)]).await;
    sink.expect_next((99, 2)).await;
    assert!(matches!(
        sink.expect_error().await,
        StreamError::Panicked { .. }
    ));
}

/// As above, for an upstream failure.
#[tokio::test(start_paused = true)]
async fn stateful_map_upstream_failure_flushes_on_complete_before_failing() {
    let (src, sink) = TestSource::<i32>::probe()
        .stateful_map(
            || 0u32,
            |count: &mut u32, x| {
                *count += 1;
                (x, *count)
            },
            |count| Some((99, count)),
        )
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(7).await;
    sink.expect_next((7, 1)).await;
    src.send_error(StreamError::AbruptTermination);
    sink.expect_next((99, 1)).await;
    assert!(matches!(
        sink.expect_error().await,
        StreamError::AbruptTermination
    ));
}

// ---------------------------------------------------------------------------------------------
// take_while, drop_while
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn take_while_supervision() {
    let pred = |x: &i32| {
        assert!(*x != 0, "zero");
        *x < 4
    };
    let src = Source::from_iter(vec![1, 2, 0, 3, 5, 1]);
    for attrs in [resuming(), restarting()] {
        let out = run(src.clone().take_while(pred).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![1, 2, 3]);
    }
    assert_panicked(
        run(src.clone().take_while(pred).with_attributes(stopping())).await,
        "take_while",
    );
    assert_panicked(run(src.take_while(pred)).await, "take_while");
}

#[tokio::test]
async fn take_while_inclusive_supervision() {
    let pred = |x: &i32| {
        assert!(*x != 0, "zero");
        *x < 4
    };
    let src = Source::from_iter(vec![1, 2, 0, 3, 5, 1]);
    for attrs in [resuming(), restarting()] {
        let out = run(src
            .clone()
            .take_while_inclusive(pred)
            .with_attributes(attrs))
        .await;
        assert_eq!(out.unwrap(), vec![1, 2, 3, 5]);
    }
    for attrs in [Attributes::none(), stopping()] {
        match run(src
            .clone()
            .take_while_inclusive(pred)
            .with_attributes(attrs))
        .await
        {
            Err(StreamError::Panicked { message, .. }) => assert_eq!(message, "zero"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}

/// `StreamError::Panicked` names "its `name` attribute or its operator name"; the stage of
/// `take_while_inclusive` is named `take_while`.
#[tokio::test]
async fn take_while_inclusive_panic_names_take_while_inclusive() {
    let pred = |x: &i32| {
        assert!(*x != 0, "zero");
        true
    };
    assert_panicked(
        run(input().take_while_inclusive(pred)).await,
        "take_while_inclusive",
    );
}

#[tokio::test]
async fn drop_while_supervision() {
    let pred = |x: &i32| {
        assert!(*x != 0, "zero");
        *x < 3
    };
    let src = Source::from_iter(vec![1, 0, 2, 5, 1]);
    for attrs in [resuming(), restarting()] {
        let out = run(src.clone().drop_while(pred).with_attributes(attrs)).await;
        assert_eq!(out.unwrap(), vec![5, 1]);
    }
    assert_panicked(
        run(src.clone().drop_while(pred).with_attributes(stopping())).await,
        "drop_while",
    );
    assert_panicked(run(src.drop_while(pred)).await, "drop_while");
}

// ---------------------------------------------------------------------------------------------
// Fan-in and decoupled operators with user code
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn zip_with_resume_drops_the_pair() {
    let f = |a: i32, b: i32| {
        assert!(a != 0, "zero");
        a + b
    };
    let out = run(input()
        .zip_with(Source::from_iter(vec![10, 20, 30, 40]), f)
        .with_attributes(resuming()))
    .await;
    assert_eq!(out.unwrap(), vec![11, 22, 43]);
    assert_panicked(
        run(input().zip_with(Source::from_iter(vec![10, 20, 30, 40]), f)).await,
        "zip_with",
    );
}

#[tokio::test]
async fn flat_map_concat_resume_drops_the_element() {
    let f = |x: i32| {
        assert!(x != 0, "zero");
        Source::from_iter(vec![x, x])
    };
    let out = run(input().flat_map_concat(f).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![1, 1, 2, 2, 3, 3]);
    assert_panicked(run(input().flat_map_concat(f)).await, "flat_map_concat");
}

#[tokio::test(start_paused = true)]
async fn conflate_resume_drops_the_element_and_restart_drops_the_aggregate() {
    for (attrs, expected) in [(resuming(), 6), (restarting(), 3)] {
        let (src, sink) = TestSource::<i32>::probe()
            .conflate(add)
            .with_attributes(attrs)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        for x in [1, 2, 0, 3] {
            src.send_next(x).await;
        }
        sleep(ms(1)).await;
        sink.request(1);
        sink.expect_next(expected).await;
    }
}

#[tokio::test(start_paused = true)]
async fn conflate_without_decider_fails_with_panicked() {
    let (src, sink) = TestSource::<i32>::probe()
        .conflate(add)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in [1, 2, 0] {
        src.send_next(x).await;
    }
    sleep(ms(1)).await;
    sink.request(1);
    match sink.expect_error().await {
        StreamError::Panicked { stage, .. } => assert_eq!(stage, "conflate"),
        other => panic!("expected Panicked, got {other:?}"),
    }
}

#[tokio::test]
async fn flat_map_merge_supervision() {
    let f = |x: i32| {
        assert!(x != 0, "zero");
        Source::from_iter(vec![x, x * 10])
    };
    for attrs in [resuming(), restarting()] {
        let mut out = run(input().flat_map_merge(2, f).with_attributes(attrs))
            .await
            .unwrap();
        out.sort_unstable();
        assert_eq!(out, vec![1, 2, 3, 10, 20, 30]);
    }
    assert_panicked(
        run(input().flat_map_merge(2, f).with_attributes(stopping())).await,
        "flat_map_merge",
    );
    assert_panicked(run(input().flat_map_merge(2, f)).await, "flat_map_merge");
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_stop_delivers_earlier_elements_then_fails_and_cancels_upstream() {
    let (src, sink) = TestSource::<i32>::probe()
        .flat_map_merge(2, |x| {
            assert!(x != 0, "zero");
            Source::single(x)
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_next(0).await;
    match sink.expect_error().await {
        StreamError::Panicked { stage, message } => {
            assert_eq!(stage, "flat_map_merge");
            assert_eq!(message, "zero");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_supervision_of_a_panicking_closure() {
    let f = |x: i32| {
        let y = times_ten(x);
        async move {
            sleep(ms(1)).await;
            y
        }
    };
    for attrs in [resuming(), restarting()] {
        let mut out = run(input().map_async_unordered(2, f).with_attributes(attrs))
            .await
            .unwrap();
        out.sort_unstable();
        assert_eq!(out, vec![10, 20, 30]);
    }
    for attrs in [Attributes::none(), stopping()] {
        assert_panicked(
            run(input().map_async_unordered(2, f).with_attributes(attrs)).await,
            "map_async_unordered",
        );
    }
}

fn push(mut v: Vec<i32>, x: i32) -> Vec<i32> {
    assert!(x != 0, "zero");
    v.push(x);
    v
}

type Probed<T> = Source<T, SourceProbe<i32>>;

/// Sends `items` to a `batch` or `conflate_with_seed` stage while nothing is requested, then
/// takes one aggregate.
async fn aggregate_once(
    aggregate: impl FnOnce(Probed<i32>) -> Probed<Vec<i32>>,
    attrs: Attributes,
    items: &[i32],
) -> Result<Vec<i32>, StreamError> {
    let (src, sink) = aggregate(TestSource::<i32>::probe())
        .with_attributes(attrs)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for &x in items {
        src.send_next(x).await;
    }
    sleep(ms(1)).await;
    sink.request(1);
    match sink.expect_event().await {
        Event::Next(v) => Ok(v),
        Event::Error(e) => Err(e),
        Event::Complete => panic!("unexpected completion"),
    }
}

#[tokio::test(start_paused = true)]
async fn batch_resume_drops_the_element_and_restart_drops_the_batch() {
    let batch = |s: Source<i32, _>| s.batch(10, |x| vec![x], push);
    let out = aggregate_once(batch, resuming(), &[1, 2, 0, 3]).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
    let out = aggregate_once(batch, restarting(), &[1, 2, 0, 3]).await;
    assert_eq!(out.unwrap(), vec![3]);
    for attrs in [Attributes::none(), stopping()] {
        assert_panicked(aggregate_once(batch, attrs, &[1, 2, 0, 3]).await, "batch");
    }
}

#[tokio::test(start_paused = true)]
async fn batch_panic_in_seed_drops_the_element() {
    let seed = |x: i32| {
        assert!(x != 0, "zero");
        vec![x]
    };
    let batch = move |s: Source<i32, _>| {
        s.batch(10, seed, |mut v: Vec<i32>, x| {
            v.push(x);
            v
        })
    };
    for attrs in [resuming(), restarting()] {
        let out = aggregate_once(batch, attrs, &[0, 1, 2]).await;
        assert_eq!(out.unwrap(), vec![1, 2]);
    }
    assert_panicked(
        aggregate_once(batch, Attributes::none(), &[0, 1]).await,
        "batch",
    );
}

#[tokio::test(start_paused = true)]
async fn conflate_with_seed_resume_drops_the_element_and_restart_drops_the_aggregate() {
    let conflate = |s: Source<i32, _>| s.conflate_with_seed(|x| vec![x], push);
    let out = aggregate_once(conflate, resuming(), &[1, 2, 0, 3]).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
    let out = aggregate_once(conflate, restarting(), &[1, 2, 0, 3]).await;
    assert_eq!(out.unwrap(), vec![3]);
    for attrs in [Attributes::none(), stopping()] {
        match aggregate_once(conflate, attrs, &[1, 2, 0, 3]).await {
            Err(StreamError::Panicked { message, .. }) => assert_eq!(message, "zero"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}

/// `StreamError::Panicked` names "its `name` attribute or its operator name"; the stage of
/// `conflate_with_seed` is named `conflate`.
#[tokio::test(start_paused = true)]
async fn conflate_with_seed_panic_names_conflate_with_seed() {
    let conflate = |s: Source<i32, _>| s.conflate_with_seed(|x| vec![x], push);
    assert_panicked(
        aggregate_once(conflate, Attributes::none(), &[1, 0]).await,
        "conflate_with_seed",
    );
}

/// Expands each element into itself forever; panics on 0.
fn forever(x: i32) -> std::iter::Repeat<i32> {
    assert!(x != 0, "zero");
    std::iter::repeat(x)
}

#[tokio::test(start_paused = true)]
async fn expand_resume_drops_the_element_and_keeps_extrapolating_the_previous_one() {
    for attrs in [resuming()] {
        let (src, sink) = TestSource::<i32>::probe()
            .expand(forever)
            .with_attributes(attrs)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(1);
        src.send_next(1).await;
        sink.expect_next(1).await;
        src.send_next(0).await;
        sleep(ms(1)).await;
        sink.request(2);
        sink.expect_next_n([1, 1]).await;
        src.send_next(3).await;
        sleep(ms(1)).await;
        sink.request(2);
        sink.expect_next_n([3, 3]).await;
    }
}

#[tokio::test(start_paused = true)]
async fn expand_stop_fails_with_panicked() {
    for attrs in [Attributes::none(), stopping()] {
        let (src, sink) = TestSource::<i32>::probe()
            .expand(forever)
            .with_attributes(attrs)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(1);
        src.send_next(1).await;
        sink.expect_next(1).await;
        src.send_next(0).await;
        sleep(ms(1)).await;
        sink.request(1);
        match sink.expect_error().await {
            StreamError::Panicked { stage, message } => {
                assert_eq!(stage, "expand");
                assert_eq!(message, "zero");
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
        src.expect_cancellation().await;
    }
}

/// Expands `x` into `x, x`, then panics.
fn twice_then_panic(x: i32) -> impl Iterator<Item = i32> {
    (0..).map(move |i| {
        assert!(i < 2, "exhausted");
        x
    })
}

#[tokio::test(start_paused = true)]
async fn expand_panic_in_the_iterator_under_resume_waits_for_the_next_element() {
    let (src, sink) = TestSource::<i32>::probe()
        .expand(twice_then_panic)
        .with_attributes(resuming())
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    sink.expect_next_n([1, 1]).await;
    sink.expect_no_message(ms(50)).await;
    src.send_next(2).await;
    sink.expect_next_n([2, 2]).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn expand_panic_in_the_iterator_without_decider_fails() {
    let (src, sink) = TestSource::<i32>::probe()
        .expand(twice_then_panic)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    sink.expect_next_n([1, 1]).await;
    match sink.expect_error().await {
        StreamError::Panicked { stage, message } => {
            assert_eq!(stage, "expand");
            assert_eq!(message, "exhausted");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    src.expect_cancellation().await;
}

#[tokio::test]
async fn recover_and_map_error_panics_fail_the_stream_whatever_the_decider() {
    let failing = || Source::single(1).concat(Source::failed(StreamError::AbruptTermination));
    for attrs in [Attributes::none(), resuming(), restarting()] {
        let out = run(failing()
            .recover(|_| -> Option<i32> { panic!("no recovery") })
            .with_attributes(attrs.clone()))
        .await;
        assert_panicked(out, "recover");
        let out = run(failing()
            .map_error(|_| -> StreamError { panic!("no mapping") })
            .with_attributes(attrs))
        .await;
        assert_panicked(out, "map_error");
    }
}

// ---------------------------------------------------------------------------------------------
// Which attribute applies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn attribute_on_the_inner_flow_wins_over_the_outer_composite() {
    let inner = Flow::<i32>::new()
        .map(times_ten)
        .with_attributes(resuming());
    let out = run(input().via(inner).with_attributes(stopping())).await;
    assert_eq!(out.unwrap(), vec![10, 20, 30]);

    let inner = Flow::<i32>::new()
        .map(times_ten)
        .with_attributes(stopping());
    let out = run(input().via(inner).with_attributes(resuming())).await;
    assert_panicked(out, "map");
}

#[tokio::test]
async fn innermost_of_nested_composites_wins() {
    let out = run(input()
        .map(times_ten)
        .with_attributes(restarting())
        .with_attributes(stopping())
        .with_attributes(stopping()))
    .await;
    assert_eq!(out.unwrap(), vec![10, 20, 30]);
}

#[tokio::test]
async fn outer_attribute_applies_when_the_operator_has_none() {
    let inner = Flow::<i32>::new().map(times_ten);
    let out = run(input().via(inner).with_attributes(resuming())).await;
    assert_eq!(out.unwrap(), vec![10, 20, 30]);
}

#[tokio::test]
async fn supervision_on_the_runnable_graph_applies_to_every_operator() {
    let out = input()
        .map(times_ten)
        .scan(0, add)
        .to_mat(Sink::seq(), Keep::right)
        .with_attributes(restarting())
        .run()
        .await;
    // map drops the 0; scan never sees it.
    assert_eq!(out.unwrap(), vec![0, 10, 30, 60]);
}

#[tokio::test]
async fn supervision_does_not_reach_operators_added_after_it() {
    let out = run(input().map(times_ten).with_attributes(resuming()).map(|x| {
        assert!(x != 20, "twenty");
        x
    }))
    .await;
    assert_panicked(out, "map");
}

#[tokio::test]
async fn name_and_supervision_combine() {
    let attrs = Attributes::name("tenfold").and(&resuming());
    let out = run(input().map(times_ten).with_attributes(attrs.clone())).await;
    assert_eq!(out.unwrap(), vec![10, 20, 30]);

    // A closer name overrides the name but keeps the outer decider.
    let out = run(input()
        .map(|x| {
            assert!(x != 3, "three");
            x
        })
        .named("inner")
        .with_attributes(Attributes::name("outer").and(&stopping())))
    .await;
    assert_panicked(out, "inner");
}

#[tokio::test]
async fn decider_sees_the_error_and_may_pick_per_failure() {
    let decider = Decider::new(|e| match e {
        StreamError::Panicked { message, .. } if message == "skip" => Directive::Resume,
        _ => Directive::Stop,
    });
    let f = |x: i32| match x {
        0 => panic!("skip"),
        9 => panic!("fatal"),
        x => x,
    };
    let out = run(input()
        .map(f)
        .with_attributes(Attributes::supervision(decider.clone())))
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);

    let out = run(Source::from_iter(vec![1, 0, 9, 2])
        .map(f)
        .with_attributes(Attributes::supervision(decider)))
    .await;
    match out {
        Err(StreamError::Panicked { message, .. }) => assert_eq!(message, "fatal"),
        other => panic!("expected the fatal panic, got {other:?}"),
    }
}

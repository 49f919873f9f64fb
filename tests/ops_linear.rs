//! Behavioural tests for the one-input, one-output operators of `StreamOps`.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::Level;
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::{Attributes, Decider};

const QUIET: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Boom(&'static str);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

impl std::error::Error for Boom {}

fn boom(tag: &'static str) -> StreamError {
    StreamError::failed(Boom(tag))
}

#[track_caller]
fn assert_boom(e: &StreamError, tag: &'static str) {
    match e.downcast_ref::<Boom>() {
        Some(b) => assert_eq!(b.0, tag, "wrong Boom: {e:?}"),
        None => panic!("expected Boom({tag}), got {e:?}"),
    }
}

/// The elements of `items`, then a failure tagged `tag`.
fn then_fail<T>(items: Vec<T>, tag: &'static str) -> Source<T>
where
    T: Clone + Send + Sync + 'static,
{
    Source::from_iter(items).concat(Source::failed(boom(tag)))
}

async fn collect<T: Send + 'static>(src: Source<T>) -> Result<Vec<T>, StreamError> {
    src.run_with(Sink::seq()).await
}

/// Asserts that `src` signals no further demand within `QUIET`.
async fn expect_no_request<T: Send + 'static>(src: &weir::testkit::SourceProbe<T>) {
    let req = tokio::time::timeout(QUIET, src.expect_request()).await;
    assert!(req.is_err(), "unexpected request: {req:?}");
}

// ---------------------------------------------------------------------------------------------
// map

#[tokio::test]
async fn map_transforms_each_element_in_order() {
    let out = collect(Source::from_iter(vec![3, 1, 2]).map(|x| x * 10)).await;
    assert_eq!(out.unwrap(), vec![30, 10, 20]);
}

#[tokio::test]
async fn map_can_change_the_element_type() {
    let out = collect(Source::range(1, 3).map(|x: i32| format!("#{x}"))).await;
    assert_eq!(out.unwrap(), vec!["#1", "#2", "#3"]);
}

#[tokio::test]
async fn map_on_empty_stream_completes_empty() {
    let out = collect(Source::<i32>::empty().map(|x| x + 1)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn map_passes_elements_then_upstream_failure() {
    let sink = then_fail(vec![1, 2], "map")
        .map(|x| x + 100)
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([101, 102]).await;
    assert_boom(&sink.expect_error().await, "map");
}

#[tokio::test]
async fn map_panic_fails_with_panicked() {
    let err = collect(Source::range(1, 3).map(|x: i32| {
        assert_ne!(x, 2, "two");
        x
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { stage, .. } if stage == "map"),
        "{err:?}"
    );
}

#[tokio::test]
async fn map_closure_state_is_fresh_per_materialization() {
    let mut n = 0;
    let src = Source::from_iter(vec!['a', 'b']).map(move |c| {
        n += 1;
        (c, n)
    });
    assert_eq!(
        collect(src.clone()).await.unwrap(),
        vec![('a', 1), ('b', 2)]
    );
    assert_eq!(collect(src).await.unwrap(), vec![('a', 1), ('b', 2)]);
}

#[tokio::test(start_paused = true)]
async fn map_forwards_demand_and_emits_only_on_request() {
    let (src, sink) = TestSource::<i32>::probe()
        .map(|x| x * 2)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    expect_no_request(&src).await;
    sink.request(2);
    assert_eq!(src.expect_request().await, 2);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([2, 4]).await;
    src.send_unrequested(3);
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(6).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

// ---------------------------------------------------------------------------------------------
// filter / filter_not / filter_map

#[tokio::test]
async fn filter_keeps_matching_elements_in_order() {
    let out = collect(Source::range(1, 10).filter(|x| x % 3 == 0)).await;
    assert_eq!(out.unwrap(), vec![3, 6, 9]);
}

#[tokio::test]
async fn filter_matching_nothing_completes_empty() {
    let out = collect(Source::range(1, 100).filter(|_| false)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn filter_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1, 2], "filter").filter(|x| x % 2 == 0))
        .await
        .unwrap_err();
    assert_boom(&err, "filter");
}

#[tokio::test(start_paused = true)]
async fn filter_pulls_again_for_dropped_elements() {
    let (src, sink) = TestSource::<i32>::probe()
        .filter(|x| x % 2 == 0)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    assert_eq!(src.expect_request().await, 1);
    src.send_next(1).await;
    // 1 was dropped, so the one requested element is still owed.
    assert_eq!(src.expect_request().await, 1);
    sink.expect_no_message(QUIET).await;
    src.send_next(2).await;
    sink.expect_next(2).await;
    src.send_unrequested(4);
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(4).await;
}

#[tokio::test]
async fn filter_not_drops_matching_elements() {
    let out = collect(Source::range(1, 10).filter_not(|x| x % 3 == 0)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 4, 5, 7, 8, 10]);
}

#[tokio::test]
async fn filter_not_matching_everything_completes_empty() {
    let out = collect(Source::range(1, 5).filter_not(|_| true)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn filter_not_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1], "filter_not").filter_not(|_| false))
        .await
        .unwrap_err();
    assert_boom(&err, "filter_not");
}

#[tokio::test]
async fn filter_map_maps_and_drops_none() {
    let out = collect(
        Source::from_iter(vec!["1", "x", "3", "", "5"]).filter_map(|s| s.parse::<i32>().ok()),
    )
    .await;
    assert_eq!(out.unwrap(), vec![1, 3, 5]);
}

#[tokio::test]
async fn filter_map_all_none_completes_empty() {
    let out = collect(Source::range(1, 5).filter_map(|_| None::<u8>)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn filter_map_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1, 2], "filter_map").filter_map(Some))
        .await
        .unwrap_err();
    assert_boom(&err, "filter_map");
}

// ---------------------------------------------------------------------------------------------
// map_concat / stateful_map_concat

#[tokio::test]
async fn map_concat_expands_each_element_in_order() {
    let out = collect(Source::from_iter(vec![0usize, 1, 3, 2]).map_concat(|x| vec![x; x])).await;
    assert_eq!(out.unwrap(), vec![1, 3, 3, 3, 2, 2]);
}

#[tokio::test]
async fn map_concat_of_empty_expansions_completes_empty() {
    let out = collect(Source::range(1, 5).map_concat(|_| Vec::<i32>::new())).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn map_concat_infinite_expansion_followed_by_take() {
    let out = collect(
        Source::from_iter(vec![1, 2])
            .map_concat(std::iter::repeat)
            .take(5),
    )
    .await;
    assert_eq!(out.unwrap(), vec![1, 1, 1, 1, 1]);
}

#[tokio::test]
async fn map_concat_infinite_expansion_with_counter() {
    let out = collect(
        Source::single(10)
            .map_concat(|start| (start..).step_by(5))
            .take(4),
    )
    .await;
    assert_eq!(out.unwrap(), vec![10, 15, 20, 25]);
}

#[tokio::test(start_paused = true)]
async fn map_concat_emits_expansion_only_on_demand() {
    let sink = Source::from_iter(vec![1, 2])
        .map_concat(|x| vec![x; 3])
        .run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(2);
    sink.expect_next_n([1, 1]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(2);
    sink.expect_next_n([1, 2]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(5);
    sink.expect_next_n([2, 2]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn map_concat_infinite_expansion_respects_demand() {
    let sink = Source::single('x')
        .map_concat(std::iter::repeat)
        .run_with(TestSink::probe());
    sink.request(3);
    sink.expect_next_n(['x', 'x', 'x']).await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test(start_paused = true)]
async fn map_concat_emits_pending_expansion_before_upstream_failure() {
    let sink = then_fail(vec![1, 2], "map_concat")
        .map_concat(|x| vec![x, x])
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([1, 1, 2, 2]).await;
    assert_boom(&sink.expect_error().await, "map_concat");
}

#[tokio::test]
async fn map_concat_panic_fails_with_panicked() {
    let err = collect(Source::range(1, 3).map_concat(|x: i32| {
        assert_ne!(x, 2);
        vec![x]
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { stage, .. } if stage == "map_concat"),
        "{err:?}"
    );
}

#[tokio::test]
async fn stateful_map_concat_keeps_state_across_elements() {
    let src = Source::from_iter(vec!['a', 'b', 'a', 'a']).stateful_map_concat(|| {
        let mut seen = std::collections::HashMap::new();
        move |c| {
            let n = seen.entry(c).or_insert(0usize);
            *n += 1;
            vec![c; *n]
        }
    });
    assert_eq!(
        collect(src).await.unwrap(),
        vec!['a', 'b', 'a', 'a', 'a', 'a', 'a']
    );
}

#[tokio::test]
async fn stateful_map_concat_state_is_fresh_per_materialization() {
    let creates = Arc::new(AtomicUsize::new(0));
    let c = creates.clone();
    let src = Source::range(1, 3).stateful_map_concat(move || {
        c.fetch_add(1, Ordering::SeqCst);
        let mut total = 0;
        move |x: i32| {
            total += x;
            Some(total)
        }
    });
    assert_eq!(collect(src.clone()).await.unwrap(), vec![1, 3, 6]);
    assert_eq!(collect(src).await.unwrap(), vec![1, 3, 6]);
    assert_eq!(creates.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn stateful_map_concat_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1], "smc").stateful_map_concat(|| |x: i32| vec![x]))
        .await
        .unwrap_err();
    assert_boom(&err, "smc");
}

// ---------------------------------------------------------------------------------------------
// scan / fold / reduce

#[tokio::test]
async fn scan_emits_seed_first_then_each_state() {
    let out = collect(Source::range(1, 4).scan(100, |acc, x| acc + x)).await;
    assert_eq!(out.unwrap(), vec![100, 101, 103, 106, 110]);
}

#[tokio::test]
async fn scan_of_empty_stream_emits_just_the_seed() {
    let out = collect(Source::<i32>::empty().scan(7, |acc, x| acc + x)).await;
    assert_eq!(out.unwrap(), vec![7]);
}

#[tokio::test]
async fn scan_applies_f_in_order() {
    let out =
        collect(Source::from_iter(vec!["a", "b", "c"]).scan(String::new(), |acc, x| acc + x)).await;
    assert_eq!(out.unwrap(), vec!["", "a", "ab", "abc"]);
}

#[tokio::test(start_paused = true)]
async fn scan_emits_seed_before_any_upstream_element() {
    let (src, sink) = TestSource::<i32>::probe()
        .scan(0, |acc, x| acc + x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(0).await;
    sink.request(2);
    src.send_next(5).await;
    src.send_next(6).await;
    sink.expect_next_n([5, 11]).await;
    sink.expect_no_message(QUIET).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn scan_emits_states_then_upstream_failure() {
    let sink = then_fail(vec![1, 2], "scan")
        .scan(0, |acc, x| acc + x)
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([0, 1, 3]).await;
    assert_boom(&sink.expect_error().await, "scan");
}

#[tokio::test]
async fn fold_emits_the_result_on_completion() {
    let out = collect(Source::range(1, 100).fold(0u64, |a, x| a + x as u64)).await;
    assert_eq!(out.unwrap(), vec![5050]);
}

#[tokio::test]
async fn fold_applies_f_in_order() {
    let out =
        collect(Source::from_iter(vec![1, 2, 3]).fold(String::from("="), |a, x| format!("{a}{x}")))
            .await;
    assert_eq!(out.unwrap(), vec!["=123"]);
}

#[tokio::test]
async fn fold_of_empty_stream_emits_zero() {
    let out = collect(Source::<i32>::empty().fold(42, |a, x| a + x)).await;
    assert_eq!(out.unwrap(), vec![42]);
}

#[tokio::test(start_paused = true)]
async fn fold_emits_nothing_on_upstream_failure() {
    let sink = then_fail(vec![1, 2, 3], "fold")
        .fold(0, |a, x| a + x)
        .run_with(TestSink::probe());
    sink.request(10);
    assert_boom(&sink.expect_error().await, "fold");
}

#[tokio::test(start_paused = true)]
async fn fold_emits_only_after_upstream_completes() {
    let (src, sink) = TestSource::<i32>::probe()
        .fold(0, |a, x| a + x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_no_message(QUIET).await;
    src.send_complete();
    sink.expect_next(3).await;
    sink.expect_complete().await;
}

#[tokio::test]
async fn reduce_combines_with_first_element_as_seed() {
    let out = collect(Source::range(1, 5).reduce(|a, b| a * b)).await;
    assert_eq!(out.unwrap(), vec![120]);
}

#[tokio::test]
async fn reduce_applies_f_in_order() {
    let out = collect(
        Source::from_iter(vec!["a".to_string(), "b".into(), "c".into()])
            .reduce(|a, b| format!("({a}{b})")),
    )
    .await;
    assert_eq!(out.unwrap(), vec!["((ab)c)"]);
}

#[tokio::test]
async fn reduce_of_single_element_emits_it() {
    let out = collect(Source::single(9).reduce(|a, b| a + b)).await;
    assert_eq!(out.unwrap(), vec![9]);
}

#[tokio::test]
async fn reduce_of_empty_stream_fails_with_empty() {
    let err = collect(Source::<i32>::empty().reduce(|a, b| a + b))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::Empty { stage: "reduce" }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn reduce_emits_nothing_on_upstream_failure() {
    let sink = then_fail(vec![1, 2], "reduce")
        .reduce(|a, b| a + b)
        .run_with(TestSink::probe());
    sink.request(10);
    assert_boom(&sink.expect_error().await, "reduce");
}

// ---------------------------------------------------------------------------------------------
// take / take_while / take_while_inclusive

#[tokio::test]
async fn take_emits_the_first_n_then_completes() {
    let out = collect(Source::range(1, 100).take(3)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn take_more_than_available_emits_everything() {
    let out = collect(Source::range(1, 3).take(10)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn take_of_infinite_source_completes() {
    let out = collect(Source::iterate(0, |x| x + 1).take(4)).await;
    assert_eq!(out.unwrap(), vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn take_propagates_failure_before_n() {
    let err = collect(then_fail(vec![1, 2], "take").take(5))
        .await
        .unwrap_err();
    assert_boom(&err, "take");
}

#[tokio::test]
async fn take_n_completes_before_a_later_failure() {
    let out = collect(then_fail(vec![1, 2, 3], "late").take(2)).await;
    assert_eq!(out.unwrap(), vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn take_zero_completes_without_pulling() {
    let (src, sink) = TestSource::<i32>::probe()
        .take(0)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    sink.expect_complete().await;
    src.expect_cancellation().await;
    expect_no_request(&src).await;
}

#[tokio::test(start_paused = true)]
async fn take_never_requests_more_than_n() {
    let (src, sink) = TestSource::<i32>::probe()
        .take(3)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(100);
    assert_eq!(src.expect_request().await, 3);
    src.send_next(1).await;
    src.send_next(2).await;
    expect_no_request(&src).await;
    src.send_next(3).await;
    sink.expect_next_n([1, 2, 3]).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;
    expect_no_request(&src).await;
}

#[tokio::test(start_paused = true)]
async fn take_requests_only_what_is_still_needed() {
    let (src, sink) = TestSource::<i32>::probe()
        .take(5)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    assert_eq!(src.expect_request().await, 2);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([1, 2]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(10);
    assert_eq!(src.expect_request().await, 3);
    for x in 3..=5 {
        src.send_next(x).await;
    }
    sink.expect_next_n([3, 4, 5]).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;
    expect_no_request(&src).await;
}

#[tokio::test]
async fn take_cancels_upstream_which_sees_normal_termination() {
    let (done, out) = Source::repeat(1)
        .watch_termination()
        .take(2)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 1]);
    assert!(done.await.is_ok());
}

#[tokio::test]
async fn take_while_stops_at_first_failing_element() {
    let out = collect(Source::from_iter(vec![1, 2, 5, 1, 2]).take_while(|x| *x < 3)).await;
    assert_eq!(out.unwrap(), vec![1, 2]);
}

#[tokio::test]
async fn take_while_all_passing_emits_everything() {
    let out = collect(Source::range(1, 4).take_while(|_| true)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn take_while_first_failing_completes_empty() {
    let out = collect(Source::range(1, 4).take_while(|x| *x > 1)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn take_while_completes_and_cancels_upstream() {
    let (src, sink) = TestSource::<i32>::probe()
        .take_while(|x| *x < 3)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_next(3).await;
    sink.expect_next_n([1, 2]).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;
}

#[tokio::test]
async fn take_while_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1, 2], "tw").take_while(|_| true))
        .await
        .unwrap_err();
    assert_boom(&err, "tw");
}

#[tokio::test]
async fn take_while_inclusive_also_emits_the_first_failing_element() {
    let out =
        collect(Source::from_iter(vec![1, 2, 5, 1, 2]).take_while_inclusive(|x| *x < 3)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 5]);
}

#[tokio::test]
async fn take_while_inclusive_first_failing_emits_just_it() {
    let out = collect(Source::range(1, 4).take_while_inclusive(|x| *x > 1)).await;
    assert_eq!(out.unwrap(), vec![1]);
}

#[tokio::test]
async fn take_while_inclusive_all_passing_emits_everything() {
    let out = collect(Source::range(1, 3).take_while_inclusive(|_| true)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn take_while_inclusive_completes_and_cancels_upstream() {
    let (src, sink) = TestSource::<i32>::probe()
        .take_while_inclusive(|x| *x < 3)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(7).await;
    sink.expect_next_n([1, 7]).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;
}

#[tokio::test]
async fn take_while_inclusive_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1, 2], "twi").take_while_inclusive(|_| true))
        .await
        .unwrap_err();
    assert_boom(&err, "twi");
}

#[tokio::test(start_paused = true)]
async fn take_while_inclusive_delivers_the_elements_before_an_upstream_failure() {
    let (src, sink) = TestSource::<i32>::probe()
        .take_while_inclusive(|x| *x < 3)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([1, 2]).await;
    src.send_error(boom("twi"));
    assert_boom(&sink.expect_error().await, "twi");
}

#[tokio::test]
async fn take_while_inclusive_completes_before_a_later_failure() {
    let out = collect(then_fail(vec![1, 5, 2], "late").take_while_inclusive(|x| *x < 3)).await;
    assert_eq!(out.unwrap(), vec![1, 5]);
}

// ---------------------------------------------------------------------------------------------
// drop / drop_while

#[tokio::test]
async fn drop_skips_the_first_n() {
    let out = collect(Source::range(1, 6).drop(4)).await;
    assert_eq!(out.unwrap(), vec![5, 6]);
}

#[tokio::test]
async fn drop_zero_keeps_everything() {
    let out = collect(Source::range(1, 3).drop(0)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn drop_more_than_available_completes_empty() {
    let out = collect(Source::range(1, 3).drop(5)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn drop_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1, 2], "drop").drop(1))
        .await
        .unwrap_err();
    assert_boom(&err, "drop");
}

#[tokio::test(start_paused = true)]
async fn drop_emits_only_on_demand() {
    let sink = Source::range(1, 10).drop(2).run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(2);
    sink.expect_next_n([3, 4]).await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test]
async fn drop_while_drops_only_the_prefix() {
    let out = collect(Source::from_iter(vec![1, 2, 5, 1, 2]).drop_while(|x| *x < 3)).await;
    assert_eq!(out.unwrap(), vec![5, 1, 2]);
}

#[tokio::test]
async fn drop_while_all_matching_completes_empty() {
    let out = collect(Source::range(1, 5).drop_while(|_| true)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn drop_while_first_not_matching_keeps_everything() {
    let out = collect(Source::range(1, 3).drop_while(|x| *x > 1)).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn drop_while_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1, 5], "dw").drop_while(|x| *x < 3))
        .await
        .unwrap_err();
    assert_boom(&err, "dw");
}

// ---------------------------------------------------------------------------------------------
// limit

#[tokio::test]
async fn limit_passes_streams_up_to_max() {
    assert_eq!(
        collect(Source::range(1, 2).limit(3)).await.unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        collect(Source::range(1, 3).limit(3)).await.unwrap(),
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn limit_exceeded_fails_with_limit_exceeded() {
    let err = collect(Source::range(1, 5).limit(3)).await.unwrap_err();
    assert!(
        matches!(err, StreamError::LimitExceeded { max: 3 }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn limit_emits_max_elements_then_fails() {
    let sink = Source::range(1, 5).limit(3).run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([1, 2, 3]).await;
    let err = sink.expect_error().await;
    assert!(
        matches!(err, StreamError::LimitExceeded { max: 3 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn limit_zero_fails_on_first_element_and_passes_empty() {
    let err = collect(Source::single(1).limit(0)).await.unwrap_err();
    assert!(
        matches!(err, StreamError::LimitExceeded { max: 0 }),
        "{err:?}"
    );
    assert!(collect(Source::<i32>::empty().limit(0))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn limit_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1], "limit").limit(5))
        .await
        .unwrap_err();
    assert_boom(&err, "limit");
}

// ---------------------------------------------------------------------------------------------
// grouped

#[tokio::test]
async fn grouped_emits_groups_of_n_and_a_smaller_last() {
    let out = collect(Source::range(1, 7).grouped(3)).await;
    assert_eq!(out.unwrap(), vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
}

#[tokio::test]
async fn grouped_exact_multiple_has_no_trailing_group() {
    let out = collect(Source::range(1, 4).grouped(2)).await;
    assert_eq!(out.unwrap(), vec![vec![1, 2], vec![3, 4]]);
}

#[tokio::test]
async fn grouped_larger_than_stream_emits_one_group() {
    let out = collect(Source::range(1, 3).grouped(10)).await;
    assert_eq!(out.unwrap(), vec![vec![1, 2, 3]]);
}

#[tokio::test]
async fn grouped_one_wraps_each_element() {
    let out = collect(Source::range(1, 3).grouped(1)).await;
    assert_eq!(out.unwrap(), vec![vec![1], vec![2], vec![3]]);
}

#[tokio::test]
async fn grouped_of_empty_stream_emits_nothing() {
    let out = collect(Source::<i32>::empty().grouped(3)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn grouped_drops_partial_group_on_failure() {
    let sink = then_fail(vec![1, 2, 3], "grouped")
        .grouped(2)
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next(vec![1, 2]).await;
    assert_boom(&sink.expect_error().await, "grouped");
}

#[tokio::test(start_paused = true)]
async fn grouped_emits_only_on_demand() {
    let sink = Source::range(1, 10).grouped(3).run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(vec![1, 2, 3]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(10);
    sink.expect_next_n([vec![4, 5, 6], vec![7, 8, 9], vec![10]])
        .await;
    sink.expect_complete().await;
}

#[test]
#[should_panic(expected = "grouped: n must be at least 1")]
fn grouped_zero_panics() {
    let _ = Source::range(1, 3).grouped(0);
}

// ---------------------------------------------------------------------------------------------
// sliding

async fn sliding(len: i32, n: usize, step: usize) -> Vec<Vec<i32>> {
    collect(Source::range(1, len).sliding(n, step))
        .await
        .unwrap()
}

/// Scala's `(1 to len).sliding(n, step)`, which Akka's `sliding` follows.
fn reference_sliding(len: i32, n: usize, step: usize) -> Vec<Vec<i32>> {
    let items: Vec<i32> = (1..=len).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let end = (i + n).min(items.len());
        if end - i == n {
            out.push(items[i..end].to_vec());
        } else {
            // A partial window: only if it holds elements the previous window did not show.
            if i == 0 || i - step + n < items.len() {
                out.push(items[i..end].to_vec());
            }
            break;
        }
        i += step;
    }
    out
}

#[tokio::test]
async fn sliding_akka_example_n3_step2() {
    assert_eq!(
        sliding(6, 3, 2).await,
        vec![vec![1, 2, 3], vec![3, 4, 5], vec![5, 6]]
    );
}

#[tokio::test]
async fn sliding_akka_example_n2_step2() {
    assert_eq!(
        sliding(5, 2, 2).await,
        vec![vec![1, 2], vec![3, 4], vec![5]]
    );
}

#[tokio::test]
async fn sliding_akka_example_n2_step3_with_partial_last() {
    assert_eq!(
        sliding(7, 2, 3).await,
        vec![vec![1, 2], vec![4, 5], vec![7]]
    );
}

#[tokio::test]
async fn sliding_akka_example_n2_step3_without_partial_last() {
    assert_eq!(sliding(6, 2, 3).await, vec![vec![1, 2], vec![4, 5]]);
}

#[tokio::test]
async fn sliding_n_greater_than_step_overlaps() {
    assert_eq!(
        sliding(5, 3, 1).await,
        vec![vec![1, 2, 3], vec![2, 3, 4], vec![3, 4, 5]]
    );
}

#[tokio::test]
async fn sliding_n_greater_than_step_does_not_repeat_a_full_last_window() {
    assert_eq!(sliding(5, 3, 2).await, vec![vec![1, 2, 3], vec![3, 4, 5]]);
}

#[tokio::test]
async fn sliding_n_greater_than_step_emits_partial_last_with_new_elements() {
    assert_eq!(sliding(4, 3, 2).await, vec![vec![1, 2, 3], vec![3, 4]]);
}

#[tokio::test]
async fn sliding_n_equal_to_step_is_grouped() {
    assert_eq!(sliding(6, 3, 3).await, vec![vec![1, 2, 3], vec![4, 5, 6]]);
    assert_eq!(
        sliding(7, 3, 3).await,
        vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]
    );
}

#[tokio::test]
async fn sliding_n_less_than_step_skips_elements() {
    assert_eq!(
        sliding(10, 1, 3).await,
        vec![vec![1], vec![4], vec![7], vec![10]]
    );
    assert_eq!(
        sliding(8, 2, 3).await,
        vec![vec![1, 2], vec![4, 5], vec![7, 8]]
    );
}

#[tokio::test]
async fn sliding_stream_shorter_than_n_emits_one_partial_window() {
    assert_eq!(sliding(2, 3, 1).await, vec![vec![1, 2]]);
    assert_eq!(sliding(2, 5, 7).await, vec![vec![1, 2]]);
}

#[tokio::test]
async fn sliding_stream_exactly_n_emits_one_window() {
    assert_eq!(sliding(3, 3, 1).await, vec![vec![1, 2, 3]]);
}

#[tokio::test]
async fn sliding_of_empty_stream_emits_nothing() {
    let out = collect(Source::<i32>::empty().sliding(2, 1)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn sliding_matches_scala_sliding_for_many_shapes() {
    for len in 0..=12 {
        for n in 1..=5 {
            for step in 1..=6 {
                assert_eq!(
                    sliding(len, n, step).await,
                    reference_sliding(len, n, step),
                    "(1..={len}).sliding({n}, {step})"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn sliding_emits_only_on_demand_and_propagates_failure() {
    let sink = then_fail(vec![1, 2, 3, 4], "sliding")
        .sliding(2, 1)
        .run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(vec![1, 2]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(10);
    sink.expect_next_n([vec![2, 3], vec![3, 4]]).await;
    assert_boom(&sink.expect_error().await, "sliding");
}

#[test]
#[should_panic(expected = "sliding: n and step must be at least 1")]
fn sliding_zero_step_panics() {
    let _ = Source::range(1, 3).sliding(2, 0);
}

// ---------------------------------------------------------------------------------------------
// intersperse / intersperse_with

#[tokio::test]
async fn intersperse_injects_between_elements() {
    let out = collect(Source::from_iter(vec!["a", "b", "c"]).intersperse(",")).await;
    assert_eq!(out.unwrap(), vec!["a", ",", "b", ",", "c"]);
}

#[tokio::test]
async fn intersperse_single_element_has_no_separator() {
    let out = collect(Source::single(1).intersperse(0)).await;
    assert_eq!(out.unwrap(), vec![1]);
}

#[tokio::test]
async fn intersperse_of_empty_stream_is_empty() {
    let out = collect(Source::<i32>::empty().intersperse(0)).await;
    assert!(out.unwrap().is_empty());
}

#[tokio::test]
async fn intersperse_with_wraps_and_separates() {
    let out = collect(Source::from_iter(vec!["a", "b"]).intersperse_with("[", ",", "]")).await;
    assert_eq!(out.unwrap(), vec!["[", "a", ",", "b", "]"]);
}

#[tokio::test]
async fn intersperse_with_single_element() {
    let out = collect(Source::single(5).intersperse_with(0, 1, 9)).await;
    assert_eq!(out.unwrap(), vec![0, 5, 9]);
}

#[tokio::test]
async fn intersperse_with_on_empty_stream_emits_start_and_end() {
    let out = collect(Source::<&str>::empty().intersperse_with("[", ",", "]")).await;
    assert_eq!(out.unwrap(), vec!["[", "]"]);
}

#[tokio::test(start_paused = true)]
async fn intersperse_with_emits_only_on_demand() {
    let sink = Source::from_iter(vec![1, 2, 3])
        .intersperse_with(-1, 0, -2)
        .run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(-1).await;
    sink.expect_no_message(QUIET).await;
    sink.request(3);
    sink.expect_next_n([1, 0, 2]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(10);
    sink.expect_next_n([0, 3, -2]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn intersperse_with_emits_no_end_on_failure() {
    let sink = then_fail(vec![1, 2], "intersperse")
        .intersperse_with(-1, 0, -2)
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([-1, 1, 0, 2]).await;
    assert_boom(&sink.expect_error().await, "intersperse");
}

// ---------------------------------------------------------------------------------------------
// zip_with_index

#[tokio::test]
async fn zip_with_index_counts_from_zero() {
    let out = collect(Source::from_iter(vec!['a', 'b', 'c']).zip_with_index()).await;
    assert_eq!(out.unwrap(), vec![('a', 0), ('b', 1), ('c', 2)]);
}

#[tokio::test]
async fn zip_with_index_counts_emitted_elements_only() {
    let out = collect(Source::range(1, 6).filter(|x| x % 2 == 0).zip_with_index()).await;
    assert_eq!(out.unwrap(), vec![(2, 0), (4, 1), (6, 2)]);
}

#[tokio::test]
async fn zip_with_index_restarts_per_materialization() {
    let src = Source::range(10, 11).zip_with_index();
    assert_eq!(collect(src.clone()).await.unwrap(), vec![(10, 0), (11, 1)]);
    assert_eq!(collect(src).await.unwrap(), vec![(10, 0), (11, 1)]);
}

#[tokio::test]
async fn zip_with_index_propagates_upstream_failure() {
    let err = collect(then_fail(vec![1], "zwi").zip_with_index())
        .await
        .unwrap_err();
    assert_boom(&err, "zwi");
}

// ---------------------------------------------------------------------------------------------
// stateful_map

fn running_difference(src: Source<i32>) -> Source<i32> {
    src.stateful_map(
        || 0,
        |prev: &mut i32, x| {
            let d = x - *prev;
            *prev = x;
            d
        },
        |last| Some(last * 100),
    )
}

#[tokio::test]
async fn stateful_map_maps_with_state_and_flushes_last() {
    let out = collect(running_difference(Source::from_iter(vec![1, 4, 9]))).await;
    assert_eq!(out.unwrap(), vec![1, 3, 5, 900]);
}

#[tokio::test]
async fn stateful_map_on_complete_none_emits_nothing_extra() {
    let out = collect(Source::range(1, 3).stateful_map(
        || 0,
        |sum: &mut i32, x| {
            *sum += x;
            *sum
        },
        |_| None,
    ))
    .await;
    assert_eq!(out.unwrap(), vec![1, 3, 6]);
}

#[tokio::test]
async fn stateful_map_on_empty_stream_flushes_the_initial_state() {
    let out =
        collect(Source::<i32>::empty().stateful_map(|| 5, |s: &mut i32, x| *s + x, |s| Some(-s)))
            .await;
    assert_eq!(out.unwrap(), vec![-5]);
}

#[tokio::test]
async fn stateful_map_state_is_fresh_per_materialization() {
    let src = running_difference(Source::from_iter(vec![2, 3]));
    assert_eq!(collect(src.clone()).await.unwrap(), vec![2, 1, 300]);
    assert_eq!(collect(src).await.unwrap(), vec![2, 1, 300]);
}

#[tokio::test(start_paused = true)]
async fn stateful_map_flush_is_emitted_last_under_demand() {
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::new().stateful_map(
            Vec::new,
            |seen: &mut Vec<i32>, x| {
                seen.push(x);
                seen.len()
            },
            |seen| Some(seen.iter().sum::<i32>() as usize * 1000),
        ))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    src.send_next(3).await;
    src.send_next(4).await;
    sink.expect_next_n([1, 2]).await;
    src.send_complete();
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(7000).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn stateful_map_flushes_then_fails_on_upstream_failure() {
    let flushes = Arc::new(AtomicUsize::new(0));
    let f = flushes.clone();
    let sink = then_fail(vec![1, 4], "stateful_map")
        .stateful_map(
            || 0,
            |prev: &mut i32, x| {
                let d = x - *prev;
                *prev = x;
                d
            },
            move |last| {
                f.fetch_add(1, Ordering::SeqCst);
                Some(last * 100)
            },
        )
        .run_with(TestSink::probe());
    sink.request(10);
    // As Pekko's "defer upstream failure and remember state": the flush precedes the error.
    sink.expect_next_n([1, 3, 400]).await;
    assert_boom(&sink.expect_error().await, "stateful_map");
    assert_eq!(flushes.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// recover / map_error

#[tokio::test(start_paused = true)]
async fn recover_emits_replacement_then_completes() {
    let sink = then_fail(vec![1, 2, 3], "recover")
        .recover(|e| e.downcast_ref::<Boom>().map(|_| -1))
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([1, 2, 3, -1]).await;
    sink.expect_complete().await;
}

#[tokio::test]
async fn recover_returning_none_fails_with_the_original_error() {
    let err = collect(then_fail(vec![1], "unrecovered").recover(|_| None))
        .await
        .unwrap_err();
    assert_boom(&err, "unrecovered");
}

#[tokio::test]
async fn recover_sees_the_upstream_error() {
    let out = collect(
        Source::<i32>::failed(StreamError::LimitExceeded { max: 4 }).recover(|e| match e {
            StreamError::LimitExceeded { max } => Some(*max as i32),
            _ => None,
        }),
    )
    .await;
    assert_eq!(out.unwrap(), vec![4]);
}

#[tokio::test]
async fn recover_is_not_called_without_failure() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let out = collect(Source::range(1, 3).recover(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Some(0)
    }))
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn recover_catches_a_panic_upstream() {
    let out = collect(
        Source::range(1, 3)
            .map(|x: i32| {
                assert_ne!(x, 3, "three");
                x
            })
            .recover(|e| matches!(e, StreamError::Panicked { .. }).then_some(0)),
    )
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 0]);
}

#[tokio::test]
async fn map_error_transforms_the_failure() {
    let err = collect(then_fail(vec![1, 2], "orig").map_error(
        |e| match e.downcast_ref::<Boom>() {
            Some(Boom("orig")) => boom("mapped"),
            _ => e,
        },
    ))
    .await
    .unwrap_err();
    assert_boom(&err, "mapped");
}

#[tokio::test]
async fn map_error_can_change_the_variant() {
    let err = collect(
        Source::<i32>::failed(boom("x")).map_error(|_| StreamError::BufferOverflow { size: 2 }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StreamError::BufferOverflow { size: 2 }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn map_error_passes_elements_through_before_failure() {
    let sink = then_fail(vec![1, 2], "me")
        .map_error(|_| StreamError::LimitExceeded { max: 9 })
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([1, 2]).await;
    let err = sink.expect_error().await;
    assert!(
        matches!(err, StreamError::LimitExceeded { max: 9 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn map_error_is_not_called_without_failure() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let out = collect(Source::range(1, 3).map_error(move |e| {
        c.fetch_add(1, Ordering::SeqCst);
        e
    }))
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// log

#[tokio::test]
async fn log_passes_elements_through() {
    let out = collect(Source::range(1, 5).log("numbers")).await;
    assert_eq!(out.unwrap(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn log_passes_failure_through() {
    let err = collect(then_fail(vec![1], "log").log("failing"))
        .await
        .unwrap_err();
    assert_boom(&err, "log");
}

#[tokio::test(start_paused = true)]
async fn log_emits_only_on_demand() {
    let sink = Source::range(1, 3)
        .log("demand")
        .run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(1).await;
    sink.expect_no_message(QUIET).await;
    sink.request(5);
    sink.expect_next_n([2, 3]).await;
    sink.expect_complete().await;
}

/// One event the `log` operator emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Logged {
    level: tracing::Level,
    message: String,
    stage: String,
    /// The `element` field (Debug), or the `error` field (Display).
    detail: Option<String>,
}

fn logged(level: tracing::Level, message: &str, stage: &str, detail: Option<&str>) -> Logged {
    Logged {
        level,
        message: message.to_owned(),
        stage: stage.to_owned(),
        detail: detail.map(str::to_owned),
    }
}

/// A `tracing` layer that keeps weir's events.
#[derive(Clone, Default)]
struct Collect(Arc<std::sync::Mutex<Vec<Logged>>>);

#[derive(Default)]
struct Fields(std::collections::HashMap<&'static str, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !event.metadata().target().starts_with("weir") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut f = fields.0;
        self.0.lock().unwrap().push(Logged {
            level: *event.metadata().level(),
            message: f.remove("message").unwrap_or_default(),
            stage: f.remove("stage").unwrap_or_default(),
            detail: f.remove("element").or_else(|| f.remove("error")),
        });
    }
}

/// Runs `source` into `Sink::seq` with a subscriber collecting weir's events on this thread
/// (the test runtime's only thread, where every island runs).
async fn run_logged<T: Send + 'static>(
    source: Source<T>,
) -> (Result<Vec<T>, StreamError>, Vec<Logged>) {
    use tracing_subscriber::layer::SubscriberExt;
    let collect = Collect::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(collect.clone()));
    let out = source.run_with(Sink::seq()).await;
    let events = collect.0.lock().unwrap().clone();
    (out, events)
}

fn levels(
    on_element: Option<tracing::Level>,
    on_finish: Option<tracing::Level>,
    on_failure: Option<tracing::Level>,
) -> Attributes {
    Attributes::log_levels(weir::LogLevels {
        on_element,
        on_finish,
        on_failure,
    })
}

#[tokio::test]
async fn log_default_levels_are_debug_for_elements_and_finish() {
    let (out, events) = run_logged(Source::range(1, 2).log("numbers")).await;
    assert_eq!(out.unwrap(), vec![1, 2]);
    assert_eq!(
        events,
        vec![
            logged(Level::DEBUG, "element", "numbers", Some("1")),
            logged(Level::DEBUG, "element", "numbers", Some("2")),
            logged(Level::DEBUG, "upstream finished", "numbers", None),
        ]
    );
}

#[tokio::test]
async fn log_default_level_for_failure_is_error() {
    let (out, events) = run_logged(then_fail(vec![1], "log").log("failing")).await;
    assert_boom(&out.unwrap_err(), "log");
    assert_eq!(
        events,
        vec![
            logged(Level::DEBUG, "element", "failing", Some("1")),
            logged(
                Level::ERROR,
                "upstream failed",
                "failing",
                Some("stream failed: boom: log")
            ),
        ]
    );
}

#[tokio::test]
async fn log_levels_attribute_sets_each_level() {
    let attrs = || levels(Some(Level::INFO), Some(Level::WARN), Some(Level::TRACE));
    let (out, events) = run_logged(Source::single("a").log("s").with_attributes(attrs())).await;
    assert_eq!(out.unwrap(), vec!["a"]);
    assert_eq!(
        events,
        vec![
            logged(Level::INFO, "element", "s", Some("\"a\"")),
            logged(Level::WARN, "upstream finished", "s", None),
        ]
    );

    let (out, events) = run_logged(
        then_fail(Vec::<i32>::new(), "f")
            .log("s")
            .with_attributes(attrs()),
    )
    .await;
    assert_boom(&out.unwrap_err(), "f");
    assert_eq!(
        events,
        vec![logged(
            Level::TRACE,
            "upstream failed",
            "s",
            Some("stream failed: boom: f")
        )]
    );
}

#[tokio::test]
async fn log_levels_none_turns_a_kind_of_event_off() {
    let (out, events) = run_logged(Source::range(1, 3).log("quiet").with_attributes(levels(
        None,
        Some(Level::INFO),
        None,
    )))
    .await;
    assert_eq!(out.unwrap(), vec![1, 2, 3]);
    assert_eq!(
        events,
        vec![logged(Level::INFO, "upstream finished", "quiet", None)]
    );

    let (out, events) = run_logged(
        then_fail(vec![1], "off")
            .log("quiet")
            .with_attributes(levels(None, None, None)),
    )
    .await;
    assert_boom(&out.unwrap_err(), "off");
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn log_reports_cancellation_at_the_finish_level() {
    let (out, events) = run_logged(
        Source::repeat(7)
            .log("endless")
            .with_attributes(levels(Some(Level::TRACE), Some(Level::INFO), None))
            .take(2),
    )
    .await;
    assert_eq!(out.unwrap(), vec![7, 7]);
    assert_eq!(
        events,
        vec![
            logged(Level::TRACE, "element", "endless", Some("7")),
            logged(Level::TRACE, "element", "endless", Some("7")),
            logged(Level::INFO, "downstream cancelled", "endless", None),
        ]
    );
}

#[tokio::test]
async fn log_levels_on_the_runnable_graph_reach_the_operator() {
    use tracing_subscriber::layer::SubscriberExt;
    let collect = Collect::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(collect.clone()));
    let out = Source::single(1)
        .log("inner")
        .to_mat(Sink::seq(), Keep::right)
        .with_attributes(levels(Some(Level::WARN), None, None))
        .run()
        .await;
    assert_eq!(out.unwrap(), vec![1]);
    assert_eq!(
        *collect.0.lock().unwrap(),
        vec![logged(Level::WARN, "element", "inner", Some("1"))]
    );
}

// ---------------------------------------------------------------------------------------------
// watch_termination

#[tokio::test]
async fn watch_termination_resolves_ok_on_completion() {
    let (done, out) = Source::range(1, 3)
        .watch_termination()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    assert!(done.await.is_ok());
}

#[tokio::test]
async fn watch_termination_resolves_err_on_failure() {
    let (done, out) = then_fail(vec![1, 2], "watch")
        .watch_termination()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_boom(&out.await.unwrap_err(), "watch");
    assert_boom(&done.await.unwrap_err(), "watch");
}

#[tokio::test(start_paused = true)]
async fn watch_termination_resolves_ok_on_downstream_cancel() {
    let ((src, mut done), sink) = TestSource::<i32>::probe()
        .via_mat(Flow::new().watch_termination(), Keep::both)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    let early = tokio::time::timeout(QUIET, &mut done).await;
    assert!(early.is_err(), "resolved before termination: {early:?}");
    sink.cancel();
    src.expect_cancellation().await;
    assert!(done.await.is_ok());
}

#[tokio::test]
async fn watch_termination_resolves_ok_when_take_cancels() {
    let (done, out) = Source::iterate(1, |x| x + 1)
        .watch_termination()
        .take(3)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    assert!(done.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn watch_termination_passes_elements_and_demand_through() {
    let (done, sink) = Source::range(1, 3)
        .watch_termination()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.expect_no_message(QUIET).await;
    sink.request(2);
    sink.expect_next_n([1, 2]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(2);
    sink.expect_next(3).await;
    sink.expect_complete().await;
    assert!(done.await.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Supervision of the operators' user code (Akka's resuming / restarting deciders)

fn resuming() -> Attributes {
    Attributes::supervision(Decider::resuming())
}

fn restarting() -> Attributes {
    Attributes::supervision(Decider::restarting())
}

/// Akka's supervision inputs: `-1` makes the user function fail.
fn one_three_minus_one_five_seven() -> Source<i32> {
    Source::from_iter(vec![1, 3, -1, 5, 7])
}

fn positive_sum(acc: i32, x: i32) -> i32 {
    assert!(x > 0, "negative input");
    acc + x
}

#[tokio::test]
async fn map_resume_and_restart_drop_the_failing_element() {
    for attrs in [resuming(), restarting()] {
        let flow = Flow::<i32>::new()
            .map(|x| {
                assert_ne!(x, 2, "two");
                x * 10
            })
            .with_attributes(attrs);
        let out = collect(Source::range(1, 4).via(flow)).await;
        assert_eq!(out.unwrap(), vec![10, 30, 40]);
    }
}

#[tokio::test]
async fn filter_resume_drops_the_failing_element() {
    let flow = Flow::<i32>::new()
        .filter(|x| {
            assert_ne!(*x, 4, "four");
            x % 2 == 0
        })
        .with_attributes(resuming());
    let out = collect(Source::range(1, 8).via(flow)).await;
    assert_eq!(out.unwrap(), vec![2, 6, 8]);
}

#[tokio::test]
async fn filter_map_restart_drops_the_failing_element() {
    let flow = Flow::<i32>::new()
        .filter_map(|x| {
            assert_ne!(x, 3, "three");
            (x != 2).then_some(x)
        })
        .with_attributes(restarting());
    let out = collect(Source::range(1, 5).via(flow)).await;
    assert_eq!(out.unwrap(), vec![1, 4, 5]);
}

#[tokio::test]
async fn map_concat_resume_drops_the_failing_element() {
    let flow = Flow::<i32>::new()
        .map_concat(|x| {
            assert_ne!(x, 2, "two");
            vec![x, x]
        })
        .with_attributes(resuming());
    let out = collect(Source::range(1, 3).via(flow)).await;
    assert_eq!(out.unwrap(), vec![1, 1, 3, 3]);
}

#[tokio::test]
async fn map_concat_resume_drops_the_rest_of_a_failing_expansion() {
    let flow = Flow::<i32>::new()
        .map_concat(|x| {
            (0..3).map(move |i| {
                assert!(!(x == 2 && i == 1), "bad item");
                x * 10 + i
            })
        })
        .with_attributes(resuming());
    let out = collect(Source::range(1, 3).via(flow)).await;
    assert_eq!(out.unwrap(), vec![10, 11, 12, 20, 30, 31, 32]);
}

#[tokio::test]
async fn stateful_map_concat_restart_creates_fresh_state() {
    let creates = Arc::new(AtomicUsize::new(0));
    let c = creates.clone();
    let flow = Flow::<i32>::new()
        .stateful_map_concat(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let mut total = 0;
            move |x: i32| {
                total = positive_sum(total, x);
                Some(total)
            }
        })
        .with_attributes(restarting());
    let out = collect(one_three_minus_one_five_seven().via(flow)).await;
    assert_eq!(out.unwrap(), vec![1, 4, 5, 12]);
    assert_eq!(creates.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn scan_restart_resets_to_zero_and_emits_it_again() {
    let flow = Flow::<i32>::new()
        .scan(0, positive_sum)
        .with_attributes(restarting());
    let out = collect(one_three_minus_one_five_seven().via(flow)).await;
    assert_eq!(out.unwrap(), vec![0, 1, 4, 0, 5, 12]);
}

#[tokio::test]
async fn scan_resume_keeps_the_previous_state() {
    let flow = Flow::<i32>::new()
        .scan(0, positive_sum)
        .with_attributes(resuming());
    let out = collect(one_three_minus_one_five_seven().via(flow)).await;
    assert_eq!(out.unwrap(), vec![0, 1, 4, 9, 16]);
}

#[tokio::test]
async fn scan_panic_without_decider_fails_after_emitted_states() {
    let err = collect(one_three_minus_one_five_seven().scan(0, positive_sum))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { stage, message }
            if stage == "scan" && message == "negative input"),
        "{err:?}"
    );
}

#[tokio::test]
async fn fold_resume_keeps_the_previous_state() {
    let flow = Flow::<i32>::new()
        .fold(0, positive_sum)
        .with_attributes(resuming());
    let out = collect(one_three_minus_one_five_seven().via(flow)).await;
    assert_eq!(out.unwrap(), vec![16]);
}

#[tokio::test]
async fn fold_restart_resets_to_zero() {
    let flow = Flow::<i32>::new()
        .fold(0, positive_sum)
        .with_attributes(restarting());
    let out = collect(one_three_minus_one_five_seven().via(flow)).await;
    assert_eq!(out.unwrap(), vec![12]);
}

#[tokio::test]
async fn reduce_resume_keeps_the_accumulated_state() {
    let flow = Flow::<i32>::new()
        .reduce(|a, b| {
            assert_ne!(b, 50, "fifty");
            a + b
        })
        .with_attributes(resuming());
    let out = collect(Source::range(1, 100).via(flow)).await;
    assert_eq!(out.unwrap(), vec![5050 - 50]);
}

#[tokio::test]
async fn reduce_restart_starts_a_new_reduction_with_the_next_element() {
    let flow = Flow::<i32>::new()
        .reduce(|a, b| {
            assert_ne!(b, 50, "fifty");
            a + b
        })
        .with_attributes(restarting());
    let out = collect(Source::range(1, 100).via(flow)).await;
    assert_eq!(out.unwrap(), vec![(51..=100).sum::<i32>()]);
}

/// Akka's `FlowStatefulMapSpec` "be able to resume": the failing element is dropped, the state kept.
#[tokio::test]
async fn stateful_map_resume_keeps_the_state() {
    let flow = Flow::<i32>::new()
        .stateful_map(
            || 0,
            |agg: &mut i32, x| {
                assert!(x % 2 != 0, "even");
                let out = (*agg, x);
                *agg += x;
                out
            },
            |_| None,
        )
        .with_attributes(resuming());
    let out = collect(Source::range(1, 5).via(flow)).await;
    assert_eq!(out.unwrap(), vec![(0, 1), (1, 3), (4, 5)]);
}

/// Akka's `FlowStatefulMapSpec` "be able to restart": the failing element is dropped and the
/// state created anew.
#[tokio::test]
async fn stateful_map_restart_creates_fresh_state() {
    let creates = Arc::new(AtomicUsize::new(0));
    let c = creates.clone();
    let flow = Flow::<i32>::new()
        .stateful_map(
            move || {
                c.fetch_add(1, Ordering::SeqCst);
                0
            },
            |agg: &mut i32, x| {
                assert!(x % 3 != 0, "multiple of three");
                let out = (*agg, x);
                *agg += x;
                out
            },
            |_| None,
        )
        .with_attributes(restarting());
    let out = collect(Source::range(1, 5).via(flow)).await;
    assert_eq!(out.unwrap(), vec![(0, 1), (1, 2), (0, 4), (4, 5)]);
    assert_eq!(creates.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn take_while_resume_drops_the_failing_element() {
    let flow = Flow::<i32>::new()
        .take_while(|x| {
            assert_ne!(*x, 2, "two");
            *x < 4
        })
        .with_attributes(resuming());
    let out = collect(Source::range(1, 10).via(flow)).await;
    assert_eq!(out.unwrap(), vec![1, 3]);
}

#[tokio::test]
async fn drop_while_resume_drops_the_failing_element_and_keeps_dropping() {
    let flow = Flow::<i32>::new()
        .drop_while(|x| {
            assert_ne!(*x, 2, "two");
            *x < 3
        })
        .with_attributes(resuming());
    let out = collect(Source::from_iter(vec![1, 2, 1, 3, 4, 1]).via(flow)).await;
    assert_eq!(out.unwrap(), vec![3, 4, 1]);
}

// ---------------------------------------------------------------------------------------------
// More demand and cancellation checks

/// Akka's `FlowScanSpec` "emit values promptly": the seed and the first state go out without
/// waiting for upstream to complete.
#[tokio::test(start_paused = true)]
async fn scan_emits_values_promptly() {
    let out = Source::single(1)
        .concat(Source::<i32>::never())
        .scan(0, |a, x| a + x)
        .take(2)
        .run_with(Sink::seq());
    let out = tokio::time::timeout(Duration::from_secs(1), out)
        .await
        .expect("scan did not emit promptly");
    assert_eq!(out.unwrap(), vec![0, 1]);
}

/// Akka's `FlowIntersperseSpec` "complete the stage when the Sink has been cancelled".
#[tokio::test(start_paused = true)]
async fn intersperse_cancels_upstream_when_downstream_cancels() {
    let (src, sink) = TestSource::<&str>::probe()
        .intersperse(",")
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next("a").await;
    src.send_next("b").await;
    sink.expect_next_n(["a", ",", "b"]).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test]
async fn take_pulls_no_more_than_n_through_a_fused_chain() {
    let produced = Arc::new(AtomicUsize::new(0));
    let p = produced.clone();
    let out = Source::iterate(0, |x| x + 1)
        .map(move |x| {
            p.fetch_add(1, Ordering::SeqCst);
            x
        })
        .take(3)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 2]);
    assert_eq!(produced.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn map_cancels_upstream_when_downstream_cancels() {
    let (src, sink) = TestSource::<i32>::probe()
        .map(|x| x + 1)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(2).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test]
async fn log_keeps_its_own_name_inside_a_named_composite() {
    let (out, events) = run_logged(Source::range(1, 1).log("numbers").named("outer")).await;
    assert_eq!(out.unwrap(), vec![1]);
    assert_eq!(
        events,
        vec![
            logged(Level::DEBUG, "element", "numbers", Some("1")),
            logged(Level::DEBUG, "upstream finished", "numbers", None),
        ]
    );
}

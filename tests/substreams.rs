//! Behaviour of the substream operators: `group_by`, `split_when`, `split_after` with
//! `merge_substreams` / `concat_substreams`, and `prefix_and_tail`, `flat_map_prefix`,
//! `switch_map`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use support::{is_boom, paused_runtime, settle, Boom};
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::{Attributes, Decider};

/// Appends `x` to a vector: folds a substream into the list of its elements.
fn push<T>(mut v: Vec<T>, x: T) -> Vec<T> {
    v.push(x);
    v
}

/// Every element of `input` whose key is `key`, in order.
fn of_key<T: Clone, K: PartialEq>(input: &[T], key: &K, f: impl Fn(&T) -> K) -> Vec<T> {
    input.iter().filter(|x| f(x) == *key).cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// group_by
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn group_by_routes_each_element_to_its_key_in_order() {
    let input: Vec<u32> = vec![1, 4, 2, 7, 5, 8, 3, 6, 9];
    let mut groups = Source::from_iter(input.clone())
        .group_by(3, |x| x % 3)
        .fold(Vec::new(), push)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    groups.sort();
    assert_eq!(groups, vec![vec![1, 4, 7], vec![2, 5, 8], vec![3, 6, 9]]);
}

#[tokio::test(start_paused = true)]
async fn substream_operators_apply_to_every_substream() {
    let add_ten = Flow::<u32>::new().map(|x| x + 10);
    let mut out = Source::range(1u32, 20)
        .group_by(2, |x| x % 2 == 0)
        .filter(|x| x % 5 != 0)
        .via(add_ten)
        .take(3)
        .map(|x| x * 2)
        .fold(0, |a, x| a + x)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    // Odd: 1, 3, 7 → 11, 13, 17 → doubled 82. Even: 2, 4, 6 → 12, 14, 16 → doubled 84.
    assert_eq!(out, vec![82, 84]);
}

#[tokio::test(start_paused = true)]
async fn group_by_on_a_flow_gives_a_flow_back() {
    let per_key_count = Flow::<char>::new()
        .group_by(5, |c| *c)
        .fold((' ', 0), |(_, n), c| (c, n + 1))
        .merge_substreams();
    let mut out = Source::from_iter("abracadabra".chars())
        .via(per_key_count)
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(out, vec![('a', 5), ('b', 2), ('c', 1), ('d', 1), ('r', 2)]);
}

#[tokio::test(start_paused = true)]
async fn concat_substreams_emits_whole_substreams_in_order_of_opening() {
    let out = Source::from_iter(vec![1, 2, 3, 4, 5, 6])
        .group_by(2, |x| x % 2)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    // The odd substream opened first; it completes only when upstream does.
    assert_eq!(out, vec![1, 3, 5, 2, 4, 6]);
}

#[tokio::test(start_paused = true)]
async fn too_many_substreams_fails_with_a_typed_error() {
    let err = Source::from_iter(vec![1, 2, 3, 1])
        .group_by(2, |x| *x)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::TooManySubstreams { max: 2 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot open a substream: 2 substreams are already open"
    );
}

#[tokio::test(start_paused = true)]
async fn a_resuming_decider_drops_the_element_of_one_key_too_many() {
    let mut out = Source::from_iter(vec![1, 2, 3, 1, 2])
        .group_by(2, |x| *x)
        .merge_substreams()
        .with_attributes(Attributes::supervision(Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(out, vec![1, 1, 2, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_completed_substream_frees_its_slot() {
    // A thousand keys through two slots: each substream ends after its one element.
    let mut out = Source::range(0u32, 999)
        .group_by(2, |x| *x)
        .take(1)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(out, (0..=999).collect::<Vec<_>>());

    // The same keys with substreams that stay open do not fit.
    let err = Source::range(0u32, 999)
        .group_by(2, |x| *x)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::TooManySubstreams { max: 2 }));
}

#[tokio::test(start_paused = true)]
async fn elements_of_an_ended_substream_are_dropped_by_default() {
    let out = Source::from_iter(vec![1, 1, 2, 1, 2, 3])
        .group_by(3, |x| *x)
        .take(1)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn with_recreation_an_ended_key_opens_a_new_substream() {
    let out = Source::from_iter(vec![1, 1, 2, 1, 2, 3])
        .group_by_with_recreation(1, |x| *x)
        .take(1)
        .map(|x| x * 10)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    // One slot: every element is a substream of its own; each key's order is kept.
    let mut sorted = out.clone();
    sorted.sort();
    assert_eq!(sorted, vec![10, 10, 10, 20, 20, 30]);
    assert_eq!(out.len(), 6);
}

#[tokio::test(start_paused = true)]
async fn group_by_reads_upstream_only_a_bounded_amount_ahead() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let sink = Source::from_iter(0u64..)
        .map(move |x| {
            counter.fetch_add(1, Ordering::SeqCst);
            x
        })
        .group_by(4, |x| x % 2)
        .merge_substreams()
        .run_with(TestSink::probe());
    sink.request(1);
    let first = sink.expect_next_element().await;
    assert!(first < 2);
    settle().await;
    let after_one = produced.load(Ordering::SeqCst);
    // At most one batch waiting and one full buffer per substream (16 each by default).
    assert!(after_one <= 16 * 3 + 1, "read {after_one} elements ahead");
    settle().await;
    assert_eq!(produced.load(Ordering::SeqCst), after_one, "kept reading");
    sink.request(100);
    for _ in 0..100 {
        sink.expect_next_element().await;
    }
    settle().await;
    let after_more = produced.load(Ordering::SeqCst);
    assert!(
        after_more <= 101 + 16 * 3,
        "read {after_more} elements ahead"
    );
    sink.cancel();
}

#[tokio::test(start_paused = true)]
async fn upstream_failure_reaches_every_substream_and_the_output() {
    let failures_seen = Arc::new(AtomicUsize::new(0));
    let seen = failures_seen.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .group_by(4, |x| x % 3)
        .map_error(move |e| {
            seen.fetch_add(1, Ordering::SeqCst);
            e
        })
        .merge_substreams()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next(1).await;
    sink.expect_next(2).await;
    src.send_error(StreamError::failed(Boom));
    let e = sink.expect_error().await;
    assert!(is_boom(&e), "{e:?}");
    assert_eq!(failures_seen.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn upstream_failure_needs_no_demand() {
    let failures_seen = Arc::new(AtomicUsize::new(0));
    let seen = failures_seen.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .group_by(4, |x| x % 3)
        .map_error(move |e| {
            seen.fetch_add(1, Ordering::SeqCst);
            e
        })
        .merge_substreams()
        .buffer(1, weir::OverflowStrategy::BackPressure)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    // 2 fills the buffer: nothing downstream of group_by asks for more.
    src.send_next(2).await;
    settle().await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    assert_eq!(failures_seen.load(Ordering::SeqCst), 2);
    // The failure overtook the buffered 2.
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn a_substream_failure_fails_the_stream_and_cancels_upstream() {
    let (src, sink) = TestSource::<u32>::probe()
        .group_by(4, |x| x % 2)
        .map(|x| {
            assert_ne!(x, 3, "three");
            x
        })
        .merge_substreams()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_next(3).await;
    match sink.expect_error().await {
        StreamError::Panicked { message, .. } => assert!(message.contains("three"), "{message}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn downstream_cancel_cancels_upstream_and_the_substreams() {
    let (src, sink) = TestSource::<u32>::probe()
        .group_by(4, |x| x % 2)
        .merge_substreams()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(7).await;
    sink.expect_next(7).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn upstream_completion_completes_the_substreams_and_the_output() {
    let (src, sink) = TestSource::<u32>::probe()
        .group_by(4, |x| x % 2)
        .fold(0, |a, x| a + x)
        .merge_substreams()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    for x in [1, 2, 3, 4] {
        src.send_next(x).await;
    }
    settle().await;
    sink.expect_no_message(support::ms(100)).await;
    src.send_complete();
    let mut sums = vec![
        sink.expect_next_element().await,
        sink.expect_next_element().await,
    ];
    sums.sort();
    assert_eq!(sums, vec![4, 6]);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_key_function_is_supervised() {
    let out = Source::from_iter(vec![1, 2, 0, 4])
        .group_by(4, |x| 12 / *x)
        .merge_substreams()
        .with_attributes(Attributes::supervision(Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    let mut out = out;
    out.sort();
    assert_eq!(out, vec![1, 2, 4]);

    let err = Source::from_iter(vec![1, 0])
        .group_by(4, |x| 12 / *x)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn substreams_with_an_async_boundary_inside_still_flow() {
    let across = Flow::<u64>::new().map(|x| x * 2).async_boundary();
    let mut out = Source::range(1u64, 200)
        .group_by(3, |x| x % 3)
        .via(across)
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(out, (1..=200).map(|x| x * 2).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn nested_substreams_merge_back() {
    // Split by parity, then each parity into runs ending at a multiple of 3.
    let mut out = Source::range(1u32, 12)
        .group_by(2, |x| x % 2)
        .split_after(|x| x % 3 == 0)
        .fold(Vec::new(), push)
        .concat_substreams()
        .merge_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(
        out,
        vec![
            vec![1, 3],
            vec![2, 4, 6],
            vec![5, 7, 9],
            vec![8, 10, 12],
            vec![11]
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// split_when / split_after
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn split_when_starts_a_substream_at_each_match() {
    let out = Source::from_iter(vec![0, 1, 2, 0, 3, 0, 0])
        .split_when(|x| *x == 0)
        .fold(Vec::new(), push)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    // The first element starts the first substream even though it matches.
    assert_eq!(out, vec![vec![0, 1, 2], vec![0, 3], vec![0], vec![0]]);
}

#[tokio::test(start_paused = true)]
async fn split_after_ends_a_substream_at_each_match() {
    let out = Source::from_iter(vec![0, 1, 2, 0, 3, 0])
        .split_after(|x| *x == 0)
        .fold(Vec::new(), push)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    // No empty substream after the last match.
    assert_eq!(out, vec![vec![0], vec![1, 2, 0], vec![3, 0]]);
}

#[tokio::test(start_paused = true)]
async fn a_split_substream_that_ends_early_drains_until_the_next_split() {
    let when = Source::from_iter(vec![1, 2, 0, 3, 4, 0, 5])
        .split_when(|x| *x == 0)
        .take(1)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(when, vec![1, 0, 0]);
    let after = Source::from_iter(vec![1, 2, 0, 3, 0, 4])
        .split_after(|x| *x == 0)
        .take(1)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(after, vec![1, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn split_merged_with_parallelism_keeps_substreams_apart() {
    let out = Source::from_iter(vec![1, 2, 10, 11, 20, 21, 22])
        .split_when(|x| x % 10 == 0)
        .fold(0, |a, x| a + x)
        .merge_substreams_with_parallelism(2)
        .run_with(Sink::seq())
        .await
        .unwrap();
    let mut out = out;
    out.sort();
    assert_eq!(out, vec![3, 21, 63]);
}

#[tokio::test(start_paused = true)]
async fn split_when_passes_upstream_failure_on() {
    let (src, sink) = TestSource::<u32>::probe()
        .split_when(|x| *x == 0)
        .concat_substreams()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn split_of_an_empty_stream_emits_nothing() {
    let out = Source::<u32>::empty()
        .split_when(|x| *x == 0)
        .fold(0, |a, x| a + x)
        .concat_substreams()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------------
// prefix_and_tail
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn prefix_and_tail_splits_off_the_first_elements() {
    let (prefix, tail) = Source::range(1, 6)
        .prefix_and_tail(2)
        .run_with(Sink::head())
        .await
        .unwrap();
    assert_eq!(prefix, vec![1, 2]);
    // The tail runs as a stream of its own.
    assert_eq!(tail.run_with(Sink::seq()).await.unwrap(), vec![3, 4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn prefix_and_tail_of_a_short_stream_has_an_empty_tail() {
    let pairs = Source::range(1, 2)
        .prefix_and_tail(5)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(pairs.len(), 1);
    let (prefix, tail) = pairs.into_iter().next().unwrap();
    assert_eq!(prefix, vec![1, 2]);
    assert!(tail.run_with(Sink::seq()).await.unwrap().is_empty());

    let (prefix, tail) = Source::range(1, 3)
        .prefix_and_tail(0)
        .run_with(Sink::head())
        .await
        .unwrap();
    assert!(prefix.is_empty());
    assert_eq!(tail.run_with(Sink::seq()).await.unwrap(), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_tail_runs_once() {
    let (_, tail) = Source::range(1, 3)
        .prefix_and_tail(1)
        .run_with(Sink::head())
        .await
        .unwrap();
    assert_eq!(tail.run_with(Sink::seq()).await.unwrap(), vec![2, 3]);
    let err = tail.run_with(Sink::seq()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::AlreadyMaterialized {
                stage: "prefix_and_tail"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn prefix_and_tail_asks_only_for_the_prefix_and_a_dropped_tail_cancels() {
    let (src, head) = TestSource::<u32>::probe()
        .prefix_and_tail(2)
        .to_mat(Sink::head(), Keep::both)
        .run();
    assert!(src.expect_request().await <= 2);
    src.send_next(1).await;
    src.send_next(2).await;
    let (prefix, tail) = head.await.unwrap();
    assert_eq!(prefix, vec![1, 2]);
    settle().await;
    assert!(!src.is_cancelled());
    drop(tail);
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn prefix_and_tail_failure_goes_to_the_stream_then_to_the_tail() {
    let err = Source::<u32>::failed(StreamError::failed(Boom))
        .prefix_and_tail(1)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&err));

    let (_, tail) = Source::single(1)
        .concat(Source::failed(StreamError::failed(Boom)))
        .prefix_and_tail(1)
        .run_with(Sink::head())
        .await
        .unwrap();
    assert!(is_boom(&tail.run_with(Sink::seq()).await.unwrap_err()));
}

// ---------------------------------------------------------------------------------------------
// flat_map_prefix
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn flat_map_prefix_runs_the_rest_through_the_chosen_flow() {
    let out = Source::from_iter(vec!["upper", "a", "b"])
        .flat_map_prefix(1, |prefix| {
            let upper = prefix == ["upper"];
            Flow::new().map(move |s: &str| {
                if upper {
                    s.to_uppercase()
                } else {
                    s.to_owned()
                }
            })
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec!["A", "B"]);
}

#[tokio::test(start_paused = true)]
async fn flat_map_prefix_of_a_short_stream_still_builds_the_flow() {
    let out = Source::range(1, 2)
        .flat_map_prefix(5, |prefix| {
            let n = prefix.len();
            Flow::<i32>::new()
                .fold(0, |a, _| a + 1)
                .map(move |rest| (n, rest))
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(2, 0)]);
}

#[tokio::test(start_paused = true)]
async fn flat_map_prefix_fails_before_the_prefix_without_building_the_flow() {
    let built = Arc::new(AtomicUsize::new(0));
    let count = built.clone();
    let err = Source::single(1)
        .concat(Source::failed(StreamError::failed(Boom)))
        .flat_map_prefix(2, move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            Flow::new()
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&err));
    assert_eq!(built.load(Ordering::SeqCst), 0);

    let err = Source::range(1, 3)
        .flat_map_prefix(1, |_| -> Flow<i32, i32> { panic!("no flow") })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn flat_map_prefix_passes_downstream_cancellation_upstream() {
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_prefix(1, |_| Flow::new())
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next(2).await;
    sink.cancel();
    src.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// switch_map
// ---------------------------------------------------------------------------------------------

/// An endless iterator of `x` that counts the live copies of itself (a source that is
/// cancelled drops its copy).
struct Counted {
    x: u32,
    alive: Arc<AtomicUsize>,
}

impl Counted {
    fn new(x: u32, alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        Counted {
            x,
            alive: alive.clone(),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.x, &self.alive)
    }
}

impl Iterator for Counted {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        Some(self.x)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn switch_map_cancels_the_running_source_on_each_element() {
    let alive = Arc::new(AtomicUsize::new(0));
    let a = alive.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .switch_map(move |x| Source::from_iter(Counted::new(x, &a)))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    src.send_next(1).await;
    sink.expect_next_n([1, 1]).await;
    assert_eq!(alive.load(Ordering::SeqCst), 1);
    src.send_next(2).await;
    sink.request(2);
    sink.expect_next_n([2, 2]).await;
    assert_eq!(
        alive.load(Ordering::SeqCst),
        1,
        "the first source was not cancelled"
    );
    sink.cancel();
    src.expect_cancellation().await;
    assert_eq!(alive.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn switch_map_completes_after_upstream_and_the_last_source() {
    let (src, sink) = TestSource::<u32>::probe()
        .switch_map(|x| Source::repeat(x).take(3))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(5).await;
    sink.expect_next(5).await;
    src.send_complete();
    sink.request(5);
    sink.expect_next_n([5, 5]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn switch_map_runs_only_the_latest_of_the_ready_elements() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let out = Source::from_iter(vec![1, 2, 3])
        .switch_map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            Source::repeat(x).take(2)
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![3, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn switch_map_fails_on_an_upstream_or_inner_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .switch_map(|x| Source::repeat(x).take(1))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.request(1);
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));

    let err = Source::single(1)
        .switch_map(|_| Source::<u32>::failed(StreamError::failed(Boom)))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&err));
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every element arrives exactly once, in its key's order; or, with more keys than
    /// `max_substreams`, the stream fails with `TooManySubstreams`.
    #[test]
    fn group_by_merge_delivers_each_element_once_in_key_order(
        input in vec((0u8..6, any::<u16>()), 0..200),
        max in 1usize..8,
        buffer in 1usize..5,
    ) {
        let rt = paused_runtime();
        let result = rt.block_on(async {
            Source::from_iter(input.clone())
                .group_by(max, |(k, _)| *k)
                .merge_substreams()
                .with_attributes(Attributes::input_buffer(buffer))
                .run_with(Sink::seq())
                .await
        });
        let mut keys: Vec<u8> = input.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.len() > max {
            prop_assert!(matches!(result, Err(StreamError::TooManySubstreams { .. })), "{:?}", result);
        } else {
            let out = result.unwrap();
            prop_assert_eq!(out.len(), input.len());
            for k in keys {
                prop_assert_eq!(of_key(&out, &k, |x| x.0), of_key(&input, &k, |x| x.0));
            }
        }
    }

    /// With recreation and substreams of one element each, every element is delivered exactly
    /// once, however few slots there are.
    #[test]
    fn group_by_with_recreation_loses_nothing(
        input in vec(0u8..5, 0..100),
        max in 1usize..4,
    ) {
        let rt = paused_runtime();
        let mut out = rt.block_on(async {
            Source::from_iter(input.clone())
                .group_by_with_recreation(max, |k| *k)
                .take(1)
                .merge_substreams()
                .run_with(Sink::seq())
                .await
        }).unwrap();
        let mut expected = input;
        out.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(out, expected);
    }

    /// `split_when` partitions: the substreams concatenate to the input, and a matching
    /// element is found only at the start of a substream.
    #[test]
    fn split_when_partitions_the_stream(input in vec(0u8..4, 0..100), buffer in 1usize..5) {
        let rt = paused_runtime();
        let parts = rt.block_on(async {
            Source::from_iter(input.clone())
                .split_when(|x| *x == 0)
                .fold(Vec::new(), push)
                .concat_substreams()
                .with_attributes(Attributes::input_buffer(buffer))
                .run_with(Sink::seq())
                .await
        }).unwrap();
        prop_assert_eq!(parts.concat(), input.clone());
        for (i, part) in parts.iter().enumerate() {
            prop_assert!(!part.is_empty());
            prop_assert!(part[1..].iter().all(|x| *x != 0), "{:?}", parts);
            if i > 0 {
                prop_assert_eq!(part[0], 0);
            }
        }
    }

    /// `split_after` partitions: the substreams concatenate to the input, and a matching
    /// element is found only at the end of a substream.
    #[test]
    fn split_after_partitions_the_stream(input in vec(0u8..4, 0..100), buffer in 1usize..5) {
        let rt = paused_runtime();
        let parts = rt.block_on(async {
            Source::from_iter(input.clone())
                .split_after(|x| *x == 0)
                .fold(Vec::new(), push)
                .concat_substreams()
                .with_attributes(Attributes::input_buffer(buffer))
                .run_with(Sink::seq())
                .await
        }).unwrap();
        prop_assert_eq!(parts.concat(), input.clone());
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            prop_assert!(!part.is_empty());
            let n = part.len();
            prop_assert!(part[..n - 1].iter().all(|x| *x != 0), "{:?}", parts);
            if i < last {
                prop_assert_eq!(part[n - 1], 0);
            }
        }
    }
}

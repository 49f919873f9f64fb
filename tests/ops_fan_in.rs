//! Behaviour of the operators that combine streams: `concat`, `prepend`, `or_else`, `merge`,
//! `zip`, `zip_with`, `flat_map_concat`, `flat_map_merge`, `also_to` and `wire_tap`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use support::{is_boom, ms, settle, Boom};
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout};
use weir::prelude::*;
use weir::stage::{BoxPull, Pull, Step};
use weir::testkit::{Event, SinkProbe, SourceProbe, TestSink, TestSource};
use weir::Attributes;

type Slot<T> = Arc<Mutex<Option<T>>>;

/// A source probe usable where an operator discards the materialized value of its argument
/// (`concat`, `merge`, ...): the probe is put into the returned slot at materialization.
fn source_probe<T: Send + 'static>() -> (Source<T>, Slot<SourceProbe<T>>) {
    let slot: Slot<SourceProbe<T>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let source = Source::from_fn(move |m, a| {
        let (pull, probe) = TestSource::<T>::probe().materialize_into(m, a);
        *s.lock().unwrap() = Some(probe);
        (pull, ())
    });
    (source, slot)
}

/// A sink probe usable where an operator discards the sink's materialized value (`also_to`).
fn sink_probe<T: Send + 'static>() -> (Sink<T>, Slot<SinkProbe<T>>) {
    let slot: Slot<SinkProbe<T>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let sink = Sink::from_fn(move |m, up, a| {
        let probe = TestSink::<T>::probe().materialize_into(m, up, a);
        *s.lock().unwrap() = Some(probe);
    });
    (sink, slot)
}

fn take<T>(slot: &Slot<T>) -> T {
    slot.lock()
        .unwrap()
        .take()
        .expect("probe was not materialized")
}

/// Asserts that no demand reaches `probe` for a while.
async fn expect_no_request<T: Send + 'static>(probe: &SourceProbe<T>) {
    assert!(
        timeout(ms(100), probe.expect_request()).await.is_err(),
        "unexpected demand upstream"
    );
    assert_eq!(probe.pending_demand(), 0);
}

/// Counts open instances of a source: materialized and not yet dropped.
#[derive(Clone, Default)]
struct Gauge {
    current: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

struct Tracked<T> {
    inner: BoxPull<T>,
    gauge: Gauge,
}

impl<T: Send + 'static> Pull<T> for Tracked<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        self.inner.pull(cx, out, max)
    }
}

impl<T> Drop for Tracked<T> {
    fn drop(&mut self) {
        self.gauge.current.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `source`, counted in `gauge` while it is materialized and not dropped.
fn tracked<T: Send + 'static>(source: Source<T>, gauge: Gauge) -> Source<T> {
    Source::from_fn(move |m, a| {
        let (inner, ()) = source.materialize_into(m, a);
        gauge.enter();
        (
            Box::new(Tracked {
                inner,
                gauge: gauge.clone(),
            }) as BoxPull<T>,
            (),
        )
    })
}

/// Emits `items`, each after `delay`.
fn timed(items: Vec<u32>, delay: Duration) -> Source<u32> {
    Source::from_stream_fn(move || {
        futures::stream::iter(items.clone()).then(move |x| async move {
            sleep(delay).await;
            x
        })
    })
}

// ---------------------------------------------------------------------------------------------
// concat / prepend
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn concat_emits_all_of_first_then_all_of_second() {
    let out = Source::range(1, 3)
        .concat(Source::range(10, 12))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 10, 11, 12]);
}

#[tokio::test]
async fn concat_with_empty_sides() {
    let out = Source::<i32>::empty()
        .concat(Source::range(1, 2))
        .concat(Source::empty())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn concat_preserves_order_even_when_second_is_faster() {
    let out = timed(vec![1, 2, 3], ms(30))
        .concat(timed(vec![10, 11], ms(1)))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 10, 11]);
}

#[tokio::test(start_paused = true)]
async fn concat_does_not_pull_second_before_first_completes() {
    let (second, slot) = source_probe::<u32>();
    let (first, sink) = TestSource::<u32>::probe()
        .concat(second)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let second = take(&slot);
    sink.request(5);
    assert_eq!(first.expect_request().await, 5);
    first.send_next(1).await;
    first.send_next(2).await;
    sink.expect_next_n([1, 2]).await;
    expect_no_request(&second).await;

    first.send_complete();
    assert_eq!(second.expect_request().await, 3);
    second.send_next(10).await;
    sink.expect_next(10).await;
    second.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn concat_failure_of_first_fails_and_cancels_second() {
    let (second, slot) = source_probe::<u32>();
    let (first, sink) = TestSource::<u32>::probe()
        .concat(second)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let second = take(&slot);
    sink.request(5);
    first.send_next(1).await;
    sink.expect_next(1).await;
    first.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    second.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn concat_failure_of_second_fails_the_stream() {
    let out = Source::range(1, 2)
        .concat(Source::failed(StreamError::failed(Boom)))
        .run_with(Sink::seq())
        .await;
    assert!(is_boom(&out.unwrap_err()));
}

#[tokio::test(start_paused = true)]
async fn concat_downstream_cancel_cancels_both_inputs() {
    let (second, slot) = source_probe::<u32>();
    let (first, sink) = TestSource::<u32>::probe()
        .concat(second)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let second = take(&slot);
    sink.request(1);
    first.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    first.expect_cancellation().await;
    second.expect_cancellation().await;
}

#[tokio::test]
async fn prepend_emits_other_first() {
    let out = Source::range(1, 2)
        .prepend(Source::range(8, 9))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![8, 9, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn prepend_does_not_pull_self_before_other_completes() {
    let (other, slot) = source_probe::<u32>();
    let (main, sink) = TestSource::<u32>::probe()
        .prepend(other)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let other = take(&slot);
    sink.request(4);
    assert_eq!(other.expect_request().await, 4);
    other.send_next(8).await;
    sink.expect_next(8).await;
    expect_no_request(&main).await;
    other.send_complete();
    assert_eq!(main.expect_request().await, 3);
    main.send_next(1).await;
    main.send_complete();
    sink.expect_next(1).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn prepend_failure_of_self_comes_after_every_element() {
    let (other, slot) = source_probe::<u32>();
    let (main, sink) = TestSource::<u32>::probe()
        .prepend(other)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let other = take(&slot);
    sink.request(10);
    other.send_next(8).await;
    other.send_complete();
    main.send_next(1).await;
    main.send_error(StreamError::failed(Boom));
    sink.expect_next_n([8, 1]).await;
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn prepend_failure_of_other_fails_and_cancels_self_unpulled() {
    let (other, slot) = source_probe::<u32>();
    let (main, sink) = TestSource::<u32>::probe()
        .prepend(other)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let other = take(&slot);
    sink.request(10);
    other.send_next(8).await;
    other.send_error(StreamError::failed(Boom));
    sink.expect_next(8).await;
    assert!(is_boom(&sink.expect_error().await));
    main.expect_cancellation().await;
    assert_eq!(main.pending_demand(), 0, "self is never pulled");
}

// ---------------------------------------------------------------------------------------------
// or_else
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn or_else_uses_secondary_when_primary_is_empty() {
    let out = Source::<i32>::empty()
        .or_else(Source::range(1, 3))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
}

#[tokio::test]
async fn or_else_ignores_secondary_when_primary_emits() {
    let out = Source::range(1, 2)
        .or_else(Source::range(9, 9))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn or_else_switches_to_secondary_only_after_primary_completes_empty() {
    let (secondary, slot) = source_probe::<u32>();
    let (primary, sink) = TestSource::<u32>::probe()
        .or_else(secondary)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let secondary = take(&slot);
    sink.request(5);
    assert_eq!(primary.expect_request().await, 5);
    expect_no_request(&secondary).await;
    primary.send_complete();
    assert_eq!(secondary.expect_request().await, 5);
    secondary.send_next(7).await;
    sink.expect_next(7).await;
    secondary.send_complete();
    sink.expect_complete().await;
}

/// Pekko's `OrElse` cancels the secondary as soon as the primary pushes its first element.
#[tokio::test(start_paused = true)]
async fn or_else_cancels_secondary_as_soon_as_primary_emits() {
    let (secondary, slot) = source_probe::<u32>();
    let (primary, sink) = TestSource::<u32>::probe()
        .or_else(secondary)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let secondary = take(&slot);
    sink.request(5);
    primary.send_next(1).await;
    sink.expect_next(1).await;
    // The primary is still running, but the secondary can no longer be used.
    secondary.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn or_else_cancels_secondary_when_non_empty_primary_completes() {
    let (secondary, slot) = source_probe::<u32>();
    let (primary, sink) = TestSource::<u32>::probe()
        .or_else(secondary)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let secondary = take(&slot);
    sink.request(5);
    primary.send_next(1).await;
    primary.send_complete();
    sink.expect_next(1).await;
    sink.expect_complete().await;
    secondary.expect_cancellation().await;
    assert_eq!(secondary.pending_demand(), 0);
}

#[tokio::test(start_paused = true)]
async fn or_else_primary_failure_fails_and_cancels_secondary() {
    let (secondary, slot) = source_probe::<u32>();
    let (primary, sink) = TestSource::<u32>::probe()
        .or_else(secondary)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let secondary = take(&slot);
    sink.request(5);
    primary.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    secondary.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// merge
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merge_emits_all_elements_of_both_keeping_each_side_in_order() {
    let out = Source::range(1, 50)
        .merge(Source::range(101, 150))
        .run_with(Sink::seq())
        .await
        .unwrap();
    let left: Vec<_> = out.iter().copied().filter(|x| *x <= 50).collect();
    let right: Vec<_> = out.iter().copied().filter(|x| *x > 100).collect();
    assert_eq!(left, (1..=50).collect::<Vec<_>>());
    assert_eq!(right, (101..=150).collect::<Vec<_>>());
    assert_eq!(out.len(), 100);
}

#[tokio::test(start_paused = true)]
async fn merge_emits_as_elements_arrive() {
    let out = timed(vec![1, 2, 3], ms(10))
        .merge(timed(vec![100, 200], ms(15)))
        .run_with(Sink::seq())
        .await
        .unwrap();
    // Arrivals: 1@10, 100@15, 2@20, 3@30 and 200@30 (same instant: either order).
    assert_eq!(&out[..3], &[1, 100, 2]);
    let mut tail = out[3..].to_vec();
    tail.sort_unstable();
    assert_eq!(tail, vec![3, 200]);
}

/// Fairness is per pull (a pull may be filled from one input), but successive pulls start at
/// successive inputs, so a busy input cannot starve the other.
#[tokio::test(start_paused = true)]
async fn merge_does_not_starve_either_input() {
    let sink = Source::repeat(1)
        .merge(Source::repeat(2))
        .run_with(TestSink::probe());
    let mut got = Vec::new();
    for _ in 0..4 {
        sink.request(8);
        for _ in 0..8 {
            got.push(sink.expect_next_element().await);
        }
    }
    assert!(
        got.contains(&1) && got.contains(&2),
        "one input starved: {got:?}"
    );
    sink.cancel();
}

#[tokio::test(start_paused = true)]
async fn merge_completes_only_after_both_inputs_complete() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .merge(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_next(1).await;
    right.send_next(2).await;
    let mut got = vec![
        sink.expect_next_element().await,
        sink.expect_next_element().await,
    ];
    got.sort_unstable();
    assert_eq!(got, vec![1, 2]);
    left.send_complete();
    sink.expect_no_message(ms(100)).await;
    right.send_next(3).await;
    sink.expect_next(3).await;
    right.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_fails_when_the_other_input_fails_and_cancels_the_first() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .merge(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_next(1).await;
    sink.expect_next(1).await;
    right.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    left.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_fails_when_the_first_input_fails_and_cancels_the_other() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .merge(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_fails_even_after_one_input_completed() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .merge(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_complete();
    sink.expect_no_message(ms(50)).await;
    right.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// zip / zip_with
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn zip_pairs_elements_and_stops_with_the_shorter_input() {
    let out = Source::range(1, 5)
        .zip(Source::from_iter(vec!['a', 'b']))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(1, 'a'), (2, 'b')]);

    let out = Source::from_iter(vec!['a', 'b'])
        .zip(Source::range(1, 5))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![('a', 1), ('b', 2)]);
}

#[tokio::test]
async fn zip_with_an_infinite_input_completes_with_the_finite_one() {
    let out = Source::repeat(0)
        .zip(Source::range(1, 3))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(0, 1), (0, 2), (0, 3)]);
}

#[tokio::test]
async fn zip_with_combines_pairwise() {
    let out = Source::range(1, 3)
        .zip_with(Source::range(10, 12), |a, b| a * b)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![10, 22, 36]);
}

#[tokio::test(start_paused = true)]
async fn zip_pairs_in_order_regardless_of_arrival_timing() {
    let out = timed(vec![1, 2, 3], ms(30))
        .zip(timed(vec![10, 20, 30, 40], ms(5)))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(1, 10), (2, 20), (3, 30)]);
}

#[tokio::test(start_paused = true)]
async fn zip_completes_when_one_input_completes_without_a_pending_element() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .zip(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_next(1).await;
    right.send_next(10).await;
    sink.expect_next((1, 10)).await;
    left.send_complete();
    // No pair can be formed any more: complete without waiting for the other input.
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_completes_when_other_input_completes_while_one_element_waits() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .zip(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_next(1).await;
    left.send_next(2).await;
    right.send_next(10).await;
    sink.expect_next((1, 10)).await;
    sink.expect_no_message(ms(50)).await;
    right.send_complete();
    sink.expect_complete().await;
    left.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_does_not_complete_while_a_pair_can_still_be_formed() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .zip(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    left.send_next(1).await;
    left.send_complete();
    sink.expect_no_message(ms(50)).await;
    right.send_next(10).await;
    sink.expect_next((1, 10)).await;
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_fails_when_either_input_fails() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .zip(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(10);
    right.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    left.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// flat_map_concat / flat_map_merge
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn flat_map_concat_emits_substreams_one_after_another_in_order() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let out = Source::from_iter(vec![1u32, 2, 3])
        .flat_map_concat(move |x| {
            // Later substreams are faster: concatenation must still be in upstream order.
            let delay = ms(u64::from(4 - x) * 10);
            tracked(
                timed(vec![x * 10, x * 10 + 1, x * 10 + 2], delay),
                g.clone(),
            )
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![10, 11, 12, 20, 21, 22, 30, 31, 32]);
    assert_eq!(
        gauge.max(),
        1,
        "flat_map_concat opens one substream at a time"
    );
    assert_eq!(gauge.total(), 3);
    assert_eq!(gauge.current(), 0);
}

#[tokio::test]
async fn flat_map_concat_skips_empty_substreams() {
    let out = Source::range(0u32, 4)
        .flat_map_concat(|x| Source::from_iter(vec![x; x as usize]))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 2, 3, 3, 3, 4, 4, 4, 4]);
}

#[tokio::test(start_paused = true)]
async fn flat_map_concat_substream_failure_fails_the_stream() {
    let out = Source::range(1u32, 3)
        .flat_map_concat(|x| {
            if x == 2 {
                Source::failed(StreamError::failed(Boom))
            } else {
                Source::single(x)
            }
        })
        .run_with(Sink::seq())
        .await;
    assert!(is_boom(&out.unwrap_err()));
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_opens_at_most_breadth_substreams() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let mut out = Source::range(1u32, 10)
        .flat_map_merge(3, move |x| {
            let delay = ms(u64::from(x % 4 + 1) * 7);
            tracked(timed(vec![x * 100, x * 100 + 1], delay), g.clone())
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(
        gauge.max(),
        3,
        "breadth 3 should be reached, never exceeded"
    );
    assert_eq!(gauge.total(), 10);
    assert_eq!(gauge.current(), 0);
    out.sort_unstable();
    let expected: Vec<u32> = (1..=10).flat_map(|x| [x * 100, x * 100 + 1]).collect();
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_interleaves_substreams() {
    let out = Source::from_iter(vec![(1u32, 10u64), (2, 15)])
        .flat_map_merge(2, |(x, d)| timed(vec![x, x * 10], ms(d)))
        .run_with(Sink::seq())
        .await
        .unwrap();
    // Arrivals: 1@10, 2@15, 10@20, 20@30.
    assert_eq!(out, vec![1, 2, 10, 20]);
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_pulls_upstream_only_while_below_breadth() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_merge(2, move |x| {
            let g = g.clone();
            Source::from_stream_fn(move || {
                let g = g.clone();
                futures::stream::once(async move {
                    g.acquire().await.unwrap().forget();
                    x
                })
            })
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    assert_eq!(src.expect_request().await, 2);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    expect_no_request(&src).await;
    // One substream finishes: one more may be opened.
    gate.add_permits(1);
    let first = sink.expect_next_element().await;
    assert!(first == 1 || first == 2);
    assert_eq!(src.expect_request().await, 1);
    src.send_next(3).await;
    src.send_complete();
    gate.add_permits(2);
    let mut rest = vec![
        sink.expect_next_element().await,
        sink.expect_next_element().await,
    ];
    rest.push(first);
    rest.sort_unstable();
    assert_eq!(rest, vec![1, 2, 3]);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_waits_for_open_substreams_after_upstream_completes() {
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_merge(4, |x| timed(vec![x], ms(50)))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_complete();
    sink.expect_next(1).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_upstream_failure_fails_after_the_emitted_elements() {
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_merge(2, |x| Source::from_iter(vec![x, x * 10]))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next_n([1, 10]).await;
    src.send_next(2).await;
    sink.expect_next_n([2, 20]).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

/// Runs `flat_map_merge(breadth)` over never-ending probe substreams, opens two, lets the
/// first emit, then fails upstream: the failure must arrive and cancel both substreams.
async fn flat_map_merge_upstream_failure_with_two_open_substreams(breadth: usize) {
    let subs: Arc<Mutex<Vec<SourceProbe<u32>>>> = Arc::new(Mutex::new(Vec::new()));
    let s = subs.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_merge(breadth, move |_| {
            let s = s.clone();
            TestSource::<u32>::probe().map_materialized_value(move |p| s.lock().unwrap().push(p))
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    let subs = std::mem::take(&mut *subs.lock().unwrap());
    assert_eq!(subs.len(), 2);
    subs[0].send_next(5).await;
    sink.expect_next(5).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    for sub in &subs {
        sub.expect_cancellation().await;
    }
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_upstream_failure_cancels_the_open_substreams() {
    flat_map_merge_upstream_failure_with_two_open_substreams(3).await;
}

/// With `breadth` substreams open upstream is not pulled, yet its failure fails the stream at
/// once and cancels the open substreams, as in Akka's `flatMapMerge`.
#[tokio::test(start_paused = true)]
async fn flat_map_merge_upstream_failure_arrives_while_breadth_substreams_are_open() {
    let subs: Arc<Mutex<Vec<SourceProbe<u32>>>> = Arc::new(Mutex::new(Vec::new()));
    let s = subs.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_merge(2, move |_| {
            let s = s.clone();
            TestSource::<u32>::probe().map_materialized_value(move |p| s.lock().unwrap().push(p))
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    let subs = std::mem::take(&mut *subs.lock().unwrap());
    assert_eq!(subs.len(), 2);
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    for sub in &subs {
        sub.expect_cancellation().await;
    }
}

#[tokio::test(start_paused = true)]
async fn flat_map_merge_substream_failure_fails_the_stream_and_cancels_upstream() {
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_merge(2, |x| {
            if x == 0 {
                Source::failed(StreamError::failed(Boom))
            } else {
                Source::single(x)
            }
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_next(0).await;
    assert!(is_boom(&sink.expect_error().await));
    src.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// also_to / wire_tap
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn also_to_side_gets_every_element_and_the_completion() {
    let (side, slot) = sink_probe::<u32>();
    let main = Source::range(1u32, 20)
        .also_to(side)
        .to_mat(TestSink::probe(), Keep::right)
        .run();
    let side = take(&slot);
    main.request(100);
    side.request(100);
    main.expect_next_n(1..=20).await;
    main.expect_complete().await;
    side.expect_next_n(1..=20).await;
    side.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn also_to_side_sets_the_pace() {
    let (side, slot) = sink_probe::<u32>();
    let main = Source::range(1u32, 100)
        .also_to(side)
        .with_attributes(Attributes::input_buffer(4))
        .to_mat(TestSink::probe(), Keep::right)
        .run();
    let side = take(&slot);
    main.request(100);
    // The side never asks: only what fits in its buffer gets through.
    let mut got = Vec::new();
    loop {
        match timeout(ms(100), main.expect_event()).await {
            Ok(Event::Next(x)) => got.push(x),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }
    assert!(
        !got.is_empty() && got.len() <= 4,
        "main got {} elements while the side (buffer 4) was idle",
        got.len()
    );
    side.request(1000);
    for x in got.len() as u32 + 1..=100 {
        main.expect_next(x).await;
    }
    // Completion comes on a pull; the probe has used up its 100.
    main.request(1);
    main.expect_complete().await;
    side.expect_next_n(1..=100).await;
    side.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn also_to_side_cancellation_completes_the_main_stream() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .also_to(side)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.request(10);
    side.request(10);
    src.send_next(1).await;
    main.expect_next(1).await;
    side.expect_next(1).await;
    side.cancel();
    main.expect_complete().await;
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn also_to_main_cancellation_completes_the_side() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .also_to(side)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.request(10);
    side.request(10);
    src.send_next(1).await;
    main.expect_next(1).await;
    side.expect_next(1).await;
    main.cancel();
    src.expect_cancellation().await;
    side.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn also_to_upstream_failure_reaches_both_sinks() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .also_to(side)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.request(10);
    side.request(10);
    src.send_next(1).await;
    src.send_error(StreamError::failed(Boom));
    main.expect_next(1).await;
    assert!(is_boom(&main.expect_error().await));
    side.expect_next(1).await;
    assert!(is_boom(&side.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn wire_tap_never_slows_the_main_stream() {
    let (side, slot) = sink_probe::<u32>();
    let main = Source::range(1u32, 100)
        .wire_tap(side)
        .to_mat(TestSink::probe(), Keep::right)
        .run();
    let side = take(&slot);
    // The side never requests, yet the main stream gets everything.
    main.request(1000);
    main.expect_next_n(1..=100).await;
    main.expect_complete().await;

    // The side got an in-order subset (what fit in its buffer), then the completion.
    side.request(1000);
    let mut seen = Vec::new();
    loop {
        match side.expect_event().await {
            Event::Next(x) => seen.push(x),
            Event::Complete => break,
            Event::Error(e) => panic!("side failed: {e}"),
        }
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "side saw {seen:?}");
    assert!(seen.iter().all(|x| (1..=100).contains(x)));
}

#[tokio::test(start_paused = true)]
async fn wire_tap_side_gets_elements_when_it_keeps_up() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .wire_tap(side)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    side.request(100);
    main.request(100);
    for x in 1..=5 {
        src.send_next(x).await;
        main.expect_next(x).await;
        side.expect_next(x).await;
    }
    src.send_complete();
    main.expect_complete().await;
    side.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn wire_tap_side_cancellation_does_not_affect_the_main_stream() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .wire_tap(side)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    side.cancel();
    main.request(10);
    for x in 1..=3 {
        src.send_next(x).await;
    }
    main.expect_next_n([1, 2, 3]).await;
    assert!(!src.is_cancelled());
    src.send_complete();
    main.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn wire_tap_upstream_failure_reaches_the_main_stream_after_the_elements() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .wire_tap(side)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    side.request(10);
    main.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    main.expect_next_n([1, 2]).await;
    side.expect_next_n([1, 2]).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&main.expect_error().await));
    // The side, which kept up, sees the failure too.
    assert!(is_boom(&side.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn wire_tap_upstream_failure_reaches_the_main_stream_when_the_side_lags() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .wire_tap(side)
        .with_attributes(Attributes::input_buffer(2))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let _side = take(&slot);
    // The side never asks; the main stream is not held back, and fails after its elements.
    main.request(10);
    for x in 1..=5 {
        src.send_next(x).await;
    }
    src.send_error(StreamError::failed(Boom));
    main.expect_next_n(1..=5).await;
    assert!(is_boom(&main.expect_error().await));
}

/// A busy substream does not hold back an upstream failure: the stream fails at once.
#[tokio::test(start_paused = true)]
async fn flat_map_concat_upstream_failure_overtakes_a_busy_substream() {
    let (src, sink) = TestSource::<u32>::probe()
        .flat_map_concat(Source::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(7).await;
    sink.expect_next(7).await;
    src.send_error(StreamError::failed(Boom));
    sink.request(100_000);
    let mut elements = 0;
    loop {
        match sink.expect_event().await {
            weir::testkit::Event::Next(_) => elements += 1,
            weir::testkit::Event::Error(e) => {
                assert!(is_boom(&e), "{e:?}");
                break;
            }
            other => panic!("expected the failure, got {other:?}"),
        }
        assert!(
            elements < 100_000,
            "the failure never overtook the busy substream"
        );
    }
}

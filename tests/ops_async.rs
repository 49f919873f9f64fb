//! Behaviour of the asynchronous operators: `map_async`, `map_async_unordered`, `scan_async` and
//! `fold_async`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{is_boom, ms, settle, Boom};
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout, Instant};
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};

fn assert_panicked(e: &StreamError, stage: &str, message: &str) {
    match e {
        StreamError::Panicked {
            stage: s,
            message: m,
        } => {
            assert_eq!(s, stage, "panicked stage");
            assert_eq!(m, message, "panic message");
        }
        other => panic!("expected a Panicked error from `{stage}`, got {other:?}"),
    }
}

/// Counts live futures (created and not yet finished or dropped) and the maximum ever live.
#[derive(Clone, Default)]
struct Gauge {
    current: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) -> Guard {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        Guard(self.current.clone())
    }

    fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// Leaves the gauge when dropped (also when the future holding it is dropped unfinished).
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// map_async
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn map_async_preserves_upstream_order_when_later_futures_finish_first() {
    let finished = Arc::new(Mutex::new(Vec::new()));
    let log = finished.clone();
    let start = Instant::now();
    let out = Source::from_iter(vec![(1u32, 40u64), (2, 10), (3, 30), (4, 20)])
        .map_async(4, move |(x, d)| {
            let log = log.clone();
            async move {
                sleep(ms(d)).await;
                log.lock().unwrap().push(x);
                x * 10
            }
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![10, 20, 30, 40]);
    // The futures really did finish out of order, and ran concurrently.
    assert_eq!(*finished.lock().unwrap(), vec![2, 4, 3, 1]);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= ms(40) && elapsed < ms(60),
        "4 futures of at most 40ms with parallelism 4 took {elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn map_async_never_has_more_than_parallelism_futures_in_flight() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let out = Source::range(1u64, 30)
        .map_async(3, move |x| {
            let guard = g.enter();
            async move {
                sleep(ms((x * 7 % 5 + 1) * 10)).await;
                drop(guard);
                x
            }
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, (1..=30).collect::<Vec<_>>());
    assert_eq!(
        gauge.max(),
        3,
        "parallelism 3 should be used, never exceeded"
    );
    assert_eq!(gauge.current(), 0);
}

#[tokio::test(start_paused = true)]
async fn map_async_with_parallelism_one_runs_sequentially() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let start = Instant::now();
    let out = Source::from_iter(vec![30u64, 10, 20])
        .map_async(1, move |d| {
            let guard = g.enter();
            async move {
                sleep(ms(d)).await;
                drop(guard);
                d
            }
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![30, 10, 20]);
    assert_eq!(gauge.max(), 1);
    assert!(start.elapsed() >= ms(60), "sequential steps must add up");
}

#[tokio::test(start_paused = true)]
async fn map_async_requests_at_most_parallelism_from_upstream() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .map_async(2, move |x| {
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                x * 10
            }
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    assert_eq!(src.expect_request().await, 2);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    // Both slots are busy: no further demand upstream.
    assert_eq!(src.pending_demand(), 0);
    assert!(timeout(ms(100), src.expect_request()).await.is_err());
    sink.expect_no_message(ms(50)).await;

    // Finishing the first future frees one slot.
    gate.add_permits(1);
    sink.expect_next(10).await;
    assert_eq!(src.expect_request().await, 1);
    src.send_next(3).await;
    gate.add_permits(2);
    sink.expect_next_n([20, 30]).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn map_async_respects_downstream_demand() {
    let (src, sink) = TestSource::<u32>::probe()
        .map_async(4, |x| async move { x + 100 })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    for x in 1..=2 {
        src.send_next(x).await;
    }
    sink.expect_next_n([101, 102]).await;
    // Results may be computed ahead (up to the parallelism), but not delivered without demand.
    for x in 3..=4 {
        src.send_unrequested(x);
    }
    sink.expect_no_message(ms(100)).await;
    sink.request(1);
    sink.expect_next(103).await;
    sink.expect_no_message(ms(100)).await;
    sink.request(5);
    sink.expect_next(104).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn map_async_emits_in_flight_results_before_completing() {
    let (src, sink) = TestSource::<u64>::probe()
        .map_async(2, |d| async move {
            sleep(ms(d)).await;
            d
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(30).await;
    src.send_next(20).await;
    src.send_complete();
    sink.expect_next_n([30, 20]).await;
    sink.expect_complete().await;
}

/// Whether or not `parallelism` is used up (then upstream is not pulled), an upstream failure
/// fails the stage at once and drops the futures in flight, as in Akka.
#[tokio::test(start_paused = true)]
async fn map_async_upstream_failure_fails_at_once_and_drops_in_flight_futures() {
    for parallelism in [1, 2] {
        let gauge = Gauge::default();
        let g = gauge.clone();
        let (src, sink) = TestSource::<u32>::probe()
            .map_async(parallelism, move |x| {
                let guard = g.enter();
                async move {
                    // Never finishes on its own.
                    std::future::pending::<()>().await;
                    drop(guard);
                    x
                }
            })
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(10);
        src.send_next(1).await;
        settle().await;
        assert_eq!(gauge.current(), 1);
        src.send_error(StreamError::failed(Boom));
        let e = sink.expect_error().await;
        assert!(is_boom(&e), "parallelism {parallelism}: got {e:?}");
        assert_eq!(gauge.current(), 0, "in-flight future must be dropped");
    }
}

/// The same across an async boundary whose buffer is full: the failure crosses it at once.
#[tokio::test(start_paused = true)]
async fn map_async_upstream_failure_crosses_a_full_boundary_at_once() {
    let (src, sink) = TestSource::<u32>::probe()
        .async_boundary()
        .map_async(1, |x| async move {
            std::future::pending::<()>().await;
            x
        })
        .to_mat(TestSink::probe(), Keep::both)
        .with_attributes(weir::Attributes::input_buffer(1))
        .run();
    sink.request(10);
    src.send_next(1).await; // in flight
    src.send_next(2).await; // fills the boundary's buffer
    settle().await;
    src.send_error(StreamError::failed(Boom));
    let e = sink.expect_error().await;
    assert!(is_boom(&e), "got {e:?}");
}

#[tokio::test(start_paused = true)]
async fn map_async_panic_in_future_fails_with_panicked() {
    let (src, sink) = TestSource::<u32>::probe()
        .map_async(2, |x| async move {
            if x == 3 {
                panic!("boom at 3");
            }
            x
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_next(2).await;
    sink.expect_next(2).await;
    src.send_next(3).await;
    let e = sink.expect_error().await;
    assert_panicked(&e, "map_async", "boom at 3");
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn map_async_panic_in_closure_fails_with_panicked() {
    let err = Source::range(1u32, 5)
        .map_async(2, |x| {
            assert!(x != 2, "closure rejects 2");
            async move { x }
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_panicked(&err, "map_async", "closure rejects 2");
}

#[tokio::test(start_paused = true)]
async fn map_async_panic_in_delayed_future_fails_with_panicked() {
    let err = Source::range(1u64, 5)
        .map_async(3, |x| async move {
            sleep(ms(10 * x)).await;
            if x == 4 {
                panic!("late boom");
            }
            x
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_panicked(&err, "map_async", "late boom");
}

#[tokio::test(start_paused = true)]
async fn map_async_propagates_upstream_failure_after_elements() {
    let (src, sink) = TestSource::<u32>::probe()
        .map_async(3, |x| async move { x * 2 })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([2, 4]).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn map_async_downstream_cancel_cancels_upstream_and_drops_futures() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .map_async(2, move |x| {
            let guard = g.enter();
            async move {
                std::future::pending::<()>().await;
                drop(guard);
                x
            }
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    assert_eq!(gauge.current(), 2);
    sink.cancel();
    src.expect_cancellation().await;
    assert_eq!(gauge.current(), 0);
}

// ---------------------------------------------------------------------------------------------
// map_async_unordered
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn map_async_unordered_emits_in_completion_order() {
    let out = Source::from_iter(vec![(1u32, 40u64), (2, 10), (3, 30), (4, 20)])
        .map_async_unordered(4, |(x, d)| async move {
            sleep(ms(d)).await;
            x
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 4, 3, 1]);
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_slow_future_does_not_block_later_ones() {
    // Parallelism 2: 1 (30ms) and 2 (10ms) start; 2 finishes, 3 (10ms) starts and finishes at
    // 20ms, before 1.
    let out = Source::from_iter(vec![(1u32, 30u64), (2, 10), (3, 10)])
        .map_async_unordered(2, |(x, d)| async move {
            sleep(ms(d)).await;
            x
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 3, 1]);
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_never_has_more_than_parallelism_in_flight() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let mut out = Source::range(1u64, 40)
        .map_async_unordered(4, move |x| {
            let guard = g.enter();
            async move {
                sleep(ms((x * 13 % 7 + 1) * 5)).await;
                drop(guard);
                x
            }
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(gauge.max(), 4);
    out.sort_unstable();
    assert_eq!(out, (1..=40).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_requests_at_most_parallelism_from_upstream() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let (src, sink) = TestSource::<u32>::probe()
        .map_async_unordered(3, move |x| {
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                x
            }
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    assert_eq!(src.expect_request().await, 3);
    for x in 1..=3 {
        src.send_next(x).await;
    }
    settle().await;
    assert_eq!(src.pending_demand(), 0);
    assert!(timeout(ms(100), src.expect_request()).await.is_err());
    gate.add_permits(1);
    sink.expect_next(1).await;
    assert_eq!(src.expect_request().await, 1);
    src.send_complete();
    gate.add_permits(2);
    let mut rest = vec![
        sink.expect_next_element().await,
        sink.expect_next_element().await,
    ];
    rest.sort_unstable();
    assert_eq!(rest, vec![2, 3]);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_panic_fails_with_panicked() {
    let err = Source::range(1u32, 5)
        .map_async_unordered(2, |x| async move {
            if x == 3 {
                panic!("unordered boom");
            }
            x
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_panicked(&err, "map_async_unordered", "unordered boom");
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_propagates_upstream_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .map_async_unordered(2, |x| async move { x })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(7).await;
    sink.expect_next(7).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// scan_async
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn scan_async_emits_seed_then_each_state_in_order() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let out = Source::from_iter(vec![1u64, 2, 3])
        .scan_async(0u64, move |acc, x| {
            let guard = g.enter();
            async move {
                // Later steps are faster: order must still follow upstream.
                sleep(ms((4 - x) * 10)).await;
                drop(guard);
                acc + x
            }
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 3, 6]);
    assert_eq!(gauge.max(), 1, "scan_async runs one step at a time");
}

#[tokio::test(start_paused = true)]
async fn scan_async_non_commutative_steps_see_the_previous_state() {
    let out = Source::from_iter(vec!["a", "b", "c"])
        .scan_async(String::new(), |acc, x| async move {
            sleep(ms(5)).await;
            format!("{acc}{x}")
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec!["", "a", "ab", "abc"]);
}

#[tokio::test(start_paused = true)]
async fn scan_async_on_empty_source_emits_only_the_seed() {
    let out = Source::<u32>::empty()
        .scan_async(7u32, |acc, x| async move { acc + x })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![7]);
}

#[tokio::test(start_paused = true)]
async fn scan_async_respects_downstream_demand() {
    let (src, sink) = TestSource::<u32>::probe()
        .scan_async(0u32, |acc, x| async move { acc + x })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    sink.expect_next(0).await;
    src.send_unrequested(5);
    sink.expect_no_message(ms(100)).await;
    sink.request(1);
    sink.expect_next(5).await;
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(6).await;
    sink.request(1);
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn scan_async_propagates_upstream_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .scan_async(0u32, |acc, x| async move {
            sleep(ms(10)).await;
            acc + x
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    sink.expect_next(0).await;
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn scan_async_panic_in_future_fails_with_panicked() {
    let err = Source::from_iter(vec![1u32, 2, 3])
        .scan_async(0u32, |acc, x| async move {
            if x == 2 {
                panic!("scan boom");
            }
            acc + x
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_panicked(&err, "scan_async", "scan boom");
}

// ---------------------------------------------------------------------------------------------
// fold_async
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn fold_async_emits_the_final_state_once() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let out = Source::range(1u64, 4)
        .fold_async(0u64, move |acc, x| {
            let guard = g.enter();
            async move {
                sleep(ms((5 - x) * 3)).await;
                drop(guard);
                acc + x
            }
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![10]);
    assert_eq!(gauge.max(), 1, "fold_async runs one step at a time");
}

#[tokio::test(start_paused = true)]
async fn fold_async_steps_run_in_upstream_order() {
    let out = Source::from_iter(vec!["a", "b", "c", "d"])
        .fold_async(String::new(), |acc, x| async move {
            sleep(ms(if x == "a" { 30 } else { 1 })).await;
            format!("{acc}{x}")
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec!["abcd".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn fold_async_on_empty_source_emits_zero() {
    let out = Source::<u32>::empty()
        .fold_async(42u32, |acc, x| async move { acc + x })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![42]);
}

#[tokio::test(start_paused = true)]
async fn fold_async_emits_nothing_on_upstream_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .fold_async(0u32, |acc, x| async move { acc + x })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_no_message(ms(50)).await;
    src.send_error(StreamError::failed(Boom));
    // The error is the first and only event: no partial fold is emitted.
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn fold_async_waits_for_the_running_step_before_completing() {
    let (src, sink) = TestSource::<u64>::probe()
        .fold_async(0u64, |acc, x| async move {
            sleep(ms(50)).await;
            acc + x
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(5).await;
    src.send_complete();
    sink.expect_next(5).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn fold_async_panic_in_future_fails_with_panicked() {
    let err = Source::range(1u32, 3)
        .fold_async(0u32, |acc, x| async move {
            if x == 3 {
                panic!("fold boom");
            }
            acc + x
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_panicked(&err, "fold_async", "fold boom");
}

#[tokio::test(start_paused = true)]
async fn fold_async_panic_in_closure_fails_with_panicked() {
    let err = Source::range(1u32, 3)
        .fold_async(0u32, |acc, x| {
            assert!(x < 2, "closure boom");
            async move { acc + x }
        })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_panicked(&err, "fold_async", "closure boom");
}

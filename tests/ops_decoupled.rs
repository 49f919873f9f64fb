//! Behaviour of the rate-decoupling operators: `async_boundary`, `buffer` (every
//! `OverflowStrategy`), `detach`, `conflate`, `conflate_with_seed`, `batch` and `expand`.
//!
//! These operators run upstream on its own island. The tests drive both ends with probes on the
//! current-thread runtime with paused time, and use `settle` (a paused sleep, which returns only
//! once every island is idle) before observing, so the outcome is deterministic.

mod support;

use support::{is_boom, ms, settle, Boom};
use tokio::time::{sleep, timeout};
use weir::prelude::*;
use weir::testkit::{SourceProbe, TestSink, TestSource};
use weir::{Attributes, OverflowStrategy};

/// Asserts that no new demand reaches `probe` for a while and none is outstanding.
async fn expect_no_request<T: Send + 'static>(probe: &SourceProbe<T>) {
    assert!(
        timeout(ms(100), probe.expect_request()).await.is_err(),
        "unexpected demand upstream"
    );
    assert_eq!(probe.pending_demand(), 0, "unexpected outstanding demand");
}

/// Sums every demand signal that arrives within a short while.
async fn total_requested<T: Send + 'static>(probe: &SourceProbe<T>) -> u64 {
    let mut total = 0;
    while let Ok(n) = timeout(ms(50), probe.expect_request()).await {
        total += n;
    }
    total
}

// ---------------------------------------------------------------------------------------------
// async_boundary
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn async_boundary_keeps_every_element_in_order() {
    let out = Source::range(1u32, 1000)
        .map(|x| x * 2)
        .async_boundary()
        .filter(|x| x % 3 != 0)
        .async_boundary()
        .map(|x| x + 1)
        .run_with(Sink::seq())
        .await
        .unwrap();
    let expected: Vec<u32> = (1..=1000)
        .map(|x| x * 2)
        .filter(|x| x % 3 != 0)
        .map(|x| x + 1)
        .collect();
    assert_eq!(out, expected);
}

#[tokio::test]
async fn async_boundary_on_a_flow_keeps_every_element_in_order() {
    let flow = Flow::<u32>::new().map(|x| x + 1).async_boundary();
    let out = Source::range(1u32, 100)
        .via(flow)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, (2..=101).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn async_boundary_passes_elements_and_completion_across() {
    let (src, sink) = TestSource::<u32>::probe()
        .async_boundary()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(3);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([1, 2]).await;
    src.send_next(3).await;
    src.send_complete();
    sink.expect_next(3).await;
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn async_boundary_cancellation_crosses_the_boundary() {
    let (src, sink) = TestSource::<u32>::probe()
        .map(|x| x + 1)
        .async_boundary()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    settle().await;
    assert!(!src.is_cancelled());
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn async_boundary_failure_crosses_the_boundary_after_the_elements() {
    let (src, sink) = TestSource::<u32>::probe()
        .async_boundary()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(10);
    sink.expect_next_n([1, 2]).await;
    let e = sink.expect_error().await;
    assert!(is_boom(&e), "got {e:?}");
}

#[tokio::test(start_paused = true)]
async fn async_boundary_buffer_is_bounded_by_input_buffer() {
    let (src, sink) = TestSource::<u32>::probe()
        .async_boundary()
        .with_attributes(Attributes::input_buffer(4))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    // The sink requests nothing: upstream may fill the buffer, no more.
    assert_eq!(total_requested(&src).await, 4);
    for x in 1..=4 {
        src.send_next(x).await;
    }
    settle().await;
    expect_no_request(&src).await;

    // Consuming half of the buffer tops it up by that much.
    sink.request(2);
    sink.expect_next_n([1, 2]).await;
    assert_eq!(total_requested(&src).await, 2);
    for x in 5..=6 {
        src.send_next(x).await;
    }
    settle().await;
    expect_no_request(&src).await;
    sink.request(100);
    sink.expect_next_n(3..=6).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn async_boundary_default_buffer_is_bounded() {
    let (src, _sink) = TestSource::<u32>::probe()
        .async_boundary()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    assert_eq!(
        total_requested(&src).await,
        weir::DEFAULT_INPUT_BUFFER as u64
    );
}

// ---------------------------------------------------------------------------------------------
// buffer
// ---------------------------------------------------------------------------------------------

/// Runs `buffer(3, strategy)` between probes: sends 1..=5 while downstream requests nothing,
/// then requests everything and returns what arrives before completion.
async fn overflow_survivors(strategy: OverflowStrategy) -> Vec<u32> {
    let (src, sink) = TestSource::<u32>::probe()
        .buffer(3, strategy)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=5 {
        src.send_unrequested(x);
    }
    settle().await;
    // The buffer never back-pressures with a dropping strategy: upstream was fully drained.
    assert!(src.pending_demand() > 0, "{strategy:?} back-pressured");
    sink.request(100);
    let mut got = Vec::new();
    while let Ok(x) = timeout(ms(100), sink.expect_next_element()).await {
        got.push(x);
    }
    src.send_complete();
    sink.expect_complete().await;
    got
}

#[tokio::test(start_paused = true)]
async fn buffer_drop_head_drops_the_oldest() {
    assert_eq!(
        overflow_survivors(OverflowStrategy::DropHead).await,
        vec![3, 4, 5]
    );
}

#[tokio::test(start_paused = true)]
async fn buffer_drop_tail_drops_the_youngest_buffered() {
    assert_eq!(
        overflow_survivors(OverflowStrategy::DropTail).await,
        vec![1, 2, 5]
    );
}

#[tokio::test(start_paused = true)]
async fn buffer_drop_buffer_drops_everything_buffered() {
    assert_eq!(
        overflow_survivors(OverflowStrategy::DropBuffer).await,
        vec![4, 5]
    );
}

#[tokio::test(start_paused = true)]
async fn buffer_drop_new_drops_the_arriving_element() {
    assert_eq!(
        overflow_survivors(OverflowStrategy::DropNew).await,
        vec![1, 2, 3]
    );
}

#[tokio::test(start_paused = true)]
async fn buffer_fail_fails_with_buffer_overflow_and_cancels_upstream() {
    let (src, sink) = TestSource::<u32>::probe()
        .buffer(3, OverflowStrategy::Fail)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=4 {
        src.send_unrequested(x);
    }
    settle().await;
    src.expect_cancellation().await;
    sink.request(100);
    match sink.expect_error().await {
        StreamError::BufferOverflow { size } => assert_eq!(size, 3),
        other => panic!("expected BufferOverflow, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn buffer_fail_does_not_fail_while_there_is_room() {
    let (src, sink) = TestSource::<u32>::probe()
        .buffer(3, OverflowStrategy::Fail)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=3 {
        src.send_unrequested(x);
    }
    settle().await;
    sink.request(3);
    sink.expect_next_n([1, 2, 3]).await;
    for x in 4..=6 {
        src.send_unrequested(x);
    }
    src.send_complete();
    settle().await;
    sink.request(100);
    sink.expect_next_n([4, 5, 6]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn buffer_dropping_strategies_are_transparent_when_downstream_keeps_up() {
    for strategy in [
        OverflowStrategy::DropHead,
        OverflowStrategy::DropTail,
        OverflowStrategy::DropBuffer,
        OverflowStrategy::DropNew,
        OverflowStrategy::Fail,
    ] {
        let (src, sink) = TestSource::<u32>::probe()
            .buffer(2, strategy)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(100);
        for x in 1..=10 {
            src.send_next(x).await;
            sink.expect_next(x).await;
        }
        src.send_complete();
        sink.expect_complete().await;
    }
}

#[tokio::test(start_paused = true)]
async fn buffer_back_pressure_is_lossless_and_bounded() {
    let (src, sink) = TestSource::<u32>::probe()
        .buffer(3, OverflowStrategy::BackPressure)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    assert_eq!(total_requested(&src).await, 3);
    for x in 1..=3 {
        src.send_next(x).await;
    }
    settle().await;
    expect_no_request(&src).await;
    sink.request(100);
    sink.expect_next_n([1, 2, 3]).await;
    for x in 4..=9 {
        src.send_next(x).await;
    }
    src.send_complete();
    sink.expect_next_n(4..=9).await;
    sink.expect_complete().await;
}

#[tokio::test]
async fn buffer_back_pressure_with_a_fast_source() {
    let out = Source::range(1u32, 500)
        .buffer(7, OverflowStrategy::BackPressure)
        .map(|x| x + 1)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, (2..=501).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn buffer_passes_upstream_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .buffer(3, OverflowStrategy::DropHead)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn buffer_cancellation_reaches_upstream() {
    for strategy in [OverflowStrategy::BackPressure, OverflowStrategy::DropTail] {
        let (src, sink) = TestSource::<u32>::probe()
            .buffer(3, strategy)
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        settle().await;
        sink.cancel();
        src.expect_cancellation().await;
    }
}

// ---------------------------------------------------------------------------------------------
// detach
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn detach_holds_exactly_one_element() {
    let (src, sink) = TestSource::<u32>::probe()
        .detach()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    assert_eq!(total_requested(&src).await, 1);
    src.send_next(1).await;
    settle().await;
    expect_no_request(&src).await;
    sink.request(1);
    sink.expect_next(1).await;
    assert_eq!(total_requested(&src).await, 1);
    src.send_next(2).await;
    src.send_complete();
    sink.request(5);
    sink.expect_next(2).await;
    sink.expect_complete().await;
}

#[tokio::test]
async fn detach_keeps_every_element() {
    let out = Source::range(1u32, 100)
        .detach()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, (1..=100).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// conflate / conflate_with_seed / batch
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn conflate_combines_elements_while_downstream_is_busy() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate(|a, b| a + b)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=4 {
        src.send_next(x).await;
    }
    settle().await;
    sink.request(1);
    sink.expect_next(10).await;
    sink.expect_no_message(ms(50)).await;

    // With demand waiting, an element passes on its own.
    sink.request(1);
    src.send_next(5).await;
    sink.expect_next(5).await;

    src.send_next(6).await;
    src.send_next(7).await;
    src.send_complete();
    settle().await;
    sink.request(5);
    sink.expect_next(13).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn conflate_never_back_pressures_upstream() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate(|a, b| a + b)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    // `send_next` waits for demand: it would time out if conflate back-pressured.
    for x in 1..=200 {
        src.send_next(x).await;
    }
    settle().await;
    sink.request(1);
    sink.expect_next(200 * 201 / 2).await;
}

#[tokio::test(start_paused = true)]
async fn conflate_with_seed_starts_each_aggregate_with_the_seed() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate_with_seed(
            |x| vec![x],
            |mut v, x| {
                v.push(x);
                v
            },
        )
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=4 {
        src.send_next(x).await;
    }
    settle().await;
    sink.request(1);
    sink.expect_next(vec![1, 2, 3, 4]).await;
    src.send_next(5).await;
    src.send_next(6).await;
    settle().await;
    sink.request(1);
    sink.expect_next(vec![5, 6]).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn conflate_passes_upstream_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate(|a, b| a + b)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom));
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

fn push(mut v: Vec<u32>, x: u32) -> Vec<u32> {
    v.push(x);
    v
}

#[tokio::test(start_paused = true)]
async fn conflate_with_seed_passes_upstream_failure_after_the_aggregates_taken() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate_with_seed(|x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    sink.request(1);
    sink.expect_next(vec![1, 2]).await;
    src.send_error(StreamError::failed(Boom));
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

/// As in Akka, a failure is signalled at once: the aggregate not yet taken is dropped.
#[tokio::test(start_paused = true)]
async fn conflate_with_seed_failure_overtakes_the_pending_aggregate() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate_with_seed(|x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn batch_passes_upstream_failure_after_the_batches_taken() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch(3, |x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(vec![1]).await;
    src.send_next(2).await;
    src.send_next(3).await;
    settle().await;
    sink.request(1);
    sink.expect_next(vec![2, 3]).await;
    src.send_error(StreamError::failed(Boom));
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

/// As in Akka, a failure is signalled at once: the batch not yet taken is dropped.
#[tokio::test(start_paused = true)]
async fn batch_failure_overtakes_the_pending_batch() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch(3, |x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

/// A full batch back-pressures upstream, yet an upstream failure overtakes it (the batch is
/// dropped), as in Akka's `batch`.
#[tokio::test(start_paused = true)]
async fn batch_failure_overtakes_a_full_batch() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch(2, |x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    // The batch is full now and upstream is no longer pulled.
    settle().await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn batch_back_pressures_once_an_aggregate_is_full() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch(
            3,
            |x| vec![x],
            |mut v, x| {
                v.push(x);
                v
            },
        )
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    assert_eq!(total_requested(&src).await, 3);
    for x in 1..=3 {
        src.send_next(x).await;
    }
    settle().await;
    expect_no_request(&src).await;
    sink.request(1);
    sink.expect_next(vec![1, 2, 3]).await;
    assert_eq!(total_requested(&src).await, 3);
    src.send_next(4).await;
    settle().await;
    sink.request(1);
    sink.expect_next(vec![4]).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn batch_never_exceeds_max_per_aggregate() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch(
            3,
            |x| vec![x],
            |mut v, x| {
                v.push(x);
                v
            },
        )
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=7 {
        src.send_unrequested(x);
    }
    src.send_complete();
    let mut batches = Vec::new();
    for _ in 0..3 {
        settle().await;
        sink.request(1);
        batches.push(sink.expect_next_element().await);
    }
    assert_eq!(batches, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test]
async fn batch_keeps_every_element_in_order() {
    let out = Source::range(1u32, 300)
        .batch(
            8,
            |x| vec![x],
            |mut v, x| {
                v.push(x);
                v
            },
        )
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.iter().all(|b| !b.is_empty() && b.len() <= 8));
    assert_eq!(out.concat(), (1..=300).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// expand
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn expand_extrapolates_the_latest_element_while_upstream_is_idle() {
    let (src, sink) = TestSource::<u32>::probe()
        .expand(std::iter::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(3);
    src.send_next(1).await;
    sink.expect_next_n([1, 1, 1]).await;
    sink.request(2);
    sink.expect_next_n([1, 1]).await;
    // A new element replaces the extrapolation.
    src.send_next(2).await;
    settle().await;
    sink.request(2);
    sink.expect_next_n([2, 2]).await;
    src.send_complete();
    settle().await;
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn expand_emits_nothing_before_the_first_element() {
    let (src, sink) = TestSource::<u32>::probe()
        .expand(std::iter::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    sink.expect_no_message(ms(100)).await;
    src.send_next(4).await;
    sink.expect_next(4).await;
}

#[tokio::test(start_paused = true)]
async fn expand_with_a_finite_iterator_waits_for_the_next_element() {
    let (src, sink) = TestSource::<u32>::probe()
        .expand(|x| (0..3).map(move |i| x * 10 + i))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    sink.expect_next_n([10, 11, 12]).await;
    sink.expect_no_message(ms(100)).await;
    src.send_next(2).await;
    sink.expect_next_n([20, 21]).await;
}

#[tokio::test(start_paused = true)]
async fn expand_emits_an_unseen_element_once_before_completing() {
    let (src, sink) = TestSource::<u32>::probe()
        .expand(std::iter::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_complete();
    settle().await;
    sink.request(10);
    sink.expect_next(1).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn expand_completes_without_extrapolating_after_upstream_completes() {
    let (src, sink) = TestSource::<u32>::probe()
        .expand(std::iter::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    src.send_next(1).await;
    sink.expect_next_n([1, 1]).await;
    src.send_complete();
    settle().await;
    sink.request(10);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn expand_passes_upstream_failure() {
    let (src, sink) = TestSource::<u32>::probe()
        .expand(std::iter::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// Shared behaviour of the decoupled operators
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn conflate_loses_nothing_behind_a_slow_consumer() {
    let out = Source::range(1u64, 1000)
        .conflate(|a, b| a + b)
        .map_async(1, |x| async move {
            sleep(ms(1)).await;
            x
        })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out.iter().sum::<u64>(), 500_500);
    assert!(out.len() < 1000, "a slow consumer should see aggregates");
}

#[tokio::test(start_paused = true)]
async fn cancellation_crosses_conflate_batch_and_expand() {
    let (src, sink) = TestSource::<u32>::probe()
        .conflate(|a, b| a + b)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    settle().await;
    sink.cancel();
    src.expect_cancellation().await;

    let (src, sink) = TestSource::<u32>::probe()
        .batch(
            2,
            |x| vec![x],
            |mut v, x| {
                v.push(x);
                v
            },
        )
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    // Upstream is back-pressured (the batch is full) when the cancellation comes.
    sink.cancel();
    src.expect_cancellation().await;

    let (src, sink) = TestSource::<u32>::probe()
        .expand(std::iter::repeat)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(3);
    src.send_next(1).await;
    sink.expect_next_n([1, 1, 1]).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn detach_cancellation_and_failure_cross() {
    let (src, sink) = TestSource::<u32>::probe()
        .detach()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.cancel();
    src.expect_cancellation().await;

    let (src, sink) = TestSource::<u32>::probe()
        .detach()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// batch_weighted (Pekko's FlowBatchWeightedSpec)
// ---------------------------------------------------------------------------------------------

/// "Not aggregate heavy elements": each element weighs more than `max`, so each is a batch of
/// its own, and one waiting element back-pressures upstream.
#[tokio::test(start_paused = true)]
async fn batch_weighted_does_not_aggregate_heavy_elements() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch_weighted(3, |_| 4, |x| x, |a, b| a + b)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    assert_eq!(
        src.pending_demand(),
        0,
        "the waiting element holds upstream back"
    );
    sink.request(1);
    sink.expect_next(1).await;
    src.send_next(3).await;
    sink.expect_no_message(ms(500)).await;
    sink.request(2);
    sink.expect_next(2).await;
    sink.expect_next(3).await;
}

/// Light elements are aggregated up to `max` in total; the element that does not fit seeds
/// the next aggregate.
#[tokio::test(start_paused = true)]
async fn batch_weighted_aggregates_up_to_max_weight() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch_weighted(5, |x| u64::from(*x), |x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in [1, 2, 2, 3] {
        src.send_next(x).await;
    }
    settle().await;
    // 1 + 2 + 2 = 5 fills the first aggregate; 3 waits and holds upstream back.
    assert_eq!(
        src.pending_demand(),
        0,
        "the waiting element holds upstream back"
    );
    sink.request(1);
    sink.expect_next(vec![1, 2, 2]).await;
    src.send_next(1).await;
    src.send_complete();
    sink.request(2);
    sink.expect_next(vec![3, 1]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn batch_weighted_failure_overtakes_the_aggregate() {
    let (src, sink) = TestSource::<u32>::probe()
        .batch_weighted(10, |_| 1, |x| vec![x], push)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn batch_weighted_resume_drops_an_element_whose_cost_panics() {
    let out = Source::from_iter(vec![1u32, 2, 0, 3])
        .batch_weighted(
            100,
            |x| {
                assert!(*x != 0, "zero");
                1
            },
            |x| vec![x],
            push,
        )
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out.concat(), vec![1, 2, 3]);
}

//! Time-based operators, under tokio's paused time.

mod support;

use std::time::Duration;

use support::{is_boom, ms, settle, Boom};
use tokio::time::{advance, Instant};
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};

// ---------------------------------------------------------------------------------------------
// grouped_within
// ---------------------------------------------------------------------------------------------

fn grouped_within_rig(n: usize, within: Duration) -> (SourceProbe<u32>, SinkProbe<Vec<u32>>) {
    TestSource::<u32>::probe()
        .grouped_within(n, within)
        .to_mat(TestSink::probe(), Keep::both)
        .run()
}

#[tokio::test(start_paused = true)]
async fn grouped_within_closes_full_groups_at_once() {
    let out = Source::range(1u32, 10)
        .grouped_within(3, Duration::from_secs(60))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10]]
    );
}

#[tokio::test(start_paused = true)]
async fn grouped_within_closes_a_partial_group_when_the_window_ends() {
    let (src, sink) = grouped_within_rig(10, ms(100));
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    // Not before the window ends…
    sink.expect_no_message(ms(50)).await;
    // …and at its end (100 ms after the stage started).
    advance(ms(60)).await;
    sink.expect_next(vec![1, 2]).await;
    // A window with nothing in it emits nothing.
    sink.expect_no_message(ms(250)).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn grouped_within_times_a_lone_element_to_the_next_window_end() {
    let start = Instant::now();
    let (src, sink) = grouped_within_rig(10, ms(100));
    sink.request(10);
    settle().await;
    // Windows end at 100, 200, 300 ms…: an element at 150 ms closes its group at 200 ms, as
    // Akka's periodic timer does, not 100 ms after it arrived.
    advance(ms(150)).await;
    src.send_next(7).await;
    sink.expect_next(vec![7]).await;
    let at = start.elapsed();
    assert!(at >= ms(200) && at < ms(210), "emitted at {at:?}");
    // The next window starts at the emission.
    src.send_next(8).await;
    sink.expect_next(vec![8]).await;
    let at = start.elapsed();
    assert!(at >= ms(300) && at < ms(310), "emitted at {at:?}");
}

#[tokio::test(start_paused = true)]
async fn grouped_within_emits_the_last_group_at_completion() {
    let (src, sink) = grouped_within_rig(10, Duration::from_secs(60));
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_complete();
    sink.expect_next(vec![1, 2]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn grouped_within_fails_at_once_dropping_the_open_group() {
    let (src, sink) = grouped_within_rig(10, Duration::from_secs(60));
    sink.request(10);
    src.send_next(1).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn grouped_within_holds_full_groups_until_downstream_asks() {
    let (src, sink) = grouped_within_rig(2, ms(100));
    sink.request(1);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next(vec![1, 2]).await;
    // No demand: upstream is not pulled beyond one group, however long it waits.
    advance(ms(500)).await;
    settle().await;
    assert!(src.pending_demand() <= 2, "demand {}", src.pending_demand());
    sink.expect_no_message(ms(10)).await;
    sink.request(1);
    src.send_next(3).await;
    src.send_next(4).await;
    sink.expect_next(vec![3, 4]).await;
}

#[tokio::test(start_paused = true)]
async fn grouped_within_is_reusable_and_cancels_upstream() {
    let blueprint = Source::range(1u32, 5).grouped_within(2, ms(10));
    for _ in 0..2 {
        let out = blueprint.clone().run_with(Sink::seq()).await.unwrap();
        assert_eq!(out, vec![vec![1, 2], vec![3, 4], vec![5]]);
    }
    let (src, sink) = grouped_within_rig(2, ms(10));
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn grouped_within_accepts_an_endless_window() {
    let out = Source::range(1u32, 5)
        .grouped_within(2, Duration::MAX)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![vec![1, 2], vec![3, 4], vec![5]]);
}

// ---------------------------------------------------------------------------------------------
// take_within, idle_timeout, completion_timeout
// ---------------------------------------------------------------------------------------------

fn timed_rig(
    op: impl FnOnce(Source<u32, SourceProbe<u32>>) -> Source<u32, SourceProbe<u32>>,
) -> (SourceProbe<u32>, SinkProbe<u32>) {
    op(TestSource::<u32>::probe())
        .to_mat(TestSink::probe(), Keep::both)
        .run()
}

fn is_timeout(e: &StreamError, stage: &str, after: Duration) -> bool {
    matches!(e, StreamError::Timeout { stage: s, after: a } if *s == stage && *a == after)
}

#[tokio::test(start_paused = true)]
async fn take_within_completes_and_cancels_upstream_when_the_time_is_up() {
    let (src, sink) = timed_rig(|s| s.take_within(ms(100)));
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    advance(ms(60)).await;
    src.send_next(2).await;
    sink.expect_next(2).await;
    // Time is up at 100 ms, with nothing arriving.
    sink.expect_complete().await;
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_fails_only_after_a_gap_of_its_length() {
    let start = Instant::now();
    let (src, sink) = timed_rig(|s| s.idle_timeout(ms(100)));
    sink.request(10);
    // Elements 80 ms apart keep it alive.
    for i in 0..4 {
        advance(ms(80)).await;
        src.send_next(i).await;
        sink.expect_next(i).await;
    }
    let e = sink.expect_error().await;
    assert!(is_timeout(&e, "idle_timeout", ms(100)), "{e}");
    // 100 ms after the last element (at 320 ms).
    let at = start.elapsed();
    assert!(at >= ms(420) && at < ms(430), "failed at {at:?}");
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn completion_timeout_fails_a_stream_that_runs_too_long() {
    let (src, sink) = timed_rig(|s| s.completion_timeout(ms(100)));
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    advance(ms(50)).await;
    src.send_next(2).await;
    sink.expect_next(2).await;
    let e = sink.expect_error().await;
    assert!(is_timeout(&e, "completion_timeout", ms(100)), "{e}");
    src.expect_cancellation().await;
    // A stream that completes in time completes.
    let out = Source::range(1u32, 3)
        .completion_timeout(ms(100))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn timeouts_pass_upstream_failures_and_start_afresh_in_every_run() {
    let (src, sink) = timed_rig(|s| s.idle_timeout(ms(100)));
    sink.request(1);
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    let blueprint = Source::range(1u32, 3)
        .throttle(1, ms(40), 1)
        .take_within(ms(100));
    for _ in 0..2 {
        let out = blueprint.clone().run_with(Sink::seq()).await.unwrap();
        assert_eq!(out, vec![1, 2, 3], "each run has its own 100 ms");
    }
}

// ---------------------------------------------------------------------------------------------
// grouped_weighted_within (Pekko's FlowGroupedWithinSpec, the groupedWeightedWithin cases)
// ---------------------------------------------------------------------------------------------

/// "group by max weight and max number of elements reached".
#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_splits_by_weight_and_by_number() {
    let out = Source::from_iter(vec![1u64, 2, 3, 4, 5, 6, 11, 7, 2])
        .grouped_weighted_within(10, 3, Duration::from_secs(30), |x| *x)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![vec![1, 2, 3], vec![4, 5], vec![6], vec![11], vec![7, 2]]
    );
}

/// "not drop a pending last element on upstream finish".
#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_keeps_the_element_that_did_not_fit_at_completion() {
    let (src, sink) = TestSource::<u64>::probe()
        .grouped_weighted_within(5, usize::MAX, ms(50), |x| *x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    for x in [1, 2, 3] {
        src.send_next(x).await;
    }
    src.send_complete();
    sink.expect_next(vec![1, 2]).await;
    sink.expect_no_message(ms(100)).await;
    sink.request(1);
    sink.expect_next(vec![3]).await;
    sink.expect_complete().await;
}

/// "append zero weighted elements to a full group before timeout received": weightless
/// elements at hand join a group that is full by weight.
#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_appends_weightless_elements_to_a_full_group() {
    let (src, sink) = TestSource::<&'static str>::probe()
        .grouped_weighted_within(5, usize::MAX, ms(50), |s| s.len() as u64)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for s in ["333", "22", "", "", ""] {
        src.send_unrequested(s);
    }
    sink.request(1);
    sink.expect_next(vec!["333", "22", "", "", ""]).await;
    src.send_unrequested("");
    src.send_unrequested("");
    src.send_complete();
    sink.request(1);
    sink.expect_next(vec!["", ""]).await;
    sink.expect_complete().await;
}

/// "not emit an empty group if first element is heavier than maxWeight".
#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_emits_a_heavy_first_element_alone_at_once() {
    let (src, sink) = TestSource::<u64>::probe()
        .grouped_weighted_within(10, usize::MAX, ms(50), |x| *x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(11).await;
    sink.expect_next(vec![11]).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

/// "handle zero cost function to get only timed based grouping without limit".
#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_with_weightless_elements_groups_by_time() {
    let (src, sink) = TestSource::<&'static str>::probe()
        .grouped_weighted_within(1, usize::MAX, ms(100), |_| 0)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    for s in ["333", "22", "333", "22"] {
        src.send_next(s).await;
    }
    sink.expect_no_message(ms(50)).await;
    sink.expect_next(vec!["333", "22", "333", "22"]).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

/// The supervision cases: Resume drops the element whose cost panics and keeps the group;
/// Restart drops the group too.
#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_resume_and_restart_on_a_panicking_cost() {
    let cost = |x: &u64| {
        assert!(*x != 0, "zero");
        *x
    };
    let run = |decider| {
        Source::from_iter(vec![1u64, 2, 0, 3, 4])
            .grouped_weighted_within(100, 3, Duration::from_secs(30), cost)
            .with_attributes(weir::Attributes::supervision(decider))
            .run_with(Sink::seq())
    };
    let resumed = run(weir::Decider::resuming()).await.unwrap();
    assert_eq!(resumed, vec![vec![1, 2, 3], vec![4]]);
    let restarted = run(weir::Decider::restarting()).await.unwrap();
    assert_eq!(restarted, vec![vec![3, 4]]);
    let stopped = Source::from_iter(vec![1u64, 0])
        .grouped_weighted_within(100, 3, Duration::from_secs(30), cost)
        .run_with(Sink::seq())
        .await;
    assert!(matches!(stopped, Err(StreamError::Panicked { .. })));
}

#[tokio::test(start_paused = true)]
async fn grouped_weighted_within_failure_drops_the_open_group() {
    let (src, sink) = TestSource::<u64>::probe()
        .grouped_weighted_within(100, 10, Duration::from_secs(30), |x| *x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// drop_within
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn drop_within_drops_what_arrives_before_the_deadline_and_passes_the_rest() {
    let (src, sink) = TestSource::<u32>::probe()
        .drop_within(ms(100))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    advance(ms(60)).await;
    src.send_next(3).await;
    sink.expect_no_message(ms(30)).await;
    advance(ms(20)).await;
    src.send_next(4).await;
    src.send_next(5).await;
    sink.expect_next_n([4, 5]).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn drop_within_fails_and_completes_with_upstream_while_dropping() {
    let (src, sink) = TestSource::<u32>::probe()
        .drop_within(ms(1000))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));

    let out = Source::range(1, 5)
        .drop_within(ms(1000))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------------
// backpressure_timeout
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn backpressure_timeout_fails_when_downstream_stalls_after_an_element() {
    let (src, sink) = TestSource::<u32>::probe()
        .backpressure_timeout(ms(100))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    // Time before the first element does not count.
    sink.request(1);
    advance(ms(500)).await;
    src.send_next(1).await;
    sink.expect_next(1).await;
    // Asked again within the timeout: fine.
    advance(ms(90)).await;
    sink.request(1);
    src.send_next(2).await;
    sink.expect_next(2).await;
    // Now downstream waits too long.
    advance(ms(150)).await;
    sink.request(1);
    assert!(matches!(
        sink.expect_error().await,
        StreamError::Timeout {
            stage: "backpressure_timeout",
            ..
        }
    ));
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn backpressure_timeout_reaches_a_waiting_map_async_without_a_pull() {
    let start = Instant::now();
    let e = Source::from_iter(0u32..)
        .backpressure_timeout(ms(100))
        .map_async(1, |x| async move {
            tokio::time::sleep(if x == 2 { ms(10_000) } else { ms(0) }).await;
            x
        })
        .run_with(Sink::ignore())
        .await
        .unwrap_err();
    assert!(matches!(e, StreamError::Timeout { .. }), "{e:?}");
    assert!(
        start.elapsed() < ms(1000),
        "failed at once, not after the slow future"
    );
}

#[tokio::test(start_paused = true)]
async fn backpressure_timeout_lets_a_prompt_consumer_through() {
    let out = Source::range(1, 100)
        .backpressure_timeout(ms(1))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, (1..=100).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// delay, delay_with
// ---------------------------------------------------------------------------------------------

use weir::{Attributes, DelayOverflowStrategy};

#[tokio::test(start_paused = true)]
async fn delay_times_each_element_from_its_arrival_and_keeps_order() {
    let start = Instant::now();
    let (src, sink) = TestSource::<u32>::probe()
        .delay(ms(100), DelayOverflowStrategy::BackPressure)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    settle().await;
    advance(ms(29)).await;
    src.send_next(2).await;
    settle().await;
    sink.expect_next(1).await;
    assert_eq!(start.elapsed(), ms(100));
    sink.expect_next(2).await;
    assert_eq!(start.elapsed(), ms(130));
    src.send_complete();
    sink.expect_complete().await;
}

async fn delayed_three(strategy: DelayOverflowStrategy) -> Result<Vec<u32>, StreamError> {
    Source::from_iter(vec![1u32, 2, 3])
        .delay(ms(1000), strategy)
        .with_attributes(Attributes::input_buffer(2))
        .run_with(Sink::seq())
        .await
}

#[tokio::test(start_paused = true)]
async fn delay_overflow_strategies_drop_or_fail_as_named() {
    assert_eq!(
        delayed_three(DelayOverflowStrategy::DropHead)
            .await
            .unwrap(),
        vec![2, 3]
    );
    assert_eq!(
        delayed_three(DelayOverflowStrategy::DropTail)
            .await
            .unwrap(),
        vec![1, 3]
    );
    assert_eq!(
        delayed_three(DelayOverflowStrategy::DropBuffer)
            .await
            .unwrap(),
        vec![3]
    );
    assert_eq!(
        delayed_three(DelayOverflowStrategy::DropNew).await.unwrap(),
        vec![1, 2]
    );
    assert!(matches!(
        delayed_three(DelayOverflowStrategy::Fail).await,
        Err(StreamError::BufferOverflow { size: 2 })
    ));
    let start = Instant::now();
    assert_eq!(
        delayed_three(DelayOverflowStrategy::BackPressure)
            .await
            .unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        start.elapsed(),
        ms(2000),
        "the third waited for room, then its own second"
    );
}

#[tokio::test(start_paused = true)]
async fn delay_emit_early_lets_the_oldest_go_to_make_room() {
    let start = Instant::now();
    let (src, sink) = TestSource::<u32>::probe()
        .delay(ms(1000), DelayOverflowStrategy::EmitEarly)
        .with_attributes(Attributes::input_buffer(2))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    // Two fit; the third's arrival sends the oldest out early.
    src.send_next(3).await;
    sink.expect_next(1).await;
    assert!(start.elapsed() < ms(1000), "emitted early");
    sink.expect_next(2).await;
    assert_eq!(start.elapsed(), ms(1000));
    sink.expect_next(3).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn delay_failure_overtakes_the_held_elements() {
    let (src, sink) = TestSource::<u32>::probe()
        .delay(ms(1000), DelayOverflowStrategy::BackPressure)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    src.send_next(1).await;
    settle().await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn delay_with_asks_each_element_for_its_delay_and_supervises_the_function() {
    let start = Instant::now();
    let out = Source::from_iter(vec![300u64, 100, 200])
        .delay_with(|| |x: &u64| ms(*x), DelayOverflowStrategy::BackPressure)
        .map(move |x| (x, start.elapsed()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    // In order: the 100 ms element waits behind the 300 ms one.
    assert_eq!(out, vec![(300, ms(300)), (100, ms(300)), (200, ms(300))]);

    let out = Source::from_iter(vec![1u64, 2, 3])
        .delay_with(
            || {
                |x: &u64| {
                    if *x == 2 {
                        panic!("no delay for 2")
                    } else {
                        ms(*x)
                    }
                }
            },
            DelayOverflowStrategy::BackPressure,
        )
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 3]);
}

// ---------------------------------------------------------------------------------------------
// throttle_with: costs and the enforcing mode
// ---------------------------------------------------------------------------------------------

/// When each element of `costs` passes a `throttle_with(cost, per, burst)` in shaping mode, in
/// milliseconds from the start.
async fn shaped_times(costs: Vec<u32>, cost: u32, per: Duration, burst: u32) -> Vec<u128> {
    let start = Instant::now();
    Source::from_iter(costs)
        .throttle_with(cost, per, burst, |c: &u32| *c, weir::ThrottleMode::Shaping)
        .map(move |_| start.elapsed().as_millis())
        .run_with(Sink::seq())
        .await
        .unwrap()
}

/// Probes around a `throttle_with` whose elements cost their own value.
fn throttle_rig(
    cost: u32,
    per: Duration,
    burst: u32,
    mode: weir::ThrottleMode,
) -> (SourceProbe<u32>, SinkProbe<u32>) {
    TestSource::<u32>::probe()
        .throttle_with(cost, per, burst, |c: &u32| *c, mode)
        .to_mat(TestSink::probe(), Keep::both)
        .run()
}

#[tokio::test(start_paused = true)]
async fn throttle_with_lets_a_burst_through_and_then_paces_by_cost() {
    // 10 units a second (a token every 100 ms), bursts of 3: three unit elements at once, then
    // one every 100 ms.
    assert_eq!(
        shaped_times(vec![1; 6], 10, ms(1000), 3).await,
        vec![0, 0, 0, 100, 200, 300]
    );
    // Costs 2 and 3 with a bucket of 4: 2 passes, 3 waits for the one token missing.
    assert_eq!(
        shaped_times(vec![2, 3, 1], 10, ms(1000), 4).await,
        vec![0, 100, 200]
    );
}

#[tokio::test(start_paused = true)]
async fn throttle_with_lets_an_element_cost_more_than_the_burst() {
    // A bucket of 1, an element costing 5: it waits for 4 tokens, leaving the bucket empty.
    assert_eq!(
        shaped_times(vec![5, 1], 10, ms(1000), 1).await,
        vec![400, 500]
    );
    // Weightless elements pass at once even with an empty bucket.
    assert_eq!(
        shaped_times(vec![1, 0, 0, 1], 10, ms(1000), 1).await,
        vec![0, 0, 0, 100]
    );
}

#[tokio::test(start_paused = true)]
async fn throttle_with_refills_while_idle_but_not_past_the_burst() {
    let (src, sink) = throttle_rig(10, ms(1000), 2, weir::ThrottleMode::Shaping);
    sink.request(10);
    src.send_next(2).await;
    sink.expect_next(2).await;
    // A long pause refills the bucket to 2, no more.
    advance(ms(5_000)).await;
    let start = Instant::now();
    for c in [1, 1, 1] {
        src.send_next(c).await;
    }
    for c in [1, 1, 1] {
        sink.expect_next(c).await;
    }
    assert_eq!(start.elapsed(), ms(100));
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn throttle_with_back_pressures_and_completes_after_the_waiting_element() {
    let (src, sink) = throttle_rig(1, ms(1000), 1, weir::ThrottleMode::Shaping);
    sink.request(5);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_next(1).await;
    // Held back for its token: nothing more is asked of upstream meanwhile.
    settle().await;
    assert_eq!(src.pending_demand(), 0);
    src.send_complete();
    sink.expect_no_message(ms(900)).await;
    advance(ms(100)).await;
    sink.expect_next(1).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn throttle_with_enforcing_fails_on_an_element_over_the_rate() {
    let (src, sink) = throttle_rig(10, ms(1000), 2, weir::ThrottleMode::Enforcing);
    sink.request(10);
    src.send_next(1).await;
    src.send_next(1).await;
    sink.expect_next_n([1, 1]).await;
    // A token comes back after 100 ms: in time.
    advance(ms(100)).await;
    src.send_next(1).await;
    sink.expect_next(1).await;
    // The next comes too soon.
    src.send_next(1).await;
    assert!(matches!(
        sink.expect_error().await,
        StreamError::RateExceeded { cost: 10, per } if per == ms(1000)
    ));
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn throttle_with_reports_bad_arguments_as_a_typed_failure() {
    use weir::ThrottleMode::{Enforcing, Shaping};
    for (cost, per, burst, mode) in [
        (0, ms(1000), 1, Shaping),
        (1, Duration::ZERO, 1, Shaping),
        (1, ms(1000), 0, Enforcing),
    ] {
        let e = Source::single(1u32)
            .throttle_with(cost, per, burst, |_: &u32| 1, mode)
            .run_with(Sink::seq())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                StreamError::InvalidArgument {
                    stage: "throttle_with",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    // A burst of 0 while shaping is fine: every element waits for its whole cost.
    assert_eq!(
        shaped_times(vec![1, 1], 10, ms(1000), 0).await,
        vec![100, 200]
    );
}

#[tokio::test(start_paused = true)]
async fn throttle_with_supervises_the_cost_function_and_passes_failures() {
    let cost = |x: &u32| {
        assert!(*x != 0, "zero");
        1
    };
    let run = |decider| {
        Source::from_iter(vec![1u32, 0, 2])
            .throttle_with(100, ms(1000), 10, cost, weir::ThrottleMode::Shaping)
            .with_attributes(weir::Attributes::supervision(decider))
            .run_with(Sink::seq())
    };
    assert_eq!(run(weir::Decider::resuming()).await.unwrap(), vec![1, 2]);
    assert_eq!(run(weir::Decider::restarting()).await.unwrap(), vec![1, 2]);
    let stopped = Source::from_iter(vec![1u32, 0])
        .throttle_with(100, ms(1000), 10, cost, weir::ThrottleMode::Shaping)
        .run_with(Sink::seq())
        .await;
    assert!(matches!(stopped, Err(StreamError::Panicked { .. })));
    let failed = Source::single(1u32)
        .concat(Source::failed(StreamError::failed(Boom)))
        .throttle_with(1, ms(1000), 1, |_: &u32| 1, weir::ThrottleMode::Shaping)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&failed));
}

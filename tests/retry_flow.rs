//! RetryFlow::with_backoff: which elements are retried, when (on the paused clock), what is
//! emitted, and the stage's completion, failure and back pressure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir::prelude::*;
use weir::testkit::TestSink;
use weir::RetryFlow;

const MS: Duration = Duration::from_millis(1);

/// A flow that records when each attempt ran and fails (`Err`) until `ok_after` attempts.
fn flaky(
    log: &Arc<Mutex<Vec<(u32, Duration)>>>,
    start: Instant,
    ok_after: u32,
) -> Flow<(u32, u32), Result<u32, u32>> {
    let log = log.clone();
    Flow::<(u32, u32)>::new().map(move |(x, attempt)| {
        log.lock().unwrap().push((x, start.elapsed()));
        if attempt >= ok_after {
            Ok(x)
        } else {
            Err(attempt)
        }
    })
}

fn bump(input: &(u32, u32), out: &Result<u32, u32>) -> Option<(u32, u32)> {
    out.is_err().then_some((input.0, input.1 + 1))
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_min_to_max_and_the_last_output_is_emitted() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let retrying =
        RetryFlow::with_backoff(100 * MS, 500 * MS, 0.0, 4, flaky(&log, start, 99), bump);
    let out = Source::single((7, 0))
        .via(retrying)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![Err(4)],
        "gave up after 4 retries with the last output"
    );
    let times: Vec<Duration> = log.lock().unwrap().iter().map(|(_, t)| *t).collect();
    // Delays 100, 200, 400, then capped at 500.
    assert_eq!(
        times,
        vec![Duration::ZERO, 100 * MS, 300 * MS, 700 * MS, 1200 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn each_element_is_retried_on_its_own_count_and_order_is_kept() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let retrying = RetryFlow::with_backoff(10 * MS, 1000 * MS, 0.0, 5, flaky(&log, start, 2), bump);
    let out = Source::from_iter(vec![(1, 0), (2, 2), (3, 1)])
        .via(retrying)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![Ok(1), Ok(2), Ok(3)]);
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![
            (1, Duration::ZERO),
            (1, 10 * MS),
            (1, 30 * MS),
            (2, 30 * MS),
            (3, 30 * MS),
            (3, 40 * MS),
        ],
        "element 1 retried twice (10, 20 ms), 2 at once, 3 once with a fresh count (10 ms)"
    );
}

#[tokio::test(start_paused = true)]
async fn one_element_at_a_time_is_in_the_flow() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let log = Arc::new(Mutex::new(Vec::new()));
    let retrying = RetryFlow::with_backoff(
        1000 * MS,
        1000 * MS,
        0.0,
        3,
        flaky(&log, Instant::now(), 1),
        bump,
    );
    let probe = Source::from_iter(0u32..)
        .map(move |x| {
            p.fetch_add(1, Ordering::SeqCst);
            (x, 0)
        })
        .via(retrying)
        .run_with(TestSink::probe());
    probe.request(1);
    tokio::time::sleep(500 * MS).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        1,
        "nothing pulled during the backoff"
    );
    assert_eq!(probe.expect_next_element().await, Ok(0));
    probe.expect_no_message(3000 * MS).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        1,
        "nothing pulled without demand"
    );
    probe.cancel();
}

#[tokio::test(start_paused = true)]
async fn upstream_completion_waits_for_the_element_being_retried() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let retrying = RetryFlow::with_backoff(
        50 * MS,
        50 * MS,
        0.0,
        3,
        flaky(&log, Instant::now(), 3),
        bump,
    );
    let probe = Source::single((5, 0))
        .via(retrying)
        .run_with(TestSink::probe());
    probe.request(5);
    assert_eq!(probe.expect_next_element().await, Ok(5));
    probe.expect_complete().await;
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_failing_flow_or_decider_fails_the_stage() {
    let failing = Flow::<u32>::new().map(|x| if x == 2 { panic!("boom") } else { x });
    let retrying = RetryFlow::with_backoff(MS, MS, 0.0, 3, failing, |_: &u32, _: &u32| None);
    let out = Source::range(1, 3)
        .via(retrying)
        .run_with(Sink::seq())
        .await;
    assert!(matches!(out, Err(StreamError::Panicked { .. })), "{out:?}");

    let decider = |_: &u32, out: &u32| -> Option<u32> {
        assert!(*out < 2, "bad decider");
        None
    };
    let retrying = RetryFlow::with_backoff(MS, MS, 0.0, 3, Flow::<u32>::new(), decider);
    let out = Source::range(1, 3)
        .via(retrying)
        .run_with(Sink::seq())
        .await;
    assert!(matches!(out, Err(StreamError::Panicked { .. })), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn the_flows_materialized_value_is_kept() {
    let inner = Flow::<u32>::new().watch_termination();
    let retrying = RetryFlow::with_backoff(MS, MS, 0.0, 1, inner, |_: &u32, _: &u32| None);
    let (done, out) = Source::range(1, 3)
        .via_mat(retrying, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    assert!(done.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_random_factor_stretches_each_backoff_by_at_most_that_much() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let retrying =
        RetryFlow::with_backoff(100 * MS, 100 * MS, 0.5, 3, flaky(&log, start, 99), bump);
    Source::single((1, 0))
        .via(retrying)
        .run_with(Sink::ignore())
        .await
        .unwrap();
    let times: Vec<Duration> = log.lock().unwrap().iter().map(|(_, t)| *t).collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= 100 * MS && gap <= 150 * MS, "gap {gap:?}");
    }
}

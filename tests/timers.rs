//! The timer operators `Source::tick`, `initial_timeout`, `initial_delay` and `keep_alive`,
//! on tokio's paused clock: exact emission times, completion, failure and cancellation.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{is_boom, ms, Boom};
use tokio::time::Instant;
use weir::prelude::*;
use weir::testkit::*;

/// Elements with the time since `start` they reached the sink.
fn timed<T: Send + 'static>(start: Instant) -> (Sink<T, Completion>, Seen<T>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let sink = Sink::foreach(move |x| {
        let at = start.elapsed().as_millis() as u64;
        s.lock().unwrap().push((at, x));
    });
    (sink, seen)
}

type Completion = weir::Completion<()>;

/// What a `timed` sink saw: (milliseconds since the start, element).
type Seen<T> = Arc<Mutex<Vec<(u64, T)>>>;

#[tokio::test(start_paused = true)]
async fn tick_emits_after_the_initial_delay_then_every_interval_until_cancelled() {
    let start = Instant::now();
    let (sink, seen) = timed(start);
    let (ticks, done) = Source::tick(ms(300), ms(100), 'x')
        .to_mat(sink, Keep::both)
        .run();
    tokio::time::sleep(ms(650)).await;
    assert!(ticks.cancel());
    assert!(!ticks.cancel(), "the first cancel wins");
    done.await.unwrap();
    let at: Vec<u64> = seen.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![300, 400, 500, 600]);
}

#[tokio::test(start_paused = true)]
async fn ticks_without_demand_are_dropped_not_bursted() {
    let (ticks, probe) = Source::tick(ms(0), ms(100), 1u32)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    probe.request(1);
    probe.expect_next(1).await;
    // No demand for 1 s: ten ticks pass unseen.
    tokio::time::sleep(ms(1050)).await;
    let asked = Instant::now();
    probe.request(3);
    probe.expect_next_n([1, 1, 1]).await;
    // One each at the next ticks (1100, 1200, 1300 ms), not three at once.
    assert_eq!(asked.elapsed(), ms(250));
    ticks.cancel();
    probe.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn initial_timeout_fails_without_a_first_element_and_never_after_one() {
    let e = Source::<u32>::never()
        .initial_timeout(ms(500))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StreamError::Timeout { stage: "initial_timeout", after } if after == ms(500))
    );

    // The first element at 400 ms; then a pause of 2 s is fine.
    let slow = Source::from_iter([400u64, 2000, 10])
        .map_async(1, |d| async move {
            tokio::time::sleep(ms(d)).await;
            d
        })
        .initial_timeout(ms(500))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(slow, vec![400, 2000, 10]);

    let late = Source::single(600u64)
        .map_async(1, |d| async move {
            tokio::time::sleep(ms(d)).await;
            d
        })
        .initial_timeout(ms(500))
        .run_with(Sink::seq())
        .await;
    assert!(late.is_err());
}

#[tokio::test(start_paused = true)]
async fn initial_delay_holds_back_upstream_and_lets_a_failure_through_at_once() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let start = Instant::now();
    let (sink, seen) = timed(start);
    let done = Source::from_iter(1..=3u32)
        .map(move |x| {
            p.fetch_add(1, Ordering::SeqCst);
            x
        })
        .initial_delay(ms(200))
        .run_with(sink);
    tokio::time::sleep(ms(199)).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        0,
        "nothing pulled during the delay"
    );
    done.await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(200, 1), (200, 2), (200, 3)]);

    let failed = Source::<u32>::failed(StreamError::failed(Boom))
        .initial_delay(ms(10_000))
        .run_with(Sink::seq());
    let started = Instant::now();
    assert!(is_boom(&failed.await.unwrap_err()));
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_fills_silences_from_the_last_element_and_completes_with_upstream() {
    let start = Instant::now();
    let (sink, seen) = timed(start);
    // Upstream: 1 at 250 ms, 2 at 300 ms, then completes at 700 ms.
    let up = Source::from_iter([(250u64, 1u32), (50, 2), (400, 0)])
        .map_async(1, |(d, x)| async move {
            tokio::time::sleep(ms(d)).await;
            x
        })
        .filter(|&x| x != 0);
    up.keep_alive(ms(100), || 99).run_with(sink).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (100, 99),
            (200, 99),
            (250, 1),
            (300, 2),
            (400, 99),
            (500, 99),
            (600, 99),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn keep_alive_passes_upstream_failure_and_cancellation() {
    let e = Source::<u32>::failed(StreamError::failed(Boom))
        .keep_alive(ms(100), || 1)
        .run_with(Sink::seq())
        .await;
    assert!(is_boom(&e.unwrap_err()));
    // take(2) cancels: the heartbeats stop and the stream completes.
    let out = Source::<u32>::never()
        .keep_alive(ms(100), || 7)
        .take(2)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![7, 7]);
}

#[tokio::test]
async fn count_counts() {
    assert_eq!(
        Source::range(1u32, 1000)
            .run_with(Sink::count())
            .await
            .unwrap(),
        1000
    );
    assert_eq!(
        Source::<u8>::empty().run_with(Sink::count()).await.unwrap(),
        0
    );
}

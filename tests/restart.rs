//! `RestartSource`, `RestartFlow`, `RestartSink` and their backoff, on tokio's paused clock.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{is_boom, ms, settle, Boom};
use tokio::time::Instant;
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::{RestartFlow, RestartSettings, RestartSink, RestartSource};

fn boom() -> StreamError {
    StreamError::failed(Boom)
}

fn settings(min: u64, max: u64) -> RestartSettings {
    RestartSettings::new(ms(min), ms(max), 0.0)
}

/// When each run of a restarted stream started, in milliseconds since `start`.
#[derive(Clone)]
struct Starts {
    start: Instant,
    at: Arc<Mutex<Vec<u64>>>,
}

impl Starts {
    fn new() -> Self {
        Starts {
            start: Instant::now(),
            at: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Records a start; returns its number (from 0).
    fn record(&self) -> u32 {
        let mut at = self.at.lock().unwrap();
        at.push(self.start.elapsed().as_millis() as u64);
        at.len() as u32 - 1
    }

    fn get(&self) -> Vec<u64> {
        self.at.lock().unwrap().clone()
    }
}

/// A source whose every run emits its number and then fails.
fn failing_runs(starts: &Starts) -> impl Fn() -> Source<u32> + Send + Sync + 'static {
    let starts = starts.clone();
    move || Source::single(starts.record()).concat(Source::failed(boom()))
}

/// The first `n` elements of `source`.
async fn first(n: u64, source: Source<u32>) -> Vec<u32> {
    source.take(n).run_with(Sink::seq()).await.unwrap()
}

/// A run that emits `run` at once and fails `life` later. (A `concat` of `Source::failed`
/// would fail at once: as in Akka, concat's second input may fail before the first is done.)
fn failing_after(run: u32, life: Duration) -> Source<u32> {
    Source::single(Some(run))
        .concat(Source::future(async move {
            tokio::time::sleep(life).await;
            None
        }))
        .try_map(|x| x.ok_or(Boom))
}

// ---------------------------------------------------------------------------------------------
// The backoff sequence
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_min_up_to_max() {
    let starts = Starts::new();
    let out = first(
        8,
        RestartSource::with_backoff(settings(100, 1000), failing_runs(&starts)),
    )
    .await;
    assert_eq!(out, (0..8).collect::<Vec<_>>());
    // Gaps of 100, 200, 400, 800, then capped at 1000.
    assert_eq!(starts.get(), vec![0, 100, 300, 700, 1500, 2500, 3500, 4500]);
}

#[tokio::test(start_paused = true)]
async fn completion_restarts_with_the_same_backoff() {
    let starts = Starts::new();
    let s = starts.clone();
    let out = first(
        4,
        RestartSource::with_backoff(settings(50, 1000), move || Source::single(s.record())),
    )
    .await;
    assert_eq!(out, vec![0, 1, 2, 3]);
    assert_eq!(starts.get(), vec![0, 50, 150, 350]);
}

#[tokio::test(start_paused = true)]
async fn the_count_resets_after_a_run_longer_than_max_restarts_within() {
    let starts = Starts::new();
    let s = starts.clone();
    // Runs 0, 1, 2 fail at once; run 3 runs 1.5 s before failing; the rest fail at once.
    let factory = move || {
        let run = s.record();
        let life = if run == 3 { ms(1500) } else { Duration::ZERO };
        failing_after(run, life)
    };
    let settings = settings(100, 10_000).with_max_restarts(100, Duration::from_secs(1));
    let out = first(6, RestartSource::with_backoff(settings, factory)).await;
    assert_eq!(out, (0..6).collect::<Vec<_>>());
    // 0 →100→ 100 →200→ 300 →400→ 700; run 3 fails at 2200, over 1 s after it started, so the
    // count starts again: →100→ 2300 →200→ 2500.
    assert_eq!(starts.get(), vec![0, 100, 300, 700, 2300, 2500]);
}

#[tokio::test(start_paused = true)]
async fn by_default_the_count_resets_after_min_backoff_of_running() {
    let starts = Starts::new();
    let s = starts.clone();
    // Every run lives 150 ms: longer than min_backoff (100 ms), Akka's default window.
    let factory = move || {
        let run = s.record();
        failing_after(run, ms(150))
    };
    let out = first(
        4,
        RestartSource::with_backoff(settings(100, 10_000), factory),
    )
    .await;
    assert_eq!(out, vec![0, 1, 2, 3]);
    assert_eq!(starts.get(), vec![0, 250, 500, 750]);
}

#[tokio::test(start_paused = true)]
async fn random_factor_stretches_each_backoff_within_bounds() {
    let starts = Starts::new();
    let settings = RestartSettings::new(ms(100), ms(1000), 0.5);
    let _ = RestartSource::with_backoff(settings, failing_runs(&starts))
        .take(4)
        .run_with(Sink::seq())
        .await
        .unwrap();
    let at = starts.get();
    let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, base) in gaps.iter().zip([100u64, 200, 400]) {
        assert!(
            *gap >= base && *gap <= base + base / 2,
            "gap {gap} outside {base}..={}",
            base + base / 2
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Limits and predicates
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn max_restarts_passes_the_last_failure_through() {
    let starts = Starts::new();
    let settings = settings(10, 100).with_max_restarts(3, Duration::from_secs(60));
    let sink =
        RestartSource::with_backoff(settings, failing_runs(&starts)).run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([0, 1, 2, 3]).await;
    assert!(is_boom(&sink.expect_error().await));
    assert_eq!(starts.get().len(), 4, "one run and three restarts");
}

/// Runs a restart source of failing runs under `settings` and checks that its one run's
/// failure passed through, with no restart.
async fn assert_no_restart(settings: RestartSettings) {
    let starts = Starts::new();
    let out = RestartSource::with_backoff(settings, failing_runs(&starts))
        .run_with(Sink::seq())
        .await;
    assert!(is_boom(&out.unwrap_err()));
    assert_eq!(starts.get(), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn max_restarts_zero_never_restarts() {
    assert_no_restart(settings(10, 100).with_max_restarts(0, Duration::from_secs(60))).await;
}

#[tokio::test(start_paused = true)]
async fn restart_on_false_passes_the_failure_through() {
    assert_no_restart(settings(10, 100).with_restart_on(|e| !e.to_string().contains("boom"))).await;
}

#[tokio::test(start_paused = true)]
async fn on_failures_with_backoff_completes_with_the_first_completing_run() {
    let starts = Starts::new();
    let s = starts.clone();
    let factory = move || {
        let run = s.record();
        let tail = if run < 2 {
            Source::failed(boom())
        } else {
            Source::empty()
        };
        Source::single(run).concat(tail)
    };
    let out = RestartSource::on_failures_with_backoff(settings(100, 1000), factory)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 2]);
    assert_eq!(starts.get(), vec![0, 100, 300]);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_factory_counts_as_a_failed_run() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let factory = move || {
        if r.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("factory");
        }
        Source::single(7u32)
    };
    let out = RestartSource::on_failures_with_backoff(settings(10, 100), factory)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![7]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_restart_source_cancels_the_running_source() {
    let (src, probe) = TestSource::<u32>::probe().pre_materialize();
    let slot = Arc::new(Mutex::new(Some(probe)));
    let factory = move || {
        slot.lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| Source::failed(StreamError::AbruptTermination))
    };
    let sink = RestartSource::with_backoff(settings(10, 100), factory).run_with(TestSink::probe());
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_backoff_stops_further_restarts() {
    let starts = Starts::new();
    let sink = RestartSource::with_backoff(settings(1000, 1000), failing_runs(&starts))
        .run_with(TestSink::probe());
    sink.request(1);
    sink.expect_next(0).await;
    settle().await;
    sink.cancel();
    tokio::time::sleep(ms(5000)).await;
    assert_eq!(starts.get(), vec![0]);
}

// ---------------------------------------------------------------------------------------------
// RestartFlow
// ---------------------------------------------------------------------------------------------

/// A flow that fails on the element `bad`, counting its materializations.
fn failing_on(bad: u32, runs: &Arc<AtomicU32>) -> impl Fn() -> Flow<u32, u32> + Send + Sync {
    let runs = runs.clone();
    move || {
        runs.fetch_add(1, Ordering::SeqCst);
        Flow::<u32>::new().try_map(move |x| if x == bad { Err(Boom) } else { Ok(x) })
    }
}

#[tokio::test(start_paused = true)]
async fn restart_flow_continues_with_the_rest_of_the_input_after_a_failure() {
    let runs = Arc::new(AtomicU32::new(0));
    let flow = RestartFlow::with_backoff(settings(100, 1000), failing_on(3, &runs));
    let start = Instant::now();
    let out = Source::range(1u32, 6)
        .via(flow)
        .run_with(Sink::seq())
        .await
        .unwrap();
    // The element the failed flow took is lost, as in Akka.
    assert_eq!(out, vec![1, 2, 4, 5, 6]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn restart_flow_completes_when_its_input_completes() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let flow = RestartFlow::with_backoff(settings(100, 1000), move || {
        r.fetch_add(1, Ordering::SeqCst);
        Flow::<u32>::new().map(|x| x + 1)
    });
    let out = Source::range(1u32, 3)
        .via(flow)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 3, 4]);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "no restart after the input completed"
    );
}

#[tokio::test(start_paused = true)]
async fn restart_flow_fails_when_its_input_fails() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let flow = RestartFlow::with_backoff(settings(100, 1000), move || {
        r.fetch_add(1, Ordering::SeqCst);
        Flow::<u32>::new()
    });
    let out = Source::single(1u32)
        .concat(Source::failed(boom()))
        .via(flow)
        .run_with(Sink::seq())
        .await;
    assert!(is_boom(&out.unwrap_err()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn restart_flow_ends_when_the_input_ends_during_a_backoff() {
    let runs = Arc::new(AtomicU32::new(0));
    let flow = RestartFlow::with_backoff(settings(1000, 1000), failing_on(1, &runs));
    let (src, sink) = TestSource::<u32>::probe()
        .via(flow)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    settle().await;
    // In the backoff now.
    src.send_complete();
    sink.expect_complete().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn restart_flow_on_failures_does_not_restart_a_completed_flow() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let flow = RestartFlow::on_failures_with_backoff(settings(10, 100), move || {
        r.fetch_add(1, Ordering::SeqCst);
        Flow::<u32>::new().take(2)
    });
    let (src, sink) = TestSource::<u32>::probe()
        .via(flow)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([1, 2]).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn restart_flow_backs_off_exactly() {
    let runs = Arc::new(AtomicU32::new(0));
    let starts = Starts::new();
    let s = starts.clone();
    let r = runs.clone();
    // Every flow fails on its first element.
    let flow = RestartFlow::with_backoff(settings(100, 250), move || {
        s.record();
        r.fetch_add(1, Ordering::SeqCst);
        Flow::<u32>::new().try_map(|_| Err::<u32, _>(Boom))
    });
    let out = Source::range(1u32, 4).via(flow).run_with(Sink::seq()).await;
    // The fourth flow failed on the last element, which came with the input's completion: once
    // the input has ended, a flow's failure is the stream's.
    assert!(is_boom(&out.unwrap_err()));
    // Gaps of 100, 200, then capped at 250.
    assert_eq!(starts.get(), vec![0, 100, 300, 550]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_restart_flow_cancels_its_input() {
    let runs = Arc::new(AtomicU32::new(0));
    let flow = RestartFlow::with_backoff(settings(10, 100), failing_on(99, &runs));
    let (src, sink) = TestSource::<u32>::probe()
        .via(flow)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    src.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// RestartSink
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn restart_sink_feeds_a_new_sink_after_each_cancellation() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let starts = Starts::new();
    let (s, st) = (seen.clone(), starts.clone());
    let sink = RestartSink::with_backoff(settings(100, 1000), move || {
        let run = st.record();
        let s = s.clone();
        Flow::<u32>::new()
            .take(2)
            .to(Sink::foreach(move |x| s.lock().unwrap().push((run, x))))
    });
    let done = Source::range(1u32, 5).watch_termination().to(sink).run();
    done.await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, 1), (0, 2), (1, 3), (1, 4), (2, 5)]
    );
    assert_eq!(starts.get(), vec![0, 100, 300]);
}

#[tokio::test(start_paused = true)]
async fn restart_sink_gives_up_and_cancels_its_input_after_max_restarts() {
    let starts = Starts::new();
    let st = starts.clone();
    let settings = settings(10, 100).with_max_restarts(2, Duration::from_secs(60));
    let sink = RestartSink::with_backoff(settings, move || {
        st.record();
        Sink::<u32>::cancelled()
    });
    let (src, ()) = TestSource::<u32>::probe().to_mat(sink, Keep::both).run();
    src.expect_cancellation().await;
    assert_eq!(starts.get(), vec![0, 10, 30]);
}

#[tokio::test(start_paused = true)]
async fn restart_sink_does_not_restart_after_its_input_completed() {
    let starts = Starts::new();
    let st = starts.clone();
    let total = Arc::new(AtomicU32::new(0));
    let t = total.clone();
    let sink = RestartSink::with_backoff(settings(10, 100), move || {
        st.record();
        let t = t.clone();
        Sink::foreach(move |x: u32| {
            t.fetch_add(x, Ordering::SeqCst);
        })
    });
    Source::range(1u32, 4).run_with(sink);
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(total.load(Ordering::SeqCst), 10);
    assert_eq!(starts.get(), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn restart_sink_ends_when_the_input_ends_during_a_backoff() {
    let starts = Starts::new();
    let st = starts.clone();
    let sink = RestartSink::with_backoff(settings(1000, 1000), move || {
        st.record();
        Flow::<u32>::new().take(1).to(Sink::ignore())
    });
    let src = TestSource::<u32>::probe().to(sink).run();
    src.send_next(1).await;
    settle().await;
    src.send_complete();
    tokio::time::sleep(ms(5000)).await;
    assert_eq!(starts.get(), vec![0], "restarted after the input completed");
}

#[test]
fn settings_are_debuggable_and_clamp_a_bad_random_factor() {
    let s = RestartSettings::new(ms(1), ms(2), f64::NAN);
    assert_eq!(s.random_factor(), 0.0);
    let s = s.with_random_factor(-1.0);
    assert_eq!(s.random_factor(), 0.0);
    assert_eq!(s.max_restarts(), None);
    assert_eq!(s.max_restarts_within(), ms(1));
    assert!(format!("{s:?}").contains("min_backoff"));
}

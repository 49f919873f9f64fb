//! Blueprint-level API: `recover_with_retries`, `pre_materialize` (source and sink),
//! `into_stream` / `run_as_stream`, `Sink::from_sink_fn`, `run_foreach` and
//! `map_materialized_value` on every kind of blueprint.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use support::{is_boom, settle, Boom};
use tokio::task::JoinHandle;
use weir::prelude::*;
use weir::testkit::{SourceProbe, TestSink, TestSource};
use weir::{Attributes, Completion, Decider, SourceStream};

type Slot<T> = Arc<Mutex<Option<T>>>;

/// A source probe whose handle lands in the returned slot at materialization, for APIs that
/// drop the materialized value (`into_stream`, `run_as_stream`).
fn probe_in_slot() -> (Source<i32>, Slot<SourceProbe<i32>>) {
    let slot: Slot<SourceProbe<i32>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let source = TestSource::<i32>::probe().map_materialized_value(move |probe| {
        *s.lock().unwrap() = Some(probe);
    });
    (source, slot)
}

fn take<T>(slot: &Slot<T>) -> T {
    slot.lock()
        .unwrap()
        .take()
        .expect("the probe was not materialized")
}

/// `items`, then a failure with [`Boom`].
fn then_boom(items: Vec<i32>) -> Source<i32> {
    Source::from_iter(items).concat(Source::failed(StreamError::failed(Boom)))
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------------
// recover_with_retries
// ---------------------------------------------------------------------------------------------

/// A recovery that counts its calls and answers call `n` (from 0) with `n * 10 + 10`, then a
/// failure: every recovery source fails again.
fn failing_recovery(
    calls: Arc<AtomicUsize>,
) -> impl Fn(&StreamError) -> Option<Source<i32>> + Clone + Send + Sync + 'static {
    move |e| {
        assert!(is_boom(e), "the recovery sees the failure: {e:?}");
        let n = calls.fetch_add(1, Ordering::SeqCst) as i32;
        Some(then_boom(vec![n * 10 + 10]))
    }
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_switches_to_the_recovery_source_and_completes_with_it() {
    let calls = counter();
    let c = calls.clone();
    let out = then_boom(vec![1, 2])
        .recover_with_retries(Some(3), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Some(Source::from_iter(vec![8, 9]))
        })
        .run_with(Sink::seq())
        .await;
    assert_eq!(out.unwrap(), vec![1, 2, 8, 9]);
    assert_eq!(count(&calls), 1, "one failure, one recovery");
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_gives_up_after_the_attempts_and_fails_with_the_last_error() {
    let calls = counter();
    let sink = then_boom(vec![1, 2])
        .recover_with_retries(Some(2), failing_recovery(calls.clone()))
        .run_with(TestSink::probe());
    sink.request(100);
    // The upstream's elements, one element from each of the two recoveries, then the third
    // failure passes through.
    sink.expect_next_n([1, 2, 10, 20]).await;
    assert!(is_boom(&sink.expect_error().await));
    assert_eq!(count(&calls), 2);
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_none_recovers_without_limit() {
    let calls = counter();
    let c = calls.clone();
    // Fails 50 times in a row before a recovery source completes.
    let out = then_boom(vec![1])
        .recover_with_retries(None, move |_| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Some(if n < 50 {
                then_boom(vec![])
            } else {
                Source::single(99)
            })
        })
        .run_with(Sink::seq())
        .await;
    assert_eq!(out.unwrap(), vec![1, 99]);
    assert_eq!(count(&calls), 51);
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_zero_attempts_lets_the_failure_through_without_calling_f() {
    let calls = counter();
    let sink = then_boom(vec![1, 2])
        .recover_with_retries(Some(0), failing_recovery(calls.clone()))
        .run_with(TestSink::probe());
    sink.request(100);
    sink.expect_next_n([1, 2]).await;
    assert!(is_boom(&sink.expect_error().await));
    assert_eq!(count(&calls), 0);
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_f_returning_none_lets_the_failure_through() {
    let sink = then_boom(vec![1, 2])
        .recover_with_retries(Some(5), |_| None::<Source<i32>>)
        .run_with(TestSink::probe());
    sink.request(100);
    sink.expect_next_n([1, 2]).await;
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_passes_completion_and_elements_untouched() {
    let calls = counter();
    let out = Source::range(1, 4)
        .recover_with_retries(None, failing_recovery(calls.clone()))
        .run_with(Sink::seq())
        .await;
    assert_eq!(out.unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(count(&calls), 0);
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_releases_the_failed_upstream() {
    let (src, sink) = TestSource::<i32>::probe()
        .recover_with_retries(Some(1), |_| Some(Source::repeat(7)))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(3);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom));
    sink.expect_next_n([7, 7]).await;
    // The failed upstream is released once the recovery takes over.
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn recover_with_retries_panic_in_f_fails_with_panicked_whatever_the_decider() {
    for attrs in [
        Attributes::none(),
        Attributes::supervision(Decider::resuming()),
    ] {
        let sink = then_boom(vec![1])
            .recover_with_retries(None, |_| -> Option<Source<i32>> { panic!("no plan b") })
            .with_attributes(attrs)
            .run_with(TestSink::probe());
        sink.request(10);
        sink.expect_next(1).await;
        match sink.expect_error().await {
            StreamError::Panicked { stage, message } => {
                assert_eq!(stage, "recover_with_retries");
                assert_eq!(message, "no plan b");
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Source::pre_materialize
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn source_pre_materialize_hands_out_the_value_before_wiring() {
    let (handle, source) = Source::<i32, _>::maybe().pre_materialize();
    // The handle is used before the source is connected to anything.
    handle.complete(Some(7)).unwrap();
    assert_eq!(source.run_with(Sink::seq()).await.unwrap(), vec![7]);
}

#[tokio::test(start_paused = true)]
async fn source_pre_materialize_starts_the_source_at_once() {
    let (probe, source) = TestSource::<i32>::probe().pre_materialize();
    // Running before being wired: it asks for a buffer's worth (input_buffer, 16 by default).
    assert_eq!(probe.expect_request().await, 16);
    probe.send_next(1).await;
    probe.send_next(2).await;
    probe.send_complete();
    let sink = source.run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next_n([1, 2]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn source_pre_materialize_passes_failure_after_the_elements() {
    let (probe, source) = TestSource::<i32>::probe().pre_materialize();
    let sink = source.run_with(TestSink::probe());
    sink.request(10);
    probe.send_next(1).await;
    probe.send_error(StreamError::failed(Boom));
    sink.expect_next(1).await;
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn source_pre_materialize_is_one_shot() {
    let (_, source) = Source::range(1, 3).pre_materialize();
    assert_eq!(source.run_with(Sink::seq()).await.unwrap(), vec![1, 2, 3]);
    let second = source.run_with(Sink::seq()).await;
    assert!(
        matches!(
            second,
            Err(StreamError::AlreadyMaterialized {
                stage: "pre_materialize"
            })
        ),
        "got {second:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn source_pre_materialize_dropped_unmaterialized_cancels_the_source() {
    let (probe, source) = TestSource::<i32>::probe().pre_materialize();
    probe.expect_request().await;
    assert!(!probe.is_cancelled());
    drop(source);
    probe.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn source_pre_materialize_cancellation_downstream_reaches_the_source() {
    let (probe, source) = TestSource::<i32>::probe().pre_materialize();
    let out = source.take(2).run_with(Sink::seq());
    probe.send_next(1).await;
    probe.send_next(2).await;
    assert_eq!(out.await.unwrap(), vec![1, 2]);
    probe.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// Sink::pre_materialize
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn sink_pre_materialize_hands_out_the_value_before_wiring() {
    let (probe, sink) = TestSink::<i32>::probe().pre_materialize();
    // The probe exists, and may signal demand, before any source is connected.
    probe.request(10);
    let src = TestSource::<i32>::probe().to(sink).run();
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_complete();
    probe.expect_next_n([1, 2]).await;
    probe.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn sink_pre_materialize_completion_resolves_with_the_stream_fed_later() {
    let (done, sink) = Sink::<i32, _>::seq().pre_materialize();
    Source::range(1, 3).run_with(sink);
    assert_eq!(done.await.unwrap(), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn sink_pre_materialize_passes_failure() {
    let (done, sink) = Sink::<i32, _>::seq().pre_materialize();
    then_boom(vec![1, 2]).run_with(sink);
    assert!(is_boom(&done.await.unwrap_err()));
}

#[tokio::test(start_paused = true)]
async fn sink_pre_materialize_second_materialization_is_cancelled_at_once() {
    let (probe, sink) = TestSink::<i32>::probe().pre_materialize();
    let first = TestSource::<i32>::probe().to(sink.clone()).run();
    let second = TestSource::<i32>::probe().to(sink).run();
    second.expect_cancellation().await;
    // The first materialization still feeds the pre-materialized sink.
    probe.request(5);
    first.send_next(4).await;
    probe.expect_next(4).await;
    assert!(!first.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn sink_pre_materialize_dropped_unmaterialized_fails_the_running_sink() {
    let (done, sink) = Sink::<i32, _>::seq().pre_materialize();
    drop(sink);
    assert!(matches!(done.await, Err(StreamError::AbruptTermination)));
}

// ---------------------------------------------------------------------------------------------
// into_stream / run_as_stream
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn into_stream_yields_the_elements_in_order_then_ends() {
    let items: Vec<_> = Source::range(1, 40).into_stream().collect().await;
    let items: Vec<i32> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(items, (1..=40).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn into_stream_yields_the_failure_as_the_last_item() {
    let items: Vec<_> = then_boom(vec![1, 2]).into_stream().collect().await;
    assert_eq!(
        items.len(),
        3,
        "two elements, one error, then the end: {items:?}"
    );
    assert_eq!(items[0].as_ref().unwrap(), &1);
    assert_eq!(items[1].as_ref().unwrap(), &2);
    assert!(is_boom(items[2].as_ref().unwrap_err()));
}

type Item = Result<i32, StreamError>;

/// Polls `stream` for one item on a task of its own, so the test can feed the probe meanwhile.
fn next_item(mut stream: SourceStream<i32>) -> JoinHandle<(Option<Item>, SourceStream<i32>)> {
    tokio::spawn(async move {
        let x = stream.next().await;
        (x, stream)
    })
}

#[tokio::test(start_paused = true)]
async fn into_stream_pulls_nothing_until_polled_then_reads_ahead_the_default_buffer() {
    let (source, slot) = probe_in_slot();
    let stream = source.into_stream();
    let probe = take(&slot);
    settle().await;
    assert_eq!(
        probe.pending_demand(),
        0,
        "nothing is pulled before the first poll"
    );
    let next = next_item(stream);
    assert_eq!(probe.expect_request().await, 16);
    probe.send_next(5).await;
    let (x, _stream) = next.await.unwrap();
    assert_eq!(x.unwrap().unwrap(), 5);
}

/// `run_as_stream_with` reads ahead as many elements as its `input_buffer` attribute says.
#[tokio::test(start_paused = true)]
async fn run_as_stream_with_reads_ahead_input_buffer_elements() {
    let (source, slot) = probe_in_slot();
    let stream = source.run_as_stream_with(Attributes::input_buffer(4));
    let probe = take(&slot);
    let next = next_item(stream);
    assert_eq!(probe.expect_request().await, 4);
    probe.send_next(5).await;
    let (x, _stream) = next.await.unwrap();
    assert_eq!(x.unwrap().unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn into_stream_dropped_cancels_upstream() {
    let (source, slot) = probe_in_slot();
    let stream = source.into_stream();
    let probe = take(&slot);
    let first = next_item(stream);
    probe.send_next(1).await;
    let (x, stream) = first.await.unwrap();
    assert_eq!(x.unwrap().unwrap(), 1);
    assert!(!probe.is_cancelled());
    drop(stream);
    probe.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn into_stream_with_an_async_boundary_cancels_the_upstream_island_when_dropped() {
    let (source, slot) = probe_in_slot();
    let stream = source.async_boundary().map(|x| x + 1).into_stream();
    let probe = take(&slot);
    // The upstream island runs on its own and asks for its buffer.
    assert_eq!(probe.expect_request().await, 16);
    probe.send_next(1).await;
    let mut stream = stream;
    assert_eq!(stream.next().await.unwrap().unwrap(), 2);
    drop(stream);
    probe.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn run_as_stream_keeps_the_blueprint_and_each_stream_is_independent() {
    let source = Source::range(1, 3).map(|x| x * 10);
    let a: Vec<_> = source.run_as_stream().map(Result::unwrap).collect().await;
    let b: Vec<_> = source.run_as_stream().map(Result::unwrap).collect().await;
    assert_eq!(a, vec![10, 20, 30]);
    assert_eq!(b, vec![10, 20, 30]);
    let c = source.run_with(Sink::seq()).await.unwrap();
    assert_eq!(c, vec![10, 20, 30]);
}

#[tokio::test(start_paused = true)]
async fn run_as_stream_yields_the_failure_then_ends() {
    let source = then_boom(vec![7]);
    let mut stream = source.run_as_stream();
    assert_eq!(stream.next().await.unwrap().unwrap(), 7);
    assert!(is_boom(&stream.next().await.unwrap().unwrap_err()));
    assert!(stream.next().await.is_none());
    assert!(stream.next().await.is_none(), "stays ended");
}

#[tokio::test(start_paused = true)]
async fn run_as_stream_dropped_cancels_upstream() {
    let (source, slot) = probe_in_slot();
    let stream = source.run_as_stream();
    let probe = take(&slot);
    drop(stream);
    probe.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// Sink::from_sink_fn
// ---------------------------------------------------------------------------------------------

/// What each sink made by a factory wrote, one vector per sink.
type Made = Arc<Mutex<Vec<Arc<Mutex<Vec<i32>>>>>>;

/// A `from_sink_fn` sink whose factory makes a fresh `futures::Sink` per call, each writing to
/// its own vector in `made`; element `fail_on` makes the send fail.
fn recording_sink(made: Made, fail_on: Option<i32>) -> Sink<i32, Completion<()>> {
    Sink::from_sink_fn(move || {
        let written = Arc::new(Mutex::new(Vec::new()));
        made.lock().unwrap().push(written.clone());
        Ok::<_, Boom>(futures::sink::unfold((), move |(), x: i32| {
            let written = written.clone();
            async move {
                if Some(x) == fail_on {
                    return Err(Boom);
                }
                written.lock().unwrap().push(x);
                Ok(())
            }
        }))
    })
}

fn written(made: &Made) -> Vec<Vec<i32>> {
    made.lock()
        .unwrap()
        .iter()
        .map(|w| w.lock().unwrap().clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn from_sink_fn_makes_a_fresh_sink_for_each_run() {
    let made = Arc::new(Mutex::new(Vec::new()));
    let sink = recording_sink(made.clone(), None);
    Source::range(1, 3).run_with(sink.clone()).await.unwrap();
    Source::range(4, 5).run_with(sink).await.unwrap();
    assert_eq!(written(&made), vec![vec![1, 2, 3], vec![4, 5]]);
}

#[tokio::test(start_paused = true)]
async fn from_sink_fn_factory_error_fails_the_stream_and_cancels_upstream() {
    let sink: Sink<i32, _> = Sink::from_sink_fn(|| Err::<futures::sink::Drain<i32>, _>(Boom));
    let (src, done) = TestSource::<i32>::probe().to_mat(sink, Keep::both).run();
    assert!(is_boom(&done.await.unwrap_err()));
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn from_sink_fn_send_error_fails_the_stream_after_earlier_elements() {
    let made = Arc::new(Mutex::new(Vec::new()));
    let sink = recording_sink(made.clone(), Some(3));
    let (src, done) = TestSource::<i32>::probe().to_mat(sink, Keep::both).run();
    for x in 1..=3 {
        src.send_next(x).await;
    }
    assert!(is_boom(&done.await.unwrap_err()));
    assert_eq!(written(&made), vec![vec![1, 2]]);
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn from_sink_fn_upstream_failure_resolves_with_it_after_the_elements() {
    let receivers = Arc::new(Mutex::new(Vec::new()));
    let r = receivers.clone();
    let sink = Sink::from_sink_fn(move || {
        let (tx, rx) = futures::channel::mpsc::channel::<i32>(8);
        r.lock().unwrap().push(rx);
        Ok::<_, Boom>(tx)
    });
    let done = then_boom(vec![1, 2]).run_with(sink);
    assert!(is_boom(&done.await.unwrap_err()));
    let rx = receivers.lock().unwrap().pop().expect("one sink made");
    // The elements arrived, and the sink was released (the channel ends).
    assert_eq!(rx.collect::<Vec<_>>().await, vec![1, 2]);
}

/// On upstream failure the `futures::Sink` is flushed (not closed) before the failure is
/// reported: an element it accepted with `start_send` but had not yet processed (here the last
/// one, whose `unfold` future runs on flush) is not lost.
#[tokio::test(start_paused = true)]
async fn from_sink_fn_upstream_failure_still_processes_the_accepted_elements() {
    let made = Arc::new(Mutex::new(Vec::new()));
    let done = then_boom(vec![1, 2]).run_with(recording_sink(made.clone(), None));
    assert!(is_boom(&done.await.unwrap_err()));
    assert_eq!(written(&made), vec![vec![1, 2]]);
}

// ---------------------------------------------------------------------------------------------
// run_foreach
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn run_foreach_calls_f_on_each_element_in_order_then_resolves() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let done = Source::range(1, 50).run_foreach(move |x| s.lock().unwrap().push(x));
    done.await.unwrap();
    assert_eq!(*seen.lock().unwrap(), (1..=50).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn run_foreach_resolves_with_the_failure_after_the_earlier_side_effects() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let done = then_boom(vec![1, 2, 3]).run_foreach(move |x| s.lock().unwrap().push(x));
    assert!(is_boom(&done.await.unwrap_err()));
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn run_foreach_runs_the_blueprint_afresh_each_time() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let source = Source::range(1, 2);
    source
        .run_foreach({
            let s = s.clone();
            move |x| s.lock().unwrap().push(x)
        })
        .await
        .unwrap();
    source
        .run_foreach(move |x| s.lock().unwrap().push(x * 10))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 10, 20]);
}

// ---------------------------------------------------------------------------------------------
// map_materialized_value
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn source_map_materialized_value_transforms_the_value_once_per_run() {
    let calls = counter();
    let c = calls.clone();
    let source = Source::<i32, _>::maybe().map_materialized_value(move |handle| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        (handle, n)
    });
    let ((handle, n), out) = source.clone().to_mat(Sink::seq(), Keep::both).run();
    handle.complete(Some(1)).unwrap();
    assert_eq!(n, 0);
    assert_eq!(out.await.unwrap(), vec![1]);
    let ((handle, n), out) = source.to_mat(Sink::seq(), Keep::both).run();
    handle.complete(Some(2)).unwrap();
    assert_eq!(n, 1, "a fresh value per materialization");
    assert_eq!(out.await.unwrap(), vec![2]);
    assert_eq!(count(&calls), 2);
}

#[tokio::test(start_paused = true)]
async fn source_map_materialized_value_keeps_elements_and_operators() {
    let (tag, out) = Source::range(1, 3)
        .map_materialized_value(|()| "mapped")
        .map(|x| x * 2)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(tag, "mapped");
    assert_eq!(out.await.unwrap(), vec![2, 4, 6]);
}

#[tokio::test(start_paused = true)]
async fn flow_map_materialized_value_transforms_the_flow_value() {
    let flow = Flow::<i32>::new()
        .watch_termination()
        .map_materialized_value(|done| async move { done.await.is_ok() });
    let (ok, out) = Source::range(1, 3)
        .via_mat(flow.clone(), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    assert!(ok.await);
    let (ok, out) = then_boom(vec![1])
        .via_mat(flow, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert!(out.await.is_err());
    assert!(!ok.await);
}

#[tokio::test(start_paused = true)]
async fn sink_map_materialized_value_transforms_the_sink_value() {
    let len = Sink::<i32, _>::seq()
        .map_materialized_value(|out| async move { out.await.map(|v| v.len()) });
    assert_eq!(Source::range(1, 5).run_with(len.clone()).await.unwrap(), 5);
    assert!(is_boom(
        &then_boom(vec![1]).run_with(len).await.unwrap_err()
    ));
}

#[tokio::test(start_paused = true)]
async fn runnable_graph_map_materialized_value_applies_on_each_run() {
    let calls = counter();
    let c = calls.clone();
    let graph = Source::range(1, 4)
        .to_mat(Sink::fold(0, |a, x| a + x), Keep::right)
        .map_materialized_value(move |total| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { total.await.map(|t| t * 100) }
        });
    assert_eq!(count(&calls), 0, "nothing runs before `run`");
    assert_eq!(graph.run().await.unwrap(), 1000);
    assert_eq!(graph.run().await.unwrap(), 1000);
    assert_eq!(count(&calls), 2);
}

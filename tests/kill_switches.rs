//! Kill switches: `KillSwitches::single`, `single_bidi` and `shared`.

mod support;

use std::time::Duration;

use support::{is_boom, settle, Boom};
use weir::builder::GraphBuilder;
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::{KillSwitch, KillSwitches, SharedKillSwitch, UniqueKillSwitch};

fn single_rig() -> (SourceProbe<u32>, UniqueKillSwitch, SinkProbe<u32>) {
    let ((src, switch), sink) = TestSource::<u32>::probe()
        .via_mat(KillSwitches::single(), Keep::both)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    (src, switch, sink)
}

fn boom() -> StreamError {
    StreamError::failed(Boom)
}

#[tokio::test(start_paused = true)]
async fn single_passes_elements_until_shutdown_then_completes_and_cancels() {
    let (src, switch, sink) = single_rig();
    sink.request(10);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([1, 2]).await;
    switch.shutdown();
    sink.expect_complete().await;
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn single_abort_fails_downstream_and_cancels_upstream() {
    let (src, switch, sink) = single_rig();
    sink.request(10);
    src.send_next(1).await;
    sink.expect_next(1).await;
    switch.abort(boom());
    assert!(is_boom(&sink.expect_error().await));
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn the_first_call_wins() {
    let (src, switch, sink) = single_rig();
    sink.request(1);
    switch.shutdown();
    switch.abort(boom());
    sink.expect_complete().await;
    src.expect_cancellation().await;
    // Nothing follows the completion.
    sink.expect_no_message(Duration::from_millis(100)).await;

    let (src, switch, sink) = single_rig();
    sink.request(1);
    switch.abort(boom());
    switch.shutdown();
    switch.abort(StreamError::AbruptTermination);
    assert!(is_boom(&sink.expect_error().await));
    src.expect_cancellation().await;
    sink.expect_no_message(Duration::from_millis(100)).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_reaches_a_back_pressured_stream() {
    let (src, switch, sink) = single_rig();
    // No demand at all: the stream is idle, waiting for the sink.
    settle().await;
    assert_eq!(src.pending_demand(), 0);
    switch.shutdown();
    sink.expect_complete().await;
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn abort_reaches_a_back_pressured_stream() {
    let (src, switch, sink) = single_rig();
    settle().await;
    switch.abort(boom());
    // Upstream is cancelled at once, without demand; the probe hears the failure when it asks.
    src.expect_cancellation().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_stream_whose_upstream_never_emits() {
    let (switch, out) = Source::<u32>::never()
        .via_mat(KillSwitches::single(), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    settle().await;
    switch.shutdown();
    assert_eq!(out.await.unwrap(), Vec::<u32>::new());
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_hot_source() {
    // An always-ready source spends its task's budget, so the test task gets to run.
    let (switch, count) = Source::repeat(1u64)
        .via_mat(KillSwitches::single(), Keep::right)
        .to_mat(Sink::fold(0u64, |n, x| n + x), Keep::both)
        .run();
    tokio::task::yield_now().await;
    switch.shutdown();
    let n = count.await.unwrap();
    assert!(n > 0, "some elements went through first");
}

#[tokio::test(start_paused = true)]
async fn elements_past_the_switch_are_delivered_before_the_completion() {
    let ((src, switch), sink) = TestSource::<u32>::probe()
        .via_mat(KillSwitches::single(), Keep::both)
        .async_boundary()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    settle().await;
    // Both already sit in the boundary's buffer, beyond the switch.
    switch.shutdown();
    src.expect_cancellation().await;
    sink.request(5);
    sink.expect_next_n([1, 2]).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_ended_on_its_own_ignores_the_switch() {
    let (switch, out) = Source::range(1u32, 3)
        .via_mat(KillSwitches::single(), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    switch.abort(boom());
    switch.shutdown();
}

#[tokio::test(start_paused = true)]
async fn an_upstream_failure_passes_through_an_untriggered_switch() {
    let (src, _switch, sink) = single_rig();
    sink.request(1);
    src.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn each_materialization_of_single_has_its_own_switch() {
    let graph = Source::<u32>::never()
        .via_mat(KillSwitches::single(), Keep::right)
        .to_mat(Sink::seq(), Keep::both);
    let (first, out1) = graph.run();
    let (_second, out2) = graph.run();
    first.abort(boom());
    assert!(is_boom(&out1.await.unwrap_err()));
    // The second stream still runs.
    let still = tokio::time::timeout(Duration::from_secs(5), out2).await;
    assert!(still.is_err(), "the second stream was stopped too");
}

// ---------------------------------------------------------------------------------------------
// single_bidi
// ---------------------------------------------------------------------------------------------

struct BidiRig {
    top_in: SourceProbe<u32>,
    bottom_in: SourceProbe<String>,
    top_out: SinkProbe<u32>,
    bottom_out: SinkProbe<String>,
    switch: UniqueKillSwitch,
}

fn bidi_rig() -> BidiRig {
    let mut b = GraphBuilder::new();
    let (ports, switch) = b.add_bidi_mat(KillSwitches::single_bidi::<u32, String>());
    let (s1, k1) = b.add_source_mat(TestSource::<u32>::probe());
    let (s2, k2) = b.add_source_mat(TestSource::<String>::probe());
    b.connect(s1, ports.in1);
    b.connect(s2, ports.in2);
    let (o1, k3) = b.add_sink_mat(TestSink::<u32>::probe());
    let (o2, k4) = b.add_sink_mat(TestSink::<String>::probe());
    b.connect(ports.out1, o1);
    b.connect(ports.out2, o2);
    let (switch, top_in, bottom_in, top_out, bottom_out) = b
        .build(move |m| {
            (
                m.take(switch),
                m.take(k1),
                m.take(k2),
                m.take(k3),
                m.take(k4),
            )
        })
        .expect("a closed graph")
        .run();
    BidiRig {
        top_in,
        bottom_in,
        top_out,
        bottom_out,
        switch,
    }
}

#[tokio::test(start_paused = true)]
async fn single_bidi_passes_both_directions_and_shutdown_stops_both() {
    let r = bidi_rig();
    r.top_out.request(5);
    r.bottom_out.request(5);
    r.top_in.send_next(1).await;
    r.bottom_in.send_next("a".to_string()).await;
    r.top_out.expect_next(1).await;
    r.bottom_out.expect_next("a".to_string()).await;
    r.switch.shutdown();
    r.top_out.expect_complete().await;
    r.bottom_out.expect_complete().await;
    r.top_in.expect_cancellation().await;
    r.bottom_in.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn single_bidi_abort_fails_both_directions() {
    let r = bidi_rig();
    r.top_out.request(5);
    settle().await;
    r.switch.abort(boom());
    assert!(is_boom(&r.top_out.expect_error().await));
    // The bottom direction has no demand; its upstream is cancelled anyway.
    r.top_in.expect_cancellation().await;
    r.bottom_in.expect_cancellation().await;
    r.bottom_out.request(1);
    assert!(is_boom(&r.bottom_out.expect_error().await));
}

#[tokio::test(start_paused = true)]
async fn single_bidi_directions_end_on_their_own_independently() {
    let r = bidi_rig();
    r.top_out.request(5);
    r.bottom_out.request(5);
    r.top_in.send_complete();
    r.top_out.expect_complete().await;
    // The other direction still runs until the switch stops it.
    r.bottom_in.send_next("b".to_string()).await;
    r.bottom_out.expect_next("b".to_string()).await;
    r.switch.shutdown();
    r.bottom_out.expect_complete().await;
}

// ---------------------------------------------------------------------------------------------
// shared
// ---------------------------------------------------------------------------------------------

fn shared_rig(switch: &SharedKillSwitch) -> (SourceProbe<u32>, SinkProbe<u32>) {
    TestSource::<u32>::probe()
        .via(switch.flow())
        .to_mat(TestSink::probe(), Keep::both)
        .run()
}

#[tokio::test(start_paused = true)]
async fn shared_shutdown_stops_every_stream_it_is_in() {
    let switch = KillSwitches::shared("many");
    let rigs: Vec<_> = (0..5).map(|_| shared_rig(&switch)).collect();
    for (i, (src, sink)) in rigs.iter().enumerate() {
        sink.request(2);
        src.send_next(i as u32).await;
        sink.expect_next(i as u32).await;
    }
    switch.shutdown();
    for (src, sink) in &rigs {
        sink.expect_complete().await;
        src.expect_cancellation().await;
    }
}

#[tokio::test(start_paused = true)]
async fn shared_abort_fails_every_stream_it_is_in() {
    let switch = KillSwitches::shared("many");
    let rigs: Vec<_> = (0..3).map(|_| shared_rig(&switch)).collect();
    settle().await;
    switch.abort(boom());
    switch.shutdown();
    for (src, sink) in &rigs {
        src.expect_cancellation().await;
        sink.request(1);
        assert!(is_boom(&sink.expect_error().await));
    }
}

#[tokio::test(start_paused = true)]
async fn shared_switch_triggered_before_materialization_applies_at_once() {
    let switch = KillSwitches::shared("early");
    switch.abort(boom());
    let (src, sink) = shared_rig(&switch);
    src.expect_cancellation().await;
    sink.request(1);
    assert!(is_boom(&sink.expect_error().await));
    assert!(src.pending_demand() == 0, "no element was asked for");

    let switch = KillSwitches::shared("early");
    switch.shutdown();
    let out = Source::repeat(1)
        .via(switch.flow())
        .run_with(Sink::seq())
        .await;
    assert_eq!(out.unwrap(), Vec::<i32>::new());
}

#[tokio::test(start_paused = true)]
async fn shared_flow_materializes_the_switch_itself() {
    let switch = KillSwitches::shared("mat");
    let (mat, out) = Source::<u32>::never()
        .via_mat(switch.flow(), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(mat.name(), "mat");
    // Triggering the materialized value triggers the one switch.
    mat.shutdown();
    assert!(out.await.unwrap().is_empty());
    let later = Source::repeat(1).via(switch.flow()).run_with(Sink::seq());
    assert!(later.await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_switch_in_a_stream_that_ended_does_not_affect_the_others() {
    let switch = KillSwitches::shared("mixed");
    let done = Source::range(1u32, 3)
        .via(switch.flow())
        .run_with(Sink::seq());
    assert_eq!(done.await.unwrap(), vec![1, 2, 3]);
    let (src, sink) = shared_rig(&switch);
    sink.request(1);
    src.send_next(9).await;
    sink.expect_next(9).await;
    switch.shutdown();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn switches_are_debuggable_and_report_their_state() {
    let switch = KillSwitches::shared("dbg");
    assert!(format!("{switch:?}").contains("armed"));
    switch.shutdown();
    let shown = format!("{switch:?}");
    assert!(
        shown.contains("dbg") && shown.contains("shut down"),
        "{shown}"
    );
}

#[test]
fn switches_are_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<UniqueKillSwitch>();
    assert_traits::<SharedKillSwitch>();
}

//! Cases taken from Apache Pekko's stream specs (`stream-tests/.../scaladsl/*Spec.scala`), one
//! section per spec, where weir once departed from Pekko (issue 13).

mod support;

use std::sync::{Arc, Mutex};

use support::{is_boom, settle, Boom};
use weir::prelude::*;
use weir::testkit::{SourceProbe, TestSink, TestSource};

type Slot<T> = Arc<Mutex<Option<T>>>;

/// A source probe usable where an operator discards the materialized value of its argument:
/// the probe is put into the returned slot at materialization.
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

/// Awaits `fut`, failing the test if it does not resolve within a (paused-time) minute: a hang.
async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(60), fut)
        .await
        .expect("the stream hangs")
}

fn take<T>(slot: &Slot<T>) -> T {
    slot.lock()
        .unwrap()
        .take()
        .expect("probe was not materialized")
}

// ---------------------------------------------------------------------------------------------
// FlowFlatMapMergeSpec
// ---------------------------------------------------------------------------------------------

/// An element that arrives while a substream is open and silent still gets a free slot.
#[tokio::test(start_paused = true)]
async fn flat_map_merge_serves_a_later_element_while_a_substream_is_silent() {
    let (src, head) = TestSource::<Source<u32>>::probe()
        .flat_map_merge(4, |s| s)
        .to_mat(Sink::head(), Keep::both)
        .run();
    src.send_next(Source::never()).await;
    settle().await;
    src.send_next(Source::single(5)).await;
    assert_eq!(within(head).await.unwrap(), 5);
}

/// An upstream failure that arrives while a substream is open and silent fails the stream.
#[tokio::test(start_paused = true)]
async fn flat_map_merge_fails_on_a_later_upstream_failure_while_a_substream_is_silent() {
    let (src, sink) = TestSource::<Source<u32>>::probe()
        .flat_map_merge(4, |s| s)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(Source::never()).await;
    settle().await;
    src.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// FlowConcatSpec
// ---------------------------------------------------------------------------------------------

/// "fail eagerly when concat with a failed source even if upstream never finishes".
#[tokio::test(start_paused = true)]
async fn concat_fails_eagerly_with_a_failed_second_source() {
    let out = Source::<u32>::never()
        .concat(Source::failed(StreamError::failed(Boom)))
        .run_with(Sink::head());
    let out = within(out).await;
    assert!(is_boom(&out.unwrap_err()));
}

/// The same for `prepend`: the failure of the source that waits its turn is not held back.
#[tokio::test(start_paused = true)]
async fn prepend_fails_eagerly_with_a_failed_waiting_source() {
    let out = Source::<u32>::failed(StreamError::failed(Boom))
        .prepend(Source::never())
        .run_with(Sink::head());
    let out = within(out).await;
    assert!(is_boom(&out.unwrap_err()));
}

/// A second source that fails later, while the first is still silent, fails the stream and
/// cancels the first.
#[tokio::test(start_paused = true)]
async fn concat_fails_when_the_waiting_second_source_fails_later() {
    let (second, slot) = source_probe::<u32>();
    let (first, sink) = TestSource::<u32>::probe()
        .concat(second)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let second = take(&slot);
    sink.request(2);
    first.send_next(1).await;
    sink.expect_next(1).await;
    second.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    first.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// FlowOrElseSpec
// ---------------------------------------------------------------------------------------------

/// "fail when the secondary fails": the primary has not emitted, the secondary fails, the
/// stream fails and the primary is cancelled.
#[tokio::test(start_paused = true)]
async fn or_else_failing_secondary_fails_the_stream_and_cancels_the_primary() {
    let (secondary, slot) = source_probe::<u32>();
    let (primary, sink) = TestSource::<u32>::probe()
        .or_else(secondary)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let secondary = take(&slot);
    sink.request(1);
    settle().await;
    secondary.send_error(StreamError::failed(Boom));
    assert!(is_boom(&sink.expect_error().await));
    primary.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn or_else_with_a_failed_secondary_fails_at_once() {
    let out = Source::<u32>::never()
        .or_else(Source::failed(StreamError::failed(Boom)))
        .run_with(Sink::head());
    let out = within(out).await;
    assert!(is_boom(&out.unwrap_err()));
}

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

// ---------------------------------------------------------------------------------------------
// FlowBufferSpec
// ---------------------------------------------------------------------------------------------

/// "fail upstream if buffer is full and configured so" is about `Fail`; with `BackPressure`
/// an upstream failure overtakes what is buffered, as Pekko's buffer and async boundaries do.
#[tokio::test(start_paused = true)]
async fn buffer_back_pressure_upstream_failure_overtakes_the_buffered_elements() {
    let (src, sink) = TestSource::<u32>::probe()
        .buffer(8, weir::OverflowStrategy::BackPressure)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    for x in 1..=3 {
        src.send_next(x).await;
    }
    settle().await;
    src.send_error(StreamError::failed(Boom));
    settle().await;
    sink.request(10);
    assert!(is_boom(&sink.expect_error().await));
}

// ---------------------------------------------------------------------------------------------
// FlowMapAsyncSpec / FlowMapAsyncUnorderedSpec
// ---------------------------------------------------------------------------------------------

/// "not run more futures than requested parallelism": a slot is refilled as soon as its
/// result is emitted, so after request(1) with parallelism 8 the function ran 9 times.
async fn map_async_refills_a_slot_as_soon_as_its_result_is_emitted(ordered: bool) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let f = move |n: u32| {
        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { n }
    };
    let src = Source::range(1u32, 20);
    let sink = if ordered {
        src.map_async(8, f).run_with(TestSink::probe())
    } else {
        src.map_async_unordered(8, f).run_with(TestSink::probe())
    };
    let called = || calls.load(std::sync::atomic::Ordering::SeqCst);
    settle().await;
    assert_eq!(called(), 0);
    sink.request(1);
    settle().await;
    assert_eq!(called(), 9);
    sink.request(2);
    settle().await;
    assert_eq!(called(), 11);
    sink.request(10);
    settle().await;
    assert_eq!(called(), 20);
    let mut got: Vec<u32> = Vec::new();
    for _ in 0..13 {
        got.push(sink.expect_next_element().await);
    }
    if !ordered {
        got.sort_unstable();
    }
    assert_eq!(got, (1..=13).collect::<Vec<_>>());
    sink.expect_no_message(support::ms(100)).await;
}

#[tokio::test(start_paused = true)]
async fn map_async_refills_a_slot_as_soon_as_its_result_is_emitted_ordered() {
    map_async_refills_a_slot_as_soon_as_its_result_is_emitted(true).await;
}

#[tokio::test(start_paused = true)]
async fn map_async_unordered_refills_a_slot_as_soon_as_its_result_is_emitted() {
    map_async_refills_a_slot_as_soon_as_its_result_is_emitted(false).await;
}

// ---------------------------------------------------------------------------------------------
// FlowStatefulMapSpec
// ---------------------------------------------------------------------------------------------

/// "be able to restart": at the restart the old state is closed with `on_complete`, and what
/// it returns is emitted, before a new state is created.
#[tokio::test(start_paused = true)]
async fn stateful_map_restart_emits_what_on_complete_returns_for_the_old_state() {
    let out = Source::from_iter(vec![1, 2, 0, 3, 4])
        .stateful_map(
            Vec::<i32>::new,
            |seen: &mut Vec<i32>, x| {
                assert!(x != 0, "zero");
                seen.push(x);
                seen.len() as i32 * 100 + x
            },
            |seen| Some(-(seen.iter().sum::<i32>())),
        )
        .with_attributes(weir::Attributes::supervision(weir::Decider::restarting()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![101, 202, -3, 103, 204, -7]);
}

// ---------------------------------------------------------------------------------------------
// FlowExpandSpec
// ---------------------------------------------------------------------------------------------

/// "restart and reset current extrapolation when expander throws".
#[tokio::test(start_paused = true)]
async fn expand_restart_resets_the_current_extrapolation() {
    let (src, sink) = TestSource::<i32>::probe()
        .expand(|i| {
            assert!(i != 2, "two");
            if i == 1 {
                vec![1, 10, 11].into_iter()
            } else {
                vec![i].into_iter()
            }
        })
        .with_attributes(weir::Attributes::supervision(weir::Decider::restarting()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    src.send_next(1).await;
    assert_eq!(sink.request_next().await, 1);
    src.send_next(2).await;
    settle().await;
    sink.request(1);
    sink.expect_no_message(support::ms(300)).await;
    src.send_next(3).await;
    sink.expect_next(3).await;
}

// ---------------------------------------------------------------------------------------------
// GraphPartitionSpec
// ---------------------------------------------------------------------------------------------

/// Runs `Partition` into two collecting sinks with the graph's `attrs`.
async fn partition_into_two(
    source: Source<i32>,
    f: fn(&i32) -> usize,
    attrs: weir::Attributes,
) -> (Result<Vec<i32>, StreamError>, Result<Vec<i32>, StreamError>) {
    let mut b = weir::builder::GraphBuilder::new();
    let shape = b.add(weir::junctions::Partition::new(2, f));
    let src = b.add_source(source);
    b.connect(src, shape.inlet);
    let (s0, k0) = b.add_sink_mat(Sink::seq());
    let (s1, k1) = b.add_sink_mat(Sink::seq());
    b.connect(shape.outs[0], s0);
    b.connect(shape.outs[1], s1);
    let (a, c) = b
        .build(move |m| (m.take(k0), m.take(k1)))
        .expect("a fully connected graph")
        .with_attributes(attrs)
        .run();
    (a.await, c.await)
}

/// "support resuming on partitioner's out-of-range index": the element is dropped.
#[tokio::test(start_paused = true)]
async fn partition_resume_drops_an_element_with_an_out_of_range_index() {
    for decider in [weir::Decider::resuming(), weir::Decider::restarting()] {
        let (evens, odds) = partition_into_two(
            Source::from_iter(vec![1, 2, 7, 3, 4]),
            |x| if *x == 7 { 5 } else { (*x % 2) as usize },
            weir::Attributes::supervision(decider),
        )
        .await;
        assert_eq!(evens.unwrap(), vec![2, 4]);
        assert_eq!(odds.unwrap(), vec![1, 3]);
    }
}

/// A panicking partitioner is supervised the same way.
#[tokio::test(start_paused = true)]
async fn partition_resume_drops_an_element_whose_partitioner_panics() {
    let (evens, odds) = partition_into_two(
        Source::from_iter(vec![1, 2, 0, 3, 4]),
        |x| {
            assert!(*x != 0, "zero");
            (*x % 2) as usize
        },
        weir::Attributes::supervision(weir::Decider::resuming()),
    )
    .await;
    assert_eq!(evens.unwrap(), vec![2, 4]);
    assert_eq!(odds.unwrap(), vec![1, 3]);
}

/// Without a decider (Stop) an out-of-range index still fails every output.
#[tokio::test(start_paused = true)]
async fn partition_stop_fails_on_an_out_of_range_index() {
    let (evens, odds) = partition_into_two(
        Source::from_iter(vec![1, 2, 7]),
        |x| if *x == 7 { 5 } else { (*x % 2) as usize },
        weir::Attributes::none(),
    )
    .await;
    for out in [evens, odds] {
        assert!(matches!(
            out,
            Err(StreamError::PartitionOutOfBounds {
                index: 5,
                outputs: 2
            })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// GraphInterleaveSpec
// ---------------------------------------------------------------------------------------------

/// "fail when segmentSize is not positive": rejected when the graph is built.
#[test]
fn interleave_with_segment_size_zero_is_rejected_when_the_graph_is_built() {
    let mut b = weir::builder::GraphBuilder::new();
    let shape = b.add(weir::junctions::Interleave::<i32>::new(2, 0, false));
    let (a, c) = (
        b.add_source(Source::single(1)),
        b.add_source(Source::single(2)),
    );
    b.connect(a, shape.ins[0]);
    b.connect(c, shape.ins[1]);
    let sink = b.add_sink(Sink::ignore());
    b.connect(shape.out, sink);
    let built = b.build(|_| ());
    assert!(matches!(
        built.err(),
        Some(weir::builder::GraphError::InvalidArgument {
            node: "interleave",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// FlowConcatSpec / SourceSpec: supervised iterator sources
// ---------------------------------------------------------------------------------------------

/// The first call's iterator yields 1 and panics on 2; later calls' yield 4, 5. Counts calls.
fn iter_panicking_once(
    attempts: Arc<std::sync::atomic::AtomicUsize>,
) -> impl Iterator<Item = i32> + Clone + Send + Sync {
    let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let items = if n == 0 { vec![1, 2, 3] } else { vec![4, 5] };
    items.into_iter().inspect(|v| assert!(*v != 2, "two"))
}

/// A `from_iter` source whose every materialized iterator comes from `iter_panicking_once`.
#[derive(Clone)]
struct Attempts(Arc<std::sync::atomic::AtomicUsize>);

impl IntoIterator for Attempts {
    type Item = i32;
    type IntoIter = Box<dyn Iterator<Item = i32> + Send + Sync>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(iter_panicking_once(self.0))
    }
}

/// "honor supervision Restart decider by recreating the iterator after throw".
#[tokio::test(start_paused = true)]
async fn from_iter_restart_recreates_the_iterator() {
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let out = Source::single(0)
        .concat(
            Source::from_iter(Attempts(attempts.clone()))
                .with_attributes(weir::Attributes::supervision(weir::Decider::restarting())),
        )
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 4, 5]);
}

/// "honor supervision Resume decider when the inlined iterator throws".
#[tokio::test(start_paused = true)]
async fn from_iter_resume_skips_the_failing_element() {
    let out = Source::single(0)
        .concat(
            Source::from_iter((1..=5).inspect(|v| assert!(*v != 3, "three")))
                .with_attributes(weir::Attributes::supervision(weir::Decider::resuming())),
        )
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 4, 5]);
}

/// The factory of `from_stream_fn` is called again under Restart, after a panic in the stream.
#[tokio::test(start_paused = true)]
async fn from_stream_fn_restart_calls_the_factory_again() {
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = attempts.clone();
    let out = Source::from_stream_fn(move || futures::stream::iter(iter_panicking_once(a.clone())))
        .with_attributes(weir::Attributes::supervision(weir::Decider::restarting()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 4, 5]);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A factory that panics once is called again under Restart.
#[tokio::test(start_paused = true)]
async fn from_stream_fn_restart_calls_a_failed_factory_again() {
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = attempts.clone();
    let out = Source::from_stream_fn(move || {
        let n = a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(n != 0, "first attempt");
        futures::stream::iter(vec![7, 8])
    })
    .with_attributes(weir::Attributes::supervision(weir::Decider::restarting()))
    .run_with(Sink::seq())
    .await
    .unwrap();
    assert_eq!(out, vec![7, 8]);
}

/// "complete without requiring further demand (parallelism = 1)" and "(parallelism = 2)": the
/// completion comes with the last result, without another request.
#[tokio::test(start_paused = true)]
async fn map_async_completes_with_its_last_result_without_further_demand() {
    for (parallelism, n) in [(1usize, 1u32), (2, 2)] {
        let sink = Source::range(1u32, n)
            .map_async(parallelism, |x| async move {
                tokio::time::sleep(support::ms(20)).await;
                x
            })
            .run_with(TestSink::probe());
        sink.request(u64::from(n));
        for x in 1..=n {
            sink.expect_next(x).await;
        }
        sink.expect_complete().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Completion without demand (Reactive Streams: onComplete needs no request)
// ---------------------------------------------------------------------------------------------

/// A probe that has received all it asked for hears of completion without asking again,
/// through stages that pass completion on (`filter`, `map`), as Pekko's `TestSubscriber` does.
#[tokio::test(start_paused = true)]
async fn a_sink_probe_hears_of_completion_without_demand() {
    let (src, sink) = TestSource::<u32>::probe()
        .filter(|x| x % 2 == 1)
        .map(|x| x * 10)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(10).await;
    src.send_complete();
    sink.expect_complete().await;
}

/// GraphZipSpec: `Zip` completes as soon as one input has completed with nothing of it left
/// to pair, without a further request.
#[tokio::test(start_paused = true)]
async fn zip_completes_without_demand_when_an_input_completes() {
    let (right, slot) = source_probe::<u32>();
    let (left, sink) = TestSource::<u32>::probe()
        .zip(right)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let right = take(&slot);
    sink.request(1);
    left.send_next(1).await;
    right.send_next(10).await;
    sink.expect_next((1, 10)).await;
    left.send_complete();
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

//! Behaviour of the operators added from Pekko's operator index (issue 11): fluent fan-in
//! (`merge_preferred`, `merge_prioritized`, `merge_sorted`, `merge_latest`, `interleave*`,
//! `zip_latest*`, `merge_all`, `zip_all`), fan-in source constructors, lazy and future
//! blueprints, `also_to_all`, `divert_to`, `monitor` and the linear operators.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{is_boom, ms, settle, Boom};
use tokio::time::timeout;
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::Attributes;
use weir::Completion;

type Probed<T> = Source<T, SourceProbe<T>>;
type Slot<T> = Arc<Mutex<Option<T>>>;

/// A source probe for operators that drop their argument's materialized value: the probe is
/// put into the returned slot at materialization.
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

/// A sink probe for operators that drop the sink's materialized value.
fn sink_probe<T: Send + 'static>() -> (Sink<T>, Slot<SinkProbe<T>>) {
    let slot: Slot<SinkProbe<T>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let sink = Sink::from_fn(move |m, up, a| {
        let probe = TestSink::<T>::probe().materialize_into(m, up, a);
        *s.lock().unwrap() = Some(probe);
    });
    (sink, slot)
}

fn take<T>(slot: &Slot<T>) -> T {
    slot.lock()
        .unwrap()
        .take()
        .expect("probe was not materialized")
}

fn boom() -> StreamError {
    StreamError::failed(Boom)
}

/// A probe on this side, a probe for `other`, and a sink probe, wired by `wire`.
#[allow(clippy::type_complexity)]
fn two_probes<T, U, O>(
    wire: impl FnOnce(Source<T, SourceProbe<T>>, Source<U>) -> Source<O, SourceProbe<T>>,
) -> (SourceProbe<T>, SourceProbe<U>, SinkProbe<O>)
where
    T: Send + 'static,
    U: Send + 'static,
    O: Send + std::fmt::Debug + PartialEq + 'static,
{
    let (other, slot) = source_probe::<U>();
    let (left, sink) = wire(TestSource::<T>::probe(), other)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    (left, take(&slot), sink)
}

// ---------------------------------------------------------------------------------------------
// merge_preferred
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merge_preferred_drains_this_side_first_unless_other_is_preferred() {
    let out = Source::range(1, 3)
        .merge_preferred(Source::range(10, 12), false, false)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 10, 11, 12]);
    let out = Source::range(1, 3)
        .merge_preferred(Source::range(10, 12), true, false)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![10, 11, 12, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_emits_the_other_side_while_the_preferred_is_idle() {
    let (left, right, sink) = two_probes(|l, r| l.merge_preferred(r, true, false));
    sink.request(2);
    left.send_next(1).await;
    sink.expect_next(1).await;
    right.send_next(10).await;
    sink.expect_next(10).await;
    left.send_complete();
    sink.request(1);
    sink.expect_no_message(ms(50)).await;
    right.send_next(11).await;
    sink.expect_next(11).await;
    right.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_eager_complete_completes_with_either_and_cancels_the_other() {
    let (left, right, sink) = two_probes(|l, r| l.merge_preferred(r, false, true));
    sink.request(4);
    right.send_next(10).await;
    sink.expect_next(10).await;
    right.send_complete();
    sink.expect_complete().await;
    left.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_fails_with_either_and_cancels_the_other() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_preferred(r, true, false));
    sink.request(1);
    left.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_cancellation_reaches_both_inputs() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_preferred(r, false, false));
    sink.request(1);
    left.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// merge_prioritized
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merge_prioritized_shares_demand_by_priority() {
    let out = Source::repeat(0)
        .merge_prioritized(Source::repeat(1), 1, 3, false)
        .take(400)
        .run_with(Sink::seq())
        .await
        .unwrap();
    let ones = out.iter().filter(|&&x| x == 1).count();
    assert_eq!(ones, 300, "priority 3 of 4 should take three quarters");
}

#[tokio::test]
async fn merge_prioritized_completes_when_both_complete_or_eagerly() {
    let mut out = Source::range(1, 3)
        .merge_prioritized(Source::range(10, 11), 2, 1, false)
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(out, vec![1, 2, 3, 10, 11]);
    let out = Source::<i32>::empty()
        .merge_prioritized(Source::repeat(1), 2, 1, true)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(
        out.len() < 1000,
        "eager completion must end an endless side"
    );
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_rejects_a_zero_priority_and_cancels_both() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_prioritized(r, 0, 1, false));
    sink.request(1);
    let err = sink.expect_error().await;
    assert!(matches!(
        err,
        StreamError::InvalidArgument {
            stage: "merge_prioritized",
            ..
        }
    ));
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_fails_with_either() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_prioritized(r, 1, 1, false));
    sink.request(1);
    right.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    left.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// merge_sorted
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merge_sorted_interleaves_two_sorted_streams() {
    let out = Source::from_iter(vec![1, 3, 5, 7])
        .merge_sorted(Source::from_iter(vec![2, 3, 4, 10, 11]))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 3, 4, 5, 7, 10, 11]);
}

#[tokio::test(start_paused = true)]
async fn merge_sorted_waits_for_both_heads() {
    let (left, right, sink) = two_probes(|l, r| l.merge_sorted(r));
    sink.request(3);
    left.send_next(5).await;
    sink.expect_no_message(ms(50)).await;
    right.send_next(2).await;
    sink.expect_next(2).await;
    right.send_complete();
    sink.expect_next(5).await;
    left.send_next(6).await;
    sink.expect_next(6).await;
    left.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_sorted_fails_and_cancels() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_sorted(r));
    sink.request(1);
    left.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    right.expect_cancellation().await;

    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_sorted(r));
    sink.cancel();
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// merge_latest
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn merge_latest_emits_once_both_have_a_value_then_on_every_element() {
    let (left, right, sink) = two_probes(|l, r| l.merge_latest(r, false));
    sink.request(10);
    left.send_next(1).await;
    sink.expect_no_message(ms(50)).await;
    right.send_next(10).await;
    sink.expect_next(vec![1, 10]).await;
    left.send_next(2).await;
    sink.expect_next(vec![2, 10]).await;
    right.send_next(11).await;
    sink.expect_next(vec![2, 11]).await;
    left.send_complete();
    right.send_next(12).await;
    sink.expect_next(vec![2, 12]).await;
    right.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_eager_complete_completes_with_either() {
    let (left, right, sink) = two_probes(|l, r| l.merge_latest(r, true));
    sink.request(10);
    left.send_next(1).await;
    right.send_next(2).await;
    sink.expect_next(vec![1, 2]).await;
    left.send_complete();
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn merge_latest_fails_with_either_and_cancellation_reaches_both() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_latest(r, false));
    sink.request(1);
    right.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    left.expect_cancellation().await;

    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.merge_latest(r, false));
    sink.cancel();
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// interleave, interleave_eager_close, interleave_all
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn interleave_takes_segments_in_turn_and_goes_on_with_the_longer() {
    let out = Source::range(1, 5)
        .interleave(Source::range(10, 11), 2)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 10, 11, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn interleave_waits_for_the_side_whose_turn_it_is() {
    let (left, right, sink) = two_probes(|l, r| l.interleave(r, 1));
    sink.request(4);
    // It is this side's turn: the other is not asked meanwhile.
    assert!(timeout(ms(100), right.expect_request()).await.is_err());
    left.send_next(1).await;
    sink.expect_next(1).await;
    right.send_next(10).await;
    sink.expect_next(10).await;
    left.send_complete();
    right.send_next(11).await;
    sink.expect_next(11).await;
    right.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn interleave_eager_close_completes_with_either_and_cancels_the_other() {
    let (left, right, sink) = two_probes(|l, r| l.interleave_eager_close(r, 1, true));
    sink.request(4);
    left.send_next(1).await;
    right.send_next(10).await;
    sink.expect_next_n([1, 10]).await;
    left.send_complete();
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

#[tokio::test]
async fn interleave_all_visits_every_source_in_turn() {
    let out = Source::range(1, 2)
        .interleave_all(vec![Source::range(10, 12), Source::range(20, 21)], 1, false)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 10, 20, 2, 11, 21, 12]);
}

#[tokio::test(start_paused = true)]
async fn interleave_rejects_segment_size_zero_and_cancels_both() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.interleave(r, 0));
    sink.request(1);
    assert!(matches!(
        sink.expect_error().await,
        StreamError::InvalidArgument {
            stage: "interleave",
            ..
        }
    ));
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn interleave_fails_with_the_side_being_read() {
    let (left, right, sink) = two_probes(|l: Probed<u32>, r| l.interleave(r, 1));
    sink.request(1);
    left.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    right.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// zip_latest, zip_latest_with
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn zip_latest_pairs_the_latest_of_each_side() {
    let (left, right, sink) = two_probes(|l, r| l.zip_latest(r));
    sink.request(10);
    left.send_next(1).await;
    left.send_next(2).await;
    sink.expect_no_message(ms(50)).await;
    right.send_next('a').await;
    sink.expect_next((2, 'a')).await;
    right.send_next('b').await;
    sink.expect_next((2, 'b')).await;
    left.send_next(3).await;
    sink.expect_next((3, 'b')).await;
    right.send_complete();
    sink.expect_complete().await;
    left.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_latest_fails_with_either_and_cancellation_reaches_both() {
    let (left, right, sink) = two_probes(|l: Probed<u8>, r: Source<u8>| l.zip_latest(r));
    sink.request(1);
    right.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    left.expect_cancellation().await;

    let (left, right, sink) = two_probes(|l: Probed<u8>, r: Source<u8>| l.zip_latest(r));
    sink.cancel();
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_latest_with_combines_and_completes_with_either() {
    let (left, right, sink) = two_probes(|l, r| l.zip_latest_with(r, |a: u32, b: u32| a * b));
    sink.request(10);
    left.send_next(2).await;
    right.send_next(10).await;
    sink.expect_next(20).await;
    right.send_next(11).await;
    sink.expect_next(22).await;
    left.send_complete();
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

#[tokio::test]
async fn zip_latest_with_panic_follows_supervision() {
    let f = |a: u32, b: u32| {
        assert!(b != 2, "two");
        a + b
    };
    let err = Source::single(1)
        .concat(Source::never())
        .zip_latest_with(Source::from_iter(vec![1, 2, 3]), f)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { ref stage, .. } if stage == "zip_latest_with"));
    let out = Source::single(1)
        .concat(Source::never())
        .zip_latest_with(Source::from_iter(vec![1, 2, 3]), f)
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 4]);
}

// ---------------------------------------------------------------------------------------------
// merge_all
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merge_all_emits_everything_and_completes_after_all() {
    let mut out = Source::range(1, 3)
        .merge_all(
            vec![Source::range(10, 12), Source::empty(), Source::single(99)],
            false,
        )
        .run_with(Sink::seq())
        .await
        .unwrap();
    out.sort();
    assert_eq!(out, vec![1, 2, 3, 10, 11, 12, 99]);
}

#[tokio::test(start_paused = true)]
async fn merge_all_eager_complete_and_failure_cancel_the_rest() {
    let (a, slot_a) = source_probe::<u32>();
    let (b, slot_b) = source_probe::<u32>();
    let (main, sink) = TestSource::<u32>::probe()
        .merge_all(vec![a, b], true)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let (a, b) = (take(&slot_a), take(&slot_b));
    sink.request(2);
    b.send_next(7).await;
    sink.expect_next(7).await;
    a.send_complete();
    sink.expect_complete().await;
    main.expect_cancellation().await;
    b.expect_cancellation().await;

    let (a, slot_a) = source_probe::<u32>();
    let (main, sink) = TestSource::<u32>::probe()
        .merge_all(vec![a], false)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let a = take(&slot_a);
    sink.request(1);
    a.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    main.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// zip_all
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn zip_all_pads_whichever_side_ends_first() {
    let out = Source::range(1, 2)
        .zip_all(Source::from_iter(vec!['a', 'b', 'c']), 0, '-')
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(1, 'a'), (2, 'b'), (0, 'c')]);
    let out = Source::range(1, 3)
        .zip_all(Source::<char>::empty(), 0, '-')
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(1, '-'), (2, '-'), (3, '-')]);
}

#[tokio::test(start_paused = true)]
async fn zip_all_completes_only_when_both_have() {
    let (left, right, sink) = two_probes(|l, r| l.zip_all(r, 0u32, 'x'));
    sink.request(10);
    left.send_next(1).await;
    right.send_next('a').await;
    sink.expect_next((1, 'a')).await;
    left.send_complete();
    sink.expect_no_message(ms(50)).await;
    right.send_next('b').await;
    sink.expect_next((0, 'b')).await;
    right.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn zip_all_fails_with_either_even_after_the_other_completed() {
    let (left, right, sink) = two_probes(|l, r| l.zip_all(r, 0u32, 0u32));
    sink.request(10);
    right.send_complete();
    left.send_next(1).await;
    sink.expect_next((1, 0)).await;
    left.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));

    let (left, right, sink) = two_probes(|l, r| l.zip_all(r, 0u32, 0u32));
    sink.request(1);
    right.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    left.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_all_cancellation_reaches_both() {
    let (left, right, sink) = two_probes(|l, r| l.zip_all(r, 0u32, 0u32));
    sink.request(1);
    left.send_next(1).await;
    right.send_next(2).await;
    sink.expect_next((1, 2)).await;
    sink.cancel();
    left.expect_cancellation().await;
    right.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// Source::zip_n, zip_with_n, merge_prioritized_n, combine
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn zip_n_emits_rows_until_the_shortest_ends() {
    let out = Source::zip_n(vec![
        Source::range(1, 4),
        Source::range(10, 12),
        Source::range(20, 29),
    ])
    .run_with(Sink::seq())
    .await
    .unwrap();
    assert_eq!(out, vec![vec![1, 10, 20], vec![2, 11, 21], vec![3, 12, 22]]);
    let none = Source::zip_n(Vec::<Source<i32>>::new())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(start_paused = true)]
async fn zip_n_fails_with_any_and_cancels_the_rest() {
    let (a, slot_a) = source_probe::<u32>();
    let (b, slot_b) = source_probe::<u32>();
    let sink = Source::zip_n(vec![a, b]).run_with(TestSink::probe());
    let (a, b) = (take(&slot_a), take(&slot_b));
    sink.request(2);
    a.send_next(1).await;
    b.send_next(2).await;
    sink.expect_next(vec![1, 2]).await;
    b.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    a.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn zip_n_completion_and_cancellation_reach_every_source() {
    let (a, slot_a) = source_probe::<u32>();
    let (b, slot_b) = source_probe::<u32>();
    let sink = Source::zip_n(vec![a, b]).run_with(TestSink::probe());
    let (a, b) = (take(&slot_a), take(&slot_b));
    sink.request(2);
    a.send_complete();
    sink.expect_complete().await;
    b.expect_cancellation().await;

    let (a, slot_a) = source_probe::<u32>();
    let sink = Source::zip_n(vec![a]).run_with(TestSink::probe());
    let a = take(&slot_a);
    sink.cancel();
    a.expect_cancellation().await;
}

#[tokio::test]
async fn zip_with_n_combines_rows_under_supervision() {
    let sum = |xs: Vec<i32>| {
        assert!(xs[0] != 2, "two");
        xs.iter().sum::<i32>()
    };
    let sources = vec![Source::range(1, 3), Source::range(10, 12)];
    let err = Source::zip_with_n(sources.clone(), sum)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { ref stage, .. } if stage == "zip_with_n"));
    let out = Source::zip_with_n(sources, sum)
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![11, 15]);
}

#[tokio::test]
async fn merge_prioritized_n_shares_by_priority_and_completes() {
    let out = Source::merge_prioritized_n(
        vec![
            (Source::repeat(0), 1),
            (Source::repeat(1), 2),
            (Source::repeat(2), 1),
        ],
        false,
    )
    .take(400)
    .run_with(Sink::seq())
    .await
    .unwrap();
    assert_eq!(out.iter().filter(|&&x| x == 1).count(), 200);
    let mut all = Source::merge_prioritized_n(
        vec![(Source::range(1, 3), 1), (Source::range(7, 8), 5)],
        false,
    )
    .run_with(Sink::seq())
    .await
    .unwrap();
    all.sort();
    assert_eq!(all, vec![1, 2, 3, 7, 8]);
    let eager =
        Source::merge_prioritized_n(vec![(Source::empty(), 1), (Source::repeat(1), 1)], true)
            .run_with(Sink::seq())
            .await
            .unwrap();
    assert!(eager.len() < 1000);
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_n_rejects_zero_and_fails_with_any() {
    let err = Source::merge_prioritized_n(vec![(Source::single(1), 0)], false)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StreamError::InvalidArgument {
            stage: "merge_prioritized_n",
            ..
        }
    ));

    let (a, slot_a) = source_probe::<u32>();
    let (b, slot_b) = source_probe::<u32>();
    let sink = Source::merge_prioritized_n(vec![(a, 1), (b, 2)], false).run_with(TestSink::probe());
    let (a, b) = (take(&slot_a), take(&slot_b));
    sink.request(1);
    a.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    b.expect_cancellation().await;
}

#[tokio::test]
async fn combine_uses_the_junction_and_keeps_every_materialized_value() {
    use weir::junctions::{Concat, Interleave, Merge};
    let sources = vec![
        Source::range(1, 2).map_materialized_value(|()| 'a'),
        Source::range(8, 9).map_materialized_value(|()| 'b'),
    ];
    let (mats, out) = Source::combine(sources.clone(), Concat::new)
        .unwrap()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(mats, vec!['a', 'b']);
    assert_eq!(out.await.unwrap(), vec![1, 2, 8, 9]);
    let mut merged = Source::combine(sources.clone(), Merge::new)
        .unwrap()
        .run_with(Sink::seq())
        .await
        .unwrap();
    merged.sort();
    assert_eq!(merged, vec![1, 2, 8, 9]);
    assert!(Source::combine(sources, |n| Interleave::new(n, 0, false)).is_err());
}

#[tokio::test(start_paused = true)]
async fn combine_fails_and_cancels_as_its_junction() {
    use weir::junctions::Merge;
    let (a, slot_a) = source_probe::<u32>();
    let (b, slot_b) = source_probe::<u32>();
    let sink = Source::combine(vec![a, b], Merge::new)
        .unwrap()
        .run_with(TestSink::probe());
    let (a, b) = (take(&slot_a), take(&slot_b));
    sink.request(1);
    b.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    a.expect_cancellation().await;
}

// ---------------------------------------------------------------------------------------------
// Source::future_source, lazy_source
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn future_source_emits_the_inner_source_once_the_future_resolves() {
    let (tx, rx) = futures::channel::oneshot::channel::<Source<u32, &'static str>>();
    let src = Source::future_source(async move { rx.await.unwrap() });
    let (mat, sink) = src.to_mat(TestSink::probe(), Keep::both).run();
    sink.request(5);
    sink.expect_no_message(ms(50)).await;
    tx.send(Source::range(1, 2).map_materialized_value(|()| "inner"))
        .unwrap();
    sink.expect_next_n([1, 2]).await;
    sink.expect_complete().await;
    assert_eq!(mat.await.unwrap(), "inner");
}

#[tokio::test]
async fn future_source_is_reusable_and_passes_inner_failure_on() {
    let src = Source::future_source(async { Source::range(1, 2) });
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![1, 2]);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![1, 2]);
    let failing = Source::future_source(async { Source::<u32>::failed(boom()) });
    assert!(is_boom(&failing.run_with(Sink::seq()).await.unwrap_err()));
}

#[tokio::test]
async fn future_source_panic_fails_stream_and_value() {
    let src = Source::<u32, _>::future_source(async {
        panic!("no source");
        #[allow(unreachable_code)]
        Source::<u32>::empty()
    });
    let (mat, out) = src.to_mat(Sink::seq(), Keep::both).run();
    assert!(matches!(
        out.await.unwrap_err(),
        StreamError::Panicked { .. }
    ));
    assert!(matches!(
        mat.await.unwrap_err(),
        StreamError::Panicked { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn future_source_cancelled_before_resolving_never_materializes() {
    let src = Source::future_source(std::future::pending::<Source<u32>>());
    let (mat, sink) = src.to_mat(TestSink::probe(), Keep::both).run();
    sink.request(1);
    settle().await;
    sink.cancel();
    assert!(matches!(
        mat.await.unwrap_err(),
        StreamError::NeverMaterialized {
            stage: "future_source"
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn lazy_source_creates_nothing_before_demand() {
    let made = Arc::new(Mutex::new(0));
    let m = made.clone();
    let (inner, slot) = source_probe::<u32>();
    let src = Source::lazy_source(move || {
        *m.lock().unwrap() += 1;
        inner.clone()
    });
    let (mat, sink) = src.to_mat(TestSink::probe(), Keep::both).run();
    settle().await;
    assert_eq!(*made.lock().unwrap(), 0);
    sink.request(1);
    settle().await;
    assert_eq!(*made.lock().unwrap(), 1);
    let probe = take(&slot);
    probe.send_next(7).await;
    sink.expect_next(7).await;
    assert!(mat.await.is_ok());
    sink.cancel();
    probe.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn lazy_source_failure_and_never_materialized() {
    let src = Source::lazy_source(|| Source::<u32>::failed(boom()));
    assert!(is_boom(&src.run_with(Sink::seq()).await.unwrap_err()));

    let src = Source::lazy_source(|| Source::<u32>::single(1));
    let (mat, sink) = src.to_mat(TestSink::probe(), Keep::both).run();
    sink.cancel();
    assert!(matches!(
        mat.await.unwrap_err(),
        StreamError::NeverMaterialized {
            stage: "lazy_source"
        }
    ));

    let src = Source::<u32, _>::lazy_source(|| -> Source<u32> { panic!("factory") });
    let (mat, out) = src.to_mat(Sink::seq(), Keep::both).run();
    assert!(matches!(
        out.await.unwrap_err(),
        StreamError::Panicked { .. }
    ));
    assert!(mat.await.is_err());
}

// ---------------------------------------------------------------------------------------------
// Source::unfold_resource_async
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

impl std::error::Error for Oops {}

/// A resource over `items` whose reads and close take 10 ms; `closed` counts closes. Reading
/// `fail_at` fails.
fn counted(items: Vec<u32>, fail_at: Option<u32>, closed: Arc<Mutex<u32>>) -> Source<u32> {
    Source::unfold_resource_async(
        move || {
            let items = items.clone();
            async move { Ok::<_, Oops>(items.into_iter()) }
        },
        move |it| {
            let next = it.next();
            async move {
                tokio::time::sleep(ms(10)).await;
                match next {
                    Some(x) if Some(x) == fail_at => Err(Oops),
                    other => Ok(other),
                }
            }
        },
        move |_it| {
            let closed = closed.clone();
            async move {
                tokio::time::sleep(ms(10)).await;
                *closed.lock().unwrap() += 1;
                Ok(())
            }
        },
    )
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_async_reads_to_the_end_and_closes_before_completing() {
    let closed = Arc::new(Mutex::new(0));
    let sink = counted(vec![1, 2, 3], None, closed.clone()).run_with(TestSink::probe());
    sink.request(2);
    sink.expect_next_n([1, 2]).await;
    // No demand, no read.
    sink.expect_no_message(ms(100)).await;
    sink.request(5);
    sink.expect_next(3).await;
    sink.expect_complete().await;
    assert_eq!(*closed.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_async_read_failure_follows_supervision() {
    let closed = Arc::new(Mutex::new(0));
    let err = counted(vec![1, 2, 3], Some(2), closed.clone())
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<Oops>().is_some());
    assert_eq!(*closed.lock().unwrap(), 1, "Stop closes the resource");

    let out = counted(vec![1, 2, 3], Some(2), closed.clone())
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 3]);
    assert_eq!(*closed.lock().unwrap(), 2);

    // Restart closes and creates a fresh resource, which fails again at 2: bounded by take.
    let out = counted(vec![1, 2, 3], Some(2), closed.clone())
        .with_attributes(Attributes::supervision(weir::Decider::restarting()))
        .take(3)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 1, 1]);
    settle().await;
    tokio::time::sleep(ms(50)).await;
    assert_eq!(
        *closed.lock().unwrap(),
        5,
        "two restarts and the cancellation close"
    );
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_async_cancellation_closes_the_resource() {
    let closed = Arc::new(Mutex::new(0));
    let out = counted(vec![1, 2, 3], None, closed.clone())
        .take(1)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1]);
    tokio::time::sleep(ms(50)).await;
    assert_eq!(*closed.lock().unwrap(), 1);
}

#[tokio::test]
async fn unfold_resource_async_create_and_close_failures_fail_the_stream() {
    let src = Source::unfold_resource_async(
        || async { Err::<u32, _>(Oops) },
        |_r| async { Ok::<Option<u32>, Oops>(None) },
        |_r| async { Ok(()) },
    );
    assert!(src
        .run_with(Sink::seq())
        .await
        .unwrap_err()
        .downcast_ref::<Oops>()
        .is_some());
    let src = Source::unfold_resource_async(
        || async { Ok::<u32, Oops>(0) },
        |_r| async { Ok(None::<u32>) },
        |_r| async { Err(Oops) },
    );
    assert!(src
        .run_with(Sink::seq())
        .await
        .unwrap_err()
        .downcast_ref::<Oops>()
        .is_some());
}

// ---------------------------------------------------------------------------------------------
// also_to_all, divert_to
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn also_to_all_sends_every_element_to_every_sink() {
    let (a, s1) = Sink::seq().pre_materialize();
    let (b, s2) = Sink::seq().pre_materialize();
    let out = Source::range(1, 4)
        .also_to_all(vec![s1, s2])
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 4]);
    assert_eq!(a.await.unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(b.await.unwrap(), vec![1, 2, 3, 4]);
    let alone = Source::range(1, 2)
        .also_to_all(Vec::<Sink<i32>>::new())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(alone, vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn also_to_all_back_pressures_on_the_slowest_and_cancels_eagerly() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .also_to_all(vec![side])
        .with_attributes(Attributes::input_buffer(1))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.request(5);
    side.request(1);
    src.send_next(1).await;
    main.expect_next(1).await;
    side.expect_next(1).await;
    src.send_next(2).await;
    main.expect_next(2).await;
    // The side has no demand: its buffer holds 2, and 3 waits upstream.
    side.expect_no_message(ms(50)).await;
    side.cancel();
    src.expect_cancellation().await;
    main.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn also_to_all_failure_reaches_every_output() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .also_to_all(vec![side])
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.request(1);
    side.request(1);
    src.send_error(boom());
    assert!(is_boom(&main.expect_error().await));
    assert!(is_boom(&side.expect_error().await));
}

#[tokio::test]
async fn divert_to_splits_by_the_predicate() {
    let (odd, odd_sink) = Sink::seq().pre_materialize();
    let out = Source::range(1, 6)
        .divert_to(odd_sink, |x| x % 2 == 1)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 4, 6]);
    assert_eq!(odd.await.unwrap(), vec![1, 3, 5]);
}

#[tokio::test(start_paused = true)]
async fn divert_to_cancels_upstream_when_either_cancels() {
    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .divert_to(side, |x| *x > 10)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.request(2);
    side.request(2);
    src.send_next(1).await;
    src.send_next(11).await;
    main.expect_next(1).await;
    side.expect_next(11).await;
    side.cancel();
    src.expect_cancellation().await;
    main.expect_complete().await;

    let (side, slot) = sink_probe::<u32>();
    let (src, main) = TestSource::<u32>::probe()
        .divert_to(side, |x| *x > 10)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let side = take(&slot);
    main.cancel();
    src.expect_cancellation().await;
    side.request(1);
    side.expect_complete().await;
}

#[tokio::test]
async fn divert_to_predicate_panic_follows_supervision() {
    let pred = |x: &i32| {
        assert!(*x != 3, "three");
        *x > 4
    };
    let err = Source::range(1, 6)
        .divert_to(Sink::ignore(), pred)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { ref stage, .. } if stage == "divert_to"));
    let out = Source::range(1, 6)
        .divert_to(Sink::ignore(), pred)
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 4]);
}

// ---------------------------------------------------------------------------------------------
// monitor
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn monitor_shows_each_state_in_turn() {
    use weir::FlowMonitorState as S;
    let ((src, monitor), sink) = TestSource::<u32>::probe()
        .via_mat(Flow::new().monitor(), Keep::both)
        .with_attributes(Attributes::input_buffer(1))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    assert!(matches!(monitor.state(), S::Initialized));
    sink.request(1);
    src.send_next(7).await;
    sink.expect_next(7).await;
    assert!(matches!(monitor.state(), S::Received(7)));
    sink.request(1);
    src.send_next(8).await;
    sink.expect_next(8).await;
    assert!(matches!(monitor.state(), S::Received(8)));
    sink.request(1);
    src.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));
    assert!(matches!(monitor.state(), S::Failed(ref e) if is_boom(e)));
}

#[tokio::test(start_paused = true)]
async fn monitor_shows_finished_on_completion_and_on_cancellation() {
    use weir::FlowMonitorState as S;
    let (monitor, out) = Source::range(1, 3)
        .monitor()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    assert!(matches!(monitor.state(), S::Finished));

    let ((src, monitor), sink) = TestSource::<u32>::probe()
        .via_mat(Flow::new().monitor(), Keep::both)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    src.expect_cancellation().await;
    assert!(matches!(monitor.state(), S::Finished));
}

// ---------------------------------------------------------------------------------------------
// Flow::lazy_flow, Sink::lazy_sink, Flow::from_sink_and_source
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn lazy_flow_is_made_at_the_first_element() {
    let made = Arc::new(Mutex::new(0));
    let m = made.clone();
    let lazy = Flow::lazy_flow(move || {
        *m.lock().unwrap() += 1;
        Flow::<u32>::new()
            .map(|x| x * 10)
            .map_materialized_value(|()| "made")
    });
    let ((src, mat), sink) = TestSource::<u32>::probe()
        .via_mat(lazy, Keep::both)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(3);
    assert_eq!(
        src.expect_request().await,
        1,
        "one element before the flow exists"
    );
    settle().await;
    assert_eq!(*made.lock().unwrap(), 0);
    src.send_next(1).await;
    sink.expect_next(10).await;
    assert_eq!(mat.await.unwrap(), "made");
    src.send_next(2).await;
    sink.expect_next(20).await;
    src.send_complete();
    sink.expect_complete().await;
    assert_eq!(*made.lock().unwrap(), 1);
}

#[tokio::test]
async fn lazy_flow_sees_completion_that_came_with_the_first_element() {
    let lazy = Flow::lazy_flow(|| Flow::<i32>::new().fold(0, |a, x| a + x));
    let out = Source::single(5)
        .via(lazy)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![5]);
}

#[tokio::test(start_paused = true)]
async fn lazy_flow_never_materialized_on_empty_failure_or_cancellation() {
    let never = |r: Result<(), StreamError>| {
        matches!(
            r,
            Err(StreamError::NeverMaterialized { stage: "lazy_flow" })
        )
    };
    let lazy = Flow::lazy_flow(Flow::<u32>::new);
    let (mat, out) = Source::empty()
        .via_mat(lazy.clone(), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert!(out.await.unwrap().is_empty());
    assert!(never(mat.await));

    let (mat, out) = Source::failed(boom())
        .via_mat(lazy.clone(), Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert!(is_boom(&out.await.unwrap_err()));
    assert!(never(mat.await));

    let ((src, mat), sink) = TestSource::<u32>::probe()
        .via_mat(lazy, Keep::both)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.expect_request().await;
    sink.cancel();
    src.expect_cancellation().await;
    assert!(never(mat.await));
}

#[tokio::test(start_paused = true)]
async fn lazy_flow_inner_failure_and_factory_panic_fail_the_stream() {
    let lazy = Flow::lazy_flow(|| {
        Flow::<u32>::new().map(|x| {
            assert!(x != 2, "two");
            x
        })
    });
    let err = Source::range(1, 3)
        .via(lazy)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { .. }));

    let lazy = Flow::<u32, u32, _>::lazy_flow(|| -> Flow<u32, u32> { panic!("factory") });
    let (mat, out) = Source::range(1, 3)
        .via_mat(lazy, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert!(matches!(
        out.await.unwrap_err(),
        StreamError::Panicked { .. }
    ));
    assert!(matches!(
        mat.await.unwrap_err(),
        StreamError::Panicked { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn lazy_sink_is_made_at_the_first_element_and_runs_to_the_end() {
    let made = Arc::new(Mutex::new(0));
    let m = made.clone();
    let lazy = Sink::lazy_sink(move || {
        *m.lock().unwrap() += 1;
        Sink::seq()
    });
    let (src, mat) = TestSource::<u32>::probe().to_mat(lazy, Keep::both).run();
    assert_eq!(src.expect_request().await, 1);
    settle().await;
    assert_eq!(*made.lock().unwrap(), 0);
    src.send_next(1).await;
    src.send_next(2).await;
    src.send_complete();
    let seq = mat.await.unwrap();
    assert_eq!(seq.await.unwrap(), vec![1, 2]);
    assert_eq!(*made.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn lazy_sink_never_materialized_and_failures() {
    let never = |r: &Result<Completion<Vec<u32>>, StreamError>| {
        matches!(
            r,
            Err(StreamError::NeverMaterialized { stage: "lazy_sink" })
        )
    };
    let lazy = Sink::lazy_sink(Sink::<u32, _>::seq);
    assert!(never(&Source::empty().run_with(lazy.clone()).await));
    assert!(never(&Source::failed(boom()).run_with(lazy.clone()).await));

    // A failure after the first element reaches the inner sink.
    let seq = Source::single(1)
        .concat(Source::failed(boom()))
        .run_with(lazy)
        .await
        .unwrap();
    assert!(is_boom(&seq.await.unwrap_err()));

    let (src, mat) = TestSource::<u32>::probe()
        .to_mat(
            Sink::lazy_sink(|| -> Sink<u32, Completion<()>> { panic!("factory") }),
            Keep::both,
        )
        .run();
    src.send_next(1).await;
    assert!(matches!(
        mat.await.unwrap_err(),
        StreamError::Panicked { .. }
    ));
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn from_sink_and_source_terminations_are_not_coupled() {
    let (seen, sink_side) = Sink::seq().pre_materialize();
    let (inner_src, out_slot) = source_probe::<char>();
    let flow = Flow::from_sink_and_source(sink_side, inner_src);
    let (up, down) = TestSource::<u32>::probe()
        .via(flow)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let inner = take(&out_slot);
    up.send_next(1).await;
    up.send_complete();
    assert_eq!(seen.await.unwrap(), vec![1]);
    // The input has completed; the output goes on.
    down.request(1);
    inner.send_next('a').await;
    down.expect_next('a').await;
    inner.send_complete();
    down.request(1);
    down.expect_complete().await;
}

#[tokio::test]
async fn from_sink_and_source_mat_combines_values() {
    let flow = Flow::from_sink_and_source_mat(
        Sink::<i32, _>::seq(),
        Source::single('z').map_materialized_value(|()| 9),
        Keep::both,
    );
    let ((seen, nine), out) = Source::range(1, 2)
        .via_mat(flow, Keep::right)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec!['z']);
    assert_eq!(seen.await.unwrap(), vec![1, 2]);
    assert_eq!(nine, 9);
}

// ---------------------------------------------------------------------------------------------
// map_with_resource, grouped_weighted, limit_weighted, collect_first, collect_while
// ---------------------------------------------------------------------------------------------

/// A resource whose closes are counted.
fn resourced(closed: Arc<Mutex<u32>>) -> Flow<u32, u32> {
    Flow::new().map_with_resource(
        || 100,
        |r: &mut u32, x| {
            assert!(x != 99, "ninety-nine");
            *r + x
        },
        move |r| {
            *closed.lock().unwrap() += 1;
            Some(r)
        },
    )
}

#[tokio::test(start_paused = true)]
async fn map_with_resource_closes_once_on_every_termination() {
    let closed = Arc::new(Mutex::new(0));
    let out = Source::range(1, 2)
        .via(resourced(closed.clone()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![101, 102, 100], "close's element comes last");
    assert_eq!(*closed.lock().unwrap(), 1);

    let err = Source::single(1)
        .concat(Source::failed(boom()))
        .via(resourced(closed.clone()))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&err));
    assert_eq!(*closed.lock().unwrap(), 2);

    let (src, sink) = TestSource::<u32>::probe()
        .via(resourced(closed.clone()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(101).await;
    sink.cancel();
    src.expect_cancellation().await;
    assert_eq!(*closed.lock().unwrap(), 3);
}

#[tokio::test]
async fn map_with_resource_panic_follows_supervision() {
    let closed = Arc::new(Mutex::new(0));
    let err = Source::from_iter(vec![1, 99, 2])
        .via(resourced(closed.clone()))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { ref stage, .. } if stage == "map_with_resource"));
    assert_eq!(*closed.lock().unwrap(), 1);
    let out = Source::from_iter(vec![1, 99, 2])
        .via(resourced(closed.clone()))
        .with_attributes(Attributes::supervision(weir::Decider::restarting()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![101, 100, 102, 100]);
    assert_eq!(*closed.lock().unwrap(), 3);
}

#[tokio::test]
async fn grouped_weighted_closes_groups_at_the_minimum_weight() {
    let out = Source::from_iter(vec![1u64, 1, 1, 5, 2, 0, 1])
        .grouped_weighted(3, |x| *x)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![vec![1, 1, 1], vec![5], vec![2, 0, 1]]);
    let partial = Source::from_iter(vec![1u64])
        .grouped_weighted(3, |x| *x)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(partial, vec![vec![1]]);
}

#[tokio::test(start_paused = true)]
async fn grouped_weighted_back_pressure_failure_and_invalid_weight() {
    let (src, sink) = TestSource::<u64>::probe()
        .grouped_weighted(2, |x| *x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_no_message(ms(50)).await;
    src.send_next(1).await;
    sink.expect_next(vec![1, 1]).await;
    sink.request(1);
    src.send_next(1).await;
    src.send_error(boom());
    assert!(
        is_boom(&sink.expect_error().await),
        "a failure drops the open group"
    );

    let err = Source::single(1u64)
        .grouped_weighted(0, |x| *x)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StreamError::InvalidArgument {
            stage: "grouped_weighted",
            ..
        }
    ));
}

#[tokio::test]
async fn grouped_weighted_cost_panic_follows_supervision() {
    let cost = |x: &u64| {
        assert!(*x != 7, "seven");
        *x
    };
    let out = Source::from_iter(vec![1u64, 7, 2, 1])
        .grouped_weighted(3, cost)
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![vec![1, 2], vec![1]]);
    let out = Source::from_iter(vec![1u64, 7, 2, 1])
        .grouped_weighted(3, cost)
        .with_attributes(Attributes::supervision(weir::Decider::restarting()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![vec![2, 1]], "restart drops the open group");
}

#[tokio::test(start_paused = true)]
async fn limit_weighted_fails_past_the_limit_and_cancels_upstream() {
    let (src, sink) = TestSource::<u64>::probe()
        .limit_weighted(5, |x| *x)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(2).await;
    src.send_next(3).await;
    sink.expect_next_n([2, 3]).await;
    src.send_next(1).await;
    assert!(matches!(
        sink.expect_error().await,
        StreamError::LimitExceeded { max: 5 }
    ));
    src.expect_cancellation().await;

    let out = Source::from_iter(vec![0u64, 0, 0])
        .limit_weighted(0, |x| *x)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 0, 0]);
}

#[tokio::test]
async fn limit_weighted_cost_panic_follows_supervision() {
    let cost = |x: &u64| {
        assert!(*x != 9, "nine");
        *x
    };
    let out = Source::from_iter(vec![1u64, 9, 2])
        .limit_weighted(3, cost)
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn collect_first_emits_the_first_match_and_cancels_upstream() {
    let (src, sink) = TestSource::<i32>::probe()
        .collect_first(|x| (x > 2).then_some(x * 10))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    src.send_next(3).await;
    sink.expect_next(30).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;

    let none = Source::range(1, 2)
        .collect_first(|x| (x > 5).then_some(x))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(none.is_empty());
    let err = Source::failed(boom())
        .collect_first(|x: i32| Some(x))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&err));
}

#[tokio::test]
async fn collect_first_and_while_follow_supervision() {
    let pf = |x: i32| {
        assert!(x != 1, "one");
        (x < 4).then_some(x)
    };
    let resume = Attributes::supervision(weir::Decider::resuming());
    let first = Source::range(1, 5)
        .collect_first(pf)
        .with_attributes(resume.clone())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(first, vec![2]);
    let err = Source::range(1, 5)
        .collect_first(pf)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { ref stage, .. } if stage == "collect_first"));
    let all = Source::range(1, 5)
        .collect_while(pf)
        .with_attributes(resume)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(all, vec![2, 3]);
}

#[tokio::test(start_paused = true)]
async fn collect_while_completes_at_the_first_rejection() {
    let (src, sink) = TestSource::<i32>::probe()
        .collect_while(|x| (x > 0).then_some(x * 2))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([2, 4]).await;
    src.send_next(0).await;
    sink.expect_complete().await;
    src.expect_cancellation().await;

    let err = Source::single(1)
        .concat(Source::failed(boom()))
        .collect_while(|x: i32| Some(x))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&err));
}

// ---------------------------------------------------------------------------------------------
// aggregate_with_boundary
// ---------------------------------------------------------------------------------------------

type NoTimer = Option<(fn(&Vec<u32>) -> bool, Duration)>;

/// Sums into groups that close at a sum of at least 10.
fn sum_to_ten<S: StreamOps<Out = u32>>(s: S, timer: NoTimer) -> S::Repr<Vec<u32>, S::Mat> {
    s.aggregate_with_boundary(
        Vec::new,
        |g: &mut Vec<u32>, x| {
            assert!(x != 99, "ninety-nine");
            g.push(x);
            g.iter().sum::<u32>() >= 10
        },
        |g| g,
        timer,
    )
}

#[tokio::test]
async fn aggregate_with_boundary_emits_at_each_boundary_and_the_rest_at_completion() {
    let out = sum_to_ten(Source::from_iter(vec![3, 7, 10, 1, 2]), None)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![vec![3, 7], vec![10], vec![1, 2]]);
    let none = sum_to_ten(Source::empty(), None)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(start_paused = true)]
async fn aggregate_with_boundary_harvests_on_the_timer_when_the_predicate_holds() {
    let timer: NoTimer = Some((|g: &Vec<u32>| g.len() >= 2, ms(100)));
    let (src, sink) = sum_to_ten(TestSource::<u32>::probe(), timer)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    // One element: the predicate does not hold, ticks pass without a harvest.
    sink.expect_no_message(ms(250)).await;
    src.send_next(2).await;
    tokio::time::sleep(ms(90)).await;
    sink.expect_next(vec![1, 2]).await;
    src.send_next(9).await;
    src.send_next(1).await;
    sink.expect_next(vec![9, 1]).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn aggregate_with_boundary_failure_drops_the_aggregate_and_cancellation_cancels() {
    let (src, sink) = sum_to_ten(TestSource::<u32>::probe(), None)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    src.send_next(1).await;
    src.send_error(boom());
    assert!(is_boom(&sink.expect_error().await));

    let (src, sink) = sum_to_ten(TestSource::<u32>::probe(), None)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.cancel();
    src.expect_cancellation().await;
}

#[tokio::test]
async fn aggregate_with_boundary_follows_supervision() {
    let items = vec![4, 99, 6, 3];
    let err = sum_to_ten(Source::from_iter(items.clone()), None)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::Panicked { ref stage, .. } if stage == "aggregate_with_boundary")
    );
    let resumed = sum_to_ten(Source::from_iter(items.clone()), None)
        .with_attributes(Attributes::supervision(weir::Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(resumed, vec![vec![4, 6], vec![3]]);
    let restarted = sum_to_ten(Source::from_iter(items), None)
        .with_attributes(Attributes::supervision(weir::Decider::restarting()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(restarted, vec![vec![6, 3]]);
}

// The monitor is read from other tasks and threads.
const _: fn() = || {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<weir::FlowMonitor<u32>>();
    check::<weir::FlowMonitorState<u32>>();
};

#[test]
fn merge_prioritized_junction_rejects_a_zero_priority_at_build() {
    use weir::builder::{GraphBuilder, GraphError};
    use weir::junctions::MergePrioritized;
    let mut b = GraphBuilder::new();
    let m = b.add(MergePrioritized::<u8>::new(vec![1, 0]));
    for inlet in m.ins {
        let s = b.add_source(Source::single(1u8));
        b.connect(s, inlet);
    }
    let sink = b.add_sink(Sink::ignore());
    b.connect(m.out, sink);
    assert!(matches!(
        b.build(|_| ()),
        Err(GraphError::InvalidArgument {
            node: "merge_prioritized",
            ..
        })
    ));
}

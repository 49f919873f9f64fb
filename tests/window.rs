//! Event-time windowed aggregation: hand-computed cases and a brute-force reference.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::window::{
    EmitMode, SessionWindows, SlidingWindows, TimeWindows, WindowError, WindowMetrics, WindowOps,
    Windowed,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tumbling(size: u64, grace: u64) -> TimeWindows {
    TimeWindows::of_size_with_grace(ms(size), ms(grace)).unwrap()
}

fn win<K>(key: K, start: i64, end: i64) -> Windowed<K> {
    Windowed { key, start, end }
}

/// Counts `(key, timestamp)` records per window, returning the output and the metrics.
async fn count(
    windows: TimeWindows,
    emit: EmitMode,
    input: Vec<(&'static str, i64)>,
) -> (Vec<(Windowed<&'static str>, u64)>, WindowMetrics) {
    let (metrics, out) = Source::from_iter(input)
        .windowed_by(windows, |&(_, ts)| ts)
        .emit(emit)
        .count()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    (out.await.unwrap(), metrics)
}

// An out-of-order record within the grace period is counted; one beyond it is dropped.
const OUT_OF_ORDER: [(&str, i64); 5] = [("a", 1), ("a", 12), ("a", 8), ("a", 16), ("a", 9)];

#[tokio::test]
async fn updates_mode_emits_every_update_and_drops_records_past_the_grace() {
    let (out, metrics) = count(tumbling(10, 5), EmitMode::Updates, OUT_OF_ORDER.to_vec()).await;
    // 8 arrives at stream time 12: close time 7 < end 10, still open. 9 arrives at stream time
    // 16: close time 11 >= 10, dropped.
    assert_eq!(
        out,
        vec![
            (win("a", 0, 10), 1),
            (win("a", 10, 20), 1),
            (win("a", 0, 10), 2),
            (win("a", 10, 20), 2),
        ]
    );
    assert_eq!(metrics.dropped_late(), 1);
    assert_eq!(metrics.dropped_invalid_timestamp(), 0);
    assert_eq!(metrics.stream_time(), Some(16));
    assert_eq!(metrics.open_windows(), 0, "completion releases the state");
}

#[tokio::test]
async fn final_mode_emits_a_window_once_when_it_closes_and_not_at_completion() {
    let (out, metrics) = count(tumbling(10, 5), EmitMode::Final, OUT_OF_ORDER.to_vec()).await;
    // [0, 10) closes at stream time 16 (16 - 5 >= 10); [10, 20) is open at completion.
    assert_eq!(out, vec![(win("a", 0, 10), 2)]);
    assert_eq!(metrics.dropped_late(), 1);
}

#[tokio::test]
async fn final_or_complete_also_emits_the_open_windows_at_completion() {
    let (out, _) = count(
        tumbling(10, 5),
        EmitMode::FinalOrComplete,
        OUT_OF_ORDER.to_vec(),
    )
    .await;
    assert_eq!(out, vec![(win("a", 0, 10), 2), (win("a", 10, 20), 2)]);
}

#[tokio::test]
async fn a_window_ends_exclusively_and_closes_when_stream_time_reaches_end_plus_grace() {
    let input = vec![("a", 5), ("a", 10), ("a", 9), ("b", 9), ("a", 19)];
    let (out, metrics) = count(tumbling(10, 0), EmitMode::Final, input).await;
    // 10 belongs to [10, 20) and closes [0, 10) at once (no grace): 9 is late for both keys.
    assert_eq!(out, vec![(win("a", 0, 10), 1)]);
    assert_eq!(metrics.dropped_late(), 2);
    assert_eq!(metrics.open_windows(), 0);
}

#[tokio::test]
async fn closed_windows_of_several_keys_come_out_in_window_then_key_order() {
    let input = vec![("b", 1), ("a", 2), ("c", 11), ("b", 3), ("a", 25)];
    let (out, _) = count(tumbling(10, 2), EmitMode::Final, input).await;
    // At 25 (close time 23) both [0, 10) and [10, 20) close.
    assert_eq!(
        out,
        vec![
            (win("a", 0, 10), 1),
            (win("b", 0, 10), 2),
            (win("c", 10, 20), 1),
        ]
    );
}

#[tokio::test]
async fn hopping_windows_overlap_and_drop_late_records_per_window() {
    let hopping = tumbling(10, 0).advance_by(ms(5)).unwrap();
    // 3 → [0,10); 7 → [0,10), [5,15); 12 → [5,15), [10,20) and closes [0,10);
    // 6 → [0,10) is closed (dropped, counted), [5,15) still open.
    let input = vec![("a", 3), ("a", 7), ("a", 12), ("a", 6)];
    let (out, metrics) = count(hopping, EmitMode::FinalOrComplete, input.clone()).await;
    assert_eq!(
        out,
        vec![
            (win("a", 0, 10), 2),
            (win("a", 5, 15), 3),
            (win("a", 10, 20), 1),
        ]
    );
    assert_eq!(metrics.dropped_late(), 1);
    // No window starts before the epoch: 3 is in [0, 10) only, not in [-5, 5).
    let (updates, _) = count(hopping, EmitMode::Updates, input).await;
    assert_eq!(
        updates,
        vec![
            (win("a", 0, 10), 1),
            (win("a", 0, 10), 2),
            (win("a", 5, 15), 1),
            (win("a", 5, 15), 2),
            (win("a", 10, 20), 1),
            (win("a", 5, 15), 3),
        ]
    );
}

#[tokio::test]
async fn negative_timestamps_are_dropped_and_counted() {
    let input = vec![("a", -1), ("a", 1)];
    let (out, metrics) = count(tumbling(10, 0), EmitMode::Updates, input).await;
    assert_eq!(out, vec![(win("a", 0, 10), 1)]);
    assert_eq!(metrics.dropped_invalid_timestamp(), 1);
    assert_eq!(metrics.dropped_late(), 0);
}

#[tokio::test]
async fn state_is_bounded_by_the_open_windows() {
    let (metrics, out) = Source::from_iter((0..10_000i64).map(|ts| (ts % 7, ts)))
        .windowed_by(tumbling(100, 50), |&(_, ts)| ts)
        .emit(EmitMode::Final)
        .count()
        .map(|(_, n)| n)
        .to_mat(Sink::fold(0, |acc, n| acc + n), Keep::both)
        .run();
    // Windows up to [9800, 9900) close by stream time 9999 (close time 9949).
    assert_eq!(out.await.unwrap(), 9900);
    assert_eq!(metrics.dropped_late(), 0);
}

#[tokio::test]
async fn open_windows_are_reported_while_running() {
    let ((src, metrics), sink) = TestSource::<(&str, i64)>::probe()
        .via_mat(
            Flow::new()
                .windowed_by(tumbling(10, 10), |&(_, ts)| ts)
                .count(),
            Keep::both,
        )
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    for x in [("a", 1), ("b", 2), ("a", 15)] {
        src.send_next(x).await;
    }
    sink.expect_next((win("a", 0, 10), 1)).await;
    sink.expect_next((win("b", 0, 10), 1)).await;
    sink.expect_next((win("a", 10, 20), 1)).await;
    // At stream time 15 with grace 10 nothing has closed: three windows held.
    assert_eq!(metrics.open_windows(), 3);
    assert_eq!(metrics.stream_time(), Some(15));
    src.send_next(("b", 30)).await;
    sink.expect_next((win("b", 30, 40), 1)).await;
    // Close time 20: the windows ending at 10 and 20 are gone.
    assert_eq!(metrics.open_windows(), 1);
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test]
async fn reduce_and_aggregate_fold_values_per_window() {
    let input = vec![("a", (1i64, 4)), ("a", (2, 9)), ("a", (11, 3))];
    let max = Source::from_iter(input.clone())
        .windowed_by(tumbling(10, 0), |&(_, (ts, _))| ts)
        .emit(EmitMode::FinalOrComplete)
        .reduce(|a, b| if b.1 > a.1 { b } else { a })
        .map(|(w, (_, v))| (w.start, v))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(max, vec![(0, 9), (10, 3)]);
    let sums = Source::from_iter(input)
        .windowed_by(tumbling(10, 0), |&(_, (ts, _))| ts)
        .emit(EmitMode::FinalOrComplete)
        .aggregate(|| 100, |k: &&str, (_, v), acc| acc + v + k.len() as i64)
        .map(|(w, s)| (w.start, s))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(sums, vec![(0, 115), (10, 104)]);
}

#[tokio::test]
async fn a_panicking_extractor_fails_the_stream() {
    let out = Source::from_iter(vec![("a", 1), ("a", 2)])
        .windowed_by(tumbling(10, 0), |&(_, ts)| {
            assert!(ts < 2, "bad timestamp");
            ts
        })
        .count()
        .run_with(Sink::seq())
        .await;
    assert!(matches!(out, Err(StreamError::Panicked { .. })), "{out:?}");
}

#[test]
fn bad_window_specifications_are_typed_errors() {
    assert_eq!(
        TimeWindows::of_size_no_grace(ms(0)),
        Err(WindowError::ZeroSize)
    );
    // Sub-millisecond sizes round down to zero milliseconds.
    assert_eq!(
        TimeWindows::of_size_no_grace(Duration::from_micros(900)),
        Err(WindowError::ZeroSize)
    );
    let w = tumbling(10, 0);
    assert!(matches!(
        w.advance_by(ms(0)),
        Err(WindowError::AdvanceOutOfRange { .. })
    ));
    assert!(matches!(
        w.advance_by(ms(11)),
        Err(WindowError::AdvanceOutOfRange { .. })
    ));
    assert!(matches!(
        TimeWindows::of_size_no_grace(Duration::MAX),
        Err(WindowError::TooLarge(_))
    ));
    assert_eq!(
        WindowError::ZeroSize.to_string(),
        "window size must be at least one millisecond"
    );
}

/// Final counts computed by brute force: each record, at its arrival, enters every window
/// `[s, s + size)` holding it (`s` a non-negative multiple of `advance`) whose end is after
/// the stream time so far minus grace. Returns the counts and the number of drops.
fn reference(
    input: &[(u8, i64)],
    size: i64,
    advance: i64,
    grace: i64,
) -> (BTreeMap<(i64, u8), u64>, u64) {
    let mut counts = BTreeMap::new();
    let mut dropped = 0;
    let mut stream_time = i64::MIN;
    for &(key, ts) in input {
        stream_time = stream_time.max(ts);
        let mut s = 0;
        while s <= ts {
            if ts < s + size {
                if s + size > stream_time - grace {
                    *counts.entry((s, key)).or_insert(0) += 1;
                } else {
                    dropped += 1;
                }
            }
            s += advance;
        }
    }
    (counts, dropped)
}

fn run_counts(
    input: Vec<(u8, i64)>,
    windows: TimeWindows,
    emit: EmitMode,
) -> (Vec<(Windowed<u8>, u64)>, WindowMetrics) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (metrics, out) = Source::from_iter(input)
            .windowed_by(windows, |&(_, ts)| ts)
            .emit(emit)
            .count()
            .to_mat(Sink::seq(), Keep::both)
            .run();
        (out.await.unwrap(), metrics)
    })
}

proptest! {
    #[test]
    fn final_counts_equal_a_brute_force_reference(
        input in prop::collection::vec((0u8..3, 0i64..200), 0..60),
        size in 1i64..40,
        hops in 1i64..4,
        grace in 0i64..30,
    ) {
        let advance = (size / hops).max(1);
        let windows = TimeWindows::of_size_with_grace(ms(size as u64), ms(grace as u64))
            .and_then(|w| w.advance_by(ms(advance as u64)))
            .unwrap();
        let (expected, dropped) = reference(&input, size, advance, grace);

        let (all, metrics) = run_counts(input.clone(), windows, EmitMode::FinalOrComplete);
        let got: BTreeMap<(i64, u8), u64> =
            all.iter().map(|(w, n)| ((w.start, w.key), *n)).collect();
        prop_assert_eq!(got.len(), all.len(), "each window is emitted once");
        prop_assert!(all.iter().all(|(w, _)| w.end == w.start + size));
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(metrics.dropped_late(), dropped);
        // Emitted in order of window end, then key.
        let order: Vec<_> = all.iter().map(|(w, _)| (w.end, w.key)).collect();
        let mut sorted = order.clone();
        sorted.sort();
        prop_assert_eq!(order, sorted);

        // Final mode: the same, less the windows still open at the end.
        let stream_time = input.iter().map(|&(_, ts)| ts).max().unwrap_or(i64::MIN);
        let (closed, _) = run_counts(input.clone(), windows, EmitMode::Final);
        let closed: BTreeMap<(i64, u8), u64> =
            closed.iter().map(|(w, n)| ((w.start, w.key), *n)).collect();
        let expected_closed: BTreeMap<(i64, u8), u64> = expected
            .iter()
            .filter(|((s, _), _)| s + size <= stream_time.saturating_sub(grace))
            .map(|(k, n)| (*k, *n))
            .collect();
        prop_assert_eq!(closed, expected_closed);

        // Updates mode: the last update of each window is its final count.
        let (updates, _) = run_counts(input, windows, EmitMode::Updates);
        let last: BTreeMap<(i64, u8), u64> =
            updates.iter().map(|(w, n)| ((w.start, w.key), *n)).collect();
        prop_assert_eq!(last, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// session windows
// ---------------------------------------------------------------------------------------------

fn sessions(gap: u64, grace: u64) -> SessionWindows {
    SessionWindows::of_inactivity_gap_with_grace(ms(gap), ms(grace)).unwrap()
}

async fn session_count(
    windows: SessionWindows,
    emit: EmitMode,
    input: Vec<(&'static str, i64)>,
) -> (Vec<(Windowed<&'static str>, Option<u64>)>, WindowMetrics) {
    let (metrics, out) = Source::from_iter(input)
        .session_windowed_by(windows, |&(_, ts)| ts)
        .emit(emit)
        .count()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    (out.await.unwrap(), metrics)
}

#[tokio::test]
async fn a_record_between_two_sessions_merges_them_with_tombstones_in_updates_mode() {
    // Gap 5, grace 10: 5 is within 5 of both 1 and 10; 3 then falls inside [1, 10].
    let input = vec![("a", 1), ("a", 10), ("b", 4), ("a", 5), ("a", 3)];
    let (out, metrics) = session_count(sessions(5, 10), EmitMode::Updates, input).await;
    assert_eq!(
        out,
        vec![
            (win("a", 1, 1), Some(1)),
            (win("a", 10, 10), Some(1)),
            (win("b", 4, 4), Some(1)),
            (win("a", 1, 1), None),
            (win("a", 10, 10), None),
            (win("a", 1, 10), Some(3)),
            (win("a", 1, 10), None),
            (win("a", 1, 10), Some(4)),
        ]
    );
    assert_eq!(metrics.dropped_late(), 0);
    assert_eq!(metrics.open_windows(), 0);
}

#[tokio::test]
async fn sessions_close_after_gap_plus_grace_and_late_records_are_dropped() {
    // Gap 5, grace 2: [1, 3] closes when stream time - 7 passes 3, i.e. at 11.
    let input = vec![
        ("a", 1),
        ("a", 3),
        ("a", 10),
        ("a", 11),
        ("a", 2),
        ("a", 30),
    ];
    let (out, metrics) = session_count(sessions(5, 2), EmitMode::Final, input.clone()).await;
    // 10 is 7 after 3: a new session. 2 at stream time 11 would merge into [1, 3] (end 3 < 4):
    // dropped. 30 closes [10, 11] (11 < 23); [30, 30] is open at completion.
    assert_eq!(
        out,
        vec![(win("a", 1, 3), Some(2)), (win("a", 10, 11), Some(2))]
    );
    assert_eq!(metrics.dropped_late(), 1);
    let (all, _) = session_count(sessions(5, 2), EmitMode::FinalOrComplete, input).await;
    assert_eq!(all.last(), Some(&(win("a", 30, 30), Some(1))));
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn a_session_closes_when_its_end_reaches_the_close_time() {
    // Gap 5, no grace: at stream time 8 the close time is 3, the end of [3, 3]: closed (Kafka
    // Streams' session store, retention gap + grace, no longer returns it), so 1 finds no
    // session, its own [1, 1] ends before 3 and it is late.
    let input = vec![("a", 3), ("b", 8), ("a", 1)];
    let (out, metrics) = session_count(sessions(5, 0), EmitMode::FinalOrComplete, input).await;
    assert_eq!(
        out,
        vec![(win("a", 3, 3), Some(1)), (win("b", 8, 8), Some(1))]
    );
    assert_eq!(metrics.dropped_late(), 1);
    // At stream time 7 (close time 2) [3, 3] is open and 1 merges into it.
    let input = vec![("a", 3), ("b", 7), ("a", 1)];
    let (out, metrics) = session_count(sessions(5, 0), EmitMode::FinalOrComplete, input).await;
    assert_eq!(
        out,
        vec![(win("a", 1, 3), Some(2)), (win("b", 7, 7), Some(1))]
    );
    assert_eq!(metrics.dropped_late(), 0);
}

#[tokio::test]
async fn session_reduce_and_aggregate_merge_with_the_user_functions() {
    let input = vec![("a", 1), ("a", 10), ("a", 5)];
    let sums = Source::from_iter(input.clone())
        .session_windowed_by(sessions(5, 10), |&(_, ts)| ts)
        .emit(EmitMode::FinalOrComplete)
        .reduce(|a, b| a + b)
        .run_with(Sink::seq())
        .await
        .unwrap();
    // The values are the timestamps: 1 + 10 merged, then + 5.
    assert_eq!(sums, vec![(win("a", 1, 10), Some(16))]);
    let merges = Source::from_iter(input)
        .session_windowed_by(sessions(5, 10), |&(_, ts)| ts)
        .emit(EmitMode::FinalOrComplete)
        .aggregate(|| 0, |_, _, n| n + 1, |_, a, b| a * 10 + b)
        .run_with(Sink::seq())
        .await
        .unwrap();
    // Merge starts from init: ((0 * 10 + 1) * 10 + 1) = 11, then the record adds one.
    assert_eq!(merges, vec![(win("a", 1, 10), Some(12))]);
}

/// Sessions by brute force when nothing is late: per key, the sorted timestamps split where
/// consecutive ones are more than `gap` apart.
fn session_reference(input: &[(u8, i64)], gap: i64) -> BTreeMap<(u8, i64, i64), u64> {
    let mut by_key: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    for &(k, ts) in input {
        by_key.entry(k).or_default().push(ts);
    }
    let mut out = BTreeMap::new();
    for (k, mut ts) in by_key {
        ts.sort();
        let (mut start, mut end, mut n) = (ts[0], ts[0], 0);
        for t in ts {
            if t - end > gap {
                out.insert((k, start, end), n);
                start = t;
                n = 0;
            }
            end = t;
            n += 1;
        }
        out.insert((k, start, end), n);
    }
    out
}

proptest! {
    #[test]
    fn sessions_without_late_records_equal_gap_clusters(
        input in prop::collection::vec((0u8..3, 0i64..300), 0..60),
        gap in 1i64..30,
    ) {
        // A grace as long as the input spans: nothing is late, every order gives the same.
        let windows = SessionWindows::of_inactivity_gap_with_grace(ms(gap as u64), ms(300)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (out, metrics) = rt.block_on(async {
            let (metrics, out) = Source::from_iter(input.clone())
                .session_windowed_by(windows, |&(_, ts)| ts)
                .emit(EmitMode::FinalOrComplete)
                .count()
                .to_mat(Sink::seq(), Keep::both)
                .run();
            (out.await.unwrap(), metrics)
        });
        prop_assert_eq!(metrics.dropped_late(), 0);
        let got: BTreeMap<(u8, i64, i64), u64> = out
            .iter()
            .map(|(w, n)| ((w.key, w.start, w.end), n.expect("final results are values")))
            .collect();
        prop_assert_eq!(got.len(), out.len());
        let expected = if input.is_empty() { BTreeMap::new() } else { session_reference(&input, gap) };
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<WindowMetrics>();
    check::<WindowError>();
    check::<TimeWindows>();
    check::<SessionWindows>();
    check::<Windowed<String>>();
    let _: &(dyn std::error::Error + Send + Sync) = &WindowError::ZeroSize;
}

#[tokio::test]
async fn supervision_resumes_with_the_windows_as_they_were_and_restarts_keeping_stream_time() {
    use weir::supervision::Decider;
    use weir::Attributes;

    let sum = |attrs: Attributes, input: Vec<(&'static str, (i64, i64))>| async move {
        let (metrics, out) = Source::from_iter(input)
            .windowed_by(tumbling(10, 0), |&(_, (ts, _))| ts)
            .emit(EmitMode::FinalOrComplete)
            .aggregate(
                || 0,
                |_, (_, v), acc| {
                    assert!(v != 0, "zero");
                    acc + v
                },
            )
            .map(|(w, s)| (w.start, s))
            .with_attributes(attrs)
            .to_mat(Sink::seq(), Keep::both)
            .run();
        (out.await, metrics)
    };
    let input = vec![("a", (1, 5)), ("a", (2, 0)), ("a", (3, 7))];
    let (out, _) = sum(Attributes::supervision(Decider::resuming()), input.clone()).await;
    assert_eq!(out.unwrap(), vec![(0, 12)]);
    let (out, _) = sum(
        Attributes::supervision(Decider::restarting()),
        input.clone(),
    )
    .await;
    assert_eq!(out.unwrap(), vec![(0, 7)]);
    let (out, _) = sum(Attributes::supervision(Decider::stopping()), input).await;
    assert!(matches!(out, Err(StreamError::Panicked { .. })), "{out:?}");
    // After a restart at stream time 51, 5 is still late; [50, 60) went with the restart.
    let input = vec![("a", (50, 1)), ("a", (51, 0)), ("a", (5, 1))];
    let (out, metrics) = sum(Attributes::supervision(Decider::restarting()), input).await;
    assert_eq!(out.unwrap(), vec![]);
    assert_eq!(metrics.dropped_late(), 1);
}

// Sliding windows.

fn sliding(difference: u64, grace: u64) -> SlidingWindows {
    SlidingWindows::of_time_difference_and_grace(ms(difference), ms(grace)).unwrap()
}

async fn sliding_count(
    windows: SlidingWindows,
    emit: EmitMode,
    input: Vec<(&'static str, i64)>,
) -> (Vec<(Windowed<&'static str>, u64)>, WindowMetrics) {
    let (metrics, out) = Source::from_iter(input)
        .sliding_windowed_by(windows, |&(_, ts)| ts)
        .emit(emit)
        .count()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    (out.await.unwrap(), metrics)
}

#[tokio::test]
async fn sliding_updates_create_left_and_right_windows() {
    // Difference 10. 20: its left window [10, 20]. 25: updates nothing ([10, 20] ends before
    // it), creates 20's right window [21, 31] and its own left window [15, 25] with 20 in it.
    // 22 (out of order): updates [15, 25] and [21, 31], creates its left window [12, 22] (20
    // in it) and its right window [23, 33] (25 in it); 20's right window exists already.
    let input = vec![("a", 20), ("a", 25), ("a", 22)];
    let (out, metrics) = sliding_count(sliding(10, 10), EmitMode::Updates, input).await;
    let w = |start| win("a", start, start + 10);
    assert_eq!(
        out,
        vec![
            (w(10), 1),
            (w(21), 1),
            (w(15), 2),
            (w(21), 2),
            (w(15), 3),
            (w(12), 2),
            (w(23), 1),
        ]
    );
    assert_eq!(metrics.dropped_late(), 0);
}

#[tokio::test]
async fn sliding_windows_close_after_their_inclusive_end() {
    // Difference 5, no grace. At stream time 10, [5, 10] (end 10) is open: 7 enters it, and
    // its right window [8, 13] (a copy holding 10); its left window [2, 7] has closed, so it
    // is dropped from that one. At 11 [5, 10] closes and is emitted; 4 is then late everywhere
    // (even its right window [5, 10] has closed) and dropped. [8, 13] is open at completion.
    let input = vec![("a", 10), ("a", 7), ("b", 11), ("a", 4)];
    let (out, metrics) = sliding_count(sliding(5, 0), EmitMode::Final, input).await;
    assert_eq!(out, vec![(win("a", 5, 10), 2)]);
    assert_eq!(metrics.dropped_late(), 2);
}

#[tokio::test]
async fn early_sliding_records_share_the_first_window() {
    // Records before the difference go into [0, 10] together, and get right windows.
    let input = vec![("a", 3), ("a", 1), ("a", 12)];
    let (out, _) = sliding_count(sliding(10, 20), EmitMode::FinalOrComplete, input).await;
    let w = |start| win("a", start, start + 10);
    assert_eq!(out, vec![(w(0), 2), (w(2), 2), (w(4), 1)]);
}

/// Sliding-window counts by brute force when nothing is late: per key, the left window of
/// every record (`[0, d]` for records before `d`) and the right window `[t + 1, t + 1 + d]` of
/// every record with a later one within it, each counting the records in it.
fn sliding_reference(input: &[(u8, i64)], d: i64) -> BTreeMap<(u8, i64), u64> {
    let mut out = BTreeMap::new();
    for &(key, t) in input {
        let times: Vec<i64> = input.iter().filter(|r| r.0 == key).map(|r| r.1).collect();
        let count = |s: i64| times.iter().filter(|&&x| s <= x && x <= s + d).count() as u64;
        let left = (t - d).max(0);
        out.insert((key, left), count(left));
        if times.iter().any(|&x| t < x && x <= t + 1 + d) {
            out.insert((key, t + 1), count(t + 1));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sliding_counts_equal_a_brute_force_reference(
        input in prop::collection::vec((0u8..3, 0i64..100), 0..40),
        d in 1i64..20,
    ) {
        // A grace beyond every timestamp: nothing is late.
        let windows = SlidingWindows::of_time_difference_and_grace(ms(d as u64), ms(1000)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let all = rt.block_on(async {
            Source::from_iter(input.clone())
                .sliding_windowed_by(windows, |&(_, ts)| ts)
                .emit(EmitMode::FinalOrComplete)
                .count()
                .run_with(Sink::seq())
                .await
                .unwrap()
        });
        let got: BTreeMap<(u8, i64), u64> =
            all.iter().map(|(w, n)| ((w.key, w.start), *n)).collect();
        prop_assert_eq!(got.len(), all.len(), "each window is emitted once");
        prop_assert!(all.iter().all(|(w, _)| w.end == w.start + d));
        prop_assert_eq!(got, sliding_reference(&input, d));
    }
}

//! Behavioural tests for every `Source` constructor.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::prelude::*;
use weir::testkit::TestSink;
use weir::{Attributes, Decider};

const QUIET: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Boom(&'static str);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

impl std::error::Error for Boom {}

fn boom(tag: &'static str) -> StreamError {
    StreamError::failed(Boom(tag))
}

fn assert_boom(e: &StreamError, tag: &'static str) {
    match e.downcast_ref::<Boom>() {
        Some(b) => assert_eq!(b.0, tag, "wrong Boom: {e:?}"),
        None => panic!("expected Boom({tag}), got {e:?}"),
    }
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn get(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// Waits (in paused tokio time) until `cond` holds; panics after a generous bound.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition never held: {what}");
}

// ---------------------------------------------------------------------------------------------
// from_iter

#[tokio::test]
async fn from_iter_emits_elements_in_order_then_completes() {
    let out = Source::from_iter(vec![3, 1, 2])
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![3, 1, 2]);
}

#[tokio::test]
async fn from_iter_of_empty_collection_completes_empty() {
    let out = Source::from_iter(Vec::<i32>::new())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn from_iter_is_reusable_each_run_iterates_afresh() {
    let src = Source::from_iter(vec!["a", "b", "c"]);
    assert_eq!(
        src.run_with(Sink::seq()).await.unwrap(),
        vec!["a", "b", "c"]
    );
    assert_eq!(
        src.run_with(Sink::seq()).await.unwrap(),
        vec!["a", "b", "c"]
    );
}

#[tokio::test]
async fn from_iter_longer_than_a_batch_keeps_order() {
    let expected: Vec<u32> = (0..1000).collect();
    let out = Source::from_iter(expected.clone())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn from_iter_emits_only_on_demand() {
    let sink = Source::from_iter(vec![1, 2, 3]).run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(2);
    sink.expect_next_n([1, 2]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(5);
    sink.expect_next(3).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn from_iter_completes_with_its_last_element_without_extra_demand() {
    let sink = Source::from_iter(vec![1, 2, 3]).run_with(TestSink::probe());
    sink.request(3);
    sink.expect_next_n([1, 2, 3]).await;
    sink.expect_complete().await;
}

#[tokio::test]
async fn from_iter_iterator_panic_fails_the_stream() {
    let it = (1..=3).inspect(|&x| {
        if x == 2 {
            panic!("bad element");
        }
    });
    let err = Source::from_iter(it)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { message, .. } if message == "bad element"),
        "{err:?}"
    );
}

/// Runs `source` into a probe that wants everything; returns the elements and the panic's stage
/// and message.
async fn elements_then_panic(source: Source<i32>) -> (Vec<i32>, String, String) {
    let sink = source.run_with(TestSink::probe());
    sink.request(100);
    let mut elements = Vec::new();
    loop {
        match sink.expect_event().await {
            weir::testkit::Event::Next(x) => elements.push(x),
            weir::testkit::Event::Error(StreamError::Panicked { stage, message }) => {
                return (elements, stage.into_owned(), message)
            }
            other => panic!("expected a panic, got {other:?}"),
        }
    }
}

/// The closure-running sources that are not supervised, each emitting 1, 2, then panicking.
fn panicking_sources() -> Vec<(&'static str, Source<i32>)> {
    vec![
        (
            "iterate",
            // `iterate` computes an element when it is asked for: `f(&2)` runs (and panics)
            // when a third element is wanted.
            Source::iterate(1, |x| {
                assert!(*x < 2, "too far");
                x + 1
            }),
        ),
        (
            "unfold",
            Source::unfold(1, |x| {
                assert!(x < 3, "too far");
                Some((x + 1, x))
            }),
        ),
        (
            "unfold_async",
            Source::unfold_async(1, |x| async move {
                assert!(x < 3, "too far");
                Some((x + 1, x))
            }),
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn source_closure_panics_fail_after_the_earlier_elements_whatever_the_decider() {
    for attrs in [
        Attributes::none(),
        Attributes::supervision(Decider::resuming()),
    ] {
        for (what, source) in panicking_sources() {
            let (elements, _stage, message) =
                elements_then_panic(source.with_attributes(attrs.clone())).await;
            assert_eq!(elements, vec![1, 2], "{what}");
            assert_eq!(message, "too far", "{what}");
        }
        let lazy = Source::lazy_single(|| -> i32 { panic!("too far") });
        let (elements, _stage, message) =
            elements_then_panic(lazy.with_attributes(attrs.clone())).await;
        assert!(elements.is_empty());
        assert_eq!(message, "too far");
    }
}

/// `iterate` computes the successor of each element as it emits it, so `take(n)` calls `f` on
/// the n-th element too: here `f(&128)` overflows although only eight elements are wanted
/// (Akka's `iterate` calls `f` only when the next element is pulled).
#[tokio::test]
async fn iterate_does_not_call_f_beyond_the_elements_taken() {
    let out = Source::iterate(1u8, |x| x.checked_mul(2).expect("overflow"))
        .take(8)
        .run_with(Sink::seq())
        .await;
    assert_eq!(out.unwrap(), vec![1, 2, 4, 8, 16, 32, 64, 128]);
}

/// `StreamError::Panicked` names "its `name` attribute or its operator name"; a panic in a
/// source's closure is caught at the island's root and named `upstream`.
#[tokio::test(start_paused = true)]
async fn source_closure_panics_name_the_source() {
    for (what, source) in panicking_sources() {
        let (_, stage, _) = elements_then_panic(source).await;
        assert_eq!(stage, what);
    }
}

// ---------------------------------------------------------------------------------------------
// single / empty / failed / never

#[tokio::test]
async fn single_emits_one_element() {
    let out = Source::single(5).run_with(Sink::seq()).await.unwrap();
    assert_eq!(out, vec![5]);
}

#[tokio::test(start_paused = true)]
async fn single_emits_then_completes_under_demand() {
    let sink = Source::single("x").run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next("x").await;
    sink.expect_complete().await;
}

#[tokio::test]
async fn empty_completes_without_elements() {
    let out = Source::<i32>::empty().run_with(Sink::seq()).await.unwrap();
    assert!(out.is_empty());
}

#[tokio::test(start_paused = true)]
async fn empty_signals_completion_to_probe() {
    let sink = Source::<i32>::empty().run_with(TestSink::probe());
    sink.request(1);
    sink.expect_complete().await;
    assert!(sink.is_terminated());
}

#[tokio::test]
async fn failed_fails_with_the_given_error() {
    let err = Source::<i32>::failed(boom("failed"))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_boom(&err, "failed");
}

#[tokio::test]
async fn failed_keeps_non_failed_variants_intact() {
    let err = Source::<i32>::failed(StreamError::BufferOverflow { size: 7 })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::BufferOverflow { size: 7 }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn failed_signals_error_without_elements_to_probe() {
    let sink = Source::<i32>::failed(boom("probe")).run_with(TestSink::probe());
    sink.request(3);
    let err = sink.expect_error().await;
    assert_boom(&err, "probe");
}

#[tokio::test]
async fn failed_is_reusable_with_same_error() {
    let src = Source::<i32>::failed(boom("again"));
    assert_boom(&src.run_with(Sink::seq()).await.unwrap_err(), "again");
    assert_boom(&src.run_with(Sink::seq()).await.unwrap_err(), "again");
}

#[tokio::test(start_paused = true)]
async fn never_neither_emits_nor_completes() {
    let done = Source::<i32>::never().run_with(Sink::seq());
    let res = tokio::time::timeout(Duration::from_secs(60), done).await;
    assert!(res.is_err(), "never() terminated: {res:?}");
}

#[tokio::test(start_paused = true)]
async fn never_stays_silent_under_demand_until_cancelled() {
    let (done, sink) = Source::<i32>::never()
        .watch_termination()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(10);
    sink.expect_no_message(Duration::from_secs(5)).await;
    sink.cancel();
    let res = tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .expect("watch_termination did not resolve after cancel");
    assert!(res.is_ok(), "{res:?}");
}

// ---------------------------------------------------------------------------------------------
// repeat / cycle

#[tokio::test]
async fn repeat_emits_value_forever() {
    let out = Source::repeat(7)
        .take(5)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![7; 5]);
}

#[tokio::test]
async fn repeat_can_produce_many_elements() {
    let n = Source::repeat('z')
        .take(10_000)
        .run_fold(0usize, |n, c| {
            assert_eq!(c, 'z');
            n + 1
        })
        .await
        .unwrap();
    assert_eq!(n, 10_000);
}

#[tokio::test(start_paused = true)]
async fn repeat_emits_exactly_what_is_requested() {
    let sink = Source::repeat(1).run_with(TestSink::probe());
    sink.request(3);
    sink.expect_next_n([1, 1, 1]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(1).await;
    sink.expect_no_message(QUIET).await;
}

#[tokio::test]
async fn cycle_repeats_the_elements_in_order() {
    let out = Source::cycle(vec![1, 2, 3])
        .take(8)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 1, 2, 3, 1, 2]);
}

#[tokio::test]
async fn cycle_of_single_element() {
    let out = Source::cycle(vec!['a'])
        .take(3)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec!['a', 'a', 'a']);
}

#[tokio::test]
async fn cycle_of_empty_collection_fails_as_in_akka() {
    let out = Source::cycle(Vec::<i32>::new()).run_with(Sink::seq()).await;
    // Pekko's `SourceSpec` "throw an exception when iterator is empty": an illegal argument.
    assert!(matches!(
        out,
        Err(StreamError::InvalidArgument { stage: "cycle", .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn cycle_of_empty_collection_fails_under_demand() {
    let sink = Source::cycle(Vec::<i32>::new()).run_with(TestSink::probe());
    sink.request(4);
    assert!(matches!(
        sink.expect_error().await,
        StreamError::InvalidArgument { stage: "cycle", .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// range

#[tokio::test]
async fn range_is_inclusive() {
    let out = Source::range(1, 5).run_with(Sink::seq()).await.unwrap();
    assert_eq!(out, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn range_of_one_element() {
    let out = Source::range(3, 3).run_with(Sink::seq()).await.unwrap();
    assert_eq!(out, vec![3]);
}

#[tokio::test]
async fn range_with_start_after_end_is_empty() {
    let out = Source::range(5, 1).run_with(Sink::seq()).await.unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn range_up_to_type_max_does_not_overflow() {
    let out = Source::range(250u8, u8::MAX)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![250, 251, 252, 253, 254, 255]);
    let n = Source::range(0u8, u8::MAX)
        .run_fold(0usize, |n, _| n + 1)
        .await
        .unwrap();
    assert_eq!(n, 256);
}

#[tokio::test]
async fn range_of_negative_numbers_and_chars() {
    let out = Source::range(-2i64, 1).run_with(Sink::seq()).await.unwrap();
    assert_eq!(out, vec![-2, -1, 0, 1]);
    let chars = Source::range('a', 'd').run_with(Sink::seq()).await.unwrap();
    assert_eq!(chars, vec!['a', 'b', 'c', 'd']);
}

// ---------------------------------------------------------------------------------------------
// iterate / unfold / unfold_async

#[tokio::test]
async fn iterate_starts_with_seed_and_applies_f_repeatedly() {
    let out = Source::iterate(1u64, |x| x * 3)
        .take(5)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 3, 9, 27, 81]);
}

#[tokio::test]
async fn iterate_take_one_is_just_the_seed() {
    let out = Source::iterate(String::from("a"), |s| format!("{s}a"))
        .take(1)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec!["a".to_string()]);
}

#[tokio::test]
async fn iterate_is_reusable_and_restarts_from_seed() {
    let src = Source::iterate(10, |x| x - 1).take(3);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![10, 9, 8]);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![10, 9, 8]);
}

#[tokio::test]
async fn unfold_emits_until_none() {
    let fib = Source::unfold((0u32, 1u32), |(a, b)| (a < 50).then_some(((b, a + b), a)));
    assert_eq!(
        fib.run_with(Sink::seq()).await.unwrap(),
        vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    );
}

#[tokio::test]
async fn unfold_returning_none_at_once_is_empty() {
    let src = Source::<i32>::unfold(0, |_| None);
    assert!(src.run_with(Sink::seq()).await.unwrap().is_empty());
}

#[tokio::test]
async fn unfold_state_is_fresh_per_materialization() {
    let src = Source::unfold(3, |n| (n > 0).then_some((n - 1, n * 10)));
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![30, 20, 10]);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![30, 20, 10]);
}

#[tokio::test]
async fn unfold_infinite_with_take() {
    let out = Source::unfold(0u64, |n| Some((n + 1, n * n)))
        .take(5)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 4, 9, 16]);
}

#[tokio::test(start_paused = true)]
async fn unfold_async_emits_until_none() {
    let src = Source::unfold_async(4, |n| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        (n > 0).then_some((n - 1, n))
    });
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![4, 3, 2, 1]);
    // Reusable: state starts from the initial value again.
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![4, 3, 2, 1]);
}

#[tokio::test]
async fn unfold_async_returning_none_at_once_is_empty() {
    let src = Source::<u8>::unfold_async((), |_| async { None });
    assert!(src.run_with(Sink::seq()).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unfold_async_waits_for_each_step_and_respects_demand() {
    let calls = counter();
    let c = calls.clone();
    let sink = Source::unfold_async(0u32, move |n| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((n + 1, n))
        }
    })
    .run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    assert_eq!(get(&calls), 0, "stepped without demand");
    sink.request(2);
    sink.expect_next_n([0, 1]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(1);
    sink.expect_next(2).await;
}

// ---------------------------------------------------------------------------------------------
// unfold_resource

/// Counts creations and closes of `unfold_resource` sources built by [`Resource::source`].
#[derive(Clone)]
struct Resource {
    creates: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
}

impl Resource {
    fn new() -> Self {
        Resource {
            creates: counter(),
            closes: counter(),
        }
    }

    /// A source whose resources iterate over `items`; the resource created as number
    /// `panic_gen` (from 0) panics when it reads `panic_on`.
    fn source(&self, items: Vec<i32>, panic_gen: usize, panic_on: Option<i32>) -> Source<i32> {
        let creates = self.creates.clone();
        let closes = self.closes.clone();
        Source::unfold_resource(
            move || {
                let generation = creates.fetch_add(1, Ordering::SeqCst);
                (generation, items.clone().into_iter())
            },
            move |(generation, it): &mut (usize, std::vec::IntoIter<i32>)| {
                let x = it.next()?;
                if *generation == panic_gen && Some(x) == panic_on {
                    panic!("read failed on {x}");
                }
                Some(x)
            },
            move |_r| {
                closes.fetch_add(1, Ordering::SeqCst);
            },
        )
    }

    fn creates(&self) -> usize {
        get(&self.creates)
    }

    fn closes(&self) -> usize {
        get(&self.closes)
    }
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_create_is_lazy() {
    let r = Resource::new();
    let src = r.source(vec![1, 2], 0, None);
    assert_eq!(r.creates(), 0, "created when building the blueprint");
    let sink = src.run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    assert_eq!(r.creates(), 0, "created before the first pull");
    sink.request(1);
    sink.expect_next(1).await;
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 0);
    sink.request(5);
    sink.expect_next(2).await;
    sink.expect_complete().await;
    assert_eq!(r.closes(), 1);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_closes_exactly_once_on_completion() {
    let r = Resource::new();
    let out = r
        .source(vec![1, 2, 3], 0, None)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.closes(), 1, "closed more than once");
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_empty_resource_is_created_and_closed_once() {
    let r = Resource::new();
    let out = r
        .source(vec![], 0, None)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 1);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_closes_exactly_once_when_read_panics() {
    let r = Resource::new();
    let sink = r
        .source(vec![1, 2, 3], 0, Some(2))
        .run_with(TestSink::probe());
    sink.request(10);
    sink.expect_next(1).await;
    let err = sink.expect_error().await;
    assert!(
        matches!(&err, StreamError::Panicked { stage, message }
            if stage == "unfold_resource" && message == "read failed on 2"),
        "{err:?}"
    );
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.closes(), 1, "closed more than once");
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_closes_exactly_once_on_cancellation_by_take() {
    let r = Resource::new();
    let out = r
        .source(vec![1, 2, 3], 0, None)
        .take(1)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1]);
    eventually("resource closed", || r.closes() >= 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 1);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_closes_exactly_once_on_probe_cancel() {
    let r = Resource::new();
    let sink = r.source(vec![1, 2, 3], 0, None).run_with(TestSink::probe());
    sink.request(1);
    sink.expect_next(1).await;
    assert_eq!(r.closes(), 0);
    sink.cancel();
    eventually("resource closed", || r.closes() >= 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 1);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_restart_closes_and_recreates() {
    let r = Resource::new();
    let out = r
        .source(vec![1, 2, 3], 0, Some(2))
        .with_attributes(Attributes::supervision(Decider::restarting()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    // Resource 0 yields 1, then panics on 2; resource 1 yields everything.
    assert_eq!(out, vec![1, 1, 2, 3]);
    assert_eq!(r.creates(), 2);
    assert_eq!(r.closes(), 2);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_resume_skips_the_failed_read() {
    let r = Resource::new();
    let out = r
        .source(vec![1, 2, 3], 0, Some(2))
        .with_attributes(Attributes::supervision(Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 3]);
    assert_eq!(r.creates(), 1);
    assert_eq!(r.closes(), 1);
}

#[tokio::test(start_paused = true)]
async fn unfold_resource_each_materialization_has_its_own_resource() {
    let r = Resource::new();
    let src = r.source(vec![5, 6], 99, None);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![5, 6]);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![5, 6]);
    assert_eq!(r.creates(), 2);
    assert_eq!(r.closes(), 2);
}

#[tokio::test]
async fn unfold_resource_cancelled_before_first_pull_never_creates() {
    let r = Resource::new();
    let out = r
        .source(vec![1], 99, None)
        .take(0)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(r.creates(), 0);
    assert_eq!(r.closes(), 0);
}

#[tokio::test]
async fn unfold_resource_panic_in_create_fails_without_close() {
    let closes = counter();
    let c = closes.clone();
    let err = Source::<i32>::unfold_resource(
        || -> Vec<i32> { panic!("cannot open") },
        |v: &mut Vec<i32>| v.pop(),
        move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        },
    )
    .run_with(Sink::seq())
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { message, .. } if message == "cannot open"),
        "{err:?}"
    );
    assert_eq!(get(&closes), 0);
}

#[tokio::test]
async fn unfold_resource_panic_in_close_fails_the_stream_once() {
    let closes = counter();
    let c = closes.clone();
    let err = Source::unfold_resource(
        || vec![2, 1],
        |v: &mut Vec<i32>| v.pop(),
        move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("cannot close");
        },
    )
    .run_with(Sink::seq())
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { stage, message }
            if stage == "unfold_resource" && message == "cannot close"),
        "{err:?}"
    );
    assert_eq!(get(&closes), 1);
}

// ---------------------------------------------------------------------------------------------
// future / lazy_single

#[tokio::test]
async fn future_emits_its_output_then_completes() {
    let out = Source::future(async { 42 })
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![42]);
}

#[tokio::test(start_paused = true)]
async fn future_waits_for_the_future() {
    let (tx, rx) = futures::channel::oneshot::channel::<&'static str>();
    let sink = Source::future(async move { rx.await.unwrap() }).run_with(TestSink::probe());
    sink.request(2);
    sink.expect_no_message(QUIET).await;
    tx.send("ready").unwrap();
    sink.expect_next("ready").await;
    sink.expect_complete().await;
}

/// Akka's `Source.future` emits its value and completes at once (`emit(out, v, completeStage)`):
/// completion needs no demand beyond the one element.
#[tokio::test(start_paused = true)]
async fn future_completes_right_after_its_element_without_further_demand() {
    let sink = Source::future(async { 1 }).run_with(TestSink::probe());
    sink.request(1);
    sink.expect_next(1).await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn future_runs_once_and_is_shared_by_materializations() {
    let runs = counter();
    let r = runs.clone();
    let src = Source::future(async move {
        r.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        String::from("shared")
    });
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec!["shared"]);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec!["shared"]);
    assert_eq!(get(&runs), 1);
}

#[tokio::test(start_paused = true)]
async fn lazy_single_is_not_called_until_pulled() {
    let calls = counter();
    let c = calls.clone();
    let src = Source::lazy_single(move || {
        c.fetch_add(1, Ordering::SeqCst);
        "value"
    });
    let sink = src.run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    assert_eq!(get(&calls), 0, "called before the first pull");
    sink.request(1);
    sink.expect_next("value").await;
    sink.expect_complete().await;
    assert_eq!(get(&calls), 1);
}

#[tokio::test]
async fn lazy_single_is_not_called_when_never_pulled() {
    let calls = counter();
    let c = calls.clone();
    let out = Source::lazy_single(move || c.fetch_add(1, Ordering::SeqCst))
        .take(0)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(get(&calls), 0);
}

#[tokio::test]
async fn lazy_single_calls_f_once_per_materialization() {
    let calls = counter();
    let c = calls.clone();
    let src = Source::lazy_single(move || c.fetch_add(1, Ordering::SeqCst) * 10);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![0]);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![10]);
    assert_eq!(get(&calls), 2);
}

// ---------------------------------------------------------------------------------------------
// from_stream / from_stream_fn

#[tokio::test]
async fn from_stream_emits_the_stream_items() {
    let out = Source::from_stream(futures::stream::iter(vec![1, 2, 3]))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
}

#[tokio::test]
async fn from_stream_is_one_shot() {
    let src = Source::from_stream(futures::stream::iter(vec![1, 2]));
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec![1, 2]);
    let err = src.run_with(Sink::seq()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::AlreadyMaterialized {
                stage: "from_stream"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn from_stream_clone_shares_the_one_shot() {
    let src = Source::from_stream(futures::stream::iter(vec![1]));
    let twin = src.clone();
    assert_eq!(twin.run_with(Sink::seq()).await.unwrap(), vec![1]);
    let err = src.run_with(Sink::seq()).await.unwrap_err();
    assert!(
        matches!(err, StreamError::AlreadyMaterialized { .. }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn from_stream_follows_a_pending_stream() {
    let (mut tx, rx) = futures::channel::mpsc::channel::<i32>(8);
    let sink = Source::from_stream(rx).run_with(TestSink::probe());
    sink.request(5);
    sink.expect_no_message(QUIET).await;
    tx.try_send(10).unwrap();
    sink.expect_next(10).await;
    tx.try_send(20).unwrap();
    tx.try_send(30).unwrap();
    sink.expect_next_n([20, 30]).await;
    sink.expect_no_message(QUIET).await;
    drop(tx);
    sink.expect_complete().await;
}

#[tokio::test]
async fn from_stream_of_empty_stream_completes() {
    let out = Source::from_stream(futures::stream::empty::<u8>())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn from_stream_fn_is_reusable_and_makes_a_stream_per_run() {
    let makes = counter();
    let m = makes.clone();
    let src = Source::from_stream_fn(move || {
        m.fetch_add(1, Ordering::SeqCst);
        futures::stream::iter(vec!['x', 'y'])
    });
    assert_eq!(get(&makes), 0, "made a stream before materialization");
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec!['x', 'y']);
    assert_eq!(src.run_with(Sink::seq()).await.unwrap(), vec!['x', 'y']);
    assert_eq!(get(&makes), 2);
}

#[tokio::test(start_paused = true)]
async fn from_stream_fn_emits_only_on_demand() {
    let sink = Source::from_stream_fn(|| futures::stream::iter(1..=4)).run_with(TestSink::probe());
    sink.expect_no_message(QUIET).await;
    sink.request(3);
    sink.expect_next_n([1, 2, 3]).await;
    sink.expect_no_message(QUIET).await;
    sink.request(3);
    sink.expect_next(4).await;
    sink.expect_complete().await;
}

// ---------------------------------------------------------------------------------------------
// maybe

#[tokio::test]
async fn maybe_completed_with_some_emits_it() {
    let (handle, out) = Source::maybe().to_mat(Sink::seq(), Keep::both).run();
    handle.complete(Some(3)).unwrap();
    assert_eq!(out.await.unwrap(), vec![3]);
}

#[tokio::test]
async fn maybe_completed_with_none_completes_empty() {
    let (handle, out) = Source::<i32, _>::maybe()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    handle.complete(None).unwrap();
    assert!(out.await.unwrap().is_empty());
}

#[tokio::test]
async fn maybe_dropped_handle_completes_empty() {
    let (handle, out) = Source::<i32, _>::maybe()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    drop(handle);
    assert!(out.await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn maybe_waits_for_the_handle() {
    let (handle, sink) = Source::maybe().to_mat(TestSink::probe(), Keep::both).run();
    sink.request(1);
    sink.expect_no_message(QUIET).await;
    handle.complete(Some('m')).unwrap();
    sink.expect_next('m').await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn maybe_handle_returns_value_when_stream_was_cancelled() {
    let handle = Source::<i32, _>::maybe().to(Sink::cancelled()).run();
    // The sink cancels at once; give the island a chance to run.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(handle.complete(Some(1)), Err(Some(1)));
}

#[tokio::test]
async fn maybe_each_materialization_has_its_own_handle() {
    let src = Source::maybe();
    let (h1, o1) = src.clone().to_mat(Sink::seq(), Keep::both).run();
    let (h2, o2) = src.to_mat(Sink::seq(), Keep::both).run();
    h2.complete(Some(2)).unwrap();
    h1.complete(Some(1)).unwrap();
    assert_eq!(o1.await.unwrap(), vec![1]);
    assert_eq!(o2.await.unwrap(), vec![2]);
}

#[tokio::test]
async fn from_iter_clones_the_iterable_per_run() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let src = Source::from_iter(vec![1, 2]).map(move |x| {
        l.lock().unwrap().push(x);
        x
    });
    src.run_with(Sink::ignore()).await.unwrap();
    src.run_with(Sink::ignore()).await.unwrap();
    assert_eq!(*log.lock().unwrap(), vec![1, 2, 1, 2]);
}

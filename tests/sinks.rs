//! Behavioural tests for every `Sink` constructor.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use weir::prelude::*;
use weir::testkit::TestSource;
use weir::{Attributes, Decider};

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

#[track_caller]
fn assert_boom(e: &StreamError, tag: &'static str) {
    match e.downcast_ref::<Boom>() {
        Some(b) => assert_eq!(b.0, tag, "wrong Boom: {e:?}"),
        None => panic!("expected Boom({tag}), got {e:?}"),
    }
}

/// 1, 2, 3, then a failure tagged `tag`.
fn failing_after_elements(tag: &'static str) -> Source<i32> {
    Source::from_iter(vec![1, 2, 3]).concat(Source::failed(boom(tag)))
}

fn shared_vec<T>() -> Arc<Mutex<Vec<T>>> {
    Arc::new(Mutex::new(Vec::new()))
}

// ---------------------------------------------------------------------------------------------
// seq

#[tokio::test]
async fn seq_collects_all_elements_in_order() {
    let out = Source::from_iter(vec![5, 3, 9, 1])
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![5, 3, 9, 1]);
}

#[tokio::test]
async fn seq_of_empty_stream_is_empty() {
    let out = Source::<String>::empty()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn seq_collects_more_than_one_batch() {
    let out = Source::range(1, 1000).run_with(Sink::seq()).await.unwrap();
    assert_eq!(out, (1..=1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn seq_sink_blueprint_is_reusable() {
    let sink = Sink::seq();
    let a = Source::range(1, 2).run_with(sink.clone()).await.unwrap();
    let b = Source::range(3, 4).run_with(sink).await.unwrap();
    assert_eq!(a, vec![1, 2]);
    assert_eq!(b, vec![3, 4]);
}

// ---------------------------------------------------------------------------------------------
// foreach / foreach_async

#[tokio::test]
async fn foreach_calls_f_on_each_element_in_order() {
    let seen = shared_vec();
    let s = seen.clone();
    Source::from_iter(vec!['c', 'a', 'b'])
        .run_with(Sink::foreach(move |x| s.lock().unwrap().push(x)))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!['c', 'a', 'b']);
}

#[tokio::test]
async fn foreach_on_empty_stream_completes_without_calls() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    Source::<i32>::empty()
        .run_with(Sink::foreach(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        }))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn foreach_panic_fails_the_stream() {
    let err = Source::range(1, 3)
        .run_with(Sink::foreach(|x: i32| {
            if x == 2 {
                panic!("no twos");
            }
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { stage, message }
            if stage == "foreach" && message == "no twos"),
        "{err:?}"
    );
}

#[tokio::test]
async fn foreach_resuming_decider_skips_the_panicking_element() {
    let seen = shared_vec();
    let s = seen.clone();
    Source::range(1, 4)
        .run_with(
            Sink::foreach(move |x: i32| {
                if x == 2 {
                    panic!("no twos");
                }
                s.lock().unwrap().push(x);
            })
            .with_attributes(Attributes::supervision(Decider::resuming())),
        )
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn foreach_runs_even_if_its_completion_is_dropped() {
    let seen = shared_vec();
    let s = seen.clone();
    drop(Source::range(1, 3).run_with(Sink::foreach(move |x| s.lock().unwrap().push(x))));
    for _ in 0..100 {
        if seen.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn foreach_async_runs_every_future_before_completing() {
    let done = shared_vec();
    let d = done.clone();
    Source::range(1u64, 6)
        .run_with(Sink::foreach_async(3, move |x| {
            let d = d.clone();
            async move {
                // Later elements finish first.
                tokio::time::sleep(Duration::from_millis(100 - x * 10)).await;
                d.lock().unwrap().push(x);
            }
        }))
        .await
        .unwrap();
    let mut got = done.lock().unwrap().clone();
    assert_eq!(got.len(), 6, "completion resolved before all futures ran");
    got.sort();
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn foreach_async_calls_f_in_arrival_order_with_bounded_parallelism() {
    let started = shared_vec();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (s, i, m) = (started.clone(), in_flight.clone(), max_in_flight.clone());
    Source::range(1, 10)
        .run_with(Sink::foreach_async(2, move |x: i32| {
            s.lock().unwrap().push(x);
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            let i = i.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                i.fetch_sub(1, Ordering::SeqCst);
            }
        }))
        .await
        .unwrap();
    assert_eq!(*started.lock().unwrap(), (1..=10).collect::<Vec<_>>());
    let max = max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 2, "{max} futures in flight with parallelism 2");
    assert_eq!(max, 2, "futures never ran concurrently");
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// fold / reduce / ignore

#[tokio::test]
async fn fold_combines_elements_in_order() {
    let out = Source::from_iter(vec!["a", "b", "c"])
        .run_with(Sink::fold(String::from(">"), |acc, x| acc + x))
        .await
        .unwrap();
    assert_eq!(out, ">abc");
}

#[tokio::test]
async fn fold_of_empty_stream_is_zero() {
    let out = Source::<i32>::empty()
        .run_with(Sink::fold(17, |a, x| a + x))
        .await
        .unwrap();
    assert_eq!(out, 17);
}

#[tokio::test]
async fn fold_state_is_fresh_per_materialization() {
    let sink = Sink::fold(Vec::new(), |mut v, x| {
        v.push(x);
        v
    });
    let a = Source::range(1, 2).run_with(sink.clone()).await.unwrap();
    let b = Source::range(3, 3).run_with(sink).await.unwrap();
    assert_eq!(a, vec![1, 2]);
    assert_eq!(b, vec![3]);
}

#[tokio::test]
async fn reduce_combines_elements_in_order() {
    let out = Source::from_iter(vec!["x".to_string(), "y".into(), "z".into()])
        .run_with(Sink::reduce(|a, b| format!("({a}{b})")))
        .await
        .unwrap();
    assert_eq!(out, "((xy)z)");
}

#[tokio::test]
async fn reduce_of_single_element_is_that_element() {
    let out = Source::single(8)
        .run_with(Sink::reduce(|a, b| a * b))
        .await
        .unwrap();
    assert_eq!(out, 8);
}

#[tokio::test]
async fn reduce_of_empty_stream_fails_with_empty() {
    let err = Source::<i32>::empty()
        .run_with(Sink::reduce(|a, b| a + b))
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Empty { .. }), "{err:?}");
}

#[tokio::test]
async fn ignore_consumes_everything_and_completes() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    Source::range(1, 100)
        .map(move |x| {
            s.fetch_add(1, Ordering::SeqCst);
            x
        })
        .run_with(Sink::ignore())
        .await
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 100);
}

#[tokio::test]
async fn ignore_of_empty_stream_completes() {
    let res = Source::<i32>::empty().run_with(Sink::ignore()).await;
    assert!(res.is_ok(), "{res:?}");
}

// ---------------------------------------------------------------------------------------------
// head / head_option / last / last_option / take_last

#[tokio::test]
async fn head_resolves_with_the_first_element() {
    let out = Source::from_iter(vec![4, 5, 6])
        .run_with(Sink::head())
        .await
        .unwrap();
    assert_eq!(out, 4);
}

#[tokio::test]
async fn head_of_infinite_stream_resolves() {
    let out = Source::iterate(1, |x| x + 1)
        .run_with(Sink::head())
        .await
        .unwrap();
    assert_eq!(out, 1);
}

#[tokio::test]
async fn head_of_empty_stream_fails_with_empty() {
    let err = Source::<i32>::empty()
        .run_with(Sink::head())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::Empty { stage: "head" }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn head_cancels_upstream_after_the_first_element() {
    let (src, head) = TestSource::<i32>::probe()
        .to_mat(Sink::head(), Keep::both)
        .run();
    assert!(src.expect_request().await >= 1);
    src.send_next(10).await;
    src.expect_cancellation().await;
    assert_eq!(head.await.unwrap(), 10);
}

#[tokio::test(start_paused = true)]
async fn head_option_cancels_upstream_after_the_first_element() {
    let (src, head) = TestSource::<i32>::probe()
        .to_mat(Sink::head_option(), Keep::both)
        .run();
    assert!(src.expect_request().await >= 1);
    src.send_next(7).await;
    src.expect_cancellation().await;
    assert_eq!(head.await.unwrap(), Some(7));
}

#[tokio::test]
async fn head_option_resolves_with_some_first_element() {
    let out = Source::range(3, 9)
        .run_with(Sink::head_option())
        .await
        .unwrap();
    assert_eq!(out, Some(3));
}

#[tokio::test]
async fn head_option_of_empty_stream_is_none() {
    let out = Source::<i32>::empty()
        .run_with(Sink::head_option())
        .await
        .unwrap();
    assert_eq!(out, None);
}

#[tokio::test]
async fn last_resolves_with_the_last_element() {
    let out = Source::range(1, 1000).run_with(Sink::last()).await.unwrap();
    assert_eq!(out, 1000);
}

#[tokio::test]
async fn last_of_empty_stream_fails_with_empty() {
    let err = Source::<i32>::empty()
        .run_with(Sink::last())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::Empty { stage: "last" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn last_option_resolves_with_some_last_element() {
    let out = Source::from_iter(vec!['p', 'q'])
        .run_with(Sink::last_option())
        .await
        .unwrap();
    assert_eq!(out, Some('q'));
}

#[tokio::test]
async fn last_option_of_empty_stream_is_none() {
    let out = Source::<i32>::empty()
        .run_with(Sink::last_option())
        .await
        .unwrap();
    assert_eq!(out, None);
}

#[tokio::test]
async fn take_last_keeps_the_last_n_in_order() {
    let out = Source::range(1, 100)
        .run_with(Sink::take_last(3))
        .await
        .unwrap();
    assert_eq!(out, vec![98, 99, 100]);
}

#[tokio::test]
async fn take_last_with_n_larger_than_stream_keeps_everything() {
    let out = Source::range(1, 3)
        .run_with(Sink::take_last(10))
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
}

#[tokio::test]
async fn take_last_zero_is_empty() {
    let out = Source::range(1, 3)
        .run_with(Sink::take_last(0))
        .await
        .unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn take_last_of_empty_stream_is_empty() {
    let out = Source::<i32>::empty()
        .run_with(Sink::take_last(2))
        .await
        .unwrap();
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------------
// cancelled / on_complete

#[tokio::test(start_paused = true)]
async fn cancelled_cancels_upstream_at_once_without_demand() {
    let src = TestSource::<i32>::probe().to(Sink::cancelled()).run();
    src.expect_cancellation().await;
    let req = tokio::time::timeout(Duration::from_millis(200), src.expect_request()).await;
    assert!(req.is_err(), "cancelled sink requested {req:?}");
}

#[tokio::test]
async fn cancelled_is_seen_as_normal_termination_upstream() {
    let done = Source::repeat(1)
        .watch_termination()
        .to(Sink::cancelled())
        .run();
    assert!(done.await.is_ok());
}

#[tokio::test]
async fn on_complete_is_called_once_with_ok_after_all_elements() {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let consumed = Arc::new(AtomicUsize::new(0));
    let c = consumed.clone();
    Source::range(1, 50)
        .map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            x
        })
        .run_with(Sink::on_complete(move |r| {
            let _ = tx.unbounded_send(r);
        }));
    let calls: Vec<_> = rx.collect().await;
    assert_eq!(calls.len(), 1, "on_complete called {} times", calls.len());
    assert!(calls[0].is_ok(), "{:?}", calls[0]);
    assert_eq!(consumed.load(Ordering::SeqCst), 50);
}

#[tokio::test]
async fn on_complete_is_called_once_with_the_upstream_error() {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    failing_after_elements("oc").run_with(Sink::on_complete(move |r| {
        let _ = tx.unbounded_send(r);
    }));
    let calls: Vec<_> = rx.collect().await;
    assert_eq!(calls.len(), 1, "on_complete called {} times", calls.len());
    assert_boom(calls[0].as_ref().unwrap_err(), "oc");
}

#[tokio::test]
async fn on_complete_on_empty_stream_is_ok() {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    Source::<i32>::empty().run_with(Sink::on_complete(move |r| {
        let _ = tx.unbounded_send(r);
    }));
    let calls: Vec<_> = rx.collect().await;
    assert_eq!(calls.len(), 1);
    assert!(calls[0].is_ok());
}

// ---------------------------------------------------------------------------------------------
// from_sink

#[tokio::test]
async fn from_sink_sends_everything_in_order_then_closes() {
    let (tx, rx) = futures::channel::mpsc::channel::<i32>(2);
    let done = Source::range(1, 100).run_with(Sink::from_sink(tx));
    // The receiver ending proves the sink was closed.
    let got: Vec<i32> = rx.collect().await;
    assert_eq!(got, (1..=100).collect::<Vec<_>>());
    assert!(done.await.is_ok());
}

#[tokio::test]
async fn from_sink_of_empty_stream_closes_the_sink() {
    let (tx, rx) = futures::channel::mpsc::channel::<i32>(2);
    let done = Source::<i32>::empty().run_with(Sink::from_sink(tx));
    let got: Vec<i32> = rx.collect().await;
    assert!(got.is_empty());
    assert!(done.await.is_ok());
}

#[tokio::test]
async fn from_sink_is_one_shot() {
    let (tx, rx) = futures::channel::mpsc::channel::<i32>(8);
    let sink = Sink::from_sink(tx);
    let first = Source::range(1, 3).run_with(sink.clone());
    let second = Source::range(4, 6).run_with(sink);
    let err = second.await.unwrap_err();
    assert!(
        matches!(err, StreamError::AlreadyMaterialized { stage: "from_sink" }),
        "{err:?}"
    );
    assert!(first.await.is_ok());
    assert_eq!(rx.collect::<Vec<_>>().await, vec![1, 2, 3]);
}

#[tokio::test]
async fn from_sink_upstream_failure_resolves_err_and_releases_the_sink() {
    let (tx, rx) = futures::channel::mpsc::channel::<i32>(8);
    let done = failing_after_elements("fs").run_with(Sink::from_sink(tx));
    assert_boom(&done.await.unwrap_err(), "fs");
    // The elements before the failure are delivered, then the sink is released.
    let got: Vec<i32> = rx.collect().await;
    assert_eq!(got, vec![1, 2, 3]);
}

#[tokio::test]
async fn from_sink_send_error_fails_the_stream() {
    let (tx, rx) = futures::channel::mpsc::channel::<i32>(1);
    drop(rx);
    let err = Source::range(1, 5)
        .run_with(Sink::from_sink(tx))
        .await
        .unwrap_err();
    assert!(
        err.downcast_ref::<futures::channel::mpsc::SendError>()
            .is_some(),
        "{err:?}"
    );
}

/// A `futures::Sink` that makes items visible only when flushed, and records closing.
struct FlushRecorder {
    pending: Vec<i32>,
    flushed: Arc<Mutex<Vec<i32>>>,
    closed: Arc<AtomicUsize>,
}

impl futures::Sink<i32> for FlushRecorder {
    type Error = std::convert::Infallible;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(self: std::pin::Pin<&mut Self>, item: i32) -> Result<(), Self::Error> {
        self.get_mut().pending.push(item);
        Ok(())
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.flushed.lock().unwrap().append(&mut this.pending);
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.closed.fetch_add(1, Ordering::SeqCst);
        std::pin::Pin::new(this).poll_flush(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn from_sink_flushes_when_upstream_pauses_and_closes_on_completion() {
    let flushed = shared_vec();
    let closed = Arc::new(AtomicUsize::new(0));
    let recorder = FlushRecorder {
        pending: Vec::new(),
        flushed: flushed.clone(),
        closed: closed.clone(),
    };
    let (src, done) = TestSource::<i32>::probe()
        .to_mat(Sink::from_sink(recorder), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    for _ in 0..100 {
        if flushed.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(*flushed.lock().unwrap(), vec![1, 2], "not flushed on pause");
    assert_eq!(closed.load(Ordering::SeqCst), 0, "closed before completion");
    src.send_next(3).await;
    src.send_complete();
    assert!(done.await.is_ok());
    assert_eq!(*flushed.lock().unwrap(), vec![1, 2, 3]);
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Every sink's completion carries the upstream failure.

#[tokio::test]
async fn seq_resolves_with_upstream_error() {
    let err = failing_after_elements("seq")
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert_boom(&err, "seq");
}

#[tokio::test]
async fn foreach_resolves_with_upstream_error() {
    let seen = shared_vec();
    let s = seen.clone();
    let err = failing_after_elements("foreach")
        .run_with(Sink::foreach(move |x| s.lock().unwrap().push(x)))
        .await
        .unwrap_err();
    assert_boom(&err, "foreach");
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn foreach_async_resolves_with_upstream_error() {
    let err = failing_after_elements("foreach_async")
        .run_with(Sink::foreach_async(2, |_| async {}))
        .await
        .unwrap_err();
    assert_boom(&err, "foreach_async");
}

#[tokio::test]
async fn fold_resolves_with_upstream_error() {
    let err = failing_after_elements("fold")
        .run_with(Sink::fold(0, |a, x| a + x))
        .await
        .unwrap_err();
    assert_boom(&err, "fold");
}

#[tokio::test]
async fn reduce_resolves_with_upstream_error() {
    let err = failing_after_elements("reduce")
        .run_with(Sink::reduce(|a, b| a + b))
        .await
        .unwrap_err();
    assert_boom(&err, "reduce");
}

#[tokio::test]
async fn ignore_resolves_with_upstream_error() {
    let err = failing_after_elements("ignore")
        .run_with(Sink::ignore())
        .await
        .unwrap_err();
    assert_boom(&err, "ignore");
}

#[tokio::test]
async fn head_resolves_with_upstream_error() {
    let err = Source::<i32>::failed(boom("head"))
        .run_with(Sink::head())
        .await
        .unwrap_err();
    assert_boom(&err, "head");
}

#[tokio::test]
async fn head_ignores_failure_after_the_first_element() {
    let out = failing_after_elements("late")
        .run_with(Sink::head())
        .await
        .unwrap();
    assert_eq!(out, 1);
}

#[tokio::test]
async fn head_option_resolves_with_upstream_error() {
    let err = Source::<i32>::failed(boom("head_option"))
        .run_with(Sink::head_option())
        .await
        .unwrap_err();
    assert_boom(&err, "head_option");
}

#[tokio::test]
async fn last_resolves_with_upstream_error() {
    let err = failing_after_elements("last")
        .run_with(Sink::last())
        .await
        .unwrap_err();
    assert_boom(&err, "last");
}

#[tokio::test]
async fn last_option_resolves_with_upstream_error() {
    let err = failing_after_elements("last_option")
        .run_with(Sink::last_option())
        .await
        .unwrap_err();
    assert_boom(&err, "last_option");
}

#[tokio::test]
async fn take_last_resolves_with_upstream_error() {
    let err = failing_after_elements("take_last")
        .run_with(Sink::take_last(2))
        .await
        .unwrap_err();
    assert_boom(&err, "take_last");
}

#[tokio::test(start_paused = true)]
async fn sinks_resolve_with_error_sent_by_a_probe() {
    let (src, done) = TestSource::<i32>::probe()
        .to_mat(Sink::seq(), Keep::both)
        .run();
    src.expect_request().await;
    src.send_next(1).await;
    src.send_error(boom("probe"));
    assert_boom(&done.await.unwrap_err(), "probe");
}

// ---------------------------------------------------------------------------------------------
// Supervision inside sinks (Akka's FlowFoldSpec / FlowReduceSpec)

fn fails_on_fifty(a: i32, b: i32) -> i32 {
    assert_ne!(b, 50, "fifty");
    a + b
}

#[tokio::test]
async fn fold_sink_resume_keeps_the_accumulated_state() {
    let out = Source::range(1, 100)
        .run_with(
            Sink::fold(0, fails_on_fifty)
                .with_attributes(Attributes::supervision(Decider::resuming())),
        )
        .await
        .unwrap();
    assert_eq!(out, 5050 - 50);
}

#[tokio::test]
async fn fold_sink_restart_resets_to_zero() {
    let out = Source::range(1, 100)
        .run_with(
            Sink::fold(0, fails_on_fifty)
                .with_attributes(Attributes::supervision(Decider::restarting())),
        )
        .await
        .unwrap();
    assert_eq!(out, (51..=100).sum::<i32>());
}

#[tokio::test]
async fn fold_sink_panic_fails_with_panicked() {
    let err = Source::range(1, 100)
        .run_with(Sink::fold(0, fails_on_fifty))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StreamError::Panicked { stage, message }
            if stage == "fold" && message.contains("fifty")),
        "{err:?}"
    );
}

#[tokio::test]
async fn reduce_sink_resume_keeps_the_accumulated_state() {
    let out = Source::range(1, 100)
        .run_with(
            Sink::reduce(fails_on_fifty)
                .with_attributes(Attributes::supervision(Decider::resuming())),
        )
        .await
        .unwrap();
    assert_eq!(out, 5050 - 50);
}

#[tokio::test]
async fn reduce_sink_restart_starts_over_with_the_next_element() {
    let out = Source::range(1, 100)
        .run_with(
            Sink::reduce(fails_on_fifty)
                .with_attributes(Attributes::supervision(Decider::restarting())),
        )
        .await
        .unwrap();
    assert_eq!(out, (51..=100).sum::<i32>());
}

#[tokio::test]
async fn foreach_async_panic_fails_the_stream() {
    let err = Source::range(1, 3)
        .run_with(Sink::foreach_async(1, |x: i32| async move {
            assert_ne!(x, 2, "two");
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Panicked { .. }), "{err:?}");
}

#[tokio::test]
async fn foreach_async_supervision_skips_the_panicking_element() {
    let f = |seen: Arc<Mutex<Vec<i32>>>| {
        move |x: i32| {
            let seen = seen.clone();
            async move {
                assert_ne!(x, 2, "two");
                seen.lock().unwrap().push(x);
            }
        }
    };
    for decider in [Decider::resuming(), Decider::restarting()] {
        let seen = shared_vec();
        Source::range(1, 4)
            .run_with(
                Sink::foreach_async(2, f(seen.clone()))
                    .with_attributes(Attributes::supervision(decider)),
            )
            .await
            .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 3, 4]);
    }
    let err = Source::range(1, 4)
        .run_with(
            Sink::foreach_async(2, f(shared_vec()))
                .with_attributes(Attributes::supervision(Decider::stopping())),
        )
        .await
        .unwrap_err();
    match err {
        StreamError::Panicked { stage, message } => {
            assert_eq!(stage, "map_async_unordered");
            assert!(message.contains("two"), "{message}");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn last_waits_for_upstream_completion() {
    let (src, last) = TestSource::<i32>::probe()
        .to_mat(Sink::last(), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    let mut last = last;
    let early = tokio::time::timeout(Duration::from_millis(200), &mut last).await;
    assert!(early.is_err(), "resolved before completion: {early:?}");
    src.send_complete();
    assert_eq!(last.await.unwrap(), 2);
}

/// As Akka's `foreachAsync` (on `mapAsyncUnordered`): a finished future makes room at once, so
/// a slow one holds only its own slot.
#[tokio::test(start_paused = true)]
async fn foreach_async_a_slow_future_does_not_hold_back_later_ones() {
    let finished = Arc::new(Mutex::new(Vec::new()));
    let f = finished.clone();
    Source::from_iter(vec![1u64, 2, 3, 4])
        .run_with(Sink::foreach_async(2, move |x| {
            let f = f.clone();
            async move {
                let delay = if x == 1 { 100 } else { 10 };
                tokio::time::sleep(Duration::from_millis(delay)).await;
                f.lock().unwrap().push(x);
            }
        }))
        .await
        .unwrap();
    assert_eq!(*finished.lock().unwrap(), vec![2, 3, 4, 1]);
}

// ---------------------------------------------------------------------------------------------
// forall / exists (Pekko's SinkSpec "The forall sink", "The exists sink")
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn forall_is_true_when_every_element_matches_and_for_an_empty_stream() {
    assert!(Source::range(1, 4)
        .run_with(Sink::forall(|x| *x > 0))
        .await
        .unwrap());
    assert!(Source::<i32>::empty()
        .run_with(Sink::forall(|x| *x > 2))
        .await
        .unwrap());
}

#[tokio::test(start_paused = true)]
async fn forall_is_false_at_the_first_mismatch_and_cancels_upstream() {
    let (src, verdict) = TestSource::<i32>::probe()
        .to_mat(Sink::forall(|x| *x < 3), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(3).await;
    src.expect_cancellation().await;
    assert!(!verdict.await.unwrap());
}

#[tokio::test]
async fn forall_fails_with_the_stream() {
    let out = failing_after_elements("forall")
        .run_with(Sink::forall(|x| *x > 0))
        .await;
    assert_boom(&out.unwrap_err(), "forall");
}

#[tokio::test]
async fn forall_restart_skips_an_element_whose_predicate_panics() {
    let sink = Sink::forall(|x: &i32| {
        assert!(*x != 2, "two");
        *x > 0
    })
    .with_attributes(Attributes::supervision(Decider::restarting()));
    assert!(Source::range(1, 2).run_with(sink).await.unwrap());
    let out = Source::range(1, 2)
        .run_with(Sink::forall(|x: &i32| {
            assert!(*x != 2, "two");
            true
        }))
        .await;
    assert!(matches!(out, Err(StreamError::Panicked { stage, .. }) if stage == "forall"));
}

#[tokio::test]
async fn exists_is_true_at_the_first_match_and_false_otherwise() {
    assert!(Source::range(1, 4)
        .run_with(Sink::exists(|x| *x > 2))
        .await
        .unwrap());
    assert!(!Source::range(1, 4)
        .run_with(Sink::exists(|x| *x > 5))
        .await
        .unwrap());
    assert!(!Source::<i32>::empty()
        .run_with(Sink::exists(|x| *x > 2))
        .await
        .unwrap());
}

#[tokio::test(start_paused = true)]
async fn exists_cancels_upstream_at_the_first_match() {
    let (src, verdict) = TestSource::<i32>::probe()
        .to_mat(Sink::exists(|x| *x == 2), Keep::both)
        .run();
    src.send_next(1).await;
    src.send_next(2).await;
    src.expect_cancellation().await;
    assert!(verdict.await.unwrap());
}

#[tokio::test]
async fn exists_fails_with_the_stream_and_restart_skips_a_panicking_predicate() {
    let out = failing_after_elements("exists")
        .run_with(Sink::exists(|x| *x > 100))
        .await;
    assert_boom(&out.unwrap_err(), "exists");
    let sink = Sink::exists(|x: &i32| {
        assert!(*x != 2, "two");
        *x > 2
    })
    .with_attributes(Attributes::supervision(Decider::restarting()));
    assert!(Source::range(1, 3).run_with(sink).await.unwrap());
}

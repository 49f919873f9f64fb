//! `Source::queue` and `Sink::queue`.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{is_boom, settle, Boom};
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::{Attributes, QueueClosedError, QueueOfferResult, SinkQueue, SourceQueue};

fn boom() -> StreamError {
    StreamError::failed(Boom)
}

fn source_rig(n: usize) -> (SourceQueue<u32>, SinkProbe<u32>) {
    Source::queue(n).to_mat(TestSink::probe(), Keep::both).run()
}

fn is_detached(r: &QueueOfferResult) -> bool {
    matches!(r, QueueOfferResult::Failure(StreamError::Detached { .. }))
}

// ---------------------------------------------------------------------------------------------
// Source::queue: offer
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn offer_enqueues_up_to_n_then_drops_and_emits_in_order() {
    let (queue, sink) = source_rig(3);
    settle().await;
    for x in 1..=3 {
        assert!(queue.offer(x).is_enqueued());
    }
    assert!(matches!(queue.offer(4), QueueOfferResult::Dropped));
    assert_eq!(queue.len(), 3);
    sink.request(10);
    sink.expect_next_n([1, 2, 3]).await;
    // Room again.
    assert!(queue.offer(5).is_enqueued());
    sink.expect_next(5).await;
    assert!(queue.is_empty());
    sink.expect_no_message(Duration::from_millis(100)).await;
}

#[tokio::test(start_paused = true)]
async fn complete_emits_what_is_buffered_then_completes_and_closes_the_queue() {
    let (queue, sink) = source_rig(4);
    queue.offer(1);
    queue.offer(2);
    let done = queue.watch_completion();
    queue.complete().unwrap();
    assert!(queue.is_closed());
    assert!(matches!(queue.offer(3), QueueOfferResult::QueueClosed));
    assert_eq!(queue.complete(), Err(QueueClosedError));
    assert_eq!(queue.fail(boom()), Err(QueueClosedError));
    settle().await;
    // Completion waits for the buffer to drain (the probe has asked for nothing yet).
    let not_yet = tokio::time::timeout(Duration::from_millis(100), queue.watch_completion()).await;
    assert!(
        not_yet.is_err(),
        "the stream ended before its elements were emitted"
    );
    sink.request(1);
    sink.expect_next(1).await;
    sink.request(1);
    sink.expect_next(2).await;
    sink.expect_complete().await;
    assert!(done.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn complete_on_an_empty_queue_needs_no_demand() {
    let (queue, sink) = source_rig(4);
    settle().await;
    queue.complete().unwrap();
    sink.expect_complete().await;
    assert!(queue.watch_completion().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn fail_fails_the_stream_at_once_dropping_the_buffer() {
    let (queue, sink) = source_rig(4);
    queue.offer(1);
    queue.offer(2);
    queue.fail(boom()).unwrap();
    // Elements were buffered: the failure overtakes them.
    sink.request(10);
    assert!(is_boom(&sink.expect_error().await));
    assert!(queue.is_empty());
    match queue.offer(3) {
        QueueOfferResult::Failure(e) => assert!(is_boom(&e)),
        other => panic!("expected the failure, got {other:?}"),
    }
    assert!(is_boom(&queue.watch_completion().await.unwrap_err()));
    assert_eq!(queue.complete(), Err(QueueClosedError));
}

#[tokio::test(start_paused = true)]
async fn downstream_cancellation_detaches_the_queue() {
    let (queue, sink) = source_rig(4);
    queue.offer(1);
    sink.request(1);
    sink.expect_next(1).await;
    sink.cancel();
    assert!(queue.watch_completion().await.is_ok());
    assert!(is_detached(&queue.offer(2)));
    assert!(is_detached(&queue.send(3).await));
    assert!(queue.is_closed());
    assert_eq!(queue.complete(), Err(QueueClosedError));
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_completes_the_stream() {
    let (queue, out) = Source::queue(4).to_mat(Sink::seq(), Keep::both).run();
    let other = queue.clone();
    queue.offer(1);
    other.offer(2);
    drop(queue);
    settle().await;
    // One handle is left: the stream still runs.
    assert!(other.offer(3).is_enqueued());
    drop(other);
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_queue_of_zero_fails_with_a_typed_error() {
    let (queue, out) = Source::<u32, _>::queue(0)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert!(matches!(
        queue.offer(1),
        QueueOfferResult::Failure(StreamError::InvalidArgument { .. })
    ));
    assert!(matches!(
        queue.send(1).await,
        QueueOfferResult::Failure(StreamError::InvalidArgument { .. })
    ));
    assert!(matches!(
        out.await,
        Err(StreamError::InvalidArgument { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn each_materialization_has_its_own_queue() {
    let graph = Source::queue(2).to_mat(Sink::seq(), Keep::both);
    let (q1, out1) = graph.run();
    let (q2, out2) = graph.run();
    q1.offer(1);
    q2.offer(2);
    q1.complete().unwrap();
    q2.complete().unwrap();
    assert_eq!(out1.await.unwrap(), vec![1]);
    assert_eq!(out2.await.unwrap(), vec![2]);
}

// ---------------------------------------------------------------------------------------------
// Source::queue: send (waits for room)
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn send_waits_for_room_and_resolves_when_the_stream_takes_an_element() {
    let (queue, sink) = source_rig(1);
    settle().await;
    assert!(queue.send(1).await.is_enqueued());
    let q = queue.clone();
    let waiting = tokio::spawn(async move { q.send(2).await });
    settle().await;
    assert!(!waiting.is_finished(), "send did not wait for room");
    // A non-waiting offer does not jump the queue of waiting sends.
    assert!(matches!(queue.offer(9), QueueOfferResult::Dropped));
    sink.request(1);
    sink.expect_next(1).await;
    assert!(waiting.await.unwrap().is_enqueued());
    sink.request(1);
    sink.expect_next(2).await;
}

#[tokio::test(start_paused = true)]
async fn waiting_sends_are_served_in_order() {
    let (queue, sink) = source_rig(1);
    settle().await;
    queue.offer(0);
    let mut waiting = Vec::new();
    for x in 1..=5 {
        let q = queue.clone();
        waiting.push(tokio::spawn(async move { q.send(x).await }));
        settle().await;
    }
    sink.request(10);
    sink.expect_next_n([0, 1, 2, 3, 4, 5]).await;
    for w in waiting {
        assert!(w.await.unwrap().is_enqueued());
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_sends_learn_of_complete_and_fail() {
    let (queue, _sink) = source_rig(1);
    queue.offer(0);
    let q = queue.clone();
    let waiting = tokio::spawn(async move { q.send(1).await });
    settle().await;
    queue.complete().unwrap();
    assert!(matches!(
        waiting.await.unwrap(),
        QueueOfferResult::QueueClosed
    ));

    let (queue, _sink) = source_rig(1);
    queue.offer(0);
    let q = queue.clone();
    let waiting = tokio::spawn(async move { q.send(1).await });
    settle().await;
    queue.fail(boom()).unwrap();
    match waiting.await.unwrap() {
        QueueOfferResult::Failure(e) => assert!(is_boom(&e)),
        other => panic!("expected the failure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_send_leaves_the_queue_as_it_was() {
    let (queue, sink) = source_rig(1);
    queue.offer(0);
    let gave_up = tokio::time::timeout(Duration::from_millis(10), queue.send(1)).await;
    assert!(gave_up.is_err());
    sink.request(5);
    sink.expect_next(0).await;
    assert!(queue.send(2).await.is_enqueued());
    sink.expect_next(2).await;
    sink.expect_no_message(Duration::from_millis(50)).await;
}

// ---------------------------------------------------------------------------------------------
// Source::queue: many producers
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_deliver_every_element_exactly_once_and_in_order_per_producer() {
    const PRODUCERS: u32 = 16;
    const EACH: u32 = 500;
    const N: usize = 8;
    let (queue, out) = Source::queue(N)
        // A consumer that sometimes waits, so the buffer fills and sends wait.
        .map_async(1, |x: (u32, u32)| async move {
            if x.1 % 64 == 0 {
                tokio::task::yield_now().await;
            }
            x
        })
        .to_mat(Sink::seq(), Keep::both)
        .run();
    let over = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            let over = over.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    // Half the producers wait for room; the others retry a non-waiting offer.
                    if p % 2 == 0 {
                        assert!(queue.send((p, i)).await.is_enqueued());
                    } else {
                        loop {
                            match queue.offer((p, i)) {
                                QueueOfferResult::Enqueued => break,
                                QueueOfferResult::Dropped => tokio::task::yield_now().await,
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    }
                    if queue.len() > N {
                        over.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    queue.complete().unwrap();
    let out = out.await.unwrap();
    assert_eq!(over.load(Ordering::Relaxed), 0, "more than {N} buffered");
    assert_eq!(out.len(), (PRODUCERS * EACH) as usize);
    let distinct: HashSet<_> = out.iter().copied().collect();
    assert_eq!(distinct.len(), out.len(), "an element was delivered twice");
    for p in 0..PRODUCERS {
        let mine: Vec<u32> = out.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
        assert_eq!(mine, (0..EACH).collect::<Vec<_>>(), "producer {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_racing_a_complete_never_lose_an_enqueued_element() {
    let (queue, out) = Source::queue(4).to_mat(Sink::seq(), Keep::both).run();
    let enqueued = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..8u32)
        .map(|p| {
            let queue = queue.clone();
            let enqueued = enqueued.clone();
            tokio::spawn(async move {
                for i in 0..200u32 {
                    match queue.send(p * 1000 + i).await {
                        QueueOfferResult::Enqueued => {
                            enqueued.fetch_add(1, Ordering::Relaxed);
                        }
                        QueueOfferResult::QueueClosed => return,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    tokio::task::yield_now().await;
    queue.complete().unwrap();
    for p in producers {
        p.await.unwrap();
    }
    let out = out.await.unwrap();
    // Every element reported as enqueued was emitted, and nothing else.
    assert_eq!(out.len(), enqueued.load(Ordering::Relaxed));
}

// ---------------------------------------------------------------------------------------------
// Sink::queue
// ---------------------------------------------------------------------------------------------

fn sink_rig(attrs: Attributes) -> (SourceProbe<u32>, SinkQueue<u32>) {
    TestSource::<u32>::probe()
        .to_mat(Sink::queue().with_attributes(attrs), Keep::both)
        .run()
}

#[tokio::test(start_paused = true)]
async fn pull_returns_the_elements_in_order_then_none_for_good() {
    let mut queue = Source::range(1u32, 5).run_with(Sink::queue());
    for x in 1..=5 {
        assert_eq!(queue.pull().await.unwrap(), Some(x));
    }
    assert_eq!(queue.pull().await.unwrap(), None);
    assert_eq!(queue.pull().await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn demand_starts_with_the_first_pull_and_is_bounded_by_the_buffer() {
    let (src, mut queue) = sink_rig(Attributes::input_buffer(4));
    settle().await;
    assert_eq!(src.pending_demand(), 0, "demand before any pull");
    let first = tokio::spawn(async move {
        let x = queue.pull().await;
        (x, queue)
    });
    assert_eq!(src.expect_request().await, 4);
    for x in 1..=4 {
        src.send_next(x).await;
    }
    let (x, mut queue) = first.await.unwrap();
    assert_eq!(x.unwrap(), Some(1));
    settle().await;
    // Three are buffered: nothing more is asked for until they have been pulled.
    assert_eq!(src.pending_demand(), 0);
    for x in 2..=4 {
        assert_eq!(queue.pull().await.unwrap(), Some(x));
    }
    settle().await;
    assert_eq!(src.pending_demand(), 0, "demand with no pull waiting");
    let next = tokio::spawn(async move { queue.pull().await });
    assert_eq!(src.expect_request().await, 4);
    src.send_next(5).await;
    assert_eq!(next.await.unwrap().unwrap(), Some(5));
}

#[tokio::test(start_paused = true)]
async fn input_buffer_one_requests_one_element_per_pull() {
    let (src, mut queue) = sink_rig(Attributes::input_buffer(1));
    let probe = tokio::spawn(async move {
        for x in 1..=3 {
            assert_eq!(src.expect_request().await, 1);
            src.send_next(x).await;
        }
        src
    });
    for x in 1..=3 {
        assert_eq!(queue.pull().await.unwrap(), Some(x));
    }
    let src = probe.await.unwrap();
    settle().await;
    assert_eq!(src.pending_demand(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failure_comes_after_the_buffered_elements_and_stays() {
    let (src, mut queue) = sink_rig(Attributes::input_buffer(8));
    let first = tokio::spawn(async move {
        let x = queue.pull().await;
        (x, queue)
    });
    src.expect_request().await;
    src.send_next(1).await;
    let (x, mut queue) = first.await.unwrap();
    assert_eq!(x.unwrap(), Some(1));
    // No pull waits now; the failure arrives anyway.
    src.send_error(boom());
    settle().await;
    assert!(is_boom(&queue.pull().await.unwrap_err()));
    assert!(is_boom(&queue.pull().await.unwrap_err()));
}

#[tokio::test(start_paused = true)]
async fn elements_delivered_with_a_failure_are_pulled_before_it() {
    let mut queue = Source::range(1u32, 2)
        .concat(Source::failed(boom()))
        .run_with(Sink::queue());
    assert_eq!(queue.pull().await.unwrap(), Some(1));
    assert_eq!(queue.pull().await.unwrap(), Some(2));
    assert!(is_boom(&queue.pull().await.unwrap_err()));
}

#[tokio::test(start_paused = true)]
async fn cancel_cancels_the_stream_and_detaches_the_queue() {
    let (src, mut queue) = sink_rig(Attributes::none());
    queue.cancel();
    src.expect_cancellation().await;
    assert!(matches!(
        queue.pull().await,
        Err(StreamError::Detached { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_cancels_the_stream() {
    let (src, queue) = sink_rig(Attributes::none());
    drop(queue);
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_pull_loses_no_element() {
    let (src, mut queue) = sink_rig(Attributes::none());
    let gave_up = tokio::time::timeout(Duration::from_millis(10), queue.pull()).await;
    assert!(gave_up.is_err());
    // The demand of the abandoned pull was already signalled; its element is kept.
    src.send_next(7).await;
    settle().await;
    assert_eq!(queue.pull().await.unwrap(), Some(7));
}

#[tokio::test(start_paused = true)]
async fn source_queue_into_sink_queue() {
    let (input, mut output) = Source::queue(2)
        .map(|x: u32| x + 1)
        .to_mat(Sink::queue(), Keep::both)
        .run();
    for x in 0..10 {
        assert!(input.send(x).await.is_enqueued());
        assert_eq!(output.pull().await.unwrap(), Some(x + 1));
    }
    input.send(10).await;
    input.complete().unwrap();
    assert_eq!(output.pull().await.unwrap(), Some(11));
    assert_eq!(output.pull().await.unwrap(), None);
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_traits<T: Send + Sync + 'static>() {}
    assert_traits::<SourceQueue<u32>>();
    assert_traits::<SinkQueue<u32>>();
    fn assert_clone<T: Clone>() {}
    assert_clone::<SourceQueue<u32>>();
}

//! MergeHub, BroadcastHub and PartitionHub: elements, order, back pressure, completion,
//! failure and cancellation, and many producers and consumers at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weir::hub::ConsumerInfo;
use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::{BroadcastHub, MergeHub, PartitionHub};

/// Lets every spawned island run until it waits (on the paused clock).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A source of `0..` that counts how many elements were pulled from it.
fn counted(pulled: &Arc<AtomicUsize>) -> Source<u64, NotUsed> {
    let pulled = pulled.clone();
    Source::from_iter(0u64..).map(move |x| {
        pulled.fetch_add(1, Ordering::SeqCst);
        x
    })
}

// ---------------------------------------------------------------------------------------------
// MergeHub

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_hub_delivers_every_element_of_many_producers_once_each_in_its_order() {
    let (to_hub, out) = MergeHub::source::<(usize, u32)>(8)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    let producers: Vec<_> = (0..16)
        .map(|p| {
            let sink = to_hub.clone();
            tokio::spawn(async move {
                Source::range(0u32, 999)
                    .map(move |i| (p, i))
                    .watch_termination()
                    .to_mat(sink, Keep::left)
                    .run()
                    .await
            })
        })
        .collect();
    drop(to_hub);
    for p in producers {
        p.await.unwrap().unwrap();
    }
    let out = out.await.unwrap();
    assert_eq!(out.len(), 16 * 1000);
    for p in 0..16 {
        let mine: Vec<u32> = out
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(mine, (0..1000).collect::<Vec<_>>(), "producer {p}");
    }
}

#[tokio::test(start_paused = true)]
async fn merge_hub_takes_at_most_the_per_producer_buffer_without_demand() {
    let (to_hub, probe) = MergeHub::source::<u64>(4)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    counted(&a).run_with(to_hub.clone());
    counted(&b).run_with(to_hub.clone());
    settle().await;
    assert_eq!(a.load(Ordering::SeqCst), 4);
    assert_eq!(b.load(Ordering::SeqCst), 4);
    probe.request(3);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(probe.expect_next_element().await);
    }
    settle().await;
    // Three elements left the hub; their producers were credited and refilled only as far as
    // their buffers allow.
    let total = a.load(Ordering::SeqCst) + b.load(Ordering::SeqCst);
    assert!(total <= 8 + 3, "pulled {total}");
    assert!(total >= 8, "pulled {total}");
}

#[tokio::test(start_paused = true)]
async fn merge_hub_cancelled_downstream_cancels_every_producer_and_later_ones() {
    let (to_hub, probe) = MergeHub::source::<u32>(4)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let first = Source::<u32>::never()
        .watch_termination()
        .to_mat(to_hub.clone(), Keep::left)
        .run();
    settle().await;
    probe.cancel();
    settle().await;
    assert!(first.await.is_ok(), "cancelled, not failed");
    let later = Source::<u32>::never()
        .watch_termination()
        .to_mat(to_hub, Keep::left)
        .run();
    assert!(later.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn merge_hub_goes_on_when_a_producer_fails() {
    let (to_hub, probe) = MergeHub::source::<u32>(4)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    Source::failed(StreamError::AbruptTermination).run_with(to_hub.clone());
    Source::range(1, 3).run_with(to_hub.clone());
    probe.request(10);
    probe.expect_next_n([1, 2, 3]).await;
    probe.expect_no_message(Duration::from_secs(1)).await;
    // Still open: a new producer is heard.
    Source::single(9).run_with(to_hub.clone());
    probe.expect_next(9).await;
    drop(to_hub);
    probe.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_hub_completes_only_when_no_one_can_send_any_more() {
    let (to_hub, probe) = MergeHub::source::<u32>(2)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let producer = TestSource::probe().to_mat(to_hub.clone(), Keep::left).run();
    drop(to_hub);
    probe.request(5);
    producer.send_next(1).await;
    probe.expect_next(1).await;
    // Every sink is gone, but a producer is still attached.
    probe.expect_no_message(Duration::from_secs(1)).await;
    producer.send_complete();
    probe.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn merge_hub_with_draining_completes_after_the_attached_producers_and_refuses_new_ones() {
    let ((to_hub, control), probe) = MergeHub::source_with_draining::<u32>(2)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    let producer = TestSource::probe().to_mat(to_hub.clone(), Keep::left).run();
    probe.request(10);
    producer.send_next(1).await;
    probe.expect_next(1).await;
    control.drain_and_complete();
    let late = Source::single(99)
        .watch_termination()
        .to_mat(to_hub.clone(), Keep::left)
        .run();
    assert!(
        late.await.is_ok(),
        "a producer after the drain is cancelled"
    );
    producer.send_next(2).await;
    probe.expect_next(2).await;
    probe.expect_no_message(Duration::from_secs(1)).await;
    producer.send_complete();
    probe.expect_complete().await;
    drop(to_hub);
}

#[tokio::test(start_paused = true)]
async fn merge_hub_with_no_buffer_fails_with_a_typed_error() {
    let (to_hub, out) = MergeHub::source::<u32>(0)
        .to_mat(Sink::seq(), Keep::both)
        .run();
    let producer = Source::<u32>::never()
        .watch_termination()
        .to_mat(to_hub, Keep::left)
        .run();
    assert!(matches!(
        out.await,
        Err(StreamError::InvalidArgument {
            stage: "MergeHub",
            ..
        })
    ));
    assert!(producer.await.is_ok(), "cancelled");
}

#[tokio::test(start_paused = true)]
async fn merge_hub_blueprint_run_twice_gives_two_hubs() {
    let blueprint = MergeHub::source::<u32>(4).to_mat(Sink::seq(), Keep::both);
    let (a, out_a) = blueprint.run();
    let (b, out_b) = blueprint.run();
    Source::range(1, 2).run_with(a);
    Source::range(7, 8).run_with(b);
    assert_eq!(out_a.await.unwrap(), vec![1, 2]);
    assert_eq!(out_b.await.unwrap(), vec![7, 8]);
}

// ---------------------------------------------------------------------------------------------
// BroadcastHub

#[tokio::test(start_paused = true)]
async fn broadcast_hub_waits_for_its_first_consumers_then_gives_each_everything() {
    let from_hub = Source::range(1, 100).run_with(BroadcastHub::sink(3, 4));
    let outs: Vec<_> = (0..3)
        .map(|_| from_hub.clone().run_with(Sink::seq()))
        .collect();
    for out in outs {
        assert_eq!(out.await.unwrap(), (1..=100).collect::<Vec<_>>());
    }
}

#[tokio::test(start_paused = true)]
async fn broadcast_hub_is_paced_by_its_slowest_consumer() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let from_hub = counted(&pulled).run_with(BroadcastHub::sink(2, 8));
    let fast = from_hub.clone().run_with(TestSink::probe());
    let slow = from_hub.run_with(TestSink::probe());
    fast.request(100);
    for i in 0..8 {
        fast.expect_next(i).await;
    }
    fast.expect_no_message(Duration::from_secs(1)).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        8,
        "never more than the buffer"
    );
    slow.request(3);
    slow.expect_next_n([0, 1, 2]).await;
    fast.expect_next_n([8, 9, 10]).await;
    fast.expect_no_message(Duration::from_secs(1)).await;
    assert_eq!(pulled.load(Ordering::SeqCst), 11);
}

#[tokio::test(start_paused = true)]
async fn broadcast_hub_consumer_sees_every_element_after_it_attached() {
    let (queue, from_hub) = Source::queue(16)
        .to_mat(BroadcastHub::sink(1, 8), Keep::both)
        .run();
    let mut a = from_hub.clone().run_with(Sink::queue());
    for x in 1..=3 {
        queue.send(x).await;
        assert_eq!(a.pull().await.unwrap(), Some(x));
    }
    let b = from_hub.clone().run_with(Sink::seq());
    settle().await;
    queue.send(4).await;
    queue.send(5).await;
    queue.complete().unwrap();
    for x in 4..=5 {
        assert_eq!(a.pull().await.unwrap(), Some(x));
    }
    assert_eq!(a.pull().await.unwrap(), None);
    assert_eq!(b.await.unwrap(), vec![4, 5]);
    // After completion a new consumer completes at once.
    assert_eq!(
        from_hub.run_with(Sink::seq()).await.unwrap(),
        Vec::<i32>::new()
    );
}

#[tokio::test(start_paused = true)]
async fn broadcast_hub_consumer_that_cancels_only_leaves() {
    let from_hub = Source::range(1, 50).run_with(BroadcastHub::sink(2, 4));
    let short = from_hub.clone().take(3).run_with(Sink::seq());
    let long = from_hub.run_with(Sink::seq());
    assert_eq!(short.await.unwrap(), vec![1, 2, 3]);
    assert_eq!(long.await.unwrap(), (1..=50).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn broadcast_hub_upstream_failure_fails_every_consumer() {
    let (probe, from_hub) = TestSource::<u32>::probe()
        .to_mat(BroadcastHub::sink(2, 4), Keep::both)
        .run();
    let a = from_hub.clone().run_with(TestSink::probe());
    let b = from_hub.run_with(TestSink::probe());
    a.request(1);
    b.request(1);
    probe.send_next(1).await;
    a.expect_next(1).await;
    b.expect_next(1).await;
    a.request(1);
    b.request(1);
    probe.send_error(StreamError::AbruptTermination);
    assert!(matches!(
        a.expect_error().await,
        StreamError::AbruptTermination
    ));
    assert!(matches!(
        b.expect_error().await,
        StreamError::AbruptTermination
    ));
}

#[tokio::test(start_paused = true)]
async fn broadcast_hub_cancels_its_upstream_when_no_consumer_can_come() {
    let (done, from_hub) = Source::<u32>::never()
        .watch_termination()
        .to_mat(BroadcastHub::sink(0, 4), Keep::both)
        .run();
    let consumer = from_hub.clone().take(0).run_with(Sink::seq());
    assert!(consumer.await.unwrap().is_empty());
    settle().await;
    drop(from_hub);
    assert!(done.await.is_ok(), "cancelled");
}

#[tokio::test(start_paused = true)]
async fn broadcast_hub_with_no_buffer_fails_its_consumers() {
    let from_hub = Source::range(1, 3).run_with(BroadcastHub::sink(0, 0));
    assert!(matches!(
        from_hub.run_with(Sink::seq()).await,
        Err(StreamError::InvalidArgument {
            stage: "BroadcastHub",
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_hub_many_consumers_on_many_threads_each_get_the_whole_stream() {
    let from_hub = Source::range(0u64, 19_999).run_with(BroadcastHub::sink(8, 64));
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            let src = from_hub.clone();
            tokio::spawn(async move { src.run_fold(0u64, |a, x| a + x).await })
        })
        .collect();
    for c in consumers {
        assert_eq!(c.await.unwrap().unwrap(), 19_999 * 20_000 / 2);
    }
}

// ---------------------------------------------------------------------------------------------
// PartitionHub

#[tokio::test(start_paused = true)]
async fn partition_hub_routes_each_element_to_the_chosen_consumer() {
    let from_hub =
        Source::range(0u32, 29).run_with(PartitionHub::sink(|n, x: &u32| *x as usize % n, 3, 4));
    let outs: Vec<_> = (0..3)
        .map(|_| from_hub.clone().run_with(Sink::seq()))
        .collect();
    for (i, out) in outs.into_iter().enumerate() {
        let expected: Vec<u32> = (0..30).filter(|x| *x as usize % 3 == i).collect();
        assert_eq!(out.await.unwrap(), expected);
    }
}

#[tokio::test(start_paused = true)]
async fn partition_hub_index_out_of_range_fails_every_consumer() {
    let from_hub = Source::range(0u32, 9).run_with(PartitionHub::sink(|n, _: &u32| n, 2, 4));
    let a = from_hub.clone().run_with(Sink::seq());
    let b = from_hub.run_with(Sink::seq());
    for out in [a, b] {
        assert!(matches!(
            out.await,
            Err(StreamError::PartitionOutOfBounds {
                index: 2,
                outputs: 2
            })
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn partition_hub_stateful_partitioner_balances_on_queue_sizes() {
    let hub = PartitionHub::stateful_sink(
        || {
            |info: &ConsumerInfo, _: &u64| {
                info.consumer_ids()
                    .min_by_key(|id| info.queue_size(*id))
                    .unwrap()
            }
        },
        2,
        8,
    );
    let from_hub = Source::range(0u64, 999).run_with(hub);
    let slow = from_hub.clone().run_with(TestSink::probe());
    let fast = from_hub.run_with(Sink::seq());
    slow.request(10);
    let mut slow_got = Vec::new();
    for _ in 0..10 {
        slow_got.push(slow.expect_next_element().await);
    }
    slow.request(u64::MAX / 2);
    let mut fast_got = fast.await.unwrap();
    loop {
        match slow.expect_event().await {
            weir::testkit::Event::Next(x) => slow_got.push(x),
            weir::testkit::Event::Complete => break,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert!(
        fast_got.len() > slow_got.len(),
        "the idle consumer got most"
    );
    fast_got.extend(slow_got);
    fast_got.sort();
    assert_eq!(
        fast_got,
        (0..1000).collect::<Vec<_>>(),
        "every element once"
    );
}

#[tokio::test(start_paused = true)]
async fn partition_hub_consumer_that_leaves_drops_only_its_queue() {
    let (probe, from_hub) = TestSource::<u32>::probe()
        .to_mat(
            PartitionHub::sink(|n, x: &u32| *x as usize % n, 2, 8),
            Keep::both,
        )
        .run();
    let leaving = from_hub.clone().run_with(TestSink::probe());
    let staying = from_hub.run_with(TestSink::probe());
    staying.request(100);
    probe.send_next(0).await; // to `leaving`, which never asks
    probe.send_next(1).await;
    staying.expect_next(1).await;
    leaving.cancel();
    settle().await;
    // One consumer now: every index is 0.
    probe.send_next(2).await;
    probe.send_next(3).await;
    staying.expect_next_n([2, 3]).await;
    probe.send_complete();
    staying.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn partition_hub_partitioner_panic_fails_the_consumers() {
    let from_hub = Source::range(0u32, 9).run_with(PartitionHub::sink(
        |n, x: &u32| {
            assert!(*x < 5, "no big ones");
            *x as usize % n
        },
        1,
        4,
    ));
    assert!(matches!(
        from_hub.run_with(Sink::seq()).await,
        Err(StreamError::Panicked { .. })
    ));
}

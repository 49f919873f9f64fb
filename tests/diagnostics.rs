//! Stall diagnostics: snapshots of a run's islands, and the stall watcher.

mod support;

use std::sync::Arc;
use std::time::Duration;

use weir::diagnostics::{BufferFill, IslandSnapshot, IslandState, StreamDiagnostics};
use weir::prelude::*;
use weir::testkit::TestSink;

/// Lets every island run until it waits (on the paused clock, a single thread).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn by_label<'a>(islands: &'a [IslandSnapshot], label: &str) -> &'a IslandSnapshot {
    islands
        .iter()
        .find(|i| i.label == label)
        .unwrap_or_else(|| panic!("no island `{label}` in {islands:#?}"))
}

#[tokio::test(start_paused = true)]
async fn a_stalled_sink_shows_a_full_boundary_waiting_for_demand() {
    let ((queue, probe), diag): (_, StreamDiagnostics) = Source::queue(64)
        .async_boundary()
        .map(|x: u32| x * 2)
        .to_mat(TestSink::probe(), Keep::both)
        .run_diagnosed();
    for x in 0..40 {
        assert!(matches!(queue.offer(x), weir::QueueOfferResult::Enqueued));
    }
    settle().await;
    tokio::time::advance(Duration::from_secs(5)).await;
    let islands = diag.snapshot();
    assert_eq!(islands.len(), 2, "{islands:#?}");
    assert!(islands.iter().all(|i| i.stream == diag.stream()));
    let boundary = by_label(&islands, "async boundary");
    // Nothing was asked for downstream: the boundary's buffer (16) is full and it waits.
    assert_eq!(boundary.state, IslandState::WaitingForDemand);
    assert_eq!(
        boundary.buffer,
        Some(BufferFill {
            len: 16,
            capacity: 16
        })
    );
    assert_eq!(boundary.elements, 16);
    assert!(boundary.since_progress >= Duration::from_secs(5));
    // Once the probe asks, elements flow and the boundary takes more from the queue.
    probe.request(40);
    for x in 0..40 {
        probe.expect_next(x * 2).await;
    }
    settle().await;
    let islands = diag.snapshot();
    let boundary = by_label(&islands, "async boundary");
    assert_eq!(boundary.elements, 40);
    assert_eq!(boundary.state, IslandState::WaitingForElement);
    assert_eq!(boundary.since_progress, Duration::ZERO);
    queue.complete().unwrap();
    probe.expect_complete().await;
    settle().await;
    assert!(diag.is_finished(), "{:#?}", diag.snapshot());
}

#[tokio::test(start_paused = true)]
async fn a_sink_island_counts_its_elements_and_waits_for_an_element() {
    let ((queue, done), diag) = Source::queue(8)
        .map(|x: u64| x + 1)
        .to_mat(
            Sink::fold(0u64, |a, x| a + x).with_attributes(weir::Attributes::name("total")),
            Keep::both,
        )
        .run_diagnosed();
    for x in 0..5 {
        assert!(matches!(queue.offer(x), weir::QueueOfferResult::Enqueued));
    }
    settle().await;
    let islands = diag.snapshot();
    // One fused island, named by the sink's name attribute.
    assert_eq!(islands.len(), 1, "{islands:#?}");
    let sink = by_label(&islands, "total");
    assert_eq!(sink.state, IslandState::WaitingForElement);
    assert_eq!(sink.elements, 5);
    assert!(sink.polls >= 1);
    assert_eq!(sink.buffer, None);
    let shown = sink.to_string();
    assert!(
        shown.contains("`total`: waiting for an element, 5 elements"),
        "{shown}"
    );
    queue.complete().unwrap();
    assert_eq!(done.await.unwrap(), 15);
    settle().await;
    assert!(diag.is_finished());
}

#[tokio::test(start_paused = true)]
async fn islands_a_running_stage_materializes_join_its_stream() {
    let (probe, diag) = Source::single(())
        .flat_map_concat(|()| Source::from_iter(0u32..1000).async_boundary())
        .to_mat(TestSink::probe(), Keep::right)
        .run_diagnosed();
    probe.request(1);
    probe.expect_next(0).await;
    settle().await;
    let islands = diag.snapshot();
    assert_eq!(by_label(&islands, "sink probe").state, IslandState::Waiting);
    // The inner source's boundary was spawned by the outer island while it ran.
    let inner = by_label(&islands, "async boundary");
    assert_eq!(inner.stream, diag.stream());
    assert_eq!(inner.state, IslandState::WaitingForDemand);
    // Another run is another stream.
    let (other, diag2) = Source::single(1u32)
        .to_mat(TestSink::probe(), Keep::right)
        .run_diagnosed();
    assert_ne!(diag2.stream(), diag.stream());
    probe.cancel();
    other.cancel();
    settle().await;
    assert!(diag.is_finished(), "{:#?}", diag.snapshot());
    assert!(diag2.is_finished());
}

#[tokio::test(start_paused = true)]
async fn junction_islands_are_labelled_by_name() {
    use weir::builder::GraphBuilder;
    use weir::junctions::Broadcast;
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::from_iter(0u32..100));
    let bc = b.add(Broadcast::<u32>::new(2));
    let (left, k1) = b.add_sink_mat(TestSink::probe());
    let (right, k2) = b.add_sink_mat(TestSink::probe());
    b.connect(src, bc.inlet);
    b.connect(bc.outs[0], left);
    b.connect(bc.outs[1], right);
    let graph = b
        .build(move |m| (m.take(k1), m.take(k2)))
        .expect("a fully connected graph");
    let ((p1, p2), diag) = graph.run_diagnosed();
    settle().await;
    let islands = diag.snapshot();
    let junction = islands
        .iter()
        .find(|i| i.label.to_lowercase().contains("broadcast"))
        .unwrap_or_else(|| panic!("no broadcast island in {islands:#?}"));
    assert_eq!(junction.stream, diag.stream());
    p1.cancel();
    p2.cancel();
    settle().await;
    assert!(diag.is_finished(), "{:#?}", diag.snapshot());
}

/// A `tracing` layer that keeps the messages of weir's diagnostics events.
#[derive(Clone, Default)]
struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "weir::diagnostics"
            && *event.metadata().level() == tracing::Level::WARN
        {
            let mut m = Message(String::new());
            event.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn watch_stalls_warns_once_per_stall_and_again_after_progress() {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = Warnings::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(warnings.clone()));
    let ((queue, done), diag) = Source::queue(8)
        .to_mat(
            Sink::ignore().with_attributes(weir::Attributes::name("stuck")),
            Keep::both,
        )
        .run_diagnosed();
    let watch = weir::diagnostics::watch_stalls(Duration::from_secs(10));
    let island = diag.snapshot()[0].island;
    let mine = |w: &Vec<String>| {
        w.iter()
            .filter(|m| m.contains(&format!("island {island} `stuck`")))
            .count()
    };
    settle().await;
    tokio::time::advance(Duration::from_secs(9)).await;
    settle().await;
    assert_eq!(mine(&warnings.0.lock().unwrap()), 0);
    tokio::time::advance(Duration::from_secs(11)).await;
    settle().await;
    tokio::time::advance(Duration::from_secs(30)).await;
    settle().await;
    // Stalled for 50 s: one warning, naming the island, its state and its count.
    {
        let w = warnings.0.lock().unwrap();
        assert_eq!(mine(&w), 1, "{w:#?}");
        let m = w.iter().find(|m| m.contains("`stuck`")).unwrap();
        assert!(m.contains("waiting for an element, 0 elements"), "{m}");
    }
    // Progress, then another stall: warned again.
    assert!(matches!(queue.offer(1), weir::QueueOfferResult::Enqueued));
    settle().await;
    tokio::time::advance(Duration::from_secs(25)).await;
    settle().await;
    assert_eq!(mine(&warnings.0.lock().unwrap()), 2);
    drop(watch);
    queue.complete().unwrap();
    done.await.unwrap();
}

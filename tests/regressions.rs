//! Regression tests for defects found in review.

use std::time::Duration;

use weir::builder::GraphBuilder;
use weir::junctions::{MergePrioritized, Partition};
use weir::prelude::*;
use weir::{Attributes, Decider};

#[tokio::test]
async fn merge_prioritized_polls_an_input_whose_share_rounds_to_zero() {
    // Demand of one element at a time with priorities 10:1 gives the busy input no share; it
    // must still be polled while the favoured input is idle.
    let mut b = GraphBuilder::new();
    let m = b.add(MergePrioritized::<i32>::new(vec![10, 1]));
    let idle = b.add_source(Source::<i32>::never());
    let busy = b.add_source(Source::range(1, 3));
    b.connect(idle, m.ins[0]);
    b.connect(busy, m.ins[1]);
    let out = b.via(m.out, Flow::<i32>::new().take(3));
    let (sink, k) = b.add_sink_mat(Sink::seq().with_attributes(Attributes::input_buffer(1)));
    b.connect(out, sink);
    let got = b.build(move |mats| mats.take(k)).unwrap().run();
    let got = tokio::time::timeout(Duration::from_secs(5), got)
        .await
        .expect("merge hung")
        .unwrap();
    assert_eq!(got, vec![1, 2, 3]);
}

#[tokio::test]
async fn flat_map_asks_upstream_again_when_supervision_skipped_every_element() {
    let got = Source::from_iter(vec![1, 2, 3])
        .flat_map_concat(|x| {
            assert!(x != 2, "no source for 2");
            Source::single(x)
        })
        .with_attributes(Attributes::supervision(Decider::resuming()))
        .with_attributes(Attributes::input_buffer(1))
        .run_with(Sink::seq().with_attributes(Attributes::input_buffer(1)));
    let got = tokio::time::timeout(Duration::from_secs(5), got)
        .await
        .expect("flat_map hung")
        .unwrap();
    assert_eq!(got, vec![1, 3]);
}

#[tokio::test]
async fn expand_moves_on_after_an_empty_expansion() {
    let got = Source::from_iter(vec![vec![], vec![1]])
        .expand(|v: Vec<i32>| v.into_iter())
        .run_with(Sink::seq());
    let got = tokio::time::timeout(Duration::from_secs(5), got)
        .await
        .expect("expand hung")
        .unwrap();
    assert_eq!(got, vec![1]);
}

#[tokio::test]
async fn a_panicking_partition_function_fails_the_stream_with_the_panic() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let p = b.add(Partition::<i32, _>::new(2, |x: &i32| {
        assert!(*x < 2, "cannot route {x}");
        0
    }));
    b.connect(src, p.inlet);
    let (s0, k) = b.add_sink_mat(Sink::seq());
    b.connect(p.outs[0], s0);
    b.to(p.outs[1], Sink::ignore());
    let err = b
        .build(move |m| m.take(k))
        .unwrap()
        .run()
        .await
        .unwrap_err();
    match err {
        StreamError::Panicked { message, .. } => assert!(message.contains("cannot route 2")),
        other => panic!("expected the panic, got {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn throttle_accepts_extreme_durations_without_panicking() {
    let got = Source::range(1, 3)
        .throttle(1, Duration::MAX, u32::MAX)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(got, vec![1, 2, 3]);
}

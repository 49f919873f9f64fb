//! Demand-sensitive rules of junctions under back pressure: `Partition` waits only on the
//! output an element is for (Akka's rule), and the `eager_complete` merges.

use std::time::Duration;

use weir::builder::{GraphBuilder, Out};
use weir::junctions::{MergePreferred, MergePrioritized, Partition};
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::Attributes;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A source probe → `Partition` by `x % 2` → two sink probes, each output buffering one element.
fn partition_by_parity() -> (SourceProbe<u32>, SinkProbe<u32>, SinkProbe<u32>) {
    let mut b = GraphBuilder::new();
    let (src, ks) = b.add_source_mat(TestSource::<u32>::probe());
    let p = b.add(Partition::new(2, |x: &u32| (*x % 2) as usize));
    b.connect(src, p.inlet);
    let (even, ke) = b.add_sink_mat(TestSink::probe());
    let (odd, ko) = b.add_sink_mat(TestSink::probe());
    b.connect(p.outs[0], even);
    b.connect(p.outs[1], odd);
    b.build(move |m| (m.take(ks), m.take(ke), m.take(ko)))
        .unwrap()
        .with_attributes(Attributes::input_buffer(1))
        .run()
}

#[tokio::test(start_paused = true)]
async fn partition_keeps_serving_other_outputs_while_one_is_full() {
    let (src, even, odd) = partition_by_parity();
    odd.request(10);
    // 2 fills the `even` buffer (nobody asks there); odd elements still flow.
    src.send_next(2).await;
    for x in [1, 3, 5] {
        src.send_next(x).await;
        odd.expect_next(x).await;
    }
    even.request(1);
    even.expect_next(2).await;
    src.send_complete();
    odd.expect_complete().await;
    even.request(1);
    even.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn partition_holds_back_an_element_for_a_full_output_and_delivers_it_before_completing() {
    let (src, even, odd) = partition_by_parity();
    odd.request(10);
    src.send_next(2).await; // into `even`'s buffer
    src.send_next(4).await; // held back: `even` is full
    odd.expect_no_message(ms(100)).await;
    assert_eq!(
        src.pending_demand(),
        0,
        "the input waits behind the held element"
    );
    src.send_complete();
    odd.expect_no_message(ms(100)).await;
    even.request(2);
    even.expect_next_n(vec![2, 4]).await;
    odd.expect_complete().await;
    even.request(1);
    even.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn partition_failure_overtakes_a_held_element() {
    let (src, even, odd) = partition_by_parity();
    src.send_next(2).await;
    src.send_next(4).await;
    src.send_error(StreamError::Failed(std::sync::Arc::new(std::fmt::Error)));
    odd.request(1);
    assert!(matches!(odd.expect_error().await, StreamError::Failed(_)));
    even.request(5);
    even.expect_next(2).await;
    assert!(matches!(even.expect_error().await, StreamError::Failed(_)));
}

#[tokio::test(start_paused = true)]
async fn partition_drops_a_held_element_when_its_output_cancels() {
    let (src, even, odd) = partition_by_parity();
    odd.request(10);
    src.send_next(2).await;
    src.send_next(4).await; // held back for `even`
    even.cancel();
    src.send_next(1).await;
    odd.expect_next(1).await;
    src.send_complete();
    odd.expect_complete().await;
}

/// A source that never completes and one that completes at once, into the merge `junction`
/// builds.
async fn merged_with_an_empty_input<J>(junction: J) -> SinkProbe<u32>
where
    J: FnOnce(&mut GraphBuilder, Out<u32>, Out<u32>) -> Out<u32>,
{
    let mut b = GraphBuilder::new();
    let live = b.add_source(Source::<u32>::never());
    let empty = b.add_source(Source::<u32>::empty());
    let out = junction(&mut b, live, empty);
    let (sink, key) = b.add_sink_mat(TestSink::probe());
    b.connect(out, sink);
    b.build(move |m| m.take(key)).unwrap().run()
}

#[tokio::test(start_paused = true)]
async fn merge_preferred_eager_complete_completes_when_any_input_does() {
    let sink = merged_with_an_empty_input(|b, live, empty| {
        let m = b.add(MergePreferred::eager_complete(1));
        b.connect(live, m.ins[0]);
        b.connect(empty, m.preferred);
        m.out
    })
    .await;
    sink.request(5);
    sink.expect_complete().await;

    let sink = merged_with_an_empty_input(|b, live, empty| {
        let m = b.add(MergePreferred::new(1));
        b.connect(live, m.ins[0]);
        b.connect(empty, m.preferred);
        m.out
    })
    .await;
    sink.request(5);
    sink.expect_no_message(ms(200)).await;
}

#[tokio::test(start_paused = true)]
async fn merge_prioritized_eager_complete_completes_when_any_input_does() {
    let sink = merged_with_an_empty_input(|b, live, empty| {
        let m = b.add(MergePrioritized::eager_complete(vec![1, 3]));
        b.connect(live, m.ins[0]);
        b.connect(empty, m.ins[1]);
        m.out
    })
    .await;
    sink.request(5);
    sink.expect_complete().await;

    let sink = merged_with_an_empty_input(|b, live, empty| {
        let m = b.add(MergePrioritized::new(vec![1, 3]));
        b.connect(live, m.ins[0]);
        b.connect(empty, m.ins[1]);
        m.out
    })
    .await;
    sink.request(5);
    sink.expect_no_message(ms(200)).await;
}

/// Runs the output of a fan-in junction with no inputs.
async fn without_inputs<J>(junction: J) -> Result<Vec<u32>, StreamError>
where
    J: weir::junctions::Junction<Shape = weir::junctions::UniformFanInShape<u32, u32>>,
{
    let mut b = GraphBuilder::new();
    let shape = b.add(junction);
    assert!(shape.ins.is_empty());
    let source = b.build_source(shape.out, |_| ()).unwrap();
    source.run_with(Sink::seq()).await
}

#[tokio::test(start_paused = true)]
async fn fan_in_junctions_without_inputs_complete_at_once() {
    use weir::junctions::{Concat, Interleave, Merge, MergeLatest, ZipN};
    assert!(without_inputs(Merge::new(0)).await.unwrap().is_empty());
    assert!(without_inputs(Concat::new(0)).await.unwrap().is_empty());
    assert!(without_inputs(Interleave::new(0, 1, false))
        .await
        .unwrap()
        .is_empty());
    assert!(without_inputs(MergePrioritized::new(vec![]))
        .await
        .unwrap()
        .is_empty());
    let mut b = GraphBuilder::new();
    let zip = b.add(ZipN::<u32>::new(0));
    let zipped = b.build_source(zip.out, |_| ()).unwrap();
    assert!(zipped.run_with(Sink::seq()).await.unwrap().is_empty());
    let mut b = GraphBuilder::new();
    let latest = b.add(MergeLatest::<u32>::new(0, false));
    let merged = b.build_source(latest.out, |_| ()).unwrap();
    assert!(merged.run_with(Sink::seq()).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn fan_out_junctions_without_outputs_cancel_their_input() {
    use weir::junctions::{Balance, Broadcast};
    for which in 0..3 {
        let mut b = GraphBuilder::new();
        let inlet = match which {
            0 => b.add(Broadcast::<u32>::new(0)).inlet,
            1 => b.add(Balance::<u32>::new(0)).inlet,
            _ => b.add(Partition::new(0, |x: &u32| *x as usize)).inlet,
        };
        let sink = b.build_sink(inlet, |_| ()).unwrap();
        let src = TestSource::<u32>::probe().to(sink).run();
        src.expect_cancellation().await;
    }
}

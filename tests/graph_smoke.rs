use weir::builder::{GraphBuilder, GraphError};
use weir::junctions::{Balance, Broadcast, Concat, Merge, Partition, Unzip, Zip};
use weir::prelude::*;
use weir::OverflowStrategy;

#[tokio::test]
async fn worker_pool() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 100));
    let bal = b.add(Balance::<i32>::new(3));
    let merge = b.add(Merge::<i32>::new(3));
    b.connect(src, bal.inlet);
    for i in 0..3 {
        let w = b.via(bal.outs[i], Flow::<i32>::new().map(|x| x * 2));
        b.connect(w, merge.ins[i]);
    }
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(merge.out, sink);
    let g = b.build(move |m| m.take(k)).unwrap();
    let mut out = g.run().await.unwrap();
    out.sort();
    assert_eq!(out, (1..=100).map(|x| x * 2).collect::<Vec<_>>());
    // reusable
    assert_eq!(g.run().await.unwrap().len(), 100);
}

#[tokio::test]
async fn unconnected_and_double() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let _sink = b.add_sink(Sink::<i32, _>::ignore());
    let _ = src;
    assert!(matches!(
        b.build(|_| ()),
        Err(GraphError::Unconnected { .. })
    ));
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let s1 = b.add_sink(Sink::ignore());
    let s2 = b.add_sink(Sink::ignore());
    b.connect(src, s1);
    b.connect(src, s2);
    assert!(matches!(
        b.build(|_| ()),
        Err(GraphError::ConnectedTwice { .. })
    ));
}

#[tokio::test]
async fn fused_cycle_rejected_and_buffered_cycle_runs() {
    let mut b = GraphBuilder::new();
    let m = b.add(Merge::<i32>::new(2));
    let (fi, fo) = b.add_flow(Flow::<i32>::new().map(|x| x));
    let src = b.add_source(Source::single(1));
    b.connect(src, m.ins[0]);
    b.connect(m.out, fi);
    b.connect(fo, m.ins[1]);
    assert!(matches!(
        b.build(|_| ()),
        Err(GraphError::CycleWithoutBoundary { .. })
    ));

    // merge -> broadcast -> (take 10 to sink) and (feedback via dropping buffer) -> merge
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::single(1));
    let m = b.add(Merge::<i32>::new(2));
    let bc = b.add(Broadcast::<i32>::new(2));
    b.connect(src, m.ins[0]);
    b.connect(m.out, bc.inlet);
    let fb = b.via(
        bc.outs[1],
        Flow::<i32>::new()
            .map(|x| x + 1)
            .buffer(8, OverflowStrategy::DropHead),
    );
    b.connect(fb, m.ins[1]);
    let out = b.via(bc.outs[0], Flow::<i32>::new().take(10));
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(out, sink);
    let g = b.build(move |mats| mats.take(k)).unwrap();
    let got = g.run().await.unwrap();
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn partition_unzip_zip_concat() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 6).map(|x| (x, x * 10)));
    let uz = b.add(Unzip::<i32, i32>::pairs());
    b.connect(src, uz.inlet);
    let p = b.add(Partition::<i32, _>::new(2, |x: &i32| (*x % 2) as usize));
    b.connect(uz.out0, p.inlet);
    let c = b.add(Concat::<i32>::new(2));
    b.connect(p.outs[0], c.ins[0]);
    b.connect(p.outs[1], c.ins[1]);
    let z = b.add(Zip::<i32, i32>::new());
    b.connect(c.out, z.in0);
    b.connect(uz.out1, z.in1);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(z.out, sink);
    let g = b.build(move |m| m.take(k)).unwrap();
    let got = g.run().await.unwrap();
    assert_eq!(
        got,
        vec![(2, 10), (4, 20), (6, 30), (1, 40), (3, 50), (5, 60)]
    );
}

#[tokio::test]
async fn partition_out_of_bounds_fails() {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 3));
    let p = b.add(Partition::<i32, _>::new(2, |x: &i32| *x as usize));
    b.connect(src, p.inlet);
    let (s0, k) = b.add_sink_mat(Sink::seq());
    b.connect(p.outs[0], s0);
    b.to(p.outs[1], Sink::ignore());
    let g = b.build(move |m| m.take(k)).unwrap();
    let err = g.run().await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::PartitionOutOfBounds {
                index: 2,
                outputs: 2
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn zip_with4_and_5_combine_all_inputs_and_stop_with_the_shortest() {
    use weir::junctions::{ZipWith4, ZipWith5};
    let mut b = GraphBuilder::new();
    let z = b.add(ZipWith4::new(|a: i32, b: i32, c: i32, d: i32| {
        a + b + c + d
    }));
    for (port, n) in [(z.in0, 3), (z.in1, 4), (z.in2, 5), (z.in3, 6)] {
        let s = b.add_source(Source::range(1, n));
        b.connect(s, port);
    }
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(z.out, sink);
    let got = b.build(move |m| m.take(k)).unwrap().run().await.unwrap();
    assert_eq!(got, vec![4, 8, 12]);

    let mut b = GraphBuilder::new();
    let z = b.add(ZipWith5::new(|a: i32, b: char, c: i32, d: i32, e: i32| {
        format!("{b}{}", a * c * d * e)
    }));
    let s0 = b.add_source(Source::range(1, 2));
    let s1 = b.add_source(Source::from_iter(vec!['x', 'y', 'z']));
    let s2 = b.add_source(Source::repeat(2));
    let s3 = b.add_source(Source::repeat(3));
    let s4 = b.add_source(Source::repeat(5));
    b.connect(s0, z.in0);
    b.connect(s1, z.in1);
    b.connect(s2, z.in2);
    b.connect(s3, z.in3);
    b.connect(s4, z.in4);
    let (sink, k) = b.add_sink_mat(Sink::seq());
    b.connect(z.out, sink);
    let got = b.build(move |m| m.take(k)).unwrap().run().await.unwrap();
    assert_eq!(got, vec!["x30".to_string(), "y60".to_string()]);
}

#[tokio::test]
async fn a_partial_graph_is_reusable_and_validated() {
    use weir::builder::PartialGraph;
    use weir::junctions::{FanOut2Shape, UniformFanOutShape};
    // A fan-out partial graph: one input, evens and odds out.
    let mut b = GraphBuilder::new();
    let p = b.add(Partition::<i32, _>::new(2, |x: &i32| (*x % 2) as usize));
    let split: PartialGraph<UniformFanOutShape<i32, i32>> = b
        .build_partial(UniformFanOutShape {
            inlet: p.inlet,
            outs: p.outs.clone(),
        })
        .unwrap();
    for _ in 0..2 {
        let mut b = GraphBuilder::new();
        let shape = b.import(&split);
        let src = b.add_source(Source::range(1, 6));
        b.connect(src, shape.inlet);
        let (evens, ke) = b.add_sink_mat(Sink::seq());
        let (odds, ko) = b.add_sink_mat(Sink::seq());
        b.connect(shape.outs[0], evens);
        b.connect(shape.outs[1], odds);
        let g = b.build(move |m| (m.take(ke), m.take(ko))).unwrap();
        let (e, o) = g.run();
        assert_eq!(e.await.unwrap(), vec![2, 4, 6]);
        assert_eq!(o.await.unwrap(), vec![1, 3, 5]);
    }
    // A port left open that the shape does not name is an error when the partial is built.
    let mut b = GraphBuilder::new();
    let u = b.add(Unzip::<i32, i32>::pairs());
    let err = b.build_partial((u.inlet, u.out0)).unwrap_err();
    assert!(matches!(err, GraphError::Unconnected { .. }));
    let _ = FanOut2Shape {
        inlet: u.inlet,
        out0: u.out0,
        out1: u.out1,
    };
}

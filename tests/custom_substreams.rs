//! Sub-stream ports of custom stages (`StageContext::sub_sink_inlet` / `sub_source_outlet`,
//! Akka's `SubSinkInlet` / `SubSourceOutlet`): back pressure, termination both ways, one-shot
//! blueprints, and the default handlers.

mod support;

use std::sync::{Arc, Mutex};

use support::{is_boom, settle, Boom};
use weir::custom::{
    AsyncCallback, FlowShape, GraphStage, Inlet, Outlet, PortId, StageContext, StageLogic,
};
use weir::prelude::*;
use weir::testkit::{SourceProbe, TestSink, TestSource};
use weir::Attributes;

type Log = Arc<Mutex<Vec<String>>>;

/// Each element `n` opens a sub-stream read through a sub-stream inlet from `inner(n)`; its
/// elements go out one by one, then the next element is read (a hand-written
/// `flat_map_concat`). Events on the sub-stream inlet are logged; `default_sub_finish` leaves
/// its end to the default handler.
#[derive(Clone)]
struct Concat {
    inner: Arc<dyn Fn(u32) -> Source<u32> + Send + Sync>,
    log: Log,
}

struct ConcatLogic {
    shape: FlowShape<u32, u32>,
    inner: Arc<dyn Fn(u32) -> Source<u32> + Send + Sync>,
    sub: Option<Inlet<u32>>,
    log: Log,
}

impl GraphStage for Concat {
    type Shape = FlowShape<u32, u32>;
    type Logic = ConcatLogic;
    type Mat = ();
    fn name(&self) -> &'static str {
        "concat"
    }
    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }
    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (ConcatLogic, ()) {
        let logic = ConcatLogic {
            shape: self.shape(),
            inner: self.inner.clone(),
            sub: None,
            log: self.log.clone(),
        };
        (logic, ())
    }
}

impl StageLogic for ConcatLogic {
    type Message = ();
    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        match self.sub {
            Some(sub) => ctx.pull(&sub),
            None => ctx.pull(&self.shape.inlet),
        }
    }
    fn on_push(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
        if port == self.shape.inlet {
            let n = ctx.grab(&self.shape.inlet).unwrap();
            let (sub, sink) = ctx.sub_sink_inlet::<u32>("inner");
            assert!(ctx.is_sub_inlet(sub.id()));
            assert!(!ctx.is_sub_inlet(self.shape.inlet.id()));
            (self.inner)(n).to(sink).run();
            ctx.pull(&sub);
            self.sub = Some(sub);
        } else if let Some(sub) = self.sub {
            let x = ctx.grab(&sub).unwrap();
            ctx.push(&self.shape.out, x);
        }
    }
    fn on_upstream_finish(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
        match self.sub {
            Some(sub) if port == sub => {
                self.log.lock().unwrap().push("sub finished".into());
                self.sub = None;
                if ctx.is_closed(&self.shape.inlet) {
                    ctx.complete_stage();
                } else if ctx.is_available_out(&self.shape.out) {
                    ctx.pull(&self.shape.inlet);
                }
            }
            Some(_) => {}
            None => ctx.complete_stage(),
        }
    }
}

fn concat(inner: impl Fn(u32) -> Source<u32> + Send + Sync + 'static) -> (Flow<u32, u32>, Log) {
    let log = Log::default();
    let stage = Concat {
        inner: Arc::new(inner),
        log: log.clone(),
    };
    (Flow::from_graph(stage), log)
}

#[tokio::test(start_paused = true)]
async fn a_sub_sink_inlet_reads_each_sub_stream_in_order() {
    let (flow, log) = concat(|n| Source::from_iter(0..n));
    let out = Source::from_iter(vec![3, 0, 2, 1])
        .via(flow)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 0, 1, 0]);
    assert_eq!(log.lock().unwrap().len(), 4);
}

/// A stage whose sub-stream source is a probe the test drives.
/// The probes of the sub-streams a stage opened, in order.
type Probes = Arc<Mutex<Vec<SourceProbe<u32>>>>;

fn probed() -> (Flow<u32, u32>, Probes) {
    let probes = Arc::new(Mutex::new(Vec::new()));
    let seen = probes.clone();
    let (flow, _) = concat(move |_| {
        let seen = seen.clone();
        TestSource::<u32>::probe().map_materialized_value(move |p| {
            seen.lock().unwrap().push(p);
        })
    });
    (flow, probes)
}

#[tokio::test(start_paused = true)]
async fn a_sub_sink_inlet_is_back_pressured_by_the_stage() {
    let (flow, probes) = probed();
    let (src, sink) = TestSource::<u32>::probe()
        .via(flow)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(7).await;
    settle().await;
    let inner = probes.lock().unwrap().remove(0);
    // The sub-stream's upstream is asked for no more than the bounded buffers hold.
    let asked = inner.expect_request().await;
    assert!((1..=32).contains(&asked), "{asked}");
    for x in 0..asked as u32 {
        inner.send_next(x).await;
    }
    sink.expect_next(0).await;
    settle().await;
    // The stage's inlet prefetched what the sub-stream's buffer held, which asked for as
    // many again; once those are in, nothing more is asked while downstream asks for nothing.
    let again = inner.pending_demand();
    assert!(again <= asked, "{again}");
    for x in 0..again as u32 {
        inner.send_next(asked as u32 + x).await;
    }
    settle().await;
    assert_eq!(inner.pending_demand(), 0);
    sink.request(2);
    sink.expect_next_n([1, 2]).await;
    sink.cancel();
    // Cancelling the stage cancels the sub-stream too.
    inner.expect_cancellation().await;
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_sub_stream_fails_the_stage_by_default() {
    let (flow, _) =
        concat(|n| Source::from_iter(0..n).concat(Source::failed(StreamError::failed(Boom))));
    let e = Source::from_iter(vec![2, 5])
        .via(flow)
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&e), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn a_sub_sink_materialized_twice_cancels_the_second_upstream() {
    /// Runs the sub-stream sink twice; the second run's upstream is a probe.
    struct Twice(Arc<Mutex<Option<SourceProbe<u32>>>>);
    struct TwiceLogic(
        FlowShape<u32, u32>,
        Arc<Mutex<Option<SourceProbe<u32>>>>,
        Option<Inlet<u32>>,
    );
    impl GraphStage for Twice {
        type Shape = FlowShape<u32, u32>;
        type Logic = TwiceLogic;
        type Mat = ();
        fn name(&self) -> &'static str {
            "twice"
        }
        fn shape(&self) -> Self::Shape {
            FlowShape::new("in", "out")
        }
        fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (TwiceLogic, ()) {
            (TwiceLogic(self.shape(), self.0.clone(), None), ())
        }
    }
    impl StageLogic for TwiceLogic {
        type Message = ();
        fn pre_start(&mut self, ctx: &mut StageContext<'_, ()>) {
            let (sub, sink) = ctx.sub_sink_inlet::<u32>("twice");
            Source::single(1).to(sink.clone()).run();
            let probe = TestSource::<u32>::probe().to(sink).run();
            *self.1.lock().unwrap() = Some(probe);
            self.2 = Some(sub);
        }
        fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
            if let Some(sub) = self.2 {
                ctx.pull(&sub);
            }
        }
        fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
            if let Some(sub) = self.2 {
                let x = ctx.grab(&sub).unwrap();
                ctx.push(&self.0.out, x);
            }
        }
        fn on_upstream_finish(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
            if Some(port) == self.2.map(|s| s.id()) {
                ctx.complete_stage();
            }
        }
    }
    let second = Arc::new(Mutex::new(None));
    let out = Source::<u32, _>::never()
        .via(Flow::from_graph(Twice(second.clone())))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1]);
    let probe = second.lock().unwrap().take().unwrap();
    probe.expect_cancellation().await;
}

/// Emits each element `x` as a sub-stream source of `x` copies through a sub-stream outlet,
/// logging the sub outlets' cancellations (left to the default handler after logging).
struct Copies(Log);
struct CopiesLogic(FlowShape<u32, Source<u32>>, Log);

impl GraphStage for Copies {
    type Shape = FlowShape<u32, Source<u32>>;
    type Logic = CopiesLogic;
    type Mat = ();
    fn name(&self) -> &'static str {
        "copies"
    }
    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }
    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (CopiesLogic, ()) {
        (CopiesLogic(self.shape(), self.0.clone()), ())
    }
}

impl StageLogic for CopiesLogic {
    type Message = ();
    fn on_pull(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
        if port == self.0.out {
            ctx.pull(&self.0.inlet);
        }
    }
    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let x = ctx.grab(&self.0.inlet).unwrap();
        let (sub, source): (Outlet<u32>, _) = ctx.sub_source_outlet("copies");
        assert!(ctx.is_sub_outlet(sub.id()));
        ctx.emit_multiple(&sub, std::iter::repeat_n(x, x as usize));
        ctx.complete(&sub);
        ctx.push(&self.0.out, source);
    }
    fn on_downstream_finish(&mut self, port: PortId, ctx: &mut StageContext<'_, ()>) {
        if ctx.is_sub_outlet(port) {
            self.1
                .lock()
                .unwrap()
                .push(format!("sub {} cancelled", port_number(port)));
        }
        // The default: completes the stage for the shape's outlet, nothing for a sub outlet.
        if !ctx.is_sub_outlet(port) {
            ctx.complete_stage();
        }
    }
}

fn port_number(p: PortId) -> String {
    format!("{p:?}")
}

#[tokio::test(start_paused = true)]
async fn a_sub_source_outlet_feeds_the_sources_the_stage_emits() {
    let log = Log::default();
    let out = Source::from_iter(vec![2, 0, 3])
        .via(Flow::from_graph(Copies(log.clone())))
        .flat_map_concat(|s| s)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 2, 3, 3, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_sub_source_runs_once_and_its_cancellation_leaves_the_stage_running() {
    let log = Log::default();
    let (src, mut out) = TestSource::<u32>::probe()
        .via(Flow::from_graph(Copies(log.clone())))
        .to_mat(
            Sink::queue().with_attributes(Attributes::input_buffer(1)),
            Keep::both,
        )
        .run();
    let pulled = tokio::spawn(async move {
        let first = out.pull().await.unwrap().unwrap();
        (first, out)
    });
    // 40 copies: more than the outlet's buffer, so it is still open (emitting) when cancelled.
    src.send_next(40).await;
    let (first, mut out) = pulled.await.unwrap();
    // Read one element, then cancel: the stage hears of it and goes on.
    let mut q = first.clone().run_with(Sink::queue());
    assert_eq!(q.pull().await.unwrap(), Some(40));
    q.cancel();
    // The blueprint is one-shot.
    let again = first.run_with(Sink::seq()).await.unwrap_err();
    assert!(matches!(
        again,
        StreamError::AlreadyMaterialized {
            stage: "sub_source_outlet"
        }
    ));
    settle().await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let pulled = tokio::spawn(async move { (out.pull().await.unwrap().unwrap(), out) });
    src.send_next(30).await;
    let (second, mut out) = pulled.await.unwrap();
    // Dropping a source unmaterialized cancels its outlet as well.
    drop(second);
    settle().await;
    assert_eq!(log.lock().unwrap().len(), 2);
    src.send_complete();
    assert!(out.pull().await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_failing_stage_fails_its_sub_sources() {
    let log = Log::default();
    let (src, mut out) = TestSource::<u32>::probe()
        .via(Flow::from_graph(Copies(log)))
        .to_mat(
            Sink::queue().with_attributes(Attributes::input_buffer(1)),
            Keep::both,
        )
        .run();
    let pulled = tokio::spawn(async move { (out.pull().await.unwrap().unwrap(), out) });
    // 40 copies: more than the sub outlet's buffer holds, so some are still queued.
    src.send_next(40).await;
    let (sub, mut out) = pulled.await.unwrap();
    src.send_error(StreamError::failed(Boom));
    let e = out.pull().await.unwrap_err();
    assert!(is_boom(&e), "{e:?}");
    // The sub-stream gets what was buffered, then the stage's failure.
    let e = sub.run_with(Sink::seq()).await.unwrap_err();
    assert!(is_boom(&e), "{e:?}");
}

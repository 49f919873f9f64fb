use weir::custom::{AsyncCallback, FlowShape, GraphStage, PortId, StageContext, StageLogic};
use weir::prelude::*;
use weir::scoring::{Model, Outcome, ScoringStage};
use weir::testkit::{TestSink, TestSource};
use weir::Attributes;

struct Double;
struct DoubleLogic(FlowShape<i32, i32>);

impl GraphStage for Double {
    type Shape = FlowShape<i32, i32>;
    type Logic = DoubleLogic;
    type Mat = ();
    fn name(&self) -> &'static str {
        "double"
    }
    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }
    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (DoubleLogic, ()) {
        (DoubleLogic(self.shape()), ())
    }
}

impl StageLogic for DoubleLogic {
    type Message = ();
    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        ctx.pull(&self.0.inlet);
    }
    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(x) = ctx.grab(&self.0.inlet) {
            ctx.push(&self.0.out, x * 2);
        }
    }
}

#[tokio::test]
async fn custom_flow_stage() {
    let out = Source::range(1, 5)
        .via(Flow::from_graph(Double))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![2, 4, 6, 8, 10]);
}

#[derive(Clone, Debug, PartialEq)]
struct Add(i32, &'static str);
impl Model<i32> for Add {
    type Output = i32;
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        self.1
    }
    fn score(&self, x: &i32) -> Result<i32, Self::Error> {
        Ok(x + self.0)
    }
}

#[tokio::test(start_paused = true)]
async fn scoring_swaps_models_between_records() {
    let ((data, models, handle), sink) = Source::from_fan_in2_mat(
        ScoringStage::new(),
        TestSource::<i32>::probe(),
        TestSource::<Add>::probe(),
    )
    .to_mat(TestSink::probe(), Keep::both)
    .run();
    sink.request(10);
    data.send_next(1).await;
    let first = sink.expect_next_element().await;
    assert_eq!(first.outcome, Outcome::NoModel);
    models.send_next(Add(100, "plus100")).await;
    tokio::task::yield_now().await;
    // The model arrives on its own inlet; give the stage a moment to take it.
    while handle.state().is_none() {
        tokio::task::yield_now().await;
    }
    data.send_next(2).await;
    let second = sink.expect_next_element().await;
    match second.outcome {
        Outcome::Scored { output, model, .. } => {
            assert_eq!(output, 102);
            assert_eq!(&*model, "plus100");
        }
        other => panic!("unexpected {other:?}"),
    }
    handle.install(Add(1000, "plus1000")).unwrap();
    while handle.state().map(|s| s.name) != Some("plus1000".into()) {
        tokio::task::yield_now().await;
    }
    data.send_next(3).await;
    let third = sink.expect_next_element().await;
    assert!(matches!(
        third.outcome,
        Outcome::Scored { output: 1003, .. }
    ));
    assert_eq!(handle.state().unwrap().records_scored, 1);
    data.send_complete();
    sink.expect_complete().await;
}

mod closed {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use weir::custom::{
        AsyncCallback, ClosedShape, GraphStage, StageContext, StageLogic, TimerKey,
    };
    use weir::{Attributes, RunnableGraph};

    /// Ticks three times, then completes; the materialized counter shows the ticks.
    struct Ticker;
    struct TickerLogic(Arc<AtomicU32>);

    impl GraphStage for Ticker {
        type Shape = ClosedShape;
        type Logic = TickerLogic;
        type Mat = Arc<AtomicU32>;
        fn name(&self) -> &'static str {
            "ticker"
        }
        fn shape(&self) -> ClosedShape {
            ClosedShape
        }
        fn create_logic(
            &self,
            _: &Attributes,
            _: AsyncCallback<()>,
        ) -> (TickerLogic, Arc<AtomicU32>) {
            let n = Arc::new(AtomicU32::new(0));
            (TickerLogic(n.clone()), n)
        }
    }

    impl StageLogic for TickerLogic {
        type Message = ();
        fn pre_start(&mut self, ctx: &mut StageContext<'_, ()>) {
            ctx.set_keep_going(true);
            ctx.schedule_at_fixed_rate(1, Duration::from_secs(1), Duration::from_secs(1));
        }
        fn on_timer(&mut self, _key: TimerKey, ctx: &mut StageContext<'_, ()>) {
            if self.0.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                ctx.complete_stage();
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_stage_runs_on_timers_until_it_completes() {
        let ticks = RunnableGraph::from_graph(Ticker).run();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
    }
}

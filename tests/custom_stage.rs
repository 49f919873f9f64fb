//! The custom-stage API (`weir::custom`, Akka's `GraphStage`/`GraphStageLogic`): handlers
//! through every shape constructor, the default termination rules, the lifecycle hooks, `emit`,
//! `set_keep_going`, timers, async callbacks and the detection of API misuse.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use tokio::time::{sleep, Instant};
use weir::custom::{
    AsyncCallback, CallbackError, FanInShape2, FlowShape, GraphStage, Inlet, Outlet, PortId,
    SinkShape, SourceShape, StageContext, StageLogic, TimerKey, CALLBACK_CAPACITY,
};
use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe, TestSink, TestSource};
use weir::Attributes;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A cause for deliberate failures.
#[derive(Debug, Clone, PartialEq)]
struct Boom(&'static str);

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

impl std::error::Error for Boom {}

/// Counts the lifecycle hooks of one materialized logic and logs its handler calls.
#[derive(Clone, Default)]
struct Hooks {
    pre_start: Arc<AtomicUsize>,
    post_stop: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Hooks {
    fn started(&self) {
        self.pre_start.fetch_add(1, Ordering::SeqCst);
        self.note("pre_start");
    }

    fn stopped(&self) {
        self.post_stop.fetch_add(1, Ordering::SeqCst);
        self.note("post_stop");
    }

    fn note(&self, event: impl Into<String>) {
        self.log.lock().unwrap().push(event.into());
    }

    fn pre_starts(&self) -> usize {
        self.pre_start.load(Ordering::SeqCst)
    }

    fn post_stops(&self) -> usize {
        self.post_stop.load(Ordering::SeqCst)
    }

    fn events(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Yields until `cond` holds; a bounded number of scheduler turns, never tokio time, so it also
/// terminates in paused-time tests and next to a task that never goes idle.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never held: {what}");
}

/// Gives every other task plenty of scheduler turns (to check that something does *not*
/// happen).
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Asserts that the stream failed with a `StageMisuse` with exactly these fields.
#[track_caller]
fn assert_misuse(error: StreamError, stage: &str, port: &str, problem: &str) {
    match error {
        StreamError::StageMisuse {
            stage: s,
            port: p,
            problem: pr,
        } => {
            assert_eq!(s, stage, "stage named in the misuse error");
            assert_eq!(p, port, "port named in the misuse error");
            assert_eq!(pr, problem, "problem described by the misuse error");
        }
        other => panic!("expected StageMisuse on `{stage}`/`{port}`, got {other:?}"),
    }
}

// =============================================================================================
// Stages
// =============================================================================================

/// A source emitting 0, 1, 2, … on each pull, completing its outlet after `limit` elements.
struct Counter {
    limit: u64,
    hooks: Hooks,
}

struct CounterLogic {
    shape: SourceShape<u64>,
    next: u64,
    limit: u64,
    hooks: Hooks,
}

impl GraphStage for Counter {
    type Shape = SourceShape<u64>;
    type Logic = CounterLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "counter"
    }

    fn shape(&self) -> Self::Shape {
        SourceShape::new("out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (CounterLogic, ()) {
        let logic = CounterLogic {
            shape: self.shape(),
            next: 0,
            limit: self.limit,
            hooks: self.hooks.clone(),
        };
        (logic, ())
    }
}

impl StageLogic for CounterLogic {
    type Message = ();

    fn pre_start(&mut self, ctx: &mut StageContext<'_, ()>) {
        self.hooks.started();
        if self.limit == 0 {
            ctx.complete(&self.shape.out);
        }
    }

    fn on_pull(&mut self, outlet: PortId, ctx: &mut StageContext<'_, ()>) {
        assert!(outlet == self.shape.out);
        self.hooks.note("on_pull");
        ctx.push(&self.shape.out, self.next);
        self.next += 1;
        if self.next == self.limit {
            ctx.complete(&self.shape.out);
        }
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// A flow passing elements through; only `on_pull`/`on_push` are implemented, so termination
/// follows the defaults.
struct PassThrough {
    hooks: Hooks,
}

struct PassThroughLogic {
    shape: FlowShape<i32, i32>,
    hooks: Hooks,
}

impl GraphStage for PassThrough {
    type Shape = FlowShape<i32, i32>;
    type Logic = PassThroughLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "pass-through"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (PassThroughLogic, ()) {
        let logic = PassThroughLogic {
            shape: self.shape(),
            hooks: self.hooks.clone(),
        };
        (logic, ())
    }
}

impl StageLogic for PassThroughLogic {
    type Message = ();

    fn pre_start(&mut self, _: &mut StageContext<'_, ()>) {
        self.hooks.started();
    }

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        self.hooks.note("on_pull");
        ctx.pull(&self.shape.inlet);
    }

    fn on_push(&mut self, inlet: PortId, ctx: &mut StageContext<'_, ()>) {
        assert!(inlet == self.shape.inlet);
        if let Some(x) = ctx.grab(&self.shape.inlet) {
            self.hooks.note(format!("on_push {x}"));
            ctx.push(&self.shape.out, x);
        }
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// Keeps even elements, times ten; on an odd element it pulls again from `on_push`.
struct EvenTimesTen;

struct EvenTimesTenLogic(FlowShape<i32, i32>);

impl GraphStage for EvenTimesTen {
    type Shape = FlowShape<i32, i32>;
    type Logic = EvenTimesTenLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "even-times-ten"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (EvenTimesTenLogic, ()) {
        (EvenTimesTenLogic(self.shape()), ())
    }
}

impl StageLogic for EvenTimesTenLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        ctx.pull(&self.0.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        match ctx.grab(&self.0.inlet) {
            Some(x) if x % 2 == 0 => ctx.push(&self.0.out, x * 10),
            Some(_) => ctx.pull(&self.0.inlet),
            None => {}
        }
    }
}

type Collected<T> = oneshot::Receiver<Result<Vec<T>, StreamError>>;

/// A sink collecting everything; materializes a receiver fulfilled when upstream terminates
/// (or with `AbruptTermination` from `post_stop` if the stage stopped otherwise).
struct Collect {
    hooks: Hooks,
}

struct CollectLogic {
    shape: SinkShape<i32>,
    items: Vec<i32>,
    promise: Option<oneshot::Sender<Result<Vec<i32>, StreamError>>>,
    hooks: Hooks,
}

impl GraphStage for Collect {
    type Shape = SinkShape<i32>;
    type Logic = CollectLogic;
    type Mat = Collected<i32>;

    fn name(&self) -> &'static str {
        "collect"
    }

    fn shape(&self) -> Self::Shape {
        SinkShape::new("in")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (CollectLogic, Self::Mat) {
        let (tx, rx) = oneshot::channel();
        let logic = CollectLogic {
            shape: self.shape(),
            items: Vec::new(),
            promise: Some(tx),
            hooks: self.hooks.clone(),
        };
        (logic, rx)
    }
}

impl StageLogic for CollectLogic {
    type Message = ();

    fn pre_start(&mut self, ctx: &mut StageContext<'_, ()>) {
        self.hooks.started();
        ctx.pull(&self.shape.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(x) = ctx.grab(&self.shape.inlet) {
            self.items.push(x);
        }
        ctx.pull(&self.shape.inlet);
    }

    fn on_upstream_finish(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(tx) = self.promise.take() {
            let _ = tx.send(Ok(std::mem::take(&mut self.items)));
        }
        ctx.complete_stage();
    }

    fn on_upstream_failure(&mut self, _: PortId, e: StreamError, ctx: &mut StageContext<'_, ()>) {
        if let Some(tx) = self.promise.take() {
            let _ = tx.send(Err(e.clone()));
        }
        ctx.fail_stage(e);
    }

    fn post_stop(&mut self) {
        if let Some(tx) = self.promise.take() {
            let _ = tx.send(Err(StreamError::AbruptTermination));
        }
        self.hooks.stopped();
    }
}

/// Pairs elements of its two inlets; materializes the number of pairs emitted.
struct Zip2<A, B>(std::marker::PhantomData<fn() -> (A, B)>);

impl<A, B> Zip2<A, B> {
    fn new() -> Self {
        Zip2(std::marker::PhantomData)
    }
}

struct Zip2Logic<A, B> {
    shape: FanInShape2<A, B, (A, B)>,
    pairs: Arc<AtomicUsize>,
}

impl<A: Send + 'static, B: Send + 'static> GraphStage for Zip2<A, B> {
    type Shape = FanInShape2<A, B, (A, B)>;
    type Logic = Zip2Logic<A, B>;
    type Mat = Arc<AtomicUsize>;

    fn name(&self) -> &'static str {
        "zip2"
    }

    fn shape(&self) -> Self::Shape {
        FanInShape2::new("left", "right", "pairs")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (Self::Logic, Self::Mat) {
        let pairs = Arc::new(AtomicUsize::new(0));
        let logic = Zip2Logic {
            shape: self.shape(),
            pairs: pairs.clone(),
        };
        (logic, pairs)
    }
}

impl<A: Send + 'static, B: Send + 'static> StageLogic for Zip2Logic<A, B> {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let (left, right) = (self.shape.in0, self.shape.in1);
        if !ctx.is_available(&left) && !ctx.has_been_pulled(&left) {
            ctx.pull(&left);
        }
        if !ctx.is_available(&right) && !ctx.has_been_pulled(&right) {
            ctx.pull(&right);
        }
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let (left, right) = (self.shape.in0, self.shape.in1);
        if ctx.is_available(&left) && ctx.is_available(&right) {
            if let (Some(a), Some(b)) = (ctx.grab(&left), ctx.grab(&right)) {
                self.pairs.fetch_add(1, Ordering::SeqCst);
                ctx.push(&self.shape.out, (a, b));
            }
        }
    }
}

/// Emits `n` copies of each element `n` with `emit_multiple`; pulls again only from `on_pull`.
struct Repeater;

struct RepeaterLogic(FlowShape<u32, u32>);

impl GraphStage for Repeater {
    type Shape = FlowShape<u32, u32>;
    type Logic = RepeaterLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "repeater"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (RepeaterLogic, ()) {
        (RepeaterLogic(self.shape()), ())
    }
}

impl StageLogic for RepeaterLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        ctx.pull(&self.0.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        match ctx.grab(&self.0.inlet) {
            // Nothing to emit: ask for the next element instead.
            Some(0) => ctx.pull(&self.0.inlet),
            Some(n) => ctx.emit_multiple(&self.0.out, std::iter::repeat_n(n, n as usize)),
            None => {}
        }
    }
}

/// On the first pull, emits 1..=n at once and completes its outlet behind them.
struct EmitThenComplete {
    n: u32,
    hooks: Hooks,
}

struct EmitThenCompleteLogic {
    shape: SourceShape<u32>,
    n: u32,
    pulls: u32,
    hooks: Hooks,
}

impl GraphStage for EmitThenComplete {
    type Shape = SourceShape<u32>;
    type Logic = EmitThenCompleteLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "emit-then-complete"
    }

    fn shape(&self) -> Self::Shape {
        SourceShape::new("out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (Self::Logic, ()) {
        let logic = EmitThenCompleteLogic {
            shape: self.shape(),
            n: self.n,
            pulls: 0,
            hooks: self.hooks.clone(),
        };
        (logic, ())
    }
}

impl StageLogic for EmitThenCompleteLogic {
    type Message = ();

    fn pre_start(&mut self, _: &mut StageContext<'_, ()>) {
        self.hooks.started();
    }

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        self.pulls += 1;
        // The original handler must not run again while the emits are pending.
        assert_eq!(self.pulls, 1, "on_pull called while emits were pending");
        ctx.emit_multiple(&self.shape.out, 1..=self.n);
        ctx.complete(&self.shape.out);
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// What the mailbox source does with a message.
#[derive(Debug, PartialEq)]
enum Mail {
    Item(u32),
    Items(Vec<u32>),
    /// Complete the outlet (after queued emits).
    Done,
    /// `complete_stage`.
    Stop,
}

/// A source fed only through its async callback, which it materializes; every message is
/// `emit`ted, so elements wait in the emit queue while downstream has no demand.
struct Mailbox {
    hooks: Hooks,
}

struct MailboxLogic {
    shape: SourceShape<u32>,
    hooks: Hooks,
}

impl GraphStage for Mailbox {
    type Shape = SourceShape<u32>;
    type Logic = MailboxLogic;
    type Mat = AsyncCallback<Mail>;

    fn name(&self) -> &'static str {
        "mailbox"
    }

    fn shape(&self) -> Self::Shape {
        SourceShape::new("out")
    }

    fn create_logic(&self, _: &Attributes, cb: AsyncCallback<Mail>) -> (MailboxLogic, Self::Mat) {
        let logic = MailboxLogic {
            shape: self.shape(),
            hooks: self.hooks.clone(),
        };
        (logic, cb)
    }
}

impl StageLogic for MailboxLogic {
    type Message = Mail;

    fn pre_start(&mut self, _: &mut StageContext<'_, Mail>) {
        self.hooks.started();
    }

    fn on_message(&mut self, message: Mail, ctx: &mut StageContext<'_, Mail>) {
        self.hooks.note(format!("message {message:?}"));
        match message {
            Mail::Item(x) => ctx.emit(&self.shape.out, x),
            Mail::Items(xs) => ctx.emit_multiple(&self.shape.out, xs),
            Mail::Done => ctx.complete(&self.shape.out),
            Mail::Stop => ctx.complete_stage(),
        }
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// A sink that, when upstream finishes, schedules a timer and only completes when it fires;
/// messages are logged.
struct Lingering {
    keep_going: bool,
    hooks: Hooks,
}

struct LingeringLogic {
    shape: SinkShape<u32>,
    keep_going: bool,
    hooks: Hooks,
}

impl GraphStage for Lingering {
    type Shape = SinkShape<u32>;
    type Logic = LingeringLogic;
    type Mat = AsyncCallback<&'static str>;

    fn name(&self) -> &'static str {
        "lingering"
    }

    fn shape(&self) -> Self::Shape {
        SinkShape::new("in")
    }

    fn create_logic(
        &self,
        _: &Attributes,
        cb: AsyncCallback<&'static str>,
    ) -> (LingeringLogic, Self::Mat) {
        let logic = LingeringLogic {
            shape: self.shape(),
            keep_going: self.keep_going,
            hooks: self.hooks.clone(),
        };
        (logic, cb)
    }
}

const LINGER: TimerKey = 1;

impl StageLogic for LingeringLogic {
    type Message = &'static str;

    fn pre_start(&mut self, ctx: &mut StageContext<'_, &'static str>) {
        self.hooks.started();
        ctx.set_keep_going(self.keep_going);
        ctx.pull(&self.shape.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, &'static str>) {
        if let Some(x) = ctx.grab(&self.shape.inlet) {
            self.hooks.note(format!("element {x}"));
        }
        ctx.pull(&self.shape.inlet);
    }

    fn on_upstream_finish(&mut self, _: PortId, ctx: &mut StageContext<'_, &'static str>) {
        self.hooks.note("upstream finished");
        ctx.schedule_once(LINGER, Duration::from_secs(1));
    }

    fn on_timer(&mut self, key: TimerKey, ctx: &mut StageContext<'_, &'static str>) {
        assert_eq!(key, LINGER);
        self.hooks.note("timer");
        ctx.complete_stage();
    }

    fn on_message(&mut self, message: &'static str, _: &mut StageContext<'_, &'static str>) {
        self.hooks.note(message);
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// Commands for the timer lab.
#[derive(Debug)]
enum Cmd {
    Once(TimerKey, Duration),
    FixedDelay(TimerKey, Duration, Duration),
    FixedRate(TimerKey, Duration, Duration),
    Cancel(TimerKey),
    Active(TimerKey, oneshot::Sender<bool>),
}

type Fires = Arc<Mutex<Vec<(TimerKey, Instant)>>>;

/// A sink that never pulls (fed by `Source::never()`, it stays alive) and drives its timers as
/// told through its callback, recording when each fires.
struct TimerLab;

struct TimerLabLogic {
    fires: Fires,
}

impl GraphStage for TimerLab {
    type Shape = SinkShape<()>;
    type Logic = TimerLabLogic;
    type Mat = (AsyncCallback<Cmd>, Fires);

    fn name(&self) -> &'static str {
        "timer-lab"
    }

    fn shape(&self) -> Self::Shape {
        SinkShape::new("in")
    }

    fn create_logic(&self, _: &Attributes, cb: AsyncCallback<Cmd>) -> (TimerLabLogic, Self::Mat) {
        let fires = Fires::default();
        (
            TimerLabLogic {
                fires: fires.clone(),
            },
            (cb, fires),
        )
    }
}

impl StageLogic for TimerLabLogic {
    type Message = Cmd;

    fn on_message(&mut self, cmd: Cmd, ctx: &mut StageContext<'_, Cmd>) {
        match cmd {
            Cmd::Once(key, delay) => ctx.schedule_once(key, delay),
            Cmd::FixedDelay(key, initial, interval) => {
                ctx.schedule_with_fixed_delay(key, initial, interval)
            }
            Cmd::FixedRate(key, initial, interval) => {
                ctx.schedule_at_fixed_rate(key, initial, interval)
            }
            Cmd::Cancel(key) => ctx.cancel_timer(key),
            Cmd::Active(key, reply) => {
                let _ = reply.send(ctx.is_timer_active(key));
            }
        }
    }

    fn on_timer(&mut self, key: TimerKey, _: &mut StageContext<'_, Cmd>) {
        self.fires.lock().unwrap().push((key, Instant::now()));
    }
}

fn timer_lab() -> (AsyncCallback<Cmd>, Fires) {
    Source::<()>::never()
        .to_mat(Sink::from_graph(TimerLab), Keep::right)
        .run()
}

/// When timer `key` fired, relative to `t0`.
fn fired(fires: &Fires, key: TimerKey, t0: Instant) -> Vec<Duration> {
    fires
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, at)| *at - t0)
        .collect()
}

async fn timer_active(cb: &AsyncCallback<Cmd>, key: TimerKey) -> bool {
    let (tx, rx) = oneshot::channel();
    cb.invoke(Cmd::Active(key, tx)).unwrap();
    rx.await.unwrap()
}

/// A source that emits the number of the timer firing (1, 2, …) when its outlet is available
/// at that moment, and drops the tick otherwise.
struct Ticker {
    fixed_rate: bool,
    hooks: Hooks,
}

struct TickerLogic {
    shape: SourceShape<u64>,
    fixed_rate: bool,
    ticks: u64,
    hooks: Hooks,
}

impl GraphStage for Ticker {
    type Shape = SourceShape<u64>;
    type Logic = TickerLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "ticker"
    }

    fn shape(&self) -> Self::Shape {
        SourceShape::new("ticks")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (TickerLogic, ()) {
        let logic = TickerLogic {
            shape: self.shape(),
            fixed_rate: self.fixed_rate,
            ticks: 0,
            hooks: self.hooks.clone(),
        };
        (logic, ())
    }
}

const TICK: TimerKey = 42;

impl StageLogic for TickerLogic {
    type Message = ();

    fn pre_start(&mut self, ctx: &mut StageContext<'_, ()>) {
        self.hooks.started();
        if self.fixed_rate {
            ctx.schedule_at_fixed_rate(TICK, ms(100), ms(100));
        } else {
            ctx.schedule_with_fixed_delay(TICK, ms(100), ms(100));
        }
    }

    fn on_timer(&mut self, key: TimerKey, ctx: &mut StageContext<'_, ()>) {
        assert_eq!(key, TICK);
        assert!(ctx.is_timer_active(TICK), "a periodic timer stays active");
        self.ticks += 1;
        if ctx.is_available_out(&self.shape.out) {
            ctx.push(&self.shape.out, self.ticks);
        }
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// The ways the misuse stage breaks (or, for `Panic*`, escapes) the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    PushInPreStart,
    PushTwice,
    PullTwice,
    GrabEmpty,
    PushAfterComplete,
    CompleteOnly,
    PullCancelled,
    PullAfterUpstreamFinish,
    ForeignPort,
    WrongType,
    PanicOnPush,
    PanicInPreStart,
}

struct Misuse {
    kind: Kind,
    hooks: Hooks,
}

struct MisuseLogic {
    shape: FlowShape<i32, i32>,
    kind: Kind,
    hooks: Hooks,
}

impl GraphStage for Misuse {
    type Shape = FlowShape<i32, i32>;
    type Logic = MisuseLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "misuse"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (MisuseLogic, ()) {
        let logic = MisuseLogic {
            shape: self.shape(),
            kind: self.kind,
            hooks: self.hooks.clone(),
        };
        (logic, ())
    }
}

impl StageLogic for MisuseLogic {
    type Message = ();

    fn pre_start(&mut self, ctx: &mut StageContext<'_, ()>) {
        self.hooks.started();
        match self.kind {
            Kind::PushInPreStart => ctx.push(&self.shape.out, 1),
            Kind::PanicInPreStart => panic!("boom in pre_start"),
            _ => {}
        }
    }

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let (inlet, out) = (self.shape.inlet, self.shape.out);
        match self.kind {
            Kind::PushTwice => {
                ctx.push(&out, 1);
                ctx.push(&out, 2);
            }
            Kind::PullTwice => {
                ctx.pull(&inlet);
                ctx.pull(&inlet);
            }
            Kind::GrabEmpty => {
                assert_eq!(ctx.grab(&inlet), None);
            }
            Kind::PushAfterComplete => {
                ctx.complete(&out);
                ctx.push(&out, 1);
            }
            Kind::CompleteOnly => ctx.complete(&out),
            Kind::PullCancelled => {
                ctx.cancel(&inlet);
                ctx.pull(&inlet);
            }
            Kind::ForeignPort => ctx.pull(&Inlet::<i32>::new(7, "ghost")),
            Kind::WrongType => ctx.push(&Outlet::<String>::new(0, "out-as-string"), "x".into()),
            _ => {
                if !ctx.has_been_pulled(&inlet) {
                    ctx.pull(&inlet);
                }
            }
        }
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if let Some(x) = ctx.grab(&self.shape.inlet) {
            if self.kind == Kind::PanicOnPush {
                panic!("boom on {x}");
            }
            ctx.push(&self.shape.out, x);
        }
    }

    fn on_upstream_finish(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        if self.kind == Kind::PullAfterUpstreamFinish {
            ctx.pull(&self.shape.inlet);
        } else {
            ctx.complete_stage();
        }
    }

    fn post_stop(&mut self) {
        self.hooks.stopped();
    }
}

/// Runs `probe -> misuse(kind) -> probe`.
fn run_misuse(kind: Kind, name: Option<&'static str>) -> (SourceProbe<i32>, SinkProbe<i32>, Hooks) {
    let hooks = Hooks::default();
    let mut flow = Flow::from_graph(Misuse {
        kind,
        hooks: hooks.clone(),
    });
    if let Some(name) = name {
        flow = flow.named(name);
    }
    let (src, sink) = TestSource::<i32>::probe()
        .via(flow)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    (src, sink, hooks)
}

/// Takes two elements, then cancels its inlet and completes its outlet; fails its outlet with
/// `Boom` on a negative element.
struct TakeTwo;

struct TakeTwoLogic {
    shape: FlowShape<i32, i32>,
    taken: u32,
}

impl GraphStage for TakeTwo {
    type Shape = FlowShape<i32, i32>;
    type Logic = TakeTwoLogic;
    type Mat = ();

    fn name(&self) -> &'static str {
        "take-two"
    }

    fn shape(&self) -> Self::Shape {
        FlowShape::new("in", "out")
    }

    fn create_logic(&self, _: &Attributes, _: AsyncCallback<()>) -> (TakeTwoLogic, ()) {
        let logic = TakeTwoLogic {
            shape: self.shape(),
            taken: 0,
        };
        (logic, ())
    }
}

impl StageLogic for TakeTwoLogic {
    type Message = ();

    fn on_pull(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        ctx.pull(&self.shape.inlet);
    }

    fn on_push(&mut self, _: PortId, ctx: &mut StageContext<'_, ()>) {
        let Some(x) = ctx.grab(&self.shape.inlet) else {
            return;
        };
        if x < 0 {
            ctx.fail(&self.shape.out, StreamError::failed(Boom("negative")));
            ctx.cancel(&self.shape.inlet);
            return;
        }
        ctx.push(&self.shape.out, x);
        self.taken += 1;
        if self.taken == 2 {
            ctx.cancel(&self.shape.inlet);
            assert!(ctx.is_closed(&self.shape.inlet));
            ctx.complete(&self.shape.out);
            assert!(ctx.is_closed_out(&self.shape.out));
        }
    }
}

// =============================================================================================
// Handlers through each constructor
// =============================================================================================

#[tokio::test]
async fn source_from_graph_pushes_on_each_pull_and_completes() {
    let hooks = Hooks::default();
    let out = Source::from_graph(Counter {
        limit: 5,
        hooks: hooks.clone(),
    })
    .run_with(Sink::seq())
    .await
    .unwrap();
    assert_eq!(out, vec![0, 1, 2, 3, 4]);
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    assert_eq!(hooks.pre_starts(), 1);
}

#[tokio::test]
async fn source_from_graph_with_limit_zero_completes_empty() {
    let hooks = Hooks::default();
    let out = Source::from_graph(Counter {
        limit: 0,
        hooks: hooks.clone(),
    })
    .run_with(Sink::seq())
    .await
    .unwrap();
    assert!(out.is_empty());
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    assert!(!hooks.events().contains(&"on_pull".to_string()));
}

#[tokio::test(start_paused = true)]
async fn source_from_graph_follows_downstream_demand() {
    let hooks = Hooks::default();
    let sink = Source::from_graph(Counter {
        limit: 4,
        hooks: hooks.clone(),
    })
    .to_mat(TestSink::probe(), Keep::right)
    .run();
    sink.request(2);
    sink.expect_next_n([0, 1]).await;
    sink.expect_no_message(ms(200)).await;
    sink.request(2);
    sink.expect_next_n([2, 3]).await;
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test]
async fn source_from_graph_is_a_reusable_blueprint() {
    let hooks = Hooks::default();
    let source = Source::from_graph(Counter {
        limit: 3,
        hooks: hooks.clone(),
    });
    let a = source.run_with(Sink::seq()).await.unwrap();
    let b = source.run_with(Sink::seq()).await.unwrap();
    assert_eq!(a, vec![0, 1, 2]);
    assert_eq!(b, vec![0, 1, 2], "each materialization has a fresh logic");
    eventually("both logics stopped", || hooks.post_stops() == 2).await;
    assert_eq!(hooks.pre_starts(), 2);
}

#[tokio::test]
async fn flow_from_graph_pulls_again_from_on_push() {
    let out = Source::from_iter(1..=7)
        .via(Flow::from_graph(EvenTimesTen))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![20, 40, 60]);
}

#[tokio::test(start_paused = true)]
async fn flow_from_graph_with_probes() {
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(EvenTimesTen))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    assert!(src.expect_request().await > 0);
    src.send_next(1).await;
    sink.expect_no_message(ms(100)).await;
    src.send_next(2).await;
    sink.expect_next(20).await;
    src.send_next(4).await;
    sink.expect_no_message(ms(100)).await;
    sink.request(1);
    sink.expect_next(40).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test]
async fn sink_from_graph_materializes_its_result() {
    let hooks = Hooks::default();
    let rx = Source::from_iter(vec![3, 1, 2]).run_with(Sink::from_graph(Collect {
        hooks: hooks.clone(),
    }));
    let result = rx.await.expect("promise fulfilled");
    assert_eq!(result.unwrap(), vec![3, 1, 2]);
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test]
async fn sink_from_graph_reports_upstream_failure() {
    let hooks = Hooks::default();
    let (src, rx) = TestSource::<i32>::probe()
        .to_mat(
            Sink::from_graph(Collect {
                hooks: hooks.clone(),
            }),
            Keep::both,
        )
        .run();
    src.send_next(1).await;
    src.send_error(StreamError::failed(Boom("upstream")));
    let result = rx.await.expect("promise fulfilled");
    let error = result.expect_err("the sink saw the failure");
    assert_eq!(error.downcast_ref::<Boom>(), Some(&Boom("upstream")));
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test]
async fn source_from_fan_in2_zips_two_inlets() {
    let (pairs, out) = Source::from_fan_in2(
        Zip2::new(),
        Source::from_iter(vec![1, 2, 3]),
        Source::from_iter(vec!["a", "b", "c", "d"]),
    )
    .to_mat(Sink::seq(), Keep::both)
    .run();
    assert_eq!(out.await.unwrap(), vec![(1, "a"), (2, "b"), (3, "c")]);
    assert_eq!(pairs.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn source_from_fan_in2_mat_keeps_all_three_materialized_values() {
    let ((left, right, pairs), sink) = Source::from_fan_in2_mat(
        Zip2::new(),
        TestSource::<i32>::probe(),
        TestSource::<char>::probe(),
    )
    .to_mat(TestSink::probe(), Keep::both)
    .run();
    sink.request(3);
    left.send_next(1).await;
    right.send_next('x').await;
    sink.expect_next((1, 'x')).await;
    left.send_next(2).await;
    sink.expect_no_message(ms(100)).await;
    right.send_next('y').await;
    sink.expect_next((2, 'y')).await;
    assert_eq!(pairs.load(Ordering::SeqCst), 2);
    // The default: an upstream finish completes the stage, which cancels the other inlet.
    left.send_complete();
    sink.expect_complete().await;
    right.expect_cancellation().await;
}

#[tokio::test]
async fn flow_from_fan_in2_feeds_the_second_inlet_from_a_source() {
    let (pairs, out) = Source::from_iter(vec![10, 20, 30])
        .via_mat(
            Flow::from_fan_in2(Zip2::new(), Source::from_iter(vec!['p', 'q'])),
            Keep::right,
        )
        .to_mat(Sink::seq(), Keep::both)
        .run();
    assert_eq!(out.await.unwrap(), vec![(10, 'p'), (20, 'q')]);
    assert_eq!(pairs.load(Ordering::SeqCst), 2);
}

// =============================================================================================
// Default termination
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn upstream_finish_completes_the_stage_by_default() {
    let hooks = Hooks::default();
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(PassThrough {
            hooks: hooks.clone(),
        }))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(2);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_complete();
    sink.expect_complete().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn upstream_failure_fails_the_stage_with_the_same_error() {
    let hooks = Hooks::default();
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(PassThrough {
            hooks: hooks.clone(),
        }))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(3);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::failed(Boom("up")));
    let error = sink.expect_error().await;
    assert_eq!(error.downcast_ref::<Boom>(), Some(&Boom("up")));
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

/// Not paused: if the cancellation is never noticed, the stage may keep the runtime busy, and
/// a paused clock would then never reach the probes' timeouts.
#[tokio::test]
async fn downstream_cancel_completes_the_stage_and_cancels_upstream() {
    let hooks = Hooks::default();
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(PassThrough {
            hooks: hooks.clone(),
        }))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    // The stage has pulled its inlet again and now waits for upstream.
    sink.cancel();
    src.expect_cancellation().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test]
async fn downstream_cancel_stops_a_source_stage() {
    let hooks = Hooks::default();
    let sink = Source::from_graph(Counter {
        limit: u64::MAX,
        hooks: hooks.clone(),
    })
    .to_mat(TestSink::probe(), Keep::right)
    .run();
    sink.request(3);
    sink.expect_next_n([0, 1, 2]).await;
    sink.cancel();
    eventually("post_stop ran after cancellation", || {
        hooks.post_stops() == 1
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancel_inlet_and_complete_outlet_from_a_handler() {
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(TakeTwo))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(7).await;
    src.send_next(8).await;
    sink.expect_next_n([7, 8]).await;
    src.expect_cancellation().await;
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn fail_outlet_sends_the_error_downstream() {
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(TakeTwo))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(5);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_next(-1).await;
    let error = sink.expect_error().await;
    assert_eq!(error.downcast_ref::<Boom>(), Some(&Boom("negative")));
    src.expect_cancellation().await;
}

// =============================================================================================
// Lifecycle: pre_start first, post_stop exactly once
// =============================================================================================

#[tokio::test]
async fn pre_start_runs_first_and_post_stop_last_on_completion() {
    let hooks = Hooks::default();
    let out = Source::from_iter(vec![1, 2])
        .via(Flow::from_graph(PassThrough {
            hooks: hooks.clone(),
        }))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2]);
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    settle().await;
    let events = hooks.events();
    assert_eq!(events.first().map(String::as_str), Some("pre_start"));
    assert_eq!(events.last().map(String::as_str), Some("post_stop"));
    assert_eq!(events.iter().filter(|e| *e == "pre_start").count(), 1);
    assert_eq!(events.iter().filter(|e| *e == "post_stop").count(), 1);
    let pushes: Vec<_> = events.iter().filter(|e| e.starts_with("on_push")).collect();
    assert_eq!(pushes, vec!["on_push 1", "on_push 2"]);
    // Each push answers a pull.
    let first_pull = events.iter().position(|e| e == "on_pull").unwrap();
    let first_push = events.iter().position(|e| e == "on_push 1").unwrap();
    assert!(first_pull < first_push);
}

#[tokio::test(start_paused = true)]
async fn post_stop_runs_once_on_failure() {
    let hooks = Hooks::default();
    let (src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(PassThrough {
            hooks: hooks.clone(),
        }))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_error(StreamError::failed(Boom("x")));
    sink.expect_error().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    settle().await;
    assert_eq!(hooks.post_stops(), 1);
    assert_eq!(hooks.pre_starts(), 1);
}

#[tokio::test]
async fn post_stop_runs_once_on_cancellation() {
    let hooks = Hooks::default();
    let (_src, sink) = TestSource::<i32>::probe()
        .via(Flow::from_graph(PassThrough {
            hooks: hooks.clone(),
        }))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    eventually("pre_start ran", || hooks.pre_starts() == 1).await;
    sink.cancel();
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    settle().await;
    assert_eq!(hooks.post_stops(), 1);
}

#[test]
fn post_stop_runs_once_on_abrupt_termination() {
    let hooks = Hooks::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (src, _sink) = rt.block_on(async {
        let (src, sink) = TestSource::<i32>::probe()
            .via(Flow::from_graph(PassThrough {
                hooks: hooks.clone(),
            }))
            .to_mat(TestSink::probe(), Keep::both)
            .run();
        sink.request(2);
        src.send_next(1).await;
        sink.expect_next(1).await;
        (src, sink)
    });
    assert_eq!(hooks.pre_starts(), 1);
    assert_eq!(hooks.post_stops(), 0, "the stream is still running");
    drop(rt);
    assert_eq!(hooks.post_stops(), 1);
    assert!(
        src.is_cancelled(),
        "the aborted stage released its upstream"
    );
}

#[test]
fn abrupt_termination_of_a_sink_stage() {
    let hooks = Hooks::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rx = None;
    rt.block_on(async {
        rx = Some(Source::<i32>::never().run_with(Sink::from_graph(Collect {
            hooks: hooks.clone(),
        })));
        eventually("pre_start ran", || hooks.pre_starts() == 1).await;
    });
    let rx = rx.unwrap();
    drop(rt);
    assert_eq!(hooks.post_stops(), 1);
    // post_stop fulfilled the stage's promise.
    let result = futures::executor::block_on(rx).expect("promise fulfilled by post_stop");
    assert!(matches!(result, Err(StreamError::AbruptTermination)));
}

// =============================================================================================
// emit / emit_multiple
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn emit_multiple_delivers_in_order_one_demand_at_a_time_then_completes() {
    let hooks = Hooks::default();
    // A one-element output buffer: the stage really waits for the probe's demand.
    let sink = Source::from_graph(EmitThenComplete {
        n: 5,
        hooks: hooks.clone(),
    })
    .with_attributes(Attributes::input_buffer(1))
    .to_mat(TestSink::probe(), Keep::right)
    .run();
    for i in 1..=3 {
        sink.request(1);
        sink.expect_next(i).await;
        sink.expect_no_message(ms(50)).await;
    }
    // Two elements are still queued: completion waits for them.
    assert_eq!(hooks.post_stops(), 0);
    sink.request(1);
    sink.expect_next(4).await;
    sink.request(1);
    sink.expect_next(5).await;
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn post_stop_runs_after_a_completion_deferred_behind_emits() {
    let hooks = Hooks::default();
    let out = Source::from_graph(EmitThenComplete {
        n: 3,
        hooks: hooks.clone(),
    })
    .run_with(Sink::seq())
    .await
    .unwrap();
    assert_eq!(out, vec![1, 2, 3]);
    eventually("post_stop ran after the deferred completion", || {
        hooks.post_stops() == 1
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn complete_stage_waits_for_queued_emits() {
    let hooks = Hooks::default();
    let (cb, sink) = Source::from_graph(Mailbox {
        hooks: hooks.clone(),
    })
    .with_attributes(Attributes::input_buffer(1))
    .to_mat(TestSink::probe(), Keep::both)
    .run();
    cb.invoke(Mail::Items(vec![1, 2, 3])).unwrap();
    cb.invoke(Mail::Stop).unwrap();
    for i in 1..=3 {
        sink.request(1);
        sink.expect_next(i).await;
    }
    sink.request(1);
    sink.expect_complete().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn emits_queued_without_demand_are_delivered_in_order() {
    let hooks = Hooks::default();
    let (cb, sink) = Source::from_graph(Mailbox {
        hooks: hooks.clone(),
    })
    .with_attributes(Attributes::input_buffer(1))
    .to_mat(TestSink::probe(), Keep::both)
    .run();
    cb.invoke(Mail::Item(1)).unwrap();
    cb.invoke(Mail::Item(2)).unwrap();
    cb.invoke(Mail::Items(vec![3, 4, 5])).unwrap();
    cb.invoke(Mail::Item(6)).unwrap();
    // No demand yet: nothing arrives.
    sink.expect_no_message(ms(100)).await;
    for i in 1..=6 {
        sink.request(1);
        sink.expect_next(i).await;
    }
    sink.request(1);
    sink.expect_no_message(ms(100)).await;
    cb.invoke(Mail::Done).unwrap();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn emit_multiple_from_on_push_then_default_completion() {
    let (src, sink) = TestSource::<u32>::probe()
        .via(Flow::from_graph(Repeater).with_attributes(Attributes::input_buffer(1)))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.request(1);
    src.send_next(3).await;
    src.send_complete();
    for _ in 0..3 {
        sink.expect_next(3).await;
        sink.request(1);
    }
    sink.expect_complete().await;
}

#[tokio::test]
async fn emit_multiple_preserves_order_across_elements() {
    let out = Source::from_iter(vec![1u32, 2, 3, 0, 2])
        .via(Flow::from_graph(Repeater))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 2, 3, 3, 3, 2, 2]);
}

// =============================================================================================
// set_keep_going
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn keep_going_stage_outlives_its_ports_until_complete_stage() {
    let hooks = Hooks::default();
    let cb = Source::from_iter(vec![1u32, 2]).run_with(Sink::from_graph(Lingering {
        keep_going: true,
        hooks: hooks.clone(),
    }));
    let t0 = Instant::now();
    eventually("upstream finished", || {
        hooks.events().contains(&"upstream finished".to_string())
    })
    .await;
    sleep(ms(500)).await;
    assert_eq!(hooks.post_stops(), 0, "all ports closed, but keep-going");
    cb.invoke("ping").unwrap();
    eventually("message delivered", || {
        hooks.events().contains(&"ping".to_string())
    })
    .await;
    sleep(ms(600)).await;
    assert!(Instant::now() - t0 >= Duration::from_secs(1));
    assert_eq!(
        hooks.events(),
        vec![
            "pre_start",
            "element 1",
            "element 2",
            "upstream finished",
            "ping",
            "timer",
            "post_stop"
        ]
    );
    assert_eq!(hooks.post_stops(), 1);
    match cb.invoke("late") {
        Err(CallbackError::StageStopped(m)) => assert_eq!(m, "late"),
        other => panic!("expected StageStopped, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn without_keep_going_a_stage_stops_when_its_ports_close() {
    let hooks = Hooks::default();
    let cb = Source::from_iter(vec![1u32]).run_with(Sink::from_graph(Lingering {
        keep_going: false,
        hooks: hooks.clone(),
    }));
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    sleep(Duration::from_secs(2)).await;
    assert_eq!(
        hooks.events(),
        vec!["pre_start", "element 1", "upstream finished", "post_stop"],
        "the timer never fired"
    );
    assert!(matches!(
        cb.invoke("late"),
        Err(CallbackError::StageStopped("late"))
    ));
}

// =============================================================================================
// Timers
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn schedule_once_fires_once_after_the_delay() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::Once(1, ms(100))).unwrap();
    assert!(timer_active(&cb, 1).await);
    assert!(!timer_active(&cb, 2).await);
    sleep(ms(99)).await;
    assert!(fired(&fires, 1, t0).is_empty());
    sleep(Duration::from_secs(1)).await;
    assert_eq!(fired(&fires, 1, t0), vec![ms(100)]);
    assert!(
        !timer_active(&cb, 1).await,
        "a fired one-shot timer is inactive"
    );
}

#[tokio::test(start_paused = true)]
async fn rescheduling_a_key_replaces_the_timer() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::Once(1, ms(100))).unwrap();
    cb.invoke(Cmd::Once(1, ms(300))).unwrap();
    sleep(ms(200)).await;
    assert!(
        fired(&fires, 1, t0).is_empty(),
        "the first schedule was replaced"
    );
    // Re-scheduling restarts the delay from now.
    cb.invoke(Cmd::Once(1, ms(150))).unwrap();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(fired(&fires, 1, t0), vec![ms(350)]);
}

#[tokio::test(start_paused = true)]
async fn cancel_timer_prevents_firing() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::Once(1, ms(100))).unwrap();
    cb.invoke(Cmd::Once(2, ms(200))).unwrap();
    cb.invoke(Cmd::Cancel(1)).unwrap();
    assert!(!timer_active(&cb, 1).await);
    assert!(timer_active(&cb, 2).await);
    sleep(Duration::from_secs(1)).await;
    let all: Vec<_> = fires
        .lock()
        .unwrap()
        .iter()
        .map(|(k, at)| (*k, *at - t0))
        .collect();
    assert_eq!(all, vec![(2, ms(200))]);
    // Cancelling an unknown or fired timer is harmless.
    cb.invoke(Cmd::Cancel(2)).unwrap();
    cb.invoke(Cmd::Cancel(99)).unwrap();
    assert!(!timer_active(&cb, 2).await);
}

#[tokio::test(start_paused = true)]
async fn timers_fire_in_deadline_order() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::Once(1, ms(300))).unwrap();
    cb.invoke(Cmd::Once(2, ms(100))).unwrap();
    cb.invoke(Cmd::Once(3, ms(200))).unwrap();
    sleep(ms(50)).await;
    // Scheduled while the stage waits for a later deadline: it must not be delayed by it.
    cb.invoke(Cmd::Once(4, ms(10))).unwrap();
    sleep(Duration::from_secs(1)).await;
    let all: Vec<_> = fires
        .lock()
        .unwrap()
        .iter()
        .map(|(k, at)| (*k, *at - t0))
        .collect();
    assert_eq!(
        all,
        vec![(4, ms(60)), (2, ms(100)), (3, ms(200)), (1, ms(300))]
    );
}

#[tokio::test(start_paused = true)]
async fn schedule_with_fixed_delay_fires_repeatedly_until_cancelled() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::FixedDelay(3, ms(50), ms(100))).unwrap();
    sleep(ms(400)).await;
    assert_eq!(
        fired(&fires, 3, t0),
        vec![ms(50), ms(150), ms(250), ms(350)]
    );
    assert!(timer_active(&cb, 3).await);
    cb.invoke(Cmd::Cancel(3)).unwrap();
    assert!(!timer_active(&cb, 3).await);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(fired(&fires, 3, t0).len(), 4);
}

#[tokio::test(start_paused = true)]
async fn schedule_at_fixed_rate_fires_repeatedly_until_cancelled() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::FixedRate(4, ms(50), ms(100))).unwrap();
    sleep(ms(400)).await;
    assert_eq!(
        fired(&fires, 4, t0),
        vec![ms(50), ms(150), ms(250), ms(350)]
    );
    assert!(timer_active(&cb, 4).await);
    cb.invoke(Cmd::Cancel(4)).unwrap();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(fired(&fires, 4, t0).len(), 4);
}

/// After a pause longer than several intervals, a fixed-rate timer catches up on the missed
/// firings; a fixed-delay timer fires once and counts its interval from then.
#[tokio::test(start_paused = true)]
async fn fixed_rate_catches_up_and_fixed_delay_does_not() {
    let (cb, fires) = timer_lab();
    let t0 = Instant::now();
    cb.invoke(Cmd::FixedRate(1, ms(100), ms(100))).unwrap();
    cb.invoke(Cmd::FixedDelay(2, ms(100), ms(100))).unwrap();
    // Both are scheduled (at t0) once the stage answers.
    assert!(timer_active(&cb, 1).await && timer_active(&cb, 2).await);
    assert_eq!(Instant::now(), t0);
    tokio::time::advance(ms(350)).await;
    settle().await;
    assert_eq!(fired(&fires, 1, t0), vec![ms(350), ms(350), ms(350)]);
    assert_eq!(fired(&fires, 2, t0), vec![ms(350)]);
    sleep(ms(110)).await;
    assert_eq!(
        fired(&fires, 1, t0),
        vec![ms(350), ms(350), ms(350), ms(400)]
    );
    assert_eq!(fired(&fires, 2, t0), vec![ms(350), ms(450)]);
}

#[tokio::test(start_paused = true)]
async fn ticking_source_emits_on_each_timer_while_downstream_has_demand() {
    let hooks = Hooks::default();
    let t0 = Instant::now();
    // A one-element output buffer, so "downstream has demand" is close to the probe's demand.
    let sink = Source::from_graph(Ticker {
        fixed_rate: true,
        hooks: hooks.clone(),
    })
    .with_attributes(Attributes::input_buffer(1))
    .to_mat(TestSink::probe(), Keep::right)
    .run();
    sink.request(3);
    for (tick, at) in [(1, 100), (2, 200), (3, 300)] {
        sink.expect_next(tick).await;
        assert_eq!(Instant::now() - t0, ms(at));
    }
    // No demand from 300 ms: tick 4 fills the one-element buffer, ticks 5-7 are dropped.
    sink.expect_no_message(ms(450)).await;
    sink.request(1);
    sink.expect_next(4).await;
    assert_eq!(Instant::now() - t0, ms(750));
    sink.request(1);
    sink.expect_next(8).await;
    assert_eq!(Instant::now() - t0, ms(800));
    sink.cancel();
}

#[tokio::test(start_paused = true)]
async fn fixed_delay_ticking_source() {
    let hooks = Hooks::default();
    let t0 = Instant::now();
    let sink = Source::from_graph(Ticker {
        fixed_rate: false,
        hooks: hooks.clone(),
    })
    .to_mat(TestSink::probe(), Keep::right)
    .run();
    sink.request(4);
    for (tick, at) in [(1, 100), (2, 200), (3, 300), (4, 400)] {
        sink.expect_next(tick).await;
        assert_eq!(Instant::now() - t0, ms(at));
    }
    sink.cancel();
}

// =============================================================================================
// Async callbacks
// =============================================================================================

#[tokio::test]
async fn callback_values_sent_before_the_stage_starts_are_delivered_after_pre_start() {
    let hooks = Hooks::default();
    let (cb, out) = Source::from_graph(Mailbox {
        hooks: hooks.clone(),
    })
    .to_mat(Sink::seq(), Keep::both)
    .run();
    // Nothing has run yet: the runtime has not polled the stage.
    assert_eq!(hooks.pre_starts(), 0);
    cb.invoke(Mail::Item(1)).unwrap();
    cb.invoke(Mail::Items(vec![2, 3])).unwrap();
    cb.invoke(Mail::Done).unwrap();
    assert_eq!(out.await.unwrap(), vec![1, 2, 3]);
    let events = hooks.events();
    assert_eq!(events.first().map(String::as_str), Some("pre_start"));
    assert_eq!(events[1], "message Item(1)");
}

#[tokio::test]
async fn callback_from_another_task_and_from_a_thread() {
    let hooks = Hooks::default();
    let (cb, out) = Source::from_graph(Mailbox {
        hooks: hooks.clone(),
    })
    .to_mat(Sink::seq(), Keep::both)
    .run();
    let task_cb = cb.clone();
    let task = tokio::spawn(async move {
        for i in 0..50 {
            task_cb.invoke_async(Mail::Item(i)).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    let thread_cb = cb.clone();
    let thread = std::thread::spawn(move || {
        for i in 100..150 {
            thread_cb.invoke(Mail::Item(i)).unwrap();
        }
    });
    task.await.unwrap();
    thread.join().unwrap();
    cb.invoke_async(Mail::Done).await.unwrap();
    let out = out.await.unwrap();
    assert_eq!(out.len(), 100);
    let from_task: Vec<u32> = out.iter().copied().filter(|x| *x < 100).collect();
    let from_thread: Vec<u32> = out.iter().copied().filter(|x| *x >= 100).collect();
    assert_eq!(from_task, (0..50).collect::<Vec<_>>());
    assert_eq!(from_thread, (100..150).collect::<Vec<_>>());
}

#[tokio::test]
async fn callback_reports_full_beyond_capacity_then_drains_in_order() {
    let hooks = Hooks::default();
    let (cb, out) = Source::from_graph(Mailbox {
        hooks: hooks.clone(),
    })
    .to_mat(Sink::seq(), Keep::both)
    .run();
    // Current-thread runtime, no yield: the stage cannot drain meanwhile.
    let capacity = u32::try_from(CALLBACK_CAPACITY).unwrap();
    for i in 0..capacity {
        cb.invoke(Mail::Item(i)).unwrap();
    }
    match cb.invoke(Mail::Item(9999)) {
        Err(CallbackError::Full(m)) => assert_eq!(m, Mail::Item(9999)),
        other => panic!("expected Full, got {other:?}"),
    }
    let e = cb.invoke(Mail::Item(7)).unwrap_err();
    assert_eq!(e.to_string(), "stage callback queue is full");
    assert_eq!(e.into_inner(), Mail::Item(7));
    // invoke_async waits for room.
    cb.invoke_async(Mail::Done).await.unwrap();
    assert_eq!(out.await.unwrap(), (0..capacity).collect::<Vec<_>>());
}

#[tokio::test]
async fn callback_after_the_stage_stopped_reports_stage_stopped() {
    let hooks = Hooks::default();
    let (cb, out) = Source::from_graph(Mailbox {
        hooks: hooks.clone(),
    })
    .to_mat(Sink::seq(), Keep::both)
    .run();
    cb.invoke(Mail::Item(1)).unwrap();
    cb.invoke(Mail::Stop).unwrap();
    assert_eq!(out.await.unwrap(), vec![1]);
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    match cb.invoke(Mail::Item(2)) {
        Err(CallbackError::StageStopped(m)) => assert_eq!(m, Mail::Item(2)),
        other => panic!("expected StageStopped, got {other:?}"),
    }
    match cb.invoke_async(Mail::Item(3)).await {
        Err(CallbackError::StageStopped(m)) => assert_eq!(m, Mail::Item(3)),
        other => panic!("expected StageStopped, got {other:?}"),
    }
    assert!(!hooks.events().contains(&"message Item(2)".to_string()));
}

#[test]
fn callback_after_abrupt_termination_reports_stage_stopped() {
    let hooks = Hooks::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cb = rt.block_on(async {
        let (cb, _sink) = Source::from_graph(Mailbox {
            hooks: hooks.clone(),
        })
        .to_mat(TestSink::probe(), Keep::both)
        .run();
        eventually("pre_start ran", || hooks.pre_starts() == 1).await;
        cb
    });
    drop(rt);
    assert_eq!(hooks.post_stops(), 1);
    assert!(matches!(
        cb.invoke(Mail::Item(1)),
        Err(CallbackError::StageStopped(Mail::Item(1)))
    ));
}

// =============================================================================================
// Misuse and panics
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn push_without_pull_is_misuse() {
    let (src, sink, hooks) = run_misuse(Kind::PushInPreStart, None);
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "out", "push without pull");
    src.expect_cancellation().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn pushing_twice_for_one_pull_is_misuse() {
    let (src, sink, _hooks) = run_misuse(Kind::PushTwice, None);
    sink.request(5);
    sink.expect_next(1).await;
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "out", "push without pull");
    src.expect_cancellation().await;
}

#[tokio::test(start_paused = true)]
async fn pulling_twice_is_misuse() {
    let (src, sink, hooks) = run_misuse(Kind::PullTwice, None);
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(
        error,
        "misuse",
        "in",
        "pulled twice (already pulled, or an element is waiting to be grabbed)",
    );
    src.expect_cancellation().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn grab_with_nothing_pushed_is_misuse() {
    let (src, sink, _hooks) = run_misuse(Kind::GrabEmpty, None);
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "in", "grab with no element pushed");
    src.expect_cancellation().await;
}

/// The outlet is already complete, so the misuse cannot reach downstream (as in Akka): the
/// stage fails, which cancels its inlet and stops it.
#[tokio::test(start_paused = true)]
async fn push_to_a_closed_outlet_fails_the_stage() {
    let (src, sink, hooks) = run_misuse(Kind::PushAfterComplete, None);
    sink.request(1);
    sink.expect_complete().await;
    src.expect_cancellation().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

/// The control for the test above: completing the outlet alone leaves the stage running with
/// its inlet open.
#[tokio::test(start_paused = true)]
async fn completing_the_outlet_alone_keeps_the_inlet_open() {
    let (src, sink, hooks) = run_misuse(Kind::CompleteOnly, None);
    sink.request(1);
    sink.expect_complete().await;
    settle().await;
    assert!(!src.is_cancelled());
    assert_eq!(hooks.post_stops(), 0);
}

#[tokio::test(start_paused = true)]
async fn pull_on_a_cancelled_inlet_is_misuse() {
    let (src, sink, _hooks) = run_misuse(Kind::PullCancelled, None);
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "in", "pull on a closed port");
    assert!(src.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn pull_on_a_finished_inlet_is_misuse() {
    let (src, sink, hooks) = run_misuse(Kind::PullAfterUpstreamFinish, None);
    sink.request(2);
    src.send_next(5).await;
    sink.expect_next(5).await;
    src.send_complete();
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "in", "pull on a closed port");
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn using_a_port_of_another_stage_is_misuse() {
    let (_src, sink, _hooks) = run_misuse(Kind::ForeignPort, None);
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "ghost", "not a port of this stage");

    let (_src, sink, _hooks) = run_misuse(Kind::WrongType, None);
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(error, "misuse", "out-as-string", "not a port of this stage");
}

#[tokio::test(start_paused = true)]
async fn misuse_names_the_stage_by_its_name_attribute() {
    let (_src, sink, _hooks) = run_misuse(Kind::PullTwice, Some("renamed"));
    sink.request(1);
    let error = sink.expect_error().await;
    assert_misuse(
        error,
        "renamed",
        "in",
        "pulled twice (already pulled, or an element is waiting to be grabbed)",
    );
}

#[tokio::test(start_paused = true)]
async fn panic_in_a_handler_fails_the_stage() {
    let (src, sink, hooks) = run_misuse(Kind::PanicOnPush, None);
    sink.request(2);
    src.send_next(3).await;
    match sink.expect_error().await {
        StreamError::Panicked { stage, message } => {
            assert_eq!(stage, "misuse");
            assert_eq!(message, "boom on 3");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    src.expect_cancellation().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
    settle().await;
    assert_eq!(hooks.post_stops(), 1);
}

#[tokio::test(start_paused = true)]
async fn panic_in_pre_start_fails_the_stage() {
    let (src, sink, hooks) = run_misuse(Kind::PanicInPreStart, Some("fragile"));
    sink.request(1);
    match sink.expect_error().await {
        StreamError::Panicked { stage, message } => {
            assert_eq!(stage, "fragile");
            assert_eq!(message, "boom in pre_start");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    src.expect_cancellation().await;
    eventually("post_stop ran", || hooks.post_stops() == 1).await;
}

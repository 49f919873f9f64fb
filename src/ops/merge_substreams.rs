//! `merge_substreams` and `concat_substreams`: the stage that runs a `SubFlow`'s substreams.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::stage::{BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, Flow, Materializer, NotUsed, StreamError};

/// Where the oldest waiting elements go, as a splitting operator decides.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Into the open substream in this slot.
    To(usize),
    /// Into a new substream.
    Open,
    /// Nowhere: its substream has ended.
    Drop,
}

/// A [`Route`] and the ends of substreams it implies.
#[derive(Debug)]
pub(crate) struct Decision {
    /// Complete this substream's input before routing (`split_when`).
    pub(crate) close_first: Option<usize>,
    pub(crate) route: Route,
    /// Complete the target's input after this element (`split_after`).
    pub(crate) then_close: bool,
}

impl Decision {
    pub(crate) fn to(route: Route) -> Self {
        Decision {
            close_first: None,
            route,
            then_close: false,
        }
    }
}

/// How a splitting operator (`group_by`, `split_when`, `split_after`) assigns elements to
/// substreams. It keeps a tag (a key, a predicate's answer) per waiting element, computed once
/// on arrival; `route` is pure, and the stage reports what it did through the other methods.
pub(crate) trait Router<T>: Send + 'static {
    /// Computes the tag of a newly arrived element (user code: it may panic).
    fn arrive(&mut self, x: &T);
    /// Computes the tag of an element put back in front of the waiting ones.
    fn arrive_front(&mut self, x: &T);
    /// Whether the elements an ended substream had not taken are routed again (to a new
    /// substream) rather than dropped.
    fn reclaims(&self) -> bool;
    /// Where the `i`-th waiting element goes now.
    fn route(&self, i: usize) -> Decision;
    /// The `i`-th waiting element opened a substream in `slot`.
    fn opened(&mut self, i: usize, slot: usize);
    /// The `i`-th waiting element left (routed or dropped).
    fn taken(&mut self, i: usize);
    /// The input of the substream in `slot` was completed on the operator's decision.
    fn detached(&mut self, slot: usize);
    /// The substream in `slot` ended (completed, or cancelled its input); the slot is free.
    fn ended(&mut self, slot: usize);
    /// Whether elements may be routed past an older one that waits to open a substream.
    fn reorders(&self) -> bool;
    /// The most substreams open at once; past it a new one fails the stream.
    fn max_substreams(&self) -> usize;
}

struct FeedState<T> {
    buf: VecDeque<T>,
    end: Option<Step>,
    cancelled: bool,
    consumer: Option<Waker>,
    producer: Option<Waker>,
}

/// The bounded input of one substream, shared by the stage and the substream's first stage.
/// Both usually run on the same task; the lock is there for a substream with an async boundary
/// inside, and is taken once per batch on each side.
struct Feed<T> {
    state: Mutex<FeedState<T>>,
    capacity: usize,
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Wakes `w` unless it is this task, which is running now and will look again.
fn wake_other(w: Option<Waker>, cx: &Context<'_>) {
    if let Some(w) = w {
        if !w.will_wake(cx.waker()) {
            w.wake();
        }
    }
}

impl<T> Feed<T> {
    fn new(capacity: usize) -> Self {
        Feed {
            state: Mutex::new(FeedState {
                buf: VecDeque::with_capacity(capacity),
                end: None,
                cancelled: false,
                consumer: None,
                producer: None,
            }),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, FeedState<T>> {
        // No user code runs under this lock, so a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `x` to the substream; `Err(x)` when its buffer is full (unless `force`). An
    /// element for a substream that cancelled its input is dropped.
    fn offer(&self, x: T, force: bool, cx: &Context<'_>) -> Result<(), T> {
        let mut st = self.lock();
        if st.cancelled {
            return Ok(());
        }
        if !force && st.buf.len() >= self.capacity {
            return Err(x);
        }
        st.buf.push_back(x);
        let w = st.consumer.take();
        drop(st);
        wake_other(w, cx);
        Ok(())
    }

    /// Ends the substream's input after what it holds (a failure goes first).
    fn finish(&self, end: Step, cx: &Context<'_>) {
        let mut st = self.lock();
        if st.end.is_some() {
            return;
        }
        if matches!(end, Step::Failed(_)) {
            st.buf.clear();
        }
        st.end = Some(end);
        let w = st.consumer.take();
        drop(st);
        wake_other(w, cx);
    }

    /// Whether the substream holds elements it has not taken.
    fn holds(&self) -> bool {
        let st = self.lock();
        !st.cancelled && !st.buf.is_empty()
    }

    /// Waits for room, or with `drain` for the buffer to empty: `false` if that is so already
    /// (or the substream is gone), else the task is woken when the substream takes elements.
    fn wait_for(&self, drain: bool, cx: &Context<'_>) -> bool {
        let mut st = self.lock();
        let waiting = if drain {
            !st.buf.is_empty()
        } else {
            st.buf.len() >= self.capacity
        };
        if st.cancelled || !waiting {
            return false;
        }
        register(&mut st.producer, cx);
        true
    }
}

/// The first stage of a substream: reads its [`Feed`].
struct SubSource<T> {
    feed: Arc<Feed<T>>,
}

impl<T: Send + 'static> Pull<T> for SubSource<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let mut st = self.feed.lock();
        if !st.buf.is_empty() {
            let n = max.min(st.buf.len());
            out.extend(st.buf.drain(..n));
            let w = st.producer.take();
            drop(st);
            wake_other(w, cx);
            return Poll::Ready(Step::Open);
        }
        if let Some(end) = st.end.take() {
            let w = st.producer.take();
            drop(st);
            wake_other(w, cx);
            return Poll::Ready(end);
        }
        register(&mut st.consumer, cx);
        Poll::Pending
    }

    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let mut st = self.feed.lock();
        if let Some(Step::Failed(e)) = &st.end {
            return Poll::Ready(e.clone());
        }
        register(&mut st.consumer, cx);
        Poll::Pending
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.feed.lock();
        if st.buf.is_empty() && matches!(st.end, Some(Step::Complete)) {
            return Poll::Ready(());
        }
        register(&mut st.consumer, cx);
        Poll::Pending
    }
}

impl<T> Drop for SubSource<T> {
    fn drop(&mut self) {
        // What it holds stays until the stage sees the substream end, which may reclaim it.
        let mut st = self.feed.lock();
        st.cancelled = true;
        if let Some(w) = st.producer.take() {
            drop(st);
            w.wake();
        }
    }
}

/// Why the oldest waiting element cannot go on yet.
#[derive(Clone, Copy)]
enum Blocked {
    /// The input of its substream is full.
    Room(usize),
    /// It would open a substream past the limit while this one still holds elements.
    Drain(usize),
}

struct Sub<T, Out> {
    feed: Arc<Feed<T>>,
    chain: BoxPull<Out>,
    /// Whether its input has been ended.
    finished: bool,
}

/// Splits upstream into substreams with a [`Router`], runs each through the substream flow,
/// and emits their elements: round-robin from up to `parallelism` at once, or one after the
/// other for `parallelism == 1` (`concat_substreams`).
pub(crate) struct MergeSubstreams<T, Out> {
    up: Option<BoxPull<T>>,
    router: Box<dyn Router<T>>,
    inner: Flow<T, Out, NotUsed>,
    attrs: Attributes,
    sup: Supervisor,
    parallelism: usize,
    capacity: usize,
    /// Elements read from upstream and not yet handed to a substream, oldest first: at most
    /// `capacity`, as upstream is read only when this is empty.
    waiting: VecDeque<T>,
    batch: Vec<T>,
    /// Open substreams by slot; `order` lists the occupied slots, oldest first.
    subs: Vec<Option<Sub<T, Out>>>,
    free: Vec<usize>,
    order: Vec<usize>,
    next: usize,
    /// The substream input that holds up the oldest waiting element.
    blocked_on: Option<Blocked>,
}

impl<T: Send + 'static, Out: Send + 'static> MergeSubstreams<T, Out> {
    pub(crate) fn new(
        up: BoxPull<T>,
        router: Box<dyn Router<T>>,
        inner: Flow<T, Out, NotUsed>,
        parallelism: usize,
        attrs: &Attributes,
    ) -> Self {
        let capacity = attrs.input_buffer_size().max(1);
        MergeSubstreams {
            up: Some(up),
            router,
            inner,
            attrs: attrs.clone(),
            sup: Supervisor::new(
                if parallelism == 1 {
                    "concat_substreams"
                } else {
                    "merge_substreams"
                },
                attrs,
            ),
            parallelism: parallelism.max(1),
            capacity,
            waiting: VecDeque::with_capacity(capacity),
            batch: Vec::with_capacity(capacity),
            subs: Vec::new(),
            free: Vec::new(),
            order: Vec::new(),
            next: 0,
            blocked_on: None,
        }
    }

    fn feed(&self, slot: usize) -> &Arc<Feed<T>> {
        &self.subs[slot]
            .as_ref()
            .expect("routed to an open slot")
            .feed
    }

    fn finish(&mut self, slot: usize, cx: &Context<'_>) {
        if let Some(sub) = self.subs[slot].as_mut() {
            if !sub.finished {
                sub.finished = true;
                sub.feed.finish(Step::Complete, cx);
            }
        }
    }

    fn open(&mut self) -> usize {
        let feed = Arc::new(Feed::new(self.capacity));
        let mut m = Materializer::new();
        let source = SubSource { feed: feed.clone() };
        let (chain, ()) = self
            .inner
            .materialize_into(&mut m, Box::new(source), &self.attrs);
        m.launch();
        let sub = Sub {
            feed,
            chain,
            finished: false,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.subs[slot] = Some(sub);
                slot
            }
            None => {
                self.subs.push(Some(sub));
                self.subs.len() - 1
            }
        };
        self.order.push(slot);
        slot
    }

    fn end(&mut self, slot: usize) -> Result<(), StreamError> {
        let sub = self.subs[slot].take().expect("an open slot");
        self.free.push(slot);
        self.order.retain(|&s| s != slot);
        self.router.ended(slot);
        if self.router.reclaims() {
            // The elements it had not taken are older than every waiting one: they go first.
            let rest = std::mem::take(&mut sub.feed.lock().buf);
            for x in rest.into_iter().rev() {
                let router = &mut self.router;
                match self.sup.call(|| router.arrive_front(&x)) {
                    Ok(()) => self.waiting.push_front(x),
                    Err(e) => {
                        if self.sup.decide(&e) == Directive::Stop {
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands the waiting element `i` on if it can go; `Ok(false)` if it must wait.
    fn route_one(&mut self, i: usize, force: bool, cx: &Context<'_>) -> Result<bool, StreamError> {
        let d = self.router.route(i);
        if let Some(slot) = d.close_first {
            self.finish(slot, cx);
            self.router.detached(slot);
        }
        let slot = match d.route {
            Route::Drop => {
                self.router.taken(i);
                drop(self.waiting.remove(i));
                return Ok(true);
            }
            Route::To(slot) => slot,
            Route::Open => {
                let max = self.router.max_substreams();
                if self.order.len() >= max {
                    // An open substream that has not taken all it was given may still end
                    // when it does (`take`), freeing its slot: wait for that first.
                    if let Some(&slot) = self.order.iter().find(|&&s| self.feed(s).holds()) {
                        self.blocked_on = Some(Blocked::Drain(slot));
                        return Ok(false);
                    }
                    let e = StreamError::TooManySubstreams { max };
                    if self.sup.decide(&e) == Directive::Stop {
                        return Err(e);
                    }
                    self.router.taken(i);
                    drop(self.waiting.remove(i));
                    return Ok(true);
                }
                if self.order.len() >= self.parallelism {
                    return Ok(false);
                }
                let slot = self.open();
                self.router.opened(i, slot);
                slot
            }
        };
        let x = self.waiting.remove(i).expect("a waiting element");
        if let Err(x) = self.feed(slot).offer(x, force, cx) {
            self.waiting.insert(i, x);
            self.blocked_on = Some(Blocked::Room(slot));
            return Ok(false);
        }
        self.router.taken(i);
        if d.then_close {
            self.finish(slot, cx);
            self.router.detached(slot);
        }
        Ok(true)
    }

    /// Routes waiting elements, oldest first; once upstream has completed, also those behind an
    /// element waiting for a substream slot (when the router allows), so that every open
    /// substream can complete.
    fn route_waiting(&mut self, cx: &Context<'_>) -> Result<bool, StreamError> {
        self.blocked_on = None;
        let mut progressed = false;
        while !self.waiting.is_empty() {
            if !self.route_one(0, false, cx)? {
                break;
            }
            progressed = true;
        }
        if self.up.is_none() {
            if self.router.reorders() {
                let mut i = 0;
                while i < self.waiting.len() {
                    if self.router.route(i).route == Route::Open {
                        i += 1;
                    } else if self.route_one(i, true, cx)? {
                        progressed = true;
                    } else {
                        i += 1;
                    }
                }
            }
            // Upstream is done: a substream that no waiting element goes to is complete. Not
            // while a new key waits to see whether it is one too many: ending the substreams
            // now would free their slots, and whether the stream fails would depend on when
            // upstream's completion came.
            if matches!(self.blocked_on, Some(Blocked::Drain(_))) {
                return Ok(progressed);
            }
            let keep = match self.waiting.front() {
                Some(_) => match self.router.route(0).route {
                    Route::To(slot) => Some(slot),
                    _ => None,
                },
                None => None,
            };
            for k in 0..self.order.len() {
                let slot = self.order[k];
                if Some(slot) != keep {
                    self.finish(slot, cx);
                }
            }
        }
        Ok(progressed)
    }

    /// Pulls the open substreams into `out`; `Ok(true)` if any emitted or ended.
    fn pull_subs(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Out>,
        start: usize,
        max: usize,
    ) -> Result<bool, StreamError> {
        let n = self.order.len();
        if n == 0 {
            return Ok(false);
        }
        let first = if self.parallelism == 1 {
            0
        } else {
            self.next % n
        };
        self.next = self.next.wrapping_add(1);
        let mut progressed = false;
        let mut ended = Vec::new();
        for k in 0..n {
            let room = max - (out.len() - start);
            if room == 0 {
                break;
            }
            let slot = self.order[(first + k) % n];
            let sub = self.subs[slot].as_mut().expect("an open slot");
            match sub.chain.pull(cx, out, room) {
                Poll::Pending => {}
                Poll::Ready(Step::Open) => progressed = true,
                Poll::Ready(Step::Complete) => ended.push(slot),
                Poll::Ready(Step::Failed(e)) => {
                    // As Akka's `flatMapMerge`: the other substreams and upstream are cancelled.
                    self.subs.clear();
                    self.order.clear();
                    self.up = None;
                    return Err(e);
                }
            }
        }
        progressed |= !ended.is_empty();
        for slot in ended {
            self.end(slot)?;
        }
        Ok(progressed)
    }

    /// Fails every substream's input, lets each substream see it, and fails the stage.
    fn fail(&mut self, cx: &mut Context<'_>, e: StreamError) -> Poll<Step> {
        self.up = None;
        self.waiting.clear();
        let mut scratch = Vec::new();
        for slot in std::mem::take(&mut self.order) {
            if let Some(mut sub) = self.subs[slot].take() {
                sub.feed.finish(Step::Failed(e.clone()), cx);
                let _ = sub.chain.pull(cx, &mut scratch, 1);
                scratch.clear();
            }
        }
        Poll::Ready(Step::Failed(e))
    }
}

impl<T: Send + 'static, Out: Send + 'static> Pull<Out> for MergeSubstreams<T, Out> {
    /// An upstream failure needs no demand: it reaches every substream, then downstream.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<StreamError> {
        let Some(up) = self.up.as_mut() else {
            return Poll::Pending;
        };
        match up.poll_failed(cx) {
            Poll::Ready(e) => {
                let _ = self.fail(cx, e.clone());
                Poll::Ready(e)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Out>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let mut progressed = match self.route_waiting(cx) {
                Ok(p) => p,
                Err(e) => return self.fail(cx, e),
            };
            match self.pull_subs(cx, out, start, max) {
                Ok(p) => progressed |= p,
                // A substream failed: the stream fails, cancelling upstream and the others.
                Err(e) => return self.fail(cx, e),
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            if self.up.is_none() && self.waiting.is_empty() && self.order.is_empty() {
                return Poll::Ready(Step::Complete);
            }
            if let Some(up) = self.up.as_mut() {
                if self.waiting.is_empty() {
                    if let Poll::Ready(step) = up.pull(cx, &mut self.batch, self.capacity) {
                        progressed = true;
                        let mut batch = std::mem::take(&mut self.batch);
                        let mut failure = None;
                        for x in batch.drain(..) {
                            let router = &mut self.router;
                            match self.sup.call(|| router.arrive(&x)) {
                                Ok(()) => self.waiting.push_back(x),
                                Err(e) => {
                                    if self.sup.decide(&e) == Directive::Stop {
                                        failure = Some(e);
                                        break;
                                    }
                                }
                            }
                        }
                        batch.clear();
                        self.batch = batch;
                        if let Some(e) = failure {
                            return self.fail(cx, e);
                        }
                        match step {
                            Step::Open => {}
                            Step::Complete => self.up = None,
                            Step::Failed(e) => return self.fail(cx, e),
                        }
                    }
                } else if let Poll::Ready(e) = up.poll_failed(cx) {
                    // Held up by a substream: a failure still reaches every substream at once.
                    return self.fail(cx, e);
                }
            }
            if !progressed {
                let still_blocked = match self.blocked_on {
                    Some(Blocked::Room(slot)) => {
                        self.subs[slot].is_some() && self.feed(slot).wait_for(false, cx)
                    }
                    Some(Blocked::Drain(slot)) => {
                        self.subs[slot].is_some() && self.feed(slot).wait_for(true, cx)
                    }
                    None => true,
                };
                if !still_blocked {
                    continue;
                }
                return if out.len() > start {
                    Poll::Ready(Step::Open)
                } else {
                    Poll::Pending
                };
            }
        }
    }
}

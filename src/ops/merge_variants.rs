//! Fan-in stages beyond `merge`: sorted, latest, interleave, zip of N, zip latest.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use crate::stage::{BoxPull, Pull, Step};

/// Pulls up to `want` more elements of `side` into `buf`; `Some(Err)` on failure, and marks the
/// side done (`None`) on completion.
fn fill<T: 'static>(
    side: &mut Option<BoxPull<T>>,
    buf: &mut VecDeque<T>,
    scratch: &mut Vec<T>,
    cx: &mut Context<'_>,
    want: usize,
) -> Result<(), crate::StreamError> {
    let Some(p) = side.as_mut() else {
        return Ok(());
    };
    if want == 0 {
        return Ok(());
    }
    match p.pull(cx, scratch, want) {
        Poll::Pending => Ok(()),
        Poll::Ready(step) => {
            buf.extend(scratch.drain(..));
            match step {
                Step::Open => Ok(()),
                Step::Complete => {
                    *side = None;
                    Ok(())
                }
                Step::Failed(e) => Err(e),
            }
        }
    }
}

fn open_or_pending(emitted: bool) -> Poll<Step> {
    if emitted {
        Poll::Ready(Step::Open)
    } else {
        Poll::Pending
    }
}

/// Merges two sorted inputs into one sorted output; needs the head of both inputs (or one
/// completed) to emit.
pub(crate) struct MergeSorted<T> {
    sides: [Option<BoxPull<T>>; 2],
    bufs: [VecDeque<T>; 2],
    scratch: Vec<T>,
}

impl<T> MergeSorted<T> {
    pub(crate) fn new(a: BoxPull<T>, b: BoxPull<T>) -> Self {
        MergeSorted {
            sides: [Some(a), Some(b)],
            bufs: [VecDeque::new(), VecDeque::new()],
            scratch: Vec::new(),
        }
    }
}

impl<T: Ord + Send + 'static> Pull<T> for MergeSorted<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            for i in 0..2 {
                if self.bufs[i].is_empty() {
                    if let Err(e) = fill(
                        &mut self.sides[i],
                        &mut self.bufs[i],
                        &mut self.scratch,
                        cx,
                        max,
                    ) {
                        return Poll::Ready(Step::Failed(e));
                    }
                }
            }
            let mut emitted = false;
            while out.len() - start < max {
                let pick = match (self.bufs[0].front(), self.bufs[1].front()) {
                    (Some(a), Some(b)) => usize::from(b < a),
                    (Some(_), None) if self.sides[1].is_none() => 0,
                    (None, Some(_)) if self.sides[0].is_none() => 1,
                    _ => break,
                };
                out.extend(self.bufs[pick].pop_front());
                emitted = true;
            }
            let done = (0..2).all(|i| self.sides[i].is_none() && self.bufs[i].is_empty());
            if done {
                return Poll::Ready(Step::Complete);
            }
            if out.len() - start == max || !emitted {
                return open_or_pending(out.len() > start);
            }
        }
    }
}

/// Takes `segment` elements from each input in turn (Akka's `Interleave`).
pub(crate) struct Interleave<T> {
    inputs: Vec<Option<BoxPull<T>>>,
    current: usize,
    taken: usize,
    segment: usize,
    eager_close: bool,
}

impl<T> Interleave<T> {
    pub(crate) fn new(inputs: Vec<BoxPull<T>>, segment: usize, eager_close: bool) -> Self {
        Interleave {
            inputs: inputs.into_iter().map(Some).collect(),
            current: 0,
            taken: 0,
            segment: segment.max(1),
            eager_close,
        }
    }

    fn advance(&mut self) {
        self.taken = 0;
        let n = self.inputs.len();
        for k in 1..=n {
            let i = (self.current + k) % n;
            if self.inputs[i].is_some() {
                self.current = i;
                return;
            }
        }
    }
}

impl<T: Send + 'static> Pull<T> for Interleave<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            if self.inputs.iter().all(Option::is_none) {
                return Poll::Ready(Step::Complete);
            }
            let room = max - (out.len() - start);
            if room == 0 {
                return Poll::Ready(Step::Open);
            }
            let Some(input) = self.inputs[self.current].as_mut() else {
                self.advance();
                continue;
            };
            let want = room.min(self.segment - self.taken);
            let before = out.len();
            match input.pull(cx, out, want) {
                Poll::Pending => return open_or_pending(out.len() > start),
                Poll::Ready(step) => {
                    self.taken += out.len() - before;
                    match step {
                        Step::Open => {}
                        Step::Complete => {
                            self.inputs[self.current] = None;
                            if self.eager_close {
                                self.inputs.clear();
                                return Poll::Ready(Step::Complete);
                            }
                            self.advance();
                            continue;
                        }
                        Step::Failed(e) => {
                            self.inputs.clear();
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
                    if self.taken == self.segment {
                        self.advance();
                    }
                }
            }
        }
    }
}

/// Emits a `Vec` with one element from each input (Akka's `ZipN`); completes when any input has
/// completed and its buffered elements are used up.
pub(crate) struct ZipN<T> {
    inputs: Vec<Option<BoxPull<T>>>,
    bufs: Vec<VecDeque<T>>,
    scratch: Vec<T>,
}

impl<T> ZipN<T> {
    pub(crate) fn new(inputs: Vec<BoxPull<T>>) -> Self {
        let n = inputs.len();
        ZipN {
            inputs: inputs.into_iter().map(Some).collect(),
            bufs: (0..n).map(|_| VecDeque::new()).collect(),
            scratch: Vec::new(),
        }
    }
}

impl<T: Send + 'static> Pull<Vec<T>> for ZipN<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Vec<T>>, max: usize) -> Poll<Step> {
        let start = out.len();
        loop {
            let want = max - (out.len() - start);
            if want == 0 {
                return Poll::Ready(Step::Open);
            }
            for i in 0..self.inputs.len() {
                let need = want.saturating_sub(self.bufs[i].len());
                if let Err(e) = fill(
                    &mut self.inputs[i],
                    &mut self.bufs[i],
                    &mut self.scratch,
                    cx,
                    need,
                ) {
                    return Poll::Ready(Step::Failed(e));
                }
            }
            let rows = self
                .bufs
                .iter()
                .map(VecDeque::len)
                .min()
                .unwrap_or(0)
                .min(want);
            for _ in 0..rows {
                out.push(
                    self.bufs
                        .iter_mut()
                        .filter_map(VecDeque::pop_front)
                        .collect(),
                );
            }
            let exhausted = self.inputs.is_empty()
                || (0..self.inputs.len())
                    .any(|i| self.inputs[i].is_none() && self.bufs[i].is_empty());
            if exhausted {
                self.inputs.clear();
                return Poll::Ready(Step::Complete);
            }
            if rows == 0 {
                return open_or_pending(out.len() > start);
            }
        }
    }
}

/// Emits the latest element of every input each time any input emits, once all have emitted
/// (Akka's `MergeLatest`); completes when all inputs complete, or any with `eager_complete`.
pub(crate) struct MergeLatest<T> {
    inputs: Vec<Option<BoxPull<T>>>,
    latest: Vec<Option<T>>,
    scratch: Vec<T>,
    next: usize,
    eager_complete: bool,
}

impl<T> MergeLatest<T> {
    pub(crate) fn new(inputs: Vec<BoxPull<T>>, eager_complete: bool) -> Self {
        let n = inputs.len();
        MergeLatest {
            inputs: inputs.into_iter().map(Some).collect(),
            latest: (0..n).map(|_| None).collect(),
            scratch: Vec::new(),
            next: 0,
            eager_complete,
        }
    }
}

impl<T: Clone + Send + 'static> Pull<Vec<T>> for MergeLatest<T> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<Vec<T>>, max: usize) -> Poll<Step> {
        let start = out.len();
        let n = self.inputs.len();
        let first = self.next;
        self.next = (self.next + 1) % n.max(1);
        let mut progressed = true;
        while progressed {
            progressed = false;
            for k in 0..n {
                let room = max - (out.len() - start);
                if room == 0 {
                    return Poll::Ready(Step::Open);
                }
                let i = (first + k) % n;
                let Some(input) = self.inputs[i].as_mut() else {
                    continue;
                };
                // Before every input has a value, one element is enough to learn it.
                let want = if self.latest.iter().all(Option::is_some) {
                    room
                } else {
                    1
                };
                match input.pull(cx, &mut self.scratch, want) {
                    Poll::Pending => {}
                    Poll::Ready(step) => {
                        for x in self.scratch.drain(..) {
                            self.latest[i] = Some(x);
                            if self.latest.iter().all(Option::is_some) {
                                out.push(self.latest.iter().flatten().cloned().collect());
                            }
                            progressed = true;
                        }
                        match step {
                            Step::Open => {}
                            Step::Complete => {
                                self.inputs[i] = None;
                                progressed = true;
                                if self.eager_complete {
                                    self.inputs.clear();
                                    return Poll::Ready(Step::Complete);
                                }
                            }
                            Step::Failed(e) => {
                                self.inputs.clear();
                                return Poll::Ready(Step::Failed(e));
                            }
                        }
                    }
                }
            }
            if self.inputs.iter().all(Option::is_none) {
                return Poll::Ready(Step::Complete);
            }
        }
        open_or_pending(out.len() > start)
    }
}

/// Emits `(latest a, latest b)` each time either input emits, once both have emitted (Akka's
/// `ZipLatest`); completes when either input completes.
pub(crate) struct ZipLatest<A, B> {
    a: Option<BoxPull<A>>,
    b: Option<BoxPull<B>>,
    la: Option<A>,
    lb: Option<B>,
    sa: Vec<A>,
    sb: Vec<B>,
}

impl<A, B> ZipLatest<A, B> {
    pub(crate) fn new(a: BoxPull<A>, b: BoxPull<B>) -> Self {
        ZipLatest {
            a: Some(a),
            b: Some(b),
            la: None,
            lb: None,
            sa: Vec::new(),
            sb: Vec::new(),
        }
    }
}

impl<A: Clone + Send + 'static, B: Clone + Send + 'static> Pull<(A, B)> for ZipLatest<A, B> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<(A, B)>, max: usize) -> Poll<Step> {
        let start = out.len();
        let mut progressed = true;
        while progressed && out.len() - start < max {
            progressed = false;
            let room = max - (out.len() - start);
            if let Some(a) = self.a.as_mut() {
                let want = if self.lb.is_some() { room } else { 1 };
                if let Poll::Ready(step) = a.pull(cx, &mut self.sa, want) {
                    for x in self.sa.drain(..) {
                        progressed = true;
                        if let Some(b) = &self.lb {
                            out.push((x.clone(), b.clone()));
                        }
                        self.la = Some(x);
                    }
                    match step {
                        Step::Open => {}
                        Step::Complete => return Poll::Ready(Step::Complete),
                        Step::Failed(e) => return Poll::Ready(Step::Failed(e)),
                    }
                }
            }
            let room = max - (out.len() - start);
            if room == 0 {
                break;
            }
            if let Some(b) = self.b.as_mut() {
                let want = if self.la.is_some() { room } else { 1 };
                if let Poll::Ready(step) = b.pull(cx, &mut self.sb, want) {
                    for y in self.sb.drain(..) {
                        progressed = true;
                        if let Some(a) = &self.la {
                            out.push((a.clone(), y.clone()));
                        }
                        self.lb = Some(y);
                    }
                    match step {
                        Step::Open => {}
                        Step::Complete => return Poll::Ready(Step::Complete),
                        Step::Failed(e) => return Poll::Ready(Step::Failed(e)),
                    }
                }
            }
        }
        open_or_pending(out.len() > start)
    }
}

//! The stage behind `session_windowed_by`: session windows, merged as records bridge them.

use std::collections::{BTreeMap, BTreeSet};

use super::clock::Clock;
use super::{EmitMode, SessionWindows, Windowed};
use crate::ops::{Ctl, Emit, Logic};
use crate::StreamError;

/// The per-kind parts of a session aggregation: a starting value (`None`: the first value is
/// the aggregate, as `reduce`), how sessions merge, and how a value is added.
pub(crate) struct SessionFns<I, M, G> {
    pub(crate) init: I,
    pub(crate) merge: M,
    pub(crate) agg: G,
}

type Out<K, A> = (Windowed<K>, Option<A>);

/// Sessions by `(key, start)` holding `(end, aggregate)`, and by `(end, key, start)` for closing.
pub(crate) struct SessionAggregate<K, V, A, T, I, M, G> {
    gap: i64,
    emit: EmitMode,
    timestamp: T,
    fns: SessionFns<I, M, G>,
    clock: Clock,
    sessions: BTreeMap<(K, i64), (i64, A)>,
    by_end: BTreeSet<(i64, K, i64)>,
    _v: std::marker::PhantomData<fn(V)>,
}

impl<K, V, A, T, I, M, G> SessionAggregate<K, V, A, T, I, M, G> {
    pub(crate) fn new(
        windows: SessionWindows,
        emit: EmitMode,
        timestamp: T,
        fns: SessionFns<I, M, G>,
        metrics: super::WindowMetrics,
    ) -> Self {
        SessionAggregate {
            gap: windows.gap,
            emit,
            timestamp,
            fns,
            // A session can still grow while a record within the gap after its end is not late.
            clock: Clock::new(windows.grace.saturating_add(windows.gap), metrics),
            sessions: BTreeMap::new(),
            by_end: BTreeSet::new(),
            _v: std::marker::PhantomData,
        }
    }
}

impl<K, V, A, T, I, M, G> SessionAggregate<K, V, A, T, I, M, G>
where
    K: Ord + Clone,
{
    /// Removes the sessions that stream time has closed, emitting them in final modes.
    ///
    /// A session closes when stream time reaches `end + gap + grace`: then Kafka Streams'
    /// session store no longer returns it (its retention is `gap + grace`) and `suppress`
    /// emits it. A record can still create a session ending there, which closes at once.
    fn close(&mut self, out: &mut Emit<'_, Out<K, A>>) {
        let close = self.clock.close_time();
        while let Some((end, _, _)) = self.by_end.first() {
            if *end > close {
                break;
            }
            let (end, key, start) = self.by_end.pop_first().expect("first was just seen");
            if let Some((_, agg)) = self.sessions.remove(&(key.clone(), start)) {
                if self.emit != EmitMode::Updates {
                    out.push((Windowed { key, start, end }, Some(agg)));
                }
            }
        }
    }
}

impl<K, V, A, T, I, M, G> Logic<(K, V), Out<K, A>> for SessionAggregate<K, V, A, T, I, M, G>
where
    K: Ord + Clone + Send + 'static,
    V: Send + 'static,
    A: Clone + Send + 'static,
    T: FnMut(&(K, V)) -> i64 + Send + 'static,
    I: FnMut() -> Option<A> + Send + 'static,
    M: FnMut(&K, A, A) -> A + Send + 'static,
    G: FnMut(&K, V, Option<A>) -> A + Send + 'static,
{
    fn on_element(&mut self, x: (K, V), out: &mut Emit<'_, Out<K, A>>) -> Result<Ctl, StreamError> {
        let timestamp = &mut self.timestamp;
        let ts = out.call(|| timestamp(&x))?;
        if !self.clock.observe(ts) {
            return Ok(Ctl::Continue);
        }
        let (key, value) = x;
        let gap = self.gap;
        // Sessions of one key are disjoint and sorted, so those within the gap are the last
        // ones starting at or before `ts + gap`.
        let lo = (key.clone(), i64::MIN);
        let hi = (key.clone(), ts.saturating_add(gap));
        let found: Vec<(i64, i64)> = self
            .sessions
            .range(lo..=hi)
            .rev()
            .take_while(|(_, (end, _))| *end >= ts.saturating_sub(gap))
            .map(|((_, start), (end, _))| (*start, *end))
            .collect();
        let start = found.iter().map(|s| s.0).fold(ts, i64::min);
        let end = found.iter().map(|s| s.1).fold(ts, i64::max);
        if end < self.clock.close_time() {
            self.clock.drop_late(ts, start, end);
            self.close(out);
            self.clock.publish(self.sessions.len());
            return Ok(Ctl::Continue);
        }
        let fns = &mut self.fns;
        let mut acc = out.call(&mut fns.init)?;
        // Merge in order of start, as the store returns them.
        for &(s, _) in found.iter().rev() {
            let (_, a) = &self.sessions[&(key.clone(), s)];
            let a = a.clone();
            acc = Some(match acc {
                None => a,
                Some(prev) => out.call(|| (fns.merge)(&key, prev, a))?,
            });
        }
        let next = out.call(|| (fns.agg)(&key, value, acc))?;
        // Kafka Streams replaces (and deletes downstream) the sessions found unless the merged
        // session is the record's own `[ts, ts]`.
        let merged = found.iter().any(|&s| s != (ts, ts));
        for &(s, e) in found.iter().rev() {
            self.sessions.remove(&(key.clone(), s));
            self.by_end.remove(&(e, key.clone(), s));
            if merged && self.emit == EmitMode::Updates {
                // As Kafka Streams: each replaced session is deleted downstream (a tombstone).
                let w = Windowed {
                    key: key.clone(),
                    start: s,
                    end: e,
                };
                out.push((w, None));
            }
        }
        if self.emit == EmitMode::Updates {
            let w = Windowed {
                key: key.clone(),
                start,
                end,
            };
            out.push((w, Some(next.clone())));
        }
        self.by_end.insert((end, key.clone(), start));
        self.sessions.insert((key, start), (end, next));
        self.close(out);
        self.clock.publish(self.sessions.len());
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, Out<K, A>>) -> Result<(), StreamError> {
        if self.emit == EmitMode::FinalOrComplete {
            while let Some((end, key, start)) = self.by_end.pop_first() {
                if let Some((_, agg)) = self.sessions.remove(&(key.clone(), start)) {
                    out.push((Windowed { key, start, end }, Some(agg)));
                }
            }
        }
        self.sessions.clear();
        self.by_end.clear();
        self.clock.publish(0);
        Ok(())
    }

    fn on_restart(&mut self, _out: &mut Emit<'_, Out<K, A>>) -> Ctl {
        self.sessions.clear();
        self.by_end.clear();
        self.clock.publish(0);
        Ctl::Continue
    }
}

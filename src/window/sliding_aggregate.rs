//! The stage behind `sliding_windowed_by`: sliding windows created and updated by the records,
//! with Kafka Streams' rules (`KStreamSlidingWindowAggregate`).

use std::collections::{BTreeMap, BTreeSet};

use super::clock::Clock;
use super::{EmitMode, SlidingWindows, Windowed};
use crate::ops::{Ctl, Emit, Logic};
use crate::StreamError;

/// A window's aggregate and the largest timestamp in it.
#[derive(Clone)]
struct Win<A> {
    agg: A,
    max_ts: i64,
}

/// What a record found among its key's windows.
struct Found<A> {
    starts: BTreeSet<i64>,
    left_agg: Option<Win<A>>,
    right_agg: Option<Win<A>>,
    left_created: bool,
    right_created: bool,
    previous: Option<i64>,
}

/// Windows by `(key, start)`. Kafka Streams keeps them in a window store whose retention is
/// `2 * difference + grace` past the largest start stored; a window older than that is not
/// found any more, so weir forgets it then too (`by_start`). In final modes `pending` holds the
/// windows not yet emitted, by start (hence end).
pub(crate) struct SlidingAggregate<K, V, A, T, G> {
    difference: i64,
    emit: EmitMode,
    timestamp: T,
    agg: G,
    clock: Clock,
    windows: BTreeMap<(K, i64), Win<A>>,
    by_start: BTreeSet<(i64, K)>,
    pending: BTreeSet<(i64, K)>,
    retention: i64,
    store_time: i64,
    _v: std::marker::PhantomData<fn(V)>,
}

impl<K, V, A, T, G> SlidingAggregate<K, V, A, T, G> {
    pub(crate) fn new(
        windows: SlidingWindows,
        emit: EmitMode,
        timestamp: T,
        agg: G,
        clock: Clock,
    ) -> Self {
        SlidingAggregate {
            difference: windows.difference,
            emit,
            timestamp,
            agg,
            clock,
            windows: BTreeMap::new(),
            by_start: BTreeSet::new(),
            pending: BTreeSet::new(),
            retention: windows
                .difference
                .saturating_mul(2)
                .saturating_add(windows.grace),
            store_time: i64::MIN,
            _v: std::marker::PhantomData,
        }
    }
}

type Out<K, A> = (Windowed<K>, A);

impl<K, V, A, T, G> SlidingAggregate<K, V, A, T, G>
where
    K: Ord + Clone,
    V: Clone,
    A: Clone,
    G: FnMut(&K, V, Option<A>) -> A,
{
    /// The earliest start still found.
    fn visible_from(&self) -> i64 {
        self.store_time
            .saturating_sub(self.retention)
            .saturating_add(1)
    }

    /// The windows of `key` starting in `lo..=hi` that are still found, ascending.
    fn fetch(&self, key: &K, lo: i64, hi: i64) -> Vec<(i64, Win<A>)> {
        let lo = lo.max(self.visible_from());
        if lo > hi {
            return Vec::new();
        }
        self.windows
            .range((key.clone(), lo)..=(key.clone(), hi))
            .map(|((_, s), w)| (*s, w.clone()))
            .collect()
    }

    fn put(&mut self, key: &K, start: i64, win: Win<A>) {
        self.store_time = self.store_time.max(start);
        if self.windows.insert((key.clone(), start), win).is_none() {
            self.by_start.insert((start, key.clone()));
            if self.emit != EmitMode::Updates {
                self.pending.insert((start, key.clone()));
            }
        }
    }

    fn forward(&self, key: &K, start: i64, agg: &A, out: &mut Emit<'_, Out<K, A>>) {
        if self.emit == EmitMode::Updates {
            let w = Windowed {
                key: key.clone(),
                start,
                end: start.saturating_add(self.difference),
            };
            out.push((w, agg.clone()));
        }
    }

    /// Adds the record to the window at `start` holding `prev` (`None`: a new window), unless
    /// the window has closed: then the record is dropped from it.
    fn update(
        &mut self,
        key: &K,
        start: i64,
        prev: Option<Win<A>>,
        (value, ts): (&V, i64),
        out: &mut Emit<'_, Out<K, A>>,
    ) -> Result<(), StreamError> {
        let end = start.saturating_add(self.difference);
        if end < self.clock.close_time() {
            self.clock.drop_late(ts, start, end);
            return Ok(());
        }
        let max_ts = prev.as_ref().map_or(ts, |w| w.max_ts.max(ts));
        let agg = &mut self.agg;
        let v = value.clone();
        let next = out.call(|| agg(key, v, prev.map(|w| w.agg)))?;
        self.forward(key, start, &next, out);
        self.put(key, start, Win { agg: next, max_ts });
        Ok(())
    }

    /// A record at `ts >= difference`: the windows holding it are updated, from the latest
    /// start back to its own left window; the first one before that holds the previous record.
    fn process(
        &mut self,
        key: &K,
        value: &V,
        ts: i64,
        out: &mut Emit<'_, Out<K, A>>,
    ) -> Result<(), StreamError> {
        let d = self.difference;
        let mut f = Found {
            starts: BTreeSet::new(),
            left_agg: None,
            right_agg: None,
            left_created: false,
            right_created: false,
            previous: None,
        };
        let lo = ts.saturating_sub(d.saturating_mul(2)).max(0);
        for (start, win) in self.fetch(key, lo, ts.saturating_add(1)).into_iter().rev() {
            f.starts.insert(start);
            let end = start.saturating_add(d);
            if start == ts + 1 {
                f.right_created = true;
            } else if end > ts {
                if f.right_agg.is_none() {
                    f.right_agg = Some(win.clone());
                }
                self.update(key, start, Some(win), (value, ts), out)?;
            } else if end == ts {
                f.left_created = true;
                let max_ts = win.max_ts;
                self.update(key, start, Some(win), (value, ts), out)?;
                if max_ts < ts {
                    f.previous = Some(max_ts);
                } else {
                    // A record at `ts` was here before: every window it needs exists.
                    return Ok(());
                }
            } else {
                f.previous = Some(win.max_ts);
                f.left_agg = Some(win);
                break;
            }
        }
        // The previous record's right window, when this record is the first in it.
        if let Some(p) = f.previous {
            let start = p + 1;
            if !f.starts.contains(&start) && start.saturating_add(d) >= ts {
                self.update(key, start, None, (value, ts), out)?;
            }
        }
        // This record's left window, holding the records of the previous left window within it.
        if !f.left_created {
            let left = match (f.previous, f.left_agg) {
                (Some(p), Some(w)) if ts - d <= p => Some(Win {
                    agg: w.agg,
                    max_ts: ts,
                }),
                _ => None,
            };
            self.update(key, ts - d, left, (value, ts), out)?;
        }
        self.right_window(key, ts, f.right_created, f.right_agg, out);
        Ok(())
    }

    /// This record's right window, when later records exist: a copy of the latest window
    /// holding them (without this record). Kafka Streams creates it without a close check; it
    /// cannot be closed, as this record is not late.
    fn right_window(
        &mut self,
        key: &K,
        ts: i64,
        created: bool,
        right: Option<Win<A>>,
        out: &mut Emit<'_, Out<K, A>>,
    ) {
        if let Some(w) = right.filter(|w| !created && w.max_ts > ts) {
            self.forward(key, ts + 1, &w.agg, out);
            self.put(key, ts + 1, w);
        }
    }

    /// A record at `ts < difference`, whose left window would start before 0: it goes into
    /// `[0, difference]`, which holds all such records, and the right windows as usual.
    fn process_early(
        &mut self,
        key: &K,
        value: &V,
        ts: i64,
        out: &mut Emit<'_, Out<K, A>>,
    ) -> Result<(), StreamError> {
        let mut combined = None;
        let mut right_agg = None;
        let mut right_created = false;
        let mut previous = None;
        let mut starts = BTreeSet::new();
        for (start, win) in self.fetch(key, 0, ts + 1) {
            starts.insert(start);
            if start == 0 {
                if win.max_ts < ts {
                    previous = Some(win.max_ts);
                }
                combined = Some(win);
            } else if start <= ts {
                right_agg = Some(win.clone());
                self.update(key, start, Some(win), (value, ts), out)?;
            } else {
                right_created = true;
            }
        }
        if right_agg.is_none() {
            right_agg = combined.clone().filter(|w| w.max_ts > ts);
        }
        self.right_window(key, ts, right_created, right_agg, out);
        if let Some(p) = previous {
            if !starts.contains(&(p + 1)) {
                self.update(key, p + 1, None, (value, ts), out)?;
            }
        }
        self.update(key, 0, combined, (value, ts), out)
    }

    /// Emits, in final modes, the windows stream time has closed (no record can change them
    /// any more), and forgets the windows Kafka Streams' store no longer returns.
    fn close(&mut self, out: &mut Emit<'_, Out<K, A>>) {
        let close = self.clock.close_time();
        let d = self.difference;
        while let Some((start, _)) = self.pending.first() {
            if start.saturating_add(d) >= close {
                break;
            }
            let (start, key) = self.pending.pop_first().expect("first was just seen");
            if let Some(w) = self.windows.get(&(key.clone(), start)) {
                let end = start.saturating_add(d);
                out.push((Windowed { key, start, end }, w.agg.clone()));
            }
        }
        let from = self.visible_from();
        while let Some((start, key)) = self.by_start.first() {
            if *start >= from || self.pending.contains(&(*start, key.clone())) {
                break;
            }
            let (start, key) = self.by_start.pop_first().expect("first was just seen");
            self.windows.remove(&(key, start));
        }
    }
}

impl<K, V, A, T, G> Logic<(K, V), Out<K, A>> for SlidingAggregate<K, V, A, T, G>
where
    K: Ord + Clone + Send + 'static,
    V: Clone + Send + 'static,
    A: Clone + Send + 'static,
    T: FnMut(&(K, V)) -> i64 + Send + 'static,
    G: FnMut(&K, V, Option<A>) -> A + Send + 'static,
{
    fn on_element(&mut self, x: (K, V), out: &mut Emit<'_, Out<K, A>>) -> Result<Ctl, StreamError> {
        let timestamp = &mut self.timestamp;
        let ts = out.call(|| timestamp(&x))?;
        if !self.clock.observe(ts) {
            return Ok(Ctl::Continue);
        }
        let (key, value) = x;
        let d = self.difference;
        let result = if ts.saturating_add(1).saturating_add(d) <= self.clock.close_time() {
            // Even its right window would be closed.
            self.clock.drop_late(ts, ts - d, ts);
            Ok(())
        } else if ts < d {
            self.process_early(&key, &value, ts, out)
        } else {
            self.process(&key, &value, ts, out)
        };
        self.close(out);
        self.clock.publish(self.windows.len());
        result.map(|()| Ctl::Continue)
    }

    fn on_complete(&mut self, out: &mut Emit<'_, Out<K, A>>) -> Result<(), StreamError> {
        match self.emit {
            EmitMode::FinalOrComplete => {
                let d = self.difference;
                while let Some((start, key)) = self.pending.pop_first() {
                    if let Some(w) = self.windows.remove(&(key.clone(), start)) {
                        let end = start.saturating_add(d);
                        out.push((Windowed { key, start, end }, w.agg));
                    }
                }
            }
            EmitMode::Final if !self.pending.is_empty() => {
                tracing::debug!(
                    open_windows = self.pending.len(),
                    "window: upstream completed with windows still open; they are not emitted"
                );
            }
            _ => {}
        }
        self.windows.clear();
        self.by_start.clear();
        self.pending.clear();
        self.clock.publish(0);
        Ok(())
    }

    fn on_restart(&mut self, _out: &mut Emit<'_, Out<K, A>>) -> Ctl {
        self.windows.clear();
        self.by_start.clear();
        self.pending.clear();
        self.clock.publish(0);
        Ctl::Continue
    }
}

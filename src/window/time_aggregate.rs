//! The stage behind `windowed_by(TimeWindows)`: tumbling and hopping windowed aggregation.

use std::collections::BTreeMap;

use super::clock::Clock;
use super::{EmitMode, TimeWindows, Windowed};
use crate::ops::{Ctl, Emit, Logic};
use crate::StreamError;

/// Open windows keyed by `(start, key)`: ordered by start, hence by end (all have one size), so
/// the windows that close are always the first ones.
pub(crate) struct TimeAggregate<K, V, A, T, G> {
    windows: TimeWindows,
    emit: EmitMode,
    timestamp: T,
    agg: G,
    clock: Clock,
    open: BTreeMap<(i64, K), A>,
    _v: std::marker::PhantomData<fn(V)>,
}

impl<K, V, A, T, G> TimeAggregate<K, V, A, T, G> {
    pub(crate) fn new(
        windows: TimeWindows,
        emit: EmitMode,
        timestamp: T,
        agg: G,
        clock: Clock,
    ) -> Self {
        TimeAggregate {
            windows,
            emit,
            timestamp,
            agg,
            clock,
            open: BTreeMap::new(),
            _v: std::marker::PhantomData,
        }
    }
}

impl<K, V, A, T, G> TimeAggregate<K, V, A, T, G>
where
    K: Ord + Clone,
    A: Clone,
{
    /// Removes the windows that stream time has closed, emitting them in final modes.
    fn close(&mut self, out: &mut Emit<'_, (Windowed<K>, A)>) {
        let close = self.clock.close_time();
        let size = self.windows.size;
        while let Some(entry) = self.open.first_entry() {
            let start = entry.key().0;
            let end = start.saturating_add(size);
            if end > close {
                break;
            }
            let ((_, key), agg) = entry.remove_entry();
            if self.emit != EmitMode::Updates {
                out.push((Windowed { key, start, end }, agg));
            }
        }
    }
}

impl<K, V, A, T, G> Logic<(K, V), (Windowed<K>, A)> for TimeAggregate<K, V, A, T, G>
where
    K: Ord + Clone + Send + 'static,
    V: Clone + Send + 'static,
    A: Clone + Send + 'static,
    T: FnMut(&(K, V)) -> i64 + Send + 'static,
    G: FnMut(&K, V, Option<A>) -> A + Send + 'static,
{
    fn on_element(
        &mut self,
        x: (K, V),
        out: &mut Emit<'_, (Windowed<K>, A)>,
    ) -> Result<Ctl, StreamError> {
        let timestamp = &mut self.timestamp;
        let ts = out.call(|| timestamp(&x))?;
        if !self.clock.observe(ts) {
            return Ok(Ctl::Continue);
        }
        let close = self.clock.close_time();
        let size = self.windows.size;
        let (key, value) = x;
        let mut result = Ok(Ctl::Continue);
        for start in self.windows.starts(ts) {
            let end = start.saturating_add(size);
            if end <= close {
                self.clock.drop_late(ts, start, end);
                continue;
            }
            let slot = (start, key.clone());
            let prev = self.open.remove(&slot);
            let kept = out.supervised().then(|| prev.clone()).flatten();
            let agg = &mut self.agg;
            let v = value.clone();
            match out.call(|| agg(&key, v, prev)) {
                Ok(next) => {
                    if self.emit == EmitMode::Updates {
                        let w = Windowed {
                            key: key.clone(),
                            start,
                            end,
                        };
                        out.push((w, next.clone()));
                    }
                    self.open.insert(slot, next);
                }
                Err(e) => {
                    // Resume keeps the window as it was before this record.
                    if let Some(a) = kept {
                        self.open.insert(slot, a);
                    }
                    result = Err(e);
                    break;
                }
            }
        }
        self.close(out);
        self.clock.publish(self.open.len());
        result
    }

    fn on_complete(&mut self, out: &mut Emit<'_, (Windowed<K>, A)>) -> Result<(), StreamError> {
        match self.emit {
            EmitMode::FinalOrComplete => {
                let size = self.windows.size;
                while let Some(((start, key), agg)) = self.open.pop_first() {
                    let end = start.saturating_add(size);
                    out.push((Windowed { key, start, end }, agg));
                }
            }
            EmitMode::Final if !self.open.is_empty() => {
                tracing::debug!(
                    open_windows = self.open.len(),
                    "window: upstream completed with windows still open; they are not emitted"
                );
            }
            _ => {}
        }
        self.open.clear();
        self.clock.publish(0);
        Ok(())
    }

    fn on_restart(&mut self, _out: &mut Emit<'_, (Windowed<K>, A)>) -> Ctl {
        // Stream time stays: a record late before the restart is late after it.
        self.open.clear();
        self.clock.publish(0);
        Ctl::Continue
    }
}

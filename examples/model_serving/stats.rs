//! Counters, scoring latencies, the progress line and the JSON of `GET /state`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use weir::scoring::ModelState;

/// Scoring latencies kept for the percentiles of one progress interval (a bounded reservoir).
const WINDOW: usize = 1 << 16;

/// What the server counts. Shared by the stream's stages, the progress printer and the HTTP
/// service.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    /// Records read from `data` (valid or not).
    pub records_in: AtomicU64,
    /// Scored records acknowledged by the broker on `scored`.
    pub records_out: AtomicU64,
    /// Records that were not valid wine records, skipped.
    pub records_rejected: AtomicU64,
    /// Records that arrived before any model.
    pub records_without_model: AtomicU64,
    /// Records the serving model failed on (written out with the error).
    pub records_failed: AtomicU64,
    /// Descriptors that were not valid, servable models, skipped.
    pub models_rejected: AtomicU64,
    /// Valid models received (each takes over at the next record).
    pub models_accepted: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    nanos: Vec<u64>,
    seen: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            records_rejected: AtomicU64::new(0),
            records_without_model: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            models_rejected: AtomicU64::new(0),
            models_accepted: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
        }
    }
}

/// One counter's value.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Adds one.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// Records one scoring time.
    pub fn scored_in(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        w.seen += 1;
        if w.nanos.len() < WINDOW {
            w.nanos.push(nanos);
        } else {
            // Past the window's size, a pseudo-random slot is replaced: a bounded sample of the
            // interval rather than only its start.
            let slot = (w.seen.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % w.seen;
            if let Some(s) = usize::try_from(slot).ok().and_then(|i| w.nanos.get_mut(i)) {
                *s = nanos;
            }
        }
    }

    /// The p50 and p99 scoring times since the last call, and starts a new interval.
    pub fn take_percentiles(&self) -> Option<(Duration, Duration)> {
        let mut nanos = {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            w.seen = 0;
            std::mem::take(&mut w.nanos)
        };
        if nanos.is_empty() {
            return None;
        }
        nanos.sort_unstable();
        let at = |q: f64| {
            let i = ((nanos.len() - 1) as f64 * q).round() as usize;
            Duration::from_nanos(nanos[i.min(nanos.len() - 1)])
        };
        Some((at(0.50), at(0.99)))
    }

    /// How long the server has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Prints a progress line from the counters' growth since the previous call.
pub struct Progress {
    last: Instant,
    last_in: u64,
    last_out: u64,
}

impl Progress {
    pub fn new(stats: &Stats) -> Self {
        Progress {
            last: Instant::now(),
            last_in: get(&stats.records_in),
            last_out: get(&stats.records_out),
        }
    }

    /// The line for the interval since the last call.
    pub fn line(&mut self, stats: &Stats, model: Option<&ModelState>) -> String {
        let secs = self.last.elapsed().as_secs_f64().max(1e-3);
        let (now_in, now_out) = (get(&stats.records_in), get(&stats.records_out));
        let rate_in = (now_in - self.last_in) as f64 / secs;
        let rate_out = (now_out - self.last_out) as f64 / secs;
        *self = Progress {
            last: Instant::now(),
            last_in: now_in,
            last_out: now_out,
        };
        let latency = match stats.take_percentiles() {
            Some((p50, p99)) => format!("p50 {:.1} µs, p99 {:.1} µs", micros(p50), micros(p99)),
            None => "no scoring".to_owned(),
        };
        format!(
            "in {rate_in:>8.0}/s  out {rate_out:>8.0}/s  | model {}  | {latency}  | rejected {} records, {} models",
            model.map_or("(none yet)", |m| m.name.as_str()),
            get(&stats.records_rejected),
            get(&stats.models_rejected),
        )
    }
}

/// A duration in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The body of `GET /state` (the tutorial's `ModelToServeStats`, plus the server's counters).
#[derive(Debug, Serialize)]
pub struct StateJson {
    /// The serving model, `null` before the first one.
    pub model: Option<ModelJson>,
    pub records_in: u64,
    pub records_out: u64,
    pub records_rejected: u64,
    pub records_without_model: u64,
    pub records_failed: u64,
    pub models_accepted: u64,
    pub models_rejected: u64,
    pub uptime_seconds: f64,
    /// What each island of the server's streams is doing (weir's stall diagnostics): a stalled
    /// server shows where it waits.
    pub islands: Vec<IslandJson>,
}

/// One running island (`weir::diagnostics::IslandSnapshot`).
#[derive(Debug, Serialize)]
pub struct IslandJson {
    pub stream: u64,
    pub island: u64,
    pub label: String,
    pub state: String,
    pub elements: u64,
    pub since_progress_ms: u64,
    /// `[len, capacity]` of the buffer it feeds, if any.
    pub buffer: Option<[usize; 2]>,
}

/// The serving model's statistics.
#[derive(Debug, Serialize)]
pub struct ModelJson {
    pub name: String,
    pub description: String,
    /// When it started serving, RFC 3339 in UTC.
    pub since: String,
    /// The same instant in milliseconds since the Unix epoch (as the tutorial reports it).
    pub since_epoch_ms: u64,
    pub records_scored: u64,
    pub scoring_time_us: MinAvgMax,
}

/// Scoring times in microseconds.
#[derive(Debug, Serialize)]
pub struct MinAvgMax {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

impl StateJson {
    pub fn new(stats: &Stats, model: Option<ModelState>) -> Self {
        StateJson {
            model: model.map(|m| {
                let since = m.since.duration_since(UNIX_EPOCH).unwrap_or_default();
                ModelJson {
                    name: m.name,
                    description: m.description,
                    since: rfc3339(m.since),
                    since_epoch_ms: u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
                    records_scored: m.records_scored,
                    scoring_time_us: MinAvgMax {
                        min: micros(m.min),
                        avg: micros(m.avg),
                        max: micros(m.max),
                    },
                }
            }),
            records_in: get(&stats.records_in),
            records_out: get(&stats.records_out),
            records_rejected: get(&stats.records_rejected),
            records_without_model: get(&stats.records_without_model),
            records_failed: get(&stats.records_failed),
            models_accepted: get(&stats.models_accepted),
            models_rejected: get(&stats.models_rejected),
            uptime_seconds: stats.uptime().as_secs_f64(),
            islands: weir::diagnostics::snapshot()
                .into_iter()
                .map(|i| IslandJson {
                    stream: i.stream,
                    island: i.island,
                    label: i.label.into_owned(),
                    state: i.state.to_string(),
                    elements: i.elements,
                    since_progress_ms: u64::try_from(i.since_progress.as_millis())
                        .unwrap_or(u64::MAX),
                    buffer: i.buffer.map(|b| [b.len, b.capacity]),
                })
                .collect(),
        }
    }
}

/// `t` as RFC 3339 in UTC with milliseconds, e.g. `2026-11-26T03:04:05.678Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // a leap day
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_662_245);
        assert_eq!(rfc3339(t), "2026-11-26T03:04:05.000Z");
    }

    #[test]
    fn percentiles_come_from_the_interval_and_reset() {
        let s = Stats::default();
        assert_eq!(s.take_percentiles(), None);
        for i in 1..=100 {
            s.scored_in(Duration::from_micros(i));
        }
        let (p50, p99) = s.take_percentiles().unwrap();
        assert_eq!(p50, Duration::from_micros(51));
        assert_eq!(p99, Duration::from_micros(99));
        assert_eq!(s.take_percentiles(), None);
    }

    #[test]
    fn the_window_stays_bounded() {
        let s = Stats::default();
        for i in 0..(WINDOW as u64 + 1000) {
            s.scored_in(Duration::from_nanos(i));
        }
        assert_eq!(s.window.lock().unwrap().nanos.len(), WINDOW);
    }
}

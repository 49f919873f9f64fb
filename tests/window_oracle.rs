//! weir's windowed aggregations against Kafka Streams itself: the same records through weir and
//! through a `TopologyTestDriver` topology (tests/kafka-streams-oracle), outputs compared.
//!
//! Needs Java 17+ and Maven (the first run downloads kafka-streams 4.1.1 into ~/.m2); without
//! them the tests fail, saying so. All cases of a test go through one JVM run.
//!
//! How outputs compare:
//! - `Updates`: the whole sequence, exactly, across keys (both emit in record order). A session
//!   merge is, in both, a tombstone (weir's `None`, Kafka's `null`) per replaced session, in
//!   order of start, then the merged session.
//! - Final modes: per key, exactly. Across keys the order of windows closed by one record
//!   differs legitimately: weir closes them by `(end, key)`, Kafka's suppression buffer by end
//!   and then serialized key bytes.
//! - Final modes, sliding windows: per key, each window's last value. Kafka Streams' `suppress`
//!   emits an inclusive-ended sliding window when stream time − grace reaches its end, yet its
//!   aggregation still updates the window at that instant, so it may emit it twice; weir emits
//!   each window once, when stream time − grace passes its end and nothing can change it. In
//!   plain `Final` the windows Kafka emits at the last instant are still open in weir.
//! - `FinalOrComplete` is compared with Kafka's `Final` followed by one record far in the future
//!   on a key of its own, which closes every window (and whose outputs are left out).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use weir::prelude::*;
use weir::window::{EmitMode, SessionWindows, SlidingWindows, TimeWindows, WindowOps, Windowed};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka-streams-oracle");

#[derive(Clone, Copy, Debug)]
enum Kind {
    Tumbling { size: u64 },
    Hopping { size: u64, advance: u64 },
    Session { gap: u64 },
    Sliding { difference: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agg {
    Count,
    Sum,
}

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    grace: u64,
    emit: EmitMode,
    agg: Agg,
    /// `(key, value, timestamp)`.
    records: Vec<(String, i64, i64)>,
}

/// One output: key, window start, window end, value (`None`: a tombstone).
type Line = (String, i64, i64, Option<i64>);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// The oracle: built once per test process, then one JVM run per batch of cases.

/// The oracle's classpath, built by scripts/kafka-streams-oracle (Maven, offline when ~/.m2 has
/// the dependencies, then javac).
fn oracle_classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| {
        let out = Command::new(SCRIPT)
            .arg("classpath")
            .output()
            .unwrap_or_else(|e| panic!("{SCRIPT} does not run: {e}"));
        assert!(
            out.status.success(),
            "the Kafka Streams oracle needs Java 17+ and Maven; {SCRIPT} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// What Kafka Streams emits for each case, in one JVM run.
fn oracle(cases: &[Case]) -> Vec<Vec<Line>> {
    let mut input = String::new();
    for c in cases {
        let (kind, p1, p2) = match c.kind {
            Kind::Tumbling { size } => ("tumbling", size, 0),
            Kind::Hopping { size, advance } => ("hopping", size, advance),
            Kind::Session { gap } => ("session", gap, 0),
            Kind::Sliding { difference } => ("sliding", difference, 0),
        };
        let mode = match c.emit {
            EmitMode::Updates => "updates",
            EmitMode::Final => "final",
            EmitMode::FinalOrComplete => "flush",
        };
        let agg = match c.agg {
            Agg::Count => "count",
            Agg::Sum => "sum",
        };
        writeln!(input, "case {kind} {p1} {p2} {} {mode} {agg}", c.grace).unwrap();
        for (k, v, ts) in &c.records {
            writeln!(input, "r {k} {v} {ts}").unwrap();
        }
        input.push_str("end\n");
    }
    let mut child = Command::new("java")
        .args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp"])
        .arg(oracle_classpath())
        .arg("dev.weir.oracle.Oracle")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Kafka Streams oracle needs Java 17+: java does not run");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "the Kafka Streams oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut results = vec![Vec::new()];
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "o" => results.last_mut().unwrap().push((
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                (f[4] != "null").then(|| f[4].parse().unwrap()),
            )),
            "done" => results.push(Vec::new()),
            _ => panic!("unexpected oracle output {line:?}"),
        }
    }
    results.pop();
    assert_eq!(results.len(), cases.len(), "the oracle answered every case");
    results
}

// ---------------------------------------------------------------------------------------------
// weir.

type Rec = (String, (i64, i64));

fn sum(a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
    (a.0.max(b.0), a.1 + b.1)
}

async fn weir(c: &Case) -> Vec<Line> {
    let input: Vec<Rec> = c
        .records
        .iter()
        .map(|(k, v, ts)| (k.clone(), (*ts, *v)))
        .collect();
    let source = Source::from_iter(input);
    let ts = |r: &Rec| r.1 .0;
    let line = |w: Windowed<String>, v: Option<i64>| (w.key, w.start, w.end, v);
    match c.kind {
        Kind::Tumbling { .. } | Kind::Hopping { .. } => {
            let w = match c.kind {
                Kind::Tumbling { size } => TimeWindows::of_size_with_grace(ms(size), ms(c.grace)),
                Kind::Hopping { size, advance } => {
                    TimeWindows::of_size_with_grace(ms(size), ms(c.grace))
                        .and_then(|w| w.advance_by(ms(advance)))
                }
                _ => unreachable!(),
            }
            .unwrap();
            let stream = source.windowed_by(w, ts).emit(c.emit);
            match c.agg {
                Agg::Count => stream
                    .count()
                    .map(move |(w, n)| line(w, Some(n as i64)))
                    .run_with(Sink::seq())
                    .await
                    .unwrap(),
                Agg::Sum => stream
                    .reduce(sum)
                    .map(move |(w, v)| line(w, Some(v.1)))
                    .run_with(Sink::seq())
                    .await
                    .unwrap(),
            }
        }
        Kind::Sliding { difference } => {
            let w =
                SlidingWindows::of_time_difference_and_grace(ms(difference), ms(c.grace)).unwrap();
            let stream = source.sliding_windowed_by(w, ts).emit(c.emit);
            match c.agg {
                Agg::Count => stream
                    .count()
                    .map(move |(w, n)| line(w, Some(n as i64)))
                    .run_with(Sink::seq())
                    .await
                    .unwrap(),
                Agg::Sum => stream
                    .reduce(sum)
                    .map(move |(w, v)| line(w, Some(v.1)))
                    .run_with(Sink::seq())
                    .await
                    .unwrap(),
            }
        }
        Kind::Session { gap } => {
            let s = SessionWindows::of_inactivity_gap_with_grace(ms(gap), ms(c.grace)).unwrap();
            let stream = source.session_windowed_by(s, ts).emit(c.emit);
            match c.agg {
                Agg::Count => stream
                    .count()
                    .map(move |(w, n)| line(w, n.map(|n| n as i64)))
                    .run_with(Sink::seq())
                    .await
                    .unwrap(),
                Agg::Sum => stream
                    .reduce(sum)
                    .map(move |(w, v)| line(w, v.map(|v| v.1)))
                    .run_with(Sink::seq())
                    .await
                    .unwrap(),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison.

fn per_key(lines: &[Line]) -> BTreeMap<&str, Vec<&Line>> {
    let mut by_key: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
    for l in lines {
        by_key.entry(&l.0).or_default().push(l);
    }
    by_key
}

/// Per key, each window's last value, in order of end (the order both emit closed windows
/// of one key in).
fn last_per_window(lines: &[Line]) -> BTreeMap<&str, Vec<&Line>> {
    let mut last: BTreeMap<(&str, i64, i64), &Line> = BTreeMap::new();
    for l in lines {
        last.insert((&l.0, l.2, l.1), l);
    }
    let mut by_key: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
    for ((k, _, _), l) in last {
        by_key.entry(k).or_default().push(l);
    }
    by_key
}

fn compare(c: &Case, weir: &[Line], kafka: &[Line]) -> Result<(), String> {
    let ok = match (c.emit, c.kind) {
        (EmitMode::Updates, _) => weir == kafka,
        (emit, Kind::Sliding { .. }) => {
            // Kafka Streams' suppress emits a sliding window once stream time - grace reaches
            // its (inclusive) end, while the aggregation still updates it then, so it may
            // emit it again; weir emits each window once, after that instant: compare the
            // last values, and in `Final` leave out what Kafka emitted at the final instant.
            let close = c.records.iter().map(|r| r.2).max().unwrap_or(0) - c.grace as i64;
            let kafka: Vec<Line> = kafka
                .iter()
                .filter(|l| emit == EmitMode::FinalOrComplete || l.2 < close)
                .cloned()
                .collect();
            last_per_window(weir).values().map(Vec::len).sum::<usize>() == weir.len()
                && last_per_window(weir) == last_per_window(&kafka)
        }
        (EmitMode::Final | EmitMode::FinalOrComplete, _) => per_key(weir) == per_key(kafka),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "weir and Kafka Streams differ for {c:?}\n weir:  {weir:?}\n kafka: {kafka:?}"
        ))
    }
}

async fn check(cases: Vec<Case>) {
    let expected = oracle(&cases);
    let mut failures = Vec::new();
    for (c, kafka) in cases.iter().zip(&expected) {
        let got = weir(c).await;
        if let Err(e) = compare(c, &got, kafka) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Cases.

const MODES: [EmitMode; 3] = [
    EmitMode::Updates,
    EmitMode::Final,
    EmitMode::FinalOrComplete,
];

fn recs(list: &[(&str, i64)]) -> Vec<(String, i64, i64)> {
    list.iter()
        .enumerate()
        .map(|(i, (k, ts))| (k.to_string(), i as i64 + 1, *ts))
        .collect()
}

/// Every emit mode and aggregation of `kind` and `grace` over `records`.
fn all_modes(kind: Kind, grace: u64, records: &[(&str, i64)]) -> Vec<Case> {
    let mut cases = Vec::new();
    for emit in MODES {
        for agg in [Agg::Count, Agg::Sum] {
            cases.push(Case {
                kind,
                grace,
                emit,
                agg,
                records: recs(records),
            });
        }
    }
    cases
}

/// Hand-picked inputs: out of order, late beyond grace, on window edges, several keys.
fn hand_picked() -> Vec<Case> {
    let edges = [
        ("a", 0),
        ("a", 9),
        ("a", 10),
        ("b", 19),
        ("a", 5),
        ("b", 20),
        ("a", 30),
        ("a", 22),
        ("b", 21),
        ("a", 19),
        ("b", 9),
        ("a", 40),
    ];
    let sessions = [
        ("a", 1),
        ("a", 10),
        ("a", 5),
        ("b", 3),
        ("a", 16),
        ("a", 30),
        ("b", 8),
        ("a", 24),
        ("a", 20),
        ("b", 14),
        ("a", 11),
        ("a", 50),
        ("a", 36),
        ("b", 41),
    ];
    let mut cases = Vec::new();
    for grace in [0, 5] {
        cases.extend(all_modes(Kind::Tumbling { size: 10 }, grace, &edges));
        cases.extend(all_modes(
            Kind::Hopping {
                size: 10,
                advance: 3,
            },
            grace,
            &edges,
        ));
        cases.extend(all_modes(Kind::Session { gap: 5 }, grace, &sessions));
        cases.extend(all_modes(Kind::Session { gap: 5 }, grace, &edges));
        cases.extend(all_modes(Kind::Sliding { difference: 10 }, grace, &edges));
        cases.extend(all_modes(Kind::Sliding { difference: 5 }, grace, &sessions));
    }
    cases
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1u64..20).prop_map(|size| Kind::Tumbling { size }),
        (2u64..20)
            .prop_flat_map(|size| (Just(size), 1..=size))
            .prop_map(|(size, advance)| Kind::Hopping { size, advance }),
        (1u64..10).prop_map(|gap| Kind::Session { gap }),
        (1u64..15).prop_map(|difference| Kind::Sliding { difference }),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        kind_strategy(),
        prop_oneof![Just(0u64), 1u64..15],
        prop_oneof![
            Just(EmitMode::Updates),
            Just(EmitMode::Final),
            Just(EmitMode::FinalOrComplete)
        ],
        prop_oneof![Just(Agg::Count), Just(Agg::Sum)],
        // Timestamps mostly rising with jitter back, so some records are late and some not.
        prop::collection::vec((0usize..3, -30i64..=10, -5i64..5), 0..30),
    )
        .prop_map(|(kind, grace, emit, agg, steps)| {
            let mut t = 0i64;
            let records = steps
                .into_iter()
                .map(|(k, back, v)| {
                    let ts = if back > 0 {
                        t + back
                    } else {
                        (t + back).max(0)
                    };
                    t = t.max(ts);
                    (["a", "b", "ab"][k].to_string(), v, ts)
                })
                .collect();
            Case {
                kind,
                grace,
                emit,
                agg,
                records,
            }
        })
}

/// `n` cases drawn from `strategy` with proptest's deterministic generator: all of them go to
/// the oracle in one JVM run, so they are generated up front (and not shrunk; a failure prints
/// the whole case).
fn generated(n: usize, strategy: impl Strategy<Value = Case>) -> Vec<Case> {
    let mut runner = TestRunner::new(Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[tokio::test]
async fn hand_picked_cases_match_kafka_streams() {
    check(hand_picked()).await;
}

#[tokio::test]
async fn generated_cases_match_kafka_streams() {
    check(generated(32, case_strategy())).await;
}

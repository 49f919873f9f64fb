//! weir's side of the core comparison with Pekko Streams (`weir.peers.CoreStreams` in
//! `benches/peers`): the same workloads, element counts and iteration counts, printed in
//! the same lines, so that `scripts/bench-peers` can put them side by side.
//!
//! ```text
//! cargo bench --bench peers_core [-- --smoke]
//! ```
//!
//! Each workload runs 5 warm-up iterations, then 5 measured ones, and prints
//! `weir workload=NAME n=N rates=r1,...,r5 median=R wall_s=w1,... cpu_s=c1,...`: rates in
//! M elements/s of the source, the process's CPU seconds (every thread) beside each wall time.
//! `--smoke` runs every workload on 10 000 elements, so that the harness cannot rot.

use std::time::Instant;

use weir::builder::GraphBuilder;
use weir::junctions::{Balance, Broadcast, Merge, Zip};
use weir::prelude::*;
use weir::{Completion, RunnableGraph};

// The fused chain and map_async are `benches/fused.rs`'s, closures and all.
mod support;
use support::{plain_loop, weir_chain, weir_map_async};

const WARMUP: usize = 5;
const MEASURED: usize = 5;
const SMOKE_N: u64 = 10_000;

/// A workload: its name, its length, the runtime it runs on and one run of it (the result,
/// checked against `expected`).
struct Workload {
    name: &'static str,
    n: u64,
    multi_thread: bool,
    run: fn(&tokio::runtime::Runtime, u64) -> u64,
    expected: fn(u64) -> u64,
}

const WORKLOADS: [Workload; 6] = [
    Workload {
        name: "fused_chain",
        n: 10_000_000,
        multi_thread: false,
        run: |rt, n| rt.block_on(weir_chain(n)),
        expected: plain_loop,
    },
    Workload {
        name: "map_async",
        n: 1_000_000,
        multi_thread: false,
        run: |rt, n| rt.block_on(weir_map_async(n)),
        expected: |n| n * (n + 1) / 2,
    },
    Workload {
        name: "async_boundary",
        n: 10_000_000,
        multi_thread: true,
        run: |rt, n| rt.block_on(async_boundary(n)),
        expected: |n| 3 * (n * (n - 1) / 2),
    },
    Workload {
        name: "broadcast_zip",
        n: 10_000_000,
        multi_thread: false,
        run: |rt, n| rt.block_on(async { broadcast_zip(n).run().await.unwrap() }),
        expected: |n| n * (n - 1),
    },
    Workload {
        name: "balance_merge",
        n: 10_000_000,
        multi_thread: false,
        run: |rt, n| rt.block_on(async { balance_merge(n).run().await.unwrap() }),
        expected: |n| n * (n - 1) / 2,
    },
    Workload {
        name: "group_by",
        n: 1_000_000,
        multi_thread: false,
        run: |rt, n| rt.block_on(group_by(n)),
        expected: |n| n * (n - 1),
    },
];

/// group_by(64) → map → merge_substreams → fold (Pekko's `groupBy(64, ..).map(..)
/// .mergeSubstreams`).
async fn group_by(n: u64) -> u64 {
    Source::from_iter(0..n)
        .group_by(64, |x| x % 64)
        .map(|x| x * 2)
        .merge_substreams()
        .run_fold(0u64, |a, x| a.wrapping_add(x))
        .await
        .unwrap()
}

/// A map, one async boundary with the default buffer, a fold.
async fn async_boundary(n: u64) -> u64 {
    Source::from_iter(0..n)
        .map(|x| x.wrapping_mul(3))
        .async_boundary()
        .run_fold(0u64, |a, x| a.wrapping_add(x))
        .await
        .unwrap()
}

/// source → Broadcast(2) → Zip → fold of both halves of each pair.
fn broadcast_zip(n: u64) -> RunnableGraph<Completion<u64>> {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::from_iter(0..n));
    let bcast = b.add(Broadcast::<u64>::new(2));
    let zip = b.add(Zip::<u64, u64>::new());
    let (sink, sum) = b.add_sink_mat(Sink::fold(0u64, |a, (x, y): (u64, u64)| {
        a.wrapping_add(x).wrapping_add(y)
    }));
    b.connect(src, bcast.inlet);
    b.connect(bcast.outs[0], zip.in0);
    b.connect(bcast.outs[1], zip.in1);
    b.connect(zip.out, sink);
    b.build(move |mats| mats.take(sum)).unwrap()
}

/// source → Balance(2) → Merge(2) → fold.
fn balance_merge(n: u64) -> RunnableGraph<Completion<u64>> {
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::from_iter(0..n));
    let balance = b.add(Balance::<u64>::new(2));
    let merge = b.add(Merge::<u64>::new(2));
    let (sink, sum) = b.add_sink_mat(Sink::fold(0u64, |a, x: u64| a.wrapping_add(x)));
    b.connect(src, balance.inlet);
    b.connect(balance.outs[0], merge.ins[0]);
    b.connect(balance.outs[1], merge.ins[1]);
    b.connect(merge.out, sink);
    b.build(move |mats| mats.take(sum)).unwrap()
}

/// The CPU time of this process, every thread, in seconds (`/proc/self/stat` utime + stime,
/// in clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces: the
    // third field of the line (state) is the first here, utime the 14th and stime the 15th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().unwrap()
}

fn join(values: &[f64], digits: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.digits$}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn measure(w: &Workload, n: u64) {
    let rt = runtime(w.multi_thread);
    let expected = (w.expected)(n);
    let check = |got: u64| assert_eq!(got, expected, "{}: wrong result", w.name);
    for _ in 0..WARMUP {
        check((w.run)(&rt, n));
    }
    let (mut rates, mut walls, mut cpus) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..MEASURED {
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        check((w.run)(&rt, n));
        let wall = t0.elapsed().as_secs_f64();
        cpus.push(cpu_seconds() - cpu0);
        walls.push(wall);
        rates.push(n as f64 / wall / 1e6);
    }
    println!(
        "weir workload={} n={n} rates={} median={:.3} wall_s={} cpu_s={}",
        w.name,
        join(&rates, 3),
        median(&rates),
        join(&walls, 6),
        join(&cpus, 3),
    );
}

fn main() {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let smoke = std::env::args().any(|a| a == "--smoke");
    for w in &WORKLOADS {
        measure(w, if smoke { SMOKE_N } else { w.n });
    }
}

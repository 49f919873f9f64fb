//! Fan-in junctions against their `futures` counterparts, in one run.
//!
//! ```text
//! cargo bench --bench fan_in
//! ```

use std::future::ready;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use weir::prelude::*;

const N: u64 = 1_000_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn futures_select(n: u64) -> u64 {
    futures::stream::select(futures::stream::iter(0..n), futures::stream::iter(0..n))
        .fold(0u64, |a, x| ready(a.wrapping_add(x)))
        .await
}

async fn weir_merge(n: u64) -> u64 {
    Source::from_iter(0..n)
        .merge(Source::from_iter(0..n))
        .run_fold(0u64, |a, x| a.wrapping_add(x))
        .await
        .unwrap()
}

async fn futures_zip(n: u64) -> u64 {
    futures::stream::iter(0..n)
        .zip(futures::stream::iter(0..n))
        .fold(0u64, |a, (x, y)| ready(a.wrapping_add(x ^ y)))
        .await
}

async fn weir_zip(n: u64) -> u64 {
    Source::from_iter(0..n)
        .zip(Source::from_iter(0..n))
        .run_fold(0u64, |a, (x, y)| a.wrapping_add(x ^ y))
        .await
        .unwrap()
}

fn merge(c: &mut Criterion) {
    let rt = rt();
    assert_eq!(rt.block_on(futures_select(N)), rt.block_on(weir_merge(N)));
    let mut g = c.benchmark_group("merge_2");
    g.sample_size(20);
    g.throughput(Throughput::Elements(2 * N));
    g.bench_function("futures_select", |b| {
        b.iter(|| rt.block_on(futures_select(N)))
    });
    g.bench_function("weir_merge", |b| b.iter(|| rt.block_on(weir_merge(N))));
    g.finish();
}

fn zip(c: &mut Criterion) {
    let rt = rt();
    assert_eq!(rt.block_on(futures_zip(N)), rt.block_on(weir_zip(N)));
    let mut g = c.benchmark_group("zip");
    g.sample_size(20);
    g.throughput(Throughput::Elements(N));
    g.bench_function("futures_zip", |b| b.iter(|| rt.block_on(futures_zip(N))));
    g.bench_function("weir_zip", |b| b.iter(|| rt.block_on(weir_zip(N))));
    g.finish();
}

criterion_group!(benches, merge, zip);
criterion_main!(benches);

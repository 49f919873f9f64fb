//! weir against its peers, side by side in one run.
//!
//! ```text
//! cargo bench --bench fused
//! ```
//!
//! Groups:
//! - `fused_chain`: map → filter → scan → fold over 10 M `u64`: a plain loop (the limit), a
//!   hand-written `futures::StreamExt` chain, weir, and datum-core.
//! - `async_boundary`: 1 M `u64` across one boundary, against a tokio `mpsc` channel of 256
//!   moving one element per send, and datum-core's boundary.
//! - `map_async`: `map_async(4)` on ready futures against `StreamExt::buffered(4)`.

use std::future::ready;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use weir::prelude::*;
use weir::Attributes;

mod support;
use support::{plain_loop, weir_chain, weir_map_async};

const CHAIN_N: u64 = 10_000_000;
const BOUNDARY_N: u64 = 1_000_000;
const ASYNC_N: u64 = 1_000_000;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn futures_chain(n: u64) -> u64 {
    futures::stream::iter(0..n)
        .map(|x| x.wrapping_mul(3))
        .filter(|x| ready(x % 2 == 0))
        .scan(0u64, |acc, x| {
            *acc = acc.wrapping_add(x);
            ready(Some(*acc))
        })
        .fold(0u64, |a, x| ready(a ^ x))
        .await
}

fn datum_chain(n: u64) -> u64 {
    datum::Source::from_iter(0..n)
        .map(|x: u64| x.wrapping_mul(3))
        .filter(|x: &u64| x % 2 == 0)
        .scan(0u64, |acc: u64, x: u64| acc.wrapping_add(x))
        .run_with(datum::Sink::fold(0u64, |a: u64, x: u64| a ^ x))
        .unwrap()
        .wait()
        .unwrap()
}

fn fused_chain(c: &mut Criterion) {
    let rt = current_thread();
    let expected = plain_loop(CHAIN_N);
    assert_eq!(rt.block_on(futures_chain(CHAIN_N)), expected);
    assert_eq!(rt.block_on(weir_chain(CHAIN_N)), expected);
    assert_eq!(datum_chain(CHAIN_N), expected);

    let mut g = c.benchmark_group("fused_chain");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CHAIN_N));
    g.bench_function("plain_loop", |b| b.iter(|| plain_loop(CHAIN_N)));
    g.bench_function("futures_stream", |b| {
        b.iter(|| rt.block_on(futures_chain(CHAIN_N)))
    });
    g.bench_function("weir", |b| b.iter(|| rt.block_on(weir_chain(CHAIN_N))));
    g.bench_function("datum_core", |b| b.iter(|| datum_chain(CHAIN_N)));
    g.finish();
}

async fn mpsc_256(n: u64) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        for i in 0..n {
            if tx.send(i).await.is_err() {
                break;
            }
        }
    });
    let mut sum = 0u64;
    while let Some(x) = rx.recv().await {
        sum = sum.wrapping_add(x);
    }
    sum
}

async fn weir_boundary(n: u64, buffer: Option<usize>) -> u64 {
    let mut source = Source::from_iter(0..n).async_boundary();
    if let Some(size) = buffer {
        source = source.with_attributes(Attributes::input_buffer(size));
    }
    source
        .run_fold(0u64, |a, x| a.wrapping_add(x))
        .await
        .unwrap()
}

fn datum_boundary(n: u64) -> u64 {
    datum::Source::from_iter(0..n)
        .async_boundary()
        .run_with(datum::Sink::fold(0u64, |a: u64, x: u64| a.wrapping_add(x)))
        .unwrap()
        .wait()
        .unwrap()
}

fn async_boundary(c: &mut Criterion) {
    let rt = multi_thread();
    let expected = (0..BOUNDARY_N).sum::<u64>();
    assert_eq!(rt.block_on(mpsc_256(BOUNDARY_N)), expected);
    assert_eq!(rt.block_on(weir_boundary(BOUNDARY_N, None)), expected);

    let mut g = c.benchmark_group("async_boundary");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BOUNDARY_N));
    g.bench_function("tokio_mpsc_256", |b| {
        b.iter(|| rt.block_on(mpsc_256(BOUNDARY_N)))
    });
    for size in [16usize, 256] {
        g.bench_with_input(BenchmarkId::new("weir", size), &size, |b, &size| {
            b.iter(|| rt.block_on(weir_boundary(BOUNDARY_N, Some(size))))
        });
    }
    g.bench_function("datum_core", |b| b.iter(|| datum_boundary(BOUNDARY_N)));
    g.finish();
}

async fn futures_buffered(n: u64) -> u64 {
    futures::stream::iter(0..n)
        .map(|x| ready(x + 1))
        .buffered(4)
        .fold(0u64, |a, x| ready(a.wrapping_add(x)))
        .await
}

fn map_async(c: &mut Criterion) {
    let rt = current_thread();
    assert_eq!(
        rt.block_on(futures_buffered(ASYNC_N)),
        rt.block_on(weir_map_async(ASYNC_N))
    );

    let mut g = c.benchmark_group("map_async");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ASYNC_N));
    g.bench_function("futures_buffered_4", |b| {
        b.iter(|| rt.block_on(futures_buffered(ASYNC_N)))
    });
    g.bench_function("weir_map_async_4", |b| {
        b.iter(|| rt.block_on(weir_map_async(ASYNC_N)))
    });
    g.finish();
}

criterion_group!(benches, fused_chain, async_boundary, map_async);
criterion_main!(benches);

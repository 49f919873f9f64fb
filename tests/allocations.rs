//! Fused segments allocate nothing per element: a run over many elements allocates no more
//! than a run over a few (the "no per-element allocation inside a fused segment").
//!
//! A counting global allocator (this test binary only) measures whole runs; the difference
//! between a long and a short run is the per-element cost.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::ready;
use std::sync::atomic::{AtomicUsize, Ordering};

use weir::prelude::*;
use weir::{Completion, RunnableGraph};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; the counter is the only addition.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by one run of `graph` over `n` elements, on a fresh current-thread runtime
/// (created outside the count).
fn allocations<F>(n: u64, graph: F) -> usize
where
    F: Fn(u64) -> RunnableGraph<Completion<u64>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let g = graph(n);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let out = rt.block_on(async { g.run().await.expect("the stream completes") });
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(out > 0);
    after - before
}

/// The extra allocations of a run 100 times longer; a per-element allocation would show as
/// tens of thousands.
fn per_element_growth<F>(graph: F) -> usize
where
    F: Fn(u64) -> RunnableGraph<Completion<u64>> + Copy,
{
    // The counter is global: a test measuring while another runs on a parallel test thread
    // would count the other's allocations too.
    static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up lazily initialised statics (tracing callsites, thread locals).
    allocations(100, graph);
    let short = allocations(1_000, graph);
    let long = allocations(100_000, graph);
    long.saturating_sub(short)
}

#[test]
fn a_fused_chain_allocates_nothing_per_element() {
    let growth = per_element_growth(|n| {
        Source::range(1, n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .scan(0u64, |acc, x| acc + x)
            .map_concat(|x| [x, x])
            .zip_with_index()
            .map(|(x, i)| x ^ i)
            .to_mat(Sink::fold(0u64, |a, x| a.wrapping_add(x) | 1), Keep::right)
    });
    assert!(
        growth < 50,
        "{growth} more allocations for 99 000 more elements"
    );
}

#[test]
fn map_async_allocates_nothing_per_element() {
    for unordered in [false, true] {
        let growth = per_element_growth(move |n| {
            let s = Source::range(1, n);
            let s = if unordered {
                s.map_async_unordered(4, |x| ready(x + 1))
            } else {
                s.map_async(4, |x| async move {
                    tokio::task::yield_now().await;
                    x + 1
                })
            };
            s.to_mat(Sink::fold(0u64, |a, x| a.wrapping_add(x) | 1), Keep::right)
        });
        assert!(
            growth < 50,
            "unordered {unordered}: {growth} more allocations for 99 000 more elements"
        );
    }
}

#[test]
fn group_by_and_split_allocate_nothing_per_element() {
    let growth = per_element_growth(|n| {
        Source::range(1, n)
            .group_by(8, |x| x % 8)
            .map(|x| x * 2)
            .merge_substreams()
            .split_when(|x| x % 1_000 == 0)
            .filter(|x| x % 3 != 0)
            .concat_substreams()
            .to_mat(Sink::fold(0u64, |a, x| a.wrapping_add(x) | 1), Keep::right)
    });
    // Only the 99 more substreams that `split_when` opens may allocate.
    assert!(
        growth < 99 * 20,
        "{growth} more allocations for 99 000 more elements"
    );
}

//! The weir workloads that more than one bench measures, so that they stay the same.

use std::future::ready;
use std::hint::black_box;

use weir::prelude::*;

/// The fused chain's closures in a plain loop: the limit, and the result to check against.
pub fn plain_loop(n: u64) -> u64 {
    let (mut acc, mut res) = (0u64, 0u64);
    for x in 0..n {
        let y = black_box(x).wrapping_mul(3);
        if y % 2 == 0 {
            acc = acc.wrapping_add(y);
            res ^= acc;
        }
    }
    res
}

/// The fused chain: map → filter → scan → fold over `0..n`.
pub async fn weir_chain(n: u64) -> u64 {
    Source::from_iter(0..n)
        .map(|x| x.wrapping_mul(3))
        .filter(|x| x % 2 == 0)
        .scan(0u64, |acc, x| acc.wrapping_add(x))
        .run_fold(0u64, |a, x| a ^ x)
        .await
        .unwrap()
}

/// `map_async(4)` on futures that are ready at once, then a sum.
pub async fn weir_map_async(n: u64) -> u64 {
    Source::from_iter(0..n)
        .map_async(4, |x| ready(x + 1))
        .run_fold(0u64, |a, x| a.wrapping_add(x))
        .await
        .unwrap()
}

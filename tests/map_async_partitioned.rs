//! `map_async_partitioned`: at most one future per key, at most `parallelism` in flight,
//! results in upstream order.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use support::{is_boom, ms, Boom};
use weir::prelude::*;
use weir::{Attributes, Decider};

/// Futures in flight, per key and in all, with the most seen.
#[derive(Default)]
struct Load {
    per_key: HashMap<u8, usize>,
    total: usize,
    max_per_key: usize,
    max_total: usize,
    started: Vec<usize>,
}

/// Runs `(key, millis)` elements through `map_async_partitioned(p)` on the paused clock,
/// recording the load; returns the output and the load.
fn run(elements: Vec<(u8, u64)>, p: usize) -> (Vec<usize>, Load) {
    let rt = support::paused_runtime();
    let load = Arc::new(Mutex::new(Load::default()));
    let l = load.clone();
    let out = rt.block_on(async move {
        Source::from_iter(elements.into_iter().enumerate())
            .map_async_partitioned(
                p,
                |&(_, (key, _))| key,
                move |(i, (key, d)), _| {
                    let l = l.clone();
                    async move {
                        {
                            let mut l = l.lock().unwrap();
                            let n = l.per_key.entry(key).or_default();
                            *n += 1;
                            let n = *n;
                            l.max_per_key = l.max_per_key.max(n);
                            l.total += 1;
                            l.max_total = l.max_total.max(l.total);
                            l.started.push(i);
                        }
                        tokio::time::sleep(ms(d)).await;
                        let mut l = l.lock().unwrap();
                        *l.per_key.get_mut(&key).unwrap() -= 1;
                        l.total -= 1;
                        i
                    }
                },
            )
            .run_with(Sink::seq())
            .await
            .unwrap()
    });
    let load = Arc::try_unwrap(load).ok().unwrap().into_inner().unwrap();
    (out, load)
}

#[test]
fn keys_run_in_parallel_each_key_one_at_a_time_in_order() {
    // a: slow then fast; b and c in between.
    let elements = vec![(0, 300), (1, 10), (0, 10), (2, 50), (1, 200), (0, 5)];
    let (out, load) = run(elements, 4);
    assert_eq!(out, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(load.max_per_key, 1);
    assert!(
        load.max_total <= 4 && load.max_total >= 3,
        "{}",
        load.max_total
    );
    // Key 0's second element (2) waits for its first (300 ms) while key 2's (3) starts; the
    // fifth element enters only when the slow first one leaves the window of 4.
    assert_eq!(load.started, vec![0, 1, 3, 2, 4, 5]);
}

#[test]
fn one_key_runs_sequentially_and_distinct_keys_fill_the_parallelism() {
    let (out, load) = run((0..20).map(|_| (7, 10)).collect(), 8);
    assert_eq!(out, (0..20).collect::<Vec<_>>());
    assert_eq!((load.max_per_key, load.max_total), (1, 1));
    let (out, load) = run((0..20).map(|i| (i, 10)).collect(), 8);
    assert_eq!(out, (0..20).collect::<Vec<_>>());
    assert_eq!((load.max_per_key, load.max_total), (1, 8));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_element_once_in_order_within_both_limits(
        elements in proptest::collection::vec((0u8..5, 0u64..50), 0..60),
        p in 1usize..6,
    ) {
        let n = elements.len();
        let (out, load) = run(elements, p);
        prop_assert_eq!(out, (0..n).collect::<Vec<_>>());
        prop_assert!(load.max_per_key <= 1);
        prop_assert!(load.max_total <= p);
    }
}

#[tokio::test]
async fn a_panicking_future_is_skipped_under_resume_and_the_next_of_its_key_runs() {
    let out = Source::from_iter([(1, 1), (1, 2), (2, 3), (1, 4)])
        .map_async_partitioned(
            2,
            |&(k, _)| k,
            |(_, n), _| async move {
                assert_ne!(n, 2, "boom");
                n
            },
        )
        .with_attributes(Attributes::supervision(Decider::resuming()))
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_failure_overtakes_the_futures_in_flight() {
    let r = Source::from_iter([1u64, 2])
        .concat(Source::failed(StreamError::failed(Boom)))
        .map_async_partitioned(
            4,
            |&x| x,
            |x, _| async move {
                tokio::time::sleep(ms(1000)).await;
                x
            },
        )
        .run_with(Sink::seq())
        .await;
    assert!(is_boom(&r.unwrap_err()));
}

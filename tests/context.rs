//! Context-carrying sources and flows (`SourceWithContext`, `FlowWithContext`): each context
//! stays beside its element through every operator, and one whose element is dropped is handed
//! to `Context::dropped`.

use std::sync::{Arc, Mutex};

use weir::prelude::*;
use weir::Context;

/// A context that records, in a shared log, that its element was dropped.
#[derive(Debug, Clone)]
struct Tracked(u32, Arc<Mutex<Vec<u32>>>);

impl Context for Tracked {
    fn dropped(self) {
        self.1.lock().unwrap().push(self.0);
    }
}

fn tracked(n: u32) -> (SourceWithContext<u32, Tracked>, Arc<Mutex<Vec<u32>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let source = Source::range(1u32, n).map(move |i| (i * 10, Tracked(i, l.clone())));
    (SourceWithContext::from_tuples(source), log)
}

async fn pairs<T: Send + 'static, C: Send + 'static>(s: SourceWithContext<T, C>) -> Vec<(T, C)> {
    s.as_source().run_with(Sink::seq()).await.unwrap()
}

fn ids(out: &[(u32, Tracked)]) -> Vec<(u32, u32)> {
    out.iter().map(|(x, c)| (*x, c.0)).collect()
}

#[tokio::test]
async fn map_keeps_each_context_beside_its_element() {
    let (s, log) = tracked(4);
    let out = pairs(s.map(|x| x + 1)).await;
    assert_eq!(ids(&out), vec![(11, 1), (21, 2), (31, 3), (41, 4)]);
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn filter_hands_the_rejected_contexts_to_dropped_in_order() {
    let (s, log) = tracked(6);
    let out = pairs(s.filter(|x| x % 20 == 0)).await;
    assert_eq!(ids(&out), vec![(20, 2), (40, 4), (60, 6)]);
    assert_eq!(*log.lock().unwrap(), vec![1, 3, 5]);

    let (s, log) = tracked(6);
    let out = pairs(s.filter_not(|x| x % 20 == 0)).await;
    assert_eq!(ids(&out), vec![(10, 1), (30, 3), (50, 5)]);
    assert_eq!(*log.lock().unwrap(), vec![2, 4, 6]);
}

#[tokio::test]
async fn filter_map_drops_the_contexts_of_nones() {
    let (s, log) = tracked(5);
    let out = pairs(s.filter_map(|x| (x > 20).then(|| x.to_string()))).await;
    let got: Vec<(String, u32)> = out.into_iter().map(|(x, c)| (x, c.0)).collect();
    assert_eq!(
        got,
        vec![("30".into(), 3), ("40".into(), 4), ("50".into(), 5)]
    );
    assert_eq!(*log.lock().unwrap(), vec![1, 2]);
}

#[tokio::test]
async fn map_concat_gives_each_output_its_inputs_context_and_drops_empty_ones() {
    let (s, log) = tracked(4);
    // 10 → [], 20 → [20], 30 → [30, 31], 40 → [40, 41, 42]
    let out = pairs(s.map_concat(|x| (0..x / 10 - 1).map(move |i| x + i))).await;
    assert_eq!(
        ids(&out),
        vec![(20, 2), (30, 3), (31, 3), (40, 4), (41, 4), (42, 4)]
    );
    assert_eq!(*log.lock().unwrap(), vec![1]);
}

#[tokio::test]
async fn grouped_groups_contexts_with_their_elements_and_a_dropped_group_drops_each() {
    let (s, log) = tracked(5);
    let out = pairs(s.grouped(2)).await;
    let got: Vec<(Vec<u32>, Vec<u32>)> = out
        .iter()
        .map(|(xs, cs)| (xs.clone(), cs.iter().map(|c| c.0).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (vec![10, 20], vec![1, 2]),
            (vec![30, 40], vec![3, 4]),
            (vec![50], vec![5])
        ]
    );
    let (s, log2) = tracked(5);
    let out = pairs(s.grouped(2).filter(|xs| xs.len() == 2)).await;
    assert_eq!(out.len(), 2);
    assert_eq!(*log2.lock().unwrap(), vec![5]);
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_async_keeps_order_and_contexts() {
    let (s, _) = tracked(20);
    let out = pairs(s.map_async(4, |x| async move {
        // Later elements finish first.
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(200 - x) / 20)).await;
        x / 10
    }))
    .await;
    assert_eq!(ids(&out), (1..=20).map(|i| (i, i)).collect::<Vec<_>>());
}

#[tokio::test]
async fn map_context_changes_only_the_context() {
    let (s, _) = tracked(3);
    let out = pairs(s.map_context(|c| c.0 * 100)).await;
    assert_eq!(out, vec![(10, 100), (20, 200), (30, 300)]);
}

#[tokio::test]
async fn flows_with_context_compose_and_are_reusable() {
    let double_odd = FlowWithContext::<u32, u64, _, _>::new()
        .filter(|x| x % 2 == 1)
        .map(|x| x * 2);
    let s = Source::range(1u32, 6).as_source_with_context(|&x| u64::from(x) + 100);
    let out = pairs(s.via(double_odd.clone())).await;
    assert_eq!(out, vec![(2, 101), (6, 103), (10, 105)]);
    // The same blueprint again, as a plain flow of pairs.
    let out = Source::from_iter([(7u32, 1u64), (8, 2)])
        .via(double_odd.as_flow())
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![(14, 1)]);
}

#[tokio::test]
async fn a_failure_reaches_the_end_and_drops_no_context_as_done() {
    let (s, log) = tracked(5);
    let failing = s.as_source().map(|(x, c)| {
        assert_ne!(x, 30, "boom");
        (x, c)
    });
    let r = SourceWithContext::from_tuples(failing)
        .filter(|_| true)
        .as_source()
        .run_with(Sink::seq())
        .await;
    assert!(matches!(r, Err(StreamError::Panicked { .. })), "{r:?}");
    assert!(log.lock().unwrap().is_empty());
}

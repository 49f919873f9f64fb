//! `on_error_complete` and `drop_repeated`.

mod support;

use proptest::prelude::*;
use support::{is_boom, Boom};
use weir::prelude::*;

fn failing_after(xs: Vec<u32>) -> Source<u32> {
    Source::from_iter(xs).concat(Source::failed(StreamError::failed(Boom)))
}

#[tokio::test]
async fn on_error_complete_completes_on_accepted_failures_and_passes_others() {
    let out = failing_after(vec![1, 2])
        .on_error_complete(is_boom)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2]);
    let e = failing_after(vec![1])
        .on_error_complete(|e| matches!(e, StreamError::AbruptTermination))
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&e));
    // Completion passes untouched.
    let out = Source::from_iter([3, 4])
        .on_error_complete(|_| true)
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![3, 4]);
}

#[tokio::test]
async fn a_panicking_predicate_fails_the_stream() {
    let e = failing_after(vec![1])
        .on_error_complete(|_| -> bool { panic!("predicate") })
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(matches!(e, StreamError::Panicked { .. }), "{e}");
}

#[tokio::test]
async fn drop_repeated_keeps_the_first_of_each_run_and_passes_failure() {
    let out = Source::from_iter([1, 1, 2, 2, 2, 1, 3, 3])
        .drop_repeated()
        .run_with(Sink::seq())
        .await
        .unwrap();
    assert_eq!(out, vec![1, 2, 1, 3]);
    let e = failing_after(vec![5, 5])
        .drop_repeated()
        .run_with(Sink::seq())
        .await
        .unwrap_err();
    assert!(is_boom(&e));
}

proptest! {
    #[test]
    fn drop_repeated_equals_dedup(xs in proptest::collection::vec(0u8..4, 0..200)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let input = xs.clone();
        let out = rt
            .block_on(async move { Source::from_iter(input).drop_repeated().run_with(Sink::seq()).await })
            .unwrap();
        let mut want = xs;
        want.dedup();
        prop_assert_eq!(out, want);
    }
}

//! `BidiFlow`: construction from functions and flows, stacking with `atop`, closing with `join`,
//! and `reversed` (Akka's `BidiFlow`).

use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};
use weir::BidiFlow;

/// A layer that tags elements on the way out (`top`) and on the way back (`bottom`).
fn layer(name: &'static str) -> BidiFlow<String, String, String, String> {
    BidiFlow::from_functions(
        move |s: String| format!("{s} >{name}"),
        move |s: String| format!("{s} <{name}"),
    )
}

async fn run_flow<I, O>(flow: Flow<I, O>, input: Vec<I>) -> Vec<O>
where
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    Source::from_iter(input)
        .via(flow)
        .run_with(Sink::seq())
        .await
        .expect("the stream completes")
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn from_functions_applies_each_function_in_its_direction() {
    let codec = BidiFlow::from_functions(|n: u32| n.to_string(), |s: String| s.len());
    assert_eq!(
        run_flow(codec.top().clone(), vec![7, 42, 1000]).await,
        strings(&["7", "42", "1000"])
    );
    assert_eq!(
        run_flow(codec.bottom().clone(), strings(&["a", "bcd", ""])).await,
        vec![1, 3, 0]
    );
}

#[tokio::test]
async fn from_flows_uses_the_flows_as_they_are() {
    // Flows that are not one-to-one, with materialized values that are dropped.
    let top = Flow::<i32>::new()
        .filter(|x| x % 2 == 0)
        .watch_termination();
    let bottom = Flow::<i32>::new().map_concat(|x| vec![x, x]);
    let bidi = BidiFlow::from_flows(top, bottom);
    assert_eq!(
        run_flow(bidi.top().clone(), vec![1, 2, 3, 4]).await,
        vec![2, 4]
    );
    assert_eq!(
        run_flow(bidi.bottom().clone(), vec![1, 2]).await,
        vec![1, 1, 2, 2]
    );
}

#[tokio::test]
async fn join_runs_top_then_the_flow_then_bottom() {
    let codec = BidiFlow::from_functions(
        |n: u32| n.to_string(),
        |s: String| s.parse::<u32>().expect("a number"),
    );
    // A "server" that appends a zero to each message.
    let server = Flow::<String>::new().map(|s| s + "0");
    let client = codec.join(server);
    assert_eq!(run_flow(client, vec![1, 2, 35]).await, vec![10, 20, 350]);
}

#[tokio::test]
async fn join_with_a_flow_that_filters_and_expands() {
    let bidi = BidiFlow::from_functions(|x: i32| x * 10, |x: i32| x + 1);
    let server = Flow::<i32>::new()
        .filter(|x| *x != 20)
        .map_concat(|x| vec![x, -x]);
    let joined = bidi.join(server);
    assert_eq!(run_flow(joined, vec![1, 2, 3]).await, vec![11, -9, 31, -29]);
}

#[tokio::test]
async fn atop_stacks_top_flows_outside_in_and_bottom_flows_inside_out() {
    let stack = layer("a").atop(layer("b")).atop(layer("c"));
    let echo = Flow::<String>::new().map(|s| format!("{s} |"));
    let out = run_flow(stack.join(echo), strings(&["x"])).await;
    assert_eq!(out, strings(&["x >a >b >c | <c <b <a"]));
}

#[tokio::test]
async fn atop_is_associative() {
    let left = layer("a").atop(layer("b")).atop(layer("c"));
    let right = layer("a").atop(layer("b").atop(layer("c")));
    let echo = Flow::<String>::new();
    let input = strings(&["p", "q"]);
    assert_eq!(
        run_flow(left.join(echo.clone()), input.clone()).await,
        run_flow(right.join(echo), input).await
    );
}

#[tokio::test]
async fn atop_composes_layers_of_different_types() {
    // Numbers ↔ strings on the outside, strings ↔ bytes inside.
    let framing = BidiFlow::from_functions(
        |n: u32| n.to_string(),
        |s: String| s.parse::<u32>().expect("a number"),
    );
    let bytes = BidiFlow::from_functions(
        |s: String| s.into_bytes(),
        |b: Vec<u8>| String::from_utf8(b).expect("utf-8"),
    );
    let stack = framing.atop(bytes);
    // The "wire" reverses the bytes.
    let wire = Flow::<Vec<u8>>::new().map(|mut b| {
        b.reverse();
        b
    });
    assert_eq!(
        run_flow(stack.join(wire), vec![12, 340, 5]).await,
        vec![21, 43, 5]
    );
}

#[tokio::test]
async fn reversed_swaps_top_and_bottom() {
    let bidi = BidiFlow::from_functions(|n: u32| n.to_string(), |s: String| s.len());
    let rev = bidi.reversed();
    assert_eq!(
        run_flow(rev.top().clone(), strings(&["ab", "cde"])).await,
        vec![2, 3]
    );
    assert_eq!(
        run_flow(rev.bottom().clone(), vec![5, 66]).await,
        strings(&["5", "66"])
    );
}

#[tokio::test]
async fn reversed_stack_joins_from_the_other_side() {
    let stack = layer("a").atop(layer("b"));
    let echo = Flow::<String>::new().map(|s| format!("{s} |"));
    let out = run_flow(stack.reversed().join(echo), strings(&["x"])).await;
    // From the other side the bottom flows go out first: b then a; the top flows come back:
    // a then b.
    assert_eq!(out, strings(&["x <b <a | >a >b"]));
}

#[tokio::test]
async fn reversed_twice_is_the_original() {
    let bidi = layer("a").atop(layer("b"));
    let twice = bidi.clone().reversed().reversed();
    let echo = Flow::<String>::new();
    let input = strings(&["m"]);
    assert_eq!(
        run_flow(twice.join(echo.clone()), input.clone()).await,
        run_flow(bidi.join(echo), input).await
    );
}

#[tokio::test]
async fn a_bidi_flow_is_a_reusable_blueprint() {
    let codec = BidiFlow::from_functions(|x: i32| x + 1, |x: i32| x * 2);
    let joined = codec.clone().join(Flow::<i32>::new());
    assert_eq!(run_flow(joined.clone(), vec![1, 2]).await, vec![4, 6]);
    assert_eq!(run_flow(joined, vec![10]).await, vec![22]);
    // Closures are cloned per materialization: stateful functions start afresh each run.
    let counting = BidiFlow::from_functions(
        {
            let mut n = 0;
            move |x: i32| {
                n += 1;
                x * 100 + n
            }
        },
        |x: i32| x,
    );
    let flow = counting.join(Flow::<i32>::new());
    assert_eq!(run_flow(flow.clone(), vec![1, 2]).await, vec![101, 202]);
    assert_eq!(run_flow(flow, vec![1, 2]).await, vec![101, 202]);
}

#[tokio::test]
async fn a_joined_bidi_flow_passes_back_pressure_and_completion() {
    let bidi = BidiFlow::from_functions(|x: i32| x * 2, |x: i32| x + 1);
    let (src, sink) = TestSource::<i32>::probe()
        .via(bidi.join(Flow::<i32>::new()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    assert_eq!(src.expect_request().await, 1);
    src.send_next(5).await;
    sink.expect_next(11).await;
    sink.request(1);
    src.send_next(6).await;
    sink.expect_next(13).await;
    src.send_complete();
    sink.request(1);
    sink.expect_complete().await;
}

#[tokio::test]
async fn a_joined_bidi_flow_propagates_failure_and_cancellation() {
    let bidi = BidiFlow::from_functions(|x: i32| x, |x: i32| x);
    let (src, sink) = TestSource::<i32>::probe()
        .via(bidi.clone().join(Flow::<i32>::new()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(4);
    src.send_next(1).await;
    sink.expect_next(1).await;
    src.send_error(StreamError::LimitExceeded { max: 1 });
    assert!(matches!(
        sink.expect_error().await,
        StreamError::LimitExceeded { max: 1 }
    ));

    let (src, sink) = TestSource::<i32>::probe()
        .via(bidi.join(Flow::<i32>::new()))
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(1).await;
    sink.cancel();
    src.expect_cancellation().await;
}

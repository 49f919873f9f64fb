use std::time::Duration;

use weir::prelude::*;
use weir::testkit::{TestSink, TestSource};

#[tokio::test(start_paused = true)]
async fn probes_see_demand_elements_and_completion() {
    let (src, sink) = TestSource::<i32>::probe()
        .map(|x| x + 1)
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.expect_no_message(Duration::from_millis(100)).await;
    sink.request(3);
    assert_eq!(src.expect_request().await, 3);
    src.send_next(1).await;
    src.send_next(2).await;
    sink.expect_next_n([2, 3]).await;
    src.send_complete();
    sink.expect_complete().await;
}

#[tokio::test(start_paused = true)]
async fn cancel_reaches_source() {
    let (src, sink) = TestSource::<i32>::probe()
        .map(|x| x + 1)
        .async_boundary()
        .to_mat(TestSink::probe(), Keep::both)
        .run();
    sink.request(1);
    src.send_next(1).await;
    sink.expect_next(2).await;
    sink.cancel();
    src.expect_cancellation().await;
}

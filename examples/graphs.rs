//! Graphs with the builder: a worker pool, a broadcast to two sinks with combined materialized
//! values, and a cycle kept live by a dropping buffer.
//!
//! ```text
//! cargo run --example graphs
//! ```

use std::time::Duration;

use weir::builder::GraphBuilder;
use weir::junctions::{Balance, Broadcast, Merge};
use weir::prelude::*;
use weir::OverflowStrategy;

/// Balance → `workers` parallel flows → Merge, packaged as a reusable flow.
fn worker_pool<F>(workers: usize, work: Flow<u64, String, F>) -> Flow<u64, String>
where
    F: 'static,
{
    let mut b = GraphBuilder::new();
    let balance = b.add(Balance::<u64>::new(workers));
    let merge = b.add(Merge::<String>::new(workers));
    for (i, (out, inp)) in balance.outs.iter().zip(&merge.ins).enumerate() {
        // Each worker is its own island, so the workers really run in parallel.
        let worker = work
            .clone()
            .map(move |s| format!("worker {i}: {s}"))
            .async_boundary();
        let done = b.via(*out, worker);
        b.connect(done, *inp);
    }
    b.build_flow(balance.inlet, merge.out, |_| ())
        .expect("the pool is wired completely")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A worker pool: slow work spread over three workers.
    let slow_square = Flow::<u64>::new().map_async(1, |x| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        format!("{x}² = {}", x * x)
    });
    let pool = worker_pool(3, slow_square);
    let started = std::time::Instant::now();
    let results = Source::range(1u64, 9)
        .via(pool)
        .run_with(Sink::seq())
        .await?;
    for line in &results {
        println!("{line}");
    }
    println!(
        "9 jobs of 50 ms on 3 workers took {:?}\n",
        started.elapsed()
    );

    // 2. A broadcast to two sinks; the graph's materialized value combines both sinks' values.
    let mut b = GraphBuilder::new();
    let src = b.add_source(Source::range(1, 10));
    let bcast = b.add(Broadcast::<i32>::new(2));
    let (sum_in, sum) = b.add_sink_mat(Sink::fold(0, |a, x| a + x));
    let (max_in, max) = b.add_sink_mat(Sink::reduce(|a: i32, x| a.max(x)));
    b.connect(src, bcast.inlet);
    b.connect(bcast.outs[0], sum_in);
    b.connect(bcast.outs[1], max_in);
    let graph = b.build(move |mats| (mats.take(sum), mats.take(max)))?;
    let (sum, max) = graph.run();
    println!("sum = {}, max = {}\n", sum.await?, max.await?);

    // 3. A cycle: each element comes back incremented; the dropping buffer on the feedback arc
    //    keeps the loop live (without it the growing loop would fill its buffers and stall).
    let mut b = GraphBuilder::new();
    let seed = b.add_source(Source::single(1u32));
    let merge = b.add(Merge::<u32>::new(2));
    let bcast = b.add(Broadcast::<u32>::new(2));
    b.connect(seed, merge.ins[0]);
    b.connect(merge.out, bcast.inlet);
    let feedback = b.via(
        bcast.outs[1],
        Flow::<u32>::new()
            .map(|x| x + 1)
            .buffer(4, OverflowStrategy::DropHead),
    );
    b.connect(feedback, merge.ins[1]);
    let out = b.via(bcast.outs[0], Flow::<u32>::new().take(10));
    let (sink, seen) = b.add_sink_mat(Sink::seq());
    b.connect(out, sink);
    let cycle = b.build(move |mats| mats.take(seen))?;
    println!("cycle produced {:?}", cycle.run().await?);
    Ok(())
}

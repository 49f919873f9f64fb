//! The Akka Streams quickstart, in weir.
//!
//! ```text
//! cargo run --example factorials              # prints everything at once
//! cargo run --example factorials -- --throttle  # the last part at one line a second
//! ```

use std::path::PathBuf;
use std::time::Duration;

use num_bigint::BigInt;
use tokio_util::codec::{FramedWrite, LinesCodec};
use weir::prelude::*;
use weir::Completion;

/// A reusable sink blueprint that writes each string as a line of `path`.
fn line_sink(path: PathBuf) -> Sink<String, Completion<()>> {
    Sink::from_sink_fn(move || {
        let file = std::fs::File::create(&path)?;
        Ok::<_, std::io::Error>(FramedWrite::new(
            tokio::fs::File::from_std(file),
            LinesCodec::new(),
        ))
    })
}

#[tokio::main]
async fn main() -> Result<(), StreamError> {
    let throttle = std::env::args().any(|a| a == "--throttle");

    // A source is a blueprint: nothing runs until it is run, and it can run many times.
    let source = Source::range(1u32, 100);
    source.run_foreach(|i| println!("{i}")).await?;

    // Factorials of 1..=10; `scan` emits its seed first: 1, 1, 2, 6, ..., 3628800.
    Source::range(1u32, 10)
        .scan(BigInt::from(1), |acc, n| acc * n)
        .run_foreach(|f| println!("{f}"))
        .await?;

    // The factorials of 1..=100, written to a file through a reusable sink blueprint.
    let factorials = source.scan(BigInt::from(1), |acc, n| acc * n);
    factorials
        .clone()
        .map(|f| f.to_string())
        .run_with(line_sink(PathBuf::from("factorials.txt")))
        .await?;
    println!("wrote factorials.txt");

    // Zip with 0..=100 and print `n! = x`, throttled to a line a second if asked.
    let lines = factorials.zip_with(Source::range(0u32, 100), |f, n| format!("{n}! = {f}"));
    let lines = if throttle {
        lines.throttle(1, Duration::from_secs(1), 1)
    } else {
        lines
    };
    lines.run_foreach(|line| println!("{line}")).await?;
    Ok(())
}

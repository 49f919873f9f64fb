//! The execution engine: a hot stream shares a current-thread runtime with other tasks, and a
//! terminated graph leaves no task and no stage behind, on every island.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use support::{is_boom, ms, settle, Boom};
use weir::prelude::*;
use weir::{Attributes, Decider, OverflowStrategy};

// ---------------------------------------------------------------------------------------------
// No starvation
// ---------------------------------------------------------------------------------------------

/// How long a starved runtime is given before the test gives up on it.
const STARVED: Duration = Duration::from_secs(20);

/// Starts a never-ending stream with `start` (which counts its elements in the counter it is
/// given, and drops the stream's completion: the stream runs regardless) on a fresh
/// current-thread runtime, then checks that another task gets to run while the stream keeps
/// running. The runtime lives on a thread of its own so that a starved runtime fails the test
/// instead of hanging it.
fn assert_shares_the_runtime(
    what: &'static str,
    start: impl FnOnce(Arc<AtomicUsize>) + Send + 'static,
) {
    let (report, reports) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let passed = Arc::new(AtomicUsize::new(0));
            start(passed.clone());
            let ticks = Arc::new(AtomicUsize::new(0));
            let t = ticks.clone();
            let (answer, answered) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                for _ in 0..10 {
                    t.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
                answer.send(()).unwrap();
            });
            answered.await.unwrap();
            let at_answer = passed.load(Ordering::SeqCst);
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            let later = passed.load(Ordering::SeqCst);
            report
                .send((ticks.load(Ordering::SeqCst), at_answer, later))
                .unwrap();
        });
    });
    let (ticks, at_answer, later) = reports
        .recv_timeout(STARVED)
        .unwrap_or_else(|_| panic!("{what}: the other task never ran (starved)"));
    assert_eq!(ticks, 10, "{what}: the other task ran to its end");
    assert!(at_answer > 0, "{what}: the hot stream ran meanwhile");
    assert!(
        later > at_answer,
        "{what}: the hot stream is still running ({at_answer} then {later})"
    );
}

/// Counts each element in `passed`.
fn counted<T>(passed: &Arc<AtomicUsize>) -> impl FnMut(T) -> T + Clone + Send + Sync + 'static {
    let passed = passed.clone();
    move |x| {
        passed.fetch_add(1, Ordering::SeqCst);
        x
    }
}

#[test]
fn always_ready_sources_do_not_starve_other_tasks() {
    assert_shares_the_runtime("repeat", |n| {
        drop(Source::repeat(1).map(counted(&n)).run_with(Sink::ignore()));
    });
    assert_shares_the_runtime("a long range", |n| {
        drop(
            Source::range(1u64, u64::MAX)
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("iterate", |n| {
        drop(
            Source::iterate(0u64, |x| x.wrapping_add(1))
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("cycle", |n| {
        drop(
            Source::cycle(vec![1, 2, 3])
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("unfold", |n| {
        drop(
            Source::unfold(0u64, |s| Some((s.wrapping_add(1), s)))
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("from_stream_fn", |n| {
        drop(
            Source::from_stream_fn(|| futures::stream::repeat(1))
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("unfold_resource", |n| {
        drop(
            Source::unfold_resource(|| 0u64, |s| Some(*s), |_| {})
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
}

#[test]
fn hot_streams_through_operators_do_not_starve_other_tasks() {
    assert_shares_the_runtime("a filter that drops everything", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .filter(|_| false)
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("empty expansions", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .map_concat(|_| Vec::<i32>::new())
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("empty substreams", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .flat_map_concat(|_| Source::<i32>::empty())
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("hot substreams", |n| {
        drop(
            Source::repeat(1)
                .flat_map_merge(2, Source::repeat)
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("ready futures", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .map_async(4, |x| async move { x })
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("merge", |n| {
        drop(
            Source::repeat(1)
                .merge(Source::repeat(2))
                .map(counted(&n))
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("an async boundary", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .async_boundary()
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("conflate", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .conflate(|a, b| a + b)
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("a dropping buffer", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .buffer(4, OverflowStrategy::DropHead)
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("also_to", |n| {
        drop(
            Source::repeat(1)
                .map(counted(&n))
                .also_to(Sink::ignore())
                .run_with(Sink::ignore()),
        );
    });
    assert_shares_the_runtime("supervision resuming on every element", |n| {
        drop(
            Source::repeat(0)
                .map(counted(&n))
                .try_map(|x: i32| if x == 0 { Err(Boom) } else { Ok(x) })
                .with_attributes(Attributes::supervision(Decider::resuming()))
                .run_with(Sink::ignore()),
        );
    });
}

#[test]
fn a_recovery_that_keeps_failing_does_not_starve_other_tasks() {
    assert_shares_the_runtime("recover_with_retries", |n| {
        drop(
            Source::<i32>::failed(StreamError::failed(Boom))
                .recover_with_retries(None, move |_| {
                    n.fetch_add(1, Ordering::SeqCst);
                    Some(Source::failed(StreamError::failed(Boom)))
                })
                .run_with(Sink::ignore()),
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Nothing lives on after termination
// ---------------------------------------------------------------------------------------------

/// Counts the live clones of itself: captured by a stage's closure, which is cloned for each
/// materialization, it counts the materialized stages not yet dropped.
struct Token(Arc<AtomicUsize>);

impl Token {
    fn new() -> Token {
        Token(Arc::new(AtomicUsize::new(1)))
    }

    fn live(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A pass-through closure holding a clone of this token.
    fn stage<T>(&self) -> impl FnMut(T) -> T + Clone + Send + Sync + 'static {
        let token = self.clone();
        move |x| {
            let _ = &token;
            x
        }
    }
}

impl Clone for Token {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Token(self.0.clone())
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `source` through three islands, each with a stage holding `token`.
fn three_islands(source: Source<i32>, token: &Token) -> Source<i32> {
    source
        .map(token.stage())
        .async_boundary()
        .map(token.stage())
        .async_boundary()
        .map(token.stage())
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Runs `graph` (built with stages holding `token`) into `Sink::seq`, checks the outcome with
/// `check`, and then that no task and no stage of it is left once the runtime is idle.
async fn assert_nothing_left<T: Send + 'static>(
    graph: Source<T>,
    token: &Token,
    check: impl FnOnce(Result<Vec<T>, StreamError>),
) {
    let tasks_before = alive_tasks();
    let stages_before = token.live();
    let out = graph.run_with(Sink::seq());
    settle().await;
    assert!(
        alive_tasks() > tasks_before,
        "the graph runs on tasks of its own"
    );
    check(out.await);
    settle().await;
    assert_eq!(alive_tasks(), tasks_before, "tasks left behind");
    assert_eq!(token.live(), stages_before, "stages left behind");
}

#[tokio::test(start_paused = true)]
async fn completion_leaves_no_task_or_stage_behind() {
    let token = Token::new();
    let slow = Source::range(1, 50).throttle(10, ms(10), 10);
    let graph = three_islands(slow, &token);
    assert_nothing_left(graph, &token, |out| {
        assert_eq!(out.unwrap(), (1..=50).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn upstream_failure_leaves_no_task_or_stage_behind() {
    let token = Token::new();
    // The failure comes after the throttled elements (a `concat` of `Source::failed` would
    // fail at once, as in Pekko).
    let failing = Source::range(1, 51).throttle(10, ms(10), 10).try_map(|x| {
        if x == 51 {
            Err(Boom)
        } else {
            Ok(x)
        }
    });
    let graph = three_islands(failing, &token);
    assert_nothing_left(graph, &token, |out| assert!(is_boom(&out.unwrap_err()))).await;
}

#[tokio::test(start_paused = true)]
async fn downstream_failure_leaves_no_task_or_stage_behind() {
    let token = Token::new();
    let graph = three_islands(Source::repeat(1), &token)
        .throttle(10, ms(10), 10)
        .zip_with_index()
        .map(|(x, i)| {
            assert!(i < 20, "enough");
            x
        });
    assert_nothing_left(graph, &token, |out| {
        assert!(matches!(out, Err(StreamError::Panicked { .. })), "{out:?}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancellation_by_take_leaves_no_task_or_stage_behind() {
    let token = Token::new();
    let graph = three_islands(Source::repeat(1), &token)
        .throttle(10, ms(10), 10)
        .take(25);
    assert_nothing_left(graph, &token, |out| assert_eq!(out.unwrap(), vec![1; 25])).await;
}

/// Builds a graph around a source, with stages holding the token.
type Build = fn(Source<i32>, &Token) -> Source<i32>;

#[tokio::test(start_paused = true)]
async fn cancellation_of_idle_islands_leaves_no_task_or_stage_behind() {
    let idle = || Source::<i32>::never();
    let cases: Vec<(&str, Build)> = vec![
        ("async boundaries", three_islands),
        ("conflate", |s, t| {
            s.map(t.stage()).conflate(|a, b| a + b).map(t.stage())
        }),
        ("batch", |s, t| {
            s.map(t.stage())
                .batch(4, |x| x, |a, b| a + b)
                .map(t.stage())
        }),
        ("expand", |s, t| {
            s.map(t.stage()).expand(std::iter::repeat).map(t.stage())
        }),
        ("a dropping buffer", |s, t| {
            s.map(t.stage())
                .buffer(4, OverflowStrategy::DropHead)
                .map(t.stage())
        }),
        ("also_to", |s, t| {
            s.map(t.stage())
                .also_to(Flow::new().map(t.stage()).to(Sink::ignore()))
                .map(t.stage())
        }),
        ("wire_tap", |s, t| {
            s.map(t.stage())
                .wire_tap(Flow::new().map(t.stage()).to(Sink::ignore()))
                .map(t.stage())
        }),
        ("flat_map_merge over islands", |s, t| {
            let t = t.clone();
            s.merge(Source::single(1)).flat_map_merge(2, move |_| {
                Source::<i32>::never()
                    .map(t.stage())
                    .async_boundary()
                    .map(t.stage())
            })
        }),
    ];
    for (what, build) in cases {
        let token = Token::new();
        let tasks_before = alive_tasks();
        let stages_before = token.live();
        let out = build(idle(), &token)
            .take_within(ms(100))
            .run_with(Sink::seq());
        settle().await;
        assert!(alive_tasks() > tasks_before, "{what}: runs on tasks");
        assert!(token.live() > stages_before, "{what}: stages are live");
        assert!(out.await.unwrap().is_empty(), "{what}");
        settle().await;
        assert_eq!(alive_tasks(), tasks_before, "{what}: tasks left behind");
        assert_eq!(token.live(), stages_before, "{what}: stages left behind");
    }
}

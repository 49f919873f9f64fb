//! The island behind `RestartSink`.

use std::future::poll_fn;
use std::task::Poll;

use futures::channel::oneshot;

use super::backoff::{poll_timer, Backoff, Ended};
use super::feed::Upstream;
use crate::stage::guarded;
use crate::{Attributes, Materializer, Sink};

/// Runs a fresh inner sink on the outer upstream; what resolves when it lets go of its input.
/// A panicking factory counts as a sink that cancelled at once.
fn start_sink<T, M, F>(
    factory: &F,
    upstream: &Upstream<T>,
    m: &mut Materializer,
    attrs: &Attributes,
) -> oneshot::Receiver<()>
where
    T: Send + 'static,
    M: 'static,
    F: Fn() -> Sink<T, M>,
{
    let (feed, gone) = upstream.lend();
    match guarded(&attrs.name_or("RestartSink"), factory) {
        Ok(sink) => drop(sink.materialize_into(m, Box::new(feed), attrs)),
        Err(e) => {
            tracing::warn!(stage = "RestartSink", error = %e, "the sink factory panicked");
            drop(feed);
        }
    }
    gone
}

/// Materializes the first inner sink into `m` and registers the island that restarts it.
pub(crate) fn restart_sink<T, M, F>(
    factory: std::sync::Arc<F>,
    up: crate::stage::BoxPull<T>,
    m: &mut Materializer,
    attrs: &Attributes,
    mut backoff: Backoff,
) where
    T: Send + 'static,
    M: 'static,
    F: Fn() -> Sink<T, M> + Send + Sync + 'static,
{
    let upstream = Upstream::new(up);
    let mut gone = start_sink(&*factory, &upstream, m, attrs);
    let attrs = attrs.clone();
    m.spawn_island(async move {
        loop {
            // The inner sink let go of its input: it finished, failed or cancelled.
            let _ = (&mut gone).await;
            if upstream.ended() {
                return;
            }
            let Some(mut timer) = backoff.restart(Ended::Cancelled) else {
                // Giving up: dropping the upstream cancels it.
                return;
            };
            let ended = poll_fn(|cx| {
                if upstream.poll_ended(cx).is_ready() {
                    return Poll::Ready(true);
                }
                poll_timer(&mut timer, cx).map(|()| false)
            })
            .await;
            if ended {
                // Nothing more to feed a new sink (Akka ends the stage here too).
                return;
            }
            let mut m = Materializer::new();
            gone = start_sink(&*factory, &upstream, &mut m, &attrs);
            m.launch();
            backoff.started();
        }
    });
}

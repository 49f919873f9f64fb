//! The committer: batches offsets and commits them.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use super::consumer::{ConsumerHandle, PendingCommit};
use super::error::KafkaError;
use super::message::CommittableOffset;
use super::settings::{CommitDelivery, CommitterSettings};
use crate::stage::{BoxPull, Pull, Step};
use crate::{Completion, Flow, Keep, Sink, StreamError, StreamOps};

/// How often a retriable commit error is retried before it fails the stream.
const COMMIT_RETRIES: u32 = 30;

/// Committing offsets in batches (Alpakka's `Committer`).
#[derive(Debug)]
pub struct Committer;

/// One committed batch, emitted by [`Committer::flow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedBatch {
    /// Offsets in the batch.
    pub offsets: usize,
}

impl Committer {
    /// Commits offsets in batches of up to `max_batch`, at least every `max_interval`, with up
    /// to `parallelism` commits in flight; emits one [`CommittedBatch`] per batch, in order,
    /// when the broker acknowledged it (or at once with `SendAndForget`).
    ///
    /// # Errors
    /// Retriable commit errors are retried; others fail the stream. On upstream failure the
    /// offsets collected so far are committed before the failure is passed on.
    ///
    /// # Contiguity
    /// A commit covers an offset only when every offset the source emitted before it on the
    /// same partition reached the committer too, so reordering upstream never commits past an
    /// unprocessed record (Alpakka's committer lets a newer offset be overwritten by an older
    /// one, akka/alpakka-kafka#1285).
    pub fn flow(settings: CommitterSettings) -> Flow<CommittableOffset, CommittedBatch> {
        Flow::from_pull(move |up, _| CommitStage::new(up, settings.clone()))
    }

    /// Like [`flow`](Committer::flow), as a sink resolving when all batches are committed.
    pub fn sink(settings: CommitterSettings) -> Sink<CommittableOffset, Completion<()>> {
        Committer::flow(settings).to_mat(Sink::ignore(), Keep::right)
    }

    /// [`sink`](Committer::sink) for elements carrying their offset as a context (Alpakka's
    /// `sinkWithOffsetContext`), the end of a
    /// [`Consumer::source_with_offset_context`](crate::kafka::Consumer::source_with_offset_context)
    /// stream: the elements are done with, their offsets are committed.
    pub fn sink_with_offset_context<E: Send + 'static>(
        settings: CommitterSettings,
    ) -> Sink<(E, CommittableOffset), Completion<()>> {
        Flow::<(E, CommittableOffset)>::new()
            .map(|(_, offset)| offset)
            .to_mat(Committer::sink(settings), Keep::right)
    }
}

/// Offsets of one consumer, per partition, with their commit metadata.
type Offsets = Vec<PendingCommit>;

/// The consumers with offsets in the open batch.
type Batch = Vec<Arc<ConsumerHandle>>;

/// A commit in flight: the offsets it reports (`None`: a commit of offsets that a
/// context-carrying stream dropped, which reports nothing), and its task.
type InFlight = (Option<usize>, JoinHandle<Result<(), KafkaError>>);

struct CommitStage {
    up: Option<BoxPull<CommittableOffset>>,
    settings: CommitterSettings,
    scratch: Vec<CommittableOffset>,
    batch: Batch,
    batch_len: usize,
    deadline: Option<Pin<Box<Sleep>>>,
    in_flight: VecDeque<InFlight>,
    /// Every consumer whose offsets came by: offsets of records a context-carrying stream
    /// dropped count as processed without reaching this stage (`Context::dropped`), and are
    /// committed with the next batch or, when none comes, every `max_interval`.
    known: Vec<Weak<ConsumerHandle>>,
    /// Send-and-forget commits still running.
    forgotten: VecDeque<JoinHandle<Result<(), KafkaError>>>,
    upstream_done: Option<Step>,
}

impl CommitStage {
    fn new(up: BoxPull<CommittableOffset>, mut settings: CommitterSettings) -> Self {
        // Settings from serde bypass the builders' bounds.
        settings.max_batch = settings.max_batch.max(1);
        settings.parallelism = settings.parallelism.max(1);
        CommitStage {
            up: Some(up),
            settings,
            scratch: Vec::new(),
            batch: Vec::new(),
            batch_len: 0,
            deadline: None,
            in_flight: VecDeque::new(),
            known: Vec::new(),
            forgotten: VecDeque::new(),
            upstream_done: None,
        }
    }

    /// Takes a batch of offsets: they count as processed at once (so a rebalance can commit
    /// them), and are committed with the batch.
    fn add(&mut self, offsets: Vec<CommittableOffset>) {
        let mut groups: Vec<(Arc<ConsumerHandle>, Offsets)> = Vec::new();
        self.batch_len += offsets.len();
        for o in offsets {
            let entry = (o.partition, o.offset, o.metadata);
            match groups.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &o.consumer)) {
                Some((_, v)) => v.push(entry),
                None => groups.push((o.consumer, vec![entry])),
            }
        }
        for (handle, offsets) in groups {
            handle.mark_processed(offsets);
            if !self
                .known
                .iter()
                .any(|k| k.as_ptr() == Arc::as_ptr(&handle))
            {
                self.known.push(Arc::downgrade(&handle));
            }
            if !self.batch.iter().any(|h| Arc::ptr_eq(h, &handle)) {
                self.batch.push(handle);
            }
        }
    }

    /// Sends the current batch as one commit per consumer, with every other known consumer
    /// that has processed offsets to commit; `false` if there was nothing to send.
    fn flush(&mut self) -> bool {
        self.deadline = None;
        let batch = std::mem::take(&mut self.batch);
        let n = std::mem::replace(&mut self.batch_len, 0);
        self.known.retain(|k| k.strong_count() > 0);
        let others: Vec<Arc<ConsumerHandle>> = self
            .known
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|k| !batch.iter().any(|h| Arc::ptr_eq(h, k)) && !k.pending_commits().is_empty())
            .collect();
        if batch.is_empty() && others.is_empty() {
            return false;
        }
        let reported = (n > 0).then_some(n);
        let commit = tokio::task::spawn_blocking(move || {
            // A failed commit of the batch fails the stream; one of another consumer's dropped
            // records is only logged (its consumer may have shut down meanwhile; at-least-once
            // holds, as the records are re-read).
            let with_batch = batch.into_iter().map(|h| (h, true));
            for (handle, in_batch) in with_batch.chain(others.into_iter().map(|h| (h, false))) {
                let mut attempt = 0;
                loop {
                    // Recomputed on every attempt: a rebalance may have revoked partitions, whose
                    // offsets then belong to the new owner (it re-reads them: at-least-once).
                    match handle.commit_pending_blocking() {
                        Ok(()) => break,
                        Err(e) if e.retriable && attempt < COMMIT_RETRIES => {
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(
                                (50 << attempt.min(4)).min(1000),
                            ));
                        }
                        Err(e) if in_batch => return Err(e),
                        Err(e) => {
                            tracing::warn!(error = %e, "commit of dropped records' offsets failed");
                            break;
                        }
                    }
                }
            }
            Ok(())
        });
        self.in_flight.push_back((reported, commit));
        true
    }
}

impl Pull<CommittedBatch> for CommitStage {
    fn pull(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<CommittedBatch>,
        max: usize,
    ) -> Poll<Step> {
        let start = out.len();
        loop {
            // Finished commits, in order.
            while out.len() - start < max {
                let Some((n, front)) = self.in_flight.front_mut() else {
                    break;
                };
                if self.settings.delivery == CommitDelivery::SendAndForget {
                    // Reported at once; still counted against `parallelism` until it finishes.
                    if let Some(n) = *n {
                        out.push(CommittedBatch { offsets: n });
                    }
                    if let Some((_, handle)) = self.in_flight.pop_front() {
                        self.forgotten.push_back(handle);
                    }
                    continue;
                }
                match Pin::new(front).poll(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Ok(Ok(()))) => {
                        if let Some(n) = *n {
                            out.push(CommittedBatch { offsets: n });
                        }
                        self.in_flight.pop_front();
                    }
                    Poll::Ready(Ok(Err(e))) => {
                        return Poll::Ready(Step::Failed(StreamError::failed(e)))
                    }
                    Poll::Ready(Err(_)) => {
                        return Poll::Ready(Step::Failed(StreamError::failed(KafkaError::new(
                            "commit",
                            "commit task was cancelled",
                        ))))
                    }
                }
            }
            // Commits sent and forgotten leave the window when they finish; their errors are
            // logged (nobody waits for them), but the stage completes only after them, so a
            // following shutdown does not cut them off.
            while let Some(front) = self.forgotten.front_mut() {
                match Pin::new(front).poll(cx) {
                    Poll::Pending => break,
                    Poll::Ready(r) => {
                        if let Ok(Err(e)) = r {
                            tracing::warn!(error = %e, "send-and-forget commit failed");
                        }
                        self.forgotten.pop_front();
                    }
                }
            }
            if let Some(t) = &self.upstream_done {
                if self.in_flight.is_empty() && self.forgotten.is_empty() && self.batch_len == 0 {
                    return Poll::Ready(match t {
                        Step::Failed(e) => Step::Failed(e.clone()),
                        _ => Step::Complete,
                    });
                }
            }
            if out.len() - start == max {
                return Poll::Ready(Step::Open);
            }
            let mut progressed = false;
            if self.in_flight.len() + self.forgotten.len() < self.settings.parallelism {
                if let Some(up) = self.up.as_mut() {
                    let want = self.settings.max_batch - self.batch_len;
                    if let Poll::Ready(step) = up.pull(cx, &mut self.scratch, want.max(1)) {
                        progressed = true;
                        let offsets: Vec<_> = self.scratch.drain(..).collect();
                        self.add(offsets);
                        if step.is_terminal() {
                            // Commit what was collected, also when upstream failed.
                            self.up = None;
                            self.upstream_done = Some(step);
                            let _ = self.flush();
                        }
                    }
                }
                if self.batch_len >= self.settings.max_batch {
                    let _ = self.flush();
                    progressed = true;
                }
            }
            // Also while no offset comes: dropped records' offsets wait for this.
            if self.batch_len > 0 || (self.up.is_some() && !self.known.is_empty()) {
                let interval = self.settings.max_interval;
                let deadline = self.deadline.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + interval))
                });
                if deadline.as_mut().poll(cx).is_ready() {
                    if self.flush() {
                        progressed = true;
                    } else {
                        // Nothing to commit: look again after another interval.
                        let mut next = Box::pin(tokio::time::sleep_until(
                            Instant::now() + interval.max(Duration::from_millis(1)),
                        ));
                        let _ = next.as_mut().poll(cx);
                        self.deadline = Some(next);
                    }
                }
            }
            if !progressed {
                return if out.len() > start {
                    Poll::Ready(Step::Open)
                } else {
                    Poll::Pending
                };
            }
        }
    }
}

//! `Source::unfold_resource_async`.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::stage::{poll_budget, poll_caught, BoxPull, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::{Attributes, NotUsed, Source, StreamError};

/// Where the resource is in its life.
enum Phase<CF, ClF> {
    /// No resource: the next pull creates one.
    Idle,
    Creating(Pin<Box<CF>>),
    Open,
    /// Closing, then (`Some`) terminating with that step or (`None`) creating a new resource.
    Closing(Pin<Box<ClF>>, Option<Step>),
    Done,
}

pub(crate) struct UnfoldResourceAsync<T, R, E, C, CF, Rd, RF, Cl, ClF>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Error + Send + Sync + 'static,
    C: FnMut() -> CF + Send + 'static,
    CF: Future<Output = Result<R, E>> + Send + 'static,
    Rd: FnMut(&mut R) -> RF + Send + 'static,
    RF: Future<Output = Result<Option<T>, E>> + Send + 'static,
    Cl: FnMut(R) -> ClF + Clone + Send + 'static,
    ClF: Future<Output = Result<(), E>> + Send + 'static,
{
    create: C,
    read: Rd,
    close: Cl,
    resource: Option<R>,
    phase: Phase<CF, ClF>,
    /// The read in flight, in a box allocated once and reused for every read.
    reading: Pin<Box<Option<RF>>>,
    sup: Supervisor,
    _t: std::marker::PhantomData<fn() -> (T, E)>,
}

/// Turns a user error or a panic payload into the stage's failure.
fn failure<E: Error + Send + Sync + 'static>(
    sup: &Supervisor,
    r: Result<Result<(), E>, Box<dyn std::any::Any + Send>>,
) -> Result<(), StreamError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StreamError::failed(e)),
        Err(payload) => Err(StreamError::panicked(sup.name.clone(), payload)),
    }
}

impl<T, R, E, C, CF, Rd, RF, Cl, ClF> UnfoldResourceAsync<T, R, E, C, CF, Rd, RF, Cl, ClF>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Error + Send + Sync + 'static,
    C: FnMut() -> CF + Send + 'static,
    CF: Future<Output = Result<R, E>> + Send + 'static,
    Rd: FnMut(&mut R) -> RF + Send + 'static,
    RF: Future<Output = Result<Option<T>, E>> + Send + 'static,
    Cl: FnMut(R) -> ClF + Clone + Send + 'static,
    ClF: Future<Output = Result<(), E>> + Send + 'static,
{
    /// Starts closing the open resource, then `then` (see [`Phase::Closing`]).
    fn start_close(&mut self, then: Option<Step>) -> Result<(), StreamError> {
        self.reading.as_mut().set(None);
        match self.resource.take() {
            Some(r) => {
                let close = &mut self.close;
                let fut = self.sup.call(|| close(r))?;
                self.phase = Phase::Closing(Box::pin(fut), then);
            }
            None => {
                self.phase = match then {
                    Some(_) => Phase::Done,
                    None => Phase::Idle,
                }
            }
        }
        Ok(())
    }

    /// A failed read or a failed creation: the decider chooses.
    fn on_error(&mut self, e: StreamError) -> Option<Poll<Step>> {
        match self.sup.decide(&e) {
            Directive::Stop => {
                if self.start_close(Some(Step::Failed(e.clone()))).is_err() {
                    self.phase = Phase::Done;
                    return Some(Poll::Ready(Step::Failed(e)));
                }
                None
            }
            Directive::Resume => None,
            Directive::Restart => {
                if let Err(e) = self.start_close(None) {
                    self.phase = Phase::Done;
                    return Some(Poll::Ready(Step::Failed(e)));
                }
                None
            }
        }
    }
}

impl<T, R, E, C, CF, Rd, RF, Cl, ClF> Pull<T>
    for UnfoldResourceAsync<T, R, E, C, CF, Rd, RF, Cl, ClF>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Error + Send + Sync + 'static,
    C: FnMut() -> CF + Send + 'static,
    CF: Future<Output = Result<R, E>> + Send + 'static,
    Rd: FnMut(&mut R) -> RF + Send + 'static,
    RF: Future<Output = Result<Option<T>, E>> + Send + 'static,
    Cl: FnMut(R) -> ClF + Clone + Send + 'static,
    ClF: Future<Output = Result<(), E>> + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let start = out.len();
        let open = |out: &Vec<T>| {
            if out.len() > start {
                Poll::Ready(Step::Open)
            } else {
                Poll::Pending
            }
        };
        while out.len() - start < max {
            // Futures that are always ready must not keep the task to themselves.
            if poll_budget(cx).is_pending() {
                return open(out);
            }
            match &mut self.phase {
                Phase::Done => return Poll::Ready(Step::Complete),
                Phase::Idle => {
                    let create = &mut self.create;
                    match self.sup.call(create) {
                        Ok(fut) => self.phase = Phase::Creating(Box::pin(fut)),
                        Err(e) => {
                            self.phase = Phase::Done;
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
                }
                Phase::Creating(fut) => match poll_caught(fut.as_mut(), cx) {
                    Poll::Pending => return open(out),
                    Poll::Ready(Ok(Ok(r))) => {
                        self.resource = Some(r);
                        self.phase = Phase::Open;
                    }
                    // As Akka, a resource that cannot be created fails the stream.
                    Poll::Ready(Ok(Err(e))) => {
                        self.phase = Phase::Done;
                        return Poll::Ready(Step::Failed(StreamError::failed(e)));
                    }
                    Poll::Ready(Err(payload)) => {
                        self.phase = Phase::Done;
                        let e = StreamError::panicked(self.sup.name.clone(), payload);
                        return Poll::Ready(Step::Failed(e));
                    }
                },
                Phase::Open => {
                    if self.reading.is_none() {
                        let (read, r) = (&mut self.read, self.resource.as_mut());
                        let r = r.expect("an open phase has a resource");
                        match self.sup.call(|| read(r)) {
                            Ok(fut) => self.reading.as_mut().set(Some(fut)),
                            Err(e) => {
                                if let Some(p) = self.on_error(e) {
                                    return p;
                                }
                                continue;
                            }
                        }
                    }
                    let fut = self
                        .reading
                        .as_mut()
                        .as_pin_mut()
                        .expect("a read was just set");
                    let result = match poll_caught(fut, cx) {
                        Poll::Pending => return open(out),
                        Poll::Ready(r) => r,
                    };
                    self.reading.as_mut().set(None);
                    match result {
                        Ok(Ok(Some(x))) => out.push(x),
                        Ok(Ok(None)) => {
                            if let Err(e) = self.start_close(Some(Step::Complete)) {
                                self.phase = Phase::Done;
                                return Poll::Ready(Step::Failed(e));
                            }
                        }
                        Ok(Err(e)) => {
                            if let Some(p) = self.on_error(StreamError::failed(e)) {
                                return p;
                            }
                        }
                        Err(payload) => {
                            let e = StreamError::panicked(self.sup.name.clone(), payload);
                            if let Some(p) = self.on_error(e) {
                                return p;
                            }
                        }
                    }
                }
                Phase::Closing(fut, then) => match poll_caught(fut.as_mut(), cx) {
                    Poll::Pending => return open(out),
                    Poll::Ready(r) => {
                        let then = then.take();
                        let closed = failure(&self.sup, r);
                        match (then, closed) {
                            (None, Ok(())) => self.phase = Phase::Idle,
                            (Some(step), Ok(())) => {
                                self.phase = Phase::Done;
                                return Poll::Ready(step);
                            }
                            // A failure to close wins over completion; a read's failure
                            // that made us close wins over it.
                            (Some(Step::Failed(e)), Err(_)) | (_, Err(e)) => {
                                self.phase = Phase::Done;
                                return Poll::Ready(Step::Failed(e));
                            }
                        }
                    }
                },
            }
        }
        Poll::Ready(Step::Open)
    }
}

impl<T, R, E, C, CF, Rd, RF, Cl, ClF> Drop for UnfoldResourceAsync<T, R, E, C, CF, Rd, RF, Cl, ClF>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Error + Send + Sync + 'static,
    C: FnMut() -> CF + Send + 'static,
    CF: Future<Output = Result<R, E>> + Send + 'static,
    Rd: FnMut(&mut R) -> RF + Send + 'static,
    RF: Future<Output = Result<Option<T>, E>> + Send + 'static,
    Cl: FnMut(R) -> ClF + Clone + Send + 'static,
    ClF: Future<Output = Result<(), E>> + Send + 'static,
{
    fn drop(&mut self) {
        // Cancelled: the resource still has to be closed, which takes a future; it runs on the
        // runtime, reporting to nobody (as Akka's close on cancellation). A panic in `close`
        // has nobody to report to either.
        self.reading.as_mut().set(None);
        let mut close = self.close.clone();
        let cleanup: futures::future::BoxFuture<'static, ()> = match (
            std::mem::replace(&mut self.phase, Phase::Done),
            self.resource.take(),
        ) {
            (Phase::Closing(fut, _), _) => Box::pin(async move {
                let _ = fut.await;
            }),
            (Phase::Creating(fut), _) => Box::pin(async move {
                if let Ok(r) = fut.await {
                    let _ = close(r).await;
                }
            }),
            (_, Some(r)) => {
                let fut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| close(r)));
                match fut {
                    Ok(fut) => Box::pin(async move {
                        let _ = fut.await;
                    }),
                    Err(_) => return,
                }
            }
            _ => return,
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            drop(handle.spawn(cleanup));
        }
    }
}

impl<Out: Send + 'static> Source<Out, NotUsed> {
    /// Reads from a resource with asynchronous operations (Akka's `unfoldResourceAsync`):
    /// `create`'s future opens it at the first pull, each `read` future yields the next element
    /// or `None` at the end, and `close`'s future releases it, once, on every kind of
    /// termination.
    ///
    /// `read` gets the resource by `&mut`; its future is `'static`, so it owns what it needs
    /// (a clone of a handle, a buffer taken from the resource).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use weir::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let c = closed.clone();
    /// let lines = Source::unfold_resource_async(
    ///     || async { Ok::<_, std::io::Error>(vec!["a", "b"].into_iter()) },
    ///     |it| {
    ///         let next = it.next();
    ///         async move { Ok(next) }
    ///     },
    ///     move |_it| {
    ///         let c = c.clone();
    ///         async move {
    ///             c.fetch_add(1, Ordering::SeqCst);
    ///             Ok(())
    ///         }
    ///     },
    /// );
    /// assert_eq!(lines.run_with(Sink::seq()).await.unwrap(), vec!["a", "b"]);
    /// assert_eq!(closed.load(Ordering::SeqCst), 1);
    /// # }
    /// ```
    ///
    /// # Back pressure
    /// One read at a time, started only on demand.
    ///
    /// # Completion
    /// Completes after `close`'s future resolved, when a read yields `None`.
    ///
    /// # Errors
    /// An `Err` from `create` (or a panic) fails the stream; an `Err` from `close` fails it
    /// instead of completing. Errors are [`StreamError::Failed`] carrying the user's error.
    ///
    /// # Supervision
    /// An `Err` or a panic from `read`: Stop closes the resource and fails; Resume skips that
    /// read; Restart closes the resource and creates a new one.
    ///
    /// # Cancellation safety
    /// On cancellation the read in flight is dropped and `close`'s future is spawned onto the
    /// tokio runtime (a resource still being created is closed once created); its outcome is
    /// not reported, as in Akka.
    pub fn unfold_resource_async<R, E, C, CF, Rd, RF, Cl, ClF>(
        create: C,
        read: Rd,
        close: Cl,
    ) -> Self
    where
        R: Send + 'static,
        E: Error + Send + Sync + 'static,
        C: FnMut() -> CF + Clone + Send + Sync + 'static,
        CF: Future<Output = Result<R, E>> + Send + 'static,
        Rd: FnMut(&mut R) -> RF + Clone + Send + Sync + 'static,
        RF: Future<Output = Result<Option<Out>, E>> + Send + 'static,
        Cl: FnMut(R) -> ClF + Clone + Send + Sync + 'static,
        ClF: Future<Output = Result<(), E>> + Send + 'static,
    {
        Source::from_fn(move |_, a: &Attributes| {
            let stage = UnfoldResourceAsync {
                create: create.clone(),
                read: read.clone(),
                close: close.clone(),
                resource: None,
                phase: Phase::Idle,
                reading: Box::pin(None),
                sup: Supervisor::new("unfold_resource_async", a),
                _t: std::marker::PhantomData,
            };
            (Box::new(stage) as BoxPull<Out>, ())
        })
    }
}

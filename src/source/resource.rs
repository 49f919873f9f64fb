//! `Source::unfold_resource`.

use std::task::{Context, Poll};

use crate::stage::{poll_budget, Pull, Step, Supervisor};
use crate::supervision::Directive;
use crate::Attributes;

pub(crate) struct UnfoldResource<R, C, Rd, Cl: FnMut(R)> {
    create: C,
    read: Rd,
    close: Cl,
    resource: Option<R>,
    sup: Supervisor,
}

impl<R, C, Rd, Cl: FnMut(R)> UnfoldResource<R, C, Rd, Cl> {
    pub(crate) fn new(create: C, read: Rd, close: Cl, attrs: &Attributes) -> Self {
        UnfoldResource {
            create,
            read,
            close,
            resource: None,
            sup: Supervisor::new("unfold_resource", attrs),
        }
    }

    /// Closes the resource if open; a panic in `close` becomes the returned failure.
    fn close_resource(&mut self) -> Result<(), crate::StreamError> {
        match self.resource.take() {
            Some(r) => {
                let close = &mut self.close;
                self.sup.call(|| close(r))
            }
            None => Ok(()),
        }
    }
}

impl<T, R, C, Rd, Cl> Pull<T> for UnfoldResource<R, C, Rd, Cl>
where
    T: Send + 'static,
    R: Send + 'static,
    C: FnMut() -> R + Send + 'static,
    Rd: FnMut(&mut R) -> Option<T> + Send + 'static,
    Cl: FnMut(R) + Send + 'static,
{
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        if poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let start = out.len();
        while out.len() - start < max {
            if self.resource.is_none() {
                let create = &mut self.create;
                match self.sup.call(create) {
                    Ok(r) => self.resource = Some(r),
                    Err(e) => return Poll::Ready(Step::Failed(e)),
                }
            }
            let r = self.resource.as_mut().expect("resource was just created");
            let read = &mut self.read;
            match self.sup.call(|| read(r)) {
                Ok(Some(x)) => out.push(x),
                Ok(None) => {
                    return Poll::Ready(match self.close_resource() {
                        Ok(()) => Step::Complete,
                        Err(e) => Step::Failed(e),
                    });
                }
                Err(e) => match self.sup.decide(&e) {
                    Directive::Stop => {
                        let _ = self.close_resource();
                        return Poll::Ready(Step::Failed(e));
                    }
                    Directive::Resume => {
                        // A read that keeps failing must not spin inside one poll.
                        if poll_budget(cx).is_pending() {
                            return if out.len() > start {
                                Poll::Ready(Step::Open)
                            } else {
                                Poll::Pending
                            };
                        }
                    }
                    Directive::Restart => {
                        if let Err(e) = self.close_resource() {
                            return Poll::Ready(Step::Failed(e));
                        }
                    }
                },
            }
        }
        Poll::Ready(Step::Open)
    }
}

impl<R, C, Rd, Cl: FnMut(R)> Drop for UnfoldResource<R, C, Rd, Cl> {
    fn drop(&mut self) {
        // Cancellation: close what is still open. A panic here has nobody to report to.
        let _ = self.close_resource();
    }
}

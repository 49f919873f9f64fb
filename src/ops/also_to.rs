//! `also_to` and `wire_tap`.

use std::task::{Context, Poll};

use crate::boundary::{Cancelled, Sender};
use crate::stage::{BoxPull, Pull, Step};

/// Sends a copy of each element to a side sink running on its own island. With `TAP`
/// (`wire_tap`) copies are dropped when the side has no room; without (`also_to`) the side
/// back-pressures the main stream, and its cancellation completes the main stream.
pub(crate) struct AlsoTo<T, const TAP: bool> {
    up: Option<BoxPull<T>>,
    side: Option<Sender<T>>,
    copies: Vec<T>,
}

impl<T, const TAP: bool> AlsoTo<T, TAP> {
    pub(crate) fn new(up: BoxPull<T>, side: Sender<T>) -> Self {
        AlsoTo {
            up: Some(up),
            side: Some(side),
            copies: Vec::new(),
        }
    }
}

impl<T: Clone + Send + 'static, const TAP: bool> Pull<T> for AlsoTo<T, TAP> {
    fn pull(&mut self, cx: &mut Context<'_>, out: &mut Vec<T>, max: usize) -> Poll<Step> {
        let Some(up) = self.up.as_mut() else {
            return Poll::Ready(Step::Complete);
        };
        let mut side_room = usize::MAX;
        if let Some(side) = self.side.as_mut() {
            let room = if TAP {
                side.try_room()
            } else {
                match side.poll_room(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r,
                }
            };
            match room {
                Ok(r) => side_room = r,
                Err(Cancelled) if TAP => self.side = None,
                Err(Cancelled) => {
                    // Akka's `alsoTo` cancels eagerly: the side is gone, so is the main stream.
                    self.up = None;
                    return Poll::Ready(Step::Complete);
                }
            }
        }
        let want = if TAP { max } else { max.min(side_room) };
        let start = out.len();
        let p = up.pull(cx, out, want);
        let Poll::Ready(step) = p else {
            // Waiting on upstream: the side cancelling must still wake us.
            if let Some(side) = self.side.as_mut() {
                if side.watch_cancel(cx).is_err() {
                    if TAP {
                        self.side = None;
                    } else {
                        self.up = None;
                        return Poll::Ready(Step::Complete);
                    }
                }
            }
            return Poll::Pending;
        };
        if let Some(side) = self.side.as_mut() {
            let copies = (out.len() - start).min(side_room);
            self.copies
                .extend(out[start..start + copies].iter().cloned());
            let terminal = match &step {
                Step::Open => None,
                Step::Complete => Some(Step::Complete),
                Step::Failed(e) => Some(Step::Failed(e.clone())),
            };
            if side.send(&mut self.copies, terminal).is_err() && !TAP {
                self.up = None;
                return Poll::Ready(if out.len() > start {
                    Step::Open
                } else {
                    Step::Complete
                });
            }
        }
        if step.is_terminal() {
            self.up = None;
            self.side = None;
        }
        Poll::Ready(step)
    }
}

impl<T, const TAP: bool> Drop for AlsoTo<T, TAP> {
    fn drop(&mut self) {
        // Downstream cancelled: the side sees a completion, as with Akka's eager-cancel broadcast.
        if let Some(mut side) = self.side.take() {
            let _ = side.send(&mut Vec::new(), Some(Step::Complete));
        }
    }
}

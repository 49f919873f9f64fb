//! `divert_to`: a two-way partition that cancels eagerly.

use crate::junctions::{PartitionRouter, Router};
use crate::StreamError;

/// Routes to output 1 (the diverted sink) the elements its predicate picks, the rest to 0;
/// stops as soon as either output cancels (Akka's `divertTo`, a `Partition` with
/// `eagerCancel`).
pub(crate) struct DivertRouter<T, F>(pub(crate) PartitionRouter<T, F>);

impl<T: Send + 'static, F: FnMut(&T) -> usize + Send + 'static> Router<T> for DivertRouter<T, F> {
    type Out = T;

    fn demand(&self, rooms: &[Option<usize>], pulled: &[bool]) -> usize {
        self.0.demand(rooms, pulled)
    }

    fn route(
        &mut self,
        x: T,
        rooms: &mut [Option<usize>],
        batches: &mut [Vec<T>],
    ) -> Result<(), StreamError> {
        self.0.route(x, rooms, batches)
    }

    fn should_stop(&self, rooms: &[Option<usize>]) -> bool {
        rooms.iter().any(Option::is_none)
    }

    fn release(&mut self, rooms: &mut [Option<usize>], batches: &mut [Vec<T>]) -> bool {
        self.0.release(rooms, batches)
    }

    fn holding(&self) -> bool {
        self.0.holding()
    }
}

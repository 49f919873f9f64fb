//! Hubs: streams that producers and consumers attach to while they run (Akka's `MergeHub`,
//! `BroadcastHub`, `PartitionHub`).

mod broadcast;
mod merge;
mod partition;

pub use broadcast::BroadcastHub;
pub use merge::{DrainingControl, MergeHub};
pub use partition::{ConsumerInfo, PartitionHub};

use std::sync::Arc;
use std::task::Waker;

use crate::sync::lock;

/// A hub's state, told when nobody can attach to it any more.
trait Orphaned: Send + Sync + 'static {
    /// Every clone of the hub's materialized `Sink` or `Source` is gone; returns the waker of
    /// the side that must hear of it.
    fn orphan(&self) -> Option<Waker>;
}

/// Held by the closure of a hub's materialized `Sink` or `Source`, so dropped with its last
/// clone.
struct LastHandle<S: Orphaned>(Arc<S>);

impl<S: Orphaned> Drop for LastHandle<S> {
    fn drop(&mut self) {
        wake(self.0.orphan());
    }
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

/// Stores `cx`'s waker in `slot` unless the one already there would wake the same task.
fn register(slot: &mut Option<Waker>, w: &Waker) {
    match slot {
        Some(old) if old.will_wake(w) => {}
        _ => *slot = Some(w.clone()),
    }
}

/// A slab of entries addressed by index; freed slots are reused, so the storage of a hub that
/// sees many producers or consumers come and go stays as large as the most it had at once.
#[derive(Debug)]
struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    fn insert(&mut self, v: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(v);
                i
            }
            None => {
                self.slots.push(Some(v));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.slots.get_mut(i)?.take();
        if v.is_some() {
            self.len -= 1;
            self.free.push(i);
        }
        v
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i)?.as_mut()
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|v| (i, v)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|v| (i, v)))
    }
}

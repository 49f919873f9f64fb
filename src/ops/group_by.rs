//! `group_by`: routes each element to the substream of its key.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

use super::merge_substreams::{Decision, Route, Router};

/// Keys of the waiting elements, and which slot each open key's substream is in.
pub(crate) struct GroupBy<K, F> {
    key_fn: F,
    max_substreams: usize,
    /// Whether a key whose substream ended may open a new one (else its elements are dropped).
    recreate: bool,
    keys: VecDeque<K>,
    open: HashMap<K, usize>,
    by_slot: HashMap<usize, K>,
    closed: HashSet<K>,
}

impl<K, F> GroupBy<K, F> {
    pub(crate) fn new(max_substreams: usize, key_fn: F, recreate: bool) -> Self {
        GroupBy {
            key_fn,
            max_substreams,
            recreate,
            keys: VecDeque::new(),
            open: HashMap::new(),
            by_slot: HashMap::new(),
            closed: HashSet::new(),
        }
    }
}

impl<T, K, F> Router<T> for GroupBy<K, F>
where
    K: Clone + Eq + Hash + Send + 'static,
    F: FnMut(&T) -> K + Send + 'static,
{
    fn arrive(&mut self, x: &T) {
        let k = (self.key_fn)(x);
        self.keys.push_back(k);
    }

    fn arrive_front(&mut self, x: &T) {
        let k = (self.key_fn)(x);
        self.keys.push_front(k);
    }

    fn reclaims(&self) -> bool {
        self.recreate
    }

    fn route(&self, i: usize) -> Decision {
        let k = &self.keys[i];
        Decision::to(match self.open.get(k) {
            Some(&slot) => Route::To(slot),
            None if self.closed.contains(k) => Route::Drop,
            None => Route::Open,
        })
    }

    fn opened(&mut self, i: usize, slot: usize) {
        let k = self.keys[i].clone();
        self.open.insert(k.clone(), slot);
        self.by_slot.insert(slot, k);
    }

    fn taken(&mut self, i: usize) {
        self.keys.remove(i);
    }

    fn detached(&mut self, _slot: usize) {}

    fn ended(&mut self, slot: usize) {
        if let Some(k) = self.by_slot.remove(&slot) {
            self.open.remove(&k);
            if !self.recreate {
                self.closed.insert(k);
            }
        }
    }

    fn reorders(&self) -> bool {
        true
    }

    fn max_substreams(&self) -> usize {
        self.max_substreams
    }
}

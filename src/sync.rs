//! Locking shared stage state.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, going on past a poisoned lock: the state behind each of weir's locks is
/// consistent at every unlock, and user code runs outside them or under `catch_unwind`.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

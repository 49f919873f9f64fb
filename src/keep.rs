//! Choosing which materialized value a composition keeps.

use crate::NotUsed;

/// Combiners for the `*_mat` compositions (Akka's `Keep`).
///
/// ```
/// use weir::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (nothing, done) = Source::single(1).to_mat(Sink::ignore(), Keep::both).run();
/// assert_eq!(nothing, ());
/// assert!(done.await.is_ok());
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Keep;

impl Keep {
    /// Keeps the left (upstream) value.
    pub fn left<L, R>(left: L, _right: R) -> L {
        left
    }

    /// Keeps the right (downstream) value.
    pub fn right<L, R>(_left: L, right: R) -> R {
        right
    }

    /// Keeps both, as a pair.
    pub fn both<L, R>(left: L, right: R) -> (L, R) {
        (left, right)
    }

    /// Keeps neither.
    pub fn none<L, R>(_left: L, _right: R) -> NotUsed {}
}

//! `BidiFlow`: two flows in opposite directions, composed as one (Akka's `BidiFlow`).

use std::fmt;

use crate::{Flow, StreamOps};

/// A pair of flows: `top` from `I1` to `O1` and `bottom` from `I2` to `O2`, typically a codec or
/// protocol layer (Akka's `BidiFlow`).
///
/// weir's bidi flows are built from two independent flows and do not carry a materialized value
/// (Akka's `fromFlows` gives `NotUsed` too); a layer whose directions share state can be written
/// as a custom stage with two inlets and two outlets in the graph builder.
///
/// ```
/// use weir::prelude::*;
/// use weir::BidiFlow;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // A codec: numbers to strings on the way out, strings to numbers on the way back.
/// let codec = BidiFlow::from_functions(|n: u32| n.to_string(), |s: String| s.parse::<u32>().unwrap_or(0));
/// let echo = Flow::<String>::new().map(|s| s + "0"); // a "server" that appends a zero
/// let client = codec.join(echo);
/// let out = Source::from_iter(vec![1u32, 2]).via(client).run_with(Sink::seq()).await.unwrap();
/// assert_eq!(out, vec![10, 20]);
/// # }
/// ```
pub struct BidiFlow<I1, O1, I2, O2> {
    top: Flow<I1, O1>,
    bottom: Flow<I2, O2>,
}

impl<I1, O1, I2, O2> Clone for BidiFlow<I1, O1, I2, O2> {
    fn clone(&self) -> Self {
        BidiFlow {
            top: self.top.clone(),
            bottom: self.bottom.clone(),
        }
    }
}

impl<I1, O1, I2, O2> fmt::Debug for BidiFlow<I1, O1, I2, O2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BidiFlow").finish_non_exhaustive()
    }
}

impl<I1, O1, I2, O2> BidiFlow<I1, O1, I2, O2>
where
    I1: Send + 'static,
    O1: Send + 'static,
    I2: Send + 'static,
    O2: Send + 'static,
{
    /// A bidi flow of two flows (their materialized values are dropped).
    pub fn from_flows<M1: 'static, M2: 'static>(
        top: Flow<I1, O1, M1>,
        bottom: Flow<I2, O2, M2>,
    ) -> Self {
        BidiFlow {
            top: top.map_materialized_value(|_| ()),
            bottom: bottom.map_materialized_value(|_| ()),
        }
    }

    /// A bidi flow of two functions.
    pub fn from_functions<F, G>(top: F, bottom: G) -> Self
    where
        F: FnMut(I1) -> O1 + Clone + Send + Sync + 'static,
        G: FnMut(I2) -> O2 + Clone + Send + Sync + 'static,
    {
        BidiFlow {
            top: Flow::<I1>::new().map(top),
            bottom: Flow::<I2>::new().map(bottom),
        }
    }

    /// Stacks `other` below this one: the top flows run this, then `other`; the bottom flows
    /// run `other`, then this.
    pub fn atop<O12: Send + 'static, I22: Send + 'static>(
        self,
        other: BidiFlow<O1, O12, I22, I2>,
    ) -> BidiFlow<I1, O12, I22, O2> {
        BidiFlow {
            top: self.top.via(other.top),
            bottom: other.bottom.via(self.bottom),
        }
    }

    /// Closes the stack with `flow`, which turns the top output into the bottom input: the
    /// result is a flow from `I1` to `O2`.
    pub fn join<M: 'static>(self, flow: Flow<O1, I2, M>) -> Flow<I1, O2> {
        self.top.via(flow).via(self.bottom)
    }

    /// The same layer seen from the other side: top and bottom swapped.
    pub fn reversed(self) -> BidiFlow<I2, O2, I1, O1> {
        BidiFlow {
            top: self.bottom,
            bottom: self.top,
        }
    }

    /// The top flow.
    pub fn top(&self) -> &Flow<I1, O1> {
        &self.top
    }

    /// The bottom flow.
    pub fn bottom(&self) -> &Flow<I2, O2> {
        &self.bottom
    }
}

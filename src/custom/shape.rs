//! Stage shapes: which typed ports a custom stage has, and how they are wired.

use super::ports::{InPort, InSlot, Inlet, OutPort, OutSlot, Outlet};
use crate::builder::{AnyPull, In, Out};
use crate::stage::{BoxPull, Completed};
use crate::{boundary, Attributes};

/// The ports of a custom stage (Akka's `Shape`): a struct of typed [`Inlet`]s and [`Outlet`]s.
///
/// weir provides the common shapes; implement this trait for a shape of your own (say two
/// inlets of different types and three outlets). `declare` lists every port and `handles` makes
/// the graph builder's typed handles for them, both in the same order. Inlets are numbered from
/// 0 in declaration order, and so are outlets; a port whose id is not its number fails the
/// stage (and the graph builder reports it when the graph is built).
///
/// ```
/// use weir::builder::{In, Out};
/// use weir::custom::{GraphPorts, Inlet, Outlet, PortList, StageShape};
///
/// /// Numbers in; evens and odds out on two outlets, and a count of both on a third.
/// struct SplitShape {
///     numbers: Inlet<u64>,
///     evens: Outlet<u64>,
///     odds: Outlet<u64>,
///     counts: Outlet<(usize, usize)>,
/// }
///
/// impl StageShape for SplitShape {
///     type Handles = (In<u64>, Out<u64>, Out<u64>, Out<(usize, usize)>);
///
///     fn declare(&self, ports: &mut PortList<'_>) {
///         ports.inlet(&self.numbers);
///         ports.outlet(&self.evens);
///         ports.outlet(&self.odds);
///         ports.outlet(&self.counts);
///     }
///
///     fn handles(&self, g: &GraphPorts) -> Self::Handles {
///         (g.inlet(&self.numbers), g.outlet(&self.evens), g.outlet(&self.odds), g.outlet(&self.counts))
///     }
/// }
/// ```
pub trait StageShape: Send + Sync + 'static {
    /// The graph builder's handles for the ports (what
    /// [`GraphBuilder::add_stage`](crate::builder::GraphBuilder::add_stage) returns).
    type Handles;

    /// Lists every port: `ports.inlet(..)` for each inlet, `ports.outlet(..)` for each outlet,
    /// inlets in id order and outlets in id order.
    fn declare(&self, ports: &mut PortList<'_>);

    /// The builder handles of the ports.
    fn handles(&self, g: &GraphPorts) -> Self::Handles;
}

/// The ports a [`StageShape`] declares; see [`StageShape::declare`].
pub struct PortList<'a> {
    mode: Mode<'a>,
    inlets: usize,
    outlets: usize,
    problem: Option<Problem>,
    in_slots: Vec<Box<dyn InPort>>,
    out_slots: Vec<Box<dyn OutPort>>,
    out_pulls: Vec<AnyPull>,
}

/// What declaring a port does: count it, or wire it.
enum Mode<'a> {
    Count,
    Outlets(&'a Attributes),
    Inlets(&'a Attributes, std::vec::IntoIter<AnyPull>),
}

impl std::fmt::Debug for PortList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortList")
            .field("inlets", &self.inlets)
            .field("outlets", &self.outlets)
            .finish_non_exhaustive()
    }
}

impl<'a> PortList<'a> {
    fn new(mode: Mode<'a>) -> Self {
        PortList {
            mode,
            inlets: 0,
            outlets: 0,
            problem: None,
            in_slots: Vec::new(),
            out_slots: Vec::new(),
            out_pulls: Vec::new(),
        }
    }

    fn note(&mut self, port: &'static str, problem: &'static str) {
        self.problem.get_or_insert((port, problem));
    }

    /// Declares `inlet`, the next inlet.
    pub fn inlet<T: Send + 'static>(&mut self, inlet: &Inlet<T>) {
        if inlet.id != self.inlets {
            self.note(
                inlet.name,
                "inlet id differs from its place among the inlets",
            );
        }
        self.inlets += 1;
        if let Mode::Inlets(attrs, pulls) = &mut self.mode {
            let up = match pulls.next().map(|p| p.downcast::<BoxPull<T>>()) {
                Some(Ok(up)) => *up,
                // Only a shape that declares different ports on different calls gets here.
                _ => {
                    self.problem
                        .get_or_insert((inlet.name, "the shape declared different ports"));
                    Box::new(Completed) as BoxPull<T>
                }
            };
            let batch = attrs.input_buffer_size();
            self.in_slots.push(Box::new(InSlot::new(up, batch)));
        }
    }

    /// Declares `outlet`, the next outlet.
    pub fn outlet<T: Send + 'static>(&mut self, outlet: &Outlet<T>) {
        if outlet.id != self.outlets {
            self.note(
                outlet.name,
                "outlet id differs from its place among the outlets",
            );
        }
        self.outlets += 1;
        if let Mode::Outlets(attrs) = self.mode {
            let (tx, rx) = boundary::channel::<T>(attrs.input_buffer_size());
            self.out_slots.push(Box::new(OutSlot::new(tx)));
            self.out_pulls.push(Box::new(Box::new(rx) as BoxPull<T>));
        }
    }
}

/// Makes graph-builder handles for a stage's ports; see [`StageShape::handles`].
#[derive(Debug)]
pub struct GraphPorts {
    builder: u64,
    node: usize,
}

impl GraphPorts {
    pub(crate) fn new(builder: u64, node: usize) -> Self {
        GraphPorts { builder, node }
    }

    /// The handle of `inlet`.
    pub fn inlet<T>(&self, inlet: &Inlet<T>) -> In<T> {
        In::new(self.builder, self.node, inlet.id)
    }

    /// The handle of `outlet`.
    pub fn outlet<T>(&self, outlet: &Outlet<T>) -> Out<T> {
        Out::new(self.builder, self.node, outlet.id)
    }
}

/// What is wrong with a shape: the port, and the problem.
pub(crate) type Problem = (&'static str, &'static str);

/// How many inlets and outlets `shape` has, and what is wrong with it, if anything.
pub(crate) fn count<S: StageShape>(shape: &S) -> (usize, usize, Option<Problem>) {
    let mut list = PortList::new(Mode::Count);
    shape.declare(&mut list);
    (list.inlets, list.outlets, list.problem)
}

/// The outlets' slots (for the stage) and pulls (for downstream), in id order.
pub(crate) fn outlets<S: StageShape>(
    shape: &S,
    attrs: &Attributes,
) -> (Vec<Box<dyn OutPort>>, Vec<AnyPull>, Option<Problem>) {
    let mut list = PortList::new(Mode::Outlets(attrs));
    shape.declare(&mut list);
    (list.out_slots, list.out_pulls, list.problem)
}

/// The inlets' slots, fed by `pulls` (one per inlet, in id order).
pub(crate) fn inlets<S: StageShape>(
    shape: &S,
    attrs: &Attributes,
    pulls: Vec<AnyPull>,
) -> (Vec<Box<dyn InPort>>, Option<Problem>) {
    let mut list = PortList::new(Mode::Inlets(attrs, pulls.into_iter()));
    shape.declare(&mut list);
    (list.in_slots, list.problem)
}

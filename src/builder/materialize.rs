//! Materializing a built graph.

use std::collections::HashMap;

use super::{AnyMat, AnyPull, Attach, Derived, Mats, Node, NodeImpl};
use crate::{Attributes, Materializer};

/// A validated graph, shared by its materializations.
pub(crate) struct Spec {
    pub(crate) builder: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: HashMap<(usize, usize), (usize, usize)>,
    pub(crate) mats: usize,
    /// Values of imported partial graphs, in dependency order (inner graphs first).
    pub(crate) derived: Vec<Derived>,
}

struct Run<'a> {
    spec: &'a Spec,
    outputs: HashMap<(usize, usize), AnyPull>,
    done: Vec<bool>,
    mats: Vec<Option<AnyMat>>,
    external: Vec<((usize, usize), AnyPull)>,
}

impl Spec {
    /// Materializes every node, the open inlets fed by `external`; returns the open outlets'
    /// stages, in the order asked, and the kept values.
    pub(crate) fn materialize(
        &self,
        m: &mut Materializer,
        attrs: &Attributes,
        external: Vec<((usize, usize), AnyPull)>,
        open_out: &[(usize, usize)],
    ) -> (Vec<AnyPull>, Mats) {
        let mut run = Run {
            spec: self,
            outputs: HashMap::new(),
            done: vec![false; self.nodes.len()],
            mats: (0..self.mats).map(|_| None).collect(),
            external,
        };
        // Islands first: their outputs are boundaries that exist before their inputs.
        let mut attach: Vec<(usize, Attach)> = Vec::new();
        for (n, node) in self.nodes.iter().enumerate() {
            if let NodeImpl::Boundary(make) | NodeImpl::Bidi(make, _) = &node.imp {
                let (outs, att, mat) = make(m, attrs);
                for (p, o) in outs.into_iter().enumerate() {
                    run.outputs.insert((n, p), o);
                }
                run.keep(n, mat);
                run.done[n] = true;
                attach.push((n, att));
            }
        }
        for n in 0..self.nodes.len() {
            if !run.done[n] && self.nodes[n].outputs == 0 {
                run.fuse(m, attrs, n);
            }
        }
        for (n, att) in attach {
            let ins = (0..self.nodes[n].inputs)
                .map(|p| run.input(m, attrs, n, p))
                .collect();
            att(m, ins);
        }
        let open = open_out
            .iter()
            .map(|&(n, p)| run.output(m, attrs, n, p))
            .collect();
        // Fused nodes reachable only through the open outlet are done by now; any other node
        // was reached from a sink or an island.
        let mut values = run.mats;
        for d in &self.derived {
            let parts = values[d.base..d.base + d.count]
                .iter_mut()
                .map(Option::take)
                .collect();
            let mut parts = Mats {
                builder: d.builder,
                values: parts,
            };
            values[d.slot] = Some((d.make)(&mut parts));
        }
        let mats = Mats {
            builder: self.builder,
            values,
        };
        (open, mats)
    }
}

impl Run<'_> {
    fn keep(&mut self, n: usize, mat: AnyMat) {
        if let Some(i) = self.spec.nodes[n].mat {
            self.mats[i] = Some(mat);
        }
    }

    fn input(&mut self, m: &mut Materializer, attrs: &Attributes, n: usize, p: usize) -> AnyPull {
        if let Some(i) = self.external.iter().position(|(port, _)| *port == (n, p)) {
            return self.external.swap_remove(i).1;
        }
        let (up, up_port) = self.spec.edges[&(n, p)];
        self.output(m, attrs, up, up_port)
    }

    fn output(&mut self, m: &mut Materializer, attrs: &Attributes, n: usize, p: usize) -> AnyPull {
        if !self.done[n] {
            self.fuse(m, attrs, n);
        }
        self.outputs
            .remove(&(n, p))
            .expect("each outlet is connected exactly once")
    }

    fn fuse(&mut self, m: &mut Materializer, attrs: &Attributes, n: usize) {
        let NodeImpl::Fused(make) = self.spec.nodes[n].imp.clone() else {
            return;
        };
        self.done[n] = true;
        let ins = (0..self.spec.nodes[n].inputs)
            .map(|p| self.input(m, attrs, n, p))
            .collect();
        let (outs, mat) = make(m, attrs, ins);
        for (p, o) in outs.into_iter().enumerate() {
            self.outputs.insert((n, p), o);
        }
        self.keep(n, mat);
    }
}

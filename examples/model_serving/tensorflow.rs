//! Scoring wine records with a TensorFlow frozen graph, in pure Rust on
//! [tract](https://github.com/sonos/tract) (`tract-tensorflow`).
//!
//! The model shipped with the example, `data/optimized_WineQuality.pb`, is a
//! small Keras dense network exported as a frozen, inference-optimised
//! `GraphDef`:
//!
//! ```text
//! dense_1_input  Placeholder f32 [batch, 11]  the 11 features, CSV column order, unscaled
//! dense_1        MatMul + BiasAdd + Relu     -> 12
//! dense_2        MatMul + BiasAdd + Relu     -> 8
//! dense_3        MatMul + BiasAdd + Sigmoid  -> 9   output node `dense_3/Sigmoid`
//! ```
//!
//! The nine outputs are independent sigmoid scores, one per quality class
//! `0..=8` (they do not sum to one); the predicted quality is the index of the
//! highest score, the first one on ties — the rule of the Lightbend
//! model-serving tutorial the model comes from. [`TfModel::score`] returns
//! both as [`TfOutput::Classification`]. A graph whose output has a single
//! unit is reported as [`TfOutput::Regression`] instead. The placeholder has
//! no shape attribute; the `[11, 12]` first kernel fixes the feature count.
//!
//! tract evaluates `Sigmoid` with a fast approximation: scores agree with
//! TensorFlow 2.21 to within about 5e-7 in absolute terms (the largest gaps
//! are on scores near 0, e.g. 4.5e-7 where TensorFlow gives 1e-9).
//!
//! # Untrusted model bytes
//!
//! Model bytes arrive from Kafka and may be anything, so [`TfModel::load`]
//! never panics and never lets a model ask for unbounded memory:
//!
//! 1. the bytes are decoded as a `GraphDef` (a protobuf decode error is a
//!    [`TfErrorKind::Decode`] error);
//! 2. before tract builds anything, the graph is checked here against what a
//!    dense network needs: only the ops `Placeholder`, `Const`, `MatMul`,
//!    `BiasAdd`, `Add`/`AddV2`, `Identity`, `Relu`, `Relu6`, `Sigmoid`, `Tanh`
//!    and `Softmax`; one float placeholder named `dense_1_input` of shape
//!    `[1, 11]`; float constants whose payload matches their declared shape;
//!    tensors of rank 1 or 2; no cycles, no control dependencies; exactly one
//!    non-constant sink node of shape `[1, n]`. The shape of every tensor is
//!    inferred statically, and the sum of all their sizes is capped at
//!    [`MAX_TOTAL_ELEMENTS`]. Without this a tiny `Const` declaring a shape of
//!    billions of elements with a single splatted value would make tract
//!    allocate it: an out-of-memory abort, which no `catch_unwind` can stop.
//!    A graph failing a check is a [`TfErrorKind::Unsupported`] error;
//! 3. tract then builds, optimises and plans the model once (its errors are
//!    [`TfErrorKind::Tract`] errors), and runs it once on zeros to check the
//!    output shape.
//!
//! As a last resort, every call into tract (loading and scoring) runs under
//! [`std::panic::catch_unwind`]: a panic inside tract on an input the checks
//! above let through becomes a [`TfErrorKind::Panic`] error (the default panic
//! hook still prints its message to stderr). This relies on the default
//! `panic = "unwind"`.

// The module is shared, through `mod`/`#[path]`, by the example binary and by
// tests, each of which uses only part of it.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::attr_value::Value;
use tract_tensorflow::tfpb::tensorflow::{DataType, GraphDef, NodeDef, TensorProto};
use tract_tensorflow::Tensorflow;

/// Name of the graph's input placeholder.
pub const INPUT_NODE: &str = "dense_1_input";

/// Number of input features, in the column order of `winequality_red.csv`.
pub const N_FEATURES: usize = 11;

/// Most nodes a graph may have.
pub const MAX_NODES: usize = 4096;

/// Most tensor elements (all constants and all intermediate results, summed)
/// a graph may need; 2^24 `f32` are 64 MiB.
pub const MAX_TOTAL_ELEMENTS: u64 = 1 << 24;

/// What went wrong, as carried by a [`TfError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TfErrorKind {
    /// The bytes are not a TensorFlow `GraphDef` protobuf.
    Decode,
    /// The graph is well-formed protobuf but not a dense network this module
    /// accepts (see the module documentation).
    Unsupported,
    /// tract reported an error while building or running the model.
    Tract,
    /// tract panicked; the panic was caught.
    Panic,
    /// The features passed to [`TfModel::score`] are not all finite.
    InvalidInput,
}

impl fmt::Display for TfErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TfErrorKind::Decode => "invalid TensorFlow graph",
            TfErrorKind::Unsupported => "unsupported TensorFlow graph",
            TfErrorKind::Tract => "tract error",
            TfErrorKind::Panic => "tract panicked",
            TfErrorKind::InvalidInput => "invalid input",
        })
    }
}

/// Error of [`TfModel::load`] and [`TfModel::score`]: a [`TfErrorKind`] and a
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfError {
    kind: TfErrorKind,
    message: String,
}

impl TfError {
    fn new(kind: TfErrorKind, message: impl Into<String>) -> TfError {
        TfError {
            kind,
            message: message.into(),
        }
    }

    fn unsupported(message: impl Into<String>) -> TfError {
        TfError::new(TfErrorKind::Unsupported, message)
    }

    fn tract(error: TractError) -> TfError {
        TfError::new(TfErrorKind::Tract, format!("{error:#}"))
    }

    /// The kind of error.
    pub fn kind(&self) -> TfErrorKind {
        self.kind
    }

    /// The detail message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TfError {}

/// The result of scoring one record.
#[derive(Debug, Clone, PartialEq)]
pub enum TfOutput {
    /// The output has several units, one score per class (for the wine model:
    /// nine independent sigmoid scores for quality `0..=8`).
    Classification {
        /// Index of the highest score (the first one on ties): for the wine
        /// model, the predicted quality.
        class: usize,
        /// The raw output scores, by class index.
        scores: Vec<f64>,
    },
    /// The output has a single unit: its value.
    Regression(f64),
}

impl TfOutput {
    /// The result as one number, as the tutorial's scorer returns it: the
    /// class index for a classification, the value for a regression.
    pub fn value(&self) -> f64 {
        match self {
            TfOutput::Classification { class, .. } => *class as f64,
            TfOutput::Regression(v) => *v,
        }
    }
}

type Plan = Arc<TypedRunnableModel>;

/// A TensorFlow dense network, decoded, checked, optimised and ready to score.
///
/// Cloning is cheap (the plan is shared through an [`Arc`]); the model is
/// `Send + Sync` and [`TfModel::score`] takes `&self`, so one loaded model can
/// score from several threads at once.
#[derive(Clone)]
pub struct TfModel {
    plan: Plan,
    output: Arc<str>,
    width: usize,
}

impl fmt::Debug for TfModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TfModel")
            .field("input", &INPUT_NODE)
            .field("output", &self.output)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl TfModel {
    /// Decodes a frozen TensorFlow `GraphDef`, checks it (see the module
    /// documentation), and has tract optimise it and make it runnable.
    ///
    /// Any input bytes give `Ok` or a typed `Err`, never a panic.
    pub fn load(pb: &[u8]) -> Result<TfModel, TfError> {
        let tf = tensorflow();
        let graph = tf
            .read_frozen_model(&mut &pb[..])
            .map_err(|e| TfError::new(TfErrorKind::Decode, format!("{e:#}")))?;
        let checked = check_graph(&graph)?;
        let plan = guarded(|| build_plan(&tf, &graph, &checked.output))?;
        let model = TfModel {
            plan,
            output: checked.output.into(),
            width: checked.width,
        };
        // One trial run, so that a model that loads is a model that scores.
        model.run(&[0.0; N_FEATURES])?;
        Ok(model)
    }

    /// Name of the output node the model is read from (`dense_3/Sigmoid` for
    /// the wine model).
    pub fn output_name(&self) -> &str {
        &self.output
    }

    /// Number of output units (9 for the wine model).
    pub fn output_width(&self) -> usize {
        self.width
    }

    /// Scores one record; `features` are the 11 wine features in the column
    /// order of `winequality_red.csv` (fixed acidity … alcohol), unscaled.
    ///
    /// Fails with [`TfErrorKind::InvalidInput`] if a feature is NaN or
    /// infinite.
    pub fn score(&self, features: &[f32; N_FEATURES]) -> Result<TfOutput, TfError> {
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            return Err(TfError::new(
                TfErrorKind::InvalidInput,
                format!("feature {i} is not finite: {}", features[i]),
            ));
        }
        let scores = self.run(features)?;
        Ok(match scores.as_slice() {
            [v] => TfOutput::Regression(*v),
            _ => TfOutput::Classification {
                class: argmax(&scores),
                scores,
            },
        })
    }

    fn run(&self, features: &[f32; N_FEATURES]) -> Result<Vec<f64>, TfError> {
        let plan = &self.plan;
        let out = guarded(|| {
            let input: TValue = tensor2(&[*features]).into();
            let outputs = plan.run(tvec!(input)).map_err(TfError::tract)?;
            let out = outputs
                .first()
                .ok_or_else(|| TfError::new(TfErrorKind::Tract, "the model gave no output"))?;
            let view = out.to_plain_array_view::<f32>().map_err(TfError::tract)?;
            if view.shape() != [1, self.width] {
                return Err(TfError::new(
                    TfErrorKind::Tract,
                    format!(
                        "output shape {:?}, expected [1, {}]",
                        view.shape(),
                        self.width
                    ),
                ));
            }
            Ok(view.iter().map(|v| f64::from(*v)).collect::<Vec<f64>>())
        })?;
        Ok(out)
    }
}

/// Index of the first maximum; NaN scores are never the maximum unless all
/// are NaN (then 0), as in the tutorial's strict `>` scan.
fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in scores.iter().enumerate().skip(1) {
        if *v > scores[best] || scores[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

/// Runs `f`, turning a panic into a [`TfErrorKind::Panic`] error.
fn guarded<T>(f: impl FnOnce() -> Result<T, TfError>) -> Result<T, TfError> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        Err(TfError::new(TfErrorKind::Panic, message))
    })
}

fn build_plan(tf: &Tensorflow, graph: &GraphDef, output: &str) -> Result<Plan, TfError> {
    let mut model = tf.model_for_proto_model(graph).map_err(TfError::tract)?;
    model
        .set_input_fact(0, f32::fact([1, N_FEATURES]).into())
        .map_err(TfError::tract)?;
    model
        .select_outputs_by_name([output])
        .map_err(TfError::tract)?;
    let model = model.into_optimized().map_err(TfError::tract)?;
    model.into_runnable().map_err(TfError::tract)
}

/// What [`check_graph`] found out about an acceptable graph.
struct CheckedGraph {
    output: String,
    width: usize,
}

/// Static shape of a tensor (rank 1 or 2).
type Shape = Vec<u64>;

/// Checks that `graph` is a dense network this module accepts, inferring the
/// shape of every node's output; see the module documentation.
fn check_graph(graph: &GraphDef) -> Result<CheckedGraph, TfError> {
    let nodes = &graph.node;
    if nodes.is_empty() {
        return Err(TfError::unsupported("the graph has no node"));
    }
    if nodes.len() > MAX_NODES {
        return Err(TfError::unsupported(format!(
            "{} nodes, at most {MAX_NODES} accepted",
            nodes.len()
        )));
    }
    let mut index = HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        check_attrs(n)?;
        if index.insert(n.name.as_str(), i).is_some() {
            return Err(TfError::unsupported(format!(
                "duplicate node name {:?}",
                n.name
            )));
        }
    }

    // Edges: inputs[i] are the producers of node i, consumers[j] the nodes fed by j.
    let mut inputs = Vec::with_capacity(nodes.len());
    let mut consumers = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let mut producers = Vec::with_capacity(n.input.len());
        for name in &n.input {
            let j = resolve_input(&index, n, name)?;
            producers.push(j);
            consumers[j].push(i);
        }
        inputs.push(producers);
    }

    // Kahn's algorithm: shapes in topological order, and no cycle.
    let mut pending: Vec<usize> = inputs.iter().map(Vec::len).collect();
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|i| pending[*i] == 0).collect();
    let mut shapes: Vec<Option<Shape>> = vec![None; nodes.len()];
    let mut total: u64 = 0;
    let mut placeholders = 0;
    while let Some(i) = ready.pop_front() {
        let node = &nodes[i];
        let ins: Vec<&Shape> = inputs[i]
            .iter()
            .map(|j| shapes[*j].as_ref())
            .collect::<Option<_>>()
            .ok_or_else(|| TfError::unsupported("internal: input shape not inferred"))?;
        if node.op == "Placeholder" {
            placeholders += 1;
        }
        let shape = infer_shape(node, &ins)?;
        let elements = shape.iter().product::<u64>();
        total = total.saturating_add(elements);
        if total > MAX_TOTAL_ELEMENTS {
            return Err(TfError::unsupported(format!(
                "the graph's tensors exceed {MAX_TOTAL_ELEMENTS} elements (at node {:?})",
                node.name
            )));
        }
        shapes[i] = Some(shape);
        for c in &consumers[i] {
            pending[*c] -= 1;
            if pending[*c] == 0 {
                ready.push_back(*c);
            }
        }
    }
    if shapes.iter().any(Option::is_none) {
        return Err(TfError::unsupported("the graph has a cycle"));
    }
    if placeholders != 1 {
        return Err(TfError::unsupported(format!(
            "expected one placeholder {INPUT_NODE:?}, found {placeholders}"
        )));
    }

    let mut sinks = (0..nodes.len()).filter(|i| {
        consumers[*i].is_empty() && !matches!(nodes[*i].op.as_str(), "Const" | "Placeholder")
    });
    let out = match (sinks.next(), sinks.next()) {
        (Some(out), None) => out,
        (None, _) => return Err(TfError::unsupported("the graph computes nothing")),
        (Some(_), Some(_)) => {
            return Err(TfError::unsupported("the graph has several outputs"));
        }
    };
    let width = match shapes[out].as_deref() {
        Some([1, n]) => usize::try_from(*n).map_err(|_| TfError::unsupported("output too wide"))?,
        other => {
            return Err(TfError::unsupported(format!(
                "output {:?} has shape {other:?}, expected [1, n]",
                nodes[out].name
            )));
        }
    };
    Ok(CheckedGraph {
        output: nodes[out].name.clone(),
        width,
    })
}

/// Rejects attributes that tract 0.23 would `unwrap()` into a panic: an
/// attribute without a value, or a data type outside the `DataType` enum.
fn check_attrs(node: &NodeDef) -> Result<(), TfError> {
    for (name, value) in &node.attr {
        let bad = match &value.value {
            None => true,
            Some(Value::Type(t)) => DataType::try_from(*t).is_err(),
            Some(Value::List(l)) => l.r#type.iter().any(|t| DataType::try_from(*t).is_err()),
            Some(_) => false,
        };
        if bad {
            return Err(TfError::unsupported(format!(
                "node {:?}: attribute {name:?} is empty or has an unknown data type",
                node.name
            )));
        }
    }
    Ok(())
}

/// Resolves an input reference `name` or `name:0` of `node` to a node index.
fn resolve_input(
    index: &HashMap<&str, usize>,
    node: &NodeDef,
    name: &str,
) -> Result<usize, TfError> {
    if name.starts_with('^') {
        return Err(TfError::unsupported(format!(
            "node {:?}: control dependencies are not supported",
            node.name
        )));
    }
    let base = match name.rsplit_once(':') {
        Some((base, "0")) => base,
        Some((_, slot)) if slot.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(TfError::unsupported(format!(
                "node {:?}: input {name:?} uses output slot {slot}",
                node.name
            )));
        }
        _ => name,
    };
    index.get(base).copied().ok_or_else(|| {
        TfError::unsupported(format!("node {:?}: unknown input {name:?}", node.name))
    })
}

/// Infers the output shape of `node` from its attributes and input shapes.
fn infer_shape(node: &NodeDef, ins: &[&Shape]) -> Result<Shape, TfError> {
    let err =
        |what: String| TfError::unsupported(format!("node {:?} ({}): {what}", node.name, node.op));
    let arity = |n: usize| {
        if ins.len() == n {
            Ok(())
        } else {
            Err(err(format!("{} inputs, expected {n}", ins.len())))
        }
    };
    let shape = match node.op.as_str() {
        "Placeholder" => {
            arity(0)?;
            if node.name != INPUT_NODE {
                return Err(err(format!("the only placeholder must be {INPUT_NODE:?}")));
            }
            if attr_type(node, "dtype") != Some(DataType::DtFloat as i32) {
                return Err(err("dtype must be float".into()));
            }
            if let Some(Value::Shape(s)) = attr(node, "shape") {
                let dims: Vec<i64> = s.dim.iter().map(|d| d.size).collect();
                let ok = s.unknown_rank
                    || matches!(dims.as_slice(), [b, f] if (*b == -1 || *b == 1) && (*f == -1 || *f == N_FEATURES as i64));
                if !ok {
                    return Err(err(format!(
                        "shape {dims:?} does not accept [1, {N_FEATURES}]"
                    )));
                }
            }
            vec![1, N_FEATURES as u64]
        }
        "Const" => {
            arity(0)?;
            if attr_type(node, "dtype") != Some(DataType::DtFloat as i32) {
                return Err(err("dtype must be float".into()));
            }
            match attr(node, "value") {
                Some(Value::Tensor(t)) => check_const(t).map_err(err)?,
                _ => return Err(err("no tensor value".into())),
            }
        }
        "Identity" | "Relu" | "Relu6" | "Sigmoid" | "Tanh" | "Softmax" => {
            arity(1)?;
            ins[0].clone()
        }
        "MatMul" => {
            arity(2)?;
            let (a, b) = match (ins[0].as_slice(), ins[1].as_slice()) {
                ([a0, a1], [b0, b1]) => ([*a0, *a1], [*b0, *b1]),
                _ => return Err(err("operands must have rank 2".into())),
            };
            let (m, ka) = if attr_bool(node, "transpose_a") {
                (a[1], a[0])
            } else {
                (a[0], a[1])
            };
            let (kb, n) = if attr_bool(node, "transpose_b") {
                (b[1], b[0])
            } else {
                (b[0], b[1])
            };
            if ka != kb {
                return Err(err(format!("cannot multiply {a:?} by {b:?}")));
            }
            vec![m, n]
        }
        "BiasAdd" => {
            arity(2)?;
            match attr(node, "data_format") {
                None => {}
                Some(Value::S(s)) if s.as_slice() == b"NHWC" => {}
                Some(_) => return Err(err("only the NHWC data format is supported".into())),
            }
            match (ins[0].as_slice(), ins[1].as_slice()) {
                ([_, c], [b]) if c == b => ins[0].clone(),
                _ => return Err(err(format!("cannot add bias {:?} to {:?}", ins[1], ins[0]))),
            }
        }
        "Add" | "AddV2" => {
            arity(2)?;
            broadcast(ins[0], ins[1])
                .ok_or_else(|| err(format!("cannot broadcast {:?} with {:?}", ins[0], ins[1])))?
        }
        other => return Err(err(format!("op {other:?} is not supported"))),
    };
    if shape.contains(&0) {
        return Err(err(format!("empty tensor {shape:?}")));
    }
    Ok(shape)
}

/// Shape of a float constant, checking that its payload matches it.
fn check_const(t: &TensorProto) -> Result<Shape, String> {
    if t.dtype != DataType::DtFloat as i32 {
        return Err("tensor is not float".into());
    }
    let proto_shape = t.tensor_shape.as_ref().ok_or("tensor has no shape")?;
    let shape = proto_shape
        .dim
        .iter()
        .map(|d| u64::try_from(d.size).map_err(|_| format!("negative dimension {}", d.size)))
        .collect::<Result<Shape, String>>()?;
    if shape.is_empty() || shape.len() > 2 {
        return Err(format!("tensor of rank {}, expected 1 or 2", shape.len()));
    }
    let elements = shape
        .iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(*d))
        .filter(|e| *e <= MAX_TOTAL_ELEMENTS)
        .ok_or_else(|| format!("tensor of shape {shape:?} is too large"))?;
    let ok = if t.tensor_content.is_empty() {
        let values = t.float_val.len() as u64;
        values == elements || values == 1
    } else {
        t.tensor_content.len() as u64 == elements * 4
    };
    if !ok {
        return Err(format!("tensor payload does not match its shape {shape:?}"));
    }
    Ok(shape)
}

/// NumPy-style broadcast of two shapes of rank 1 or 2.
fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
    let rank = a.len().max(b.len());
    let dim = |s: &Shape, i: usize| (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

fn attr<'a>(node: &'a NodeDef, name: &str) -> Option<&'a Value> {
    node.attr.get(name).and_then(|a| a.value.as_ref())
}

fn attr_type(node: &NodeDef, name: &str) -> Option<i32> {
    match attr(node, name) {
        Some(Value::Type(t)) => Some(*t),
        _ => None,
    }
}

fn attr_bool(node: &NodeDef, name: &str) -> bool {
    matches!(attr(node, name), Some(Value::B(true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MODEL: &[u8] = include_bytes!("data/optimized_WineQuality.pb");
    const WINES: &str = include_str!("data/winequality_red.csv");
    const EXPECTED: &str = include_str!("data/expected_tf.csv");

    fn model() -> TfModel {
        TfModel::load(MODEL).expect("the wine model loads")
    }

    fn features(line: &str) -> [f32; N_FEATURES] {
        let values: Vec<f32> = line
            .split(';')
            .take(N_FEATURES)
            .map(|v| v.trim().parse().expect("a number"))
            .collect();
        values.try_into().expect("11 features")
    }

    #[test]
    fn model_is_send_sync_debug() {
        fn assert_traits<T: Send + Sync + fmt::Debug + Clone>() {}
        assert_traits::<TfModel>();
        let m = model();
        assert_eq!(m.output_name(), "dense_3/Sigmoid");
        assert_eq!(m.output_width(), 9);
        assert!(format!("{m:?}").contains("dense_3/Sigmoid"));
    }

    #[test]
    fn matches_tensorflow_on_expected_rows() {
        let m = model();
        let mut lines = EXPECTED.lines();
        assert!(lines
            .next()
            .expect("header")
            .starts_with("row,class,score_0"));
        let wines: Vec<&str> = WINES.lines().collect();
        let mut checked = 0;
        for line in lines {
            let cols: Vec<&str> = line.split(',').collect();
            let row: usize = cols[0].parse().expect("row");
            let class: usize = cols[1].parse().expect("class");
            let want: Vec<f64> = cols[2..]
                .iter()
                .map(|v| v.parse().expect("score"))
                .collect();
            match m.score(&features(wines[row])).expect("scores") {
                TfOutput::Classification {
                    class: got_class,
                    scores,
                } => {
                    assert_eq!(got_class, class, "row {row}");
                    assert_eq!(scores.len(), want.len(), "row {row}");
                    for (k, (g, w)) in scores.iter().zip(&want).enumerate() {
                        assert!((g - w).abs() <= 1e-5, "row {row} score {k}: {g} vs {w}");
                    }
                }
                other => panic!("row {row}: expected a classification, got {other:?}"),
            }
            checked += 1;
        }
        assert_eq!(checked, 20);
    }

    #[test]
    fn value_is_the_class() {
        let out = model()
            .score(&features(WINES.lines().next().expect("row")))
            .expect("scores");
        assert_eq!(out.value(), 5.0);
    }

    #[test]
    fn non_finite_features_are_rejected() {
        let m = model();
        let mut f = features(WINES.lines().next().expect("row"));
        f[3] = f32::NAN;
        assert_eq!(m.score(&f).unwrap_err().kind(), TfErrorKind::InvalidInput);
        f[3] = f32::INFINITY;
        assert_eq!(m.score(&f).unwrap_err().kind(), TfErrorKind::InvalidInput);
    }

    #[test]
    fn shared_across_threads() {
        let m = model();
        let f = features(WINES.lines().next().expect("row"));
        let want = m.score(&f).expect("scores");
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| assert_eq!(m.clone().score(&f).expect("scores"), want));
            }
        });
    }

    #[test]
    fn empty_bytes_are_an_error() {
        let e = TfModel::load(&[]).unwrap_err();
        assert_eq!(e.kind(), TfErrorKind::Unsupported, "{e}");
    }

    #[test]
    fn garbage_bytes_are_an_error() {
        for bytes in [
            &b"not a tensorflow model"[..],
            &[0xff; 64],
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ] {
            let e = TfModel::load(bytes).unwrap_err();
            assert_ne!(e.kind(), TfErrorKind::Panic, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn truncated_model_is_an_error() {
        for len in [1, 10, 100, MODEL.len() / 2, MODEL.len() - 1] {
            let e = TfModel::load(&MODEL[..len]).unwrap_err();
            assert_ne!(e.kind(), TfErrorKind::Panic, "truncated to {len}: {e}");
        }
    }

    /// Re-encodes `graph` after `edit`.
    fn edited(edit: impl FnOnce(&mut GraphDef)) -> Vec<u8> {
        let mut graph = tensorflow()
            .read_frozen_model(&mut &MODEL[..])
            .expect("decodes");
        edit(&mut graph);
        graph.write_to_bytes().expect("encodes")
    }

    fn node_mut<'a>(graph: &'a mut GraphDef, name: &str) -> &'a mut NodeDef {
        graph
            .node
            .iter_mut()
            .find(|n| n.name == name)
            .expect("node")
    }

    #[test]
    fn huge_splat_constant_is_rejected_before_allocation() {
        let bytes = edited(|g| {
            let n = node_mut(g, "dense_1/kernel");
            if let Some(Value::Tensor(t)) = n.attr.get_mut("value").and_then(|a| a.value.as_mut()) {
                t.tensor_content.clear();
                t.float_val = vec![0.5];
                for d in &mut t.tensor_shape.as_mut().expect("shape").dim {
                    d.size = 1 << 30;
                }
            }
        });
        let e = TfModel::load(&bytes).unwrap_err();
        assert_eq!(e.kind(), TfErrorKind::Unsupported, "{e}");
    }

    #[test]
    fn unsupported_graphs_are_rejected() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "cycle",
                edited(|g| node_mut(g, "dense_1/MatMul").input[0] = "dense_3/Sigmoid".into()),
            ),
            (
                "unknown op",
                edited(|g| node_mut(g, "dense_2/Relu").op = "Fill".into()),
            ),
            (
                "renamed input",
                edited(|g| {
                    node_mut(g, "dense_1_input").name = "x".into();
                    node_mut(g, "dense_1/MatMul").input[0] = "x".into();
                }),
            ),
            // Both made tract 0.23.9 panic (an `unwrap()` in its attribute getters).
            (
                "attribute without value",
                edited(|g| {
                    if let Some(a) = node_mut(g, "dense_1/MatMul").attr.get_mut("transpose_a") {
                        a.value = None;
                    }
                }),
            ),
            (
                "unknown data type",
                edited(|g| {
                    if let Some(a) = node_mut(g, "dense_1/Relu").attr.get_mut("T") {
                        a.value = Some(Value::Type(9999));
                    }
                }),
            ),
            (
                "dangling input",
                edited(|g| node_mut(g, "dense_2/MatMul").input[1] = "nowhere".into()),
            ),
            (
                "shape mismatch",
                edited(|g| node_mut(g, "dense_2/MatMul").input[0] = "dense_1_input".into()),
            ),
            (
                "two outputs",
                edited(|g| {
                    let mut extra = tract_tensorflow::tfpb::node();
                    extra.name = "extra".into();
                    extra.op = "Identity".into();
                    extra.input = vec!["dense_2/Relu".into()];
                    g.node.push(extra);
                }),
            ),
        ];
        for (what, bytes) in cases {
            let e = TfModel::load(&bytes).unwrap_err();
            assert_eq!(e.kind(), TfErrorKind::Unsupported, "{what}: {e}");
        }
    }

    #[test]
    fn caught_panic_is_an_error() {
        let e = guarded::<()>(|| panic!("boom")).unwrap_err();
        assert_eq!(e.kind(), TfErrorKind::Panic);
        assert_eq!(e.message(), "boom");
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[f64::NAN, 0.2, 0.3]), 2);
        assert_eq!(argmax(&[f64::NAN, f64::NAN]), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            // Seeds are not persisted: this file is compiled from several places.
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn load_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = TfModel::load(&bytes);
        }

        #[test]
        fn load_never_panics_on_mutated_model(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let mut bytes = MODEL.to_vec();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            if let Err(e) = TfModel::load(&bytes) {
                prop_assert_ne!(e.kind(), TfErrorKind::Panic, "{}", e);
            }
        }
    }
}

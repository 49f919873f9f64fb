//! A small, strict PMML 4.3 evaluator for numeric-input models.
//!
//! [`PmmlModel::parse`] reads a PMML document (as produced, for example, by JPMML-SparkML) into
//! an immutable model that can be shared between threads, and [`PmmlModel::evaluate`] scores one
//! record whose fields are looked up by name through a closure.
//!
//! Supported, following the DMG PMML 4.3 specification and matching the JPMML-Evaluator
//! reference implementation:
//!
//! * `DataDictionary` with continuous `double` input fields and a continuous `double` (regression)
//!   or categorical/ordinal `string`/`integer` (classification) target;
//! * `MiningSchema`: `usageType`, `missingValueReplacement`, `outliers` with `lowValue` /
//!   `highValue`;
//! * `RegressionModel` (regression): `RegressionTable` with `NumericPredictor`s and
//!   `normalizationMethod` none, logit, softmax, exp, cloglog, loglog, cauchit;
//! * `GeneralRegressionModel` (regression): `regression`, `generalLinear` and
//!   `generalizedLinear` model types with `CovariateList`, `PPMatrix`, `ParamMatrix`,
//!   `offsetValue`, `trialsValue` and the link functions identity, log, logc, logit, cloglog,
//!   loglog, power, oddspower and negbin (any `distribution`: it does not change the mean);
//! * `TreeModel` (regression and classification): `True`, `False`, `SimplePredicate` and
//!   `CompoundPredicate` (three-valued logic), `ScoreDistribution`, every
//!   `missingValueStrategy` except weightedConfidence and aggregateNodes, and both
//!   `noTrueChildStrategy` values;
//! * `MiningModel` with a `Segmentation` of any of these models: `average`,
//!   `weightedAverage`, `majorityVote`, `weightedMajorityVote`, `selectFirst` (both functions),
//!   `median`, `sum`, `weightedSum` (regression), with `missingPredictionTreatment` and
//!   `missingThreshold`;
//! * `NeuralNetwork`: `NeuralInputs` with `FieldRef` / `NormContinuous`, every activation
//!   function except radialBasis, normalization none / simplemax / softmax, and `NeuralOutputs`
//!   with `NormDiscrete` (classification) or `FieldRef` / `NormContinuous` (regression);
//! * `Output` with `predictedValue` and `probability` output fields.
//!
//! Anything else that can change a score (an unknown element or attribute, an unsupported
//! attribute value, a transformation, a categorical input) is rejected by [`PmmlModel::parse`]
//! with a [`PmmlError`] of kind [`PmmlErrorKind::Unsupported`]; nothing is silently ignored
//! except documentation-only content (`Header`, `Extension`, `ModelStats`, `ModelExplanation`,
//! `ModelVerification`, `MiningBuildTask`). Parsing never panics, whatever the bytes.

// The module is compiled into more than one crate (an example binary and an integration test),
// each of which uses a different part of the API.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

/// Deepest element nesting accepted; bounds every recursion over the document.
const MAX_DEPTH: usize = 256;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What kind of problem made [`PmmlModel::parse`] fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PmmlErrorKind {
    /// The bytes are not well-formed UTF-8 XML (this includes truncated documents).
    Xml,
    /// Well-formed XML whose root element is not `PMML`.
    NotPmml,
    /// Valid PMML that uses an element, attribute or value this evaluator does not support.
    Unsupported,
    /// The document breaks a PMML rule: a required element or attribute is missing, a number
    /// does not parse, a reference points nowhere.
    Invalid,
}

impl fmt::Display for PmmlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PmmlErrorKind::Xml => "malformed XML",
            PmmlErrorKind::NotPmml => "not a PMML document",
            PmmlErrorKind::Unsupported => "unsupported PMML",
            PmmlErrorKind::Invalid => "invalid PMML",
        })
    }
}

/// Why a PMML document could not be turned into a [`PmmlModel`], and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmmlError {
    kind: PmmlErrorKind,
    element: String,
    offset: u64,
    message: String,
}

impl PmmlError {
    fn at(kind: PmmlErrorKind, el: &El, message: impl Into<String>) -> Self {
        PmmlError {
            kind,
            element: el.name.clone(),
            offset: el.offset,
            message: message.into(),
        }
    }

    fn xml(offset: u64, message: impl Into<String>) -> Self {
        PmmlError {
            kind: PmmlErrorKind::Xml,
            element: String::new(),
            offset,
            message: message.into(),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> PmmlErrorKind {
        self.kind
    }

    /// Local name of the element the problem was found in (empty for XML syntax errors).
    pub fn element(&self) -> &str {
        &self.element
    }

    /// Byte offset in the input of that element's start tag (or of the XML syntax error).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Human-readable description of the problem.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PmmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.element.is_empty() {
            write!(
                f,
                "{}: {} (at byte {})",
                self.kind, self.message, self.offset
            )
        } else {
            write!(
                f,
                "{}: {} (in <{}> at byte {})",
                self.kind, self.message, self.element, self.offset
            )
        }
    }
}

impl std::error::Error for PmmlError {}

fn unsupported(el: &El, message: impl Into<String>) -> PmmlError {
    PmmlError::at(PmmlErrorKind::Unsupported, el, message)
}

fn invalid(el: &El, message: impl Into<String>) -> PmmlError {
    PmmlError::at(PmmlErrorKind::Invalid, el, message)
}

fn unexpected_child(child: &El, parent: &El) -> PmmlError {
    unsupported(
        child,
        format!(
            "element <{}> is not supported inside <{}>",
            child.name, parent.name
        ),
    )
}

/// What kind of problem made [`PmmlModel::evaluate`] fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvalErrorKind {
    /// An input the prediction needs is missing and the model says no replacement for it.
    MissingValue,
    /// An input is NaN or infinite.
    InvalidValue,
    /// The model defines no prediction for this record (e.g. no segment or tree node applies).
    NoPrediction,
    /// The computation gave a non-finite or undefined number (overflow, division by zero).
    Numeric,
}

impl fmt::Display for EvalErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EvalErrorKind::MissingValue => "missing input",
            EvalErrorKind::InvalidValue => "invalid input",
            EvalErrorKind::NoPrediction => "no prediction",
            EvalErrorKind::Numeric => "numeric error",
        })
    }
}

/// Why a record could not be scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    kind: EvalErrorKind,
    model: &'static str,
    field: Option<String>,
    message: String,
}

impl EvalError {
    /// The kind of problem.
    pub fn kind(&self) -> EvalErrorKind {
        self.kind
    }

    /// The input field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Human-readable description of the problem.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}: {}", self.kind, self.model, self.message)
    }
}

impl std::error::Error for EvalError {}

/// An internal numeric failure, turned into an [`EvalError`] at the top.
#[derive(Debug)]
struct NumericFailure(&'static str);

// ---------------------------------------------------------------------------------------------
// XML tree
// ---------------------------------------------------------------------------------------------

/// One element of the document: local name (for elements in the PMML namespace or in none),
/// unprefixed attributes, and child elements. Text content is not kept: no supported element
/// needs it.
#[derive(Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    offset: u64,
}

fn parse_xml(xml: &[u8]) -> Result<El, PmmlError> {
    let mut reader = NsReader::from_reader(xml);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    loop {
        let offset = reader.buffer_position();
        let (pmml_ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => {
                let pmml_ns = match ns {
                    ResolveResult::Unbound => true,
                    ResolveResult::Bound(ns) => {
                        ns.as_ref().starts_with(b"http://www.dmg.org/PMML-")
                    }
                    _ => false,
                };
                (pmml_ns, event)
            }
            Err(e) => return Err(PmmlError::xml(reader.error_position(), e.to_string())),
        };
        match event {
            Event::Start(start) => {
                let el = make_element(&start, pmml_ns, offset, root.is_some())?;
                if stack.len() >= MAX_DEPTH {
                    return Err(PmmlError::xml(
                        offset,
                        format!("elements nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(el);
            }
            Event::Empty(start) => {
                let el = make_element(&start, pmml_ns, offset, root.is_some())?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(PmmlError::xml(offset, "unmatched end tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Eof => break,
            Event::Text(text)
                if stack.is_empty() && text.iter().any(|b| !b.is_ascii_whitespace()) =>
            {
                return Err(PmmlError::xml(offset, "text outside the root element"));
            }
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(PmmlError::xml(
            xml.len() as u64,
            format!(
                "unexpected end of input: element <{}> opened at byte {} is not closed",
                open.name, open.offset
            ),
        ));
    }
    root.ok_or_else(|| PmmlError::xml(0, "no root element"))
}

fn make_element(
    start: &BytesStart<'_>,
    pmml_ns: bool,
    offset: u64,
    after_root: bool,
) -> Result<El, PmmlError> {
    if after_root {
        return Err(PmmlError::xml(offset, "content after the root element"));
    }
    let local = std::str::from_utf8(start.local_name().as_ref())
        .map_err(|_| PmmlError::xml(offset, "element name is not UTF-8"))?
        .to_owned();
    // Elements of other namespaces keep a name no PMML element has, so they are rejected (or
    // skipped inside `Extension`) like any unknown element.
    let name = if pmml_ns {
        local
    } else {
        format!("{{foreign}}{local}")
    };
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| PmmlError::xml(offset, e.to_string()))?;
        let key = attr.key.as_ref();
        // Namespace declarations and qualified (foreign) attributes carry no PMML semantics.
        if key == b"xmlns" || key.contains(&b':') {
            continue;
        }
        let key = std::str::from_utf8(key)
            .map_err(|_| PmmlError::xml(offset, "attribute name is not UTF-8"))?
            .to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| PmmlError::xml(offset, format!("attribute {key}: {e}")))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(El {
        name,
        attrs,
        children: Vec::new(),
        offset,
    })
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn req_attr(&self, name: &str) -> Result<&str, PmmlError> {
        self.attr(name)
            .ok_or_else(|| invalid(self, format!("required attribute {name} is missing")))
    }

    /// Rejects any attribute not in `allowed`: an attribute this evaluator does not know could
    /// change the score.
    fn check_attrs(&self, allowed: &[&str]) -> Result<(), PmmlError> {
        for (k, v) in &self.attrs {
            if !allowed.contains(&k.as_str()) {
                return Err(unsupported(
                    self,
                    format!("attribute {k}=\"{v}\" is not supported"),
                ));
            }
        }
        Ok(())
    }

    fn f64_attr(&self, name: &str) -> Result<Option<f64>, PmmlError> {
        match self.attr(name) {
            None => Ok(None),
            Some(v) => parse_number(v).map(Some).ok_or_else(|| {
                invalid(
                    self,
                    format!("attribute {name}=\"{v}\" is not a finite number"),
                )
            }),
        }
    }

    fn req_f64(&self, name: &str) -> Result<f64, PmmlError> {
        self.f64_attr(name)?
            .ok_or_else(|| invalid(self, format!("required attribute {name} is missing")))
    }

    /// Child elements, without the `Extension`s that PMML lets any element carry.
    fn kids(&self) -> impl Iterator<Item = &El> {
        self.children.iter().filter(|c| c.name != "Extension")
    }

    /// Attribute `name` must be absent or one of `values`; returns it, or `default`.
    fn enum_attr<'a>(
        &'a self,
        name: &str,
        default: &'a str,
        values: &[&str],
    ) -> Result<&'a str, PmmlError> {
        let v = self.attr(name).unwrap_or(default);
        if values.contains(&v) {
            Ok(v)
        } else {
            Err(unsupported(
                self,
                format!("attribute {name}=\"{v}\" is not supported"),
            ))
        }
    }

    fn check_no_children(&self) -> Result<(), PmmlError> {
        match self.kids().next() {
            Some(c) => Err(unexpected_child(c, self)),
            None => Ok(()),
        }
    }
}

/// Parses an XML Schema number; only finite values are accepted.
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    // Rust also accepts "inf"/"nan"/"infinity"; these are rejected by the finiteness check.
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

fn parse_bool(el: &El, name: &str, default: bool) -> Result<bool, PmmlError> {
    match el.attr(name).map(str::trim) {
        None => Ok(default),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(invalid(
            el,
            format!("attribute {name}=\"{v}\" is not a boolean"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Public model and prediction types
// ---------------------------------------------------------------------------------------------

/// The result of scoring one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// The predicted value of a regression model.
    Regression(f64),
    /// The predicted class of a classification model.
    Classification {
        /// The winning class label.
        class: String,
        /// Probability of every class the model knows, in the order of the target field's
        /// `Value`s (or of first appearance in the model when the data dictionary lists none).
        probabilities: Vec<(String, f64)>,
    },
}

impl Prediction {
    /// The predicted number of a regression, `None` for a classification.
    pub fn value(&self) -> Option<f64> {
        match self {
            Prediction::Regression(v) => Some(*v),
            Prediction::Classification { .. } => None,
        }
    }

    /// The predicted class of a classification, `None` for a regression.
    pub fn class(&self) -> Option<&str> {
        match self {
            Prediction::Regression(_) => None,
            Prediction::Classification { class, .. } => Some(class),
        }
    }

    /// Probability of class `label` (0 for a class the model never predicts), `None` for a
    /// regression.
    pub fn probability(&self, label: &str) -> Option<f64> {
        match self {
            Prediction::Regression(_) => None,
            Prediction::Classification { probabilities, .. } => Some(
                probabilities
                    .iter()
                    .find(|(l, _)| l == label)
                    .map_or(0.0, |(_, p)| *p),
            ),
        }
    }
}

/// The value of one `OutputField`, see [`PmmlModel::outputs`].
#[derive(Debug, Clone, PartialEq)]
pub enum OutputValue {
    /// A number: a regression's predicted value or a probability.
    Number(f64),
    /// A class label.
    Category(String),
}

/// A parsed PMML model, ready to score records. Cheap to share: it is immutable.
#[derive(Debug, Clone)]
pub struct PmmlModel {
    kind: &'static str,
    target: String,
    active_fields: Vec<String>,
    classes: Vec<String>,
    outputs: Vec<OutputSpec>,
    root: Model,
}

impl PmmlModel {
    /// Parses a PMML 4.x document.
    ///
    /// # Errors
    ///
    /// A [`PmmlError`] for malformed XML, for a document that is not PMML, for invalid PMML and
    /// for any feature outside the supported subset (see the module docs).
    pub fn parse(xml: &[u8]) -> Result<PmmlModel, PmmlError> {
        let root = parse_xml(xml)?;
        if root.name != "PMML" {
            return Err(PmmlError::at(
                PmmlErrorKind::NotPmml,
                &root,
                format!("root element is <{}>, expected <PMML>", root.name),
            ));
        }
        root.check_attrs(&["version"])?;
        let version = root.req_attr("version")?;
        if !version.trim().starts_with("4.") {
            return Err(unsupported(
                &root,
                format!("PMML version {version} is not supported (4.x expected)"),
            ));
        }
        let mut dict: Option<Dict> = None;
        let mut model_el: Option<&El> = None;
        for c in root.kids() {
            match c.name.as_str() {
                "Header" | "MiningBuildTask" => {}
                "DataDictionary" => {
                    if dict.is_some() {
                        return Err(invalid(c, "more than one DataDictionary"));
                    }
                    dict = Some(parse_dictionary(c)?);
                }
                "TransformationDictionary" => {
                    if let Some(t) = c.kids().next() {
                        return Err(unsupported(
                            t,
                            "transformations (TransformationDictionary) are not supported",
                        ));
                    }
                }
                name if MODEL_ELEMENTS.contains(&name) => {
                    if model_el.is_some() {
                        return Err(unsupported(c, "documents with more than one model"));
                    }
                    model_el = Some(c);
                }
                _ => return Err(unexpected_child(c, &root)),
            }
        }
        let dict = dict.ok_or_else(|| invalid(&root, "DataDictionary is missing"))?;
        let model_el = model_el.ok_or_else(|| invalid(&root, "no model element"))?;
        let kind = supported_kind(model_el)?;

        let function = parse_function(model_el)?;
        let target = find_target(model_el)?;
        let target_field = dict.get(&target).ok_or_else(|| {
            invalid(
                model_el,
                format!("target field \"{target}\" is not in the DataDictionary"),
            )
        })?;
        let (classes, classes_fixed, target_int) = match function {
            Function::Regression => {
                if target_field.optype != "continuous" || target_field.data_type != "double" {
                    return Err(unsupported(
                        model_el,
                        format!(
                            "regression target \"{target}\" must be a continuous double field, not {} {}",
                            target_field.optype, target_field.data_type
                        ),
                    ));
                }
                (Vec::new(), false, false)
            }
            Function::Classification => {
                if target_field.optype == "continuous" {
                    return Err(invalid(
                        model_el,
                        format!("classification target \"{target}\" is continuous"),
                    ));
                }
                let target_int = match target_field.data_type.as_str() {
                    "string" => false,
                    "integer" => true,
                    other => {
                        return Err(unsupported(
                            model_el,
                            format!("classification target of dataType {other} is not supported"),
                        ))
                    }
                };
                let mut classes = Vec::new();
                for v in &target_field.values {
                    let label = canonical_label(v, target_int).ok_or_else(|| {
                        invalid(model_el, format!("target value \"{v}\" is not an integer"))
                    })?;
                    if !classes.contains(&label) {
                        classes.push(label);
                    }
                }
                let fixed = !classes.is_empty();
                (classes, fixed, target_int)
            }
        };

        let mut build = Build {
            dict: &dict,
            target: target.clone(),
            function,
            active: Vec::new(),
            classes,
            classes_fixed,
            target_int,
            outputs: Vec::new(),
        };
        let root_model = parse_model(model_el, &mut build, None)?;
        if function == Function::Classification && build.classes.is_empty() {
            return Err(invalid(model_el, "classification model without any class"));
        }
        Ok(PmmlModel {
            kind,
            target,
            active_fields: build.active,
            classes: build.classes,
            outputs: build.outputs,
            root: root_model,
        })
    }

    /// The model element's name: "RegressionModel", "GeneralRegressionModel", "TreeModel",
    /// "NeuralNetwork" or "MiningModel".
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Name of the target (predicted) field, e.g. "quality".
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Names of the input fields the model reads, in `MiningSchema` order.
    pub fn active_fields(&self) -> &[String] {
        &self.active_fields
    }

    /// Class labels of a classification model (empty for a regression).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Scores one record. `input(name)` returns the value of input field `name`, or `None` if
    /// it is missing; it is called once for each of [`active_fields`](Self::active_fields).
    ///
    /// A missing value is replaced by the `MiningField`'s `missingValueReplacement` when there
    /// is one; otherwise it is handed to the model, which may score without it (a tree whose
    /// path never tests the field).
    ///
    /// # Errors
    ///
    /// [`EvalErrorKind::MissingValue`], naming the field, when a missing input leaves the model
    /// without a prediction; [`EvalErrorKind::InvalidValue`] for a NaN or infinite input;
    /// [`EvalErrorKind::NoPrediction`] when the model defines no prediction for the record;
    /// [`EvalErrorKind::Numeric`] when the result is not a finite number.
    pub fn evaluate(&self, input: &dyn Fn(&str) -> Option<f64>) -> Result<Prediction, EvalError> {
        self.evaluate_by_position(&|i| input(&self.active_fields[i]))
    }

    /// [`evaluate`](Self::evaluate), with each input asked for by its position in
    /// [`active_fields`](Self::active_fields): a caller that maps the fields to its own
    /// inputs once, when the model is built, looks up no name per record.
    ///
    /// # Errors
    ///
    /// As [`evaluate`](Self::evaluate).
    pub fn evaluate_by_position(
        &self,
        input: &dyn Fn(usize) -> Option<f64>,
    ) -> Result<Prediction, EvalError> {
        let mut values = Vec::with_capacity(self.active_fields.len());
        for (i, name) in self.active_fields.iter().enumerate() {
            let v = input(i);
            if let Some(x) = v {
                if !x.is_finite() {
                    return Err(EvalError {
                        kind: EvalErrorKind::InvalidValue,
                        model: self.kind,
                        field: Some(name.clone()),
                        message: format!("input field \"{name}\" is {x}"),
                    });
                }
            }
            values.push(v);
        }
        let outcome = self
            .root
            .eval(&values)
            .map_err(|NumericFailure(what)| EvalError {
                kind: EvalErrorKind::Numeric,
                model: self.kind,
                field: None,
                message: what.to_owned(),
            })?;
        let numeric = |what: &str| EvalError {
            kind: EvalErrorKind::Numeric,
            model: self.kind,
            field: None,
            message: format!("{what} is not a finite number"),
        };
        match outcome {
            Outcome::Value(v) => {
                if v.is_finite() {
                    Ok(Prediction::Regression(v))
                } else {
                    Err(numeric("the predicted value"))
                }
            }
            Outcome::Classes { winner, probs } => {
                let mut probabilities: Vec<(String, f64)> =
                    self.classes.iter().map(|c| (c.clone(), 0.0)).collect();
                for &(c, p) in probs.iter() {
                    if !p.is_finite() {
                        return Err(numeric("a class probability"));
                    }
                    if let Some(slot) = probabilities.get_mut(c) {
                        slot.1 = p;
                    }
                }
                let class = self.classes.get(winner).cloned().ok_or_else(|| EvalError {
                    kind: EvalErrorKind::NoPrediction,
                    model: self.kind,
                    field: None,
                    message: "the winning class is unknown".to_owned(),
                })?;
                Ok(Prediction::Classification {
                    class,
                    probabilities,
                })
            }
            Outcome::Missing(Some(field)) => {
                let name = self.active_fields.get(field).cloned().unwrap_or_default();
                Err(EvalError {
                    kind: EvalErrorKind::MissingValue,
                    model: self.kind,
                    message: format!(
                        "input field \"{name}\" is missing and the model has no replacement for it"
                    ),
                    field: Some(name),
                })
            }
            Outcome::Missing(None) => Err(EvalError {
                kind: EvalErrorKind::NoPrediction,
                model: self.kind,
                field: None,
                message: "the model defines no prediction for this record".to_owned(),
            }),
        }
    }

    /// Values of the model's `OutputField`s for `prediction` (a result of
    /// [`evaluate`](Self::evaluate) on this model), in document order.
    pub fn outputs(&self, prediction: &Prediction) -> Vec<(String, OutputValue)> {
        self.outputs
            .iter()
            .filter_map(|o| {
                let value = match (&o.feature, prediction) {
                    (OutputFeature::PredictedValue, Prediction::Regression(v)) => {
                        OutputValue::Number(*v)
                    }
                    (OutputFeature::PredictedValue, Prediction::Classification { class, .. }) => {
                        OutputValue::Category(class.clone())
                    }
                    (OutputFeature::Probability(label), p) => {
                        let label = label.as_deref().or(p.class())?;
                        OutputValue::Number(p.probability(label)?)
                    }
                };
                Some((o.name.clone(), value))
            })
            .collect()
    }
}

const MODEL_ELEMENTS: &[&str] = &[
    "AnomalyDetectionModel",
    "AssociationModel",
    "BayesianNetworkModel",
    "BaselineModel",
    "ClusteringModel",
    "GaussianProcessModel",
    "GeneralRegressionModel",
    "MiningModel",
    "NaiveBayesModel",
    "NearestNeighborModel",
    "NeuralNetwork",
    "RegressionModel",
    "RuleSetModel",
    "SequenceModel",
    "Scorecard",
    "SupportVectorMachineModel",
    "TextModel",
    "TimeSeriesModel",
    "TreeModel",
];

fn supported_kind(el: &El) -> Result<&'static str, PmmlError> {
    Ok(match el.name.as_str() {
        "RegressionModel" => "RegressionModel",
        "GeneralRegressionModel" => "GeneralRegressionModel",
        "TreeModel" => "TreeModel",
        "NeuralNetwork" => "NeuralNetwork",
        "MiningModel" => "MiningModel",
        other => {
            return Err(unsupported(
                el,
                format!("model type {other} is not supported"),
            ))
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Regression,
    Classification,
}

fn parse_function(el: &El) -> Result<Function, PmmlError> {
    match el.req_attr("functionName")? {
        "regression" => Ok(Function::Regression),
        "classification" => Ok(Function::Classification),
        other => Err(unsupported(
            el,
            format!("functionName=\"{other}\" is not supported"),
        )),
    }
}

/// The single target field of the top-level model's `MiningSchema`.
fn find_target(model: &El) -> Result<String, PmmlError> {
    let schema = model
        .kids()
        .find(|c| c.name == "MiningSchema")
        .ok_or_else(|| invalid(model, "MiningSchema is missing"))?;
    let mut target = None;
    for f in schema.kids().filter(|c| c.name == "MiningField") {
        if matches!(f.attr("usageType"), Some("target") | Some("predicted")) {
            if target.is_some() {
                return Err(unsupported(f, "models with more than one target field"));
            }
            target = Some(f.req_attr("name")?.to_owned());
        }
    }
    target.ok_or_else(|| unsupported(schema, "models without a target MiningField"))
}

fn canonical_label(label: &str, integer: bool) -> Option<String> {
    if integer {
        label.trim().parse::<i64>().ok().map(|v| v.to_string())
    } else {
        Some(label.to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// DataDictionary and MiningSchema
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct DataField {
    optype: String,
    data_type: String,
    /// Valid values (categorical fields).
    values: Vec<String>,
    /// Whether the field restricts its values (Interval, or Values with a property).
    restricted: bool,
}

type Dict = HashMap<String, DataField>;

fn parse_dictionary(el: &El) -> Result<Dict, PmmlError> {
    el.check_attrs(&["numberOfFields"])?;
    let mut dict = Dict::new();
    for f in el.kids() {
        if f.name != "DataField" {
            return Err(unexpected_child(f, el));
        }
        f.check_attrs(&["name", "displayName", "optype", "dataType", "isCyclic"])?;
        let name = f.req_attr("name")?.to_owned();
        f.req_attr("optype")?;
        let optype = f
            .enum_attr("optype", "", &["continuous", "categorical", "ordinal"])?
            .to_owned();
        let data_type = f.req_attr("dataType")?.to_owned();
        if parse_bool(f, "isCyclic", false)? {
            return Err(unsupported(f, "cyclic fields are not supported"));
        }
        let mut values = Vec::new();
        let mut restricted = false;
        for v in f.kids() {
            match v.name.as_str() {
                "Value" => {
                    v.check_attrs(&["value", "displayValue", "property"])?;
                    let value = v.req_attr("value")?;
                    match v.enum_attr("property", "valid", &["valid", "invalid", "missing"])? {
                        "valid" => values.push(value.to_owned()),
                        _ => restricted = true,
                    }
                }
                "Interval" => restricted = true,
                _ => return Err(unexpected_child(v, f)),
            }
        }
        if !values.is_empty() && optype == "continuous" {
            restricted = true;
        }
        if dict
            .insert(
                name.clone(),
                DataField {
                    optype,
                    data_type,
                    values,
                    restricted,
                },
            )
            .is_some()
        {
            return Err(invalid(f, format!("field \"{name}\" is defined twice")));
        }
    }
    Ok(dict)
}

#[derive(Debug, Clone, Copy)]
enum Outliers {
    Keep,
    ToMissing { low: f64, high: f64 },
    Clamp { low: f64, high: f64 },
}

/// What a model's `MiningSchema` does to one input before the model sees it.
#[derive(Debug, Clone)]
struct Treatment {
    field: usize,
    replacement: Option<f64>,
    outliers: Outliers,
}

/// Field names visible to a model, mapped to indexes into the top-level input vector.
type Scope = HashMap<String, usize>;

/// State shared while building a model tree.
struct Build<'a> {
    dict: &'a Dict,
    target: String,
    function: Function,
    /// The top-level model's active fields; their indexes address the input vector.
    active: Vec<String>,
    classes: Vec<String>,
    /// Classes come from the DataDictionary: any other label is an error.
    classes_fixed: bool,
    target_int: bool,
    outputs: Vec<OutputSpec>,
}

impl Build<'_> {
    fn class_index(&mut self, el: &El, label: &str) -> Result<usize, PmmlError> {
        let label = canonical_label(label, self.target_int)
            .ok_or_else(|| invalid(el, format!("class label \"{label}\" is not an integer")))?;
        if let Some(i) = self.classes.iter().position(|c| *c == label) {
            return Ok(i);
        }
        if self.classes_fixed {
            return Err(invalid(
                el,
                format!(
                    "class \"{label}\" is not a value of target field \"{}\"",
                    self.target
                ),
            ));
        }
        self.classes.push(label);
        Ok(self.classes.len() - 1)
    }
}

fn parse_schema(
    el: &El,
    b: &mut Build<'_>,
    parent: Option<&Scope>,
) -> Result<(Vec<Treatment>, Scope), PmmlError> {
    el.check_attrs(&[])?;
    let mut treatments = Vec::new();
    let mut scope = Scope::new();
    for f in el.kids() {
        if f.name != "MiningField" {
            return Err(unexpected_child(f, el));
        }
        f.check_attrs(&[
            "name",
            "usageType",
            "optype",
            "importance",
            "outliers",
            "lowValue",
            "highValue",
            "missingValueReplacement",
            "missingValueTreatment",
            "invalidValueTreatment",
        ])?;
        let name = f.req_attr("name")?;
        let usage = f.enum_attr(
            "usageType",
            "active",
            &[
                "active",
                "target",
                "predicted",
                "supplementary",
                "group",
                "order",
                "frequencyWeight",
                "analysisWeight",
            ],
        )?;
        match usage {
            "active" => {}
            "target" | "predicted" => {
                if name != b.target {
                    return Err(unsupported(
                        f,
                        format!(
                            "segment target \"{name}\" differs from the model target \"{}\"",
                            b.target
                        ),
                    ));
                }
                continue;
            }
            // Not inputs of the scoring function.
            _ => continue,
        }
        let field = b
            .dict
            .get(name)
            .ok_or_else(|| invalid(f, format!("field \"{name}\" is not in the DataDictionary")))?;
        if field.optype != "continuous" || field.data_type != "double" {
            return Err(unsupported(
                f,
                format!(
                    "input field \"{name}\" is {} {}; only continuous double inputs are supported",
                    field.optype, field.data_type
                ),
            ));
        }
        if field.restricted {
            return Err(unsupported(
                f,
                format!("input field \"{name}\" restricts its values (Value/Interval), which is not supported"),
            ));
        }
        if let Some(op) = f.attr("optype") {
            if op != "continuous" {
                return Err(unsupported(
                    f,
                    format!("optype=\"{op}\" on input field \"{name}\" is not supported"),
                ));
            }
        }
        f.enum_attr(
            "missingValueTreatment",
            "asIs",
            &["asIs", "asMean", "asMode", "asMedian", "asValue"],
        )?;
        f.enum_attr(
            "invalidValueTreatment",
            "returnInvalid",
            &["returnInvalid", "asIs", "asMissing"],
        )?;
        let index = match parent {
            None => {
                if b.active.iter().any(|a| a == name) {
                    return Err(invalid(f, format!("field \"{name}\" is listed twice")));
                }
                b.active.push(name.to_owned());
                b.active.len() - 1
            }
            Some(parent) => *parent.get(name).ok_or_else(|| {
                invalid(
                    f,
                    format!("field \"{name}\" is not an active field of the enclosing model"),
                )
            })?,
        };
        if scope.insert(name.to_owned(), index).is_some() && parent.is_some() {
            return Err(invalid(f, format!("field \"{name}\" is listed twice")));
        }
        let outliers = match f.enum_attr(
            "outliers",
            "asIs",
            &["asIs", "asMissingValues", "asExtremeValues"],
        )? {
            "asIs" => Outliers::Keep,
            kind => {
                let low = f.f64_attr("lowValue")?.unwrap_or(f64::NEG_INFINITY);
                let high = f.f64_attr("highValue")?.unwrap_or(f64::INFINITY);
                if low > high {
                    return Err(invalid(f, "lowValue is greater than highValue"));
                }
                if kind == "asMissingValues" {
                    Outliers::ToMissing { low, high }
                } else {
                    Outliers::Clamp { low, high }
                }
            }
        };
        let replacement = f.f64_attr("missingValueReplacement")?;
        if replacement.is_some() || !matches!(outliers, Outliers::Keep) {
            treatments.push(Treatment {
                field: index,
                replacement,
                outliers,
            });
        }
    }
    Ok((treatments, scope))
}

fn resolve(scope: &Scope, el: &El, attr: &str) -> Result<usize, PmmlError> {
    let name = el.req_attr(attr)?;
    scope.get(name).copied().ok_or_else(|| {
        invalid(
            el,
            format!("field \"{name}\" is not an active field of the model's MiningSchema"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum OutputFeature {
    PredictedValue,
    Probability(Option<String>),
}

#[derive(Debug, Clone)]
struct OutputSpec {
    name: String,
    feature: OutputFeature,
}

fn parse_output(el: &El, b: &mut Build<'_>) -> Result<Vec<OutputSpec>, PmmlError> {
    el.check_attrs(&[])?;
    let mut specs = Vec::new();
    for f in el.kids() {
        if f.name != "OutputField" {
            return Err(unexpected_child(f, el));
        }
        f.check_attrs(&[
            "name",
            "displayName",
            "optype",
            "dataType",
            "targetField",
            "feature",
            "value",
            "isFinalResult",
        ])?;
        f.check_no_children()?;
        let name = f.req_attr("name")?.to_owned();
        if let Some(t) = f.attr("targetField") {
            if t != b.target {
                return Err(invalid(
                    f,
                    format!("targetField \"{t}\" is not the model target"),
                ));
            }
        }
        let feature = match f.enum_attr(
            "feature",
            "predictedValue",
            &["predictedValue", "probability"],
        )? {
            "probability" => {
                if b.function != Function::Classification {
                    return Err(invalid(f, "probability output of a regression model"));
                }
                let label = match f.attr("value") {
                    Some(v) => {
                        let i = b.class_index(f, v)?;
                        b.classes.get(i).cloned()
                    }
                    None => None,
                };
                OutputFeature::Probability(label)
            }
            _ => OutputFeature::PredictedValue,
        };
        specs.push(OutputSpec { name, feature });
    }
    Ok(specs)
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/// A model's raw result.
#[derive(Debug, Clone, PartialEq)]
enum Outcome<'m> {
    /// A regression value.
    Value(f64),
    /// A classification: winning class and (class, probability) pairs in the model's own
    /// order, which breaks ties the way JPMML does (first maximum wins). A tree's leaf lends
    /// its distribution (scoring a forest copies none of them).
    Classes {
        winner: usize,
        probs: Cow<'m, [(usize, f64)]>,
    },
    /// No prediction; the missing input that caused it, when there is one.
    Missing(Option<usize>),
}

#[derive(Debug, Clone)]
struct Model {
    function: Function,
    treatments: Vec<Treatment>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Regression(RegressionBody),
    General(GeneralBody),
    Tree(TreeBody),
    Neural(NeuralBody),
    Mining(MiningBody),
}

const MODEL_ATTRS: &[&str] = &["modelName", "functionName", "algorithmName", "isScorable"];

/// Handles the children every model element may have; returns false for others.
fn common_model_child(c: &El) -> Result<bool, PmmlError> {
    match c.name.as_str() {
        "ModelStats" | "ModelExplanation" | "ModelVerification" => Ok(true),
        "Targets" | "LocalTransformations" => match c.kids().next() {
            Some(t) => Err(unsupported(
                t,
                format!("<{}> content is not supported", c.name),
            )),
            None => Ok(true),
        },
        _ => Ok(false),
    }
}

fn parse_model(el: &El, b: &mut Build<'_>, parent: Option<&Scope>) -> Result<Model, PmmlError> {
    supported_kind(el)?;
    let function = parse_function(el)?;
    if function != b.function {
        return Err(invalid(
            el,
            "a segment's functionName differs from the enclosing model's",
        ));
    }
    if !parse_bool(el, "isScorable", true)? {
        return Err(unsupported(el, "the model is marked isScorable=\"false\""));
    }
    let schema_el = el
        .kids()
        .find(|c| c.name == "MiningSchema")
        .ok_or_else(|| invalid(el, "MiningSchema is missing"))?;
    let (treatments, scope) = parse_schema(schema_el, b, parent)?;
    let mut seen_schema = false;
    for c in el.kids() {
        match c.name.as_str() {
            "MiningSchema" => {
                if seen_schema {
                    return Err(invalid(c, "more than one MiningSchema"));
                }
                seen_schema = true;
            }
            "Output" => {
                let specs = parse_output(c, b)?;
                if parent.is_none() {
                    b.outputs = specs;
                }
            }
            _ => {}
        }
    }
    let body = match el.name.as_str() {
        "RegressionModel" => Body::Regression(parse_regression(el, &scope)?),
        "GeneralRegressionModel" => Body::General(parse_general(el, &scope)?),
        "TreeModel" => Body::Tree(parse_tree(el, b, &scope)?),
        "NeuralNetwork" => Body::Neural(parse_neural(el, b, &scope)?),
        "MiningModel" => Body::Mining(parse_mining(el, b, &scope)?),
        _ => return Err(unsupported(el, "model type is not supported")),
    };
    Ok(Model {
        function,
        treatments,
        body,
    })
}

impl Model {
    fn eval(&self, values: &[Option<f64>]) -> Result<Outcome<'_>, NumericFailure> {
        let values = apply_treatments(&self.treatments, values);
        let values: &[Option<f64>] = &values;
        match &self.body {
            Body::Regression(m) => Ok(m.eval(values)),
            Body::General(m) => Ok(m.eval(values)),
            Body::Tree(m) => m.eval(self.function, values),
            Body::Neural(m) => m.eval(self.function, values),
            Body::Mining(m) => m.eval(self.function, values),
        }
    }
}

fn apply_treatments<'v>(
    treatments: &[Treatment],
    values: &'v [Option<f64>],
) -> Cow<'v, [Option<f64>]> {
    if treatments.is_empty() {
        return Cow::Borrowed(values);
    }
    let mut owned = values.to_vec();
    for t in treatments {
        if let Some(slot) = owned.get_mut(t.field) {
            *slot = match (*slot, t.outliers) {
                (Some(x), Outliers::ToMissing { low, high }) if x < low || x > high => None,
                (Some(x), Outliers::Clamp { low, high }) => Some(x.clamp(low, high)),
                (v, _) => v,
            };
            if slot.is_none() {
                *slot = t.replacement;
            }
        }
    }
    Cow::Owned(owned)
}

fn value_of(values: &[Option<f64>], field: usize) -> Option<f64> {
    values.get(field).copied().flatten()
}

// ----- RegressionModel ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegressionNorm {
    None,
    Logit,
    Exp,
    Cloglog,
    Loglog,
    Cauchit,
}

#[derive(Debug, Clone)]
struct RegressionBody {
    intercept: f64,
    /// (field, exponent, coefficient)
    predictors: Vec<(usize, i32, f64)>,
    norm: RegressionNorm,
}

fn parse_regression(el: &El, scope: &Scope) -> Result<RegressionBody, PmmlError> {
    let mut allowed = MODEL_ATTRS.to_vec();
    allowed.extend(["modelType", "targetFieldName", "normalizationMethod"]);
    el.check_attrs(&allowed)?;
    if parse_function(el)? != Function::Regression {
        return Err(unsupported(
            el,
            "classification RegressionModels are not supported",
        ));
    }
    let norm = match el.enum_attr(
        "normalizationMethod",
        "none",
        &[
            "none", "softmax", "logit", "exp", "cloglog", "loglog", "cauchit",
        ],
    )? {
        "softmax" | "logit" => RegressionNorm::Logit,
        "exp" => RegressionNorm::Exp,
        "cloglog" => RegressionNorm::Cloglog,
        "loglog" => RegressionNorm::Loglog,
        "cauchit" => RegressionNorm::Cauchit,
        _ => RegressionNorm::None,
    };
    let mut table = None;
    for c in el.kids() {
        match c.name.as_str() {
            "MiningSchema" | "Output" => {}
            "RegressionTable" => {
                if table.is_some() {
                    return Err(unsupported(
                        c,
                        "more than one RegressionTable in a regression",
                    ));
                }
                table = Some(c);
            }
            _ => {
                if !common_model_child(c)? {
                    return Err(unexpected_child(c, el));
                }
            }
        }
    }
    let table = table.ok_or_else(|| invalid(el, "RegressionTable is missing"))?;
    table.check_attrs(&["intercept", "targetCategory"])?;
    let intercept = table.req_f64("intercept")?;
    let mut predictors = Vec::new();
    for p in table.kids() {
        if p.name != "NumericPredictor" {
            return Err(unexpected_child(p, table));
        }
        p.check_attrs(&["name", "exponent", "coefficient"])?;
        p.check_no_children()?;
        let field = resolve(scope, p, "name")?;
        let exponent = match p.attr("exponent") {
            None => 1,
            Some(e) => e
                .trim()
                .parse::<i32>()
                .map_err(|_| invalid(p, format!("exponent=\"{e}\" is not an integer")))?,
        };
        predictors.push((field, exponent, p.req_f64("coefficient")?));
    }
    Ok(RegressionBody {
        intercept,
        predictors,
        norm,
    })
}

impl RegressionBody {
    fn eval(&self, values: &[Option<f64>]) -> Outcome<'static> {
        let mut sum = 0.0;
        for &(field, exponent, coefficient) in &self.predictors {
            let Some(x) = value_of(values, field) else {
                return Outcome::Missing(Some(field));
            };
            let term = if exponent == 1 {
                x
            } else {
                x.powf(f64::from(exponent))
            };
            sum += coefficient * term;
        }
        let y = sum + self.intercept;
        Outcome::Value(match self.norm {
            RegressionNorm::None => y,
            RegressionNorm::Logit => 1.0 / (1.0 + (-y).exp()),
            RegressionNorm::Exp => y.exp(),
            RegressionNorm::Cloglog => 1.0 - (-y.exp()).exp(),
            RegressionNorm::Loglog => (-(-y).exp()).exp(),
            RegressionNorm::Cauchit => 0.5 + y.atan() / std::f64::consts::PI,
        })
    }
}

// ----- GeneralRegressionModel -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    Identity,
    Log,
    Logc,
    Logit,
    Cloglog,
    Loglog,
    Power(f64),
    OddsPower(f64),
    NegBin(f64),
}

/// Covariates of one parameter: (field, exponent).
type Factors = Vec<(usize, f64)>;

#[derive(Debug, Clone)]
struct GeneralBody {
    /// (beta, covariate factors: (field, exponent)); a parameter without PPCells (the
    /// intercept) has no factors and contributes beta.
    terms: Vec<(f64, Option<Factors>)>,
    /// Inverse link, offset and trials; `None` for (general) linear regression.
    link: Option<(Link, f64, f64)>,
}

fn parse_general(el: &El, scope: &Scope) -> Result<GeneralBody, PmmlError> {
    let mut allowed = MODEL_ATTRS.to_vec();
    allowed.extend([
        "targetVariableName",
        "modelType",
        "linkFunction",
        "linkParameter",
        "distribution",
        "distParameter",
        "offsetValue",
        "trialsValue",
        "modelDF",
    ]);
    el.check_attrs(&allowed)?;
    if parse_function(el)? != Function::Regression {
        return Err(unsupported(
            el,
            "classification GeneralRegressionModels are not supported",
        ));
    }
    let model_type = el.req_attr("modelType")?;
    let link = match model_type {
        "regression" | "generalLinear" => None,
        "generalizedLinear" => {
            el.enum_attr(
                "distribution",
                "normal",
                &[
                    "binomial", "gamma", "igauss", "negbin", "normal", "poisson", "tweedie",
                ],
            )?;
            let link_parameter = el.f64_attr("linkParameter")?;
            let need_link_parameter = || {
                link_parameter
                    .ok_or_else(|| invalid(el, "linkParameter is required by this linkFunction"))
            };
            let link = match el.req_attr("linkFunction")? {
                "identity" => Link::Identity,
                "log" => Link::Log,
                "logc" => Link::Logc,
                "logit" => Link::Logit,
                "cloglog" => Link::Cloglog,
                "loglog" => Link::Loglog,
                "power" => Link::Power(need_link_parameter()?),
                "oddspower" => Link::OddsPower(need_link_parameter()?),
                "negbin" => Link::NegBin(el.f64_attr("distParameter")?.ok_or_else(|| {
                    invalid(el, "distParameter is required by linkFunction negbin")
                })?),
                other => {
                    return Err(unsupported(
                        el,
                        format!("linkFunction=\"{other}\" is not supported"),
                    ))
                }
            };
            let offset = el.f64_attr("offsetValue")?.unwrap_or(0.0);
            let trials = el.f64_attr("trialsValue")?.unwrap_or(1.0);
            Some((link, offset, trials))
        }
        other => {
            return Err(unsupported(
                el,
                format!("modelType=\"{other}\" is not supported"),
            ))
        }
    };

    let mut parameters: Vec<String> = Vec::new();
    let mut covariates: Vec<String> = Vec::new();
    let mut pp_cells: Vec<&El> = Vec::new();
    let mut p_cells: Vec<&El> = Vec::new();
    for c in el.kids() {
        match c.name.as_str() {
            "MiningSchema" | "Output" | "PCovMatrix" => {}
            "ParameterList" => {
                c.check_attrs(&[])?;
                for p in c.kids() {
                    if p.name != "Parameter" {
                        return Err(unexpected_child(p, c));
                    }
                    p.check_attrs(&["name", "label", "referencePoint"])?;
                    if p.f64_attr("referencePoint")?.unwrap_or(0.0) != 0.0 {
                        return Err(unsupported(p, "referencePoint is not supported"));
                    }
                    parameters.push(p.req_attr("name")?.to_owned());
                }
            }
            "FactorList" => {
                c.check_attrs(&[])?;
                if let Some(p) = c.kids().next() {
                    return Err(unsupported(
                        p,
                        "factors (categorical predictors) are not supported",
                    ));
                }
            }
            "CovariateList" => {
                c.check_attrs(&[])?;
                for p in c.kids() {
                    if p.name != "Predictor" {
                        return Err(unexpected_child(p, c));
                    }
                    p.check_attrs(&["name", "contrastMatrixType"])?;
                    p.check_no_children()?;
                    resolve(scope, p, "name")?;
                    covariates.push(p.req_attr("name")?.to_owned());
                }
            }
            "PPMatrix" => {
                c.check_attrs(&[])?;
                for cell in c.kids() {
                    if cell.name != "PPCell" {
                        return Err(unexpected_child(cell, c));
                    }
                    pp_cells.push(cell);
                }
            }
            "ParamMatrix" => {
                c.check_attrs(&[])?;
                for cell in c.kids() {
                    if cell.name != "PCell" {
                        return Err(unexpected_child(cell, c));
                    }
                    p_cells.push(cell);
                }
            }
            _ => {
                if !common_model_child(c)? {
                    return Err(unexpected_child(c, el));
                }
            }
        }
    }

    let mut rows: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    for cell in pp_cells {
        cell.check_attrs(&["value", "predictorName", "parameterName"])?;
        cell.check_no_children()?;
        let parameter = cell.req_attr("parameterName")?;
        if !parameters.iter().any(|p| p == parameter) {
            return Err(invalid(
                cell,
                format!("parameter \"{parameter}\" is not in the ParameterList"),
            ));
        }
        let predictor = cell.req_attr("predictorName")?;
        if !covariates.iter().any(|p| p == predictor) {
            return Err(invalid(
                cell,
                format!("predictor \"{predictor}\" is not in the CovariateList"),
            ));
        }
        let field = resolve(scope, cell, "predictorName")?;
        let exponent = cell.req_f64("value")?;
        rows.entry(parameter).or_default().push((field, exponent));
    }
    let mut terms = Vec::new();
    for cell in p_cells {
        cell.check_attrs(&["parameterName", "beta", "df"])?;
        cell.check_no_children()?;
        let parameter = cell.req_attr("parameterName")?;
        if !parameters.iter().any(|p| p == parameter) {
            return Err(invalid(
                cell,
                format!("parameter \"{parameter}\" is not in the ParameterList"),
            ));
        }
        terms.push((cell.req_f64("beta")?, rows.get(parameter).cloned()));
    }
    if terms.is_empty() {
        return Err(invalid(el, "ParamMatrix is missing or empty"));
    }
    Ok(GeneralBody { terms, link })
}

impl GeneralBody {
    fn eval(&self, values: &[Option<f64>]) -> Outcome<'static> {
        let mut eta = 0.0;
        for (beta, factors) in &self.terms {
            match factors {
                None => eta += beta,
                Some(factors) => {
                    let mut x = 1.0;
                    for &(field, exponent) in factors {
                        let Some(v) = value_of(values, field) else {
                            return Outcome::Missing(Some(field));
                        };
                        x *= if exponent == 1.0 { v } else { v.powf(exponent) };
                    }
                    eta += beta * x;
                }
            }
        }
        let Some((link, offset, trials)) = self.link else {
            return Outcome::Value(eta);
        };
        let x = eta + offset;
        let mu = match link {
            Link::Identity => x,
            Link::Log => x.exp(),
            Link::Logc => 1.0 - x.exp(),
            Link::Logit => 1.0 / (1.0 + (-x).exp()),
            Link::Cloglog => 1.0 - (-x.exp()).exp(),
            Link::Loglog => (-(-x).exp()).exp(),
            Link::Power(p) => {
                if p != 0.0 {
                    x.powf(1.0 / p)
                } else {
                    x.exp()
                }
            }
            Link::OddsPower(p) => {
                if p != 0.0 {
                    1.0 / (1.0 + (1.0 + p * x).powf(-(1.0 / p)))
                } else {
                    1.0 / (1.0 + (-x).exp())
                }
            }
            Link::NegBin(d) => 1.0 / (d * ((-x).exp() - 1.0)),
        };
        Outcome::Value(if trials == 1.0 { mu } else { mu * trials })
    }
}

// ----- Predicates -----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoolOp {
    And,
    Or,
    Xor,
    Surrogate,
}

#[derive(Debug, Clone)]
enum Predicate {
    True,
    False,
    Compare { field: usize, op: CmpOp, value: f64 },
    IsMissing(usize),
    IsNotMissing(usize),
    Compound { op: BoolOp, items: Vec<Predicate> },
}

const PREDICATES: &[&str] = &[
    "True",
    "False",
    "SimplePredicate",
    "CompoundPredicate",
    "SimpleSetPredicate",
];

fn parse_predicate(el: &El, scope: &Scope) -> Result<Predicate, PmmlError> {
    match el.name.as_str() {
        "True" | "False" => {
            el.check_attrs(&[])?;
            el.check_no_children()?;
            Ok(if el.name == "True" {
                Predicate::True
            } else {
                Predicate::False
            })
        }
        "SimplePredicate" => {
            el.check_attrs(&["field", "operator", "value"])?;
            el.check_no_children()?;
            let field = resolve(scope, el, "field")?;
            let op = match el.req_attr("operator")? {
                "isMissing" => return Ok(Predicate::IsMissing(field)),
                "isNotMissing" => return Ok(Predicate::IsNotMissing(field)),
                "equal" => CmpOp::Equal,
                "notEqual" => CmpOp::NotEqual,
                "lessThan" => CmpOp::Less,
                "lessOrEqual" => CmpOp::LessOrEqual,
                "greaterThan" => CmpOp::Greater,
                "greaterOrEqual" => CmpOp::GreaterOrEqual,
                other => {
                    return Err(unsupported(
                        el,
                        format!("operator=\"{other}\" is not supported"),
                    ))
                }
            };
            Ok(Predicate::Compare {
                field,
                op,
                value: el.req_f64("value")?,
            })
        }
        "CompoundPredicate" => {
            el.check_attrs(&["booleanOperator"])?;
            let op = match el.req_attr("booleanOperator")? {
                "and" => BoolOp::And,
                "or" => BoolOp::Or,
                "xor" => BoolOp::Xor,
                "surrogate" => BoolOp::Surrogate,
                other => {
                    return Err(unsupported(
                        el,
                        format!("booleanOperator=\"{other}\" is not supported"),
                    ))
                }
            };
            let items = el
                .kids()
                .map(|c| parse_predicate(c, scope))
                .collect::<Result<Vec<_>, _>>()?;
            if items.len() < 2 {
                return Err(invalid(
                    el,
                    "a CompoundPredicate needs at least two predicates",
                ));
            }
            Ok(Predicate::Compound { op, items })
        }
        "SimpleSetPredicate" => Err(unsupported(el, "SimpleSetPredicate is not supported")),
        _ => Err(invalid(el, format!("<{}> is not a predicate", el.name))),
    }
}

impl Predicate {
    /// Three-valued evaluation: `None` is UNKNOWN. The first missing input met is recorded in
    /// `missing`.
    fn eval(&self, values: &[Option<f64>], missing: &mut Option<usize>) -> Option<bool> {
        match self {
            Predicate::True => Some(true),
            Predicate::False => Some(false),
            Predicate::IsMissing(f) => Some(value_of(values, *f).is_none()),
            Predicate::IsNotMissing(f) => Some(value_of(values, *f).is_some()),
            Predicate::Compare { field, op, value } => {
                let Some(x) = value_of(values, *field) else {
                    missing.get_or_insert(*field);
                    return None;
                };
                Some(match op {
                    CmpOp::Equal => x == *value,
                    CmpOp::NotEqual => x != *value,
                    CmpOp::Less => x < *value,
                    CmpOp::LessOrEqual => x <= *value,
                    CmpOp::Greater => x > *value,
                    CmpOp::GreaterOrEqual => x >= *value,
                })
            }
            Predicate::Compound { op, items } => match op {
                BoolOp::And => {
                    let mut result = Some(true);
                    for p in items {
                        match p.eval(values, missing) {
                            Some(false) => return Some(false),
                            None => result = None,
                            Some(true) => {}
                        }
                    }
                    result
                }
                BoolOp::Or => {
                    let mut result = Some(false);
                    for p in items {
                        match p.eval(values, missing) {
                            Some(true) => return Some(true),
                            None => result = None,
                            Some(false) => {}
                        }
                    }
                    result
                }
                BoolOp::Xor => {
                    let mut result = false;
                    for p in items {
                        result ^= p.eval(values, missing)?;
                    }
                    Some(result)
                }
                BoolOp::Surrogate => items.iter().find_map(|p| p.eval(values, missing)),
            },
        }
    }
}

// ----- TreeModel ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingStrategy {
    None,
    NullPrediction,
    LastPrediction,
    DefaultChild,
}

#[derive(Debug, Clone)]
struct TreeNode {
    predicate: Predicate,
    /// Regression: the numeric score.
    value: Option<f64>,
    /// Classification: the score as a class index.
    class: Option<usize>,
    /// Classification: normalised ScoreDistribution, in document order; `Err` if undefined
    /// (the counts sum to zero).
    probs: Result<Vec<(usize, f64)>, &'static str>,
    has_distribution: bool,
    default_child: Option<usize>,
    children: Vec<TreeNode>,
}

#[derive(Debug, Clone)]
struct TreeBody {
    missing: MissingStrategy,
    return_last: bool,
    root: TreeNode,
}

fn parse_tree(el: &El, b: &mut Build<'_>, scope: &Scope) -> Result<TreeBody, PmmlError> {
    let mut allowed = MODEL_ATTRS.to_vec();
    allowed.extend([
        "missingValueStrategy",
        "missingValuePenalty",
        "noTrueChildStrategy",
        "splitCharacteristic",
    ]);
    el.check_attrs(&allowed)?;
    let missing = match el.enum_attr(
        "missingValueStrategy",
        "none",
        &["none", "nullPrediction", "lastPrediction", "defaultChild"],
    )? {
        "nullPrediction" => MissingStrategy::NullPrediction,
        "lastPrediction" => MissingStrategy::LastPrediction,
        "defaultChild" => MissingStrategy::DefaultChild,
        _ => MissingStrategy::None,
    };
    // The penalty only scales confidences, which are not reported.
    el.f64_attr("missingValuePenalty")?;
    let return_last = el.enum_attr(
        "noTrueChildStrategy",
        "returnNullPrediction",
        &["returnNullPrediction", "returnLastPrediction"],
    )? == "returnLastPrediction";
    let mut root = None;
    for c in el.kids() {
        match c.name.as_str() {
            "MiningSchema" | "Output" => {}
            "Node" => {
                if root.is_some() {
                    return Err(invalid(c, "a TreeModel has exactly one root Node"));
                }
                root = Some(parse_node(c, b, scope, missing)?);
            }
            _ => {
                if !common_model_child(c)? {
                    return Err(unexpected_child(c, el));
                }
            }
        }
    }
    let root = root.ok_or_else(|| invalid(el, "the root Node is missing"))?;
    Ok(TreeBody {
        missing,
        return_last,
        root,
    })
}

fn parse_node(
    el: &El,
    b: &mut Build<'_>,
    scope: &Scope,
    missing: MissingStrategy,
) -> Result<TreeNode, PmmlError> {
    el.check_attrs(&["id", "score", "recordCount", "defaultChild"])?;
    let mut predicate = None;
    let mut children = Vec::new();
    let mut child_ids: Vec<Option<&str>> = Vec::new();
    let mut distribution: Vec<(usize, f64, bool)> = Vec::new();
    for c in el.kids() {
        match c.name.as_str() {
            name if PREDICATES.contains(&name) => {
                if predicate.is_some() || !children.is_empty() || !distribution.is_empty() {
                    return Err(invalid(
                        c,
                        "a Node has one predicate, before its other content",
                    ));
                }
                predicate = Some(parse_predicate(c, scope)?);
            }
            "Partition" => {}
            "ScoreDistribution" => {
                c.check_attrs(&["value", "recordCount", "confidence", "probability"])?;
                c.check_no_children()?;
                if b.function != Function::Classification {
                    return Err(invalid(c, "ScoreDistribution in a regression tree"));
                }
                let class = b.class_index(c, c.req_attr("value")?)?;
                if distribution.iter().any(|d| d.0 == class) {
                    return Err(invalid(c, "class listed twice in the ScoreDistributions"));
                }
                c.f64_attr("confidence")?;
                let (weight, is_probability) = match c.f64_attr("probability")? {
                    Some(p) if (0.0..=1.0).contains(&p) => (p, true),
                    Some(p) => {
                        return Err(invalid(c, format!("probability {p} is outside [0, 1]")))
                    }
                    None => {
                        let n = c.req_f64("recordCount")?;
                        if n < 0.0 {
                            return Err(invalid(c, "negative recordCount"));
                        }
                        (n, false)
                    }
                };
                distribution.push((class, weight, is_probability));
            }
            "Node" => {
                child_ids.push(c.attr("id"));
                children.push(parse_node(c, b, scope, missing)?);
            }
            _ => return Err(unexpected_child(c, el)),
        }
    }
    let predicate = predicate.ok_or_else(|| invalid(el, "the Node has no predicate"))?;
    if distribution.iter().any(|d| d.2) && !distribution.iter().all(|d| d.2) {
        return Err(invalid(
            el,
            "probability must be given for every ScoreDistribution or for none",
        ));
    }
    let mut value = None;
    let mut class = None;
    if let Some(score) = el.attr("score") {
        match b.function {
            Function::Regression => {
                value = Some(parse_number(score).ok_or_else(|| {
                    invalid(el, format!("score=\"{score}\" is not a finite number"))
                })?);
            }
            Function::Classification => class = Some(b.class_index(el, score)?),
        }
    }
    let default_child = match el.attr("defaultChild") {
        None => None,
        Some(id) => Some(
            child_ids
                .iter()
                .position(|c| *c == Some(id))
                .ok_or_else(|| invalid(el, format!("defaultChild \"{id}\" is not a child Node")))?,
        ),
    };
    if missing == MissingStrategy::DefaultChild && !children.is_empty() && default_child.is_none() {
        return Err(invalid(
            el,
            "missingValueStrategy=\"defaultChild\" needs defaultChild on every non-leaf Node",
        ));
    }
    let sum: f64 = distribution.iter().map(|d| d.1).sum();
    let probs = if distribution.is_empty() {
        Ok(Vec::new())
    } else if sum == 0.0 {
        Err("the ScoreDistribution counts sum to zero")
    } else if sum == 1.0 {
        Ok(distribution.iter().map(|d| (d.0, d.1)).collect())
    } else {
        Ok(distribution.iter().map(|d| (d.0, d.1 / sum)).collect())
    };
    Ok(TreeNode {
        predicate,
        value,
        class,
        probs,
        has_distribution: !distribution.is_empty(),
        default_child,
        children,
    })
}

impl TreeBody {
    /// The selected node, or `None` for a null prediction; follows JPMML's
    /// `ComplexTreeModelEvaluator`.
    fn select<'t>(
        &'t self,
        values: &[Option<f64>],
        missing: &mut Option<usize>,
    ) -> Option<&'t TreeNode> {
        if self.root.predicate.eval(values, missing) != Some(true) {
            return None;
        }
        let mut node = &self.root;
        loop {
            if node.children.is_empty() {
                return Some(node);
            }
            let mut next = None;
            for child in &node.children {
                match child.predicate.eval(values, missing) {
                    Some(true) => {
                        next = Some(child);
                        break;
                    }
                    Some(false) => {}
                    None => match self.missing {
                        MissingStrategy::None => {}
                        MissingStrategy::NullPrediction => return None,
                        MissingStrategy::LastPrediction => return Some(node),
                        MissingStrategy::DefaultChild => {
                            // The default child's own predicate is not evaluated.
                            let child = node.default_child.and_then(|i| node.children.get(i))?;
                            next = Some(child);
                            break;
                        }
                    },
                }
            }
            match next {
                Some(child) => node = child,
                None => {
                    let has_score = node.value.is_some() || node.class.is_some();
                    return (self.return_last && has_score).then_some(node);
                }
            }
        }
    }

    fn eval(
        &self,
        function: Function,
        values: &[Option<f64>],
    ) -> Result<Outcome<'_>, NumericFailure> {
        let mut missing = None;
        let Some(node) = self.select(values, &mut missing) else {
            return Ok(Outcome::Missing(missing));
        };
        match function {
            Function::Regression => {
                Ok(node.value.map_or(Outcome::Missing(missing), Outcome::Value))
            }
            Function::Classification => {
                if !node.has_distribution {
                    // No distribution: the score is certain.
                    return Ok(match node.class {
                        Some(c) => Outcome::Classes {
                            winner: c,
                            probs: Cow::Owned(vec![(c, 1.0)]),
                        },
                        None => Outcome::Missing(missing),
                    });
                }
                let probs: &[(usize, f64)] = match &node.probs {
                    Ok(probs) => probs,
                    Err(e) => return Err(NumericFailure(e)),
                };
                let winner = match node.class {
                    Some(c) => c,
                    None => match first_max(probs) {
                        Some(c) => c,
                        None => return Ok(Outcome::Missing(missing)),
                    },
                };
                Ok(Outcome::Classes {
                    winner,
                    probs: Cow::Borrowed(probs),
                })
            }
        }
    }
}

/// The class with the highest probability; the first one wins a tie.
fn first_max(probs: &[(usize, f64)]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for &(c, p) in probs {
        if best.is_none_or(|(_, bp)| p > bp) {
            best = Some((c, p));
        }
    }
    best.map(|(c, _)| c)
}

// ----- MiningModel ----------------------------------------------------------------------------

/// Per-class totals of a vote or an average, indexed by class, with the classes in the order
/// they were first seen (JPMML's tie-break: the first maximum wins).
#[derive(Default)]
struct Tally {
    order: Vec<usize>,
    totals: Vec<Option<f64>>,
}

impl Tally {
    fn add(&mut self, class: usize, x: f64) {
        if class >= self.totals.len() {
            self.totals.resize(class + 1, None);
        }
        match &mut self.totals[class] {
            Some(total) => *total += x,
            slot @ None => {
                *slot = Some(x);
                self.order.push(class);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// (class, total / divisor), in first-seen order.
    fn into_pairs(self, divisor: f64) -> Vec<(usize, f64)> {
        self.order
            .iter()
            .map(|&c| (c, self.totals[c].unwrap_or(0.0) / divisor))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Average,
    WeightedAverage,
    Median,
    Sum,
    WeightedSum,
    MajorityVote,
    WeightedMajorityVote,
    SelectFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingPrediction {
    Continue,
    ReturnMissing,
    SkipSegment,
}

#[derive(Debug, Clone)]
struct Segment {
    predicate: Predicate,
    weight: f64,
    model: Model,
}

#[derive(Debug, Clone)]
struct MiningBody {
    method: Method,
    missing: MissingPrediction,
    missing_threshold: f64,
    segments: Vec<Segment>,
}

fn parse_mining(el: &El, b: &mut Build<'_>, scope: &Scope) -> Result<MiningBody, PmmlError> {
    el.check_attrs(MODEL_ATTRS)?;
    let mut segmentation = None;
    for c in el.kids() {
        match c.name.as_str() {
            "MiningSchema" | "Output" => {}
            "Segmentation" => {
                if segmentation.is_some() {
                    return Err(invalid(c, "more than one Segmentation"));
                }
                segmentation = Some(c);
            }
            _ => {
                if !common_model_child(c)? {
                    return Err(unexpected_child(c, el));
                }
            }
        }
    }
    let seg = segmentation.ok_or_else(|| invalid(el, "Segmentation is missing"))?;
    seg.check_attrs(&[
        "multipleModelMethod",
        "missingPredictionTreatment",
        "missingThreshold",
    ])?;
    let method_name = seg.req_attr("multipleModelMethod")?;
    let method = match (b.function, method_name) {
        (_, "average") => Method::Average,
        (_, "weightedAverage") => Method::WeightedAverage,
        (_, "selectFirst") => Method::SelectFirst,
        (Function::Regression, "median") => Method::Median,
        (Function::Regression, "sum") => Method::Sum,
        (Function::Regression, "weightedSum") => Method::WeightedSum,
        (Function::Classification, "majorityVote") => Method::MajorityVote,
        (Function::Classification, "weightedMajorityVote") => Method::WeightedMajorityVote,
        (_, other) => {
            return Err(unsupported(
                seg,
                format!("multipleModelMethod=\"{other}\" is not supported for this functionName"),
            ))
        }
    };
    let missing = match seg.enum_attr(
        "missingPredictionTreatment",
        "continue",
        &["continue", "returnMissing", "skipSegment"],
    )? {
        "returnMissing" => MissingPrediction::ReturnMissing,
        "skipSegment" => MissingPrediction::SkipSegment,
        _ => MissingPrediction::Continue,
    };
    let missing_threshold = seg.f64_attr("missingThreshold")?.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&missing_threshold) {
        return Err(invalid(seg, "missingThreshold is outside [0, 1]"));
    }
    let mut segments = Vec::new();
    for s in seg.kids() {
        if s.name != "Segment" {
            return Err(unexpected_child(s, seg));
        }
        s.check_attrs(&["id", "weight"])?;
        let weight = s.f64_attr("weight")?.unwrap_or(1.0);
        if weight < 0.0 {
            return Err(invalid(s, "negative segment weight"));
        }
        let mut predicate = None;
        let mut model = None;
        for c in s.kids() {
            if PREDICATES.contains(&c.name.as_str()) && predicate.is_none() && model.is_none() {
                predicate = Some(parse_predicate(c, scope)?);
            } else if MODEL_ELEMENTS.contains(&c.name.as_str()) && model.is_none() {
                model = Some(parse_model(c, b, Some(scope))?);
            } else {
                return Err(unexpected_child(c, s));
            }
        }
        segments.push(Segment {
            predicate: predicate.ok_or_else(|| invalid(s, "the Segment has no predicate"))?,
            weight,
            model: model.ok_or_else(|| invalid(s, "the Segment has no model"))?,
        });
    }
    Ok(MiningBody {
        method,
        missing,
        missing_threshold,
        segments,
    })
}

impl MiningBody {
    fn eval(
        &self,
        function: Function,
        values: &[Option<f64>],
    ) -> Result<Outcome<'_>, NumericFailure> {
        // Results of the segments whose predicate is true, in order.
        let mut results: Vec<(f64, Outcome)> = Vec::new();
        let mut missing_field = None;
        for s in &self.segments {
            if s.predicate.eval(values, &mut missing_field) != Some(true) {
                continue;
            }
            let outcome = s.model.eval(values)?;
            if let Outcome::Missing(field) = outcome {
                if missing_field.is_none() {
                    missing_field = field;
                }
                match self.missing {
                    MissingPrediction::ReturnMissing => return Ok(Outcome::Missing(missing_field)),
                    MissingPrediction::SkipSegment if self.method == Method::SelectFirst => {
                        continue
                    }
                    _ => {}
                }
            }
            if self.method == Method::SelectFirst {
                return Ok(outcome);
            }
            results.push((s.weight, outcome));
        }
        if results.is_empty() {
            return Ok(Outcome::Missing(missing_field));
        }
        let total_weight: f64 = results.iter().map(|r| r.0).sum();
        let mut missing_weight = 0.0;
        // JPMML's missing-fraction rule: give up once too much weight is missing.
        let mut too_much_missing = |w: f64| {
            missing_weight += w;
            missing_weight / total_weight > self.missing_threshold
        };
        match self.method {
            Method::MajorityVote | Method::WeightedMajorityVote => {
                let weighted = self.method == Method::WeightedMajorityVote;
                let mut votes = Tally::default();
                let mut missing_votes = 0.0;
                for (weight, outcome) in &results {
                    let w = if weighted { *weight } else { 1.0 };
                    match outcome {
                        Outcome::Classes { winner, .. } => votes.add(*winner, w),
                        Outcome::Missing(_) => {
                            if too_much_missing(*weight) {
                                return Ok(Outcome::Missing(missing_field));
                            }
                            if self.missing == MissingPrediction::Continue {
                                missing_votes += w;
                            }
                        }
                        Outcome::Value(_) => {
                            return Err(NumericFailure("a segment voted with a number"))
                        }
                    }
                }
                let mut probs = votes.into_pairs(1.0);
                let max_votes = probs.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
                if probs.is_empty() || missing_votes > max_votes {
                    return Ok(Outcome::Missing(missing_field));
                }
                let sum: f64 = probs.iter().map(|p| p.1).sum();
                if sum == 0.0 {
                    return Err(NumericFailure("the segment weights sum to zero"));
                }
                if sum != 1.0 {
                    for p in &mut probs {
                        p.1 /= sum;
                    }
                }
                let winner = first_max(&probs).ok_or(NumericFailure("no votes"))?;
                Ok(Outcome::Classes {
                    winner,
                    probs: Cow::Owned(probs),
                })
            }
            _ if function == Function::Classification => {
                let weighted = self.method == Method::WeightedAverage;
                let mut sums = Tally::default();
                let mut count = 0.0;
                for (weight, outcome) in &results {
                    match outcome {
                        Outcome::Classes { probs, .. } => {
                            for &(c, p) in probs.iter() {
                                sums.add(c, if weighted { weight * p } else { p });
                            }
                            count += if weighted { *weight } else { 1.0 };
                        }
                        Outcome::Missing(_) => {
                            if self.missing != MissingPrediction::SkipSegment
                                || too_much_missing(*weight)
                            {
                                return Ok(Outcome::Missing(missing_field));
                            }
                        }
                        Outcome::Value(_) => {
                            return Err(NumericFailure(
                                "a classification segment returned a number",
                            ))
                        }
                    }
                }
                if count == 0.0 {
                    if sums.is_empty() {
                        return Ok(Outcome::Missing(missing_field));
                    }
                    return Err(NumericFailure("the segment weights sum to zero"));
                }
                let probs = sums.into_pairs(count);
                match first_max(&probs) {
                    Some(winner) => Ok(Outcome::Classes {
                        winner,
                        probs: Cow::Owned(probs),
                    }),
                    None => Ok(Outcome::Missing(missing_field)),
                }
            }
            _ => {
                let mut items: Vec<(f64, f64)> = Vec::new();
                for (weight, outcome) in &results {
                    match outcome {
                        Outcome::Value(v) => items.push((*weight, *v)),
                        Outcome::Missing(_) => {
                            if self.missing != MissingPrediction::SkipSegment
                                || too_much_missing(*weight)
                            {
                                return Ok(Outcome::Missing(missing_field));
                            }
                        }
                        Outcome::Classes { .. } => {
                            return Err(NumericFailure("a regression segment returned a class"))
                        }
                    }
                }
                if items.is_empty() {
                    return Ok(Outcome::Missing(missing_field));
                }
                let sum: f64 = items.iter().map(|i| i.1).sum();
                let weighted_sum: f64 = items.iter().map(|i| i.0 * i.1).sum();
                let weights: f64 = items.iter().map(|i| i.0).sum();
                let value = match self.method {
                    Method::Average => sum / items.len() as f64,
                    Method::Sum => sum,
                    Method::WeightedSum => weighted_sum,
                    Method::WeightedAverage => {
                        if weights == 0.0 {
                            return Err(NumericFailure("the segment weights sum to zero"));
                        }
                        weighted_sum / weights
                    }
                    _ => {
                        let mut sorted: Vec<f64> = items.iter().map(|i| i.1).collect();
                        sorted.sort_by(f64::total_cmp);
                        let mid = sorted.len() / 2;
                        match (
                            sorted.get(mid),
                            mid.checked_sub(1).and_then(|i| sorted.get(i)),
                        ) {
                            (Some(hi), Some(lo)) if sorted.len() % 2 == 0 => (lo + hi) / 2.0,
                            (Some(m), _) => *m,
                            _ => return Ok(Outcome::Missing(missing_field)),
                        }
                    }
                };
                Ok(Outcome::Value(value))
            }
        }
    }
}

// ----- NeuralNetwork --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    Threshold(f64),
    Logistic,
    Tanh,
    Identity,
    Exponential,
    Reciprocal,
    Square,
    Gauss,
    Sine,
    Cosine,
    Elliott,
    Arctan,
    Rectifier(Option<f64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayerNorm {
    None,
    SimpleMax,
    SoftMax,
}

/// Piecewise-linear normalisation (`NormContinuous`).
#[derive(Debug, Clone)]
struct NormContinuous {
    /// (orig, norm) points, orig strictly increasing; at least two.
    points: Vec<(f64, f64)>,
    outliers: NormOutliers,
    map_missing_to: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NormOutliers {
    Keep,
    ToMissing,
    Clamp,
}

#[derive(Debug, Clone)]
enum NeuralInput {
    Field {
        field: usize,
        map_missing_to: Option<f64>,
    },
    Norm {
        field: usize,
        norm: NormContinuous,
    },
}

#[derive(Debug, Clone)]
struct Neuron {
    bias: f64,
    /// (entity index, weight); entities are the inputs then the neurons, in document order.
    connections: Vec<(usize, f64)>,
}

#[derive(Debug, Clone)]
struct Layer {
    activation: Activation,
    norm: LayerNorm,
    neurons: Vec<Neuron>,
}

#[derive(Debug, Clone)]
enum NeuralOutput {
    /// Classification: (class, entity) in NeuralOutputs order.
    Classes(Vec<(usize, usize)>),
    /// Regression: the entity, and the NormContinuous to invert (if any).
    Value(usize, Option<NormContinuous>),
}

#[derive(Debug, Clone)]
struct NeuralBody {
    inputs: Vec<NeuralInput>,
    layers: Vec<Layer>,
    output: NeuralOutput,
}

fn parse_activation(
    el: &El,
    name: &str,
    threshold: f64,
    leakage: Option<f64>,
) -> Result<Activation, PmmlError> {
    Ok(match name {
        "threshold" => Activation::Threshold(threshold),
        "logistic" => Activation::Logistic,
        "tanh" => Activation::Tanh,
        "identity" => Activation::Identity,
        "exponential" => Activation::Exponential,
        "reciprocal" => Activation::Reciprocal,
        "square" => Activation::Square,
        "Gauss" => Activation::Gauss,
        "sine" => Activation::Sine,
        "cosine" => Activation::Cosine,
        "Elliott" => Activation::Elliott,
        "arctan" => Activation::Arctan,
        "rectifier" => Activation::Rectifier(leakage),
        other => {
            return Err(unsupported(
                el,
                format!("activationFunction=\"{other}\" is not supported"),
            ))
        }
    })
}

fn parse_layer_norm(el: &El, default: LayerNorm) -> Result<LayerNorm, PmmlError> {
    match el.attr("normalizationMethod") {
        None => Ok(default),
        Some("none") => Ok(LayerNorm::None),
        Some("simplemax") => Ok(LayerNorm::SimpleMax),
        Some("softmax") => Ok(LayerNorm::SoftMax),
        Some(other) => Err(unsupported(
            el,
            format!("normalizationMethod=\"{other}\" is not supported"),
        )),
    }
}

fn parse_norm_continuous(el: &El) -> Result<NormContinuous, PmmlError> {
    el.check_attrs(&["field", "mapMissingTo", "outliers"])?;
    let outliers = match el.enum_attr(
        "outliers",
        "asIs",
        &["asIs", "asMissingValues", "asExtremeValues"],
    )? {
        "asMissingValues" => NormOutliers::ToMissing,
        "asExtremeValues" => NormOutliers::Clamp,
        _ => NormOutliers::Keep,
    };
    let mut points: Vec<(f64, f64)> = Vec::new();
    for c in el.kids() {
        if c.name != "LinearNorm" {
            return Err(unexpected_child(c, el));
        }
        c.check_attrs(&["orig", "norm"])?;
        c.check_no_children()?;
        let point = (c.req_f64("orig")?, c.req_f64("norm")?);
        if points.last().is_some_and(|last| last.0 >= point.0) {
            return Err(invalid(c, "LinearNorm orig values must increase strictly"));
        }
        points.push(point);
    }
    if points.len() < 2 {
        return Err(invalid(
            el,
            "NormContinuous needs at least two LinearNorm elements",
        ));
    }
    Ok(NormContinuous {
        points,
        outliers,
        map_missing_to: el.f64_attr("mapMissingTo")?,
    })
}

/// The single expression inside a NeuralInput/NeuralOutput `DerivedField`.
fn derived_expression(el: &El) -> Result<&El, PmmlError> {
    let mut fields = el.kids();
    let derived = match (fields.next(), fields.next()) {
        (Some(d), None) if d.name == "DerivedField" => d,
        (Some(d), _) if d.name != "DerivedField" => return Err(unexpected_child(d, el)),
        _ => return Err(invalid(el, "exactly one DerivedField expected")),
    };
    derived.check_attrs(&["name", "displayName", "optype", "dataType"])?;
    let mut exprs = derived.kids();
    match (exprs.next(), exprs.next()) {
        (Some(e), None) => Ok(e),
        (Some(_), Some(e)) => Err(unexpected_child(e, derived)),
        _ => Err(invalid(derived, "the DerivedField has no expression")),
    }
}

fn parse_neural(el: &El, b: &mut Build<'_>, scope: &Scope) -> Result<NeuralBody, PmmlError> {
    let mut allowed = MODEL_ATTRS.to_vec();
    allowed.extend([
        "activationFunction",
        "normalizationMethod",
        "threshold",
        "leakage",
        "numberOfLayers",
    ]);
    el.check_attrs(&allowed)?;
    let default_activation = el.req_attr("activationFunction")?;
    let default_threshold = el.f64_attr("threshold")?.unwrap_or(0.0);
    let default_leakage = el.f64_attr("leakage")?;
    let default_norm = parse_layer_norm(el, LayerNorm::None)?;

    let mut ids: HashMap<String, usize> = HashMap::new();
    fn register(ids: &mut HashMap<String, usize>, c: &El, id: &str) -> Result<(), PmmlError> {
        let next = ids.len();
        if ids.insert(id.to_owned(), next).is_some() {
            return Err(invalid(
                c,
                format!("neural entity id \"{id}\" is used twice"),
            ));
        }
        Ok(())
    }
    let mut inputs = Vec::new();
    let mut layers = Vec::new();
    let mut outputs_el = None;
    let mut seen_inputs = false;
    for c in el.kids() {
        match c.name.as_str() {
            "MiningSchema" | "Output" => {}
            "NeuralInputs" => {
                if seen_inputs {
                    return Err(invalid(c, "more than one NeuralInputs"));
                }
                seen_inputs = true;
                c.check_attrs(&["numberOfInputs"])?;
                for i in c.kids() {
                    if i.name != "NeuralInput" {
                        return Err(unexpected_child(i, c));
                    }
                    i.check_attrs(&["id"])?;
                    let expr = derived_expression(i)?;
                    let input = match expr.name.as_str() {
                        "FieldRef" => {
                            expr.check_attrs(&["field", "mapMissingTo"])?;
                            expr.check_no_children()?;
                            NeuralInput::Field {
                                field: resolve(scope, expr, "field")?,
                                map_missing_to: expr.f64_attr("mapMissingTo")?,
                            }
                        }
                        "NormContinuous" => NeuralInput::Norm {
                            field: resolve(scope, expr, "field")?,
                            norm: parse_norm_continuous(expr)?,
                        },
                        _ => {
                            return Err(unsupported(
                                expr,
                                format!("<{}> is not supported as a neural input", expr.name),
                            ))
                        }
                    };
                    register(&mut ids, i, i.req_attr("id")?)?;
                    inputs.push(input);
                }
            }
            "NeuralLayer" => {
                if !seen_inputs {
                    return Err(invalid(c, "NeuralLayer before NeuralInputs"));
                }
                c.check_attrs(&[
                    "numberOfNeurons",
                    "activationFunction",
                    "threshold",
                    "leakage",
                    "normalizationMethod",
                ])?;
                let threshold = c.f64_attr("threshold")?.unwrap_or(default_threshold);
                let leakage = c.f64_attr("leakage")?.or(default_leakage);
                let activation = parse_activation(
                    c,
                    c.attr("activationFunction").unwrap_or(default_activation),
                    threshold,
                    leakage,
                )?;
                let norm = parse_layer_norm(c, default_norm)?;
                let mut neurons = Vec::new();
                for n in c.kids() {
                    if n.name != "Neuron" {
                        return Err(unexpected_child(n, c));
                    }
                    n.check_attrs(&["id", "bias"])?;
                    let mut connections = Vec::new();
                    for con in n.kids() {
                        if con.name != "Con" {
                            return Err(unexpected_child(con, n));
                        }
                        con.check_attrs(&["from", "weight"])?;
                        con.check_no_children()?;
                        let from = con.req_attr("from")?;
                        // Only entities defined earlier can feed a neuron: no cycles.
                        let source = *ids.get(from).ok_or_else(|| {
                            invalid(
                                con,
                                format!("connection from unknown or later entity \"{from}\""),
                            )
                        })?;
                        connections.push((source, con.req_f64("weight")?));
                    }
                    let bias = n.f64_attr("bias")?.unwrap_or(0.0);
                    register(&mut ids, n, n.req_attr("id")?)?;
                    neurons.push(Neuron { bias, connections });
                }
                layers.push(Layer {
                    activation,
                    norm,
                    neurons,
                });
            }
            "NeuralOutputs" => {
                if outputs_el.is_some() {
                    return Err(invalid(c, "more than one NeuralOutputs"));
                }
                outputs_el = Some(c);
            }
            _ => {
                if !common_model_child(c)? {
                    return Err(unexpected_child(c, el));
                }
            }
        }
    }
    if layers.is_empty() {
        return Err(invalid(el, "no NeuralLayer"));
    }
    let outputs_el = outputs_el.ok_or_else(|| invalid(el, "NeuralOutputs is missing"))?;
    outputs_el.check_attrs(&["numberOfOutputs"])?;
    let mut classes = Vec::new();
    let mut value_output = None;
    for o in outputs_el.kids() {
        if o.name != "NeuralOutput" {
            return Err(unexpected_child(o, outputs_el));
        }
        o.check_attrs(&["outputNeuron"])?;
        let neuron = o.req_attr("outputNeuron")?;
        let entity = *ids
            .get(neuron)
            .ok_or_else(|| invalid(o, format!("outputNeuron \"{neuron}\" does not exist")))?;
        let expr = derived_expression(o)?;
        let field = expr.req_attr("field")?;
        if field != b.target {
            return Err(unsupported(
                expr,
                format!("neural output for field \"{field}\", which is not the target"),
            ));
        }
        match (b.function, expr.name.as_str()) {
            (Function::Classification, "NormDiscrete") => {
                expr.check_attrs(&["field", "value", "method", "mapMissingTo"])?;
                expr.check_no_children()?;
                expr.enum_attr("method", "indicator", &["indicator"])?;
                let class = b.class_index(expr, expr.req_attr("value")?)?;
                if classes.iter().any(|&(c, _)| c == class) {
                    return Err(invalid(expr, "class has more than one output neuron"));
                }
                classes.push((class, entity));
            }
            (Function::Regression, "FieldRef" | "NormContinuous") => {
                if value_output.is_some() {
                    return Err(invalid(o, "more than one output for the regression target"));
                }
                let norm = if expr.name == "NormContinuous" {
                    let norm = parse_norm_continuous(expr)?;
                    if norm
                        .points
                        .windows(2)
                        .any(|w| matches!(w, [a, b] if a.1 >= b.1))
                    {
                        return Err(unsupported(
                            expr,
                            "an output NormContinuous whose norm values do not increase",
                        ));
                    }
                    Some(norm)
                } else {
                    expr.check_attrs(&["field"])?;
                    expr.check_no_children()?;
                    None
                };
                value_output = Some(NeuralOutput::Value(entity, norm));
            }
            _ => {
                return Err(unsupported(
                    expr,
                    format!(
                        "<{}> is not supported as an output of this model",
                        expr.name
                    ),
                ))
            }
        }
    }
    let output = match b.function {
        Function::Classification if !classes.is_empty() => NeuralOutput::Classes(classes),
        Function::Regression => {
            value_output.ok_or_else(|| invalid(outputs_el, "no output for the target"))?
        }
        Function::Classification => return Err(invalid(outputs_el, "no output for the target")),
    };
    Ok(NeuralBody {
        inputs,
        layers,
        output,
    })
}

impl NormContinuous {
    fn normalize(&self, x: Option<f64>) -> Option<f64> {
        let Some(x) = x else {
            return self.map_missing_to;
        };
        let (first, last) = (self.points.first()?, self.points.last()?);
        if x < first.0 || x > last.0 {
            match self.outliers {
                NormOutliers::ToMissing => return None,
                NormOutliers::Clamp => return Some(if x < first.0 { first.1 } else { last.1 }),
                NormOutliers::Keep => {}
            }
        }
        let segment = self
            .points
            .windows(2)
            .find(|w| matches!(w, [_, b] if x <= b.0))
            .or_else(|| self.points.windows(2).last())?;
        let [(o1, n1), (o2, n2)] = segment else {
            return None;
        };
        Some(n1 + (x - o1) / (o2 - o1) * (n2 - n1))
    }

    /// Inverse of `normalize` inside the norm range; like JPMML, no extrapolation: `None`
    /// outside it.
    fn denormalize(&self, y: f64) -> Option<f64> {
        let segment = self
            .points
            .windows(2)
            .find(|w| matches!(w, [a, b] if a.1 <= y && y <= b.1))?;
        let [(o1, n1), (o2, n2)] = segment else {
            return None;
        };
        Some((y - n1) / (n2 - n1) * (o2 - o1) + o1)
    }
}

impl Activation {
    fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Threshold(t) => {
                if z > t {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Logistic => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::Identity => z,
            Activation::Exponential => z.exp(),
            Activation::Reciprocal => 1.0 / z,
            Activation::Square => z * z,
            Activation::Gauss => (-(z * z)).exp(),
            Activation::Sine => z.sin(),
            Activation::Cosine => z.cos(),
            Activation::Elliott => z / (1.0 + z.abs()),
            Activation::Arctan => z.atan(),
            Activation::Rectifier(None) => z.max(0.0),
            Activation::Rectifier(Some(leak)) => {
                if z > 0.0 {
                    z
                } else {
                    z * leak
                }
            }
        }
    }
}

impl NeuralBody {
    fn eval(
        &self,
        function: Function,
        values: &[Option<f64>],
    ) -> Result<Outcome<'_>, NumericFailure> {
        let mut entities: Vec<f64> = Vec::with_capacity(
            self.inputs.len() + self.layers.iter().map(|l| l.neurons.len()).sum::<usize>(),
        );
        for input in &self.inputs {
            let (field, value) = match input {
                NeuralInput::Field {
                    field,
                    map_missing_to,
                } => (*field, value_of(values, *field).or(*map_missing_to)),
                NeuralInput::Norm { field, norm } => {
                    (*field, norm.normalize(value_of(values, *field)))
                }
            };
            match value {
                Some(v) => entities.push(v),
                None => return Ok(Outcome::Missing(Some(field))),
            }
        }
        for layer in &self.layers {
            let start = entities.len();
            for neuron in &layer.neurons {
                let mut z = 0.0;
                for &(source, weight) in &neuron.connections {
                    let x = entities
                        .get(source)
                        .ok_or(NumericFailure("a connection refers to an unknown neuron"))?;
                    z += weight * x;
                }
                z += neuron.bias;
                entities.push(layer.activation.apply(z));
            }
            let outputs = entities.get_mut(start..).unwrap_or_default();
            match layer.norm {
                LayerNorm::None => {}
                LayerNorm::SimpleMax => {
                    let sum: f64 = outputs.iter().sum();
                    if sum == 0.0 {
                        return Err(NumericFailure(
                            "simplemax normalisation of all-zero outputs",
                        ));
                    }
                    if sum != 1.0 {
                        outputs.iter_mut().for_each(|v| *v /= sum);
                    }
                }
                LayerNorm::SoftMax => {
                    let max = outputs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    outputs.iter_mut().for_each(|v| *v = (*v - max).exp());
                    let sum: f64 = outputs.iter().sum();
                    if sum != 1.0 {
                        outputs.iter_mut().for_each(|v| *v /= sum);
                    }
                }
            }
        }
        let entity = |i: usize| {
            entities
                .get(i)
                .copied()
                .ok_or(NumericFailure("an output refers to an unknown neuron"))
        };
        match (&self.output, function) {
            (NeuralOutput::Classes(classes), Function::Classification) => {
                let probs = classes
                    .iter()
                    .map(|&(c, e)| Ok((c, entity(e)?)))
                    .collect::<Result<Vec<_>, NumericFailure>>()?;
                if probs.iter().any(|p| p.1.is_nan()) {
                    return Err(NumericFailure("a class probability is NaN"));
                }
                let winner = first_max(&probs).ok_or(NumericFailure("no output neuron"))?;
                Ok(Outcome::Classes {
                    winner,
                    probs: Cow::Owned(probs),
                })
            }
            (NeuralOutput::Value(e, norm), Function::Regression) => {
                let y = entity(*e)?;
                Ok(Outcome::Value(match norm {
                    None => y,
                    Some(norm) => norm.denormalize(y).ok_or(NumericFailure(
                        "the network output is outside the range of the target's NormContinuous",
                    ))?,
                }))
            }
            _ => Err(NumericFailure(
                "the network's outputs do not match its function",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LINEAR: &[u8] = include_bytes!("data/winequalityLinearRegression.pmml");
    const GLM_GAUSSIAN: &[u8] =
        include_bytes!("data/winequalityGeneralizedLinearRegressionGaussian.pmml");
    const GLM_GAMMA: &[u8] =
        include_bytes!("data/winequalityGeneralizedLinearRegressionGamma.pmml");
    const TREE_REGRESSION: &[u8] = include_bytes!("data/winequalityDesisionTreeRegression.pmml");
    const TREE_CLASSIFICATION: &[u8] =
        include_bytes!("data/winequalityDecisionTreeClassification.pmml");
    const FOREST: &[u8] = include_bytes!("data/winequalityRandonForrestClassification.pmml");
    const PERCEPTRON: &[u8] = include_bytes!("data/winequalityMultilayerPerceptron.pmml");
    const WINES: &str = include_str!("data/winequality_red.csv");
    const EXPECTED: &str = include_str!("data/expected_scores.csv");

    const MODELS: &[(&str, &[u8])] = &[
        ("winequalityLinearRegression", LINEAR),
        (
            "winequalityGeneralizedLinearRegressionGaussian",
            GLM_GAUSSIAN,
        ),
        ("winequalityGeneralizedLinearRegressionGamma", GLM_GAMMA),
        ("winequalityDesisionTreeRegression", TREE_REGRESSION),
        ("winequalityDecisionTreeClassification", TREE_CLASSIFICATION),
        ("winequalityRandonForrestClassification", FOREST),
        ("winequalityMultilayerPerceptron", PERCEPTRON),
    ];

    /// The CSV's columns, named as the models' fields.
    const COLUMNS: [&str; 11] = crate::messages::FEATURES;

    fn wine(row: usize) -> Vec<f64> {
        let line = WINES.lines().nth(row).expect("row exists");
        line.split(';')
            .map(|v| v.trim().parse::<f64>().expect("number"))
            .collect()
    }

    fn score(
        model: &PmmlModel,
        row: &[f64],
        missing: Option<&str>,
    ) -> Result<Prediction, EvalError> {
        model.evaluate(&|name: &str| {
            if Some(name) == missing {
                return None;
            }
            COLUMNS
                .iter()
                .position(|c| *c == name)
                .and_then(|i| row.get(i).copied())
        })
    }

    /// One line of expected_scores.csv.
    struct Expected<'a> {
        row: usize,
        missing: Option<&'a str>,
        prediction: &'a str,
        probabilities: Vec<(&'a str, f64)>,
    }

    fn expected(model: &str) -> Vec<Expected<'_>> {
        EXPECTED
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("model,"))
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[0] == model)
            .map(|f| {
                assert_eq!(f.len(), 5, "malformed fixture line {f:?}");
                Expected {
                    row: f[1].parse().expect("row"),
                    missing: Some(f[2]).filter(|m| !m.is_empty()),
                    prediction: f[3],
                    probabilities: f[4]
                        .split('|')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (label, value) = p.split_once('=').expect("label=value");
                            (label, value.parse().expect("probability"))
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn check_against_jpmml(name: &str, xml: &[u8]) {
        let model = PmmlModel::parse(xml).expect("parses");
        let cases = expected(name);
        assert!(
            cases.len() >= 25,
            "{name}: only {} expected scores",
            cases.len()
        );
        for case in cases {
            let what = format!("{name} row {} missing {:?}", case.row, case.missing);
            let got = score(&model, &wine(case.row), case.missing);
            if case.prediction.is_empty() {
                let err = got.expect_err(&what);
                assert_eq!(err.kind(), EvalErrorKind::MissingValue, "{what}: {err}");
                assert_eq!(err.field(), case.missing, "{what}");
                continue;
            }
            match got.unwrap_or_else(|e| panic!("{what}: {e}")) {
                Prediction::Regression(v) => {
                    let want: f64 = case.prediction.parse().expect("number");
                    assert!(
                        (v - want).abs() <= 1e-9 * want.abs(),
                        "{what}: got {v}, JPMML {want}"
                    );
                    assert!(case.probabilities.is_empty(), "{what}");
                }
                Prediction::Classification {
                    class,
                    probabilities,
                } => {
                    assert_eq!(class, case.prediction, "{what}");
                    assert_eq!(probabilities.len(), case.probabilities.len(), "{what}");
                    for (label, want) in &case.probabilities {
                        let got = probabilities
                            .iter()
                            .find(|(l, _)| l == label)
                            .map(|p| p.1)
                            .unwrap_or_else(|| panic!("{what}: no class {label}"));
                        assert!(
                            (got - want).abs() <= 1e-9,
                            "{what}: P({label}) = {got}, JPMML {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn linear_regression_matches_jpmml() {
        check_against_jpmml(MODELS[0].0, MODELS[0].1);
    }

    #[test]
    fn glm_gaussian_matches_jpmml() {
        check_against_jpmml(MODELS[1].0, MODELS[1].1);
    }

    #[test]
    fn glm_gamma_matches_jpmml() {
        check_against_jpmml(MODELS[2].0, MODELS[2].1);
    }

    #[test]
    fn regression_tree_matches_jpmml() {
        check_against_jpmml(MODELS[3].0, MODELS[3].1);
    }

    #[test]
    fn classification_tree_matches_jpmml() {
        check_against_jpmml(MODELS[4].0, MODELS[4].1);
    }

    #[test]
    fn random_forest_matches_jpmml() {
        check_against_jpmml(MODELS[5].0, MODELS[5].1);
    }

    #[test]
    fn perceptron_matches_jpmml() {
        check_against_jpmml(MODELS[6].0, MODELS[6].1);
    }

    #[test]
    fn parses_every_model() {
        let kinds = [
            "RegressionModel",
            "GeneralRegressionModel",
            "GeneralRegressionModel",
            "TreeModel",
            "TreeModel",
            "MiningModel",
            "NeuralNetwork",
        ];
        for ((name, xml), kind) in MODELS.iter().zip(kinds) {
            let model = PmmlModel::parse(xml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(model.kind(), kind, "{name}");
            assert_eq!(model.target(), "quality", "{name}");
            assert!(!model.active_fields().is_empty(), "{name}");
            assert!(model
                .active_fields()
                .iter()
                .all(|f| COLUMNS.contains(&f.as_str())));
        }
        let linear = PmmlModel::parse(LINEAR).expect("parses");
        assert_eq!(linear.active_fields().len(), 6);
        assert!(linear.classes().is_empty());
        let forest = PmmlModel::parse(FOREST).expect("parses");
        assert_eq!(forest.active_fields().len(), 11);
        assert_eq!(forest.classes(), ["5", "6", "7", "4", "8", "3"]);
    }

    #[test]
    fn model_is_clone_send_sync_debug() {
        fn check<T: Clone + Send + Sync + fmt::Debug + 'static>() {}
        check::<PmmlModel>();
        check::<PmmlError>();
        check::<EvalError>();
        check::<Prediction>();
    }

    #[test]
    fn output_fields() {
        let model = PmmlModel::parse(TREE_CLASSIFICATION).expect("parses");
        let p = score(&model, &wine(0), None).expect("scores");
        let outputs = model.outputs(&p);
        assert_eq!(outputs.len(), 6);
        assert_eq!(outputs[0].0, "probability(5)");
        assert_eq!(
            outputs[0].1,
            OutputValue::Number(p.probability("5").expect("p"))
        );
        assert_eq!(p.class(), Some("5"));
        let linear = PmmlModel::parse(LINEAR).expect("parses");
        let p = score(&linear, &wine(0), None).expect("scores");
        assert!(linear.outputs(&p).is_empty());
        assert!(p.value().is_some());
    }

    #[test]
    fn missing_input_names_the_field() {
        let model = PmmlModel::parse(LINEAR).expect("parses");
        let err = score(&model, &wine(0), Some("alcohol")).expect_err("missing");
        assert_eq!(err.kind(), EvalErrorKind::MissingValue);
        assert_eq!(err.field(), Some("alcohol"));
        assert!(err.to_string().contains("alcohol"), "{err}");
        // A field the model does not use may be missing.
        assert!(score(&model, &wine(0), Some("citric acid")).is_ok());
    }

    #[test]
    fn missing_value_replacement_is_used() {
        let xml = String::from_utf8(LINEAR.to_vec()).expect("utf8").replace(
            r#"<MiningField name="alcohol"/>"#,
            r#"<MiningField name="alcohol" missingValueReplacement="10.5"/>"#,
        );
        let model = PmmlModel::parse(xml.as_bytes()).expect("parses");
        let mut row = wine(0);
        let replaced = score(&model, &row, Some("alcohol")).expect("replaced");
        row[10] = 10.5;
        assert_eq!(replaced, score(&model, &row, None).expect("scores"));
    }

    #[test]
    fn non_finite_input_is_an_error() {
        for (name, xml) in MODELS {
            let model = PmmlModel::parse(xml).expect("parses");
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut row = wine(0);
                row[10] = bad;
                let err = score(&model, &row, None).expect_err(name);
                assert_eq!(err.kind(), EvalErrorKind::InvalidValue, "{name}");
                assert_eq!(err.field(), Some("alcohol"), "{name}");
            }
        }
    }

    fn parse_err(xml: &[u8]) -> PmmlError {
        PmmlModel::parse(xml).expect_err("must not parse")
    }

    #[test]
    fn truncated_xml_is_rejected() {
        for (name, xml) in MODELS {
            for cut in [0, 1, xml.len() / 3, xml.len() / 2, xml.len() - 10] {
                let err = parse_err(&xml[..cut]);
                assert_eq!(err.kind(), PmmlErrorKind::Xml, "{name} cut at {cut}: {err}");
            }
        }
    }

    #[test]
    fn garbage_is_rejected() {
        for bytes in [
            &b""[..],
            b"\x00\xff\xfe garbage",
            b"not xml at all",
            b"<<<>>>",
            b"<PMML version=\"4.3\"><DataDictionary></PMML>",
            b"<PMML version=\"4.3\" version=\"4.3\"/>",
            b"<PMML version=\"4.3\"/><PMML version=\"4.3\"/>",
        ] {
            let err = parse_err(bytes);
            assert!(
                matches!(err.kind(), PmmlErrorKind::Xml | PmmlErrorKind::Invalid),
                "{bytes:?}: {err}"
            );
        }
    }

    #[test]
    fn non_pmml_xml_is_rejected() {
        let err = parse_err(b"<?xml version=\"1.0\"?><html><body>hi</body></html>");
        assert_eq!(err.kind(), PmmlErrorKind::NotPmml);
        assert!(err.to_string().contains("html"), "{err}");
        let err = parse_err(b"<PMML xmlns=\"http://example.com/other\" version=\"4.3\"/>");
        assert_eq!(err.kind(), PmmlErrorKind::NotPmml, "{err}");
    }

    fn edit(xml: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(xml.to_vec()).expect("utf8");
        assert!(text.contains(from), "{from} not found");
        text.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn unknown_model_element_is_rejected() {
        let err = parse_err(&edit(
            &edit(LINEAR, "<RegressionModel ", "<FancyModel "),
            "</RegressionModel>",
            "</FancyModel>",
        ));
        assert_eq!(err.kind(), PmmlErrorKind::Unsupported, "{err}");
        assert_eq!(err.element(), "FancyModel");
        let err = parse_err(&edit(
            &edit(LINEAR, "<RegressionModel ", "<SupportVectorMachineModel "),
            "</RegressionModel>",
            "</SupportVectorMachineModel>",
        ));
        assert_eq!(err.kind(), PmmlErrorKind::Unsupported, "{err}");
    }

    #[test]
    fn unsupported_features_are_rejected() {
        let cases: &[(&[u8], &str, &str)] = &[
            (
                TREE_REGRESSION,
                "<TreeModel ",
                "<TreeModel missingValueStrategy=\"aggregateNodes\" ",
            ),
            (
                TREE_REGRESSION,
                "<TreeModel ",
                "<TreeModel frobnicate=\"yes\" ",
            ),
            (
                TREE_REGRESSION,
                "<True/>",
                "<SimpleSetPredicate field=\"pH\" booleanOperator=\"isIn\"/>",
            ),
            (
                TREE_REGRESSION,
                "operator=\"lessOrEqual\"",
                "operator=\"approximately\"",
            ),
            (
                PERCEPTRON,
                "activationFunction=\"logistic\"",
                "activationFunction=\"radialBasis\"",
            ),
            (
                PERCEPTRON,
                "normalizationMethod=\"softmax\"",
                "normalizationMethod=\"magic\"",
            ),
            (
                FOREST,
                "multipleModelMethod=\"average\"",
                "multipleModelMethod=\"modelChain\"",
            ),
            (
                GLM_GAMMA,
                "linkFunction=\"identity\"",
                "linkFunction=\"probit\"",
            ),
            (
                GLM_GAMMA,
                "modelType=\"generalizedLinear\"",
                "modelType=\"CoxRegression\"",
            ),
            (
                LINEAR,
                "<NumericPredictor ",
                "<CategoricalPredictor value=\"1\" ",
            ),
            (
                LINEAR,
                "<MiningSchema>",
                "<LocalTransformations><DerivedField/></LocalTransformations><MiningSchema>",
            ),
            (
                LINEAR,
                "dataType=\"double\"/>\n        <DataField name=\"fixed",
                "dataType=\"float\"/>\n        <DataField name=\"fixed",
            ),
            (
                LINEAR,
                "<MiningField name=\"alcohol\"/>",
                "<MiningField name=\"alcohol\" invalidValueTreatment=\"asValue\"/>",
            ),
            (
                TREE_CLASSIFICATION,
                "feature=\"probability\"",
                "feature=\"reasonCode\"",
            ),
        ];
        for (xml, from, to) in cases {
            let err = parse_err(&edit(xml, from, to));
            assert_eq!(err.kind(), PmmlErrorKind::Unsupported, "{to}: {err}");
            assert!(err.offset() > 0, "{err}");
        }
    }

    #[test]
    fn invalid_documents_are_rejected() {
        let cases: &[(&[u8], &str, &str)] = &[
            (
                LINEAR,
                "intercept=\"3.282519468977813\"",
                "intercept=\"three\"",
            ),
            (
                LINEAR,
                "coefficient=\"0.2492508640175212\"",
                "coefficient=\"NaN\"",
            ),
            (
                LINEAR,
                "<NumericPredictor name=\"alcohol\"",
                "<NumericPredictor name=\"colour\"",
            ),
            (
                TREE_CLASSIFICATION,
                "<ScoreDistribution value=\"5\"",
                "<ScoreDistribution value=\"11\"",
            ),
            (PERCEPTRON, "<Con from=\"0/1\"", "<Con from=\"9/9\""),
            (PERCEPTRON, "outputNeuron=\"3/1\"", "outputNeuron=\"1/77\""),
            (FOREST, "<MiningField name=\"density\"/>", ""),
            (
                GLM_GAMMA,
                "<PCell parameterName=\"p0\"",
                "<PCell parameterName=\"p99\"",
            ),
        ];
        for (xml, from, to) in cases {
            let err = parse_err(&edit(xml, from, to));
            assert_eq!(err.kind(), PmmlErrorKind::Invalid, "{to}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let mut xml = String::from("<PMML version=\"4.3\">");
        for _ in 0..100_000 {
            xml.push_str("<Node>");
        }
        let err = parse_err(xml.as_bytes());
        assert_eq!(err.kind(), PmmlErrorKind::Xml, "{err}");
        assert!(err.message().contains("nested"), "{err}");
    }

    /// A small tree for the missing-value strategies, whose left branch tests x.
    fn strategy_tree(attrs: &str) -> PmmlModel {
        let xml = format!(
            r#"<PMML xmlns="http://www.dmg.org/PMML-4_3" version="4.3">
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
    <DataField name="t" optype="continuous" dataType="double"/>
  </DataDictionary>
  <TreeModel functionName="regression" {attrs}>
    <MiningSchema>
      <MiningField name="t" usageType="target"/>
      <MiningField name="x"/>
      <MiningField name="y"/>
    </MiningSchema>
    <Node score="1" defaultChild="b">
      <True/>
      <Node id="a" score="2"><SimplePredicate field="x" operator="lessThan" value="0"/>
        <Node score="4"><SimplePredicate field="y" operator="lessThan" value="0"/></Node>
      </Node>
      <Node id="b" score="3"><CompoundPredicate booleanOperator="or">
        <SimplePredicate field="x" operator="greaterOrEqual" value="0"/>
        <SimplePredicate field="y" operator="isMissing"/>
      </CompoundPredicate></Node>
    </Node>
  </TreeModel>
</PMML>"#
        );
        PmmlModel::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{attrs}: {e}"))
    }

    fn tree_score(model: &PmmlModel, x: Option<f64>, y: Option<f64>) -> Result<f64, EvalErrorKind> {
        model
            .evaluate(&|name: &str| match name {
                "x" => x,
                "y" => y,
                _ => None,
            })
            .map(|p| p.value().expect("regression"))
            .map_err(|e| e.kind())
    }

    #[test]
    fn tree_missing_value_strategies() {
        let none = strategy_tree("");
        assert_eq!(tree_score(&none, Some(-1.0), Some(-1.0)), Ok(4.0));
        assert_eq!(tree_score(&none, Some(1.0), None), Ok(3.0));
        // x unknown: "a" is skipped, "b" is (unknown or false) = unknown: no true child.
        assert_eq!(
            tree_score(&none, None, Some(1.0)),
            Err(EvalErrorKind::MissingValue)
        );
        // x unknown, y missing: "b" is (unknown or true) = true.
        assert_eq!(tree_score(&none, None, None), Ok(3.0));
        // No child of "a" is true.
        assert_eq!(
            tree_score(&none, Some(-1.0), Some(1.0)),
            Err(EvalErrorKind::NoPrediction)
        );
        let last = strategy_tree(r#"noTrueChildStrategy="returnLastPrediction""#);
        assert_eq!(tree_score(&last, Some(-1.0), Some(1.0)), Ok(2.0));
        let null = strategy_tree(r#"missingValueStrategy="nullPrediction""#);
        assert_eq!(
            tree_score(&null, None, None),
            Err(EvalErrorKind::MissingValue)
        );
        let last = strategy_tree(r#"missingValueStrategy="lastPrediction""#);
        assert_eq!(tree_score(&last, None, Some(1.0)), Ok(1.0));
        assert_eq!(tree_score(&last, Some(-1.0), None), Ok(2.0));
        let err = default_child_needed();
        assert_eq!(err.kind(), PmmlErrorKind::Invalid, "{err}");
    }

    /// defaultChild strategy with a non-leaf Node that has no defaultChild.
    fn default_child_needed() -> PmmlError {
        let xml = r#"<PMML version="4.3"><DataDictionary>
            <DataField name="x" optype="continuous" dataType="double"/>
            <DataField name="t" optype="continuous" dataType="double"/></DataDictionary>
          <TreeModel functionName="regression" missingValueStrategy="defaultChild">
            <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
            <Node score="1"><True/><Node score="2"><True/></Node></Node>
          </TreeModel></PMML>"#;
        parse_err(xml.as_bytes())
    }

    #[test]
    fn tree_default_child() {
        let xml = r#"<PMML version="4.3"><DataDictionary>
            <DataField name="x" optype="continuous" dataType="double"/>
            <DataField name="t" optype="continuous" dataType="double"/></DataDictionary>
          <TreeModel functionName="regression" missingValueStrategy="defaultChild">
            <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
            <Node score="1" defaultChild="r"><True/>
              <Node id="l" score="2"><SimplePredicate field="x" operator="lessThan" value="0"/></Node>
              <Node id="r" score="3"><SimplePredicate field="x" operator="greaterOrEqual" value="0"/></Node>
            </Node>
          </TreeModel></PMML>"#;
        let model = PmmlModel::parse(xml.as_bytes()).expect("parses");
        assert_eq!(tree_score(&model, None, None), Ok(3.0));
        assert_eq!(tree_score(&model, Some(-1.0), None), Ok(2.0));
    }

    fn voting_forest(method: &str, scores: &str, weights: &[f64]) -> PmmlModel {
        let segments: String = scores
            .chars()
            .zip(weights)
            .map(|(score, weight)| {
                format!(
                    r#"<Segment weight="{weight}"><True/><TreeModel functionName="classification">
                      <MiningSchema><MiningField name="x"/></MiningSchema>
                      <Node score="{score}"><True/></Node></TreeModel></Segment>"#
                )
            })
            .collect();
        let xml = format!(
            r#"<PMML version="4.3"><DataDictionary>
              <DataField name="x" optype="continuous" dataType="double"/>
              <DataField name="c" optype="categorical" dataType="string">
                <Value value="a"/><Value value="b"/></DataField></DataDictionary>
              <MiningModel functionName="classification">
                <MiningSchema><MiningField name="c" usageType="target"/><MiningField name="x"/></MiningSchema>
                <Segmentation multipleModelMethod="{method}">{segments}</Segmentation>
              </MiningModel></PMML>"#
        );
        PmmlModel::parse(xml.as_bytes()).expect("parses")
    }

    /// Expected values checked with JPMML-Evaluator (jpmml_evaluator 0.16.0).
    #[test]
    fn majority_vote_segmentation() {
        let cases = [
            ("majorityVote", "bab", [1.0, 1.0, 1.0], "b", 1.0 / 3.0),
            ("weightedMajorityVote", "bab", [1.0, 3.0, 1.0], "a", 0.6),
            ("majorityVote", "ab", [1.0, 1.0, 0.0], "a", 0.5),
            ("majorityVote", "ba", [1.0, 1.0, 0.0], "b", 0.5),
        ];
        for (method, scores, weights, class, pa) in cases {
            let model = voting_forest(method, scores, &weights);
            let p = model.evaluate(&|_: &str| Some(1.0)).expect("scores");
            assert_eq!(p.class(), Some(class), "{method} {scores}");
            assert!((p.probability("a").expect("p") - pa).abs() < 1e-15);
            assert!((p.probability("b").expect("p") - (1.0 - pa)).abs() < 1e-15);
        }
    }

    /// Expected values checked with JPMML-Evaluator (jpmml_evaluator 0.16.0).
    #[test]
    fn neural_network_regression_with_norm_continuous() {
        let xml = r#"<PMML version="4.3"><DataDictionary>
            <DataField name="x" optype="continuous" dataType="double"/>
            <DataField name="t" optype="continuous" dataType="double"/></DataDictionary>
          <NeuralNetwork functionName="regression" activationFunction="identity">
            <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
            <NeuralInputs><NeuralInput id="i"><DerivedField optype="continuous" dataType="double">
              <NormContinuous field="x"><LinearNorm orig="0" norm="0"/><LinearNorm orig="10" norm="1"/></NormContinuous>
            </DerivedField></NeuralInput></NeuralInputs>
            <NeuralLayer><Neuron id="n" bias="1"><Con from="i" weight="2"/></Neuron></NeuralLayer>
            <NeuralOutputs><NeuralOutput outputNeuron="n"><DerivedField optype="continuous" dataType="double">
              <NormContinuous field="t"><LinearNorm orig="0" norm="0"/><LinearNorm orig="100" norm="1"/>
                <LinearNorm orig="300" norm="3"/></NormContinuous>
            </DerivedField></NeuralOutput></NeuralOutputs>
          </NeuralNetwork></PMML>"#;
        let model = PmmlModel::parse(xml.as_bytes()).expect("parses");
        for (x, want) in [(5.0, 200.0), (10.0, 300.0), (2.5, 150.0), (-2.5, 50.0)] {
            let p = model.evaluate(&|_: &str| Some(x)).expect("scores");
            assert!(
                (p.value().expect("value") - want).abs() < 1e-12,
                "{x}: {p:?}"
            );
        }
        // JPMML does not extrapolate an output NormContinuous either.
        let err = model
            .evaluate(&|_: &str| Some(12.0))
            .expect_err("out of range");
        assert_eq!(err.kind(), EvalErrorKind::Numeric, "{err}");
        let err = model.evaluate(&|_: &str| None).expect_err("missing");
        assert_eq!(err.field(), Some("x"));
    }

    #[test]
    fn error_messages_say_what_and_where() {
        let err = parse_err(&edit(
            TREE_REGRESSION,
            "operator=\"lessOrEqual\"",
            "operator=\"approximately\"",
        ));
        let text = err.to_string();
        assert!(text.contains("approximately"), "{text}");
        assert!(text.contains("SimplePredicate"), "{text}");
        assert!(text.contains("byte"), "{text}");
        let err = parse_err(&LINEAR[..LINEAR.len() / 2]);
        assert!(err.to_string().contains("not closed"), "{err}");
    }

    #[test]
    fn deep_valid_tree_and_xml_decorations() {
        let mut xml = String::from(
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- c --><?pi x?><PMML version=\"4.3\"><Header><Annotation><![CDATA[x < y]]></Annotation></Header>\
             <DataDictionary><DataField name=\"x\" optype=\"continuous\" dataType=\"double\"/>\
             <DataField name=\"t\" optype=\"continuous\" dataType=\"double\"/></DataDictionary>\
             <TreeModel functionName=\"regression\"><MiningSchema><MiningField name=\"t\" usageType=\"target\"/>\
             <MiningField name=\"x\" missingValueReplacement=\"1.5\"/></MiningSchema>",
        );
        let depth = MAX_DEPTH - 10;
        for i in 0..depth {
            xml.push_str(&format!(
                "<Node score=\"{i}\"><SimplePredicate field=\"x\" operator=\"greaterThan\" value=\"&#45;1\"/>"
            ));
        }
        xml.push_str(&"</Node>".repeat(depth));
        xml.push_str("</TreeModel></PMML>");
        let model = PmmlModel::parse(xml.as_bytes()).expect("parses");
        let p = model.evaluate(&|_: &str| None).expect("scores");
        assert_eq!(p, Prediction::Regression((depth - 1) as f64));
        let p = model.evaluate(&|_: &str| Some(-5.0));
        assert_eq!(p.map_err(|e| e.kind()), Err(EvalErrorKind::NoPrediction));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = PmmlModel::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mutated_models(
            which in 0..MODELS.len(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
        ) {
            let mut bytes = MODELS[which].1.to_vec();
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            if let Ok(model) = PmmlModel::parse(&bytes) {
                let row = wine(0);
                let _ = score(&model, &row, None);
                let _ = score(&model, &row, Some("alcohol"));
            }
        }

        #[test]
        fn evaluate_never_panics_on_any_input(values in proptest::collection::vec(proptest::option::of(any::<f64>()), 11)) {
            for (_, xml) in MODELS {
                let model = PmmlModel::parse(xml).expect("parses");
                let _ = model.evaluate(&|name: &str| {
                    COLUMNS.iter().position(|c| *c == name).and_then(|i| values[i])
                });
            }
        }
    }
}

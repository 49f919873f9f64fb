//! What travels on the three topics: wine records on `data`, model descriptors on `models`,
//! scored records on `scored`.
//!
//! Records and descriptors come as protobuf, with the fields of the tutorial's
//! `winerecord.proto` and `modeldescriptor.proto`, or as JSON with the same field names. The
//! format is told apart by the first byte: a message starting with `{` is JSON, which no
//! protobuf message of these types can be (`{` would be field 15 with wire type 3, a group,
//! which neither message has); anything else is protobuf, and JSON with leading whitespace is
//! tried when protobuf fails. Decoding untrusted bytes never panics: it returns a
//! [`DecodeError`] saying what was wrong.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The eleven features, in the order of the CSV's columns and of the protobuf's field numbers.
pub const FEATURES: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

/// One wine to score (the tutorial's `WineRecord`).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
pub struct WineRecord {
    #[prost(double, tag = "1")]
    pub fixed_acidity: f64,
    #[prost(double, tag = "2")]
    pub volatile_acidity: f64,
    #[prost(double, tag = "3")]
    pub citric_acid: f64,
    #[prost(double, tag = "4")]
    pub residual_sugar: f64,
    #[prost(double, tag = "5")]
    pub chlorides: f64,
    #[prost(double, tag = "6")]
    pub free_sulfur_dioxide: f64,
    #[prost(double, tag = "7")]
    pub total_sulfur_dioxide: f64,
    #[prost(double, tag = "8")]
    pub density: f64,
    #[prost(double, tag = "9")]
    #[serde(rename = "pH")]
    pub ph: f64,
    #[prost(double, tag = "10")]
    pub sulphates: f64,
    #[prost(double, tag = "11")]
    pub alcohol: f64,
    /// What kind of record this is: `"wine"`, the only kind this server scores.
    #[prost(string, tag = "12")]
    #[serde(rename = "dataType", default = "wine")]
    pub data_type: String,
}

fn wine() -> String {
    "wine".to_owned()
}

impl WineRecord {
    /// The features in [`FEATURES`] order.
    pub fn features(&self) -> [f64; 11] {
        [
            self.fixed_acidity,
            self.volatile_acidity,
            self.citric_acid,
            self.residual_sugar,
            self.chlorides,
            self.free_sulfur_dioxide,
            self.total_sulfur_dioxide,
            self.density,
            self.ph,
            self.sulphates,
            self.alcohol,
        ]
    }

    /// Parses one line of the wine CSV: `;`-separated, the eleven features then the quality
    /// (ignored).
    pub fn from_csv_line(line: &str) -> Result<WineRecord, DecodeError> {
        let mut v = [0.0; 11];
        let mut cols = line.trim().split(';');
        for (i, slot) in v.iter_mut().enumerate() {
            let col = cols
                .next()
                .ok_or_else(|| DecodeError::new(format!("column {} is missing", i + 1)))?;
            *slot = col.trim().parse().map_err(|_| {
                DecodeError::new(format!("column {} is not a number: {col:?}", i + 1))
            })?;
        }
        Ok(WineRecord {
            fixed_acidity: v[0],
            volatile_acidity: v[1],
            citric_acid: v[2],
            residual_sugar: v[3],
            chlorides: v[4],
            free_sulfur_dioxide: v[5],
            total_sulfur_dioxide: v[6],
            density: v[7],
            ph: v[8],
            sulphates: v[9],
            alcohol: v[10],
            data_type: wine(),
        })
    }

    /// Decodes a record from protobuf or JSON and checks that it can be scored: a wine, with
    /// finite features.
    pub fn decode(bytes: &[u8]) -> Result<WineRecord, DecodeError> {
        let json = |bytes| {
            serde_json::from_slice(bytes)
                .map_err(|e| DecodeError::new(format!("invalid JSON wine record: {e}")))
        };
        let r: WineRecord = if bytes.first() == Some(&b'{') {
            json(bytes)?
        } else {
            match prost::Message::decode(bytes) {
                Ok(r) => r,
                Err(_) if looks_like_json(bytes) => json(bytes)?,
                Err(e) => {
                    return Err(DecodeError::new(format!(
                        "invalid protobuf wine record: {e}"
                    )))
                }
            }
        };
        if r.data_type != "wine" {
            return Err(DecodeError::new(format!(
                "data type {:?} is not \"wine\"",
                r.data_type
            )));
        }
        if let Some(i) = r.features().iter().position(|x| !x.is_finite()) {
            return Err(DecodeError::new(format!(
                "feature {:?} is not a finite number",
                FEATURES[i]
            )));
        }
        Ok(r)
    }

    /// The protobuf encoding.
    pub fn to_protobuf(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }
}

/// Which kind of model a descriptor carries (the tutorial's `ModelDescriptor.ModelType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration, Serialize, Deserialize)]
#[repr(i32)]
pub enum ModelType {
    /// A TensorFlow frozen graph.
    #[serde(rename = "TENSORFLOW")]
    Tensorflow = 0,
    /// A TensorFlow saved model (a directory: not servable from bytes, always rejected).
    #[serde(rename = "TENSORFLOWSAVED")]
    TensorflowSaved = 1,
    /// A PMML document.
    #[serde(rename = "PMML")]
    Pmml = 2,
}

/// A model to serve (the tutorial's `ModelDescriptor`, with the model inline).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelDescriptor {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(enumeration = "ModelType", tag = "3")]
    pub model_type: i32,
    /// The model itself (PMML text or a TensorFlow graph).
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
    /// What the model scores: `"wine"`.
    #[prost(string, tag = "6")]
    pub data_type: String,
}

/// The JSON form of a descriptor: the model is either `"pmml"`, the PMML document as a string,
/// or `"data"`, the model's bytes as an array of numbers (a TensorFlow graph).
#[derive(Serialize, Deserialize)]
struct JsonDescriptor {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "modelType")]
    model_type: ModelType,
    /// PMML as text.
    #[serde(default)]
    pmml: Option<String>,
    /// The model as bytes (a TensorFlow graph, or PMML).
    #[serde(default)]
    data: Option<Vec<u8>>,
    #[serde(rename = "dataType", default = "wine")]
    data_type: String,
}

impl ModelDescriptor {
    /// A descriptor for `data`, a model of `model_type`.
    pub fn new(name: &str, description: &str, model_type: ModelType, data: Vec<u8>) -> Self {
        ModelDescriptor {
            name: name.to_owned(),
            description: description.to_owned(),
            model_type: model_type as i32,
            data,
            data_type: wine(),
        }
    }

    /// The descriptor for a model file, typed by its extension (`.pmml` or `.pb`).
    pub fn from_file(path: &std::path::Path, data: Vec<u8>) -> Result<Self, DecodeError> {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_owned();
        let model_type = match path.extension().and_then(|e| e.to_str()) {
            Some("pmml") => ModelType::Pmml,
            Some("pb") => ModelType::Tensorflow,
            _ => {
                return Err(DecodeError::new(format!(
                    "{}: a model file ends in .pmml or .pb",
                    path.display()
                )))
            }
        };
        let kind = match model_type {
            ModelType::Pmml => "PMML",
            _ => "TensorFlow",
        };
        let description = format!("{kind} model from {}", path.display());
        Ok(ModelDescriptor::new(&name, &description, model_type, data))
    }

    /// Decodes a descriptor from protobuf or JSON; checks its name, type and data type.
    pub fn decode(bytes: &[u8]) -> Result<ModelDescriptor, DecodeError> {
        let protobuf = if bytes.first() == Some(&b'{') {
            None
        } else {
            match prost::Message::decode(bytes) {
                Ok(d) => Some(d),
                Err(_) if looks_like_json(bytes) => None,
                Err(e) => {
                    return Err(DecodeError::new(format!(
                        "invalid protobuf model descriptor: {e}"
                    )))
                }
            }
        };
        let d = if let Some(d) = protobuf {
            d
        } else {
            let j: JsonDescriptor = serde_json::from_slice(bytes)
                .map_err(|e| DecodeError::new(format!("invalid JSON model descriptor: {e}")))?;
            let data = match (j.pmml, j.data) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(bytes)) => bytes,
                _ => {
                    return Err(DecodeError::new(
                        "a JSON model descriptor has exactly one of \"pmml\" and \"data\"",
                    ))
                }
            };
            ModelDescriptor {
                name: j.name,
                description: j.description,
                model_type: j.model_type as i32,
                data,
                data_type: j.data_type,
            }
        };
        if d.name.trim().is_empty() {
            return Err(DecodeError::new("the model has no name"));
        }
        if ModelType::try_from(d.model_type).is_err() {
            return Err(DecodeError::new(format!(
                "unknown model type {}",
                d.model_type
            )));
        }
        if d.data_type != "wine" {
            return Err(DecodeError::new(format!(
                "the model scores {:?}, not \"wine\"",
                d.data_type
            )));
        }
        Ok(d)
    }

    /// The model type (valid after [`ModelDescriptor::decode`]).
    pub fn kind(&self) -> Option<ModelType> {
        ModelType::try_from(self.model_type).ok()
    }

    /// The protobuf encoding.
    pub fn to_protobuf(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }

    /// The JSON encoding (PMML as text, other models as a byte array).
    pub fn to_json(&self) -> Vec<u8> {
        let pmml = self.kind() == Some(ModelType::Pmml);
        let text = if pmml {
            String::from_utf8(self.data.clone()).ok()
        } else {
            None
        };
        let data = if text.is_none() {
            Some(self.data.clone())
        } else {
            None
        };
        let j = JsonDescriptor {
            name: self.name.clone(),
            description: self.description.clone(),
            model_type: self.kind().unwrap_or(ModelType::Pmml),
            pmml: text,
            data,
            data_type: self.data_type.clone(),
        };
        serde_json::to_vec(&j).unwrap_or_default()
    }
}

/// JSON after leading whitespace (tried only when protobuf decoding failed).
fn looks_like_json(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// Why bytes were not a valid record or descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(String);

impl DecodeError {
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError(message.into())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Where a record came from on the `data` topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub partition: i32,
    pub offset: i64,
}

/// What the server writes to `scored`, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredRecord {
    /// The record's position on `data`.
    pub source: Origin,
    /// The record's features.
    pub record: WineRecord,
    /// The result.
    pub result: ScoreResult,
    /// The model that produced it (absent before the first model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How long scoring took, in microseconds.
    pub scoring_micros: f64,
}

/// A score, a class, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreResult {
    /// A regression's predicted quality.
    Score(f64),
    /// A classification: the class and each class's probability (for the TensorFlow graph,
    /// each class's own sigmoid score: they need not sum to one).
    Class {
        class: String,
        probabilities: Vec<(String, f64)>,
    },
    /// No model had arrived when the record was scored.
    NoModel,
    /// The model could not score this record.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn first_row() -> WineRecord {
        WineRecord::from_csv_line("7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4;5").unwrap()
    }

    #[test]
    fn a_csv_line_reads_its_eleven_features() {
        let r = first_row();
        assert_eq!(
            r.features(),
            [7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]
        );
        assert_eq!(
            r.features()[FEATURES.iter().position(|f| *f == "pH").unwrap()],
            3.51
        );
        assert!(WineRecord::from_csv_line("7.4;0.7").is_err());
        assert!(WineRecord::from_csv_line("7.4;x;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4").is_err());
    }

    #[test]
    fn records_round_trip_through_protobuf_and_json() {
        let r = first_row();
        assert_eq!(WineRecord::decode(&r.to_protobuf()).unwrap(), r);
        let json = serde_json::to_vec(&r).unwrap();
        assert!(std::str::from_utf8(&json).unwrap().contains("\"pH\":3.51"));
        assert_eq!(WineRecord::decode(&json).unwrap(), r);
        // The data type defaults to wine in JSON.
        let json = br#" {"fixed_acidity":1,"volatile_acidity":2,"citric_acid":3,
            "residual_sugar":4,"chlorides":5,"free_sulfur_dioxide":6,"total_sulfur_dioxide":7,
            "density":8,"pH":9,"sulphates":10,"alcohol":11}"#;
        assert_eq!(WineRecord::decode(json).unwrap().alcohol, 11.0);
    }

    #[test]
    fn protobuf_that_looks_like_json_after_whitespace_is_protobuf() {
        // 7.12 as a double ends in 0x7b, `{`: the encoding starts with a tab (0x09), then `{`.
        let mut r = first_row();
        r.fixed_acidity = 7.12;
        let bytes = r.to_protobuf();
        assert_eq!(&bytes[..2], b"\t{");
        assert_eq!(WineRecord::decode(&bytes).unwrap(), r);
        // A name of 123 bytes makes a descriptor start with a newline and `{`.
        let d = ModelDescriptor::new(&"m".repeat(123), "", ModelType::Pmml, b"x".to_vec());
        let bytes = d.to_protobuf();
        assert_eq!(&bytes[..2], b"\n{");
        assert_eq!(ModelDescriptor::decode(&bytes).unwrap(), d);
        // JSON with leading whitespace still decodes as JSON.
        let mut json = b"  \n".to_vec();
        json.extend(serde_json::to_vec(&first_row()).unwrap());
        assert_eq!(WineRecord::decode(&json).unwrap(), first_row());
    }

    #[test]
    fn bad_records_are_typed_errors() {
        let mut r = first_row();
        r.data_type = "beer".into();
        assert!(WineRecord::decode(&r.to_protobuf())
            .unwrap_err()
            .to_string()
            .contains("beer"));
        let mut r = first_row();
        r.alcohol = f64::NAN;
        assert!(WineRecord::decode(&r.to_protobuf())
            .unwrap_err()
            .to_string()
            .contains("alcohol"));
        assert!(WineRecord::decode(b"{not json").is_err());
        assert!(WineRecord::decode(&[0xff, 0xff, 0xff]).is_err());
        // An empty message decodes to an empty data type: not a wine.
        assert!(WineRecord::decode(&[]).is_err());
    }

    #[test]
    fn descriptors_round_trip_and_bad_ones_are_rejected() {
        let d = ModelDescriptor::new("lr", "linear", ModelType::Pmml, b"<PMML/>".to_vec());
        assert_eq!(ModelDescriptor::decode(&d.to_protobuf()).unwrap(), d);
        assert_eq!(ModelDescriptor::decode(&d.to_json()).unwrap(), d);
        let tf = ModelDescriptor::new("tf", "", ModelType::Tensorflow, vec![0, 1, 2, 255]);
        assert_eq!(ModelDescriptor::decode(&tf.to_json()).unwrap(), tf);
        let mut bad = d.clone();
        bad.model_type = 7;
        assert!(ModelDescriptor::decode(&bad.to_protobuf()).is_err());
        let mut bad = d.clone();
        bad.name = " ".into();
        assert!(ModelDescriptor::decode(&bad.to_protobuf()).is_err());
        let mut bad = d;
        bad.data_type = "beer".into();
        assert!(ModelDescriptor::decode(&bad.to_protobuf()).is_err());
        assert!(ModelDescriptor::decode(br#"{"name":"x","modelType":"PMML"}"#).is_err());
        assert!(ModelDescriptor::decode(b"\x0a\xff").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Decoding never panics, whatever the bytes; what decodes is scorable.
        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(r) = WineRecord::decode(&bytes) {
                prop_assert!(r.features().iter().all(|x| x.is_finite()));
            }
            if let Ok(d) = ModelDescriptor::decode(&bytes) {
                prop_assert!(d.kind().is_some());
            }
        }

        /// Mutating valid messages never makes decoding panic.
        #[test]
        fn decoding_mutated_messages_never_panics(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            json in any::<bool>(),
        ) {
            let d = ModelDescriptor::new("m", "d", ModelType::Pmml, b"<PMML/>".to_vec());
            let mut record = if json { serde_json::to_vec(&first_row()).unwrap() } else { first_row().to_protobuf() };
            let mut model = if json { d.to_json() } else { d.to_protobuf() };
            for (i, b) in &flips {
                let n = record.len();
                record[i.index(n)] = *b;
                let n = model.len();
                model[i.index(n)] = *b;
            }
            let _ = WineRecord::decode(&record);
            let _ = ModelDescriptor::decode(&model);
        }
    }
}

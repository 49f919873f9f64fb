//! Decoding record keys and values: bytes, UTF-8, JSON.
//!
//! Decoding is a stage of its own, so a poison record meets the stream's supervision: with
//! `try_map` and a resuming decider it is skipped, otherwise the stream fails with a
//! [`DeserializeError`] naming the record. The consumer itself never dies of one.
//!
//! ```
//! use weir::kafka::{deserialize, Bytes, ConsumerRecord};
//! let r = ConsumerRecord { topic: "t".into(), partition: 0, offset: 7, key: None,
//!     value: Some(Bytes::from_static(br#"{"n": 1}"#)), timestamp: None, headers: vec![] };
//! let v: serde_json::Value = deserialize::json_value(&r).unwrap();
//! assert_eq!(v["n"], 1);
//! assert!(deserialize::utf8_value(&ConsumerRecord { value: Some(Bytes::from_static(&[0xff])), ..r }).is_err());
//! ```

use std::fmt;

use serde::de::DeserializeOwned;

use super::message::ConsumerRecord;

/// A record's key or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeserializeError {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Why.
    pub reason: String,
}

impl DeserializeError {
    fn new(r: &ConsumerRecord, reason: impl Into<String>) -> Self {
        DeserializeError {
            topic: r.topic.clone(),
            partition: r.partition,
            offset: r.offset,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DeserializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot decode record {}/{}@{}: {}",
            self.topic, self.partition, self.offset, self.reason
        )
    }
}

impl std::error::Error for DeserializeError {}

/// The value's bytes; a missing value is an error.
pub fn bytes_value(r: &ConsumerRecord) -> Result<&[u8], DeserializeError> {
    r.value
        .as_deref()
        .ok_or_else(|| DeserializeError::new(r, "no value"))
}

/// The value as UTF-8 text.
pub fn utf8_value(r: &ConsumerRecord) -> Result<&str, DeserializeError> {
    std::str::from_utf8(bytes_value(r)?).map_err(|e| DeserializeError::new(r, e.to_string()))
}

/// The key as UTF-8 text.
pub fn utf8_key(r: &ConsumerRecord) -> Result<&str, DeserializeError> {
    let key = r
        .key
        .as_deref()
        .ok_or_else(|| DeserializeError::new(r, "no key"))?;
    std::str::from_utf8(key).map_err(|e| DeserializeError::new(r, e.to_string()))
}

/// The value decoded from JSON.
pub fn json_value<T: DeserializeOwned>(r: &ConsumerRecord) -> Result<T, DeserializeError> {
    serde_json::from_slice(bytes_value(r)?).map_err(|e| DeserializeError::new(r, e.to_string()))
}

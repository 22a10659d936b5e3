//! Column encodings shared by every table: instants as unix seconds, lists as JSON arrays.

use crate::error::internal;
use chrono::{DateTime, Utc};
use palisade_core::ports::StoreResult;

pub(crate) fn to_secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn from_secs(secs: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| internal(format!("stored instant {secs} is out of range")))
}

pub(crate) fn opt_to_secs(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_secs)
}

pub(crate) fn opt_from_secs(secs: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    secs.map(from_secs).transpose()
}

/// JSON rather than space-separated: response types like `code id_token` contain spaces.
/// Items are strings or values that serialise as one (the closed protocol enums).
pub(crate) fn list_to_text<T: serde::Serialize>(items: &[T]) -> String {
    // Serialising strings cannot fail; the fallback keeps the lint happy.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// A list that is not JSON, or holds a value outside its type (an unknown grant type), is
/// corrupt: an error, never a default.
pub(crate) fn list_from_text<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<Vec<T>> {
    serde_json::from_str(text).map_err(|e| internal(format!("stored list is corrupt: {e}")))
}

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
pub(crate) fn list_to_text(items: &[String]) -> String {
    // Serialising a slice of strings cannot fail; the fallback keeps the lint happy.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn list_from_text(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| internal(format!("stored list is not JSON: {e}")))
}

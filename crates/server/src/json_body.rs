//! JSON request bodies with unique member names. RFC 8259 §4 says names SHOULD be unique and
//! leaves duplicates to the parser; serde_json keeps the last one silently, so a body can say
//! one thing to a proxy or an auditor reading the first member and another to us. Every body
//! is therefore walked once, at any depth, before it is deserialized, and a repeated name is
//! refused by name.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// Why a body was refused.
#[derive(Debug)]
pub enum JsonBodyError {
    /// A member name repeats within one object; the description names it by its path.
    DuplicateMember(String),
    /// Not JSON, or not the expected shape.
    Malformed(serde_json::Error),
}

impl JsonBodyError {
    /// A sentence for the client: the duplicated member's path (quoted and escaped, as it is
    /// the client's text), or serde_json's message, which names a field but never a value.
    pub fn description(&self) -> String {
        match self {
            Self::DuplicateMember(path) => {
                format!("the member {path:?} appears more than once")
            }
            Self::Malformed(e) => e.to_string(),
        }
    }
}

/// Parses `body` as `T` after checking that no object in it repeats a member name.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, JsonBodyError> {
    if let Some(path) = first_duplicate(body) {
        return Err(JsonBodyError::DuplicateMember(path));
    }
    serde_json::from_slice(body).map_err(JsonBodyError::Malformed)
}

/// The path of the first repeated member name (`a.b[2].c`), if any. Malformed JSON has none
/// here; the deserialization that follows reports it.
fn first_duplicate(body: &[u8]) -> Option<String> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: String::new(),
        found: &found,
    };
    // serde_json's recursion limit (128) bounds the walk as it bounds deserialization.
    let _ = walk.deserialize(&mut deserializer);
    found.into_inner()
}

/// Longest path quoted back to the client: enough to find the member, not a megabyte echo.
const MAX_PATH_CHARS: usize = 200;

/// One value in the document, at `path`; a duplicate is recorded in `found` and stops the walk.
struct Walk<'a> {
    path: String,
    found: &'a RefCell<Option<String>>,
}

impl Walk<'_> {
    fn child(&self, segment: fmt::Arguments<'_>) -> Self {
        let mut path = self.path.clone();
        if path.chars().count() < MAX_PATH_CHARS {
            path.push_str(&segment.to_string());
        }
        Self {
            path,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(self.child(format_args!("[{index}]")))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            let child = if self.path.is_empty() {
                self.child(format_args!("{name}"))
            } else {
                self.child(format_args!(".{name}"))
            };
            if !seen.insert(name) {
                *self.found.borrow_mut() = Some(child.path);
                return Err(de::Error::custom("duplicate member"));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn duplicate(body: &str) -> Option<String> {
        match parse::<Value>(body.as_bytes()) {
            Err(JsonBodyError::DuplicateMember(path)) => Some(path),
            _ => None,
        }
    }

    #[test]
    fn a_repeated_member_is_found_at_any_depth_and_named_by_its_path() {
        let cases = [
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"a":{"b":1,"c":[{"d":1},{"d":2,"d":3}]}}"#, "a.c[1].d"),
            (r#"[{"x":1},{"y":[{"z":1,"z":1}]}]"#, "[1].y[0].z"),
            // Names are compared after unescaping: "\u0061" is "a".
            (r#"{"a":1,"\u0061":2}"#, "a"),
        ];
        for (body, path) in cases {
            assert_eq!(duplicate(body).as_deref(), Some(path), "{body}");
        }
    }

    #[test]
    fn unique_names_parse_and_malformed_bodies_are_not_called_duplicates() {
        let value: Value = parse(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":null}"#).unwrap();
        assert_eq!(value["b"][1]["a"], 2);
        for malformed in [&b"{"[..], b"{\"a\":}", b"", b"\xff"] {
            assert!(matches!(
                parse::<Value>(malformed),
                Err(JsonBodyError::Malformed(_))
            ));
        }
        // A duplicate ahead of a syntax error is still reported as the duplicate.
        assert_eq!(duplicate(r#"{"a":1,"a":2,"#).as_deref(), Some("a"));
    }

    #[test]
    fn the_description_quotes_the_name_with_escapes() {
        let error = JsonBodyError::DuplicateMember("x\ny".into());
        assert_eq!(
            error.description(),
            r#"the member "x\ny" appears more than once"#
        );
    }
}

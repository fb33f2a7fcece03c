//! JSON objects with a repeated key: `{"amount":{"value":100,"value":999}}` is two values for one field,
//! and a parser silently keeping the last is how a reviewed request and a processed one come to differ.
//! Request bodies are checked with this before they are read, and refused (400) when a key repeats.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The first repeated key, as a path (`amount.value`, `metadata[2].name`); `None` when there is none or
/// the text is not JSON (the JSON parser reports that).
pub fn first_repeated(raw: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    match (Walk {
        path: String::new(),
    })
    .deserialize(&mut deserializer)
    {
        Ok(()) => None,
        Err(e) => e.to_string().strip_prefix(MARK).map(|path| {
            // serde_json appends " at line L column C".
            path.split(" at line ").next().unwrap_or(path).to_owned()
        }),
    }
}

const MARK: &str = "repeated key: ";

/// Walks any JSON value, remembering where it is, and fails at the first repeated key.
struct Walk {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                return Err(de::Error::custom(format!("{MARK}{path}")));
            }
            map.next_value_seed(Walk { path })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{index}]", self.path),
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::first_repeated;

    #[test]
    fn finds_the_first_repeated_key_with_its_path() {
        assert_eq!(first_repeated(br#"{"a":1,"b":2}"#), None);
        assert_eq!(
            first_repeated(br#"{"amount":{"value":100,"value":999}}"#).as_deref(),
            Some("amount.value")
        );
        assert_eq!(
            first_repeated(br#"{"metadata":[{"n":1},{"n":1,"n":2}]}"#).as_deref(),
            Some("metadata[1].n")
        );
        assert_eq!(first_repeated(br#"{"a":1,"a":1}"#).as_deref(), Some("a"));
        // Same key in sibling objects is fine; numbers of any size are walked.
        assert_eq!(
            first_repeated(br#"{"x":{"k":1},"y":{"k":12345678901234567890123}}"#),
            None
        );
        assert_eq!(first_repeated(b"not json"), None);
    }
}

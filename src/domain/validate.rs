//! Field-by-field validation of a JSON body, collecting every problem instead of stopping at the first,
//! so a merchant fixes a request in one round.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `amount.value` or `metadata[0].description`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(value)` when nothing was recorded, else every recorded error.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self.0)
        }
    }
}

/// Joins a parent path and a key: `join("", "amount")` → `amount`, `join("amount", "value")` → `amount.value`.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The value at `key`, treating an explicit `null` as absent.
pub fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// A required object; records an error and returns `None` when it is missing or not an object.
pub fn required_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut FieldErrors,
) -> Option<&'a Map<String, Value>> {
    match get(object, key) {
        None => {
            errors.add(join(path, key), "is required");
            None
        }
        Some(Value::Object(inner)) => Some(inner),
        Some(_) => {
            errors.add(join(path, key), "must be an object");
            None
        }
    }
}

/// An optional object: `None` when absent, or when not an object (then the error is recorded).
pub fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut FieldErrors,
) -> Option<&'a Map<String, Value>> {
    match get(object, key) {
        None => None,
        Some(Value::Object(inner)) => Some(inner),
        Some(_) => {
            errors.add(join(path, key), "must be an object");
            None
        }
    }
}

/// A string trimmed of surrounding space; `required` records "is required" when absent or blank.
/// White space as the documented patterns' `\\s` means it (ECMAScript: Unicode space separators, tab,
/// line ends and U+FEFF). Rust's `trim` also drops U+0085, a control character the patterns refuse: a
/// value the documents call invalid must not become valid by trimming.
fn pattern_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

pub fn string(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    max_len: usize,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    let field = join(path, key);
    match get(object, key) {
        None if required => {
            errors.add(field, "is required");
            None
        }
        None => None,
        // The documented maxLength bounds the value as sent, surrounding space included.
        Some(Value::String(s)) if s.chars().count() > max_len => {
            errors.add(field, format!("must be at most {max_len} characters"));
            None
        }
        Some(Value::String(s)) => {
            let s = s.trim_matches(pattern_space);
            if s.is_empty() {
                if required {
                    errors.add(field, "must not be empty");
                }
                None
            } else if s.chars().any(char::is_control) {
                errors.add(field, "must not contain control characters");
                None
            } else {
                Some(s.to_owned())
            }
        }
        Some(_) => {
            errors.add(field, "must be a string");
            None
        }
    }
}

/// An optional string that, when given, must not be blank: for fields whose documented length or pattern
/// needs a character, where an empty value is an error, not "left out" (which `string` makes of it).
pub fn nonblank_if_given(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    max_len: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    let given = matches!(get(object, key), Some(Value::String(_)));
    string(object, key, path, max_len, given, errors)
}

/// An optional boolean with a default.
pub fn boolean(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    default: bool,
    errors: &mut FieldErrors,
) -> bool {
    match get(object, key) {
        None => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.add(join(path, key), "must be true or false");
            default
        }
    }
}

/// An optional whole number within `min..=max`, given in JSON as an integer (`20`, not `"20"` or `20.5`).
pub fn whole_number(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    (min, max): (i64, i64),
    errors: &mut FieldErrors,
) -> Option<i64> {
    let field = join(path, key);
    let value = get(object, key)?;
    let Value::Number(n) = value else {
        errors.add(field, "must be a number");
        return None;
    };
    // A number's own text (serde_json keeps it): "20" and "20.0" are whole, "20.5" and "2e1" are not.
    let text = n.to_string();
    let whole = text.strip_suffix(".0").unwrap_or(&text);
    match whole.parse::<i64>() {
        Ok(v) if v < min => {
            errors.add(
                field,
                if min == 1 {
                    "must be greater than 0".to_owned()
                } else {
                    format!("must be at least {min}")
                },
            );
            None
        }
        Ok(v) if v > max => {
            errors.add(field, format!("must be at most {max}"));
            None
        }
        Ok(v) => Some(v),
        Err(_) if whole.starts_with('-') && whole[1..].bytes().all(|b| b.is_ascii_digit()) => {
            errors.add(field, format!("must be at least {min}"));
            None
        }
        Err(_) => {
            errors.add(field, "must be a whole number");
            None
        }
    }
}

/// An optional list of distinct strings, each one of `allowed`. Returns `None` when absent.
pub fn string_set(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&'static str],
    errors: &mut FieldErrors,
) -> Option<Vec<&'static str>> {
    let field = join(path, key);
    let value = get(object, key)?;
    let Value::Array(items) = value else {
        errors.add(field, "must be an array");
        return None;
    };
    let mut chosen: Vec<&'static str> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item
            .as_str()
            .and_then(|s| allowed.iter().find(|a| **a == s))
        {
            Some(found) if chosen.contains(found) => {
                errors.add(format!("{field}[{i}]"), format!("repeats {found}"));
                ok = false;
            }
            Some(found) => chosen.push(found),
            None => {
                errors.add(
                    format!("{field}[{i}]"),
                    format!("must be one of: {}", allowed.join(", ")),
                );
                ok = false;
            }
        }
    }
    ok.then_some(chosen)
}

/// An optional string that must be one of `allowed`.
pub fn one_of(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&'static str],
    errors: &mut FieldErrors,
) -> Option<&'static str> {
    let value = get(object, key)?;
    let found = value
        .as_str()
        .and_then(|s| allowed.iter().copied().find(|a| *a == s));
    if found.is_none() {
        errors.add(
            join(path, key),
            format!("must be one of: {}", allowed.join(", ")),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn whole_numbers_refuse_fractions_strings_and_bounds() {
        let mut errors = FieldErrors::default();
        let o =
            obj(json!({"a": 20, "b": 20.5, "c": "20", "d": 0, "e": 99999999, "f": 1e3, "g": 30.0}));
        assert_eq!(whole_number(&o, "a", "", (1, 100), &mut errors), Some(20));
        assert_eq!(whole_number(&o, "g", "", (1, 100), &mut errors), Some(30));
        assert_eq!(whole_number(&o, "missing", "", (1, 100), &mut errors), None);
        assert!(errors.is_empty());
        for key in ["b", "c", "d", "e", "f"] {
            assert_eq!(
                whole_number(&o, key, "x", (1, 100), &mut errors),
                None,
                "{key}"
            );
        }
        let fields: Vec<_> = errors.into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["x.b", "x.c", "x.d", "x.e", "x.f"]);
    }

    #[test]
    fn string_sets_name_each_bad_item() {
        let mut errors = FieldErrors::default();
        let o = obj(json!({"m": ["a", "z", "a", 3]}));
        assert_eq!(string_set(&o, "m", "p", &["a", "b"], &mut errors), None);
        let fields: Vec<_> = errors.into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["p.m[1]", "p.m[2]", "p.m[3]"]);
    }

    #[test]
    fn trimming_drops_what_the_patterns_call_space_and_nothing_else() {
        let object = |v: &str| json!({ "url": v }).as_object().unwrap().clone();
        let mut errors = FieldErrors::default();
        let trimmed = string(
            &object("\u{feff}\u{a0} x \t\n"),
            "url",
            "",
            10,
            true,
            &mut errors,
        );
        assert_eq!(trimmed.as_deref(), Some("x"));
        assert!(errors.is_empty());
        // U+0085 is white space to Rust but a control character to the documented patterns.
        assert_eq!(
            string(&object("\u{85}x"), "url", "", 10, true, &mut errors),
            None
        );
        assert!(!errors.is_empty());
    }

    #[test]
    fn a_field_that_needs_a_character_refuses_blank_when_given_and_not_when_left_out() {
        let check = |body: Value| {
            let mut errors = FieldErrors::default();
            let got = nonblank_if_given(body.as_object().unwrap(), "provider", "", 64, &mut errors);
            (got, errors.is_empty())
        };
        assert_eq!(check(json!({})), (None, true));
        assert_eq!(check(json!({"provider": null})), (None, true));
        assert_eq!(check(json!({"provider": ""})), (None, false));
        assert_eq!(check(json!({"provider": " \t"})), (None, false));
        assert_eq!(
            check(json!({"provider": " ps "})),
            (Some("ps".to_owned()), true)
        );
        // `string` itself keeps reading an optional blank as left out (a description may be cleared).
        let mut errors = FieldErrors::default();
        let blank = json!({"provider": ""});
        assert_eq!(
            string(
                blank.as_object().unwrap(),
                "provider",
                "",
                64,
                false,
                &mut errors
            ),
            None
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn the_length_bound_counts_the_value_as_sent() {
        let mut errors = FieldErrors::default();
        let padded = json!({"name": format!("\u{a0}{}", "x".repeat(10))});
        let object = padded.as_object().unwrap();
        assert_eq!(string(object, "name", "", 10, true, &mut errors), None);
        assert!(!errors.is_empty(), "11 characters as sent, 10 once trimmed");
        let mut errors = FieldErrors::default();
        assert_eq!(
            string(object, "name", "", 11, true, &mut errors).as_deref(),
            Some("xxxxxxxxxx")
        );
        assert!(errors.is_empty());
    }
}

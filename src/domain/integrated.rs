//! `POST /collections` with `type: "integrated"`: every field of the integrated-collection document,
//! its default and its rule. Produces a validated [`NewCollection`] or every field error at once.

use serde_json::{json, Map, Value};

use super::collection::{CADENCES, CHANNELS, METHODS, TONES};
use super::currency::Currency;
use super::money::Money;
use super::phone::Phone;
use super::validate::{self as v, FieldError, FieldErrors};

pub const DEFAULT_EXPIRES_IN: i64 = 1440;
/// A collection may stay open at most a year.
pub const MAX_EXPIRES_IN: i64 = 525_600;
pub const MAX_REFERENCE_LEN: usize = 100;
const MAX_NAME_LEN: usize = 100;
const MAX_EMAIL_LEN: usize = 254;
const MAX_METADATA_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct ContactInput {
    pub first_name: String,
    pub last_name: String,
    pub phone: Phone,
    pub email: String,
}

#[derive(Debug, Clone)]
pub struct NewCollection {
    pub reference: String,
    pub amount: Money,
    pub contact: ContactInput,
    pub metadata: Option<Value>,
    pub expires_in: i32,
    pub payable_enabled: bool,
    pub methods: Vec<&'static str>,
    /// `None`: use the merchant's default provider.
    pub provider: Option<String>,
    /// Stored and echoed as the merchant sent it (with defaults filled in); acted on by follow-up work.
    pub follow_up: Option<Value>,
    /// When an unpaid collection becomes `overdue` (an RFC 3339 time with its offset); `None`: three
    /// quarters of the way from creation to expiry.
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Whether a create body asks for a scheduled (Mona-style) collection rather than an integrated one.
pub fn is_scheduled_body(body: &Map<String, Value>) -> bool {
    body.get("type").and_then(Value::as_str) == Some("scheduled")
        || body.contains_key("schedule")
        || body.contains_key("debitType")
}

pub fn parse(body: &Value) -> Result<NewCollection, Vec<FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(body) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors.into_vec());
    };

    match v::get(body, "type") {
        None => {}
        Some(Value::String(t)) if t == "integrated" => {}
        Some(_) => errors.add("type", "must be \"integrated\""),
    }

    let reference = v::string(body, "reference", "", MAX_REFERENCE_LEN, true, &mut errors);
    if let Some(r) = &reference {
        if !r
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.=:".contains(&b))
        {
            errors.add(
                "reference",
                "may contain only letters, digits and - _ . = :",
            );
        }
    }

    let amount = parse_amount(body, &mut errors);
    let contact = parse_contact(body, &mut errors);
    let metadata = parse_metadata(body, &mut errors);
    let expires_in = v::whole_number(body, "expiresIn", "", (1, MAX_EXPIRES_IN), &mut errors);
    let (payable_enabled, methods) = parse_payable(body, &mut errors);
    let provider = v::nonblank_if_given(body, "provider", "", 64, &mut errors);
    let follow_up = parse_follow_up(body, &mut errors);
    let due_at = match v::get(body, "dueAt") {
        None => None,
        Some(Value::String(text)) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(at) => Some(at.with_timezone(&chrono::Utc)),
            Err(_) => {
                errors.add(
                    "dueAt",
                    "must be an RFC 3339 time with its offset, e.g. 2026-11-28T18:00:00+01:00",
                );
                None
            }
        },
        Some(_) => {
            errors.add("dueAt", "must be an RFC 3339 time string");
            None
        }
    };

    errors.finish(|| NewCollection {
        reference: reference.unwrap_or_default(),
        amount: amount.expect("checked"),
        contact: contact.expect("checked"),
        metadata,
        expires_in: expires_in.unwrap_or(DEFAULT_EXPIRES_IN) as i32,
        payable_enabled,
        methods,
        provider,
        follow_up,
        due_at,
    })
}

pub fn parse_amount(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Money> {
    let amount = v::required_object(body, "amount", "", errors)?;
    let currency = match v::get(amount, "currency") {
        None => {
            errors.add("amount.currency", "is required");
            None
        }
        Some(Value::String(code)) => {
            let found = Currency::parse(code);
            if found.is_none() {
                errors.add(
                    "amount.currency",
                    "must be an ISO 4217 code Cowry supports, e.g. NGN, GHS, KES, UGX, USD",
                );
            }
            found
        }
        Some(_) => {
            errors.add("amount.currency", "must be a string");
            None
        }
    };
    let value = match v::get(amount, "value") {
        None => {
            errors.add("amount.value", "is required");
            return None;
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            errors.add("amount.value", "must be a number");
            return None;
        }
    };
    match Money::from_major_str(&value, currency?) {
        Ok(money) => Some(money),
        Err(e) => {
            errors.add("amount.value", e.to_string());
            None
        }
    }
}

pub fn parse_contact(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<ContactInput> {
    let contact = v::required_object(body, "contact", "", errors)?;
    let first_name = v::string(contact, "firstName", "contact", MAX_NAME_LEN, true, errors);
    let last_name = v::string(contact, "lastName", "contact", MAX_NAME_LEN, true, errors);
    let phone = v::string(contact, "phone", "contact", 32, true, errors).and_then(|p| {
        match Phone::parse(&p) {
            Ok(phone) => Some(phone),
            Err(message) => {
                errors.add("contact.phone", message);
                None
            }
        }
    });
    let email = v::string(contact, "email", "contact", MAX_EMAIL_LEN, true, errors).and_then(|e| {
        if email_address::EmailAddress::is_valid(&e) && e.contains('.') {
            Some(e)
        } else {
            errors.add("contact.email", "must be a valid email address");
            None
        }
    });
    Some(ContactInput {
        first_name: first_name?,
        last_name: last_name?,
        phone: phone?,
        email: email?,
    })
}

/// Metadata is free-form, but an object must carry `description`, and so must every element of an array.
fn parse_metadata(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Value> {
    let metadata = v::get(body, "metadata")?;
    let has_description = |item: &Value| {
        item.get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.trim().is_empty())
    };
    match metadata {
        Value::Object(_) => {
            if !has_description(metadata) {
                errors.add(
                    "metadata.description",
                    "is required (a non-empty string) when metadata is given",
                );
            }
        }
        Value::Array(items) if items.is_empty() => {
            errors.add("metadata", "must not be an empty array; omit it instead");
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    errors.add(format!("metadata[{i}]"), "must be an object");
                } else if !has_description(item) {
                    errors.add(
                        format!("metadata[{i}].description"),
                        "is required (a non-empty string)",
                    );
                }
            }
        }
        _ => errors.add("metadata", "must be an object or an array of objects"),
    }
    if metadata.to_string().len() > MAX_METADATA_BYTES {
        errors.add(
            "metadata",
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        );
    }
    control_characters("metadata", metadata, errors);
    Some(metadata.clone())
}

/// Free-form text is still text: a control character (NUL included) in any key or string is refused,
/// naming where it is, as in every other string field.
fn control_characters(path: &str, value: &Value, errors: &mut FieldErrors) {
    let bad = |text: &str| text.chars().any(char::is_control);
    match value {
        Value::String(text) if bad(text) => {
            errors.add(path, "must not contain control characters");
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                control_characters(&format!("{path}[{i}]"), item, errors);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let here = format!("{path}.{key}");
                if bad(key) {
                    errors.add(here.clone(), "the key must not contain control characters");
                }
                control_characters(&here, item, errors);
            }
        }
        _ => {}
    }
}

fn parse_payable(body: &Map<String, Value>, errors: &mut FieldErrors) -> (bool, Vec<&'static str>) {
    let Some(payable) = v::optional_object(body, "payable", "", errors) else {
        return (false, Vec::new());
    };
    let enabled = v::boolean(payable, "enabled", "payable", false, errors);
    let methods = v::string_set(payable, "methods", "payable", &METHODS, errors);
    let no_methods =
        methods.as_ref().is_some_and(Vec::is_empty) || v::get(payable, "methods").is_none();
    if enabled && no_methods {
        errors.add(
            "payable.methods",
            "must name at least one method when payable.enabled is true",
        );
    }
    (enabled, methods.unwrap_or_default())
}

/// Follow-up settings, with defaults where the document gives none: startAfter 0, cadence daily,
/// tone professional. Enabled follow-ups need at least one channel.
fn parse_follow_up(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Value> {
    let follow_up = v::optional_object(body, "followUp", "", errors)?;
    let enabled = v::boolean(follow_up, "enabled", "followUp", false, errors);
    let start_after = v::whole_number(
        follow_up,
        "startAfter",
        "followUp",
        (0, MAX_EXPIRES_IN),
        errors,
    );
    let cadence = v::one_of(follow_up, "cadence", "followUp", &CADENCES, errors);
    let channels = v::string_set(follow_up, "channels", "followUp", &CHANNELS, errors);
    let tone = v::one_of(follow_up, "tone", "followUp", &TONES, errors);
    let no_channels =
        channels.as_ref().is_some_and(Vec::is_empty) || v::get(follow_up, "channels").is_none();
    if enabled && no_channels {
        errors.add(
            "followUp.channels",
            "must name at least one channel when followUp.enabled is true",
        );
    }
    Some(json!({
        "enabled": enabled,
        "startAfter": start_after.unwrap_or(0),
        "cadence": cadence.unwrap_or("daily"),
        "channels": channels.unwrap_or_default(),
        "tone": tone.unwrap_or("professional"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/integrated_example.json")).unwrap()
    }

    fn fields_of(body: Value) -> Vec<String> {
        parse(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn accepts_the_documented_example() {
        let c = parse(&example()).unwrap();
        assert_eq!(c.reference, "PSK_txn_8a7f34");
        assert_eq!(c.amount.minor(), 4_500_000);
        assert_eq!(c.contact.phone.e164(), "+2348012345678");
        assert_eq!(c.expires_in, 1440);
        assert!(c.payable_enabled);
        assert_eq!(
            c.methods,
            ["payment_link", "virtual_account", "mobile_money"]
        );
        assert_eq!(c.provider.as_deref(), Some("paystack"));
        assert_eq!(c.follow_up.unwrap()["cadence"], "every_10m");
    }

    #[test]
    fn fills_defaults() {
        let c = parse(&serde_json::json!({
            "reference": "r1", "amount": {"value": 10, "currency": "NGN"},
            "contact": {"firstName": "A", "lastName": "B", "phone": "+2348012345678", "email": "a@example.com"}
        }))
        .unwrap();
        assert_eq!(c.expires_in, 1440);
        assert!(!c.payable_enabled);
        assert!(c.methods.is_empty());
        assert!(c.provider.is_none() && c.follow_up.is_none() && c.metadata.is_none());
    }

    #[test]
    fn names_every_bad_field_at_once() {
        let fields = fields_of(serde_json::json!({
            "type": "other", "reference": "has space", "amount": {"value": 0, "currency": "XYZ"},
            "contact": {"firstName": "", "phone": "0801", "email": "nope"},
            "metadata": {"name": "x"}, "expiresIn": 0, "payable": {"enabled": true, "methods": []},
            "provider": 7, "followUp": {"enabled": true, "startAfter": -1, "cadence": "hourly", "channels": ["fax"], "tone": "rude"}
        }));
        assert_eq!(
            fields,
            [
                "type",
                "reference",
                "amount.currency",
                "contact.firstName",
                "contact.lastName",
                "contact.phone",
                "contact.email",
                "metadata.description",
                "expiresIn",
                "payable.methods",
                "provider",
                "followUp.startAfter",
                "followUp.cadence",
                "followUp.channels[0]",
                "followUp.tone"
            ]
        );
    }

    #[test]
    fn control_characters_anywhere_in_metadata_are_refused_by_path() {
        let mut body = example();
        body["metadata"] = json!([{"description": "ok", "notes": {"line": "a\u{0}b"}}]);
        let errors = parse(&body).unwrap_err();
        assert!(
            errors.iter().any(|e| e.field == "metadata[0].notes.line"),
            "{errors:?}"
        );
    }

    #[test]
    fn metadata_arrays_need_a_description_in_every_element() {
        let mut body = example();
        body["metadata"] =
            serde_json::json!([{"description": "ok"}, {"name": "no description"}, 5]);
        assert_eq!(fields_of(body), ["metadata[1].description", "metadata[2]"]);
    }

    #[test]
    fn scheduled_bodies_are_recognised() {
        let body = serde_json::json!({"debitType": "MERCHANT"});
        assert!(is_scheduled_body(body.as_object().unwrap()));
        assert!(!is_scheduled_body(example().as_object().unwrap()));
    }
}

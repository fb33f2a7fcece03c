//! `POST /providers`: a provider account in the merchant's providers list, with the credentials each
//! kind of adapter needs. Credentials are validated here and encrypted by the caller before storage.

use serde_json::{Map, Value};

use super::validate::{self as v, FieldError, FieldErrors};

/// Adapter kinds that can back a provider account, with the credential fields each needs.
pub const KINDS: &[(&str, &[&str])] = &[
    ("sandbox", &[]),
    ("paystack", &["secretKey"]),
    (
        "mtn_momo",
        &["apiUser", "apiKey", "subscriptionKey", "targetEnvironment"],
    ),
    // An Airtel app serves one market: `country` (ISO 3166 alpha-2) picks it.
    ("airtel_money", &["clientId", "clientSecret", "country"]),
    ("mona", &["apiKey"]),
    ("dollr", &["clientId", "clientSecret"]),
];
pub const MODES: [&str; 2] = ["test", "live"];

#[derive(Debug, Clone, PartialEq)]
pub struct NewProviderAccount {
    pub slug: String,
    pub kind: &'static str,
    pub mode: &'static str,
    pub base_url: Option<String>,
    /// Exactly the kind's credential fields, as given; `None` for a test account that uses the emulator.
    pub credentials: Option<Value>,
}

/// `merchant_mode` is the merchant's own mode: its accounts are all of it (absent `mode` means it).
pub fn parse(body: &Value, merchant_mode: &str) -> Result<NewProviderAccount, Vec<FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(body) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors.into_vec());
    };
    let slug = v::string(body, "slug", "", 40, true, &mut errors);
    if slug.as_ref().is_some_and(|s| {
        !s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    }) {
        errors.add(
            "slug",
            "may contain only lower-case letters, digits, - and _",
        );
    }
    let kinds: Vec<&'static str> = KINDS.iter().map(|(k, _)| *k).collect();
    let kind = match v::get(body, "kind") {
        None => {
            errors.add("kind", "is required");
            None
        }
        Some(_) => v::one_of(body, "kind", "", &kinds, &mut errors),
    };
    let merchant_mode = MODES
        .iter()
        .copied()
        .find(|m| *m == merchant_mode)
        .unwrap_or("test");
    let mode = v::one_of(body, "mode", "", &MODES, &mut errors)
        .or(v::get(body, "mode").is_none().then_some(merchant_mode));
    if mode.is_some_and(|m| m != merchant_mode) {
        errors.add(
            "mode",
            format!(
                "must be {merchant_mode}: a {merchant_mode} merchant's accounts are all {merchant_mode} \
                 (a business going live gets a live merchant of its own)"
            ),
        );
    }
    let base_url = v::nonblank_if_given(body, "baseUrl", "", 300, &mut errors);
    if let Some(url) = &base_url {
        if let Err(why) = super::outbound_url::check(url, mode == Some("live")) {
            errors.add("baseUrl", why);
        }
    }
    let credentials = match (kind, mode) {
        (Some(kind), Some(mode)) => parse_credentials(body, kind, mode, &mut errors),
        _ => None,
    };
    errors.finish(|| NewProviderAccount {
        slug: slug.unwrap_or_default(),
        kind: kind.unwrap_or_default(),
        mode: mode.unwrap_or("test"),
        base_url,
        credentials,
    })
}

fn parse_credentials(
    body: &Map<String, Value>,
    kind: &str,
    mode: &str,
    errors: &mut FieldErrors,
) -> Option<Value> {
    let fields = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, f)| *f)
        .unwrap_or_default();
    let given = match v::get(body, "credentials") {
        None if mode == "live" && !fields.is_empty() => {
            errors.add(
                "credentials",
                format!(
                    "are required for a live {kind} account: {}",
                    fields.join(", ")
                ),
            );
            return None;
        }
        None => return None,
        Some(Value::Object(given)) => given,
        Some(_) => {
            errors.add("credentials", "must be an object");
            return None;
        }
    };
    let mut credentials = Map::new();
    for field in fields {
        if let Some(value) = v::string(given, field, "credentials", 500, true, errors) {
            credentials.insert((*field).to_owned(), Value::String(value));
        }
    }
    // Optional settings: an Airtel app set to require signed payment requests; the bank a Paystack
    // integration opens dedicated accounts at (a Paystack bank slug such as `wema-bank`).
    let optional: &[&str] = match kind {
        "airtel_money" => &["signPayments"],
        "paystack" => &["preferredBank"],
        _ => &[],
    };
    for name in optional {
        match (*name, given.get(*name)) {
            (_, None) => {}
            ("signPayments", Some(Value::Bool(on))) => {
                credentials.insert((*name).to_owned(), Value::Bool(*on));
            }
            ("signPayments", Some(_)) => {
                errors.add(format!("credentials.{name}"), "must be true or false")
            }
            (_, Some(Value::String(slug)))
                if (1..=40).contains(&slug.len())
                    && slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                credentials.insert((*name).to_owned(), Value::String(slug.clone()));
            }
            (_, Some(_)) => errors.add(
                format!("credentials.{name}"),
                "must be a Paystack bank slug (lower-case letters, digits and -), e.g. wema-bank",
            ),
        }
    }
    for extra in given
        .keys()
        .filter(|k| !fields.contains(&k.as_str()) && !optional.contains(&k.as_str()))
    {
        errors.add(
            format!("credentials.{extra}"),
            format!("is not a {kind} credential"),
        );
    }
    if let Some(Value::String(key)) = credentials.get("secretKey") {
        let prefix = if mode == "live" {
            "sk_live_"
        } else {
            "sk_test_"
        };
        if !key.starts_with(prefix) {
            errors.add(
                "credentials.secretKey",
                format!("must be a {mode} secret key ({prefix}…)"),
            );
        }
    }
    if let Some(Value::String(user)) = credentials.get("apiUser") {
        if uuid::Uuid::parse_str(user).is_err() {
            errors.add("credentials.apiUser", "must be the API user's UUID");
        }
    }
    if kind == "airtel_money" {
        if let Some(Value::String(country)) = credentials.get("country") {
            if super::network::Market::for_country(country).is_none() {
                errors.add(
                    "credentials.country",
                    "must be the ISO 3166 alpha-2 code of an Airtel Money market, e.g. UG",
                );
            }
        }
    }
    Some(Value::Object(credentials))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        // The merchant is of the mode the body names (mixing modes has a test of its own).
        let mode = if body["mode"] == "live" {
            "live"
        } else {
            "test"
        };
        parse(&body, mode)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn accepts_accounts_with_and_without_credentials() {
        let account = parse(
            &json!({"slug": "paystack-ng", "kind": "paystack", "mode": "live",
            "credentials": {"secretKey": "sk_live_abc"}}),
            "live",
        )
        .unwrap();
        assert_eq!(
            account.credentials,
            Some(json!({"secretKey": "sk_live_abc"}))
        );
        let test = parse(&json!({"slug": "momo", "kind": "mtn_momo"}), "test").unwrap();
        assert_eq!((test.mode, test.credentials), ("test", None));
    }

    #[test]
    fn an_accounts_mode_is_its_merchants() {
        let live = parse(
            &json!({"slug": "p", "kind": "paystack", "credentials": {"secretKey": "sk_live_abc"}}),
            "live",
        )
        .unwrap();
        assert_eq!(live.mode, "live");
        let mixed: Vec<String> = parse(
            &json!({"slug": "p", "kind": "paystack", "mode": "live",
                    "credentials": {"secretKey": "sk_live_abc"}}),
            "test",
        )
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
        assert_eq!(mixed, ["mode"]);
    }

    #[test]
    fn names_every_bad_field() {
        assert_eq!(
            fields(json!({"slug": "Bad Slug", "kind": "stripe", "mode": "prod"})),
            ["slug", "kind", "mode"]
        );
        assert_eq!(
            fields(json!({"slug": "p", "kind": "paystack", "mode": "live"})),
            ["credentials"]
        );
        assert_eq!(
            fields(
                json!({"slug": "p", "kind": "paystack", "mode": "live", "credentials": {"secretKey": "sk_test_x", "extra": 1}})
            ),
            ["credentials.extra", "credentials.secretKey"]
        );
        assert_eq!(
            fields(
                json!({"slug": "m", "kind": "mtn_momo", "credentials": {"apiUser": "nope", "apiKey": "k", "subscriptionKey": "s"}})
            ),
            ["credentials.targetEnvironment", "credentials.apiUser"]
        );
        assert_eq!(
            fields(json!({"slug": "s", "kind": "sandbox", "baseUrl": "ftp://x"})),
            ["baseUrl"]
        );
    }

    #[test]
    fn a_paystack_account_names_the_bank_its_dedicated_accounts_open_at() {
        let body = |bank: Value| {
            json!({"slug": "ps", "kind": "paystack", "mode": "live",
                   "credentials": {"secretKey": "sk_live_abc", "preferredBank": bank}})
        };
        let parsed = parse(&body(json!("wema-bank")), "live").unwrap();
        assert_eq!(
            parsed.credentials.unwrap()["preferredBank"],
            json!("wema-bank")
        );
        assert_eq!(
            fields(body(json!("Wema Bank"))),
            ["credentials.preferredBank"]
        );
        assert_eq!(fields(body(json!(true))), ["credentials.preferredBank"]);
    }
}

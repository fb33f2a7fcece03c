//! A merchant's settings for one follow-up channel (`PUT /channels/{channel}`), checked and split into
//! what may be shown (`settings`) and what is sealed (`credentials`). Pure: no I/O.
//!
//! - `whatsapp`: `phoneNumberId`, `accessToken` (sealed), `appSecret` (sealed; verifies the webhook's
//!   `X-Hub-Signature-256`), `templates` `{gentle, professional, urgent}` (the merchant's approved
//!   template names; each defaults to `cowry_reminder_{tone}`), `language` (default `en`).
//! - `sms` (Africa's Talking): `username`, `apiKey` (sealed), `senderId` (a registered alphanumeric
//!   sender ID or short code; without it the gateway's shared one is used).
//! - `email`: `smtpUrl` (sealed: it may carry a password; `smtp://` or `smtps://`), `from`.
//!
//! `baseUrl` (optional) points a channel elsewhere (a regional endpoint, a test double); a live
//! merchant's must be public https, as for provider accounts.

use serde_json::{json, Map, Value};

use super::validate::{self as v, FieldError, FieldErrors};

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSettings {
    pub base_url: Option<String>,
    pub settings: Value,
    pub credentials: Value,
}

pub fn parse(channel: &str, body: &Value, live: bool) -> Result<ChannelSettings, Vec<FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(body) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors.finish(|| ()).unwrap_err());
    };
    let base_url = v::string(body, "baseUrl", "", 300, false, &mut errors);
    if let Some(url) = &base_url {
        if let Err(why) = super::outbound_url::check(url, live) {
            errors.add("baseUrl", why);
        }
    }
    let text = |key: &str, max: usize, required: bool, errors: &mut FieldErrors| {
        v::string(body, key, "", max, required, errors)
    };
    let mut settings = Map::new();
    let mut credentials = Map::new();
    match channel {
        "whatsapp" => {
            if let Some(id) = text("phoneNumberId", 64, true, &mut errors) {
                if !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    errors.add(
                        "phoneNumberId",
                        "must be the number's id from WhatsApp Manager",
                    );
                }
                settings.insert("phoneNumberId".into(), json!(id));
            }
            if let Some(token) = text("accessToken", 1000, true, &mut errors) {
                credentials.insert("accessToken".into(), json!(token));
            }
            if let Some(secret) = text("appSecret", 200, false, &mut errors) {
                credentials.insert("appSecret".into(), json!(secret));
            }
            let language = text("language", 16, false, &mut errors).unwrap_or_else(|| "en".into());
            settings.insert("language".into(), json!(language));
            let given = v::optional_object(body, "templates", "", &mut errors);
            let mut templates = Map::new();
            for tone in super::collection::TONES {
                let name = given
                    .and_then(|t| v::string(t, tone, "templates", 512, false, &mut errors))
                    .unwrap_or_else(|| format!("cowry_reminder_{tone}"));
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    errors.add(
                        format!("templates.{tone}"),
                        "must be a template name: lower-case letters, digits and underscores",
                    );
                }
                templates.insert(tone.into(), json!(name));
            }
            settings.insert("templates".into(), Value::Object(templates));
        }
        "sms" => {
            if let Some(username) = text("username", 100, true, &mut errors) {
                settings.insert("username".into(), json!(username));
            }
            if let Some(key) = text("apiKey", 200, true, &mut errors) {
                credentials.insert("apiKey".into(), json!(key));
            }
            if let Some(sender) = text("senderId", 11, false, &mut errors) {
                settings.insert("senderId".into(), json!(sender));
            }
        }
        "email" => {
            if let Some(url) = text("smtpUrl", 500, true, &mut errors) {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    errors.add("smtpUrl", "must be an smtp:// or smtps:// URL");
                } else if live && url.starts_with("smtp://") && !url.contains("tls=required") {
                    errors.add(
                        "smtpUrl",
                        "a live merchant's mail must be encrypted: smtps://, or smtp://…?tls=required (STARTTLS)",
                    );
                }
                credentials.insert("smtpUrl".into(), json!(url));
            }
            if let Some(from) = text("from", 320, true, &mut errors) {
                if from.parse::<lettre::message::Mailbox>().is_err() {
                    errors.add("from", "must be an address, e.g. Acme <pay@acme.example>");
                }
                settings.insert("from".into(), json!(from));
            }
        }
        _ => errors.add("channel", "must be whatsapp, sms or email"),
    }
    errors.finish(|| ChannelSettings {
        base_url,
        settings: Value::Object(settings),
        credentials: Value::Object(credentials),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(channel: &str, body: Value, live: bool) -> Vec<String> {
        parse(channel, &body, live)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn secrets_are_split_from_what_may_be_shown() {
        let s = parse(
            "whatsapp",
            &json!({"phoneNumberId": "106540352242922", "accessToken": "EAAG…", "appSecret": "abc",
                    "templates": {"urgent": "acme_pay_now"}}),
            false,
        )
        .unwrap();
        assert_eq!(s.settings["templates"]["urgent"], "acme_pay_now");
        assert_eq!(s.settings["templates"]["gentle"], "cowry_reminder_gentle");
        assert_eq!(
            s.credentials,
            json!({"accessToken": "EAAG…", "appSecret": "abc"})
        );
        assert!(!s.settings.to_string().contains("EAAG"));
        let sms = parse(
            "sms",
            &json!({"username": "acme", "apiKey": "k", "senderId": "ACME"}),
            true,
        )
        .unwrap();
        assert_eq!(
            sms.settings,
            json!({"username": "acme", "senderId": "ACME"})
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            fields(
                "whatsapp",
                json!({"templates": {"gentle": "Bad Name"}}),
                false
            ),
            ["phoneNumberId", "accessToken", "templates.gentle"]
        );
        assert_eq!(
            fields(
                "sms",
                json!({"username": "a", "apiKey": "k", "senderId": "TOO-LONG-SENDER"}),
                false
            ),
            ["senderId"]
        );
        assert_eq!(
            fields(
                "email",
                json!({"smtpUrl": "smtp://mail.acme.example", "from": "nobody"}),
                true
            ),
            ["smtpUrl", "from"]
        );
        assert!(parse(
            "email",
            &json!({"smtpUrl": "smtps://u:p@mail.acme.example", "from": "a@acme.example"}),
            true
        )
        .is_ok());
        assert_eq!(fields("fax", json!({}), false), ["channel"]);
    }
}

//! WhatsApp Business Cloud API, as Meta documents it and its client libraries (e.g. `pywa`) call it:
//! `POST {graph}/{version}/{phone-number-id}/messages` with `Authorization: Bearer {token}` and a
//! template message — business-initiated messages outside a customer's 24-hour window must be
//! pre-approved templates:
//!
//! ```json
//! {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "2348012345678",
//!  "type": "template", "template": {"name": "cowry_reminder_gentle", "language": {"code": "en"},
//!  "components": [{"type": "body", "parameters": [{"type": "text", "text": "Acme"}, …]}]}}
//! ```
//!
//! The answer names the message (`messages[0].id`, a `wamid.…`); delivery comes later in `statuses`
//! webhooks. Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`: codes
//! 4, 80007, 130429 and 131048/131056 are rate limits (retry later), 1 and 2 and 131000 and 5xx are
//! Meta's own trouble (retry), anything else (bad token, unknown template, an unreachable number) is
//! final.

use serde_json::{json, Value};

use super::channel::{transport_error, Channel, Outgoing, SendError, Sent};
use crate::config::Secret;

pub const LIVE_BASE_URL: &str = "https://graph.facebook.com";
pub const API_VERSION: &str = "v21.0";

pub struct WhatsApp {
    pub base_url: String,
    pub phone_number_id: String,
    pub token: Secret,
    pub client: reqwest::Client,
}

/// The request body for a template message to `to` (E.164; WhatsApp takes the digits).
pub fn template_body(to: &str, template: &Value) -> Value {
    let parameters: Vec<Value> = template["parameters"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|text| json!({"type": "text", "text": text}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.trim_start_matches('+'),
        "type": "template",
        "template": {
            "name": template["name"],
            "language": {"code": template["language"].as_str().unwrap_or("en")},
            "components": [{"type": "body", "parameters": parameters}],
        },
    })
}

/// Whether Meta's error code is worth another try.
fn retryable(code: i64) -> bool {
    matches!(code, 1 | 2 | 4 | 80007 | 130429 | 131000 | 131048 | 131056)
}

#[async_trait::async_trait]
impl Channel for WhatsApp {
    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError> {
        let Some(template) = &message.template else {
            return Err(SendError::Refused(
                "a WhatsApp follow-up must be a template".to_owned(),
            ));
        };
        let url = format!(
            "{}/{API_VERSION}/{}/messages",
            self.base_url.trim_end_matches('/'),
            self.phone_number_id
        );
        let answer = self
            .client
            .post(url)
            .bearer_auth(self.token.expose())
            .json(&template_body(&message.to, template))
            .send()
            .await
            .map_err(|e| transport_error(&e.without_url()))?;
        let status = answer.status();
        let body: Value = answer
            .json()
            .await
            .map_err(|e| SendError::Unknown(e.without_url().to_string()))?;
        if status.is_success() {
            let id = body["messages"][0]["id"].as_str().map(str::to_owned);
            return match id {
                Some(id) => Ok(Sent {
                    provider_message_id: Some(id),
                    parts: None,
                }),
                None => Err(SendError::Unknown(
                    "WhatsApp answered without a message id".to_owned(),
                )),
            };
        }
        let code = body["error"]["code"].as_i64().unwrap_or(0);
        let text = format!(
            "WhatsApp answered {}: {} (code {code})",
            status.as_u16(),
            body["error"]["message"].as_str().unwrap_or("no message")
        );
        if status.is_server_error() || retryable(code) {
            Err(SendError::Retryable(text))
        } else {
            Err(SendError::Refused(text))
        }
    }
}

/// What a webhook from WhatsApp reports: a message's delivery, or the customer's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// `delivered` (or `read`) → `Some(true)`; `failed` → `Some(false)` with the error; `sent` → `None`.
    Status {
        id: String,
        delivered: Option<bool>,
        reason: Option<String>,
    },
    /// A text (or a quick-reply button) from the customer; `from` in E.164.
    Reply { from: String, text: String },
}

/// Reads a `whatsapp_business_account` webhook (`entry[].changes[].value.{statuses, messages}`).
pub fn read_webhook(body: &Value) -> Vec<Inbound> {
    let mut found = Vec::new();
    let changes = body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten());
    for change in changes {
        let value = &change["value"];
        for status in value["statuses"].as_array().into_iter().flatten() {
            let Some(id) = status["id"].as_str() else {
                continue;
            };
            let delivered = match status["status"].as_str() {
                Some("delivered" | "read") => Some(true),
                Some("failed") => Some(false),
                _ => None,
            };
            let reason = status["errors"][0]["title"]
                .as_str()
                .or(status["errors"][0]["message"].as_str())
                .map(|t| format!("{t} (code {})", status["errors"][0]["code"]));
            found.push(Inbound::Status {
                id: id.to_owned(),
                delivered,
                reason,
            });
        }
        for message in value["messages"].as_array().into_iter().flatten() {
            let Some(from) = message["from"].as_str() else {
                continue;
            };
            let text = message["text"]["body"]
                .as_str()
                .or(message["button"]["text"].as_str())
                .or(message["interactive"]["button_reply"]["title"].as_str())
                .unwrap_or_default();
            found.push(Inbound::Reply {
                from: format!("+{}", from.trim_start_matches('+')),
                text: text.to_owned(),
            });
        }
    }
    found
}

/// Whether `X-Hub-Signature-256` (`sha256=<hex HMAC-SHA256 of the raw body under the app secret>`)
/// is right, compared in constant time.
pub fn signature_ok(app_secret: &str, body: &[u8], header: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(given) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_reports_statuses_and_replies_and_is_signed() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106"},
                      "statuses": [{"id": "wamid.A", "status": "delivered", "timestamp": "1", "recipient_id": "2348012345678"},
                                   {"id": "wamid.B", "status": "failed", "errors": [{"code": 131026, "title": "Message undeliverable"}]}],
                      "messages": [{"from": "2348012345678", "id": "wamid.C", "type": "text", "text": {"body": "STOP"}}]}}]}]});
        let found = read_webhook(&body);
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[1],
            Inbound::Status {
                id: "wamid.B".into(),
                delivered: Some(false),
                reason: Some("Message undeliverable (code 131026)".into())
            }
        );
        assert_eq!(
            found[2],
            Inbound::Reply {
                from: "+2348012345678".into(),
                text: "STOP".into()
            }
        );
        use hmac::{Hmac, Mac};
        let raw = body.to_string();
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"app-secret").unwrap();
        mac.update(raw.as_bytes());
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_ok("app-secret", raw.as_bytes(), &header));
        assert!(!signature_ok("other", raw.as_bytes(), &header));
        assert!(!signature_ok("app-secret", raw.as_bytes(), "sha1=00"));
    }

    #[test]
    fn a_template_message_names_its_template_language_and_body_parameters() {
        let body = template_body(
            "+2348012345678",
            &json!({"name": "cowry_reminder_gentle", "language": "en", "parameters": ["Acme", "NGN 5,000.00"]}),
        );
        assert_eq!(body["to"], "2348012345678");
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"]["language"]["code"], "en");
        assert_eq!(
            body["template"]["components"][0]["parameters"][1],
            json!({"type": "text", "text": "NGN 5,000.00"})
        );
        assert!(retryable(130429) && !retryable(132001));
    }
}

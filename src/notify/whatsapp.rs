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

#[cfg(test)]
mod tests {
    use super::*;

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

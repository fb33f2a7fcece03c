//! Africa's Talking SMS, as its official client libraries call it (`africastalking-python`'s
//! `SMS.send`): form-encoded `POST {base}/version1/messaging` with `username`, `to`, `message`,
//! `bulkSMSMode=1` and, when the merchant has a registered sender ID, `from`; the key in the `apiKey`
//! header, `Accept: application/json`. Each recipient's `statusCode` says what became of it: 100–102
//! were accepted (processed, sent, queued); 4xx are refusals about the number or the account (final);
//! 5xx the gateway's own trouble (worth another try). Delivery comes later by callback.
//!
//! Base URLs: `https://api.africastalking.com` (live), `https://api.sandbox.africastalking.com` (the
//! `sandbox` username), or the emulator's.

use serde::Deserialize;

use crate::config::Secret;

pub const LIVE_BASE_URL: &str = "https://api.africastalking.com";

pub struct AfricasTalking {
    base_url: String,
    username: String,
    api_key: Secret,
    client: reqwest::Client,
}

/// What became of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub number: String,
    pub status_code: u16,
    pub status: String,
    /// AT's id, for matching delivery reports (`None` when it was refused).
    pub message_id: Option<String>,
    pub cost: String,
}

impl Recipient {
    pub fn accepted(&self) -> bool {
        (100..=102).contains(&self.status_code)
    }

    /// The gateway's own trouble (`500`–`502`): another try may go through; 4xx will not.
    pub fn retryable(&self) -> bool {
        self.status_code >= 500
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("Africa's Talking refused the credentials")]
    BadCredentials,
    #[error("Africa's Talking could not be reached: {0}")]
    Unreachable(String),
    /// The request may have gone and its answer was lost.
    #[error("Africa's Talking's answer was lost: {0}")]
    Unavailable(String),
    #[error("Africa's Talking answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("unreadable answer from Africa's Talking: {0}")]
    Protocol(String),
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "SMSMessageData")]
    data: AnswerData,
}

#[derive(Deserialize)]
struct AnswerData {
    #[serde(rename = "Recipients", default)]
    recipients: Vec<WireRecipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRecipient {
    status_code: u16,
    number: String,
    status: String,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    cost: String,
}

impl AfricasTalking {
    pub fn new(base_url: &str, username: &str, api_key: Secret, client: reqwest::Client) -> Self {
        AfricasTalking {
            base_url: base_url.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            api_key,
            client,
        }
    }

    /// Sends `message` to each of `to` (E.164) as one message each, however many parts it takes.
    /// Not retried here: a lost answer may have sent it, and a second SMS is a second charge and a
    /// second buzz on the customer's phone.
    pub async fn send(
        &self,
        to: &[&str],
        message: &str,
        from: Option<&str>,
    ) -> Result<Vec<Recipient>, SendError> {
        let joined = to.join(",");
        let mut form = vec![
            ("username", self.username.as_str()),
            ("to", joined.as_str()),
            ("message", message),
            ("bulkSMSMode", "1"),
        ];
        if let Some(from) = from {
            form.push(("from", from));
        }
        let body =
            serde_urlencoded::to_string(&form).map_err(|e| SendError::Protocol(e.to_string()))?;
        let answer = self
            .client
            .post(format!("{}/version1/messaging", self.base_url))
            .header("apiKey", self.api_key.expose())
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                if e.is_connect() {
                    SendError::Unreachable(e.to_string())
                } else {
                    SendError::Unavailable(e.to_string())
                }
            })?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|e| SendError::Unavailable(e.without_url().to_string()))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(SendError::BadCredentials);
        }
        if !status.is_success() {
            return Err(SendError::Refused {
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            });
        }
        let answer: Answer =
            serde_json::from_str(&text).map_err(|e| SendError::Protocol(e.to_string()))?;
        Ok(answer
            .data
            .recipients
            .into_iter()
            .map(|r| Recipient {
                message_id: r.message_id.filter(|id| !id.is_empty() && id != "None"),
                number: r.number,
                status_code: r.status_code,
                status: r.status,
                cost: r.cost,
            })
            .collect())
    }
}

/// Africa's Talking as a follow-up channel: one recipient per message, from the merchant's sender ID.
pub struct SmsChannel {
    pub client: AfricasTalking,
    pub from: Option<String>,
}

#[async_trait::async_trait]
impl super::channel::Channel for SmsChannel {
    async fn send(
        &self,
        message: &super::channel::Outgoing,
    ) -> Result<super::channel::Sent, super::channel::SendError> {
        use super::channel::{SendError as E, Sent};
        let answer = self
            .client
            .send(&[message.to.as_str()], &message.body, self.from.as_deref())
            .await;
        let recipients = match answer {
            Ok(recipients) => recipients,
            Err(
                e @ (SendError::BadCredentials
                | SendError::Refused {
                    status: 400..=499, ..
                }),
            ) => return Err(E::Refused(e.to_string())),
            Err(e @ (SendError::Unreachable(_) | SendError::Refused { .. })) => {
                return Err(E::Retryable(e.to_string()))
            }
            Err(e @ (SendError::Unavailable(_) | SendError::Protocol(_))) => {
                return Err(E::Unknown(e.to_string()))
            }
        };
        let Some(recipient) = recipients.into_iter().next() else {
            return Err(E::Unknown(
                "Africa's Talking listed no recipient".to_owned(),
            ));
        };
        if recipient.accepted() {
            Ok(Sent {
                provider_message_id: recipient.message_id,
                parts: Some(crate::notify::sms::length(&message.body).parts as i32),
            })
        } else if recipient.retryable() {
            Err(E::Retryable(format!(
                "{} ({})",
                recipient.status, recipient.status_code
            )))
        } else {
            Err(E::Refused(format!(
                "{} ({})",
                recipient.status, recipient.status_code
            )))
        }
    }
}

//! Dollr's wire format (`shared/spec/invoice-session-provider-guide.txt` and `shared/providers/README.md`
//! §5): JSON with ISO 4217 currencies, phones as E.164 digits without `+`, amounts as major-unit numbers,
//! and ids whose types vary by endpoint (read leniently).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// `expires_in` is in **minutes** here.
#[derive(Debug, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub expires_in: u64,
}

/// Any create answer: an `id`, string or integer depending on the endpoint.
#[derive(Debug, Deserialize)]
pub struct Created {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PartyRequest<'a> {
    pub fullname: &'a str,
    pub phone: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    pub country_code: &'a str,
}

#[derive(Debug, Serialize)]
pub struct CounterpartyRequest<'a> {
    pub relationship_type: &'a str,
    pub party_id: &'a str,
}

#[derive(Debug, Serialize)]
pub struct InvoiceRequest<'a> {
    pub counterparty_id: &'a str,
    pub currency: &'a str,
    pub note: &'a str,
    pub fee_bearer: &'a str,
    pub as_payment_link: bool,
}

#[derive(Debug, Serialize)]
pub struct ItemRequest<'a> {
    pub name: &'a str,
    pub currency: &'a str,
    pub qty: u32,
    pub amount: serde_json::Number,
}

/// The guide's step list says `source_type`, its conventions say checkout takes `source_kind`: both are sent.
#[derive(Debug, Serialize)]
pub struct CheckoutRequest<'a> {
    pub source_id: &'a str,
    pub source_type: &'a str,
    pub source_kind: &'a str,
}

#[derive(Debug, Serialize)]
pub struct PaymentAccountRequest<'a> {
    pub account_name: &'a str,
    pub provider: &'a str,
    pub method: &'a str,
    pub party_id: &'a str,
    pub country_code: &'a str,
    pub insensitive_account_number: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ExecuteCollection<'a> {
    pub session_id: &'a str,
    pub payment_account_id: &'a str,
    pub currency: &'a str,
    pub reference_id: &'a str,
}

/// An execution's answer and its status (`PENDING → PROCESSING → COMPLETED | FAILED`).
#[derive(Debug, Deserialize)]
pub struct Execution {
    pub status: String,
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub payer_amount: Option<Value>,
    #[serde(default)]
    pub requires_action: Option<bool>,
    #[serde(default)]
    pub gateway_message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MmoInfo {
    pub payment_method: String,
    pub gateway_provider: String,
}

#[derive(Debug, Serialize)]
pub struct PayoutSession<'a> {
    pub payout_account_id: &'a str,
    pub amount: serde_json::Number,
    pub currency: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ExecutePayout<'a> {
    pub session_id: &'a str,
    pub payout_account_id: &'a str,
    pub reference_id: &'a str,
    pub passcode: Value,
}

/// FastAPI-style errors: `{"detail": "…"}` or `{"detail": [{"loc", "msg", "type"}]}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub detail: Value,
}

impl ErrorBody {
    pub fn message(&self) -> String {
        match &self.detail {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    let loc: Vec<String> = i["loc"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .map(|p| p.to_string().trim_matches('"').to_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    format!(
                        "{}: {}",
                        loc.join("."),
                        i["msg"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("id: {other}"))),
    }
}

//! MTN MoMo Collection's wire format, from MTN's Swagger export (`shared/providers/
//! mtn-momo-collection.swagger.json`). Amounts are decimal strings in major units; the spec's own
//! examples send numbers where the schema says strings, so answers are read leniently.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /token/` answer; `expires_in` is in seconds.
#[derive(Debug, Deserialize)]
pub struct Token {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    pub expires_in: i64,
}

/// `POST /v1_0/requesttopay` body (`RequestToPay`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestToPay<'a> {
    pub amount: String,
    pub currency: &'a str,
    pub external_id: &'a str,
    pub payer: Party<'a>,
    pub payer_message: &'a str,
    pub payee_note: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Party<'a> {
    pub party_id_type: &'a str,
    pub party_id: &'a str,
}

/// `GET /v1_0/requesttopay/{referenceId}` answer and callback body (`RequestToPayResult`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestToPayResult {
    #[serde(deserialize_with = "lenient_string")]
    pub amount: String,
    pub currency: String,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub financial_transaction_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub external_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub reason: Option<ErrorReason>,
}

/// `ErrorReason`: a code from MTN's list and a message. Some answers carry the reason as a bare string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ErrorReason {
    Full {
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    Code(String),
}

impl ErrorReason {
    pub fn code(&self) -> &str {
        match self {
            ErrorReason::Full { code, .. } | ErrorReason::Code(code) => code,
        }
    }
}

/// `GET /v1_0/accountholder/{type}/{id}/active` answer (`BooleanResult`).
#[derive(Debug, Deserialize)]
pub struct BooleanResult {
    pub result: bool,
}

/// A string field that may arrive as a JSON number.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}

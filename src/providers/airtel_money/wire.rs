//! Airtel Money's wire format. No machine-readable spec exists; this follows copies of Airtel's docs
//! cross-checked with independent integrations (`shared/providers/README.md` §4). Amounts are numbers in
//! major units; MSISDNs are national numbers without the country code.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub grant_type: &'a str,
}

/// `expires_in` arrives as the string `"180"` in Airtel's sample; seconds.
#[derive(Debug, Deserialize)]
pub struct Token {
    pub access_token: String,
    #[serde(deserialize_with = "seconds")]
    pub expires_in: u64,
}

/// `POST /merchant/v1/payments/`.
#[derive(Debug, Serialize)]
pub struct CollectRequest<'a> {
    pub reference: &'a str,
    pub subscriber: Subscriber<'a>,
    pub transaction: CollectTransaction<'a>,
}

#[derive(Debug, Serialize)]
pub struct Subscriber<'a> {
    pub country: &'a str,
    pub currency: &'a str,
    pub msisdn: &'a str,
}

#[derive(Debug, Serialize)]
pub struct CollectTransaction<'a> {
    /// A JSON number in major units, written from the exact decimal text.
    pub amount: serde_json::Number,
    pub country: &'a str,
    pub currency: &'a str,
    /// Cowry's id for the payment: Airtel's lookup key.
    pub id: &'a str,
}

/// `{data: {transaction: {...}}, status: {...}}` around every answer.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub data: Option<Data>,
    pub status: Status,
}

#[derive(Debug, Deserialize)]
pub struct Data {
    pub transaction: Transaction,
}

#[derive(Debug, Deserialize)]
pub struct Transaction {
    /// The sample initiation answer has `"id": false`: read leniently.
    #[serde(default)]
    pub id: Value,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub airtel_money_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub response_code: Option<String>,
    #[serde(default)]
    pub success: bool,
}

/// The callback: `status_code` here where the enquiry says `status`.
#[derive(Debug, Deserialize)]
pub struct Callback {
    pub transaction: CallbackTransaction,
}

#[derive(Debug, Deserialize)]
pub struct CallbackTransaction {
    pub id: String,
    #[serde(default)]
    pub message: Option<String>,
    pub status_code: String,
    #[serde(default)]
    pub airtel_money_id: Option<String>,
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n.to_string().parse().map_err(serde::de::Error::custom),
        Value::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!("expires_in: {other}"))),
    }
}

/// `GET /standard/v1/users/{msisdn}` (KYC user enquiry): `{data: {first_name, last_name, …}, status}`.
#[derive(Debug, Deserialize)]
pub struct UserEnvelope {
    #[serde(default)]
    pub data: Option<User>,
    pub status: Status,
}

#[derive(Debug, Deserialize)]
pub struct User {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub is_barred: Option<bool>,
}

/// `GET /v1/rsa/encryption-keys` answer: the RSA public key (base64 DER) and until when it is valid.
#[derive(Debug, serde::Deserialize)]
pub struct EncryptionKey {
    pub data: EncryptionKeyData,
}

#[derive(Debug, serde::Deserialize)]
pub struct EncryptionKeyData {
    pub key: String,
    #[serde(default)]
    pub valid_upto: Option<String>,
}

//! The mobile-money document's response shape: `{"success","message","payload","statusCode"}`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::currency::Currency;
use crate::domain::money::Money;
use crate::domain::time;
use crate::store::collects::{CollectRow, EventRow};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectEnvelope<T> {
    pub success: bool,
    pub message: &'static str,
    pub payload: T,
    #[schema(example = 201)]
    pub status_code: u16,
}

impl<T: Serialize> CollectEnvelope<T> {
    pub fn new(message: &'static str, payload: T, status_code: u16) -> CollectEnvelope<T> {
        CollectEnvelope {
            success: true,
            message,
            payload,
            status_code,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("views serialise")
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectView {
    #[schema(example = "e870f17f-090b-40d6-9eb0-a1d683591917")]
    pub id: String,
    /// The merchant balance the money lands in (one per merchant and currency).
    pub balance_id: String,
    /// Major units, as sent (500 UGX is `500`).
    #[schema(value_type = f64, example = 500)]
    pub amount: serde_json::Number,
    #[schema(example = "UGX")]
    pub currency: String,
    #[schema(example = "+256706859041")]
    pub payer: String,
    pub payee_note: Option<String>,
    /// The payer's network: `MTN_UG`, `AIRTEL_UG`, …
    #[schema(example = "AIRTEL_UG")]
    pub provider: String,
    pub external_id: Option<String>,
    /// `PENDING`, `SUCCESS`, `FAILED` or `ROLLED_BACK`.
    #[schema(example = "PENDING")]
    pub status: String,
    pub message: Option<String>,
    pub payer_message: Option<String>,
    /// From the provider's account-holder look-up where it has one (Airtel); otherwise null.
    pub payer_name: Option<String>,
    #[schema(example = "2025-05-20T18:55:51.336Z")]
    pub created_at: String,
}

impl From<CollectRow> for CollectView {
    fn from(row: CollectRow) -> CollectView {
        let currency = Currency::parse(row.currency.trim()).expect("stored currencies are known");
        let amount = Money::from_minor(row.amount_minor, currency)
            .major_string()
            .parse()
            .expect("a decimal string is a JSON number");
        CollectView {
            id: row.id,
            balance_id: row.balance_id,
            amount,
            currency: currency.code().to_owned(),
            payer: row.payer,
            payee_note: row.payee_note,
            provider: row.network,
            external_id: row.external_id,
            status: row.status,
            message: row.message,
            payer_message: row.payer_message,
            payer_name: row.payer_name,
            created_at: time::format(&row.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectEventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
    pub timestamp: String,
}

impl From<EventRow> for CollectEventView {
    fn from(row: EventRow) -> CollectEventView {
        CollectEventView {
            id: row.id,
            kind: row.kind,
            data: row.data.map(|d| d.0),
            timestamp: time::format(&row.created_at),
        }
    }
}

/// `GET /collections/collect`: the document's envelope with a page of payloads.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectList {
    pub success: bool,
    pub message: &'static str,
    pub payload: Vec<CollectView>,
    pub pagination: crate::http::collections::view::Pagination,
    pub status_code: u16,
}

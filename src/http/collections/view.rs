//! The collection as the integrated-collection document shows it, and the envelopes around it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::currency::Currency;
use crate::domain::money::Money;
use crate::domain::time;
use crate::store::collections::{CollectionRow, EventRef, EventRow};

/// `{"status":"success","message":…,"data":…}`, the integrated document's envelope.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    #[schema(example = "success")]
    pub status: &'static str,
    pub message: &'static str,
    pub data: T,
}

impl<T: Serialize> Envelope<T> {
    pub fn new(message: &'static str, data: T) -> Envelope<T> {
        Envelope {
            status: "success",
            message,
            data,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("views serialise")
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionView {
    #[schema(example = "pay_9fmz6170pzaih14pmyl0a49o1l")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "integrated")]
    pub kind: String,
    pub contact: ContactView,
    #[schema(example = "PSK_txn_8a7f34")]
    pub reference: String,
    pub amount: AmountView,
    /// Once anything was paid (a short transfer, or the payment that completed it): what has been paid, and
    /// what is still owed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_paid: Option<AmountView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_remaining: Option<AmountView>,
    /// pending, overdue, completed, cancelled or expired.
    #[schema(example = "pending")]
    pub status: String,
    /// The slug of the provider that serves this collection.
    #[schema(example = "paystack")]
    pub provider: String,
    /// Minutes from creation until the collection expires.
    pub expires_in: i32,
    #[serde(serialize_with = "time::serialize")]
    pub expires_at: DateTime<Utc>,
    /// When it becomes `overdue` if still unpaid (the merchant's `dueAt`, else three quarters of the
    /// way to expiry).
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>)]
    pub due_at: Option<DateTime<Utc>>,
    /// `{"enabled", "methods", "options": [...]}`; each option carries `method`, its details and `expiresAt`.
    #[schema(value_type = Object)]
    pub payable: Box<RawValue>,
    #[schema(value_type = Option<Object>)]
    pub follow_up: Option<Box<RawValue>>,
    /// As given: an object, or an array of objects.
    #[schema(value_type = Option<crate::http::openapi::MetadataRequest>)]
    pub metadata: Option<Box<RawValue>>,
    /// Oldest first.
    pub events: Vec<EventView>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    #[schema(example = "contact_gj7iyx04gs7hticrite6m6qdhc")]
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    #[schema(example = "+2348012345678")]
    pub phone: String,
    pub email: String,
}

/// Major units, exactly as stored (the JSON number's text is written, never a float).
#[derive(Serialize, ToSchema)]
pub struct AmountView {
    #[schema(value_type = f64, example = 45000)]
    pub value: serde_json::Number,
    #[schema(example = "NGN")]
    pub currency: String,
}

impl AmountView {
    pub fn new(minor: i64, currency: &str) -> AmountView {
        let value = match Currency::parse(currency) {
            Some(c) => Money::from_minor(minor, c).major_string(),
            // Only known currencies are ever stored; fall back to minor units rather than panic.
            None => minor.to_string(),
        };
        AmountView {
            value: value.parse().expect("a decimal string is a JSON number"),
            currency: currency.to_owned(),
        }
    }
}

impl From<CollectionRow> for CollectionView {
    fn from(row: CollectionRow) -> CollectionView {
        let paid = row.amount_paid_minor;
        CollectionView {
            amount: AmountView::new(row.amount_minor, &row.currency),
            amount_paid: (paid > 0).then(|| AmountView::new(paid, &row.currency)),
            amount_remaining: (paid > 0)
                .then(|| AmountView::new((row.amount_minor - paid).max(0), &row.currency)),
            id: row.id,
            kind: row.kind,
            contact: ContactView {
                id: row.contact.contact_id,
                first_name: row.contact.first_name,
                last_name: row.contact.last_name,
                phone: row.contact.phone,
                email: row.contact.email,
            },
            reference: row.reference,
            status: row.status,
            provider: row.provider,
            expires_in: row.expires_in,
            expires_at: row.expires_at,
            due_at: row.due_at,
            payable: row.payable.0,
            follow_up: row.follow_up.map(|j| j.0),
            metadata: row.metadata.map(|j| j.0),
            events: row.events.into_iter().map(EventView::from).collect(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
        }
    }
}

/// An event: as an object lists it (no `data`), or as `GET /collections/{id}/events` shows it.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    #[schema(example = "evt_5kk2yo9288or4ne0tvoef09303")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "collection.created")]
    pub kind: String,
    #[serde(serialize_with = "time::serialize")]
    pub timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

impl From<EventRef> for EventView {
    fn from((id, kind, timestamp): EventRef) -> EventView {
        EventView {
            id,
            kind,
            timestamp,
            data: None,
        }
    }
}

impl From<EventRow> for EventView {
    fn from(row: EventRow) -> EventView {
        EventView {
            id: row.id,
            kind: row.kind,
            timestamp: row.created_at,
            data: row.data.map(|j| j.0),
        }
    }
}

/// `GET /collections`: a page of collections, newest first.
#[derive(Serialize, ToSchema)]
pub struct ListEnvelope {
    #[schema(example = "success")]
    pub status: &'static str,
    pub message: &'static str,
    pub data: Vec<ListItem>,
    pub pagination: Pagination,
}

/// One collection in a list: integrated (the integrated document's shape) or scheduled (the
/// scheduled document's `data` shape).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ListItem {
    Integrated(CollectionView),
    Scheduled(crate::http::scheduled::view::ScheduledView),
}

impl ListItem {
    pub fn created_at(&self) -> (DateTime<Utc>, &str) {
        match self {
            ListItem::Integrated(c) => (c.created_at, &c.id),
            ListItem::Scheduled(s) => (s.created_at, &s.id),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub limit: i64,
    pub has_more: bool,
    /// Pass as `cursor` to fetch the next page; null on the last page.
    pub next_cursor: Option<String>,
}

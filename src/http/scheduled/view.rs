//! A scheduled collection as the scheduled-collection document shows it (`{"success": true, "data"}`,
//! amounts as minor-unit strings, UTC `Z` times), with what Cowry adds: the consent URL, the
//! installments and the debits made.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::time;
use crate::http::collections::view::EventView;
use crate::store::scheduled::{DebitRef, InstallmentRef, ScheduledRow};

/// `{"success": true, "data": …}`, the scheduled document's envelope.
#[derive(Serialize, ToSchema)]
pub struct ScheduledEnvelope<T> {
    pub success: bool,
    pub data: T,
}

impl<T: Serialize> ScheduledEnvelope<T> {
    pub fn new(data: T) -> ScheduledEnvelope<T> {
        ScheduledEnvelope {
            success: true,
            data,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("views serialise")
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledView {
    #[schema(example = "pay_9fmz6170pzaih14pmyl0a49o1l")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "scheduled")]
    pub kind: &'static str,
    /// Whether the mandate can be debited (the provider reported it active).
    pub is_consented: bool,
    pub collection: MandateView,
    /// The page where the customer consents (`{COWRY_PUBLIC_URL}/consent/{loanLinkToken}`).
    pub consent_url: String,
    /// `none`, `requested` (sent to the provider), `authorized` (approved; the bank has not activated
    /// it yet) or `active`.
    #[schema(example = "none")]
    pub consent_stage: String,
    /// How the customer consents or consented: `direct_debit` (a bank account mandate) or `card` (a
    /// card's reusable authorization, proved by a small charge that is refunded).
    #[schema(example = "direct_debit")]
    pub consent_rail: String,
    #[schema(example = "NGN")]
    pub currency: String,
    #[schema(example = "paystack")]
    pub provider: String,
    #[schema(example = "Africa/Lagos")]
    pub time_zone: String,
    pub agent_id: Option<String>,
    pub contact: Option<ContactItem>,
    /// The installments planned so far, the latest 20 (a recurring schedule is written a few
    /// installments ahead).
    pub installments: Vec<InstallmentItem>,
    /// The debits made, the latest 20.
    pub debits: Vec<DebitItem>,
    /// The latest 20 events; all of them are at `GET /collections/{id}/events`.
    pub events: Vec<EventView>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactItem {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallmentItem {
    #[serde(serialize_with = "time::serialize")]
    pub date: DateTime<Utc>,
    /// Minor units, as a string.
    #[schema(example = "10000")]
    pub amount: String,
    /// scheduled, processing, paid, failed or cancelled.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

impl From<InstallmentRef> for InstallmentItem {
    fn from((date, amount, status, attempts, last_error): InstallmentRef) -> InstallmentItem {
        InstallmentItem {
            date,
            amount: amount.to_string(),
            status,
            attempts,
            last_error,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DebitItem {
    #[schema(example = "dbt_0bd7kq3v8m1x2c4n5p6r7s8t9u")]
    pub id: String,
    pub reference: String,
    /// Minor units, as a string.
    #[schema(example = "10000")]
    pub amount: String,
    /// pending, succeeded, failed or unknown.
    pub status: String,
    /// `hard` or `soft`, once failed.
    pub failure_class: Option<String>,
    pub failure_reason: Option<String>,
    /// The installment it pays (none for a merchant's own debit).
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>)]
    pub installment_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<DebitRef> for DebitItem {
    fn from(
        (
            id,
            reference,
            amount,
            status,
            failure_class,
            failure_reason,
            installment_date,
            created_at,
        ): DebitRef,
    ) -> DebitItem {
        DebitItem {
            id,
            reference,
            amount: amount.to_string(),
            status,
            failure_class,
            failure_reason,
            installment_date,
            created_at,
        }
    }
}

/// The document's `collection` object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MandateView {
    #[schema(example = "600")]
    pub max_amount: String,
    #[serde(serialize_with = "time::serialize")]
    pub expiry_date: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub start_date: DateTime<Utc>,
    #[schema(example = "600")]
    pub monthly_limit: String,
    /// `{type, frequency, entries: [{date, amount}], amount}`
    #[schema(value_type = Object)]
    pub schedule: Value,
    pub reference: String,
    /// NOT_STARTED, ACTIVE, COMPLETED, EXPIRED, CANCELLED or REVOKED.
    #[schema(example = "NOT_STARTED")]
    pub status: String,
    #[serde(serialize_with = "time::serialize_opt")]
    pub last_collected_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub next_collection_at: Option<DateTime<Utc>>,
    #[schema(example = "MERCHANT")]
    pub debit_type: String,
    pub loan_link_token: String,
}

impl From<ScheduledRow> for ScheduledView {
    fn from(full: ScheduledRow) -> ScheduledView {
        let row = full.mandate;
        let contact = row.contact_id.map(|id| ContactItem {
            id,
            first_name: row.first_name,
            last_name: row.last_name,
            phone: row.phone,
            email: row.email,
        });
        // Until consent, the next collection is the schedule's start (as the document shows it).
        let next = match row.status.as_str() {
            "NOT_STARTED" => row.next_collection_at.or(Some(row.start_at)),
            _ => row.next_collection_at,
        };
        ScheduledView {
            is_consented: row.consent_stage == "active",
            collection: MandateView {
                max_amount: row.maximum_minor.to_string(),
                expiry_date: row.expires_at,
                start_date: row.start_at,
                monthly_limit: row.monthly_limit_minor.to_string(),
                schedule: row.schedule.0,
                reference: row.reference,
                status: row.status,
                last_collected_at: row.last_collected_at,
                next_collection_at: next,
                debit_type: row.debit_type,
                loan_link_token: row.token,
            },
            id: row.id,
            kind: "scheduled",
            consent_url: row.consent_url,
            consent_stage: row.consent_stage,
            consent_rail: row.consent_rail,
            currency: row.currency.trim().to_owned(),
            provider: row.provider,
            time_zone: row.time_zone,
            agent_id: row.agent_id,
            contact,
            installments: full
                .installments
                .into_iter()
                .map(InstallmentItem::from)
                .collect(),
            debits: full.debits.into_iter().map(DebitItem::from).collect(),
            events: full.events.into_iter().map(EventView::from).collect(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

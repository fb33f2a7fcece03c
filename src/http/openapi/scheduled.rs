//! Request schemas for scheduled collections (`spec/scheduled-collection.txt`), for the OpenAPI
//! document only: requests are read by `domain::scheduled`, which names every bad field.

#![allow(dead_code)]

use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::collections::view::{CollectionView, Envelope};
use crate::http::scheduled::view::{ScheduledEnvelope, ScheduledView};

/// `POST /collections`: an integrated collection, or a scheduled one (a body with `schedule` or
/// `debitType`, or `type: "scheduled"`).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CreateRequest {
    Integrated(super::CreateCollectionRequest),
    Scheduled(ScheduledCollectionRequest),
}

/// As the scheduled-collection document, with Cowry's optional extensions.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledCollectionRequest {
    /// "scheduled" (optional: `schedule` or `debitType` says so).
    #[serde(rename = "type")]
    #[schema(example = "scheduled", pattern = "^scheduled$")]
    kind: Option<String>,
    /// The most one debit may take, in minor units (kobo), as a string.
    #[schema(example = "600", pattern = "^[0-9]{1,14}$")]
    maximum_amount: String,
    /// MERCHANT: you trigger each debit (`POST /collections/{id}/debit`); MONA: the schedule runs by itself.
    #[schema(example = "MERCHANT", pattern = "^(MERCHANT|MONA)$")]
    debit_type: String,
    /// A date-time; without an offset it is read in `timeZone` (default: your zone, Africa/Lagos).
    #[schema(example = "2027-05-22T05:43:00", min_length = 10, max_length = 40)]
    start_date: String,
    /// After `startDate`, and in the future.
    #[schema(example = "2027-06-19T08:42:00", min_length = 10, max_length = 40)]
    expiry_date: String,
    /// Unique within your account (at most 128 characters, no control characters).
    #[schema(
        example = "loan-42",
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    reference: String,
    schedule: ScheduleRequest,
    #[schema(
        example = "507f1f77bcf86cd799439011",
        max_length = 64,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    agent_id: Option<String>,
    contact: Option<super::requests::ContactRequest>,
    /// A paystack (direct debit) or mona account from your providers list.
    #[schema(
        example = "paystack",
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    provider: Option<String>,
    /// Most debited in one calendar month (minor units); default `maximumAmount`.
    #[schema(example = "600", pattern = "^[0-9]{1,14}$")]
    monthly_limit: Option<String>,
    /// IANA time zone for dates without an offset and for calendar months.
    #[schema(example = "Africa/Lagos", max_length = 64)]
    time_zone: Option<String>,
    /// ISO 4217; default NGN (direct debit is naira only).
    #[schema(example = "NGN", pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
}

/// SCHEDULED: dated `entries`, a recurring `frequency` with `amount`, or both; SUBSCRIPTION: the
/// recurring part only.
#[derive(Deserialize, ToSchema)]
pub struct ScheduleRequest {
    #[serde(rename = "type")]
    #[schema(example = "SCHEDULED", pattern = "^(SCHEDULED|SUBSCRIPTION)$")]
    kind: String,
    #[schema(
        example = "WEEKLY",
        pattern = "^(DAILY|WEEKLY|BIWEEKLY|MONTHLY|QUARTERLY|YEARLY)$"
    )]
    frequency: Option<String>,
    /// Minor units per recurring debit, with `frequency`.
    #[schema(example = "500", pattern = "^[0-9]{1,14}$")]
    amount: Option<String>,
    #[schema(max_items = 366)]
    entries: Option<Vec<EntryRequest>>,
}

#[derive(Deserialize, ToSchema)]
pub struct EntryRequest {
    #[schema(example = "2027-05-22T05:43:00", min_length = 10, max_length = 40)]
    date: String,
    #[schema(example = "200", pattern = "^[0-9]{1,14}$")]
    amount: String,
}

/// `POST /collections/{id}/debit`.
#[derive(Deserialize, ToSchema)]
pub struct DebitRequest {
    /// Minor units, as a string: at most `maximumAmount`, and within the month's limit.
    #[schema(example = "50000", pattern = "^[0-9]{1,14}$")]
    amount: String,
    /// Unique within the collection; default: one Cowry makes.
    #[schema(
        example = "june-installment",
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    reference: Option<String>,
}

/// The answer for one collection: the integrated document's envelope, or the scheduled one's.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum CollectionAnswer {
    Integrated(Envelope<CollectionView>),
    Scheduled(ScheduledEnvelope<ScheduledView>),
}

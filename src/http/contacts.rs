//! `/contacts`: the merchant's customers. A contact is made by the first collection for its phone (the
//! identity, E.164) and holds that customer's history with the merchant: collections, mobile-money
//! collects (by the same phone), follow-up consent and opt-outs.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::collections::view::{Envelope, Pagination};
use super::extract::{JsonBody, Merchant};
use super::listing;
use crate::domain::collection::CHANNELS;
use crate::domain::currency::Currency;
use crate::domain::money::Money;
use crate::domain::phone::Phone;
use crate::domain::time;
use crate::domain::validate::{self as v, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::store::contacts::{
    self as store, ContactChange, ContactFilter, ContactRecord, HistoryLine,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list))
        .route("/contacts/{id}", get(fetch).patch(update))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetails {
    #[schema(example = "contact_3kq9…")]
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    /// E.164: the contact's identity.
    pub phone: String,
    pub email: String,
    /// whatsapp, sms or email: put first by Cowry's follow-up plans when it can reach them there.
    pub preferred_channel: Option<String>,
    /// BCP 47 (`en`, `fr`, `yo`); follow-ups are written in English until a template set exists for it.
    pub language: Option<String>,
    /// `{channel, source, at}` when the customer agreed to WhatsApp messages.
    #[schema(value_type = Option<Object>)]
    pub whatsapp_opt_in: Option<Value>,
    /// Channels the customer opted out of.
    pub opted_out: Vec<String>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    /// `GET /contacts/{id}` only: the latest 20 collections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collections: Option<Vec<HistoryItem>>,
    /// `GET /contacts/{id}` only: the latest 20 mobile-money collects from this phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collects: Option<Vec<HistoryItem>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub id: String,
    /// integrated, scheduled or collect.
    #[serde(rename = "type")]
    pub kind: String,
    pub reference: Option<String>,
    /// Minor units, as a string.
    pub amount: String,
    pub currency: String,
    /// Shown as `NGN 45,000.00`.
    pub display_amount: String,
    pub status: String,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<HistoryLine> for HistoryItem {
    fn from(l: HistoryLine) -> HistoryItem {
        HistoryItem {
            display_amount: Currency::parse(l.currency.trim())
                .map(|c| Money::from_minor(l.amount_minor, c).display())
                .unwrap_or_default(),
            id: l.id,
            kind: l.kind,
            reference: l.reference,
            amount: l.amount_minor.to_string(),
            currency: l.currency.trim().to_owned(),
            status: l.status,
            created_at: l.created_at,
        }
    }
}

impl From<ContactRecord> for ContactDetails {
    fn from(c: ContactRecord) -> ContactDetails {
        ContactDetails {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            phone: c.phone,
            email: c.email,
            preferred_channel: c.preferred_channel,
            language: c.language,
            whatsapp_opt_in: c.whatsapp_opt_in.map(|j| j.0),
            opted_out: c.opted_out,
            created_at: c.created_at,
            updated_at: c.updated_at,
            collections: None,
            collects: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactList {
    pub success: bool,
    pub status: &'static str,
    pub message: &'static str,
    pub data: Vec<ContactDetails>,
    pub pagination: Pagination,
}

fn not_found() -> ApiError {
    ApiError::NotFound("no contact with this id".to_owned())
}

/// The merchant's contacts, newest first.
#[utoipa::path(get, path = "/contacts", tag = "contacts",
    params(
        ("phone" = Option<String>, Query, description = "Exactly this phone (any format that parses to the E.164 number)"),
        ("email" = Option<String>, Query, max_length = 320, description = "Exactly this email, case-insensitively"),
        ("name" = Option<String>, Query, max_length = 100, description = "Part of \"first last\", case-insensitively"),
        ("createdFrom" = Option<String>, Query), ("createdTo" = Option<String>, Query),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, min_length = 1),
    ),
    responses((status = 200, body = ContactList), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ContactList>> {
    let query = listing::read_query(query)?;
    let mut errors = FieldErrors::default();
    let phone = listing::text(&query, "phone").and_then(|p| match Phone::parse(&p) {
        Ok(phone) => Some(phone.e164().to_owned()),
        Err(why) => {
            errors.add("phone", why);
            None
        }
    });
    let email = listing::text(&query, "email");
    let name = listing::text(&query, "name");
    // The raw values: what the schema's limits speak of.
    for (key, max) in [("email", 320), ("name", 100)] {
        if query
            .get(key)
            .is_some_and(|v| v.chars().count() > max || v.chars().any(char::is_control))
        {
            errors.add(
                key,
                format!("must be at most {max} characters, without control characters"),
            );
        }
    }
    let page = listing::parse_page(&query, &mut errors);
    let mut filter = errors
        .finish(|| ContactFilter {
            phone,
            email,
            name,
            page,
        })
        .map_err(ApiError::Validation)?;
    let limit = filter.page.limit;
    filter.page.limit += 1;
    let rows = store::list(&state.pool, &merchant.merchant_id, &filter).await?;
    let (rows, has_more, next_cursor) = listing::cut(rows, limit, |r| (r.created_at, &r.id));
    Ok(Json(ContactList {
        success: true,
        status: "success",
        message: "Contacts retrieved successfully",
        data: rows.into_iter().map(ContactDetails::from).collect(),
        pagination: Pagination {
            limit,
            has_more,
            next_cursor,
        },
    }))
}

/// One contact, with its latest collections and mobile-money collects.
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ContactDetails>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<ContactDetails>>> {
    if !crate::domain::ids::looks_like(&id, "contact") {
        return Err(not_found());
    }
    let record = store::get(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    let (collections, collects) =
        store::history(&state.pool, &merchant.merchant_id, &id, &record.phone, 20).await?;
    let mut details = ContactDetails::from(record);
    details.collections = Some(collections.into_iter().map(HistoryItem::from).collect());
    details.collects = Some(collects.into_iter().map(HistoryItem::from).collect());
    Ok(Json(Envelope::new(
        "Contact retrieved successfully",
        details,
    )))
}

/// Change a contact: names, email, phone (refused with 409 `duplicate_phone` when another contact has
/// it), preferred channel, language (`null` clears the last two).
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path)),
    request_body(content = Object, description = r#"{"firstName", "lastName", "email", "phone", "preferredChannel": "whatsapp|sms|email|null", "language": "en|null"}"#),
    responses((status = 200, body = Envelope<ContactDetails>), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Envelope<ContactDetails>>> {
    if !crate::domain::ids::looks_like(&id, "contact") {
        return Err(not_found());
    }
    let change = parse_change(&body.value).map_err(ApiError::Validation)?;
    let record = store::update(&state.pool, &merchant.merchant_id, &id, &change)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(Envelope::new(
        "Contact updated successfully",
        ContactDetails::from(record),
    )))
}

const FIELDS: [&str; 6] = [
    "firstName",
    "lastName",
    "email",
    "phone",
    "preferredChannel",
    "language",
];

fn parse_change(body: &Value) -> Result<ContactChange, Vec<crate::domain::validate::FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(body) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return errors.finish(ContactChange::default);
    };
    for key in body.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.add(
            key,
            format!("cannot be changed (you can change: {})", FIELDS.join(", ")),
        );
    }
    let first_name = v::string(body, "firstName", "", 100, false, &mut errors);
    let last_name = v::string(body, "lastName", "", 100, false, &mut errors);
    let email = v::string(body, "email", "", 320, false, &mut errors);
    if email
        .as_deref()
        .is_some_and(|e| !email_address::EmailAddress::is_valid(e))
    {
        errors.add("email", "must be a valid email address");
    }
    let phone =
        v::string(body, "phone", "", 32, false, &mut errors).and_then(|p| match Phone::parse(&p) {
            Ok(phone) => Some(phone.e164().to_owned()),
            Err(why) => {
                errors.add("phone", why);
                None
            }
        });
    let preferred_channel = match v::get(body, "preferredChannel") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => v::one_of(body, "preferredChannel", "", &CHANNELS, &mut errors)
            .map(|c| Some(c.to_owned())),
    };
    let language = match v::get(body, "language") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(tag))
            if (2..=35).contains(&tag.len())
                && tag.split('-').all(|part| {
                    (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
                })
                && tag
                    .split('-')
                    .next()
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_alphabetic())) =>
        {
            Some(Some(tag.to_ascii_lowercase()))
        }
        Some(_) => {
            errors.add(
                "language",
                "must be a BCP 47 language tag such as en, fr or pt-BR, or null",
            );
            None
        }
    };
    if body.is_empty() {
        errors.add(
            "body",
            format!("must change at least one of: {}", FIELDS.join(", ")),
        );
    }
    errors.finish(|| ContactChange {
        first_name,
        last_name,
        email,
        phone,
        preferred_channel,
        language,
    })
}

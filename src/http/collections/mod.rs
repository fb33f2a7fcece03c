//! `/collections`: create (integrated), fetch, list, cancel, events.

pub mod view;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use self::view::{CollectionView, Envelope, EventView, ListEnvelope, Pagination};
use super::extract::{IdempotencyKey, JsonBody, Merchant};
use super::idempotent;
use crate::domain::collection::{Status, TYPES};
use crate::domain::ids::new_id;
use crate::domain::integrated::{self, NewCollection};
use crate::domain::time;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::providers::{OptionsRequest, PaymentProvider, ProviderError};
use crate::store::collections::{
    self as store, CollectionRow, ListFilter, NewCollectionRow, Transition,
};
use crate::store::merchants::MerchantContext;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collections", post(create).get(list))
        .route("/collections/{id}", get(fetch))
        .route("/collections/{id}/cancel", post(cancel))
        .route("/collections/{id}/events", get(events))
}

const MAX_PAGE: i64 = 100;
const DEFAULT_PAGE: i64 = 20;

/// Create an integrated collection.
#[utoipa::path(post, path = "/collections", tag = "collections",
    request_body(content = crate::http::openapi::CreateCollectionRequest, description = "As the integrated-collection document"),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$",
        description = "Replays the saved response for the same key and body")),
    responses(
        (status = 201, description = "Created", body = Envelope<CollectionView>),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::error::ErrorBody),
        (status = 415, description = "Content type is not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 409, description = "Duplicate reference or reused Idempotency-Key", body = crate::error::ErrorBody),
        (status = 422, description = "Validation failed; every bad field is listed", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody,
) -> ApiResult<Response> {
    if body
        .value
        .as_object()
        .is_some_and(integrated::is_scheduled_body)
    {
        return Err(ApiError::validation(
            "type",
            "scheduled collections are not available yet; use \"integrated\"",
        ));
    }
    let new = integrated::parse(&body.value).map_err(ApiError::Validation)?;
    let (slug, adapter) = choose_provider(&state, &merchant, &new)?;
    let fingerprint: [&[u8]; 3] = [b"POST", b"/collections", &body.raw];
    idempotent::run(
        &state.pool,
        &merchant.merchant_id,
        key.as_deref(),
        &fingerprint,
        async |conn| {
            let row = create_collection(&merchant.merchant_id, &slug, adapter.as_ref(), &new, conn)
                .await?;
            let body = Envelope::new("Collection created successfully", CollectionView::from(row))
                .to_bytes();
            Ok((StatusCode::CREATED, body))
        },
    )
    .await
}

/// The provider the collection names (or the merchant's default), checked against the merchant's
/// providers list and the adapter's declared capabilities.
fn choose_provider(
    state: &AppState,
    merchant: &MerchantContext,
    new: &NewCollection,
) -> ApiResult<(String, std::sync::Arc<dyn PaymentProvider>)> {
    let slug = new
        .provider
        .clone()
        .unwrap_or_else(|| merchant.default_provider.clone());
    let Some(kind) = merchant.provider_kind(&slug) else {
        let have: Vec<&str> = merchant.providers.iter().map(|(s, _)| s.as_str()).collect();
        return Err(ApiError::validation(
            "provider",
            format!(
                "{slug} is not in your providers list (you have: {})",
                have.join(", ")
            ),
        ));
    };
    let adapter = state.providers.get(kind).ok_or_else(|| {
        ApiError::validation(
            "provider",
            format!("{slug} is not available on this server"),
        )
    })?;
    let capabilities = adapter.capabilities();
    let mut errors = FieldErrors::default();
    let currency = new.amount.currency().code();
    if !capabilities.currencies.is_empty() && !capabilities.currencies.contains(&currency) {
        errors.add(
            "amount.currency",
            format!("{currency} is not supported by provider {slug}"),
        );
    }
    for (i, method) in new.methods.iter().enumerate() {
        if new.payable_enabled && !capabilities.methods.contains(method) {
            errors.add(
                format!("payable.methods[{i}]"),
                format!("{method} is not supported by provider {slug}"),
            );
        }
    }
    errors
        .finish(|| (slug, adapter))
        .map_err(ApiError::Validation)
}

async fn create_collection(
    merchant_id: &str,
    slug: &str,
    adapter: &dyn PaymentProvider,
    new: &NewCollection,
    conn: &mut sqlx::PgConnection,
) -> ApiResult<CollectionRow> {
    let id = new_id("pay");
    let created_at = time::now();
    let expires_at = created_at + TimeDelta::minutes(new.expires_in.into());
    let options = if new.payable_enabled {
        let request = OptionsRequest {
            reference: &new.reference,
            amount: new.amount,
            methods: &new.methods,
            first_name: &new.contact.first_name,
            last_name: &new.contact.last_name,
            email: &new.contact.email,
            phone: new.contact.phone.e164(),
            expires_at,
        };
        adapter
            .payment_options(&request)
            .await
            .map_err(provider_error)?
    } else {
        Vec::new()
    };
    let payable =
        json!({"enabled": new.payable_enabled, "methods": new.methods, "options": options});
    let event_id = new_id("evt");
    let row = NewCollectionRow {
        merchant_id,
        id: &id,
        reference: &new.reference,
        amount_minor: new.amount.minor(),
        currency: new.amount.currency().code(),
        provider: slug,
        expires_in: new.expires_in,
        expires_at,
        payable: &payable,
        follow_up: new.follow_up.as_ref(),
        metadata: new.metadata.as_ref(),
        created_at,
        event_id: &event_id,
        new_contact_id: &new_id("contact"),
        first_name: &new.contact.first_name,
        last_name: &new.contact.last_name,
        phone: new.contact.phone.e164(),
        email: &new.contact.email,
    };
    let contact = store::insert(&mut *conn, &row).await?;
    Ok(CollectionRow {
        id: id.clone(),
        kind: "integrated".to_owned(),
        reference: new.reference.clone(),
        amount_minor: new.amount.minor(),
        currency: row.currency.to_owned(),
        status: Status::Pending.as_str().to_owned(),
        provider: slug.to_owned(),
        expires_in: new.expires_in,
        expires_at,
        payable: sqlx::types::Json(payable.clone()),
        follow_up: new.follow_up.clone().map(sqlx::types::Json),
        metadata: new.metadata.clone().map(sqlx::types::Json),
        created_at,
        updated_at: created_at,
        completed_at: None,
        contact,
        events: sqlx::types::Json(vec![json!({
            "id": event_id, "type": crate::domain::collection::event::CREATED, "timestamp": time::format(&created_at)
        })]),
    })
}

fn provider_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Unsupported { .. } => ApiError::validation("payable.methods", e.to_string()),
        ProviderError::Rejected { .. } => ApiError::validation("provider", e.to_string()),
        _ => ApiError::Provider(e.to_string()),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no collection with this id".to_owned())
}

/// A path id that cannot be a collection's is a 404 without a query.
fn collection_id(id: String) -> ApiResult<String> {
    if crate::domain::ids::looks_like(&id, "pay") {
        Ok(id)
    } else {
        Err(not_found())
    }
}

/// Fetch one collection.
#[utoipa::path(get, path = "/collections/{id}", tag = "collections",
    params(("id" = String, Path, description = "Collection id (pay_…)")),
    responses((status = 200, body = Envelope<CollectionView>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<CollectionView>>> {
    let id = collection_id(id)?;
    let row = store::get(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(Envelope::new(
        "Collection retrieved successfully",
        row.into(),
    )))
}

/// List collections, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/collections", tag = "collections",
    params(
        ("status" = Option<crate::http::openapi::CollectionStatus>, Query),
        ("type" = Option<crate::http::openapi::CollectionType>, Query),
        ("reference" = Option<String>, Query),
        ("contactId" = Option<String>, Query),
        ("createdFrom" = Option<chrono::DateTime<Utc>>, Query, description = "RFC 3339, inclusive"),
        ("createdTo" = Option<chrono::DateTime<Utc>>, Query, description = "RFC 3339, inclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "pagination.nextCursor of the previous page"),
    ),
    responses((status = 200, body = ListEnvelope), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ListEnvelope>> {
    let Query(query) = query.map_err(|_| ApiError::BadRequest {
        code: "malformed_query",
        message: "the query string could not be read".to_owned(),
    })?;
    let mut filter = parse_list_query(&query).map_err(ApiError::Validation)?;
    let limit = filter.limit;
    filter.limit += 1; // one extra row tells whether another page exists
    let mut rows = store::list(&state.pool, &merchant.merchant_id, &filter).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more {
        rows.last().map(|r| encode_cursor(r.created_at, &r.id))
    } else {
        None
    };
    Ok(Json(ListEnvelope {
        status: "success",
        message: "Collections retrieved successfully",
        data: rows.into_iter().map(CollectionView::from).collect(),
        pagination: Pagination {
            limit,
            has_more,
            next_cursor,
        },
    }))
}

fn parse_list_query(
    query: &HashMap<String, String>,
) -> Result<ListFilter, Vec<crate::domain::validate::FieldError>> {
    let mut errors = FieldErrors::default();
    let text = |key: &str| {
        query
            .get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let status = text("status");
    if let Some(s) = &status {
        if Status::parse(s).is_none() {
            errors.add(
                "status",
                format!("must be one of: {}", Status::ALL.join(", ")),
            );
        }
    }
    let kind = text("type");
    if kind.as_ref().is_some_and(|k| !TYPES.contains(&k.as_str())) {
        errors.add("type", format!("must be one of: {}", TYPES.join(", ")));
    }
    let mut instant = |key: &str| {
        let value = text(key)?;
        match DateTime::parse_from_rfc3339(&value) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                errors.add(
                    key,
                    "must be an RFC 3339 timestamp, e.g. 2025-11-12T17:46:07Z",
                );
                None
            }
        }
    };
    let created_from = instant("createdFrom");
    let created_to = instant("createdTo");
    let limit = match text("limit") {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                errors.add(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                );
                DEFAULT_PAGE
            }
        },
    };
    let after = text("cursor").and_then(|c| {
        let decoded = decode_cursor(&c);
        if decoded.is_none() {
            errors.add("cursor", "is not a cursor this API returned");
        }
        decoded
    });
    let reference = text("reference");
    let contact_id = text("contactId");
    for (key, value) in [("reference", &reference), ("contactId", &contact_id)] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().any(char::is_control))
        {
            errors.add(key, "must not contain control characters");
        }
    }
    errors.finish(|| ListFilter {
        status,
        kind,
        reference,
        contact_id,
        created_from,
        created_to,
        after,
        limit,
    })
}

/// A cursor is the last row's position in list order: `<created_at µs>.<id>`.
fn encode_cursor(created_at: DateTime<Utc>, id: &str) -> String {
    format!("{}.{id}", created_at.timestamp_micros())
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = cursor.split_once('.')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    (!id.is_empty() && id.len() <= 64).then(|| (at, id.to_owned()))
}

/// Cancel a pending or overdue collection.
#[utoipa::path(post, path = "/collections/{id}/cancel", tag = "collections",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$")),
    responses(
        (status = 400, description = "Malformed Idempotency-Key", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 200, body = Envelope<CollectionView>),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The collection is already completed, cancelled or expired", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = collection_id(id)?;
    let merchant_id = merchant.merchant_id.as_str();
    let path = format!("/collections/{id}/cancel");
    let fingerprint: [&[u8]; 2] = [Method::POST.as_str().as_bytes(), path.as_bytes()];
    idempotent::run(
        &state.pool,
        merchant_id,
        key.as_deref(),
        &fingerprint,
        async |conn| {
            match store::cancel(&mut *conn, merchant_id, &id, &new_id("evt"), time::now()).await? {
                Transition::Done => {}
                Transition::NotFound => return Err(not_found()),
                Transition::Terminal(status) => {
                    return Err(ApiError::Conflict {
                        code: "invalid_state",
                        message: format!(
                            "the collection is {status} and can no longer be cancelled"
                        ),
                    })
                }
            }
            let row = store::get(&mut *conn, merchant_id, &id)
                .await?
                .ok_or_else(not_found)?;
            let body = Envelope::new(
                "Collection cancelled successfully",
                CollectionView::from(row),
            )
            .to_bytes();
            Ok((StatusCode::OK, body))
        },
    )
    .await
}

/// A collection's event history, oldest first.
#[utoipa::path(get, path = "/collections/{id}/events", tag = "collections",
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Vec<EventView>>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<Vec<EventView>>>> {
    let id = collection_id(id)?;
    let rows = store::events(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(Envelope::new(
        "Events retrieved successfully",
        rows.into_iter().map(EventView::from).collect(),
    )))
}

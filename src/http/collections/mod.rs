//! `/collections`: create (integrated), fetch, list, cancel, events.

mod claimed;
pub mod create;
pub mod learned;
pub mod prompt;
pub mod view;

pub use create::create;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use self::view::{CollectionView, Envelope, EventView, ListEnvelope, ListItem, Pagination};
use super::extract::{IdempotencyKey, Merchant};
use super::idempotent;
use super::listing;
use crate::domain::collection::{Status, TYPES};
use crate::domain::ids::new_id;
use crate::domain::scheduled;
use crate::domain::time;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::scheduled::view::{ScheduledEnvelope, ScheduledView};
use crate::store::collections::{self as store, ListFilter, Transition};
use crate::store::scheduled as scheduled_store;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collections", post(create).get(list))
        .route("/collections/{id}", get(fetch))
        .route("/collections/{id}/cancel", post(cancel))
        .route("/collections/{id}/events", get(events))
        .route("/collections/{id}/debit", post(debit))
        .route("/collections/{id}/prompt", post(prompt::prompt))
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
    responses((status = 200, description = "An integrated collection (`{status, message, data}`) or a scheduled one \
                                             (`{success, data}`, as the scheduled document shows it)",
        body = crate::http::openapi::CollectionAnswer),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = collection_id(id)?;
    let key = (merchant.merchant_id.clone(), id.clone());
    if let Some(row) = state.reads.submit(key).await? {
        let body = Envelope::new(
            "Collection retrieved successfully",
            CollectionView::from(row),
        );
        return Ok(axum::response::IntoResponse::into_response(Json(body)));
    }
    let row = scheduled_store::get(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(axum::response::IntoResponse::into_response(Json(
        ScheduledEnvelope::new(ScheduledView::from(row)),
    )))
}

/// List collections, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/collections", tag = "collections",
    params(
        ("status" = Option<crate::http::openapi::CollectionStatus>, Query),
        ("type" = Option<crate::http::openapi::CollectionType>, Query),
        ("reference" = Option<String>, Query, min_length = 1, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("contactId" = Option<String>, Query, min_length = 1, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("createdFrom" = Option<chrono::DateTime<Utc>>, Query, description = "RFC 3339, inclusive"),
        ("createdTo" = Option<chrono::DateTime<Utc>>, Query, description = "RFC 3339, inclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, min_length = 1, description = "pagination.nextCursor of the previous page"),
    ),
    responses((status = 200, body = ListEnvelope), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ListEnvelope>> {
    let query = listing::read_query(query)?;
    let mut filter = parse_list_query(&query).map_err(ApiError::Validation)?;
    let limit = filter.page.limit;
    filter.page.limit += 1; // one extra row tells whether another page exists
                            // Each type's status words are its own, so a status names one type's rows.
    let scheduled_status = filter
        .status
        .as_deref()
        .map(|s| scheduled::STATUSES.contains(&s));
    let kind = filter.kind.clone();
    let mut items: Vec<ListItem> = Vec::new();
    if kind.as_deref() != Some("scheduled") && scheduled_status != Some(true) {
        let rows = store::list(&state.pool, &merchant.merchant_id, &filter).await?;
        items.extend(rows.into_iter().map(|r| ListItem::Integrated(r.into())));
    }
    if kind.as_deref() != Some("integrated") && scheduled_status != Some(false) {
        let rows = scheduled_store::list(&state.pool, &merchant.merchant_id, &filter).await?;
        items.extend(rows.into_iter().map(|r| ListItem::Scheduled(r.into())));
    }
    // Both halves are newest first after the same cursor: merged, the first `limit + 1` are the page.
    items.sort_by(|a, b| b.created_at().cmp(&a.created_at()));
    items.truncate(filter.page.limit as usize);
    let (items, has_more, next_cursor) = listing::cut(items, limit, |item| {
        let (at, id) = item.created_at();
        (at, id)
    });
    Ok(Json(ListEnvelope {
        status: "success",
        message: "Collections retrieved successfully",
        data: items,
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
    let text = |key: &str| listing::text(query, key);
    let status = text("status");
    if let Some(s) = &status {
        if Status::parse(s).is_none() && !scheduled::STATUSES.contains(&s.as_str()) {
            errors.add(
                "status",
                format!(
                    "must be one of: {} (integrated) or {} (scheduled)",
                    Status::ALL.join(", "),
                    scheduled::STATUSES.join(", ")
                ),
            );
        }
    }
    let kind = text("type");
    if kind.as_ref().is_some_and(|k| !TYPES.contains(&k.as_str())) {
        errors.add("type", format!("must be one of: {}", TYPES.join(", ")));
    }
    let page = listing::parse_page(query, &mut errors);
    let reference = text("reference");
    let contact_id = text("contactId");
    for key in ["reference", "contactId"] {
        // The raw value: a control character at either end is refused, not trimmed away.
        if query
            .get(key)
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
        page,
    })
}

/// Cancel a pending or overdue collection, or a scheduled collection (its mandate is deactivated at the
/// provider and future debits stop); the answer is the collection in its own type's shape.
#[utoipa::path(post, path = "/collections/{id}/cancel", tag = "collections",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$")),
    responses(
        (status = 400, description = "Malformed Idempotency-Key", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 200, description = "The integrated or the scheduled envelope",
            body = crate::http::openapi::CollectionAnswer),
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
    if scheduled_store::is_scheduled(&state.pool, merchant_id, &id).await? {
        return crate::http::scheduled::cancel::cancel(&state, &merchant, key.as_deref(), &id)
            .await;
    }
    let path = format!("/collections/{id}/cancel");
    let fingerprint: [&[u8]; 2] = [Method::POST.as_str().as_bytes(), path.as_bytes()];
    let keyed = idempotent::Keyed {
        merchant_id,
        key: key.as_deref(),
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    idempotent::run(
        &state.pool,
        keyed,
        async || Ok(()),
        async |conn, ()| {
            match store::cancel(&mut *conn, merchant_id, &id, &new_id("evt"), time::now()).await? {
                Transition::Done => {
                    crate::events::publish(
                        &mut *conn,
                        merchant_id,
                        crate::events::Object::Collection(&id),
                    )
                    .await?;
                }
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

/// A merchant-triggered debit of a consented scheduled collection (`debitType: MERCHANT`).
#[utoipa::path(post, path = "/collections/{id}/debit", tag = "scheduled collections",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$",
        description = "Replays the saved response; a retry after the debit was claimed answers with that debit")),
    request_body(content = crate::http::openapi::DebitRequest),
    responses(
        (status = 201, description = "Charged (status succeeded, pending, failed, or unknown while Cowry asks the provider)",
            body = ScheduledEnvelope<crate::http::scheduled::debit::DebitView>),
        (status = 400, description = "Malformed JSON", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "Not ACTIVE, a MONA schedule, a repeated reference, or a reused Idempotency-Key", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid body, or `limit_exceeded` naming maximumAmount, monthlyLimit or frequency", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn debit(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let id = collection_id(id)?;
    crate::http::scheduled::debit::create(&state, &merchant, key.as_deref(), &id, &body).await
}

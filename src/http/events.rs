//! `GET /events` and `GET /events/{id}`: the merchant's event stream, for merchants who pull. The same
//! payloads webhooks deliver, in one order across collections, collects and the account; the cursor
//! can be followed forever (an empty page keeps the cursor, to poll again later).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::Merchant;
use super::listing;
use crate::domain::events::CATALOGUE;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::store::events::{self as store, EventFilter};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list))
        .route("/events/{id}", get(fetch))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    #[schema(example = "success")]
    pub status: &'static str,
    pub message: &'static str,
    #[schema(value_type = Vec<crate::http::openapi::EventPayload>)]
    pub data: Vec<Value>,
    pub pagination: StreamPosition,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamPosition {
    pub limit: i64,
    /// Whether more events are there now; when false, poll later with `nextCursor`.
    pub has_more: bool,
    /// Where this page ended: pass it as `cursor` (kept as given when the page is empty).
    pub next_cursor: Option<String>,
}

/// The merchant's events in stream order (oldest first), from the start or after `cursor`.
#[utoipa::path(get, path = "/events", tag = "events",
    params(
        ("type" = Option<String>, Query, min_length = 1, description = "One or more event types, comma-separated"),
        ("createdFrom" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive"),
        ("createdTo" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, min_length = 1, description = "pagination.nextCursor of the previous page"),
    ),
    responses((status = 200, body = EventList), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EventList>> {
    let query = listing::read_query(query)?;
    let mut errors = FieldErrors::default();
    let types: Vec<String> = listing::text(&query, "type")
        .map(|t| t.split(',').map(|t| t.trim().to_owned()).collect())
        .unwrap_or_default();
    if let Some(bad) = types
        .iter()
        .find(|t| !CATALOGUE.iter().any(|(known, _)| known == t))
    {
        let bad: String = bad.chars().filter(|c| !c.is_control()).take(60).collect();
        errors.add(
            "type",
            format!("{bad} is not an event type (see the catalogue)"),
        );
    }
    let page = listing::parse_page_bounds(&query, &mut errors);
    let limit = listing::limit(&query, &mut errors);
    let cursor = listing::text(&query, "cursor");
    let after = cursor.as_deref().and_then(|c| {
        let decoded = decode(c);
        if decoded.is_none() {
            errors.add("cursor", "is not a cursor this API returned");
        }
        decoded
    });
    let filter = errors
        .finish(|| EventFilter {
            types,
            created_from: page.0,
            created_to: page.1,
            after,
            limit: limit + 1,
        })
        .map_err(ApiError::Validation)?;
    let mut rows = store::list(&state.pool, &merchant.merchant_id, &filter).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = rows
        .last()
        .map(|r| format!("{}.{}", r.xid, r.stream_seq))
        .or(cursor);
    Ok(Json(EventList {
        status: "success",
        message: "Events retrieved successfully",
        data: rows.iter().map(crate::events::payload_of).collect(),
        pagination: StreamPosition {
            limit,
            has_more,
            next_cursor,
        },
    }))
}

fn decode(cursor: &str) -> Option<(String, i64)> {
    let (xid, seq) = cursor.split_once('.')?;
    let xid: u64 = xid.parse().ok()?;
    Some((xid.to_string(), seq.parse().ok()?))
}

/// One event, as delivered.
#[utoipa::path(get, path = "/events/{id}", tag = "events",
    params(("id" = String, Path, description = "evt_…")),
    responses((status = 200, body = crate::http::openapi::EventPayload), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !crate::domain::ids::looks_like(&id, "evt") {
        return Err(ApiError::NotFound("no event with this id".to_owned()));
    }
    let row = store::get(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no event with this id".to_owned()))?;
    Ok(Json(crate::events::payload_of(&row)))
}

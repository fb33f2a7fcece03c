//! `/webhook-endpoints`: where a merchant wants its events pushed, the deliveries to each, retries,
//! replays and a test ping. Signing secrets (`whsec_…`) are shown once, when made or rotated, and
//! stored sealed like provider credentials.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::collections::view::Envelope;
use super::extract::{JsonBody, Merchant};
use crate::domain::events::{self, CATALOGUE};
use crate::domain::validate::{self as v, FieldErrors};
use crate::domain::{ids, time};
use crate::error::{ApiError, ApiResult};
use crate::store::merchants::MerchantContext;
use crate::store::webhook_endpoints::{self as store, Change, EndpointRow, NewEndpoint};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhook-endpoints", get(list).post(create))
        .route(
            "/webhook-endpoints/{id}",
            get(fetch).patch(update).delete(remove),
        )
        .route("/webhook-endpoints/{id}/rotate-secret", post(rotate_secret))
        .route("/webhook-endpoints/{id}/test", post(test))
        .route("/webhook-endpoints/{id}/deliveries", get(deliveries))
        .route("/webhook-endpoints/{id}/replay", post(replay))
        .route("/webhook-deliveries/{id}/retry", post(retry))
}

/// How long a rotated-out secret keeps signing beside the new one.
const ROTATION_OVERLAP: TimeDelta = TimeDelta::hours(24);
/// Most events one replay sends.
const MAX_REPLAY: i64 = 10_000;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    #[schema(example = "we_0t3hq1v6c2m8x9b4k7d5f0a1z2")]
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    /// The types it receives; null: every type.
    pub events: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed; null when the last one succeeded.
    pub failing_since: Option<String>,
    /// The signing secret, shown only when it is made (create, rotate-secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointView {
    fn new(row: EndpointRow, secret: Option<String>) -> EndpointView {
        EndpointView {
            id: row.id,
            url: row.url,
            description: row.description,
            events: row.events,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since.as_ref().map(time::format),
            secret,
            created_at: time::format(&row.created_at),
            updated_at: time::format(&row.updated_at),
        }
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no webhook endpoint with this id".to_owned())
}

fn endpoint_id(id: &str) -> ApiResult<&str> {
    ids::looks_like(id, "we")
        .then_some(id)
        .ok_or_else(not_found)
}

fn seal(state: &AppState, id: &str, secret: &str) -> ApiResult<Vec<u8>> {
    let key = state.config.encryption_key.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "webhook signing secrets cannot be stored: the server has no COWRY_ENCRYPTION_KEY"
                .to_owned(),
        )
    })?;
    Ok(key.seal(
        secret.as_bytes(),
        format!("webhook_endpoint/{id}").as_bytes(),
    ))
}

/// `url`: http(s) with a host and no user name or password; https for a live merchant; not an
/// address the outbound policy refuses.
fn check_url(
    state: &AppState,
    merchant: &MerchantContext,
    body: &serde_json::Map<String, Value>,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    // Where it may be left out (a change), a url given empty is refused, not read as "no change".
    let url = match required {
        true => v::string(body, "url", "", 2048, true, errors),
        false => v::nonblank_if_given(body, "url", "", 2048, errors),
    }?;
    let checked = crate::domain::outbound_url::check(&url, merchant.mode == "live")
        .map_err(str::to_owned)
        .and_then(|parsed| {
            state
                .providers
                .outbound()
                .check(&parsed)
                .map_err(|why| format!("is not an address Cowry delivers to: {why}"))
        });
    match checked {
        Ok(()) => Some(url),
        Err(why) => {
            errors.add("url", why);
            None
        }
    }
}

/// `events`: a non-empty list of catalogue types, or null for every type.
fn check_events(
    body: &serde_json::Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<Option<Vec<String>>> {
    match body.get("events") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut types = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(t) if CATALOGUE.iter().any(|(known, _)| *known == t) => {
                        if !types.iter().any(|k| k == t) {
                            types.push(t.to_owned());
                        }
                    }
                    _ => errors.add(
                        format!("events[{i}]"),
                        "must be an event type from the catalogue",
                    ),
                }
            }
            Some(Some(types))
        }
        Some(_) => {
            errors.add(
                "events",
                "must be a non-empty array of event types, or null for all",
            );
            None
        }
    }
}

fn object(body: &JsonBody, errors: &mut FieldErrors) -> serde_json::Map<String, Value> {
    match body.value.as_object() {
        Some(map) => map.clone(),
        None => {
            errors.add("body", "must be a JSON object");
            serde_json::Map::new()
        }
    }
}

/// Add an endpoint. The answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/webhook-endpoints", tag = "webhooks",
    request_body(content = crate::http::openapi::EndpointRequest),
    responses((status = 201, body = Envelope<EndpointView>), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Envelope<EndpointView>>)> {
    let mut errors = FieldErrors::default();
    let map = object(&body, &mut errors);
    let url = check_url(&state, &merchant, &map, true, &mut errors);
    let types = check_events(&map, &mut errors).flatten();
    let description = v::string(&map, "description", "", 200, false, &mut errors);
    let url = errors.finish(|| url).map_err(ApiError::Validation)?;
    let url = url.ok_or_else(|| ApiError::validation("url", "is required"))?;
    let id = ids::new_id("we");
    let secret = events::new_secret();
    let sealed = seal(&state, &id, &secret)?;
    let row = store::insert(
        &state.pool,
        &merchant.merchant_id,
        &NewEndpoint {
            id: &id,
            url: &url,
            description: description.as_deref(),
            events: types.as_deref(),
            sealed_secret: &sealed,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Envelope::new(
            "Webhook endpoint created successfully",
            EndpointView::new(row, Some(secret)),
        )),
    ))
}

/// The merchant's endpoints.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "webhooks",
    responses((status = 200, body = Envelope<Vec<EndpointView>>)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
) -> ApiResult<Json<Envelope<Vec<EndpointView>>>> {
    let rows = store::list(&state.pool, &merchant.merchant_id).await?;
    Ok(Json(Envelope::new(
        "Webhook endpoints retrieved successfully",
        rows.into_iter()
            .map(|r| EndpointView::new(r, None))
            .collect(),
    )))
}

#[utoipa::path(get, path = "/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<EndpointView>), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<EndpointView>>> {
    let row = store::get(&state.pool, &merchant.merchant_id, endpoint_id(&id)?)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(Envelope::new(
        "Webhook endpoint retrieved successfully",
        EndpointView::new(row, None),
    )))
}

/// Change `url`, `events`, `description` or `enabled` (re-enabling clears the failure streak).
#[utoipa::path(patch, path = "/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path)),
    request_body(content = crate::http::openapi::EndpointChange),
    responses((status = 200, body = Envelope<EndpointView>), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Envelope<EndpointView>>> {
    let id = endpoint_id(&id)?;
    let mut errors = FieldErrors::default();
    let map = object(&body, &mut errors);
    let change = Change {
        url: check_url(&state, &merchant, &map, false, &mut errors),
        description: map
            .contains_key("description")
            .then(|| v::string(&map, "description", "", 200, false, &mut errors)),
        events: check_events(&map, &mut errors),
        enabled: match map.get("enabled") {
            None => None,
            Some(Value::Bool(on)) => Some(*on),
            Some(_) => {
                errors.add("enabled", "must be true or false");
                None
            }
        },
    };
    errors.finish(|| ()).map_err(ApiError::Validation)?;
    let row = store::update(&state.pool, &merchant.merchant_id, id, &change)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(Envelope::new(
        "Webhook endpoint updated successfully",
        EndpointView::new(row, None),
    )))
}

#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if store::delete(&state.pool, &merchant.merchant_id, endpoint_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// A new signing secret (shown once). The previous one keeps signing beside it for 24 hours, so
/// receivers can switch without missing a delivery.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<EndpointView>), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<EndpointView>>> {
    let id = endpoint_id(&id)?;
    let secret = events::new_secret();
    let sealed = seal(&state, id, &secret)?;
    let row = store::rotate_secret(
        &state.pool,
        &merchant.merchant_id,
        id,
        &sealed,
        Utc::now() + ROTATION_OVERLAP,
    )
    .await?
    .ok_or_else(not_found)?;
    Ok(Json(Envelope::new(
        "Webhook signing secret rotated",
        EndpointView::new(row, Some(secret)),
    )))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingResult {
    /// The ping's `webhook-id`.
    pub id: String,
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    /// The first 1 KiB of the answer, or why there was none.
    pub answer: Option<String>,
    pub error: Option<String>,
}

/// Send a signed `ping` event to the endpoint now, and say how it answered (not kept in the stream).
#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<PingResult>), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<PingResult>>> {
    let row = store::get(&state.pool, &merchant.merchant_id, endpoint_id(&id)?)
        .await?
        .ok_or_else(not_found)?;
    let secrets = crate::jobs::deliver::signing_secrets(
        &state,
        &row.id,
        &row.secret,
        row.previous_secret.as_deref(),
        row.previous_expires_at,
    )
    .ok_or_else(|| ApiError::Unavailable("the endpoint's secret cannot be opened".to_owned()))?;
    let event_id = ids::new_id("evt");
    let payload = events::payload(
        &event_id,
        events::PING,
        merchant.mode == "live",
        &time::format(&time::now()),
        0,
        &json!({"endpointId": row.id}),
    );
    let body = serde_json::to_vec(&payload).expect("JSON values serialise");
    let sent = crate::jobs::deliver::send(&state, &row.url, &event_id, &secrets, body).await;
    Ok(Json(Envelope::new(
        "Ping sent",
        PingResult {
            id: event_id,
            delivered: sent.status.is_some_and(|s| (200..300).contains(&s)),
            http_status: sent.status,
            latency_ms: sent.latency.as_millis() as u64,
            answer: sent.answer,
            error: sent.error,
        },
    )))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    #[schema(example = "whd_5f0c…")]
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: Vec<DeliveryAttemptView>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptView {
    pub attempt: i32,
    pub at: String,
    pub http_status: Option<i32>,
    pub latency_ms: i32,
    /// The first 1 KiB of the answer.
    pub answer: Option<String>,
    pub error: Option<String>,
}

/// Deliveries to the endpoint, newest first, each with its tries.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), ("status" = Option<crate::http::openapi::DeliveryStatus>, Query),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = Envelope<Vec<DeliveryView>>), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Envelope<Vec<DeliveryView>>>> {
    let query = super::listing::read_query(query)?;
    let id = endpoint_id(&id)?;
    let status = query.get("status").map(String::as_str);
    if status.is_some_and(|s| !["pending", "delivered", "failed"].contains(&s)) {
        return Err(ApiError::validation(
            "status",
            "must be pending, delivered or failed",
        ));
    }
    let limit = match query.get("limit").map(|l| l.parse::<i64>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::validation(
                "limit",
                "must be a whole number from 1 to 100",
            ))
        }
    };
    store::get(&state.pool, &merchant.merchant_id, id)
        .await?
        .ok_or_else(not_found)?;
    let (rows, attempts) = store::deliveries(&state.pool, id, status, limit).await?;
    let views = rows
        .into_iter()
        .map(|d| DeliveryView {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| DeliveryAttemptView {
                    attempt: a.attempt,
                    at: time::format(&a.attempted_at),
                    http_status: a.http_status,
                    latency_ms: a.latency_ms,
                    answer: a.answer.clone(),
                    error: a.error.clone(),
                })
                .collect(),
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            next_attempt_at: d.next_attempt_at.as_ref().map(time::format),
            created_at: time::format(&d.created_at),
            delivered_at: d.delivered_at.as_ref().map(time::format),
        })
        .collect();
    Ok(Json(Envelope::new(
        "Deliveries retrieved successfully",
        views,
    )))
}

/// Send a delivery again now.
#[utoipa::path(post, path = "/webhook-deliveries/{id}/retry", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 202, description = "Queued to send now", body = Envelope<Object>), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Envelope<Value>>)> {
    if id.len() > 80 || id.chars().any(char::is_control) {
        return Err(ApiError::NotFound("no delivery with this id".to_owned()));
    }
    let delivery = store::merchant_delivery(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no delivery with this id".to_owned()))?;
    let mut tx = crate::db::begin(&state.pool).await?;
    store::retry(&mut tx, &delivery).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Envelope::new(
            "Delivery queued to send now",
            json!({"id": delivery.id, "status": "pending"}),
        )),
    ))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayResult {
    /// Deliveries queued (events in the range the endpoint subscribes to).
    pub queued: u64,
}

/// Send again every event of `[from, to]` the endpoint subscribes to (at most 10,000 per call).
#[utoipa::path(post, path = "/webhook-endpoints/{id}/replay", tag = "webhooks",
    params(("id" = String, Path)),
    request_body(content = crate::http::openapi::ReplayRequest),
    responses((status = 202, body = Envelope<ReplayResult>), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Envelope<ReplayResult>>)> {
    let id = endpoint_id(&id)?;
    let mut errors = FieldErrors::default();
    let map = object(&body, &mut errors);
    let mut instant = |key: &str| -> Option<DateTime<Utc>> {
        let text = v::string(&map, key, "", 64, true, &mut errors)?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                errors.add(
                    key,
                    "must be an RFC 3339 timestamp, e.g. 2026-11-27T10:00:00Z",
                );
                None
            }
        }
    };
    let (from, to) = (instant("from"), instant("to"));
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            errors.add("to", "must not be before from");
        }
    }
    let (from, to) = errors
        .finish(|| (from.unwrap_or_default(), to.unwrap_or_default()))
        .map_err(ApiError::Validation)?;
    store::get(&state.pool, &merchant.merchant_id, id)
        .await?
        .ok_or_else(not_found)?;
    let rows =
        crate::store::events::in_range(&state.pool, &merchant.merchant_id, from, to, MAX_REPLAY)
            .await?;
    let payloads: Vec<Value> = rows.iter().map(crate::events::payload_of).collect();
    let outgoing: Vec<crate::store::events::Outgoing> = rows
        .iter()
        .zip(&payloads)
        .map(|(r, payload)| crate::store::events::Outgoing {
            event_id: &r.id,
            event_type: &r.kind,
            payload,
        })
        .collect();
    let mut tx = crate::db::begin(&state.pool).await?;
    let queued =
        crate::store::events::fan_out(&mut tx, &merchant.merchant_id, &outgoing, Some(id)).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Envelope::new("Replay queued", ReplayResult { queued })),
    ))
}

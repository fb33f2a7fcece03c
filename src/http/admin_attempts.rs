//! `/admin/attempts`: operators find provider attempts that are stuck (`unknown`: the provider never
//! gave a final answer in time; `flagged`: it reported something Cowry would not accept as paid) and
//! ask for an immediate re-check.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Admin;
use crate::domain::settlement::AttemptState;
use crate::domain::time;
use crate::error::{ApiError, ApiResult};
use crate::jobs::reconcile;
use crate::store::attempts::{self, AttemptRow};
use crate::AppState;

const STATUSES: [&str; 7] = [
    "created",
    "pending",
    "unknown",
    "succeeded",
    "failed",
    "flagged",
    "reversed",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/attempts", get(list))
        .route("/admin/attempts/{id}/recheck", post(recheck))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub id: String,
    pub merchant_id: String,
    pub collection_id: Option<String>,
    pub collect_id: Option<String>,
    pub provider: String,
    pub kind: String,
    pub operation: String,
    pub provider_reference: String,
    pub status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub error: Option<String>,
    pub checks: i32,
    pub last_checked_at: Option<String>,
    /// Each provider call made for it: operation, outcome, latency (never secrets or account numbers).
    #[schema(value_type = Vec<Object>)]
    pub calls: serde_json::Value,
    /// False when the provider's report carried no amount (Airtel's enquiry): paid on status alone.
    pub amount_confirmed: Option<bool>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<AttemptRow> for AttemptView {
    fn from(row: AttemptRow) -> AttemptView {
        AttemptView {
            id: row.id,
            merchant_id: row.merchant_id,
            collection_id: row.collection_id,
            collect_id: row.collect_id,
            provider: row.provider,
            kind: row.kind,
            operation: row.operation,
            provider_reference: row.provider_reference,
            status: row.status,
            amount_minor: row.amount_minor,
            currency: row.currency.map(|c| c.trim().to_owned()),
            error: row.error,
            checks: row.checks,
            last_checked_at: row.last_checked.as_ref().map(time::format),
            calls: row.calls.0,
            amount_confirmed: row.amount_confirmed,
            created_at: time::format(&row.created_at),
            updated_at: time::format(&row.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptList {
    pub data: Vec<AttemptView>,
}

/// Provider attempts across merchants, newest first; `status=unknown` lists the stuck ones.
#[utoipa::path(get, path = "/admin/attempts", tag = "admin",
    params(("status" = Option<crate::http::openapi::AttemptStatus>, Query),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500)),
    responses((status = 200, body = AttemptList), (status = 401, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<AttemptList>> {
    let query = super::listing::read_query(query)?;
    let status = query.get("status").map(String::as_str);
    if status.is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::validation(
            "status",
            format!("must be one of: {}", STATUSES.join(", ")),
        ));
    }
    let limit = limit(&query)?;
    let rows = attempts::list(&state.pool, status, limit).await?;
    Ok(Json(AttemptList {
        data: rows.into_iter().map(AttemptView::from).collect(),
    }))
}

/// `limit` of an operator's list: 1 to 500, default 100.
pub fn limit(query: &HashMap<String, String>) -> ApiResult<i64> {
    match query.get("limit").map(|l| l.parse::<i64>()) {
        None => Ok(100),
        Some(Ok(n)) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(
            "limit",
            "must be a whole number from 1 to 500",
        )),
    }
}

/// Queue an immediate status check of an attempt with its provider.
#[utoipa::path(post, path = "/admin/attempts/{id}/recheck", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 202, body = AttemptView), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn recheck(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AttemptView>)> {
    let attempt = attempts::find_any(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no attempt with this id".to_owned()))?;
    if !AttemptState::parse(&attempt.status).is_some_and(AttemptState::is_open) {
        return Err(ApiError::Conflict {
            code: "invalid_state",
            message: format!(
                "the attempt is {}: there is nothing to re-check",
                attempt.status
            ),
        });
    }
    reconcile::schedule(
        &state.pool,
        &attempt.merchant_id,
        &attempt.id,
        chrono::Utc::now(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(attempt.into())))
}

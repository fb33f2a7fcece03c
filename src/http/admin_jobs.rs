//! `/admin/jobs` and `/admin/check`: operators see jobs that gave up (and put them back in the queue),
//! and check the money path's invariants (every open payment watched, no settled one; what is unknown).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Admin;
use crate::domain::time;
use crate::error::{ApiError, ApiResult};
use crate::store::check::{self, Report};
use crate::store::jobs::{self, JobRow};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/jobs", get(list))
        .route("/admin/jobs/{id}/retry", post(retry))
        .route("/admin/check", get(run_check))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub merchant_id: Option<String>,
    /// `queued` or `failed` (gave up; retry it with `POST /admin/jobs/{id}/retry`).
    pub status: String,
    /// Consecutive failed runs.
    pub attempts: i32,
    pub run_at: String,
    pub running: bool,
    pub last_error: Option<String>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<JobRow> for JobView {
    fn from(row: JobRow) -> JobView {
        JobView {
            id: row.id,
            kind: row.kind,
            key: row.key,
            merchant_id: row.merchant_id,
            status: row.status,
            attempts: row.attempts,
            run_at: time::format(&row.run_at),
            running: row.locked_until.is_some_and(|t| t > chrono::Utc::now()),
            last_error: row.last_error,
            payload: row.payload.0,
            created_at: time::format(&row.created_at),
            updated_at: time::format(&row.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub data: Vec<JobView>,
}

/// Jobs across merchants, most recently changed first; `status=failed` lists those that gave up.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin",
    params(("status" = Option<crate::http::openapi::JobStatus>, Query),
        ("kind" = Option<String>, Query, pattern = "^[a-z_]+$", description = "A job kind, e.g. reconcile, webhook"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500)),
    responses((status = 200, body = JobList), (status = 401, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<JobList>> {
    let query = super::listing::read_query(query)?;
    let status = query.get("status").map(String::as_str);
    if status.is_some_and(|s| !["queued", "failed"].contains(&s)) {
        return Err(ApiError::validation("status", "must be queued or failed"));
    }
    let kind = query.get("kind").map(String::as_str);
    if kind.is_some_and(|k| crate::jobs::kinds::find(k).is_none()) {
        let known: Vec<&str> = crate::jobs::kinds::KINDS.iter().map(|k| k.name).collect();
        return Err(ApiError::validation(
            "kind",
            format!("must be one of: {}", known.join(", ")),
        ));
    }
    let limit = super::admin_attempts::limit(&query)?;
    let rows = jobs::list(&state.pool, status, kind, limit).await?;
    Ok(Json(JobList {
        data: rows.into_iter().map(JobView::from).collect(),
    }))
}

/// Put a job that gave up back in the queue, to run now.
#[utoipa::path(post, path = "/admin/jobs/{id}/retry", tag = "admin",
    params(("id" = i64, Path)),
    responses((status = 202, description = "Queued to run now"), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::NotFound("no failed job with this id".to_owned());
    let id: i64 = id.parse().map_err(|_| not_found())?;
    match jobs::retry_failed(&state.pool, id).await {
        Ok(Some(())) => {
            crate::store::audit::record(
                &state.pool,
                crate::store::audit::Actor::Operator,
                "job.retried",
                None,
                Some(&id.to_string()),
                &serde_json::json!({}),
            )
            .await?;
            Ok(StatusCode::ACCEPTED)
        }
        Ok(None) => Err(not_found()),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("jobs_open_key") => {
            Err(ApiError::Conflict {
                code: "job_already_queued",
                message: "an open job for the same work is already queued".to_owned(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The money path's invariants: `problems` is 0 when every open payment is watched by a job and no
/// job watches a settled one. Attempts whose outcome is unknown are listed with their amount and age.
#[utoipa::path(get, path = "/admin/check", tag = "admin",
    responses((status = 200, body = Report), (status = 401, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn run_check(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Report>> {
    Ok(Json(check::run(&state.pool).await?))
}

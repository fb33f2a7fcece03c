//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Prometheus metrics (text exposition format): HTTP, provider calls, webhooks, settlements, jobs, money
/// at risk. With `COWRY_METRICS_TOKEN` set, only `Authorization: Bearer <token>` is answered.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "COWRY_METRICS_TOKEN is set and was not given", body = crate::error::ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> ApiResult<impl axum::response::IntoResponse> {
    if let Some(token) = &state.config.metrics_token {
        if !crate::http::extract::bearer_matches(&headers, token.expose()) {
            return Err(ApiError::Unauthorized(
                "missing or invalid metrics token".to_owned(),
            ));
        }
    }
    let gauges = state
        .metric_gauges
        .get(&state.pool, state.config.metrics_refresh)
        .await;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&gauges),
    ))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers; 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready"), (status = 503, body = crate::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    match sqlx::query("select 1").execute(&state.pool).await {
        Ok(_) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::Unavailable(
                "the database is not reachable".to_owned(),
            ))
        }
    }
}

//! `POST /api-keys/roll`: a merchant replaces the key it calls with, keeping the old one working for an
//! overlap (default a day, at most a week, zero to end it now) while the new one is deployed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{JsonBody, Merchant};
use crate::domain::time;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const DEFAULT_OVERLAP_SECS: u64 = 86_400;
const MAX_OVERLAP_SECS: u64 = 7 * 86_400;

pub fn router() -> Router<AppState> {
    Router::new().route("/api-keys/roll", post(roll))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolledKey {
    /// The new secret key. Shown once: only its hash is stored.
    pub api_key: String,
    pub api_key_id: String,
    /// Until when the key this request was made with keeps working.
    pub previous_key_expires_at: String,
}

/// Roll the API key this request is made with.
#[utoipa::path(post, path = "/api-keys/roll", tag = "api keys",
    request_body(content = crate::http::openapi::RollKeyRequest),
    responses((status = 201, body = RolledKey), (status = 401, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn roll(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<RolledKey>)> {
    let mut errors = FieldErrors::default();
    let overlap = match body.value.get("overlapSeconds") {
        None => Some(DEFAULT_OVERLAP_SECS),
        Some(value) => match value.as_u64() {
            Some(secs) if secs <= MAX_OVERLAP_SECS => Some(secs),
            _ => {
                errors.add(
                    "overlapSeconds",
                    format!("must be a whole number from 0 to {MAX_OVERLAP_SECS}"),
                );
                None
            }
        },
    };
    if !body.value.is_object() {
        errors.add("body", "must be a JSON object");
    }
    let overlap = errors
        .finish(|| overlap.unwrap_or(DEFAULT_OVERLAP_SECS))
        .map_err(ApiError::Validation)?;
    let (api_key, api_key_id, ends) = crate::store::merchants::roll_key(
        &state.pool,
        &merchant.merchant_id,
        &merchant.key_id,
        &merchant.mode,
        std::time::Duration::from_secs(overlap),
    )
    .await?;
    // This process stops trusting the old key at once when its overlap is zero.
    state.forget_merchant(&merchant.merchant_id);
    crate::store::audit::record(
        &state.pool,
        crate::store::audit::Actor::Merchant {
            key_id: &merchant.key_id,
        },
        "api_key.rolled",
        Some(&merchant.merchant_id),
        Some(&api_key_id),
        &serde_json::json!({"previousKey": merchant.key_id, "overlapSeconds": overlap}),
    )
    .await?;
    tracing::info!(merchant = %merchant.merchant_id, key = %api_key_id, overlap, "API key rolled");
    Ok((
        StatusCode::CREATED,
        Json(RolledKey {
            api_key,
            api_key_id,
            previous_key_expires_at: time::format(&ends),
        }),
    ))
}

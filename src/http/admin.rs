//! `/admin/*`: operator endpoints, behind `COWRY_ADMIN_TOKEN`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::extract::{Admin, JsonBody};
use crate::domain::validate::{self as v, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::store;
use crate::store::audit::Actor;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/merchants", post(create_merchant))
        .route("/admin/api-keys/{id}", delete(revoke_key))
        .route("/admin/merchants/{id}/rate-limit", put(set_rate_limit))
        .route("/admin/audit", axum::routing::get(audit))
        .route(
            "/admin/webhook-endpoints/failing",
            axum::routing::get(failing_endpoints),
        )
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedMerchantView {
    #[schema(example = "mer_0t3hq1v6c2m8x9b4k7d5f0a1z2")]
    pub id: String,
    pub name: String,
    /// The test-mode secret key. Shown once: only its hash is stored.
    #[schema(example = "sk_test_…")]
    pub api_key: String,
    /// Id of the key, for revoking it.
    pub api_key_id: String,
    /// `test` or `live`: the merchant's keys and provider accounts all carry it.
    pub mode: String,
}

/// Create a merchant (test mode unless `mode` is `live`); the response holds its API key, shown this once.
#[utoipa::path(post, path = "/admin/merchants", tag = "admin",
    request_body(content = crate::http::openapi::CreateMerchantRequest),
    responses((status = 201, body = CreatedMerchantView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn create_merchant(
    State(state): State<AppState>,
    _: Admin,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<CreatedMerchantView>)> {
    let mut errors = FieldErrors::default();
    let (name, mode) = match body.value.as_object() {
        Some(object) => (
            v::string(object, "name", "", 200, true, &mut errors),
            v::one_of(
                object,
                "mode",
                "",
                &crate::domain::provider_account::MODES,
                &mut errors,
            ),
        ),
        None => {
            errors.add("body", "must be a JSON object");
            (None, None)
        }
    };
    errors.finish(|| ()).map_err(ApiError::Validation)?;
    let mode = mode.unwrap_or("test");
    let mut conn = state.pool.acquire().await?;
    let created =
        store::merchants::create_in_mode(&mut conn, &name.unwrap_or_default(), None, mode).await?;
    store::audit::record(
        &mut *conn,
        Actor::Operator,
        "merchant.created",
        Some(&created.id),
        Some(&created.api_key_id),
        &json!({"mode": mode}),
    )
    .await?;
    tracing::info!(merchant = %created.id, mode, "merchant created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedMerchantView {
            id: created.id,
            name: created.name,
            api_key: created.api_key,
            api_key_id: created.api_key_id,
            mode: mode.to_owned(),
        }),
    ))
}

/// Revoke an API key: requests with it are refused with 401 from then on.
#[utoipa::path(delete, path = "/admin/api-keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "API key id (key_…)")),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !crate::domain::ids::looks_like(&id, "key") {
        return Err(ApiError::NotFound(
            "no active API key with this id".to_owned(),
        ));
    }
    match store::merchants::revoke_key(&state.pool, &id).await? {
        Some(merchant) => {
            // This process stops accepting the key at once; others within COWRY_AUTH_CACHE_SECS.
            state.forget_merchant(&merchant);
            store::audit::record(
                &state.pool,
                Actor::Operator,
                "api_key.revoked",
                Some(&merchant),
                Some(&id),
                &json!({}),
            )
            .await?;
            tracing::info!(api_key = %id, %merchant, "API key revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::NotFound(
            "no active API key with this id".to_owned(),
        )),
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitView {
    pub merchant_id: String,
    /// Requests per second per API key (0: unlimited); `null`: the server's default.
    pub per_second: Option<u32>,
    pub burst: Option<u32>,
}

/// Set a merchant's API rate limit (`{"perSecond": 50, "burst": 100}`), or go back to the server's
/// default (`{"perSecond": null}`). Takes effect within the auth cache's few seconds.
#[utoipa::path(put, path = "/admin/merchants/{id}/rate-limit", tag = "admin",
    params(("id" = String, Path)),
    request_body(content = crate::http::openapi::RateLimitRequest),
    responses((status = 200, body = RateLimitView), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn set_rate_limit(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<RateLimitView>> {
    let mut errors = FieldErrors::default();
    if !body.value.is_object() {
        errors.add("body", "must be a JSON object");
    }
    let number = |field: &str, errors: &mut FieldErrors| match body.value.get(field) {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => match value.as_u64().filter(|n| *n <= 1_000_000) {
            Some(n) => Some(n as u32),
            None => {
                errors.add(field, "must be a whole number from 0 to 1000000, or null");
                None
            }
        },
    };
    let per_second = number("perSecond", &mut errors);
    let burst = number("burst", &mut errors);
    if burst == Some(0) {
        errors.add("burst", "must be at least 1");
    }
    errors.finish(|| ()).map_err(ApiError::Validation)?;
    let limit = per_second.map(|p| (p, burst.unwrap_or((p * 2).max(1))));
    if !store::merchants::set_rate_limit(&state.pool, &id, limit).await? {
        return Err(ApiError::NotFound("no merchant with this id".to_owned()));
    }
    state.forget_merchant(&id);
    store::audit::record(
        &state.pool,
        Actor::Operator,
        "merchant.rate_limit_set",
        Some(&id),
        None,
        &json!({"perSecond": limit.map(|l| l.0), "burst": limit.map(|l| l.1)}),
    )
    .await?;
    tracing::info!(merchant = %id, ?limit, "rate limit set");
    Ok(Json(RateLimitView {
        merchant_id: id,
        per_second: limit.map(|l| l.0),
        burst: limit.map(|l| l.1),
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    pub id: i64,
    pub at: String,
    /// `operator`, or `merchant:<api key id>`.
    pub actor: String,
    pub action: String,
    pub merchant_id: Option<String>,
    pub subject: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub data: Vec<AuditEntryView>,
}

/// The audit trail, newest first: merchants created, keys rolled or revoked, provider accounts added or
/// removed, rate limits set, jobs retried.
#[utoipa::path(get, path = "/admin/audit", tag = "admin",
    params(("merchantId" = Option<String>, Query, pattern = "^mer_[0-9a-z]{1,64}$"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500)),
    responses((status = 200, body = AuditList), (status = 401, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<AuditList>> {
    let query = super::listing::read_query(query)?;
    let limit = super::admin_attempts::limit(&query)?;
    if query
        .get("merchantId")
        .is_some_and(|id| !crate::domain::ids::looks_like(id, "mer"))
    {
        return Err(ApiError::validation(
            "merchantId",
            "must be a merchant id (mer_…)",
        ));
    }
    let entries = store::audit::list(
        &state.pool,
        query.get("merchantId").map(String::as_str),
        limit,
    )
    .await?;
    Ok(Json(AuditList {
        data: entries
            .into_iter()
            .map(|e| AuditEntryView {
                id: e.id,
                at: crate::domain::time::format(&e.at),
                actor: e.actor,
                action: e.action,
                merchant_id: e.merchant_id,
                subject: e.subject,
                detail: e.detail.0,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingEndpointView {
    pub id: String,
    pub merchant_id: String,
    pub url: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FailingEndpointList {
    pub data: Vec<FailingEndpointView>,
}

/// Merchant webhook endpoints that are failing or disabled, across merchants: disabled first, then
/// the longest-failing.
#[utoipa::path(get, path = "/admin/webhook-endpoints/failing", tag = "admin",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500)),
    responses((status = 200, body = FailingEndpointList), (status = 401, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn failing_endpoints(
    State(state): State<AppState>,
    _: Admin,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<FailingEndpointList>> {
    let query = super::listing::read_query(query)?;
    let limit = super::admin_attempts::limit(&query)?;
    let rows = store::webhook_endpoints::failing(&state.pool, limit).await?;
    Ok(Json(FailingEndpointList {
        data: rows
            .into_iter()
            .map(|r| FailingEndpointView {
                id: r.id,
                merchant_id: r.merchant_id,
                url: r.url,
                enabled: r.enabled,
                disabled_reason: r.disabled_reason,
                failing_since: r.failing_since.as_ref().map(crate::domain::time::format),
            })
            .collect(),
    }))
}

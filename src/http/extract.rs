//! Extractors: the merchant behind an API key, the operator behind the admin token, a JSON body whose
//! every failure is in the one error shape, and the optional `Idempotency-Key`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::store::{self, merchants::KeyLookup, merchants::MerchantContext};
use crate::AppState;

/// The merchant a request acts for. Keys come as `x-api-key: <key>` or `Authorization: Bearer <key>`.
pub struct Merchant(pub MerchantContext);

fn api_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    bearer(headers)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Merchant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(key) = api_key(&parts.headers).filter(|k| !k.is_empty()) else {
            return Err(ApiError::Unauthorized(
                "missing API key: send x-api-key: <key> or Authorization: Bearer <key>".to_owned(),
            ));
        };
        let well_formed =
            (key.starts_with("sk_test_") || key.starts_with("sk_live_")) && key.len() <= 128;
        if !well_formed {
            return Err(ApiError::Unauthorized("invalid API key".to_owned()));
        }
        let key_hash = store::sha256(key.as_bytes());
        if let Some(merchant) = state.auth_cache.get(&key_hash) {
            tracing::Span::current().record("merchant", merchant.merchant_id.as_str());
            limit(state, &merchant)?;
            return Ok(Merchant(merchant));
        }
        match store::merchants::find_by_key(&state.pool, &key_hash).await? {
            KeyLookup::Active(merchant) => {
                tracing::Span::current().record("merchant", merchant.merchant_id.as_str());
                state.auth_cache.put(key_hash, merchant.clone());
                limit(state, &merchant)?;
                Ok(Merchant(merchant))
            }
            KeyLookup::Revoked => Err(ApiError::Unauthorized(
                "this API key has been revoked".to_owned(),
            )),
            KeyLookup::Unknown => Err(ApiError::Unauthorized("invalid API key".to_owned())),
        }
    }
}

/// Takes the request from its key's bucket (the merchant's own limit, else the server's).
fn limit(state: &AppState, merchant: &MerchantContext) -> Result<(), ApiError> {
    let rate = match merchant.rate_limit {
        Some((per_second, burst)) => super::rate_limit::Rate { per_second, burst },
        None => state.config.rate_limit,
    };
    state.limiters.check(&merchant.key_id, rate)
}

/// An operator, authenticated by `Authorization: Bearer $COWRY_ADMIN_TOKEN` (compared in constant time).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = &state.config.admin_token else {
            return Err(ApiError::Forbidden(
                "the admin API is disabled: set COWRY_ADMIN_TOKEN to enable it".to_owned(),
            ));
        };
        if bearer_matches(&parts.headers, expected.expose()) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized(
                "missing or invalid admin token".to_owned(),
            ))
        }
    }
}

/// Whether `Authorization: Bearer …` carries `expected`. Hashing first makes the comparison
/// constant-time in the length too.
pub fn bearer_matches(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    let given = bearer(headers).unwrap_or_default();
    store::sha256(given.as_bytes())
        .ct_eq(&store::sha256(expected.as_bytes()))
        .into()
}

/// A JSON request body, parsed into a `Value` so validation can name every bad field. The raw bytes are
/// kept for the idempotency fingerprint.
pub struct JsonBody {
    pub value: Value,
    pub raw: Bytes,
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    code: "unreadable_body",
                    message: "the request body could not be read".to_owned(),
                }
            }
        })?;
        let value = serde_json::from_slice(&raw).map_err(|e| ApiError::BadRequest {
            code: "malformed_json",
            message: format!("request body is not valid JSON: {e}"),
        })?;
        // Two values for one field: refused rather than silently keeping the last.
        if let Some(path) = crate::domain::json_keys::first_repeated(&raw) {
            return Err(ApiError::BadRequest {
                code: "duplicate_json_key",
                message: format!("the request body gives {path} more than once"),
            });
        }
        Ok(JsonBody { value, raw })
    }
}

/// The optional `Idempotency-Key` header (1–255 visible ASCII characters).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        match value.to_str() {
            Ok(key)
                if !key.is_empty()
                    && key.len() <= 255
                    && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(IdempotencyKey(Some(key.to_owned())))
            }
            _ => Err(ApiError::BadRequest {
                code: "invalid_idempotency_key",
                message: "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned(),
            }),
        }
    }
}

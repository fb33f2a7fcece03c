//! Runs a POST's effect at most once per `Idempotency-Key`: same key and same request → the saved status
//! and body (with `Idempotent-Replayed: true`); same key and another request → 409
//! `idempotency_key_reused`; same key while the first request is still running → 409
//! `idempotency_key_in_use` (retry shortly). The key is claimed with one short statement, the slow part
//! (`prepare`) runs with no transaction or pooled connection held, and the response is saved in the
//! transaction that makes the effect. A failed request gives its key back.
//!
//! Requests that call a provider use [`begin`] instead, and keep a recovery point: the transaction that
//! claims the collect or collection (before any provider call) also records its id on the key
//! ([`store::idempotency::set_recovery`]). From then on the key is never given back: a retry while the
//! first request is still in its provider call, or after it died or timed out, is answered from what is
//! stored, and never calls the provider again; a refusal is saved like any response.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::{PgConnection, PgPool};

use crate::error::{ApiError, ApiResult};
use crate::store::{self, idempotency::Claim};

/// A successful effect: its status and JSON body.
pub type Effect = (StatusCode, Vec<u8>);

pub struct Keyed<'a> {
    pub merchant_id: &'a str,
    pub key: Option<&'a str>,
    /// Method, path and body: what makes two requests "the same".
    pub fingerprint: &'a [&'a [u8]],
    /// A claim older than this belongs to a request that died and may be taken over.
    pub stale_after: Duration,
}

pub async fn run<P>(
    pool: &PgPool,
    keyed: Keyed<'_>,
    prepare: impl AsyncFnOnce() -> ApiResult<P>,
    effect: impl AsyncFnOnce(&mut PgConnection, P) -> ApiResult<Effect>,
) -> ApiResult<Response> {
    let Some(key) = keyed.key else {
        let prepared = prepare().await?;
        // The effect may be several statements (the row, its attempts, their poll jobs): all or none.
        let mut tx = crate::db::begin(pool).await?;
        let (status, body) = effect(&mut tx, prepared).await?;
        tx.commit().await?;
        return Ok(json_response(status, body, false));
    };
    let merchant_id = keyed.merchant_id;
    let request_hash = store::sha256(&keyed.fingerprint.join(&b'\n'));
    let stale_before = crate::domain::time::now()
        - chrono::TimeDelta::from_std(keyed.stale_after).unwrap_or_default();
    match store::idempotency::claim(pool, merchant_id, key, &request_hash, stale_before).await? {
        Claim::Saved {
            request_hash: saved,
            ..
        }
        | Claim::InProgress {
            request_hash: saved,
            ..
        } if saved != request_hash => Err(ApiError::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was already used with a different request".to_owned(),
        }),
        Claim::Saved { status, body, .. } => Ok(json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
            true,
        )),
        Claim::InProgress { .. } => Err(ApiError::Conflict {
            code: "idempotency_key_in_use",
            message: "a request with this Idempotency-Key is still being processed; retry shortly"
                .to_owned(),
        }),
        Claim::Claimed => {
            let outcome = async {
                let prepared = prepare().await?;
                let mut tx = crate::db::begin(pool).await?;
                let (status, body) = effect(&mut tx, prepared).await?;
                store::idempotency::save(&mut tx, merchant_id, key, status.as_u16(), &body).await?;
                tx.commit().await?;
                Ok::<_, ApiError>((status, body))
            }
            .await;
            match outcome {
                Ok((status, body)) => Ok(json_response(status, body, false)),
                Err(e) => {
                    if let Err(db) = store::idempotency::release(pool, merchant_id, key).await {
                        // The claim goes stale and is taken over by the next request with this key.
                        tracing::warn!(error = %db, "could not release an idempotency key");
                    }
                    Err(e)
                }
            }
        }
    }
}

/// Where a request that will call a provider stands before it starts.
pub enum Begin {
    /// Answer this at once: a saved response (replayed) or a conflict.
    Answer(Response),
    /// A request with this key got past its recovery point: answer from what it stored.
    Resume(serde_json::Value),
    /// Go ahead (with the key claimed, when there is one).
    Go,
}

/// Claims the key for a request that will call a provider (see the module's notes).
pub async fn begin(pool: &PgPool, keyed: &Keyed<'_>) -> ApiResult<Begin> {
    let Some(key) = keyed.key else {
        return Ok(Begin::Go);
    };
    let request_hash = store::sha256(&keyed.fingerprint.join(&b'\n'));
    let stale_before = crate::domain::time::now()
        - chrono::TimeDelta::from_std(keyed.stale_after).unwrap_or_default();
    let claim =
        store::idempotency::claim(pool, keyed.merchant_id, key, &request_hash, stale_before)
            .await?;
    Ok(match claim {
        Claim::Saved {
            request_hash: saved,
            ..
        }
        | Claim::InProgress {
            request_hash: saved,
            ..
        } if saved != request_hash => Begin::Answer(
            ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was already used with a different request"
                    .to_owned(),
            }
            .into_response(),
        ),
        Claim::Saved { status, body, .. } => Begin::Answer(json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
            true,
        )),
        Claim::InProgress {
            recovery: Some(recovery),
            ..
        } => Begin::Resume(recovery),
        Claim::InProgress { recovery: None, .. } => Begin::Answer(
            ApiError::Conflict {
                code: "idempotency_key_in_use",
                message:
                    "a request with this Idempotency-Key is still being processed; retry shortly"
                        .to_owned(),
            }
            .into_response(),
        ),
        Claim::Claimed => Begin::Go,
    })
}

/// The request ended before its recovery point: nothing was sent, so the key is given back.
pub async fn give_back(pool: &PgPool, keyed: &Keyed<'_>) {
    if let Some(key) = keyed.key {
        if let Err(db) = store::idempotency::release(pool, keyed.merchant_id, key).await {
            // The claim goes stale and is taken over by the next request with this key.
            tracing::warn!(error = %db, "could not release an idempotency key");
        }
    }
}

/// The request ended in an error after its recovery point: the error is its saved answer.
pub async fn save_error(pool: &PgPool, merchant_id: &str, key: Option<&str>, error: &ApiError) {
    let Some(key) = key else { return };
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    let saved = async {
        let mut conn = pool.acquire().await?;
        store::idempotency::save(&mut conn, merchant_id, key, error.status().as_u16(), &body).await
    };
    if let Err(db) = saved.await {
        tracing::warn!(error = %db, "could not save an idempotency key's error answer");
    }
}

/// Commits the transaction that recorded a provider call's outcome, with `body` saved as the key's
/// answer when there is a key, and answers `201` with it.
pub async fn commit_created(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    merchant_id: &str,
    key: Option<&str>,
    body: Vec<u8>,
) -> ApiResult<Response> {
    if let Some(key) = key {
        store::idempotency::save(&mut tx, merchant_id, key, 201, &body).await?;
    }
    tx.commit().await?;
    Ok(json_response(StatusCode::CREATED, body, false))
}

/// A response answered from stored state (`Idempotent-Replayed: true` when it answers a retry).
pub fn stored_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    json_response(status, body, replayed)
}

pub fn json_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, [("content-type", "application/json")], body).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

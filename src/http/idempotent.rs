//! Runs a POST's effect at most once per `Idempotency-Key`: same key and same request → the saved status
//! and body (with `Idempotent-Replayed: true`); same key and another request → 409
//! `idempotency_key_reused`; same key while the first request is still running → 409
//! `idempotency_key_in_use` (retry shortly). The key is claimed with one short statement, the slow part
//! (`prepare`: provider calls) runs with no transaction or pooled connection held, and the response is
//! saved in the transaction that makes the effect. A failed request gives its key back.

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
        let mut tx = pool.begin().await?;
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
                let mut tx = pool.begin().await?;
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

fn json_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, [("content-type", "application/json")], body).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

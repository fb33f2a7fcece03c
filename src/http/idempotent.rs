//! Runs a POST's effect at most once per `Idempotency-Key`: same key and same request → the saved status
//! and body (with `Idempotent-Replayed: true`); same key and another request → 409. The saved response
//! is written in the transaction that makes the effect, so one cannot exist without the other. Errors
//! roll the claim back, so a failed request can be retried with the same key.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::{PgConnection, PgPool};

use crate::error::{ApiError, ApiResult};
use crate::store::{self, idempotency::Claim};

/// A successful effect: its status and JSON body.
pub type Effect = (StatusCode, Vec<u8>);

pub async fn run(
    pool: &PgPool,
    merchant_id: &str,
    key: Option<&str>,
    fingerprint: &[&[u8]],
    effect: impl AsyncFnOnce(&mut PgConnection) -> ApiResult<Effect>,
) -> ApiResult<Response> {
    let Some(key) = key else {
        let mut conn = pool.acquire().await?;
        let (status, body) = effect(&mut conn).await?;
        return Ok(json_response(status, body, false));
    };
    let request_hash = store::sha256(&fingerprint.join(&b'\n'));
    let mut tx = pool.begin().await?;
    match store::idempotency::claim(&mut tx, merchant_id, key, &request_hash).await? {
        Claim::Saved {
            request_hash: saved,
            status,
            body,
        } => {
            if saved != request_hash {
                return Err(ApiError::Conflict {
                    code: "idempotency_key_reused",
                    message: "this Idempotency-Key was already used with a different request"
                        .to_owned(),
                });
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Ok(json_response(status, body, true))
        }
        Claim::Claimed => {
            let (status, body) = effect(&mut tx).await?;
            store::idempotency::save(&mut tx, merchant_id, key, status.as_u16(), &body).await?;
            tx.commit().await?;
            Ok(json_response(status, body, false))
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

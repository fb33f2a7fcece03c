//! `Idempotency-Key` records. A request claims its key with one short insert before doing any work, so
//! no transaction is held open across provider calls; the response is saved in the transaction that
//! makes the business change. A concurrent request with the same key sees the claim in progress.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

pub enum Claim {
    /// This request owns the key: do the work, then [`save`] in the effect's transaction.
    Claimed,
    /// A request with this key completed: its status and body.
    Saved {
        request_hash: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    },
    /// Another request with this key is still running (or died); `recovery` is how far it got, once it
    /// claimed its collect or collection.
    InProgress {
        request_hash: Vec<u8>,
        recovery: Option<serde_json::Value>,
    },
}

/// Claims `key`, or reports what holds it. A claim older than `stale_before` belongs to a request that
/// died (crash, timeout) and is taken over.
pub async fn claim(
    pool: &PgPool,
    merchant_id: &str,
    key: &str,
    request_hash: &[u8],
    stale_before: DateTime<Utc>,
) -> Result<Claim, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "insert into idempotency_keys (merchant_id, key, request_hash) values ($1, $2, $3)
         on conflict (merchant_id, key) do update set request_hash = excluded.request_hash, locked_at = now()
             where idempotency_keys.response_status is null and idempotency_keys.recovery is null
               and idempotency_keys.locked_at < $4
         returning 1",
    )
    .bind(merchant_id)
    .bind(key)
    .bind(request_hash)
    .bind(stale_before)
    .fetch_optional(pool)
    .await?;
    if claimed.is_some() {
        return Ok(Claim::Claimed);
    }
    // A statement of its own, so it sees the row that made the insert conflict.
    #[allow(clippy::type_complexity)]
    let (request_hash, status, body, recovery): (
        Vec<u8>,
        Option<i16>,
        Option<Vec<u8>>,
        Option<sqlx::types::Json<serde_json::Value>>,
    ) = sqlx::query_as(
        "select request_hash, response_status, response_body, recovery from idempotency_keys
         where merchant_id = $1 and key = $2",
    )
    .bind(merchant_id)
    .bind(key)
    .fetch_one(pool)
    .await?;
    Ok(match status {
        Some(status) => Claim::Saved {
            request_hash,
            status: status as u16,
            body: body.unwrap_or_default(),
        },
        None => Claim::InProgress {
            request_hash,
            recovery: recovery.map(|r| r.0),
        },
    })
}

pub async fn save(
    conn: &mut PgConnection,
    merchant_id: &str,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("update idempotency_keys set response_status = $3, response_body = $4 where merchant_id = $1 and key = $2")
        .bind(merchant_id)
        .bind(key)
        .bind(status as i16)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records how far the request got, in the transaction that claims its collect or collection (before any
/// provider call). From then on the key is never released.
pub async fn set_recovery(
    conn: &mut PgConnection,
    merchant_id: &str,
    key: &str,
    recovery: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("update idempotency_keys set recovery = $3 where merchant_id = $1 and key = $2")
        .bind(merchant_id)
        .bind(key)
        .bind(sqlx::types::Json(recovery))
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives a claimed key back after the request failed, so the merchant can retry with it.
pub async fn release(pool: &PgPool, merchant_id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from idempotency_keys
         where merchant_id = $1 and key = $2 and response_status is null and recovery is null",
    )
    .bind(merchant_id)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

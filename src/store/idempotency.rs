//! `Idempotency-Key` records. The first request with a key inserts the row inside its own transaction and
//! fills in the response before committing; a concurrent request with the same key blocks on the row's
//! unique index until then, and afterwards finds the saved response.

use sqlx::PgConnection;

pub enum Claim {
    /// This request owns the key: do the work, then [`save`] in the same transaction.
    Claimed,
    /// A request with this key already completed.
    Saved {
        request_hash: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    },
}

pub async fn claim(
    conn: &mut PgConnection,
    merchant_id: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into idempotency_keys (merchant_id, key, request_hash) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(merchant_id)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let (request_hash, status, body): (Vec<u8>, Option<i16>, Option<Vec<u8>>) = sqlx::query_as(
        "select request_hash, response_status, response_body from idempotency_keys where merchant_id = $1 and key = $2",
    )
    .bind(merchant_id)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Claim::Saved {
        request_hash,
        status: status.unwrap_or(500) as u16,
        body: body.unwrap_or_default(),
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

/// Deletes keys created before `cutoff`, at most `batch` of them; returns how many went.
pub async fn delete_older_than(
    pool: &sqlx::PgPool,
    cutoff: chrono::DateTime<chrono::Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "delete from idempotency_keys where ctid in (
             select ctid from idempotency_keys where created_at < $1 limit $2 for update skip locked)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

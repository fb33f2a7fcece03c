//! Provider callbacks as received: stored before anything acts on them, de-duplicated by key.

use serde_json::Value;
use sqlx::PgExecutor;

pub struct NewReceipt<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub merchant_id: Option<&'a str>,
    pub attempt_id: Option<&'a str>,
    pub headers: &'a Value,
    pub body: &'a [u8],
    pub verdict: &'a str,
    pub dedupe_key: Option<&'a str>,
    pub outcome: Option<&'a str>,
}

/// Stores a receipt. With a `dedupe_key`, returns whether it is the first receipt of that key (only the
/// first is acted on); the check and the insert are one statement, so simultaneous deliveries of one
/// callback cannot both be first.
pub async fn insert(db: impl PgExecutor<'_>, r: &NewReceipt<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "with first as (
             insert into webhook_dedupe (provider, dedupe_key, receipt_id)
             select $2, $8, $1 where $8::text is not null
             on conflict do nothing
             returning 1
         ), receipt as (
             insert into webhook_receipts (id, provider, merchant_id, attempt_id, headers, body, verdict,
                                           dedupe_key, duplicate, outcome)
             values ($1, $2, $3, $4, $5, $6, $7, $8,
                     $8::text is not null and not exists (select 1 from first), $9)
         )
         select $8::text is null or exists (select 1 from first)",
    )
    .bind(r.id)
    .bind(r.provider)
    .bind(r.merchant_id)
    .bind(r.attempt_id)
    .bind(sqlx::types::Json(r.headers))
    .bind(r.body)
    .bind(r.verdict)
    .bind(r.dedupe_key)
    .bind(r.outcome)
    .fetch_one(db)
    .await
}

pub async fn body(db: impl PgExecutor<'_>, id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("select body from webhook_receipts where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn processed(
    db: impl PgExecutor<'_>,
    id: &str,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update webhook_receipts set processed_at = now(), outcome = $2 where id = $1")
        .bind(id)
        .bind(outcome)
        .execute(db)
        .await?;
    Ok(())
}

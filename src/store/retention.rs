//! Deletes operational records past their retention, a bounded batch at a time (`jobs::retention`).
//! Events and collection history are never deleted: they are the merchants' record.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What one kind of record is, and the statement that deletes a batch of it older than `$1`.
pub struct Kept {
    pub name: &'static str,
    sql: &'static str,
}

pub const IDEMPOTENCY_KEYS: Kept = Kept {
    name: "idempotency_keys",
    sql: "delete from idempotency_keys where ctid in (
              select ctid from idempotency_keys where created_at < $1 limit $2 for update skip locked)",
};

/// Verified and unsigned receipts, with their de-duplication keys (a provider's retries end long before).
pub const RECEIPTS: Kept = Kept {
    name: "webhook_receipts",
    sql: "with gone as (
              delete from webhook_receipts where id in (
                  select id from webhook_receipts where verdict <> 'rejected' and received_at < $1
                  limit $2 for update skip locked)
              returning id
          ), keys as (
              delete from webhook_dedupe where receipt_id in (select id from gone)
          )
          select 1 from gone",
};

pub const REJECTED_RECEIPTS: Kept = Kept {
    name: "rejected_webhook_receipts",
    sql: "delete from webhook_receipts where id in (
              select id from webhook_receipts where verdict = 'rejected' and received_at < $1
              limit $2 for update skip locked)",
};

pub const FAILED_JOBS: Kept = Kept {
    name: "failed_jobs",
    sql: "delete from jobs where id in (
              select id from jobs where status = 'failed' and updated_at < $1
              limit $2 for update skip locked)",
};

/// Finished deliveries to merchants' endpoints and their tries (the events themselves stay).
pub const DELIVERIES: Kept = Kept {
    name: "webhook_deliveries",
    sql: "delete from webhook_deliveries where id in (
              select id from webhook_deliveries where status <> 'pending' and updated_at < $1
              limit $2 for update skip locked)",
};

/// Delivery reports that arrived before their send was recorded and were never claimed by one (a report
/// for a message of another system, say): kept as long as verified receipts.
pub const EARLY_REPORTS: Kept = Kept {
    name: "early_delivery_reports",
    sql: "delete from early_delivery_reports where ctid in (
              select ctid from early_delivery_reports where received_at < $1
              limit $2 for update skip locked)",
};

/// Deletes up to `batch` records of `kept` older than `cutoff`; returns how many went.
pub async fn delete_older_than(
    pool: &PgPool,
    kept: &Kept,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(kept.sql)
        .bind(cutoff)
        .bind(batch)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

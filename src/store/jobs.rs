//! The durable job queue: rows written in the same transaction as the change that needs them, taken
//! under a lease with `FOR UPDATE SKIP LOCKED`, so several processes share the work without doing any
//! job twice at once, and a crashed process's jobs are taken again when its lease runs out.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub merchant_id: Option<String>,
    pub payload: sqlx::types::Json<Value>,
    /// How many times the job has been taken, this time included.
    pub attempts: i32,
}

/// Queues a job, or — when an open job of the same kind and key exists — moves that job's run time
/// earlier if `run_at` is sooner. So "re-check this attempt now" never makes a second poller.
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    kind: &str,
    key: &str,
    merchant_id: Option<&str>,
    payload: &Value,
    run_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into jobs (kind, key, merchant_id, payload, run_at) values ($1, $2, $3, $4, $5)
         on conflict (kind, key) where status = 'queued'
         do update set run_at = least(jobs.run_at, excluded.run_at), updated_at = now()",
    )
    .bind(kind)
    .bind(key)
    .bind(merchant_id)
    .bind(sqlx::types::Json(payload))
    .bind(run_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes up to `batch` due jobs for `worker`, reserving them for `lease`.
pub async fn take(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    batch: i64,
) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(
        "with due as (
             select id from jobs
             where status = 'queued' and run_at <= now()
               and (locked_until is null or locked_until < now())
             order by run_at
             limit $3
             for update skip locked
         )
         update jobs j
         set locked_by = $1, locked_until = now() + make_interval(secs => $2),
             attempts = j.attempts + 1, updated_at = now()
         from due where j.id = due.id
         returning j.id, j.kind, j.key, j.merchant_id, j.payload, j.attempts",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(batch)
    .fetch_all(pool)
    .await
}

/// The job is done: it leaves the queue (only if this worker still holds it).
pub async fn finish(db: impl PgExecutor<'_>, id: i64, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from jobs where id = $1 and locked_by = $2")
        .bind(id)
        .bind(worker)
        .execute(db)
        .await?;
    Ok(())
}

/// Releases the job to run again at `run_at`.
pub async fn retry_at(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    run_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set run_at = $3, locked_by = null, locked_until = null, last_error = $4, updated_at = now()
         where id = $1 and locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(run_at)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// The job gave up: kept as `failed` with its last error, for operators to see and retry.
pub async fn give_up(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set status = 'failed', locked_by = null, locked_until = null, last_error = $3,
                         updated_at = now()
         where id = $1 and locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

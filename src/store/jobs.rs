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
    /// The worker holding it: a handler that ends the job in its own last transaction passes this to
    /// [`finish`] there.
    pub worker: String,
}

/// Queues a job, or — when an open job of the same kind and key exists — moves that job's run time
/// earlier if `run_at` is sooner. So "re-check this attempt now" never makes a second poller. When that
/// job is running right now, it is marked to run once more after it ends (`rerun`), so a request made
/// while it ran (a callback arriving mid-poll) is never lost.
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
         do update set run_at = least(jobs.run_at, excluded.run_at),
                       rerun = jobs.rerun or coalesce(jobs.locked_until > now(), false),
                       updated_at = now()",
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

/// Removes the queued job of this kind and key unless a worker is running it (that run ends by itself):
/// the thing it watched is settled.
pub async fn cancel(db: impl PgExecutor<'_>, kind: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from jobs where kind = $1 and key = $2 and status = 'queued'
           and (locked_until is null or locked_until < now())",
    )
    .bind(kind)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes up to `batch` due jobs for `worker`, reserving them for `lease` (renewed while they run).
pub async fn take(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    batch: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(
        "with due as (
             select id from jobs
             where status = 'queued' and run_at <= $4
               and (locked_until is null or locked_until < now())
             order by run_at
             limit $3
             for update skip locked
         )
         update jobs j
         set locked_by = $1, locked_until = now() + make_interval(secs => $2),
             attempts = j.attempts + 1, updated_at = now()
         from due where j.id = due.id
         returning j.id, j.kind, j.key, j.merchant_id, j.payload, j.attempts, j.locked_by as worker",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(batch)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// The job is done: it leaves the queue (only if this worker still holds it), unless it was asked to
/// run again while it ran: then it runs again now.
pub async fn finish(db: impl PgExecutor<'_>, id: i64, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("with {} select", finish_ctes("$1", "$2")))
        .bind(id)
        .bind(worker)
        .execute(db)
        .await?;
    Ok(())
}

/// [`finish`] as two CTEs (`job_again`, `job_done`) for a statement that records the job's effect, so
/// the job ends in that statement: `id` and `worker` are the statement's parameters (a null `id` ends
/// nothing).
pub fn finish_ctes(id: &str, worker: &str) -> String {
    format!(
        "job_again as (
             update jobs set rerun = false, run_at = now(), attempts = 0, locked_by = null,
                             locked_until = null, updated_at = now()
             where id = {id} and locked_by = {worker} and rerun
             returning id
         ), job_done as (
             delete from jobs where id = {id} and locked_by = {worker} and not rerun
         )"
    )
}

/// Releases the job to run again at `run_at` (now, if it was asked to run again while it ran). A
/// failed run (`error`) counts towards the kind's cap; a clean reschedule starts the count again.
pub async fn retry_at(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    run_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set run_at = case when rerun then now() else $3 end, rerun = false,
                         attempts = case when $4::text is null then 0 else attempts end,
                         locked_by = null, locked_until = null, last_error = $4, updated_at = now()
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

/// Extends a running job's lease; false when this worker no longer holds it.
pub async fn renew(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set locked_until = now() + make_interval(secs => $3)
         where id = $1 and locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub merchant_id: Option<String>,
    pub payload: sqlx::types::Json<Value>,
    pub status: String,
    pub attempts: i32,
    pub run_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Operators' view: jobs by status and kind (all when `None`), newest change first.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, kind, key, merchant_id, payload, status, attempts, run_at, locked_until, last_error,
                created_at, updated_at
         from jobs where ($1::text is null or status = $1) and ($2::text is null or kind = $2)
         order by updated_at desc, id desc limit $3",
    )
    .bind(status)
    .bind(kind)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Puts a failed job back in the queue to run now. `None` when there is no such failed job; an error
/// naming the unique index when an open job of the same kind and key already exists.
pub async fn retry_failed(pool: &PgPool, id: i64) -> Result<Option<()>, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set status = 'queued', attempts = 0, run_at = now(), locked_by = null,
                         locked_until = null, updated_at = now()
         where id = $1 and status = 'failed'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok((done.rows_affected() == 1).then_some(()))
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

/// Jobs by kind and status (for `/metrics`; a scan, so read at most once per refresh interval).
pub async fn depth(pool: &PgPool) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select kind, status, count(*) from jobs group by kind, status order by kind, status",
    )
    .fetch_all(pool)
    .await
}

/// Removes a job its handler has finished with, in the handler's own transaction.
pub async fn remove(db: impl PgExecutor<'_>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from jobs where id = $1 and not rerun")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Puts the running job `id` back in the queue for `run_at` with a new payload, in the handler's own
/// transaction (so the next step is written with the work of this one); the queue's own bookkeeping
/// afterwards finds the job released and leaves it be.
pub async fn requeue(
    db: impl PgExecutor<'_>,
    id: i64,
    run_at: DateTime<Utc>,
    payload: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set run_at = $2, payload = $3, attempts = 0, rerun = false, locked_by = null,
                         locked_until = null, last_error = null, updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(run_at)
    .bind(sqlx::types::Json(payload))
    .execute(db)
    .await?;
    Ok(())
}

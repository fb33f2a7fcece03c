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
    /// What the first receipt of its key sets going, in the same statement.
    pub then: Then<'a>,
}

/// What a first receipt sets going (a duplicate sets nothing going).
pub enum Then<'a> {
    /// Nothing: it is recorded only, or a caller's own transaction acts on it.
    Nothing,
    /// Nothing is left to do: it is stamped processed at once, with its `outcome`.
    Processed,
    /// A job that acts on it, keyed by the receipt's id, due now.
    Job {
        kind: &'a str,
        merchant_id: &'a str,
        payload: &'a Value,
    },
    /// The job, unless the attempt it names has meanwhile recorded exactly this success: then the
    /// receipt is stamped processed with `outcome_if_settled` instead. The attempt is read under a share
    /// lock, so a settlement in flight (the charge's own answer being recorded) is waited for rather than
    /// raced: a repeat of the answer Cowry is recording costs no job.
    JobUnlessSettled {
        job: (&'a str, &'a str, &'a Value),
        attempt_id: &'a str,
        amount_minor: i64,
        currency: &'a str,
        outcome_if_settled: &'a str,
    },
}

/// Stores a receipt and what it sets going. With a `dedupe_key`, returns whether it is the first
/// receipt of that key (only the first is acted on); the check, the insert and the job are one
/// statement, so simultaneous deliveries of one callback cannot both be first, and a receipt is never
/// stored without the job that acts on it (nor the job without it).
pub async fn insert(db: impl PgExecutor<'_>, r: &NewReceipt<'_>) -> Result<bool, sqlx::Error> {
    let (processed, job, settles) = match &r.then {
        Then::Nothing => (false, None, None),
        Then::Processed => (true, None, None),
        Then::Job {
            kind,
            merchant_id,
            payload,
        } => (false, Some((*kind, *merchant_id, *payload)), None),
        Then::JobUnlessSettled {
            job,
            attempt_id,
            amount_minor,
            currency,
            outcome_if_settled,
        } => (
            false,
            Some(*job),
            Some((*attempt_id, *amount_minor, *currency, *outcome_if_settled)),
        ),
    };
    sqlx::query_scalar(
        "with settled as (
             -- By primary key alone, so that the share lock waits for a settlement in flight and the
             -- comparison then sees what it wrote.
             select status = 'succeeded' and amount_minor = $15 and trim(currency) = $16 as yes
             from provider_attempts
             where $14::text is not null and merchant_id = $12 and id = $14
             for share
         ), first as (
             insert into webhook_dedupe (provider, dedupe_key, receipt_id)
             select $2, $8, $1 where $8::text is not null
             on conflict do nothing
             returning 1
         ), verdict as (
             select $8::text is null or exists (select 1 from first) as first,
                    coalesce((select yes from settled), false) as settled
         ), receipt as (
             insert into webhook_receipts (id, provider, merchant_id, attempt_id, headers, body, verdict,
                                           dedupe_key, duplicate, outcome, processed_at)
             select $1, $2, $3, $4, $5, $6, $7, $8, not verdict.first,
                    case when verdict.settled then $17 else $9 end,
                    case when ($10 or verdict.settled) and verdict.first then now() end
             from verdict
         ), job as (
             insert into jobs (kind, key, merchant_id, payload)
             select $11, $1, $12, $13 from verdict
             where verdict.first and not verdict.settled and $11::text is not null
             on conflict do nothing
         )
         select first from verdict",
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
    .bind(processed)
    .bind(job.map(|j| j.0))
    .bind(job.map(|j| j.1))
    .bind(job.map(|j| sqlx::types::Json(j.2)))
    .bind(settles.map(|s| s.0))
    .bind(settles.map(|s| s.1))
    .bind(settles.map(|s| s.2))
    .bind(settles.map(|s| s.3))
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

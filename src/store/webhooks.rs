//! Provider callbacks as received: stored before anything acts on them, de-duplicated by key.

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use super::group_commit::Batch;

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

/// A receipt as one row of [`RECEIPTS_SQL`]: owned, so that it can be handed to the group-commit
/// writer ([`Receipts`]).
#[derive(Debug, Clone)]
pub struct ReceiptRow {
    pub(crate) id: String,
    pub(crate) provider: String,
    merchant_id: Option<String>,
    attempt_id: Option<String>,
    pub(crate) headers: Value,
    pub(crate) body: Vec<u8>,
    pub(crate) verdict: String,
    pub(crate) dedupe_key: Option<String>,
    outcome: Option<String>,
    /// Stamped processed at once (if first).
    processed: bool,
    /// The job a first receipt sets going: kind, merchant, payload.
    job: Option<(String, String, Value)>,
    /// The job only unless this attempt has recorded exactly this success: attempt, amount, currency,
    /// and the outcome recorded instead.
    unless_settled: Option<(String, i64, String, String)>,
}

impl NewReceipt<'_> {
    pub fn row(&self) -> ReceiptRow {
        let owned = |s: &str| s.to_owned();
        let job = |(kind, merchant, payload): (&str, &str, &Value)| {
            (owned(kind), owned(merchant), payload.clone())
        };
        let (processed, job, unless_settled) = match &self.then {
            Then::Nothing => (false, None, None),
            Then::Processed => (true, None, None),
            Then::Job {
                kind,
                merchant_id,
                payload,
            } => (false, Some(job((kind, merchant_id, payload))), None),
            Then::JobUnlessSettled {
                job: wanted,
                attempt_id,
                amount_minor,
                currency,
                outcome_if_settled,
            } => (
                false,
                Some(job(*wanted)),
                Some((
                    owned(attempt_id),
                    *amount_minor,
                    owned(currency),
                    owned(outcome_if_settled),
                )),
            ),
        };
        ReceiptRow {
            id: owned(self.id),
            provider: owned(self.provider),
            merchant_id: self.merchant_id.map(owned),
            attempt_id: self.attempt_id.map(owned),
            headers: self.headers.clone(),
            body: self.body.to_vec(),
            verdict: owned(self.verdict),
            dedupe_key: self.dedupe_key.map(owned),
            outcome: self.outcome.map(owned),
            processed,
            job,
            unless_settled,
        }
    }
}

/// Stores a receipt and what it sets going. With a `dedupe_key`, returns whether it is the first
/// receipt of that key (only the first is acted on); the check, the insert and the job are one
/// statement, so simultaneous deliveries of one callback cannot both be first, and a receipt is never
/// stored without the job that acts on it (nor the job without it).
pub async fn insert(db: impl PgExecutor<'_>, r: &NewReceipt<'_>) -> Result<bool, sqlx::Error> {
    insert_row(db, &r.row()).await
}

/// [`insert`]'s statement. (One receipt alone runs this rather than [`RECEIPTS_SQL`] with one row: it
/// costs half as much.)
pub const RECEIPT_SQL: &str = "with settled as (
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
    select first from verdict";

async fn insert_row(db: impl PgExecutor<'_>, r: &ReceiptRow) -> Result<bool, sqlx::Error> {
    let job = r.job.as_ref();
    let unless = r.unless_settled.as_ref();
    sqlx::query_scalar(RECEIPT_SQL)
        .bind(&r.id)
        .bind(&r.provider)
        .bind(&r.merchant_id)
        .bind(&r.attempt_id)
        .bind(sqlx::types::Json(&r.headers))
        .bind(&r.body)
        .bind(&r.verdict)
        .bind(&r.dedupe_key)
        .bind(&r.outcome)
        .bind(r.processed)
        .bind(job.map(|j| j.0.as_str()))
        .bind(job.map(|j| j.1.as_str()))
        .bind(job.map(|j| sqlx::types::Json(&j.2)))
        .bind(unless.map(|u| u.0.as_str()))
        .bind(unless.map(|u| u.1))
        .bind(unless.map(|u| u.2.as_str()))
        .bind(unless.map(|u| u.3.as_str()))
        .fetch_one(db)
        .await
}

/// [`RECEIPT_SQL`] for many receipts in one statement, each row's values in the arrays' same position;
/// the answers (whether each is the first of its key) in the rows' order. Keys are claimed in key order, so
/// that two statements never wait on each other's keys in opposite orders.
pub const RECEIPTS_SQL: &str = "with input as (
        select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[],
                             $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::text[],
                             $13::jsonb[], $14::text[], $15::int8[], $16::text[], $17::text[])
            with ordinality as i(id, provider, merchant_id, attempt_id, headers, body, verdict, dedupe_key,
                                 outcome, processed, job_kind, job_merchant, job_payload, settle_attempt,
                                 settle_amount, settle_currency, settle_outcome, n)
    ), settled as (
        -- By primary key alone, row by row, so that the share lock waits for a settlement in flight and
        -- the comparison then sees what it wrote.
        select i.n, s.yes
        from input i cross join lateral (
            select a.status = 'succeeded' and a.amount_minor = i.settle_amount
                   and trim(a.currency) = i.settle_currency as yes
            from provider_attempts a
            where a.merchant_id = i.job_merchant and a.id = i.settle_attempt
            for share of a) s
        where i.settle_attempt is not null
    ), first as (
        insert into webhook_dedupe (provider, dedupe_key, receipt_id)
        select provider, dedupe_key, id from input where dedupe_key is not null
        order by provider, dedupe_key
        on conflict do nothing
        returning receipt_id
    ), decided as (
        select i.*, i.dedupe_key is null or exists (select 1 from first f where f.receipt_id = i.id) as is_first,
               coalesce((select s.yes from settled s where s.n = i.n), false) as is_settled
        from input i
    ), receipt as (
        insert into webhook_receipts (id, provider, merchant_id, attempt_id, headers, body, verdict,
                                      dedupe_key, duplicate, outcome, processed_at)
        select id, provider, merchant_id, attempt_id, headers, body, verdict, dedupe_key, not is_first,
               case when is_settled then settle_outcome else outcome end,
               case when (processed or is_settled) and is_first then now() end
        from decided order by n
    ), job as (
        insert into jobs (kind, key, merchant_id, payload)
        select job_kind, id, job_merchant, job_payload from decided
        where is_first and not is_settled and job_kind is not null
        order by n
        on conflict do nothing
    )
    select is_first from decided order by n";

pub async fn insert_rows(
    db: impl PgExecutor<'_>,
    rows: &[ReceiptRow],
) -> Result<Vec<bool>, sqlx::Error> {
    fn column<'a, T>(rows: &'a [ReceiptRow], f: impl Fn(&'a ReceiptRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    fn job(r: &ReceiptRow) -> Option<&(String, String, Value)> {
        r.job.as_ref()
    }
    fn unless(r: &ReceiptRow) -> Option<&(String, i64, String, String)> {
        r.unless_settled.as_ref()
    }
    sqlx::query_scalar(RECEIPTS_SQL)
        .bind(column(rows, |r| r.id.as_str()))
        .bind(column(rows, |r| r.provider.as_str()))
        .bind(column(rows, |r| r.merchant_id.as_deref()))
        .bind(column(rows, |r| r.attempt_id.as_deref()))
        .bind(column(rows, |r| sqlx::types::Json(&r.headers)))
        .bind(column(rows, |r| r.body.as_slice()))
        .bind(column(rows, |r| r.verdict.as_str()))
        .bind(column(rows, |r| r.dedupe_key.as_deref()))
        .bind(column(rows, |r| r.outcome.as_deref()))
        .bind(column(rows, |r| r.processed))
        .bind(column(rows, |r| job(r).map(|j| j.0.as_str())))
        .bind(column(rows, |r| job(r).map(|j| j.1.as_str())))
        .bind(column(rows, |r| job(r).map(|j| sqlx::types::Json(&j.2))))
        .bind(column(rows, |r| unless(r).map(|u| u.0.as_str())))
        .bind(column(rows, |r| unless(r).map(|u| u.1)))
        .bind(column(rows, |r| unless(r).map(|u| u.2.as_str())))
        .bind(column(rows, |r| unless(r).map(|u| u.3.as_str())))
        .fetch_all(db)
        .await
}

/// Verified callbacks' receipts, for [`super::group_commit::GroupCommit`]: each answered with whether
/// it is the first of its key. A batch waits, as one receipt does, for a settlement in flight that one
/// of its rows checks.
pub struct Receipts;

impl Batch for Receipts {
    type Row = ReceiptRow;
    type Answer = bool;

    async fn one(pool: &PgPool, row: &ReceiptRow) -> Result<bool, sqlx::Error> {
        insert_row(pool, row).await
    }

    async fn many(
        pool: &PgPool,
        rows: &[ReceiptRow],
    ) -> Result<Vec<Result<bool, sqlx::Error>>, sqlx::Error> {
        let answers = insert_rows(pool, rows).await?;
        if answers.len() != rows.len() {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok(answers.into_iter().map(Ok).collect())
    }

    fn observe(rows: usize) {
        crate::metrics::METRICS
            .receipt_batch_rows
            .observe(rows as f64);
    }
}

pub async fn body(db: impl PgExecutor<'_>, id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("select body from webhook_receipts where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// [`processed`], and the job that acted on the receipt ends in the same statement
/// (`jobs::finish_ctes`): the receipt's effect, its stamp and the job's end commit together.
pub async fn processed_by(
    db: impl PgExecutor<'_>,
    id: &str,
    outcome: &str,
    job: &super::jobs::Job,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "with {}, stamped as (
             update webhook_receipts set processed_at = now(), outcome = $4 where id = $3
         )
         select",
        super::jobs::finish_ctes("$1", "$2")
    ))
    .bind(job.id)
    .bind(&job.worker)
    .bind(id)
    .bind(outcome)
    .execute(db)
    .await?;
    Ok(())
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

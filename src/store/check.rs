//! The money path's invariants, checked against the database (`cowry check`, `GET /admin/check`):
//! every open payment has a job watching it, no job watches a settled one, and what is `unknown` (money
//! that may have moved without Cowry knowing how) is listed with its amount and age.

use serde::Serialize;
use sqlx::PgPool;

/// Provider operations that make a payment (polled until final); the others (a virtual account, a
/// customer record) are not watched.
pub const PAYMENT_OPERATIONS: &[&str] = &[
    "initialize",
    "charge",
    "request_to_pay",
    "collect",
    "charge_authorization",
];

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub merchant_id: String,
    pub attempt_id: Option<String>,
    /// `collect` or `collection`, when the finding is about an owner.
    pub owner: Option<String>,
    pub owner_id: Option<String>,
    pub status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub age_seconds: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Violations: open payments no job watches, and settled ones a job still watches.
    pub problems: usize,
    /// Open payment attempts (and `PENDING` collects) with no queued reconciliation job.
    pub unwatched: Vec<Finding>,
    /// Queued reconciliation jobs whose attempt (or collect) is already final.
    pub watching_settled: Vec<Finding>,
    /// Attempts whose outcome is unknown: money at risk until the provider answers.
    pub unknown: Vec<Finding>,
    /// Collects held for an operator's review (a success Cowry would not accept as paid).
    pub held_for_review: Vec<Finding>,
}

const WATCHED: &str =
    "exists (select 1 from jobs j where j.kind = 'reconcile' and j.status = 'queued'
                                 and j.key = a.merchant_id || '/' || a.id)";

pub async fn run(pool: &PgPool) -> Result<Report, sqlx::Error> {
    let unwatched: Vec<Finding> = sqlx::query_as(&format!(
        "select a.merchant_id, a.id as attempt_id,
                case when a.collect_id is not null then 'collect' when a.collection_id is not null then 'collection'
                     when a.debit_id is not null then 'debit' end as owner,
                coalesce(a.collect_id, a.collection_id, a.debit_id) as owner_id, a.status, a.amount_minor,
                a.currency::text as currency, extract(epoch from now() - a.created_at)::bigint as age_seconds
         from provider_attempts a
         where a.status in ('created', 'pending', 'unknown') and a.operation = any($1) and not {WATCHED}
         union all
         select c.merchant_id, null, 'collect', c.id, c.status, c.amount_minor, c.currency::text,
                extract(epoch from now() - c.created_at)::bigint
         from mobile_money_collects c
         where c.status = 'PENDING' and c.flag is null and not exists (
             select 1 from provider_attempts a
             where a.merchant_id = c.merchant_id and a.collect_id = c.id and a.status in ('created', 'pending', 'unknown'))
         order by age_seconds desc limit 500"
    ))
    .bind(PAYMENT_OPERATIONS)
    .fetch_all(pool)
    .await?;
    let watching_settled: Vec<Finding> = sqlx::query_as(&format!(
        "select a.merchant_id, a.id as attempt_id,
                case when a.collect_id is not null then 'collect' when a.collection_id is not null then 'collection'
                     when a.debit_id is not null then 'debit' end as owner,
                coalesce(a.collect_id, a.collection_id, a.debit_id) as owner_id, a.status, a.amount_minor,
                a.currency::text as currency, extract(epoch from now() - a.created_at)::bigint as age_seconds
         from provider_attempts a
         left join mobile_money_collects c on c.merchant_id = a.merchant_id and c.id = a.collect_id
         where {WATCHED}
           and (a.status not in ('created', 'pending', 'unknown') or c.status in ('SUCCESS', 'FAILED', 'ROLLED_BACK'))
         order by age_seconds desc limit 500"
    ))
    .fetch_all(pool)
    .await?;
    let unknown: Vec<Finding> = sqlx::query_as(
        "select a.merchant_id, a.id as attempt_id,
                case when a.collect_id is not null then 'collect' when a.collection_id is not null then 'collection'
                     when a.debit_id is not null then 'debit' end as owner,
                coalesce(a.collect_id, a.collection_id, a.debit_id) as owner_id, a.status, a.amount_minor,
                a.currency::text as currency, extract(epoch from now() - a.created_at)::bigint as age_seconds
         from provider_attempts a where a.status = 'unknown'
         order by a.created_at limit 500",
    )
    .fetch_all(pool)
    .await?;
    let held_for_review: Vec<Finding> = sqlx::query_as(
        "select c.merchant_id, null as attempt_id, 'collect' as owner, c.id as owner_id, c.status,
                c.amount_minor, c.currency::text as currency,
                extract(epoch from now() - c.created_at)::bigint as age_seconds
         from mobile_money_collects c where c.status = 'PENDING' and c.flag is not null
         order by c.created_at limit 500",
    )
    .fetch_all(pool)
    .await?;
    Ok(Report {
        problems: unwatched.len() + watching_settled.len(),
        unwatched,
        watching_settled,
        unknown,
        held_for_review,
    })
}

/// Money at risk per provider: how many attempts are `unknown`, the oldest one's age, and the amount
/// they hold per currency (for the metrics).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AtRisk {
    pub provider: String,
    pub currency: String,
    pub count: i64,
    pub oldest_seconds: i64,
    pub amount_minor: i64,
}

pub async fn at_risk(pool: &PgPool) -> Result<Vec<AtRisk>, sqlx::Error> {
    sqlx::query_as(
        "select kind as provider, coalesce(currency::text, '') as currency, count(*) as count,
                coalesce(max(extract(epoch from now() - created_at))::bigint, 0) as oldest_seconds,
                coalesce(sum(amount_minor), 0)::bigint as amount_minor
         from provider_attempts where status = 'unknown' group by 1, 2",
    )
    .fetch_all(pool)
    .await
}

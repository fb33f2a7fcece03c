//! Merchants' webhook endpoints and the deliveries to them (see migration 0009).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub merchant_id: String,
    pub url: String,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: bool,
    /// Sealed (`domain::secretbox`, bound to `webhook_endpoint/{id}`).
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_expires_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, merchant_id, url, description, events, enabled, secret, previous_secret,
    previous_expires_at, failing_since, disabled_reason, created_at, updated_at";

pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: Option<&'a [String]>,
    pub sealed_secret: &'a [u8],
}

pub async fn insert(
    pool: &PgPool,
    merchant_id: &str,
    new: &NewEndpoint<'_>,
) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "insert into webhook_endpoints (id, merchant_id, url, description, events, secret)
         values ($1, $2, $3, $4, $5, $6) returning {COLUMNS}"
    ))
    .bind(new.id)
    .bind(merchant_id)
    .bind(new.url)
    .bind(new.description)
    .bind(new.events)
    .bind(new.sealed_secret)
    .fetch_one(pool)
    .await
}

pub async fn list(pool: &PgPool, merchant_id: &str) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_endpoints where merchant_id = $1 order by created_at, id"
    ))
    .bind(merchant_id)
    .fetch_all(pool)
    .await
}

pub async fn get(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_endpoints where merchant_id = $1 and id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// What `PATCH` changes (absent fields stay).
#[derive(Debug, Default)]
pub struct Change {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub events: Option<Option<Vec<String>>>,
    pub enabled: Option<bool>,
}

pub async fn update(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
    change: &Change,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "update webhook_endpoints set
             url = coalesce($3, url),
             description = case when $4 then $5 else description end,
             events = case when $6 then $7 else events end,
             enabled = coalesce($8, enabled),
             -- re-enabling starts afresh: no failure streak, no reason
             failing_since = case when $8 then null else failing_since end,
             disabled_reason = case when $8 then null else disabled_reason end,
             updated_at = now()
         where merchant_id = $1 and id = $2 returning {COLUMNS}"
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(&change.url)
    .bind(change.description.is_some())
    .bind(change.description.clone().flatten())
    .bind(change.events.is_some())
    .bind(change.events.clone().flatten())
    .bind(change.enabled)
    .fetch_optional(pool)
    .await
}

pub async fn delete(pool: &PgPool, merchant_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from webhook_endpoints where merchant_id = $1 and id = $2")
        .bind(merchant_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A new secret; the current one becomes the previous, signing beside it until `previous_until`.
pub async fn rotate_secret(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
    sealed_new: &[u8],
    previous_until: DateTime<Utc>,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "update webhook_endpoints set previous_secret = secret, previous_expires_at = $4,
                secret = $3, updated_at = now()
         where merchant_id = $1 and id = $2 returning {COLUMNS}"
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(sealed_new)
    .bind(previous_until)
    .fetch_optional(pool)
    .await
}

/// Every sealed secret (for key rotation): (endpoint id, column, value).
pub async fn all_secrets(
    pool: &PgPool,
) -> Result<Vec<(String, Vec<u8>, Option<Vec<u8>>)>, sqlx::Error> {
    sqlx::query_as("select id, secret, previous_secret from webhook_endpoints order by id")
        .fetch_all(pool)
        .await
}

pub async fn reseal(
    pool: &PgPool,
    id: &str,
    before: (&[u8], Option<&[u8]>),
    after: (&[u8], Option<&[u8]>),
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update webhook_endpoints set secret = $4, previous_secret = $5
         where id = $1 and secret = $2 and previous_secret is not distinct from $3",
    )
    .bind(id)
    .bind(before.0)
    .bind(before.1)
    .bind(after.0)
    .bind(after.1)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub merchant_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: sqlx::types::Json<Value>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str =
    "id, merchant_id, endpoint_id, event_id, event_type, payload, status,
    attempts, next_attempt_at, last_status, last_error, created_at, updated_at, delivered_at";

pub async fn merchant_delivery(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries where merchant_id = $1 and id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A pending delivery with what sending it needs from its endpoint (one query).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sendable {
    pub id: String,
    pub merchant_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub payload: sqlx::types::Json<Value>,
    pub status: String,
    pub attempts: i32,
    pub url: String,
    pub enabled: bool,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_expires_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
}

pub async fn sendable(pool: &PgPool, id: &str) -> Result<Option<Sendable>, sqlx::Error> {
    sqlx::query_as(
        "select d.id, d.merchant_id, d.endpoint_id, d.event_id, d.payload, d.status, d.attempts,
                e.url, e.enabled, e.secret, e.previous_secret, e.previous_expires_at, e.failing_since
         from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
         where d.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// One try's outcome, as recorded.
pub struct Attempt<'a> {
    pub http_status: Option<i32>,
    pub latency_ms: i32,
    pub answer: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Records a try and moves the delivery — `delivered`, `failed`, or `pending` until `next_at` — in one
/// statement (one commit): the try's row, the endpoint's failure streak (written only when it starts
/// or ends, so deliveries to one endpoint never queue on its row lock), and, when the delivery is
/// finished, its job (`job_id`).
pub async fn record_attempt(
    pool: &PgPool,
    delivery_id: &str,
    attempt: &Attempt<'_>,
    status: &str,
    next_at: Option<DateTime<Utc>>,
    job_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with d as (
             update webhook_deliveries set attempts = attempts + 1, status = $2, next_attempt_at = $3,
                    last_status = $4, last_error = $5, updated_at = now(),
                    delivered_at = case when $2 = 'delivered' then now() else delivered_at end
             where id = $1 returning id, attempts, endpoint_id
         ), tried as (
             insert into webhook_delivery_attempts (delivery_id, attempt, http_status, latency_ms, answer, error)
             select id, attempts, $4, $6, $7, $5 from d
             on conflict do nothing
         ), streak as (
             update webhook_endpoints set failing_since = case when $2 = 'delivered' then null else now() end
             where id = (select endpoint_id from d) and (failing_since is null) <> ($2 = 'delivered')
         )
         delete from jobs where id = $8 and $3::timestamptz is null and not rerun",
    )
    .bind(delivery_id)
    .bind(status)
    .bind(next_at)
    .bind(attempt.http_status)
    .bind(attempt.error)
    .bind(attempt.latency_ms)
    .bind(attempt.answer)
    .bind(job_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Disables an endpoint (410 Gone, or failing for too long). `false` when it already was.
pub async fn disable(conn: &mut PgConnection, id: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update webhook_endpoints set enabled = false, disabled_reason = $2, updated_at = now()
         where id = $1 and enabled",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: String,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub http_status: Option<i32>,
    pub latency_ms: i32,
    pub answer: Option<String>,
    pub error: Option<String>,
}

pub async fn deliveries(
    pool: &PgPool,
    endpoint_id: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<(Vec<DeliveryRow>, Vec<AttemptRow>), sqlx::Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries
         where endpoint_id = $1 and ($2::text is null or status = $2)
         order by created_at desc, id limit $3"
    ))
    .bind(endpoint_id)
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let attempts = sqlx::query_as(
        "select delivery_id, attempt, attempted_at, http_status, latency_ms, answer, error
         from webhook_delivery_attempts where delivery_id = any($1) order by delivery_id, attempt",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok((rows, attempts))
}

/// Sends a delivery again now (a job at once). A delivery that had used up its tries gets this one
/// more; one delivered or still retrying keeps its place in the schedule.
pub async fn retry(conn: &mut PgConnection, delivery: &DeliveryRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries set status = 'pending', next_attempt_at = now(),
                updated_at = now() where id = $1",
    )
    .bind(&delivery.id)
    .execute(&mut *conn)
    .await?;
    crate::store::jobs::enqueue(
        &mut *conn,
        "deliver",
        &delivery.id,
        Some(&delivery.merchant_id),
        &serde_json::json!({}),
        Utc::now(),
    )
    .await
}

/// Endpoints across merchants that are failing or disabled, worst first (for operators).
pub async fn failing(pool: &PgPool, limit: i64) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_endpoints
         where failing_since is not null or not enabled
         order by enabled, failing_since nulls last, id limit $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Ends a delivery without sending it (its endpoint was disabled or deleted meanwhile).
pub async fn abandon(pool: &PgPool, id: &str, why: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries set status = 'failed', last_error = $2, next_attempt_at = null,
                updated_at = now() where id = $1 and status = 'pending'",
    )
    .bind(id)
    .bind(why)
    .execute(pool)
    .await?;
    Ok(())
}

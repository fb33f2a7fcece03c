//! Mobile-money collects and their events.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CollectRow {
    pub id: String,
    pub external_id: Option<String>,
    pub payer: String,
    pub amount_minor: i64,
    pub currency: String,
    pub network: String,
    pub provider: String,
    pub status: String,
    pub message: Option<String>,
    pub payer_message: Option<String>,
    pub payee_note: Option<String>,
    pub payer_name: Option<String>,
    pub balance_id: String,
    pub flag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, external_id, payer, amount_minor, currency, network, provider, status, message,
    payer_message, payee_note, payer_name, balance_id, flag, created_at, updated_at, completed_at";

pub struct CollectFilter {
    pub status: Option<String>,
    pub external_id: Option<String>,
    /// The network code (`MTN_UG`), as the payload's `provider` shows it.
    pub network: Option<String>,
    pub payer: Option<String>,
    pub page: super::Page,
}

/// Newest first; (created_at, id) gives a total order, so a cursor walk sees every row exactly once.
pub async fn list(
    pool: &PgPool,
    merchant_id: &str,
    filter: &CollectFilter,
) -> Result<Vec<CollectRow>, sqlx::Error> {
    let (after_at, after_id) = filter.page.after.clone().unzip();
    sqlx::query_as(&format!(
        "select {COLUMNS} from mobile_money_collects
         where merchant_id = $1
           and ($2::text is null or status = $2)
           and ($3::text is null or external_id = $3)
           and ($4::text is null or network = $4)
           and ($5::text is null or payer = $5)
           and ($6::timestamptz is null or created_at >= $6)
           and ($7::timestamptz is null or created_at <= $7)
           and ($8::timestamptz is null or (created_at, id) < ($8, $9))
         order by created_at desc, id desc
         limit $10"
    ))
    .bind(merchant_id)
    .bind(&filter.status)
    .bind(&filter.external_id)
    .bind(&filter.network)
    .bind(&filter.payer)
    .bind(filter.page.created_from)
    .bind(filter.page.created_to)
    .bind(after_at)
    .bind(after_id)
    .bind(filter.page.limit)
    .fetch_all(pool)
    .await
}

/// Writes a new collect and its `collect.created` event (one statement). The collect belongs to the
/// contact with the payer's phone, found or created (`new_contact_id`; no name or email yet), so a
/// customer's collections and collects are one history.
pub async fn insert(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    row: &CollectRow,
    event_id: &str,
    new_contact_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with contact as (
             insert into contacts (merchant_id, id, first_name, last_name, phone, email, created_at, updated_at)
             values ($1, $18, '', '', $4, '', $15, $15)
             on conflict (merchant_id, phone) do update set updated_at = contacts.updated_at
             returning id
         ), collect as (
             insert into mobile_money_collects (merchant_id, id, external_id, payer, amount_minor, currency,
                 network, provider, status, message, payer_message, payee_note, payer_name, balance_id,
                 created_at, updated_at, completed_at, contact_id)
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, contact.id
             from contact
             returning id
         )
         insert into collect_events (merchant_id, id, collect_id, type, data, created_at)
         select $1, $17, id, 'collect.created', jsonb_build_object('status', $9::text), $15 from collect",
    )
    .bind(merchant_id)
    .bind(&row.id)
    .bind(&row.external_id)
    .bind(&row.payer)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(&row.network)
    .bind(&row.provider)
    .bind(&row.status)
    .bind(&row.message)
    .bind(&row.payer_message)
    .bind(&row.payee_note)
    .bind(&row.payer_name)
    .bind(&row.balance_id)
    .bind(row.created_at)
    .bind(row.completed_at)
    .bind(event_id)
    .bind(new_contact_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<CollectRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from mobile_money_collects where merchant_id = $1 and id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What the provider said to the push (a message, the payer's name), while the collect is still
/// `PENDING`: a poll or callback that settled it first keeps its word.
pub async fn record_sent(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    message: &str,
    payer_name: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update mobile_money_collects set message = $3, payer_name = coalesce($4, payer_name), updated_at = now()
         where merchant_id = $1 and id = $2 and status = 'PENDING'",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(message)
    .bind(payer_name)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes a collect the provider refused before anything could be paid (its events with it).
pub async fn delete(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with gone as (
             delete from mobile_money_collects where merchant_id = $1 and id = $2 and status = 'PENDING'
             returning id
         )
         delete from collect_events where merchant_id = $1 and collect_id in (select id from gone)",
    )
    .bind(merchant_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets the collect's outcome (status, message, flag; `completed_at` once it is final), only along the
/// state machine: from `PENDING`, or `SUCCESS → ROLLED_BACK`. Returns whether it moved.
pub async fn set_outcome(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    status: &str,
    message: Option<&str>,
    flag: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update mobile_money_collects
         set status = $3, message = coalesce($4, message), flag = coalesce($5, flag), updated_at = now(),
             completed_at = case when $3 = 'PENDING' then null else coalesce(completed_at, now()) end
         where merchant_id = $1 and id = $2
           and (status = 'PENDING' or (status = 'SUCCESS' and $3 = 'ROLLED_BACK'))",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(status)
    .bind(message)
    .bind(flag)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn add_event(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    collect_id: &str,
    event_id: &str,
    kind: &str,
    data: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into collect_events (merchant_id, id, collect_id, type, data, created_at)
         values ($1, $2, $3, $4, $5, now())",
    )
    .bind(merchant_id)
    .bind(event_id)
    .bind(collect_id)
    .bind(kind)
    .bind(sqlx::types::Json(data))
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub data: Option<sqlx::types::Json<Value>>,
    pub created_at: DateTime<Utc>,
}

pub async fn events(
    pool: &PgPool,
    merchant_id: &str,
    collect_id: &str,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, type, data, created_at from collect_events
         where merchant_id = $1 and collect_id = $2 order by seq",
    )
    .bind(merchant_id)
    .bind(collect_id)
    .fetch_all(pool)
    .await
}

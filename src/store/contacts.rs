//! Contacts as the merchant reads and edits them. They are made by the statement that creates a
//! collection (found by phone, then email); here they are listed, shown with their history, and changed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRecord {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
    pub preferred_channel: Option<String>,
    pub language: Option<String>,
    pub whatsapp_opt_in: Option<Json<Value>>,
    pub opted_out: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "ct.id, ct.first_name, ct.last_name, ct.phone, ct.email, ct.preferred_channel,
    ct.language, ct.whatsapp_opt_in,
    array(select o.channel from contact_opt_outs o
          where o.merchant_id = ct.merchant_id and o.contact_id = ct.id order by o.channel) as opted_out,
    ct.created_at, ct.updated_at";

#[derive(Debug, Default)]
pub struct ContactFilter {
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Matched against "first last", case-insensitively, anywhere in it.
    pub name: Option<String>,
    pub page: super::Page,
}

/// Newest first, (created_at, id) breaking ties.
pub async fn list(
    pool: &PgPool,
    merchant_id: &str,
    filter: &ContactFilter,
) -> Result<Vec<ContactRecord>, sqlx::Error> {
    let (after_at, after_id) = filter.page.after.clone().unzip();
    sqlx::query_as(&format!(
        "select {COLUMNS} from contacts ct
         where ct.merchant_id = $1
           and ($2::text is null or ct.phone = $2)
           and ($3::text is null or lower(ct.email) = lower($3))
           and ($4::text is null or (ct.first_name || ' ' || ct.last_name) ilike
                '%' || replace(replace(replace($4, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
           and ($5::timestamptz is null or ct.created_at >= $5)
           and ($6::timestamptz is null or ct.created_at <= $6)
           and ($7::timestamptz is null or (ct.created_at, ct.id) < ($7, $8))
         order by ct.created_at desc, ct.id desc
         limit $9"
    ))
    .bind(merchant_id)
    .bind(&filter.phone)
    .bind(&filter.email)
    .bind(&filter.name)
    .bind(filter.page.created_from)
    .bind(filter.page.created_to)
    .bind(after_at)
    .bind(after_id)
    .bind(filter.page.limit)
    .fetch_all(pool)
    .await
}

pub async fn get(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
) -> Result<Option<ContactRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from contacts ct where ct.merchant_id = $1 and ct.id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// One line of a contact's history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryLine {
    pub id: String,
    pub kind: String,
    pub reference: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// The contact's latest collections (`limit`), and its latest mobile-money collects (older collects,
/// made before collects had contacts, by its phone).
pub async fn history(
    pool: &PgPool,
    merchant_id: &str,
    contact_id: &str,
    phone: &str,
    limit: i64,
) -> Result<(Vec<HistoryLine>, Vec<HistoryLine>), sqlx::Error> {
    let collections = sqlx::query_as(
        "select id, type as kind, reference, amount_minor, currency, status, created_at
         from collections where merchant_id = $1 and contact_id = $2
         order by created_at desc, id desc limit $3",
    )
    .bind(merchant_id)
    .bind(contact_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let collects = sqlx::query_as(
        "select id, 'collect' as kind, external_id as reference, amount_minor, currency::text as currency,
                status, created_at
         from mobile_money_collects
         where merchant_id = $1 and (contact_id = $4 or (contact_id is null and payer = $2))
         order by created_at desc, id desc limit $3",
    )
    .bind(merchant_id)
    .bind(phone)
    .bind(limit)
    .bind(contact_id)
    .fetch_all(pool)
    .await?;
    Ok((collections, collects))
}

/// A change to a contact; `None` leaves a field as it is. `preferred_channel` and `language` are
/// `Some(None)` to clear.
#[derive(Debug, Default)]
pub struct ContactChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferred_channel: Option<Option<String>>,
    pub language: Option<Option<String>>,
}

/// Applies the change; `None` when there is no such contact. A phone another contact holds fails on
/// the unique key (`contacts_merchant_id_phone_key`).
pub async fn update(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
    change: &ContactChange,
) -> Result<Option<ContactRecord>, sqlx::Error> {
    let done = sqlx::query(
        "update contacts set
             first_name = coalesce($3, first_name), last_name = coalesce($4, last_name),
             email = coalesce($5, email), phone = coalesce($6, phone),
             preferred_channel = case when $7 then $8 else preferred_channel end,
             language = case when $9 then $10 else language end,
             updated_at = now()
         where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(&change.first_name)
    .bind(&change.last_name)
    .bind(&change.email)
    .bind(&change.phone)
    .bind(change.preferred_channel.is_some())
    .bind(change.preferred_channel.clone().flatten())
    .bind(change.language.is_some())
    .bind(change.language.clone().flatten())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    get(pool, merchant_id, id).await
}

//! The merchant's providers list (`merchant_providers`). Credentials arrive here already sealed.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub slug: String,
    pub kind: String,
    pub mode: String,
    pub base_url: Option<String>,
    pub has_credentials: bool,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "p.slug, p.kind, p.mode, p.base_url, p.credentials is not null as has_credentials,
    p.slug = m.default_provider as is_default, p.created_at, p.updated_at";

pub async fn list(pool: &PgPool, merchant_id: &str) -> Result<Vec<ProviderRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from merchant_providers p join merchants m on m.id = p.merchant_id
         where p.merchant_id = $1 order by p.slug"
    ))
    .bind(merchant_id)
    .fetch_all(pool)
    .await
}

pub struct NewProviderRow<'a> {
    pub slug: &'a str,
    pub kind: &'a str,
    pub mode: &'a str,
    pub base_url: Option<&'a str>,
    pub sealed_credentials: Option<Vec<u8>>,
}

/// Adds an account; `None` when the merchant already has one with this slug.
pub async fn insert(
    pool: &PgPool,
    merchant_id: &str,
    new: &NewProviderRow<'_>,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "with p as (
             insert into merchant_providers (merchant_id, slug, kind, mode, base_url, credentials)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (merchant_id, slug) do nothing
             returning *
         )
         select {COLUMNS} from p join merchants m on m.id = p.merchant_id"
    ))
    .bind(merchant_id)
    .bind(new.slug)
    .bind(new.kind)
    .bind(new.mode)
    .bind(new.base_url)
    .bind(new.sealed_credentials.as_deref())
    .fetch_optional(pool)
    .await
}

pub enum Removal {
    Removed,
    NotFound,
    IsDefault,
}

/// Removes an account unless it is the merchant's default provider.
pub async fn delete(pool: &PgPool, merchant_id: &str, slug: &str) -> Result<Removal, sqlx::Error> {
    let (deleted, is_default): (bool, bool) = sqlx::query_as(
        "with gone as (
             delete from merchant_providers p using merchants m
             where p.merchant_id = $1 and p.slug = $2 and m.id = p.merchant_id and m.default_provider <> p.slug
             returning p.slug
         )
         select exists (select 1 from gone),
                exists (select 1 from merchants where id = $1 and default_provider = $2)",
    )
    .bind(merchant_id)
    .bind(slug)
    .fetch_one(pool)
    .await?;
    Ok(match (deleted, is_default) {
        (true, _) => Removal::Removed,
        (false, true) => Removal::IsDefault,
        (false, false) => Removal::NotFound,
    })
}

/// Whether any live account holds credentials (then the server cannot start without its key).
pub async fn live_credentials_exist(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from merchant_providers where mode = 'live' and credentials is not null)")
        .fetch_one(pool)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub kind: String,
    pub mode: String,
    pub base_url: Option<String>,
    /// Sealed with the server's key; see `domain::secretbox`.
    pub credentials: Option<Vec<u8>>,
}

pub async fn account(
    pool: &PgPool,
    merchant_id: &str,
    slug: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as("select kind, mode, base_url, credentials from merchant_providers where merchant_id = $1 and slug = $2")
        .bind(merchant_id)
        .bind(slug)
        .fetch_optional(pool)
        .await
}

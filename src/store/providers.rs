//! The merchant's providers list (`merchant_providers`). Credentials arrive here already sealed.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    /// The account's own id: it names the account's callback URL.
    pub id: String,
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
    "p.id, p.slug, p.kind, p.mode, p.base_url, p.credentials is not null as has_credentials,
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
    /// Attempts through it are still open (created, pending or unknown): how many.
    HasOpenPayments(i64),
}

/// Removes an account unless it is the merchant's default provider.
pub async fn delete(pool: &PgPool, merchant_id: &str, slug: &str) -> Result<Removal, sqlx::Error> {
    // An account with payments still open at the provider stays: the reconciler needs it to ask.
    let (deleted, is_default, open): (bool, bool, i64) = sqlx::query_as(
        "with open as (
             select count(*) as n from provider_attempts
             where merchant_id = $1 and provider = $2 and status in ('created', 'pending', 'unknown')
         ), gone as (
             delete from merchant_providers p using merchants m
             where p.merchant_id = $1 and p.slug = $2 and m.id = p.merchant_id and m.default_provider <> p.slug
               and (select n from open) = 0
             returning p.slug
         )
         select exists (select 1 from gone),
                exists (select 1 from merchants where id = $1 and default_provider = $2),
                (select n from open)",
    )
    .bind(merchant_id)
    .bind(slug)
    .fetch_one(pool)
    .await?;
    Ok(match (deleted, is_default, open) {
        (true, _, _) => Removal::Removed,
        (false, true, _) => Removal::IsDefault,
        (false, false, n) if n > 0 => Removal::HasOpenPayments(n),
        (false, false, _) => Removal::NotFound,
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
    pub id: String,
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
    sqlx::query_as("select id, kind, mode, base_url, credentials from merchant_providers where merchant_id = $1 and slug = $2")
        .bind(merchant_id)
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// The merchant and slug of the account with this id (callbacks name their account by id).
pub async fn by_id(pool: &PgPool, id: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("select merchant_id, slug from merchant_providers where id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Stores credentials for an account that has none (a test account's generated emulator credentials).
/// `None` when another request stored some first: use those.
pub async fn provision_credentials(
    pool: &PgPool,
    id: &str,
    sealed: &[u8],
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "update merchant_providers set credentials = $2
         where id = $1 and credentials is null returning credentials",
    )
    .bind(id)
    .bind(sealed)
    .fetch_optional(pool)
    .await
}

/// Every stored credential: (account id, merchant, slug, sealed value), for key rotation.
pub async fn all_credentials(
    pool: &PgPool,
) -> Result<Vec<(String, String, String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "select id, merchant_id, slug, credentials from merchant_providers
         where credentials is not null order by id",
    )
    .fetch_all(pool)
    .await
}

/// Replaces a sealed value if it is still the one that was read (a concurrent change wins).
pub async fn reseal_credentials(
    pool: &PgPool,
    id: &str,
    before: &[u8],
    after: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update merchant_providers set credentials = $3 where id = $1 and credentials = $2",
    )
    .bind(id)
    .bind(before)
    .bind(after)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

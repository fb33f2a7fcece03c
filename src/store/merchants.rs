//! Merchants, their API keys and their providers list.

use sqlx::{PgConnection, PgPool};

use super::sha256;
use crate::domain::ids::{new_id, random_chars};
use crate::providers::{DEFAULT_PROVIDER, DEFAULT_TEST_PROVIDERS};

/// Who a request acts for, resolved from its API key in one query.
#[derive(Debug, Clone)]
pub struct MerchantContext {
    pub merchant_id: String,
    /// The API key the request came with (for rolling it).
    pub key_id: String,
    /// The operator's rate limit for this merchant, when set: (per second, burst).
    pub rate_limit: Option<(u32, u32)>,
    /// The business's name, shown to its customers (e.g. on a provider's checkout).
    pub name: String,
    pub mode: String,
    pub default_provider: String,
    /// (slug, kind) pairs of the merchant's providers list.
    pub providers: Vec<(String, String)>,
}

impl MerchantContext {
    /// The adapter kind behind `slug`, if the merchant has that provider.
    pub fn provider_kind(&self, slug: &str) -> Option<&str> {
        self.providers
            .iter()
            .find(|(s, _)| s == slug)
            .map(|(_, kind)| kind.as_str())
    }
}

pub enum KeyLookup {
    Active(MerchantContext),
    Revoked,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct CreatedMerchant {
    pub id: String,
    pub name: String,
    pub api_key_id: String,
    pub api_key: String,
}

/// A new test-mode secret key: `sk_test_` and 40 base-62 characters (~238 bits).
pub fn new_test_key() -> String {
    new_key("test")
}

/// A new secret key for a merchant in `mode`: `sk_test_…` or `sk_live_…`.
pub fn new_key(mode: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    format!("sk_{mode}_{}", random_chars(40, BASE62).collect::<String>())
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    key_id: String,
    rate_per_second: Option<i32>,
    rate_burst: Option<i32>,
    merchant_id: String,
    name: String,
    mode: String,
    revoked: bool,
    default_provider: String,
    slugs: Vec<String>,
    kinds: Vec<String>,
}

/// Looks a key up by its SHA-256.
pub async fn find_by_key(pool: &PgPool, key_hash: &[u8]) -> Result<KeyLookup, sqlx::Error> {
    let row: Option<KeyRow> = sqlx::query_as(
        "select k.id as key_id, m.rate_per_second, m.rate_burst, k.merchant_id, m.name, k.mode,
                (k.revoked_at is not null or coalesce(k.expires_at <= now(), false)) as revoked,
                m.default_provider,
                array(select p.slug from merchant_providers p where p.merchant_id = k.merchant_id order by p.slug) as slugs,
                array(select p.kind from merchant_providers p where p.merchant_id = k.merchant_id order by p.slug) as kinds
         from api_keys k join merchants m on m.id = k.merchant_id
         where k.key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => KeyLookup::Unknown,
        Some(row) if row.revoked => KeyLookup::Revoked,
        Some(row) => KeyLookup::Active(MerchantContext {
            key_id: row.key_id,
            rate_limit: row.rate_per_second.map(|per_second| {
                (
                    per_second.max(0) as u32,
                    row.rate_burst.unwrap_or(1).max(1) as u32,
                )
            }),
            merchant_id: row.merchant_id,
            name: row.name,
            mode: row.mode,
            default_provider: row.default_provider,
            providers: row.slugs.into_iter().zip(row.kinds).collect(),
        }),
    })
}

/// Creates a test-mode merchant with its default providers list and one API key (`key`, or a new one).
pub async fn create(
    conn: &mut PgConnection,
    name: &str,
    key: Option<&str>,
) -> Result<CreatedMerchant, sqlx::Error> {
    create_in_mode(conn, name, key, "test").await
}

/// Creates a merchant in `mode` with one API key of that mode. A test merchant starts with the default
/// providers list (every kind, on the emulators); a live one with none, its default provider being
/// Paystack once it adds a live Paystack account.
pub async fn create_in_mode(
    conn: &mut PgConnection,
    name: &str,
    key: Option<&str>,
    mode: &str,
) -> Result<CreatedMerchant, sqlx::Error> {
    let id = new_id("mer");
    let api_key_id = new_id("key");
    let api_key = key.map(str::to_owned).unwrap_or_else(|| new_key(mode));
    let (slugs, kinds): (Vec<&str>, Vec<&str>) = if mode == "test" {
        DEFAULT_TEST_PROVIDERS.iter().copied().unzip()
    } else {
        Default::default()
    };
    let default_provider = if mode == "test" {
        DEFAULT_PROVIDER
    } else {
        "paystack"
    };
    sqlx::query(
        "with m as (insert into merchants (id, name, default_provider, mode) values ($1, $2, $3, $9)
                    returning id),
              k as (insert into api_keys (id, merchant_id, key_hash, key_prefix, mode)
                    select $4, id, $5, $6, $9 from m)
         insert into merchant_providers (merchant_id, slug, kind, mode)
         select m.id, p.slug, p.kind, $9 from m, unnest($7::text[], $8::text[]) as p(slug, kind)",
    )
    .bind(&id)
    .bind(name)
    .bind(default_provider)
    .bind(&api_key_id)
    .bind(sha256(api_key.as_bytes()))
    .bind(&api_key[..12])
    .bind(&slugs)
    .bind(&kinds)
    .bind(mode)
    .execute(conn)
    .await?;
    Ok(CreatedMerchant {
        id,
        name: name.to_owned(),
        api_key_id,
        api_key,
    })
}

/// Issues a new key for the merchant and lets the key `old_key_id` work `overlap` longer (an overlap to
/// deploy the new one; zero ends it now). Returns the new key, its id and when the old one stops.
pub async fn roll_key(
    pool: &PgPool,
    merchant_id: &str,
    old_key_id: &str,
    mode: &str,
    overlap: std::time::Duration,
) -> Result<(String, String, chrono::DateTime<chrono::Utc>), sqlx::Error> {
    let key = new_key(mode);
    let key_id = new_id("key");
    let ends: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "with old as (
             update api_keys set expires_at = least(coalesce(expires_at, 'infinity'),
                                                    now() + make_interval(secs => $6))
             where merchant_id = $1 and id = $5
             returning expires_at
         ), new as (
             insert into api_keys (id, merchant_id, key_hash, key_prefix, mode)
             values ($2, $1, $3, $4, $7)
         )
         select expires_at from old",
    )
    .bind(merchant_id)
    .bind(&key_id)
    .bind(sha256(key.as_bytes()))
    .bind(&key[..12])
    .bind(old_key_id)
    .bind(overlap.as_secs_f64())
    .bind(mode)
    .fetch_one(pool)
    .await?;
    Ok((key, key_id, ends))
}

/// Whether any live merchant exists (live mode then needs an https public URL and an encryption key).
pub async fn live_exists(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from merchants where mode = 'live')")
        .fetch_one(pool)
        .await
}

/// Makes sure a merchant owns `key` (the dev key from `COWRY_DEV_API_KEY`); safe to run from several
/// processes at once. Returns the merchant id.
pub async fn ensure_dev_merchant(pool: &PgPool, key: &str) -> Result<String, sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    // Serialise concurrent start-ups so only one of them creates the merchant.
    sqlx::query("select pg_advisory_xact_lock(hashtext('cowry.dev_merchant'))")
        .execute(&mut *tx)
        .await?;
    let existing: Option<(String,)> =
        sqlx::query_as("select merchant_id from api_keys where key_hash = $1")
            .bind(sha256(key.as_bytes()))
            .fetch_optional(&mut *tx)
            .await?;
    let id = match existing {
        Some((id,)) => id,
        None => create(&mut tx, "Dev merchant", Some(key)).await?.id,
    };
    tx.commit().await?;
    Ok(id)
}

/// Revokes an API key; returns its merchant, or `None` when there is no such active key.
pub async fn revoke_key(pool: &PgPool, key_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "update api_keys set revoked_at = now()
         where id = $1 and revoked_at is null returning merchant_id",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await
}

/// Sets (or, with `None`, clears) an operator's rate limit for a merchant; false when there is no such
/// merchant.
pub async fn set_rate_limit(
    pool: &PgPool,
    merchant_id: &str,
    limit: Option<(u32, u32)>,
) -> Result<bool, sqlx::Error> {
    let (per_second, burst) = limit.map(|(p, b)| (p as i32, b as i32)).unzip();
    let done =
        sqlx::query("update merchants set rate_per_second = $2, rate_burst = $3 where id = $1")
            .bind(merchant_id)
            .bind(per_second)
            .bind(burst)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

//! A merchant's own follow-up channel settings (`merchant_channels`). Credentials arrive sealed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub channel: String,
    pub base_url: Option<String>,
    pub settings: Json<Value>,
    pub credentials: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "channel, base_url, settings, credentials, created_at, updated_at";

pub async fn list(pool: &PgPool, merchant_id: &str) -> Result<Vec<ChannelRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from merchant_channels where merchant_id = $1 order by channel"
    ))
    .bind(merchant_id)
    .fetch_all(pool)
    .await
}

pub async fn get(
    pool: &PgPool,
    merchant_id: &str,
    channel: &str,
) -> Result<Option<ChannelRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from merchant_channels where merchant_id = $1 and channel = $2"
    ))
    .bind(merchant_id)
    .bind(channel)
    .fetch_optional(pool)
    .await
}

/// Sets the merchant's settings for a channel (replacing earlier ones).
pub async fn put(
    pool: &PgPool,
    merchant_id: &str,
    channel: &str,
    base_url: Option<&str>,
    settings: &Value,
    sealed: Option<&[u8]>,
) -> Result<ChannelRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "insert into merchant_channels (merchant_id, channel, base_url, settings, credentials)
         values ($1, $2, $3, $4, $5)
         on conflict (merchant_id, channel) do update
             set base_url = excluded.base_url, settings = excluded.settings,
                 credentials = excluded.credentials, updated_at = now()
         returning {COLUMNS}"
    ))
    .bind(merchant_id)
    .bind(channel)
    .bind(base_url)
    .bind(Json(settings))
    .bind(sealed)
    .fetch_one(pool)
    .await
}

pub async fn delete(pool: &PgPool, merchant_id: &str, channel: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from merchant_channels where merchant_id = $1 and channel = $2")
        .bind(merchant_id)
        .bind(channel)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The merchant's mode (`test` or `live`); `None` when there is no such merchant.
pub async fn merchant_mode(
    pool: &PgPool,
    merchant_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select mode from merchants where id = $1")
        .bind(merchant_id)
        .fetch_optional(pool)
        .await
}

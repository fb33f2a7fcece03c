//! The audit trail: who did what to merchants, keys, provider accounts and jobs, and when. Written in
//! the same statement as (or right after) the action; never holds a secret.

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

/// Who acted: the operator (admin token) or a merchant through one of its API keys.
pub enum Actor<'a> {
    Operator,
    Merchant { key_id: &'a str },
}

impl Actor<'_> {
    fn label(&self) -> String {
        match self {
            Actor::Operator => "operator".to_owned(),
            Actor::Merchant { key_id } => format!("merchant:{key_id}"),
        }
    }
}

pub async fn record(
    db: impl PgExecutor<'_>,
    actor: Actor<'_>,
    action: &str,
    merchant_id: Option<&str>,
    subject: Option<&str>,
    detail: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_log (actor, action, merchant_id, subject, detail) values ($1, $2, $3, $4, $5)",
    )
    .bind(actor.label())
    .bind(action)
    .bind(merchant_id)
    .bind(subject)
    .bind(sqlx::types::Json(detail))
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub merchant_id: Option<String>,
    pub subject: Option<String>,
    pub detail: sqlx::types::Json<Value>,
}

/// Newest first, optionally one merchant's.
pub async fn list(
    pool: &PgPool,
    merchant_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "select id, at, actor, action, merchant_id, subject, detail from audit_log
         where $1::text is null or merchant_id = $1 order by at desc, id desc limit $2",
    )
    .bind(merchant_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

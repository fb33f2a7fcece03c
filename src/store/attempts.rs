//! Provider attempts: written before a provider call, updated with what it answered.

use serde_json::Value;
use sqlx::PgExecutor;

pub struct NewAttempt<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub kind: &'a str,
    pub operation: &'a str,
    pub provider_reference: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

/// Records attempts in `created` state (its own statement: commit it before calling the provider).
pub async fn insert_created(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    attempts: &[NewAttempt<'_>],
) -> Result<(), sqlx::Error> {
    let column = |f: fn(&NewAttempt<'_>) -> String| attempts.iter().map(f).collect::<Vec<String>>();
    sqlx::query(
        "insert into provider_attempts (merchant_id, id, provider, kind, operation, provider_reference, status,
                                        amount_minor, currency)
         select $1, a.id, a.provider, a.kind, a.operation, a.reference, 'created', a.amount, a.currency
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
              as a(id, provider, kind, operation, reference, amount, currency)",
    )
    .bind(merchant_id)
    .bind(column(|a| a.id.to_owned()))
    .bind(column(|a| a.provider.to_owned()))
    .bind(column(|a| a.kind.to_owned()))
    .bind(column(|a| a.operation.to_owned()))
    .bind(column(|a| a.provider_reference.to_owned()))
    .bind(attempts.iter().map(|a| a.amount_minor).collect::<Vec<i64>>())
    .bind(column(|a| a.currency.to_owned()))
    .execute(db)
    .await?;
    Ok(())
}

/// Moves attempts on after the provider answered (or did not): their new status, the collection they
/// now belong to, and what was learned.
pub async fn settle(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    ids: &[String],
    status: &str,
    collection_id: Option<&str>,
    response: Option<&Value>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts
         set status = $3, collection_id = coalesce($4, collection_id), response = coalesce($5, response),
             error = $6, updated_at = now()
         where merchant_id = $1 and id = any($2)",
    )
    .bind(merchant_id)
    .bind(ids)
    .bind(status)
    .bind(collection_id)
    .bind(response.map(sqlx::types::Json))
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

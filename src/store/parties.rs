//! A customer's identity at a provider that keeps customers of its own (Dollr's party and
//! counterparty): made once per provider account and phone, then reused.

use sqlx::PgExecutor;

pub async fn get(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    provider: &str,
    phone: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select party_id, counterparty_id from provider_parties
         where merchant_id = $1 and provider = $2 and phone = $3",
    )
    .bind(merchant_id)
    .bind(provider)
    .bind(phone)
    .fetch_optional(db)
    .await
}

/// Keeps a party; the first one kept for a phone stays (two simultaneous first payments may each
/// make one at the provider; only one is remembered).
pub async fn save(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    provider: &str,
    phone: &str,
    party_id: &str,
    counterparty_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into provider_parties (merchant_id, provider, phone, party_id, counterparty_id)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(merchant_id)
    .bind(provider)
    .bind(phone)
    .bind(party_id)
    .bind(counterparty_id)
    .execute(db)
    .await?;
    Ok(())
}

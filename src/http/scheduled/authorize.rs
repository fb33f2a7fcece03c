//! The consent page's button: starting the customer's authorization at Paystack on the rail they chose.
//!
//! - **Direct debit** (NGN): `POST /customer/authorization/initialize`; Paystack chooses the reference,
//!   and nothing is chargeable until the customer approves and the bank activates, so a failed or lost
//!   call only means the customer presses the button again.
//! - **Card**: a checkout (`POST /transaction/initialize`, card channel) for the smallest charge Paystack
//!   recommends for a card's first payment (`domain::scheduled::card_verification_minor`). Cowry chooses
//!   and stores the reference, with its provider attempt, before the call. The charge is refunded once
//!   paid (`jobs::refund`); the reusable authorization it leaves is the mandate.
//!
//! Either way the customer comes back to `/consent/{token}/done`, and the `consent` poll asks meanwhile.

use serde_json::json;

use crate::domain::currency::Currency;
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::scheduled;
use crate::jobs::{consent, mandate};
use crate::providers::Account;
use crate::store::scheduled::{self as store, ConsentStep, MandateRow};
use crate::AppState;

fn sorry(e: &dyn std::fmt::Display) -> String {
    tracing::warn!(error = %e, "could not start a mandate authorization");
    "Paystack could not be reached. Please try again.".to_owned()
}

async fn account(state: &AppState, row: &MandateRow) -> Result<Account, String> {
    crate::providers::accounts::open(state, &row.merchant_id, &row.provider)
        .await
        .map_err(|e| sorry(&e))?
        .ok_or_else(|| sorry(&"the provider account was removed"))
}

/// Where Paystack sends the customer back. A test account's customer comes back to this very server
/// (as its emulators' callbacks do).
fn callback(state: &AppState, account: &Account, row: &MandateRow) -> String {
    let base = match (account.mode.as_str(), state.providers.self_base()) {
        ("test", Some(own)) => own.to_owned(),
        _ => state.config.public_url.clone(),
    };
    format!("{}/consent/{}/done", base.trim_end_matches('/'), row.token)
}

/// The attempt is with Paystack now, under `reference`.
async fn started(
    db: impl sqlx::PgExecutor<'_>,
    merchant_id: &str,
    attempt_id: &str,
    reference: &str,
    operation: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts set provider_reference = $3, status = 'pending', updated_at = now(),
                calls = calls || $4
         where merchant_id = $1 and id = $2 and status = 'created'",
    )
    .bind(merchant_id)
    .bind(attempt_id)
    .bind(reference)
    .bind(sqlx::types::Json(json!([{"operation": operation, "outcome": "started",
                                     "at": crate::domain::time::format(&chrono::Utc::now())}])))
    .execute(db)
    .await?;
    Ok(())
}

/// The request's attempt: how Paystack's callbacks (by reference) find the mandate.
async fn insert_attempt(
    db: impl sqlx::PgExecutor<'_>,
    row: &MandateRow,
    attempt_id: &str,
    operation: &str,
    reference: &str,
    amount: Option<Money>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into provider_attempts (merchant_id, id, provider, kind, operation, provider_reference,
                                        status, amount_minor, currency, scheduled_id)
         values ($1, $2, $3, 'paystack', $4, $5, 'created', $6, $7, $8)",
    )
    .bind(&row.merchant_id)
    .bind(attempt_id)
    .bind(&row.provider)
    .bind(operation)
    .bind(reference)
    .bind(amount.map(|a| a.minor()))
    .bind(amount.map(|a| a.currency().code()))
    .bind(&row.id)
    .execute(db)
    .await?;
    Ok(())
}

/// Records the request (stage `requested`, on `rail`) and the poll that follows it.
async fn requested(
    conn: &mut sqlx::PgConnection,
    row: &MandateRow,
    reference: &str,
    email: &str,
    rail: &str,
) -> Result<(), sqlx::Error> {
    store::set_consent(
        &mut *conn,
        &row.merchant_id,
        &row.id,
        &ConsentStep {
            stage: "requested",
            provider_reference: Some(reference),
            customer_email: Some(email),
            rail: Some(rail),
            ..Default::default()
        },
    )
    .await?;
    consent::schedule_poll(
        &mut *conn,
        &row.merchant_id,
        &row.id,
        crate::jobs::queue::in_(std::time::Duration::from_secs(60)),
    )
    .await?;
    mandate::publish(conn, &row.merchant_id, &row.id).await
}

/// A direct-debit mandate request; returns Paystack's page for the customer.
pub async fn direct_debit(
    state: &AppState,
    row: &MandateRow,
    email: &str,
) -> Result<String, String> {
    let merchant_id = row.merchant_id.as_str();
    let attempt_id = new_id("att");
    let placeholder = format!("cwa-{}", uuid::Uuid::new_v4().simple());
    insert_attempt(
        &state.pool,
        row,
        &attempt_id,
        "initialize_authorization",
        &placeholder,
        None,
    )
    .await
    .map_err(|e| sorry(&e))?;
    let account = account(state, row).await?;
    let callback = callback(state, &account, row);
    let answer = match state.providers.paystack(&account) {
        Ok(paystack) => {
            paystack
                .initialize_authorization(email, Some(&callback))
                .await
        }
        Err(e) => Err(e),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let _ = crate::store::attempts::set_status(
                &state.pool,
                merchant_id,
                &attempt_id,
                &["created"],
                "failed",
                Some(&e.to_string()),
            )
            .await;
            return Err(sorry(&e));
        }
    };
    let recorded = async {
        let mut tx = crate::db::begin(&state.pool).await?;
        started(
            &mut *tx,
            merchant_id,
            &attempt_id,
            &answer.reference,
            "initialize_authorization",
        )
        .await?;
        requested(&mut tx, row, &answer.reference, email, "direct_debit").await?;
        tx.commit().await
    };
    recorded.await.map_err(|e| sorry(&e))?;
    Ok(answer.redirect_url)
}

/// A card checkout for the verification charge; returns Paystack's checkout for the customer.
pub async fn card(
    state: &AppState,
    row: &MandateRow,
    email: &str,
    merchant: &str,
) -> Result<String, String> {
    let amount = Currency::parse(row.currency.trim()).and_then(|currency| {
        scheduled::card_verification_minor(currency.code())
            .map(|minor| Money::from_minor(minor, currency))
    });
    let Some(amount) = amount else {
        return Err("Cards are not offered for this currency.".to_owned());
    };
    let merchant_id = row.merchant_id.as_str();
    let attempt_id = new_id("att");
    let reference = format!("cwv-{}", uuid::Uuid::new_v4().simple());
    // Claimed before the call: whatever happens to the answer, the poll and the callbacks find it.
    let claimed = async {
        let mut tx = crate::db::begin(&state.pool).await?;
        insert_attempt(
            &mut *tx,
            row,
            &attempt_id,
            "authorize_card",
            &reference,
            Some(amount),
        )
        .await?;
        requested(&mut tx, row, &reference, email, "card").await?;
        tx.commit().await
    };
    claimed.await.map_err(|e| sorry(&e))?;
    let account = account(state, row).await?;
    let callback = callback(state, &account, row);
    let answer = match state.providers.paystack(&account) {
        Ok(paystack) => {
            paystack
                .initialize(
                    email,
                    amount,
                    &reference,
                    &["card"],
                    Some(merchant),
                    Some(&callback),
                )
                .await
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok(answer) => {
            started(
                &state.pool,
                merchant_id,
                &attempt_id,
                &reference,
                "initialize",
            )
            .await
            .map_err(|e| sorry(&e))?;
            Ok(answer.authorization_url)
        }
        Err(e) => {
            // Nothing payable exists when Paystack refused outright; else the poll finds out.
            let status = if e.created_nothing() {
                "failed"
            } else {
                "unknown"
            };
            let _ = crate::store::attempts::set_status(
                &state.pool,
                merchant_id,
                &attempt_id,
                &["created"],
                status,
                Some(&e.to_string()),
            )
            .await;
            Err(sorry(&e))
        }
    }
}

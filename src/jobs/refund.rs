//! The `refund` job: gives back a card's verification charge (the card rail of a mandate's consent,
//! `jobs::consent`). Queued by settlement in the transaction that records the charge as paid, so a paid
//! verification is never kept, whichever road reported it and even if the customer tried again or the
//! collection ended meanwhile. Paystack refuses a second full refund, so a retry is safe; its
//! `refund.processed` webhook then marks the attempt `reversed`.

use serde_json::json;
use sqlx::PgConnection;

use super::queue::Outcome;
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::providers::paystack::Refund;
use crate::providers::ProviderError;
use crate::store::attempts::AttemptRow;
use crate::store::jobs::{self, Job};
use crate::AppState;

pub const KIND: &str = "refund";

/// Queues the refund of a paid verification charge (in the settling transaction).
pub async fn schedule(conn: &mut PgConnection, attempt: &AttemptRow) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        &mut *conn,
        KIND,
        &format!("{}/{}", attempt.merchant_id, attempt.id),
        Some(&attempt.merchant_id),
        &json!({"merchantId": attempt.merchant_id, "attemptId": attempt.id}),
        chrono::Utc::now(),
    )
    .await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    let (Some(merchant_id), Some(attempt_id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["attemptId"].as_str(),
    ) else {
        return Outcome::GiveUp("payload names no attempt".to_owned());
    };
    let attempt = match crate::store::attempts::get(&state.pool, merchant_id, attempt_id).await {
        Ok(Some(attempt)) => attempt,
        Ok(None) => return Outcome::GiveUp("no such attempt".to_owned()),
        Err(e) => return Outcome::Failed(format!("database: {e}")),
    };
    let account =
        match crate::providers::accounts::open(state, merchant_id, &attempt.provider).await {
            Ok(Some(account)) => account,
            Ok(None) => return Outcome::GiveUp("the provider account was removed".to_owned()),
            Err(e) => return Outcome::Failed(format!("provider account: {e}")),
        };
    let refunded = match state.providers.paystack(&account) {
        Ok(paystack) => {
            paystack
                .refund(
                    &attempt.provider_reference,
                    "Card verification for a payment mandate",
                )
                .await
        }
        Err(e) => Err(e),
    };
    let status = match refunded {
        Ok(Refund::Accepted { status }) => status,
        Ok(Refund::AlreadyRefunded) => return Outcome::Done,
        Err(e @ (ProviderError::BadCredentials { .. } | ProviderError::NotFound { .. })) => {
            return Outcome::GiveUp(e.to_string())
        }
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match record(state, &attempt, &status).await {
        Ok(()) => Outcome::Done,
        // Paystack has the refund; a repeat is answered "fully reversed" and ends here.
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn record(state: &AppState, attempt: &AttemptRow, status: &str) -> Result<(), sqlx::Error> {
    let (merchant_id, id) = (attempt.merchant_id.as_str(), attempt.id.as_str());
    let at = crate::domain::time::format(&chrono::Utc::now());
    let mut tx = crate::db::begin(&state.pool).await?;
    crate::store::attempts::record_call(
        &mut *tx,
        merchant_id,
        id,
        &json!({"operation": "refund", "outcome": status, "at": at}),
    )
    .await?;
    if let Some(collection) = &attempt.scheduled_id {
        crate::store::collections::add_event(
            &mut *tx,
            merchant_id,
            collection,
            &new_id("evt"),
            event::MANDATE_VERIFICATION_REFUNDED,
            &json!({"reference": attempt.provider_reference, "status": status,
                    "amount": attempt.amount_minor.map(|a| a.to_string()),
                    "currency": attempt.currency.as_deref().map(str::trim)}),
        )
        .await?;
    }
    tx.commit().await
}

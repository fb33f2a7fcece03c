//! Asking the provider where a customer's consent stands, on either rail, and the `consent` poll job
//! that asks until the mandate is active. The customer's return from the provider's page asks the same
//! question at once; webhooks report the same facts by another road. All of them meet in
//! `mandate::report` under the mandate's row lock.
//!
//! - **Direct debit**: `GET /customer/authorization/verify/{reference}` (404 until the customer approved;
//!   then the authorization, active or not yet).
//! - **Card**: `GET /transaction/verify/{reference}` of the verification charge. The charge settles its
//!   provider attempt like any payment (`jobs::settle`: a success queues its refund); a success that
//!   left a reusable authorization consents; a decline, or a card Paystack cannot charge again, sends
//!   the customer back to the consent page.

use serde_json::json;
use sqlx::PgConnection;

use super::mandate::{self, Applied, Reported};
use super::queue::{in_, Outcome};
use super::settle;
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::domain::settlement::{PaymentStatus, Report};
use crate::providers::paystack::Verified;
use crate::providers::ProviderError;
use crate::store::jobs::{self, Job};
use crate::store::scheduled::{self as store, ConsentStep, MandateRow};
use crate::AppState;

/// Polls a mandate request that is waiting for the customer (or the bank) until it is active.
pub const KIND: &str = "consent";

pub fn key(merchant_id: &str, id: &str) -> String {
    format!("{merchant_id}/{id}")
}

/// Queues (or brings forward) the consent poll of a mandate whose authorization was requested.
pub async fn schedule_poll(
    db: impl sqlx::PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    run_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    enqueue_for(db, KIND, merchant_id, id, run_at).await
}

/// Queues a job of `kind` about one mandate (one per mandate and kind).
pub(super) async fn enqueue_for(
    db: impl sqlx::PgExecutor<'_>,
    kind: &str,
    merchant_id: &str,
    id: &str,
    run_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        db,
        kind,
        &key(merchant_id, id),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "collectionId": id}),
        run_at,
    )
    .await
}

/// Why a check could not say anything.
#[derive(Debug)]
pub enum CheckError {
    Provider(ProviderError),
    Database(sqlx::Error),
    /// The provider account could not be opened (its credentials, the database).
    Account(String),
    /// The provider account was removed.
    NoAccount,
}

impl From<sqlx::Error> for CheckError {
    fn from(e: sqlx::Error) -> Self {
        CheckError::Database(e)
    }
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Provider(e) => e.fmt(f),
            CheckError::Database(e) => write!(f, "database: {e}"),
            CheckError::Account(e) => write!(f, "provider account: {e}"),
            CheckError::NoAccount => f.write_str("the provider account was removed"),
        }
    }
}

/// Asks Paystack about the mandate's current request (`row.provider_reference`) and applies the answer.
pub async fn check(
    state: &AppState,
    row: &MandateRow,
    source: &'static str,
) -> Result<Applied, CheckError> {
    let Some(reference) = row.provider_reference.as_deref() else {
        return Ok(Applied::Nothing);
    };
    let account = crate::providers::accounts::open(state, &row.merchant_id, &row.provider)
        .await
        .map_err(|e| CheckError::Account(e.to_string()))?
        .ok_or(CheckError::NoAccount)?;
    let paystack = state
        .providers
        .paystack(&account)
        .map_err(CheckError::Provider)?;
    if row.consent_rail == "card" {
        let verified = paystack
            .verify(reference)
            .await
            .map_err(CheckError::Provider)?;
        let mut tx = crate::db::begin(&state.pool).await?;
        let applied = card_verified(&mut tx, state, row, &verified, source).await?;
        tx.commit().await?;
        return Ok(applied);
    }
    let found = paystack
        .verify_authorization(reference)
        .await
        .map_err(CheckError::Provider)?;
    let (email, customer) = found
        .customer
        .map(|c| (c.email, c.code))
        .unwrap_or_default();
    let reported = Reported {
        active: found.active,
        revoked: false,
        authorization_code: Some(found.authorization_code),
        email,
        customer,
        source,
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    let applied = mandate::report(&mut tx, state, &row.merchant_id, &row.id, &reported).await?;
    tx.commit().await?;
    Ok(applied)
}

/// The verification charge's outcome: settle its attempt, then consent (a reusable authorization) or
/// send the customer back (a decline, or a card that cannot be charged again).
async fn card_verified(
    conn: &mut PgConnection,
    state: &AppState,
    row: &MandateRow,
    verified: &Verified,
    source: &'static str,
) -> Result<Applied, sqlx::Error> {
    let (merchant_id, id) = (row.merchant_id.as_str(), row.id.as_str());
    let attempt: Option<String> = sqlx::query_scalar(
        "select id from provider_attempts
         where merchant_id = $1 and scheduled_id = $2 and provider_reference = $3
           and operation = 'authorize_card'",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(&verified.reference)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(attempt) = &attempt {
        let report = Report {
            status: verified.status.clone(),
            amount: Some(verified.amount),
        };
        settle::apply(&mut *conn, merchant_id, attempt, &report, source).await?;
    }
    // Cowry refunds the verification as soon as it is recorded paid, so Paystack may already show it
    // reversed (or the refund pending) when the consent is read: it was paid all the same, and the
    // authorization it left stands.
    let refused = match (&verified.status, &verified.authorization_code) {
        (PaymentStatus::Succeeded | PaymentStatus::Reversed, Some(code)) => {
            let reported = Reported {
                active: true,
                revoked: false,
                authorization_code: Some(code.clone()),
                email: None,
                customer: None,
                source,
            };
            return mandate::report(conn, state, merchant_id, id, &reported).await;
        }
        (PaymentStatus::Succeeded | PaymentStatus::Reversed, None) => {
            "the card cannot be charged again (Paystack gave no reusable authorization); it was refunded"
                .to_owned()
        }
        (PaymentStatus::Failed { reason }, _) => format!("the card was declined: {reason}"),
        _ => return Ok(Applied::Nothing),
    };
    let Some(now) = store::lock_mandate(conn, merchant_id, id).await? else {
        return Ok(Applied::Nothing);
    };
    // Only the request still open is sent back: a newer one (the customer tried again) stays.
    if now.status != "NOT_STARTED"
        || now.consent_stage != "requested"
        || now.provider_reference.as_deref() != Some(verified.reference.as_str())
    {
        return Ok(Applied::Nothing);
    }
    store::set_consent(
        &mut *conn,
        merchant_id,
        id,
        &ConsentStep {
            stage: "none",
            ..Default::default()
        },
    )
    .await?;
    crate::store::collections::add_event(
        &mut *conn,
        merchant_id,
        id,
        &new_id("evt"),
        event::MANDATE_CONSENT_FAILED,
        &json!({"rail": "card", "reference": verified.reference, "reason": refused, "source": source}),
    )
    .await?;
    mandate::publish(conn, merchant_id, id).await?;
    Ok(Applied::Refused)
}

/// The `consent` job: asks Paystack where the request stands, until it is active, refused, the
/// collection ends, or it expires.
pub async fn poll(state: &AppState, job: &Job) -> Outcome {
    let (Some(merchant_id), Some(id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["collectionId"].as_str(),
    ) else {
        return Outcome::GiveUp("payload names no collection".to_owned());
    };
    let row = match store::mandate(&state.pool, merchant_id, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Outcome::GiveUp("no such collection".to_owned()),
        Err(e) => return Outcome::Failed(format!("database: {e}")),
    };
    if row.status != "NOT_STARTED" || matches!(row.consent_stage.as_str(), "active" | "none") {
        return Outcome::Done;
    }
    // Every minute at first, then less often (doubling the wait with the request's age).
    let age = (chrono::Utc::now() - row.created_at).num_minutes().max(1) as u64;
    let next = in_(crate::domain::time::schedule_delay(
        &state.config.reconcile_schedule,
        age.ilog2() as usize,
    ));
    match check(state, &row, "poll").await {
        Ok(Applied::Consented | Applied::Refused) => Outcome::Done,
        Ok(_) if state.clock.now() > row.expires_at => Outcome::Done,
        Ok(_) => Outcome::RetryAt(next, None),
        // Not approved yet (or not yet known to Paystack): ask again later.
        Err(CheckError::Provider(ProviderError::NotFound { .. })) => Outcome::RetryAt(next, None),
        Err(CheckError::NoAccount) => {
            Outcome::GiveUp("the provider account was removed".to_owned())
        }
        Err(CheckError::Database(e)) => Outcome::Failed(format!("database: {e}")),
        Err(e) => Outcome::RetryAt(next, Some(e.to_string())),
    }
}

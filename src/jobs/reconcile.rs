//! Reconciliation: every open provider attempt is polled with the provider's status API on a
//! backing-off schedule (`COWRY_RECONCILE_SCHEDULE`, default 30s, 1m, 2m, 5m, 10m, 30m, then hourly)
//! until it is final or its collection's deadline passes, so a payment whose callback never comes still
//! completes. A failing status API is retried on the same schedule; a lost answer is resolved here by
//! asking again, never by paying again.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgExecutor;

use super::queue::{in_, Outcome};
use super::settle;
use crate::domain::network::Market;
use crate::domain::phone::Phone;
use crate::domain::settlement::{AttemptState, PaymentStatus, Report};
use crate::domain::time::schedule_delay;
use crate::providers::ProviderError;
use crate::store::jobs::{self, Job};
use crate::store::{attempts, collections, collects};
use crate::AppState;

pub const KIND: &str = "reconcile";
/// The attempt states a poll may move on from: those still being reconciled (`AttemptState::is_open`),
/// as stored.
pub const OPEN: &[&str] = &["created", "pending", "unknown"];
/// How long a mobile-money collect is chased: wallets time a prompt out within minutes, so a day
/// without a final answer means an operator should look.
pub const COLLECT_DEADLINE: TimeDelta = TimeDelta::hours(24);

/// Queues (or brings forward) the poll of one attempt, in the caller's transaction.
pub async fn schedule(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    attempt_id: &str,
    run_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        db,
        KIND,
        &key(merchant_id, attempt_id),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "attemptId": attempt_id}),
        run_at,
    )
    .await
}

/// The attempt is settled: its queued poll goes (a running one ends by itself).
pub async fn unschedule(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    attempt_id: &str,
) -> Result<(), sqlx::Error> {
    jobs::cancel(db, KIND, &key(merchant_id, attempt_id)).await
}

/// One poll job per attempt.
pub fn key(merchant_id: &str, attempt_id: &str) -> String {
    format!("{merchant_id}/{attempt_id}")
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match poll(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn poll(state: &AppState, job: &Job) -> Result<Outcome, sqlx::Error> {
    let (Some(merchant_id), Some(attempt_id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["attemptId"].as_str(),
    ) else {
        return Ok(Outcome::GiveUp("payload names no attempt".to_owned()));
    };
    let Some(attempt) = attempts::get(&state.pool, merchant_id, attempt_id).await? else {
        return Ok(Outcome::GiveUp("no such attempt".to_owned()));
    };
    if !AttemptState::parse(&attempt.status).is_some_and(AttemptState::is_open) {
        return Ok(Outcome::Done);
    }
    let schedule = &state.config.reconcile_schedule;
    let next = in_(schedule_delay(schedule, attempt.checks.max(0) as usize + 1));
    let account =
        match crate::providers::accounts::open(state, merchant_id, &attempt.provider).await {
            Ok(Some(account)) => account,
            Ok(None) => {
                return Ok(Outcome::GiveUp(format!(
                    "provider {} was removed",
                    attempt.provider
                )))
            }
            Err(e) => return Ok(Outcome::RetryAt(next, Some(e.to_string()))),
        };
    // The payment's market: from a collect's payer, else from the currency it was asked in.
    let payer_market = match &attempt.collect_id {
        Some(id) => collects::get(&state.pool, merchant_id, id)
            .await?
            .and_then(|c| Phone::parse(&c.payer).ok())
            .and_then(|p| Market::of(&p)),
        None => None,
    };
    let market = payer_market.or_else(|| {
        attempt
            .currency
            .as_deref()
            .and_then(|c| Market::for_currency(c.trim()))
    });
    let started = std::time::Instant::now();
    let report = state
        .providers
        .check(&account, &attempt.provider_reference, market)
        .await;
    let outcome = match &report {
        Ok(report) => format!("{:?}", report.status),
        Err(e) => format!("error: {}", e.detail()),
    };
    let call = json!({"operation": "status", "outcome": outcome,
                      "latencyMs": started.elapsed().as_millis() as u64,
                      "at": crate::domain::time::format(&Utc::now())});
    attempts::record_call(&state.pool, merchant_id, attempt_id, &call).await?;
    let report = match report {
        Ok(report) => report,
        // The provider has no payment under this reference. Within the grace period that may be a
        // request it has not indexed yet (or a push still in flight); after it, the call never reached
        // the provider (say, the process died first), so nothing can ever be paid against this
        // reference: the owner settles as failed through the same path as any failure.
        Err(ProviderError::NotFound { .. })
            if Utc::now() - attempt.created_at
                > TimeDelta::from_std(state.config.not_found_grace).unwrap_or_default() =>
        {
            let report = Report {
                status: PaymentStatus::Failed {
                    reason:
                        "the provider has no payment with this reference: the call never reached it"
                            .to_owned(),
                },
                amount: None,
            };
            let mut tx = crate::db::begin(&state.pool).await?;
            attempts::checked(&mut *tx, merchant_id, attempt_id, None).await?;
            settle::apply(&mut tx, merchant_id, attempt_id, &report, "poll").await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
        Err(e) => {
            tracing::info!(attempt = attempt_id, error = %e, "status check failed; will retry");
            let error = e.to_string();
            attempts::checked(&state.pool, merchant_id, attempt_id, Some(&error)).await?;
            return Ok(Outcome::RetryAt(next, Some(error)));
        }
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    attempts::checked(&mut *tx, merchant_id, attempt_id, None).await?;
    let settled = settle::apply(&mut tx, merchant_id, attempt_id, &report, "poll").await?;
    let open = settled.is_some_and(|s| s.open);
    let outcome = if !open {
        Outcome::Done
    } else if Utc::now() > deadline(state, &attempt).await? {
        if attempt.collection_id.is_some() {
            // A checkout nobody paid before its collection expired: the expected end, not a problem.
            let why = "not paid before the collection expired";
            attempts::set_status(&mut *tx, merchant_id, attempt_id, OPEN, "failed", Some(why))
                .await?;
            Outcome::Done
        } else {
            // A mobile-money prompt times out within minutes: a day without an answer is a problem.
            attempts::set_status(
                &mut *tx,
                merchant_id,
                attempt_id,
                OPEN,
                "unknown",
                Some("still not final at the provider when its deadline passed; re-check it from /admin/attempts"),
            )
            .await?;
            Outcome::GiveUp(
                "deadline passed with the payment still open at the provider".to_owned(),
            )
        }
    } else {
        Outcome::RetryAt(next, None)
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Until when an open attempt is polled: its collection's expiry, or a collect's deadline.
async fn deadline(
    state: &AppState,
    attempt: &attempts::AttemptRow,
) -> Result<DateTime<Utc>, sqlx::Error> {
    if let Some(collection) = &attempt.collection_id {
        if let Some(expires_at) =
            collections::expires_at(&state.pool, &attempt.merchant_id, collection).await?
        {
            return Ok(expires_at);
        }
    }
    Ok(attempt.created_at + COLLECT_DEADLINE)
}

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
use crate::domain::settlement::AttemptState;
use crate::domain::time::schedule_delay;
use crate::providers::ProviderError;
use crate::store::jobs::{self, Job};
use crate::store::{attempts, collections, collects};
use crate::AppState;

pub const KIND: &str = "reconcile";
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
        &format!("{merchant_id}/{attempt_id}"),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "attemptId": attempt_id}),
        run_at,
    )
    .await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match poll(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::RetryAt(
            in_(schedule_delay(&state.config.reconcile_schedule, 0)),
            Some(format!("database: {e}")),
        ),
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
    let report = state
        .providers
        .check(&account, &attempt.provider_reference, market)
        .await;
    let report = match report {
        Ok(report) => report,
        // Written before a call that never reached the provider (the process died first): no payment
        // exists, so nothing can ever be paid against this reference.
        Err(ProviderError::NotFound { .. }) if attempt.status == "created" => {
            let why = "the provider has no payment with this reference: the call never reached it";
            let mut tx = state.pool.begin().await?;
            attempts::checked(&mut *tx, merchant_id, attempt_id, None).await?;
            attempts::set_status(&mut *tx, merchant_id, attempt_id, "failed", Some(why)).await?;
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
    let mut tx = state.pool.begin().await?;
    attempts::checked(&mut *tx, merchant_id, attempt_id, None).await?;
    let settled = settle::apply(&mut tx, merchant_id, attempt_id, &report, "poll").await?;
    let open = settled.is_some_and(|s| s.open);
    let outcome = if !open {
        Outcome::Done
    } else if Utc::now() > deadline(state, &attempt).await? {
        if attempt.collection_id.is_some() {
            // A checkout nobody paid before its collection expired: the expected end, not a problem.
            let why = "not paid before the collection expired";
            attempts::set_status(&mut *tx, merchant_id, attempt_id, "failed", Some(why)).await?;
            Outcome::Done
        } else {
            // A mobile-money prompt times out within minutes: a day without an answer is a problem.
            attempts::set_status(
                &mut *tx,
                merchant_id,
                attempt_id,
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

/// Attempts left in `created` by a process that died between storing the reference and writing the
/// outcome have no poll job: adopt them once they are older than any live request could be, so a push
/// that did reach the provider is found (and shows up to operators) instead of being lost.
pub async fn adopt_orphans(state: &AppState) -> Result<u64, sqlx::Error> {
    let older_than = state.config.request_timeout * 2;
    let adopted = sqlx::query(
        "insert into jobs (kind, key, merchant_id, payload, run_at)
         select $1, a.merchant_id || '/' || a.id, a.merchant_id,
                jsonb_build_object('merchantId', a.merchant_id, 'attemptId', a.id), now()
         from provider_attempts a
         where a.status = 'created' and a.created_at < now() - make_interval(secs => $2)
           and a.operation in ('initialize', 'charge', 'request_to_pay', 'collect')
           and not exists (select 1 from jobs j where j.kind = $1 and j.key = a.merchant_id || '/' || a.id)
         limit 500
         on conflict (kind, key) where status = 'queued' do nothing",
    )
    .bind(KIND)
    .bind(older_than.as_secs_f64())
    .execute(&state.pool)
    .await?;
    Ok(adopted.rows_affected())
}

//! A mandate's life after creation, written in the caller's transaction: the provider reports the
//! customer's authorization (by webhook, by the `consent` poll, or when the customer comes back from the
//! provider's page), the schedule is planned a few installments ahead, and the mandate ends (revoked,
//! cancelled, completed). Every path locks the mandate row first, so two reports of one consent are
//! applied one after the other: the second finds the work done.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgConnection;

use super::queue::{in_, Outcome};
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::domain::schedule::Plan;
use crate::domain::scheduled::{self, is_final};
use crate::providers::ProviderError;
use crate::store::jobs::{self, Job};
use crate::store::scheduled::{self as store, MandateRow};
use crate::AppState;

/// Polls a mandate request that is waiting for the customer (or the bank) until it is active.
pub const CONSENT_KIND: &str = "consent";
/// Installments written ahead of time for a recurring schedule.
const AHEAD: usize = 3;

/// What the provider says about a mandate's authorization.
#[derive(Debug, Clone)]
pub struct Reported {
    /// Chargeable now (`direct_debit.authorization.active`, or verify with `active: true`).
    pub active: bool,
    /// Withdrawn (`direct_debit.authorization.inactive`). Not merely "not active": a `created` event
    /// delivered after the `active` one says nothing about the mandate now.
    pub revoked: bool,
    pub authorization_code: Option<String>,
    pub email: Option<String>,
    /// Where the report came from (`webhook`, `poll`, `return`), for the event's data.
    pub source: &'static str,
}

/// What applying a report did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Consented,
    /// Approved by the customer; the bank has not activated it yet.
    Authorized,
    Revoked,
    /// Nothing new (a repeat), or recorded only (the collection had ended).
    Nothing,
}

pub fn plan_of(row: &MandateRow) -> Plan {
    let zone = scheduled::zone(&row.time_zone).unwrap_or(scheduled::DEFAULT_ZONE);
    scheduled::plan_from(&row.schedule.0, zone, row.start_at, row.expires_at)
}

pub async fn report(
    conn: &mut PgConnection,
    state: &AppState,
    merchant_id: &str,
    id: &str,
    reported: &Reported,
) -> Result<Applied, sqlx::Error> {
    let Some(row) = store::lock_mandate(conn, merchant_id, id).await? else {
        return Ok(Applied::Nothing);
    };
    let status = row.status.clone();
    let data = json!({"source": reported.source, "active": reported.active});
    let sealed = match (&reported.authorization_code, &state.config.encryption_key) {
        (Some(code), Some(key)) => Some(key.seal(code.as_bytes(), id.as_bytes())),
        _ => None,
    };
    if is_final(&status) {
        // Late: recorded on the collection, never acted on (the job deactivates it at Paystack).
        if reported.active {
            crate::store::collections::add_event(
                &mut *conn,
                merchant_id,
                id,
                &new_id("evt"),
                "mandate.consent_after_close",
                &data,
            )
            .await?;
        }
        return Ok(Applied::Nothing);
    }
    match (reported.active, status.as_str(), row.consent_stage.as_str()) {
        (true, "NOT_STARTED", _) => {
            store::set_consent(
                &mut *conn,
                merchant_id,
                id,
                "active",
                None,
                reported.email.as_deref(),
                sealed.as_deref(),
            )
            .await?;
            store::transition(
                &mut *conn,
                merchant_id,
                id,
                &["NOT_STARTED"],
                "ACTIVE",
                (&new_id("evt"), event::MANDATE_CONSENTED, &data),
            )
            .await?;
            jobs::cancel(&mut *conn, CONSENT_KIND, &consent_key(merchant_id, id)).await?;
            store::close_authorization_requests(&mut *conn, merchant_id, id, "succeeded").await?;
            if row.debit_type == "MONA" && row.provider_kind == "paystack" {
                extend(conn, &row, None).await?;
            }
            publish(conn, merchant_id, id).await?;
            Ok(Applied::Consented)
        }
        (true, _, _) => Ok(Applied::Nothing),
        (false, "ACTIVE", "active") if reported.revoked => {
            revoke(
                conn,
                merchant_id,
                id,
                "the provider reports the mandate inactive",
            )
            .await?;
            Ok(Applied::Revoked)
        }
        (false, "NOT_STARTED", "none" | "requested") if !reported.revoked => {
            store::set_consent(
                &mut *conn,
                merchant_id,
                id,
                "authorized",
                None,
                reported.email.as_deref(),
                sealed.as_deref(),
            )
            .await?;
            publish(conn, merchant_id, id).await?;
            Ok(Applied::Authorized)
        }
        _ => Ok(Applied::Nothing),
    }
}

/// Ends an active mandate: `REVOKED` with `mandate.revoked`, future installments stopped.
pub async fn revoke(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    why: &str,
) -> Result<bool, sqlx::Error> {
    let moved = store::transition(
        &mut *conn,
        merchant_id,
        id,
        &["NOT_STARTED", "ACTIVE"],
        "REVOKED",
        (
            &new_id("evt"),
            event::MANDATE_REVOKED,
            &json!({"reason": why}),
        ),
    )
    .await?;
    if moved {
        store::close_authorization_requests(&mut *conn, merchant_id, id, "failed").await?;
        store::set_revoked(&mut *conn, merchant_id, id).await?;
        store::stop_installments(conn, merchant_id, id).await?;
        publish(conn, merchant_id, id).await?;
    }
    Ok(moved)
}

/// Writes the next installments (keeping `AHEAD` open), each with its `debit` job due at its date, and
/// completes the collection when nothing is left to collect. `paid` is the installment just paid.
pub async fn extend(
    conn: &mut PgConnection,
    row: &MandateRow,
    paid: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let (merchant_id, id) = (row.merchant_id.as_str(), row.id.as_str());
    let plan = plan_of(row);
    let (last, open, _, _) = store::planned(conn, merchant_id, id).await?;
    // Installments before the collection existed are never due (a start date in the past).
    let from = last.unwrap_or(row.created_at - TimeDelta::milliseconds(1));
    let wanted = AHEAD.saturating_sub(open.max(0) as usize);
    let added = if wanted > 0 {
        let next = plan.after(Some(from), wanted);
        store::add_installments(conn, merchant_id, id, &next).await?
    } else {
        Vec::new()
    };
    for due_at in &added {
        super::debit::schedule(&mut *conn, merchant_id, id, *due_at, *due_at).await?;
    }
    let (last, open, upcoming, paid_all) = store::planned(conn, merchant_id, id).await?;
    store::set_progress(&mut *conn, merchant_id, id, upcoming, paid.is_some()).await?;
    let exhausted = last.is_some_and(|last| plan.after(Some(last), 1).is_empty());
    if open == 0 && exhausted && paid_all {
        store::transition(
            &mut *conn,
            merchant_id,
            id,
            &["ACTIVE"],
            "COMPLETED",
            (
                &new_id("evt"),
                event::COMPLETED,
                &json!({"reason": "every installment was paid"}),
            ),
        )
        .await?;
    }
    Ok(())
}

pub async fn publish(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    crate::events::publish(conn, merchant_id, crate::events::Object::Scheduled(id)).await
}

pub fn consent_key(merchant_id: &str, id: &str) -> String {
    format!("{merchant_id}/{id}")
}

/// Queues (or brings forward) the consent poll of a mandate whose authorization was requested.
pub async fn schedule_poll(
    db: impl sqlx::PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    run_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        db,
        CONSENT_KIND,
        &consent_key(merchant_id, id),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "collectionId": id}),
        run_at,
    )
    .await
}

/// The `consent` job: asks Paystack where the authorization request stands, until it is active, the
/// collection ends, or it expires.
pub async fn poll(state: &AppState, job: &Job) -> Outcome {
    match poll_once(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn poll_once(state: &AppState, job: &Job) -> Result<Outcome, sqlx::Error> {
    let (Some(merchant_id), Some(id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["collectionId"].as_str(),
    ) else {
        return Ok(Outcome::GiveUp("payload names no collection".to_owned()));
    };
    let Some(row) = store::mandate(&state.pool, merchant_id, id).await? else {
        return Ok(Outcome::GiveUp("no such collection".to_owned()));
    };
    if row.status != "NOT_STARTED" || row.consent_stage == "active" {
        return Ok(Outcome::Done);
    }
    let Some(reference) = row.provider_reference.clone() else {
        return Ok(Outcome::Done);
    };
    // Every minute at first, then less often (doubling the wait with the request's age).
    let age = (chrono::Utc::now() - row.created_at).num_minutes().max(1) as u64;
    let next = in_(crate::domain::time::schedule_delay(
        &state.config.reconcile_schedule,
        age.ilog2() as usize,
    ));
    let account = match crate::providers::accounts::open(state, merchant_id, &row.provider).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return Ok(Outcome::GiveUp(
                "the provider account was removed".to_owned(),
            ))
        }
        Err(e) => return Ok(Outcome::RetryAt(next, Some(e.to_string()))),
    };
    let verified = match state.providers.paystack(&account) {
        Ok(paystack) => paystack.verify_authorization(&reference).await,
        Err(e) => Err(e),
    };
    let reported = match verified {
        Ok(found) => Reported {
            active: found.active,
            revoked: false,
            authorization_code: Some(found.authorization_code),
            email: found.customer.and_then(|c| c.email),
            source: "poll",
        },
        // Not approved yet: ask again later.
        Err(ProviderError::NotFound { .. }) => return Ok(Outcome::RetryAt(next, None)),
        Err(e) => return Ok(Outcome::RetryAt(next, Some(e.to_string()))),
    };
    let mut tx = state.pool.begin().await?;
    let applied = report(&mut tx, state, merchant_id, id, &reported).await?;
    tx.commit().await?;
    Ok(match applied {
        Applied::Consented => Outcome::Done,
        _ if state.clock.now() > row.expires_at => Outcome::Done,
        _ => Outcome::RetryAt(next, None),
    })
}

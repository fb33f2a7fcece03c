//! A mandate's life after creation, written in the caller's transaction: the provider reports the
//! customer's authorization (by webhook, by the `consent` poll, or when the customer comes back from the
//! provider's page), the schedule is planned a few installments ahead, and the mandate ends (revoked,
//! cancelled, completed). Every path locks the mandate row first, so two reports of one consent are
//! applied one after the other: the second finds the work done. Asking the provider is `jobs::consent`.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgConnection;

use super::{activation, consent};
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::domain::schedule::Plan;
use crate::domain::scheduled::{self, is_final, INSTALLMENTS_AHEAD as AHEAD};
use crate::store::jobs;
use crate::store::scheduled::{self as store, ConsentStep, MandateRow};
use crate::AppState;

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
    /// Paystack's customer code (`CUS_…`), for the activation-charge retry.
    pub customer: Option<String>,
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
    /// The customer's attempt did not consent (a declined card, a card that cannot be charged again):
    /// they start again from the consent page.
    Refused,
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
                event::MANDATE_CONSENT_AFTER_CLOSE,
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
                &ConsentStep {
                    stage: "active",
                    customer_email: reported.email.as_deref(),
                    authorization_code: sealed.as_deref(),
                    provider_customer: reported.customer.as_deref(),
                    ..Default::default()
                },
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
            jobs::cancel(&mut *conn, consent::KIND, &consent::key(merchant_id, id)).await?;
            jobs::cancel(&mut *conn, activation::KIND, &consent::key(merchant_id, id)).await?;
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
                &ConsentStep {
                    stage: "authorized",
                    customer_email: reported.email.as_deref(),
                    authorization_code: sealed.as_deref(),
                    provider_customer: reported.customer.as_deref(),
                    ..Default::default()
                },
            )
            .await?;
            // Approved, not yet active: the bank's activation charge is retried if it does not come.
            if let Some(first) = state.config.activation_retry_schedule.first() {
                activation::schedule(&mut *conn, merchant_id, id, state.clock.in_(*first)).await?;
            }
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

/// Writes the next installments (keeping `AHEAD` open), each with its `debit` job due at its date and
/// its `debit_notice` job (the customer is told before), and
/// completes the collection when nothing is left to collect. `paid` is the installment just paid.
pub async fn extend(
    conn: &mut PgConnection,
    row: &MandateRow,
    paid: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let (merchant_id, id) = (row.merchant_id.as_str(), row.id.as_str());
    let collected = paid.is_some();
    let now = store::progress(conn, merchant_id, id, collected).await?;
    extend_from(conn, row, collected, now).await
}

/// [`extend`] from the mandate's progress as already recorded (`store::progress`, or the debit's
/// success that recorded it: `store::record_debit_success`).
pub async fn extend_from(
    conn: &mut PgConnection,
    row: &MandateRow,
    collected: bool,
    mut now: store::Planned,
) -> Result<(), sqlx::Error> {
    let (merchant_id, id) = (row.merchant_id.as_str(), row.id.as_str());
    let plan = plan_of(row);
    // Installments before the collection existed are never due (a start date in the past).
    let from = now
        .last
        .unwrap_or(row.created_at - TimeDelta::milliseconds(1));
    let wanted = AHEAD.saturating_sub(now.open.max(0) as usize);
    if wanted > 0 {
        let next = plan.after(Some(from), wanted);
        let added = store::add_installments(conn, merchant_id, id, &next).await?;
        for due_at in &added {
            let zone = row.time_zone.as_str();
            super::debit::schedule(&mut *conn, merchant_id, id, zone, *due_at, *due_at).await?;
            super::notice::schedule(&mut *conn, merchant_id, id, *due_at).await?;
        }
        if !added.is_empty() {
            // The next collection may be one just written.
            now = store::progress(conn, merchant_id, id, collected).await?;
        }
    }
    let exhausted = now
        .last
        .is_some_and(|last| plan.after(Some(last), 1).is_empty());
    if now.open == 0 && exhausted && store::paid_all(conn, merchant_id, id).await? {
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

/// The mandate's authorization code, unsealed (it is sealed at rest like provider credentials).
pub fn authorization_code(state: &AppState, id: &str, sealed: Option<&[u8]>) -> Option<String> {
    let (sealed, key) = (sealed?, state.config.encryption_key.as_ref()?);
    key.open(sealed, id.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

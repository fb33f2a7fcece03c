//! Acts on a verified provider callback after it was stored and acknowledged. (Unsigned callbacks
//! never come here: they only bring the attempt's status check forward, see `http::webhooks`.)

use serde_json::json;

use super::paid_callbacks::PaidCallback;
use super::queue::Outcome;
use super::settle::{self, Paid};
use crate::domain::currency::Currency;
use crate::domain::money::Money;
use crate::domain::settlement::{PaymentStatus, Report};
use crate::events::Object;
use crate::providers::paystack::{self, WebhookEvent};
use crate::store::attempts::AttemptRow;
use crate::store::jobs::Job;
use crate::store::paid_callback::{self, Receipt};
use crate::store::webhooks::{self, NewReceipt};
use crate::AppState;

pub const KIND: &str = "webhook";

/// The job for a stored receipt. A verified `charge.success` for the attempt carries what it reports
/// (`success`), so the job settles it without reading the body back.
pub fn payload(
    receipt_id: &str,
    merchant_id: &str,
    attempt_id: &str,
    success: Option<Money>,
) -> serde_json::Value {
    let mut payload =
        json!({"receiptId": receipt_id, "merchantId": merchant_id, "attemptId": attempt_id});
    if let Some(amount) = success {
        payload["success"] =
            json!({"amountMinor": amount.minor(), "currency": amount.currency().code()});
    }
    payload
}

/// The success a job's payload carries (see [`payload`]); `None` for a job that reads its body.
fn success_in(payload: &serde_json::Value) -> Option<Money> {
    let success = payload.get("success")?;
    let currency = Currency::parse(success["currency"].as_str()?)?;
    Some(Money::from_minor(
        success["amountMinor"].as_i64()?,
        currency,
    ))
}

/// What a `charge.success` that repeats a recorded success comes to.
pub const REPEATS_SETTLED: &str = "Nothing: repeats the success Cowry recorded";

/// The amount a verified `charge.success` reports for this attempt (naming its own reference), if the
/// callback is one. A success that only repeats what the attempt recorded decides nothing, so its receipt
/// is stamped processed at once instead of costing a job (`http::webhooks`).
pub fn success_for(attempt: &AttemptRow, body: &[u8]) -> Option<Money> {
    match paystack::parse_webhook(body) {
        Ok(WebhookEvent::ChargeSuccess { reference, amount })
            if reference == attempt.provider_reference =>
        {
            Some(amount)
        }
        _ => None,
    }
}

/// Whether the attempt, as read, already recorded exactly this success. Read without a lock: a
/// succeeded attempt only moves on to `reversed`, and a `charge.success` acted on after that would change
/// nothing either, so the receipt reads as if it had come before the reversal, which it did from the
/// attempt's point of view.
pub fn records_success(attempt: &AttemptRow, amount: Money) -> bool {
    attempt.status == "succeeded" && is_its_amount(attempt, amount)
}

/// Whether `amount` is exactly what the attempt asked for (or recorded).
fn is_its_amount(attempt: &AttemptRow, amount: Money) -> bool {
    attempt.amount_minor == Some(amount.minor())
        && attempt
            .currency
            .as_deref()
            .is_some_and(|c| c.trim() == amount.currency().code())
}

/// Settles a verified `charge.success` of `amount` for a collection's plain payment before the callback
/// is answered: the receipt is stored processed in the transaction that completes the collection (shared
/// with the other callbacks settling at the same moment, `jobs::paid_callbacks`), so the payment costs
/// no job (written, taken and ended) and the merchant hears of it at once. Only for an
/// attempt that, as read, is such a payment, open and asking for exactly `amount`, and only for the
/// first receipt of its key. `false` when it did not settle it (anything else, a duplicate, or the
/// transaction failed): nothing of it stays, and the caller stores the receipt with its job.
pub async fn settle_before_answer(
    state: &AppState,
    attempt: &AttemptRow,
    amount: Money,
    receipt: &NewReceipt<'_>,
) -> bool {
    let open = super::reconcile::OPEN.contains(&attempt.status.as_str());
    let plain = paid_callback::is_plain_payment(attempt);
    if !(open && plain && is_its_amount(attempt, amount)) || receipt.dedupe_key.is_none() {
        return false;
    }
    let Some(collection_id) = attempt.collection_id.clone() else {
        return false;
    };
    let settlement = PaidCallback {
        merchant_id: attempt.merchant_id.clone(),
        attempt_id: attempt.id.clone(),
        collection_id,
        amount,
        receipt: receipt.row(),
    };
    state
        .paid_callbacks
        .submit(settlement)
        .await
        .unwrap_or_else(|e| {
            // The receipt is stored with its job instead, which settles it (or finds it settled, if
            // the commit landed after all: then the receipt is a duplicate, acted on by nothing).
            tracing::warn!(error = %e, "could not settle a callback before answering; queued instead");
            false
        })
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match process(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn process(state: &AppState, job: &Job) -> Result<Outcome, sqlx::Error> {
    let payload = &job.payload;
    let (Some(receipt_id), Some(merchant_id), Some(attempt_id)) = (
        payload["receiptId"].as_str(),
        payload["merchantId"].as_str(),
        payload["attemptId"].as_str(),
    ) else {
        return Ok(Outcome::GiveUp("payload names no receipt".to_owned()));
    };
    // One transaction from the body's read to the stamp: one pooled connection per callback.
    let mut tx = crate::db::begin(&state.pool).await?;
    if let Some(amount) = success_in(payload) {
        // A success the intake read from the verified body: no need to read it again. A collection's
        // plain payment settles with the receipt's stamp and the job's end in one statement.
        let attempt = (merchant_id, attempt_id);
        let receipt = Receipt::Stored {
            id: receipt_id,
            job,
        };
        match settle::apply_paid_callback(&mut tx, attempt, amount, "webhook", &receipt).await? {
            Paid::Settled(_, collection) => {
                crate::events::publish(&mut tx, merchant_id, Object::Collection(&collection))
                    .await?;
                tx.commit().await?;
                return Ok(Outcome::Finished);
            }
            // (A stored receipt is the first of its key: never a duplicate.)
            Paid::Elsewhere | Paid::Duplicate => {}
        }
        let settled =
            settle::apply_success(&mut tx, merchant_id, attempt_id, amount, "webhook").await?;
        return finish(tx, job, receipt_id, settled).await;
    }
    let Some(body) = webhooks::body(&mut *tx, receipt_id).await? else {
        return Ok(Outcome::GiveUp("no such receipt".to_owned()));
    };
    let report = match paystack::parse_webhook(&body) {
        Ok(WebhookEvent::ChargeSuccess { amount, .. }) => Report {
            status: PaymentStatus::Succeeded,
            amount: Some(amount),
        },
        Ok(WebhookEvent::Refunded { .. }) => Report {
            status: PaymentStatus::Reversed,
            amount: None,
        },
        Ok(WebhookEvent::Authorization {
            event,
            authorization_code,
            active,
            revoked,
            email,
            customer,
            ..
        }) => {
            let attempt = crate::store::attempts::get(&mut *tx, merchant_id, attempt_id).await?;
            let Some(scheduled) = attempt.and_then(|a| a.scheduled_id) else {
                webhooks::processed(&mut *tx, receipt_id, "names no mandate").await?;
                tx.commit().await?;
                return Ok(Outcome::Done);
            };
            let reported = super::mandate::Reported {
                active,
                revoked,
                authorization_code: Some(authorization_code),
                email,
                customer,
                source: "webhook",
            };
            let applied =
                super::mandate::report(&mut tx, state, merchant_id, &scheduled, &reported).await?;
            let outcome = format!("{event}: {applied:?}");
            webhooks::processed_by(&mut *tx, receipt_id, &outcome, job).await?;
            tx.commit().await?;
            return Ok(Outcome::Finished);
        }
        Ok(WebhookEvent::Other { event }) => {
            let outcome = format!("recorded: {event} is not an event Cowry acts on");
            webhooks::processed(&mut *tx, receipt_id, &outcome).await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
        Err(e) => {
            webhooks::processed(&mut *tx, receipt_id, &format!("unreadable: {e}")).await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
    };
    let settled = settle::apply(&mut tx, merchant_id, attempt_id, &report, "webhook").await?;
    finish(tx, job, receipt_id, settled).await
}

/// Stamps the receipt with what settling it did and ends the job: the receipt's effect, its stamp and
/// the job's end commit together.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    job: &Job,
    receipt_id: &str,
    settled: Option<settle::Settled>,
) -> Result<Outcome, sqlx::Error> {
    let outcome = match settled {
        Some(s) => format!("{:?}", s.decision),
        None => "no such attempt".to_owned(),
    };
    webhooks::processed_by(&mut *tx, receipt_id, &outcome, job).await?;
    tx.commit().await?;
    Ok(Outcome::Finished)
}

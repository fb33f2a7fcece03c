//! Money paid into a virtual account: matched to a collection by `domain::transfer`'s rule and credited
//! in one transaction. The open collections shown the account number are locked first, so two transfers
//! into one account are matched one at a time; the transfer is recorded as a provider attempt under the
//! provider's own reference, so a repeat of it is recorded once and credits nothing.
//!
//! - exact → the collection completes;
//! - short → `payment.partial`; it stays open for the rest (and a Paystack checkout for the rest is
//!   initialized, see `remainder`);
//! - more → it completes, and `payment.flagged` tells finance the excess;
//! - into a number whose collections are all closed → `payment.received_after_close` on the newest,
//!   the transfer held (`flagged`) for finance;
//! - into a number no collection in that currency was shown → held (`flagged`, no collection), listed
//!   by `GET /admin/attempts?status=flagged`.

use serde_json::{json, Value};
use sqlx::PgConnection;

use super::queue::Outcome;
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::transfer::{self, Credit, Match};
use crate::providers::paystack;
use crate::store::attempts::{self, NewAttempt};
use crate::store::jobs::Job;
use crate::store::{collections, virtual_accounts, webhooks};
use crate::AppState;

pub const KIND: &str = "transfer";

/// The job for a stored, verified callback reporting a transfer into `provider`'s account.
pub fn payload(receipt_id: &str, merchant_id: &str, provider: &str) -> Value {
    json!({"receiptId": receipt_id, "merchantId": merchant_id, "provider": provider})
}

/// A transfer as a provider reported it.
pub struct Incoming<'a> {
    /// The merchant's provider account (slug) and its adapter kind.
    pub provider: &'a str,
    pub kind: &'a str,
    /// The provider's reference for the transfer.
    pub reference: &'a str,
    pub amount: Money,
    pub account_number: &'a str,
    /// What is kept with the transfer's attempt (never the sender's account number).
    pub detail: Value,
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match process(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn process(state: &AppState, job: &Job) -> Result<Outcome, sqlx::Error> {
    let payload = &job.payload;
    let (Some(receipt_id), Some(merchant_id), Some(provider)) = (
        payload["receiptId"].as_str(),
        payload["merchantId"].as_str(),
        payload["provider"].as_str(),
    ) else {
        return Ok(Outcome::GiveUp("payload names no receipt".to_owned()));
    };
    let Some(body) = webhooks::body(&state.pool, receipt_id).await? else {
        return Ok(Outcome::GiveUp("no such receipt".to_owned()));
    };
    let Some(reported) = paystack::parse_transfer(&body) else {
        webhooks::processed(&state.pool, receipt_id, "not a transfer Cowry can read").await?;
        return Ok(Outcome::Done);
    };
    let incoming = Incoming {
        provider,
        kind: paystack::NAME,
        reference: &reported.reference,
        amount: reported.amount,
        account_number: &reported.account_number,
        detail: json!({"channel": "dedicated_nuban", "customer": reported.customer,
                       "senderBank": reported.sender_bank}),
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    let outcome = credit(&mut tx, merchant_id, &incoming).await?;
    webhooks::processed(&mut *tx, receipt_id, &outcome).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// Matches and credits one transfer in the caller's transaction; says what it came to.
pub async fn credit(
    conn: &mut PgConnection,
    merchant_id: &str,
    incoming: &Incoming<'_>,
) -> Result<String, sqlx::Error> {
    let amount = incoming.amount;
    let currency = amount.currency().code();
    let candidates = virtual_accounts::candidates(
        &mut *conn,
        merchant_id,
        incoming.provider,
        incoming.account_number,
    )
    .await?;
    let matched = transfer::choose(&candidates, currency, amount.minor());
    let (collection, status, held) = match &matched {
        Match::Pays(id) => (Some(id.as_str()), "succeeded", None),
        Match::AfterClose(id) => (
            Some(id.as_str()),
            "flagged",
            Some("held for review: the collection had closed when the transfer arrived"),
        ),
        Match::Unmatched => (
            None,
            "flagged",
            Some("held for review: no collection in this currency was shown this account number"),
        ),
    };
    let attempt_id = new_id("att");
    let attempt = NewAttempt {
        id: &attempt_id,
        provider: incoming.provider,
        kind: incoming.kind,
        operation: "transfer",
        provider_reference: incoming.reference,
        amount_minor: amount.minor(),
        currency,
    };
    let first = attempts::insert_reported(
        &mut *conn,
        &attempt,
        merchant_id,
        collection,
        status,
        &incoming.detail,
        held,
    )
    .await?;
    if !first {
        return Ok("Nothing: this transfer was recorded before".to_owned());
    }
    let data = payment_data(&attempt_id, incoming);
    let outcome = match matched {
        Match::Unmatched => return Ok(held.unwrap_or_default().to_owned()),
        Match::AfterClose(id) => {
            collections::add_event(
                &mut *conn,
                merchant_id,
                &id,
                &new_id("evt"),
                event::PAYMENT_AFTER_CLOSE,
                &data,
            )
            .await?;
            crate::events::publish(conn, merchant_id, crate::events::Object::Collection(&id))
                .await?;
            format!("received after {id} closed; held for review")
        }
        Match::Pays(id) => {
            let remaining = candidates
                .iter()
                .find(|c| c.id == id)
                .map_or(0, |c| c.remaining_minor);
            collections::add_paid(&mut *conn, merchant_id, &id, amount.minor()).await?;
            pay(conn, merchant_id, &id, incoming, remaining, &data).await?
        }
    };
    Ok(outcome)
}

fn payment_data(attempt_id: &str, incoming: &Incoming<'_>) -> Value {
    json!({"attempt": attempt_id, "provider": incoming.provider, "source": "transfer",
           "reference": incoming.reference, "amount": incoming.amount.major_string(),
           "currency": incoming.amount.currency().code()})
}

/// A payment of exactly what one open collection owes, made on its own page (the sandbox's Pay):
/// recorded as a succeeded `checkout` attempt under `reference`, and the collection completes. `None`
/// when the collection is no longer open.
pub async fn pay_owed(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    provider: &str,
    reference: &str,
) -> Result<Option<String>, sqlx::Error> {
    let owed: Option<(i64, String)> = sqlx::query_as(
        "select amount_minor - amount_paid_minor, currency::text from collections
         where merchant_id = $1 and id = $2 and status in ('pending', 'overdue') for update",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(currency) = owed
        .as_ref()
        .and_then(|(_, c)| crate::domain::currency::Currency::parse(c.trim()))
    else {
        return Ok(None);
    };
    let owed = owed.map_or(0, |(minor, _)| minor);
    let incoming = Incoming {
        provider,
        kind: provider,
        reference,
        amount: Money::from_minor(owed, currency),
        account_number: "",
        detail: json!({"channel": "checkout"}),
    };
    let attempt_id = new_id("att");
    let attempt = NewAttempt {
        id: &attempt_id,
        provider,
        kind: provider,
        operation: "checkout",
        provider_reference: reference,
        amount_minor: owed,
        currency: currency.code(),
    };
    attempts::insert_reported(
        &mut *conn,
        &attempt,
        merchant_id,
        Some(id),
        "succeeded",
        &incoming.detail,
        None,
    )
    .await?;
    let mut data = payment_data(&attempt_id, &incoming);
    data["source"] = json!("checkout");
    collections::add_paid(&mut *conn, merchant_id, id, owed).await?;
    pay(conn, merchant_id, id, &incoming, owed, &data)
        .await
        .map(Some)
}

/// What the money does to the open collection that owed `remaining` before it.
async fn pay(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    incoming: &Incoming<'_>,
    remaining: i64,
    data: &Value,
) -> Result<String, sqlx::Error> {
    let currency = incoming.amount.currency();
    let money = |minor| Money::from_minor(minor, currency);
    let outcome = match transfer::credit(remaining, incoming.amount.minor()) {
        Credit::Paid => {
            collections::complete(&mut *conn, merchant_id, id, &new_id("evt"), data).await?;
            format!("paid {id}")
        }
        Credit::Overpaid { excess_minor } => {
            collections::complete(&mut *conn, merchant_id, id, &new_id("evt"), data).await?;
            let excess = money(excess_minor);
            let why = super::settle::flag_excess(&mut *conn, merchant_id, id, excess, data).await?;
            format!("paid {id}; {why}")
        }
        Credit::Partial { remaining_minor } => {
            let mut partial = data.clone();
            partial["amountRemaining"] = json!(money(remaining_minor).major_string());
            collections::add_event(
                &mut *conn,
                merchant_id,
                id,
                &new_id("evt"),
                event::PAYMENT_PARTIAL,
                &partial,
            )
            .await?;
            if incoming.kind == paystack::NAME {
                super::remainder::schedule(
                    &mut *conn,
                    merchant_id,
                    id,
                    incoming.provider,
                    money(remaining_minor),
                )
                .await?;
            }
            format!(
                "paid part of {id}; {} still owed",
                money(remaining_minor).display()
            )
        }
    };
    crate::events::publish(conn, merchant_id, crate::events::Object::Collection(id)).await?;
    Ok(outcome)
}

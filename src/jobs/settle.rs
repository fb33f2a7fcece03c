//! Writes what a provider's report means, in the caller's transaction: the attempt moves (or not, per
//! `domain::settlement::decide`), and the collection or collect it paid for follows, with one event.
//! The attempt row is locked first, so a webhook and a poll for one payment settle it one at a time.

use chrono::Utc;
use serde_json::json;
use sqlx::PgConnection;

use crate::domain::collection::event;
use crate::domain::currency::Currency;
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::settlement::{decide, AttemptState, Decision, PaymentStatus, Report};
use crate::store::attempts::{self, AttemptRow};
use crate::store::{collections, collects, paid_callback};

/// What settling did: the decision, and whether the attempt is still open (keep polling).
#[derive(Debug)]
pub struct Settled {
    pub decision: Decision,
    pub open: bool,
}

/// `source` says where the report came from (`poll`, `webhook`), for the event's data.
pub async fn apply(
    conn: &mut PgConnection,
    merchant_id: &str,
    attempt_id: &str,
    report: &Report,
    source: &str,
) -> Result<Option<Settled>, sqlx::Error> {
    let Some(attempt) = attempts::lock(conn, merchant_id, attempt_id).await? else {
        return Ok(None);
    };
    apply_to(conn, attempt, report, source).await.map(Some)
}

/// `apply` for a report that the payment succeeded with `amount`, in one statement in the usual case:
/// an open attempt that asked for exactly that amount moves to `succeeded` (its status poll ended) with
/// no lock taken first, as `decide` would move it. Anything else (settled already, another amount, a
/// failure recorded) is locked and settled the general way.
pub async fn apply_success(
    conn: &mut PgConnection,
    merchant_id: &str,
    attempt_id: &str,
    amount: Money,
    source: &str,
) -> Result<Option<Settled>, sqlx::Error> {
    let report = Report {
        status: PaymentStatus::Succeeded,
        amount: Some(amount),
    };
    let poll = super::reconcile::key(merchant_id, attempt_id);
    let change = reported_success(&poll);
    let (minor, currency) = (amount.minor(), amount.currency().code());
    let moved =
        attempts::settle_if_asked(conn, merchant_id, attempt_id, minor, currency, &change).await?;
    let Some(attempt) = moved else {
        return apply(conn, merchant_id, attempt_id, &report, source).await;
    };
    let data = event_data(&attempt, &report, source);
    follow(conn, &attempt, AttemptState::Succeeded, None, &data).await?;
    let decision = Decision::Move(AttemptState::Succeeded);
    count(source, &decision);
    Ok(Some(Settled {
        decision,
        open: false,
    }))
}

/// What [`apply_paid_callback`] came to.
#[derive(Debug)]
pub enum Paid {
    /// Settled: the collection whose events the caller publishes (`events::publish`, or
    /// `events::publish_collections` for several) before it commits.
    Settled(Settled, String),
    /// Not a plain payment open and asking for exactly that amount: nothing was written, and the caller
    /// settles it the general way.
    Elsewhere,
    /// A receipt the intake stores that is not the first of its key: the caller rolls back what was
    /// written (a duplicate acts on nothing).
    Duplicate,
}

/// A verified `charge.success` of `amount`, settled with its `receipt` (stamped and its job ended, or
/// stored processed by the intake): in one statement when the attempt is a collection's plain payment,
/// open and asking for exactly that amount (`store::paid_callback`), then the excess flagged if any, as
/// [`apply_success`] and [`follow`] would; the caller publishes the collection.
pub async fn apply_paid_callback(
    conn: &mut PgConnection,
    (merchant_id, attempt_id): (&str, &str),
    amount: Money,
    source: &str,
    receipt: &paid_callback::Receipt<'_>,
) -> Result<Paid, sqlx::Error> {
    let report = Report {
        status: PaymentStatus::Succeeded,
        amount: Some(amount),
    };
    let decision = Decision::Move(AttemptState::Succeeded);
    let outcome = format!("{decision:?}");
    let poll = super::reconcile::key(merchant_id, attempt_id);
    let change = reported_success(&poll);
    let data = report_data(attempt_id, &report, source);
    let (completed, after_close) = (new_id("evt"), new_id("evt"));
    let (minor, currency) = (amount.minor(), amount.currency().code());
    let attempt = (merchant_id, attempt_id);
    let events = (completed.as_str(), after_close.as_str());
    let receipt = (receipt, outcome.as_str());
    let settled = paid_callback::settle(
        conn, attempt, minor, currency, &change, &data, events, receipt,
    )
    .await?;
    let settled = match settled {
        None => return Ok(Paid::Elsewhere),
        Some(settled) if !settled.first => return Ok(Paid::Duplicate),
        Some(settled) => settled,
    };
    let attempt = &settled.attempt;
    if let (Some(owed), Some(collection)) = (settled.owed, &attempt.collection_id) {
        // A checkout for the whole amount paid after a short transfer: finance sees the excess.
        let excess = Some(minor - owed).filter(|e| *e > 0);
        if let Some(excess) = excess {
            let data = event_data(attempt, &report, source);
            let excess = Money::from_minor(excess, amount.currency());
            flag_excess(conn, merchant_id, collection, excess, &data).await?;
        }
    }
    let collection = attempt.collection_id.clone().unwrap_or_default();
    count(source, &decision);
    let settled = Settled {
        decision,
        open: false,
    };
    Ok(Paid::Settled(settled, collection))
}

/// An open attempt's move to `succeeded` on a report of exactly the amount it asked for, ending its
/// status poll (`poll`), as `decide` would make it.
fn reported_success(poll: &str) -> attempts::Change<'_> {
    attempts::Change {
        from: super::reconcile::OPEN,
        to: AttemptState::Succeeded.as_str(),
        error: None,
        amount_confirmed: Some(true),
        ends: Some((super::reconcile::KIND, poll)),
    }
}

/// `apply` to an attempt the caller's transaction has already locked (`attempts::record_call_and_lock`).
pub async fn apply_to(
    conn: &mut PgConnection,
    attempt: AttemptRow,
    report: &Report,
    source: &str,
) -> Result<Settled, sqlx::Error> {
    let merchant_id = attempt.merchant_id.as_str();
    let current = AttemptState::parse(&attempt.status).unwrap_or(AttemptState::Unknown);
    let Some(expected) = expected(&attempt) else {
        return Ok(Settled {
            decision: Decision::Nothing,
            open: false,
        });
    };
    let decision = decide(current, expected, report);
    let data = event_data(&attempt, report, source);
    match &decision {
        Decision::Nothing => {}
        Decision::Move(to) => {
            let from = [current.as_str()];
            let poll = super::reconcile::key(merchant_id, &attempt.id);
            let change = change(current, &from, *to, report, &poll);
            attempts::settle_status(&mut *conn, merchant_id, &attempt.id, &change).await?;
            follow(conn, &attempt, *to, change.error, &data).await?;
        }
        Decision::Flag(why) => {
            let from = [current.as_str()];
            attempts::set_status(
                &mut *conn,
                merchant_id,
                &attempt.id,
                &from,
                "flagged",
                Some(why),
            )
            .await?;
            let data = json!({"attempt": attempt.id, "reason": why, "source": source});
            owner_event(
                conn,
                &attempt,
                event::PAYMENT_FLAGGED,
                "collect.flagged",
                &data,
            )
            .await?;
            // An open collect is held for review; a terminal one keeps its status (only the event).
            if let (Some(collect), true) = (&attempt.collect_id, current.is_open()) {
                let message = format!("held for review: {why}");
                collects::set_outcome(
                    &mut *conn,
                    merchant_id,
                    collect,
                    "PENDING",
                    Some(&message),
                    Some("amount_mismatch"),
                )
                .await?;
            }
        }
        Decision::Ignore => {
            owner_event(
                conn,
                &attempt,
                event::STATUS_IGNORED,
                "collect.status_ignored",
                &data,
            )
            .await?;
        }
    }
    count(source, &decision);
    let now = match &decision {
        Decision::Move(to) => *to,
        Decision::Flag(_) => AttemptState::Flagged,
        _ => current,
    };
    // (A move ended the poll in its own statement.)
    if current.is_open() && !now.is_open() && !matches!(decision, Decision::Move(_)) {
        super::reconcile::unschedule(&mut *conn, merchant_id, &attempt.id).await?;
    }
    Ok(Settled {
        decision,
        open: now.is_open(),
    })
}

/// The answer to a call on an attempt its caller created (and so knows to have been `created`, asking
/// `expected`): recorded with the call (`attempts::record_call_and_lock`) and settled, and the `ending`
/// job ended, all in the caller's transaction. When the answer moves the attempt, the call, the move and
/// the job's end are one statement; if something else moved the attempt first (a webhook, a poll), it
/// is settled the general way ([`apply_to`] on the locked row), as any report.
pub async fn apply_answer(
    conn: &mut PgConnection,
    merchant_id: &str,
    attempt_id: &str,
    expected: Money,
    answer: (&serde_json::Value, &Report),
    ending: Option<&crate::store::jobs::Job>,
) -> Result<Option<Settled>, sqlx::Error> {
    let (call, report) = answer;
    let mut ending = ending;
    let current = AttemptState::Created;
    if let Decision::Move(to) = decide(current, expected, report) {
        let from = [current.as_str()];
        let poll = super::reconcile::key(merchant_id, attempt_id);
        let change = change(current, &from, to, report, &poll);
        let moved =
            attempts::record_call_and_settle(conn, merchant_id, attempt_id, call, ending, &change)
                .await?;
        if let Some(attempt) = moved {
            let data = event_data(&attempt, report, "charge");
            follow(conn, &attempt, to, change.error, &data).await?;
            let decision = Decision::Move(to);
            count("charge", &decision);
            return Ok(Some(Settled {
                decision,
                open: to.is_open(),
            }));
        }
        // Ended by that statement, moved or not.
        ending = None;
    }
    let Some(attempt) =
        attempts::record_call_and_lock(conn, merchant_id, attempt_id, call, ending).await?
    else {
        return Ok(None);
    };
    apply_to(conn, attempt, report, "charge").await.map(Some)
}

/// The attempt's move from `current` (`from`: its name) to `to` on this report; `poll` is the key of its status poll, ended
/// when it settles.
pub(super) fn change<'a>(
    current: AttemptState,
    from: &'a [&'a str],
    to: AttemptState,
    report: &'a Report,
    poll: &'a str,
) -> attempts::Change<'a> {
    attempts::Change {
        from,
        to: to.as_str(),
        error: match &report.status {
            PaymentStatus::Failed { reason } => Some(reason.as_str()),
            _ => None,
        },
        amount_confirmed: (to == AttemptState::Succeeded).then_some(report.amount.is_some()),
        ends: (current.is_open() && !to.is_open()).then_some((super::reconcile::KIND, poll)),
    }
}

/// What a settlement's event says about the report.
fn event_data(attempt: &AttemptRow, report: &Report, source: &str) -> serde_json::Value {
    let mut data = report_data(&attempt.id, report, source);
    data["provider"] = json!(attempt.provider);
    data
}

/// [`event_data`] less the attempt's provider.
fn report_data(attempt_id: &str, report: &Report, source: &str) -> serde_json::Value {
    json!({"attempt": attempt_id, "reported": reported(&report.status),
           "source": source, "amount": report.amount.map(|m| m.major_string()),
           "currency": report.amount.map(|m| m.currency().code())})
}

pub(super) fn count(source: &str, decision: &Decision) {
    let label = match decision {
        Decision::Nothing => "nothing",
        Decision::Move(to) => to.as_str(),
        Decision::Flag(_) => "flagged",
        Decision::Ignore => "ignored",
    };
    crate::metrics::METRICS
        .settlements
        .with_label_values(&[source, label])
        .inc();
}

/// The money the attempt asked for.
fn expected(attempt: &AttemptRow) -> Option<Money> {
    let currency = Currency::parse(attempt.currency.as_deref()?.trim())?;
    Some(Money::from_minor(attempt.amount_minor?, currency))
}

fn reported(status: &PaymentStatus) -> String {
    match status {
        PaymentStatus::Pending => "pending".to_owned(),
        PaymentStatus::Succeeded => "succeeded".to_owned(),
        PaymentStatus::Failed { reason } => format!("failed: {reason}"),
        PaymentStatus::Reversed => "reversed".to_owned(),
    }
}

/// The owner follows the attempt: a collection completes when paid; a collect takes the outcome.
async fn follow(
    conn: &mut PgConnection,
    attempt: &AttemptRow,
    to: AttemptState,
    reason: Option<&str>,
    data: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    let merchant_id = attempt.merchant_id.as_str();
    if attempt.kind == crate::providers::dollr::NAME && to == AttemptState::Succeeded {
        // Dollr's receipt is there once the invoice is paid: fetched and kept with the payment.
        super::receipt::schedule(&mut *conn, attempt).await?;
    }
    if attempt.operation == "authorize_card" {
        // A card rail's verification charge: never kept (refunded once paid); the consent check reads
        // the authorization it left, or sends the customer back after a decline.
        if to == AttemptState::Succeeded {
            super::refund::schedule(&mut *conn, attempt).await?;
        }
        if let (Some(id), AttemptState::Succeeded | AttemptState::Failed) =
            (&attempt.scheduled_id, to)
        {
            super::consent::schedule_poll(&mut *conn, merchant_id, id, Utc::now()).await?;
        }
        return Ok(());
    }
    if attempt.debit_id.is_some() {
        // A scheduled collection's debit: the debit, its installment and the mandate follow.
        return super::debit::follow(conn, attempt, to, reason).await;
    }
    if let Some(collection) = &attempt.collection_id {
        // Paid completes an open collection; anything else (or a payment for a closed one) is an event.
        let event_kind = match to {
            AttemptState::Succeeded => {
                let event_id = new_id("evt");
                let paid = attempt.amount_minor.unwrap_or_default();
                // The completion and the payment in one statement, which answers what was owed before.
                let owed = collections::complete_paid(
                    &mut *conn,
                    merchant_id,
                    collection,
                    &event_id,
                    data,
                    paid,
                )
                .await?;
                let moved = owed.is_some();
                if let Some(owed) = owed {
                    // A checkout for the whole amount paid after a short transfer: finance sees the
                    // excess, as with a transfer that paid too much.
                    let excess = Some(paid - owed).filter(|e| *e > 0);
                    let currency = attempt
                        .currency
                        .as_deref()
                        .and_then(|c| Currency::parse(c.trim()));
                    if let (Some(excess), Some(currency)) = (excess, currency) {
                        let excess = Money::from_minor(excess, currency);
                        flag_excess(conn, merchant_id, collection, excess, data).await?;
                    }
                }
                (!moved).then_some(event::PAYMENT_AFTER_CLOSE)
            }
            AttemptState::Failed => Some(event::PAYMENT_FAILED),
            AttemptState::Reversed => Some(event::PAYMENT_REVERSED),
            _ => None,
        };
        if let Some(kind) = event_kind {
            let event_id = new_id("evt");
            collections::add_event(&mut *conn, merchant_id, collection, &event_id, kind, data)
                .await?;
        }
    }
    if let Some(collect) = &attempt.collect_id {
        let (status, kind, message) = match to {
            AttemptState::Succeeded => ("SUCCESS", "collect.succeeded", Some("Payment received")),
            AttemptState::Failed => ("FAILED", "collect.failed", reason.or(Some("failed"))),
            AttemptState::Reversed => (
                "ROLLED_BACK",
                "collect.rolled_back",
                Some("The provider reversed the payment"),
            ),
            _ => return Ok(()),
        };
        // The owner moves along its own state machine; a collect some other path already moved keeps
        // its state, and its terminal event is never written twice (a unique index holds that too).
        if collects::set_outcome(&mut *conn, merchant_id, collect, status, message, None).await? {
            collects::add_event(&mut *conn, merchant_id, collect, &new_id("evt"), kind, data)
                .await?;
        }
    }
    publish_owner(conn, attempt).await
}

/// `payment.flagged` on a collection paid `excess` more than it owed (a transfer, or a checkout for the
/// whole amount after a short transfer): finance refunds it or keeps it as the customer's credit.
pub async fn flag_excess(
    conn: &mut PgConnection,
    merchant_id: &str,
    collection: &str,
    excess: Money,
    data: &serde_json::Value,
) -> Result<String, sqlx::Error> {
    let why = format!(
        "paid {} more than was owed; refund it or keep it as the customer's credit",
        excess.display()
    );
    let mut flagged = data.clone();
    flagged["reason"] = json!(why);
    flagged["excess"] = json!(excess.major_string());
    collections::add_event(
        &mut *conn,
        merchant_id,
        collection,
        &new_id("evt"),
        event::PAYMENT_FLAGGED,
        &flagged,
    )
    .await?;
    Ok(why)
}

/// Publishes the events just written on the attempt's owner (collection or collect).
async fn publish_owner(conn: &mut PgConnection, attempt: &AttemptRow) -> Result<(), sqlx::Error> {
    let merchant_id = attempt.merchant_id.as_str();
    if let Some(collection) = &attempt.collection_id {
        crate::events::publish(
            conn,
            merchant_id,
            crate::events::Object::Collection(collection),
        )
        .await?;
    }
    if let Some(collect) = &attempt.collect_id {
        crate::events::publish(conn, merchant_id, crate::events::Object::Collect(collect)).await?;
    }
    Ok(())
}

async fn owner_event(
    conn: &mut PgConnection,
    attempt: &AttemptRow,
    collection_kind: &str,
    collect_kind: &str,
    data: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    let merchant_id = attempt.merchant_id.as_str();
    if let Some(collection) = &attempt.collection_id {
        collections::add_event(
            &mut *conn,
            merchant_id,
            collection,
            &new_id("evt"),
            collection_kind,
            data,
        )
        .await?;
    }
    if let Some(collect) = &attempt.collect_id {
        collects::add_event(
            &mut *conn,
            merchant_id,
            collect,
            &new_id("evt"),
            collect_kind,
            data,
        )
        .await?;
    }
    publish_owner(conn, attempt).await
}

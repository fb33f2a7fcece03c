//! The `debit_notice` job: tells the customer of a scheduled (`MONA`) debit `COWRY_DEBIT_NOTICE_LEAD`
//! (default 24 h) before it, by SMS (when the collection has a contact with a phone) and email (the
//! address the customer consented with, else the contact's). Queued with the installment's `debit` job
//! when the installment is written (at once when it is due sooner than the lead). In one transaction
//! with the collection locked: a collection no longer `ACTIVE`, an installment no longer `scheduled` or
//! already due, means no notice; otherwise one message per channel — queued with its `message` job (the
//! same send path and guarantees as follow-ups), or skipped with the reason. Run twice, it writes
//! nothing new (one notice per installment and channel).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::queue::Outcome;
use crate::domain::currency::Currency;
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::notify::notice::{self, Notice};
use crate::notify::registry;
use crate::store::jobs::{self, Job};
use crate::store::messages::{self, NewMessage};
use crate::AppState;

pub const KIND: &str = "debit_notice";

/// Queues the notice of the installment due at `due_at` (in the transaction that writes it). Its first
/// run moves it to the lead time before the debit (the lead is the server's setting).
pub async fn schedule(
    db: impl sqlx::PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        db,
        KIND,
        &format!(
            "{merchant_id}/{id}/{}",
            crate::domain::time::format(&due_at)
        ),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "collectionId": id,
                "dueAt": crate::domain::time::format(&due_at)}),
        Utc::now(),
    )
    .await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match write(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn write(state: &AppState, job: &Job) -> Result<Outcome, crate::error::ApiError> {
    let p = &job.payload.0;
    let (Some(merchant_id), Some(id), Some(due_at)) = (
        p["merchantId"].as_str(),
        p["collectionId"].as_str(),
        p["dueAt"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
    ) else {
        return Ok(Outcome::GiveUp("payload names no installment".to_owned()));
    };
    let now = state.clock.now();
    let lead = chrono::TimeDelta::from_std(state.config.debit_notice_lead)
        .unwrap_or(chrono::TimeDelta::hours(24));
    if now < due_at - lead {
        return Ok(Outcome::RetryAt(due_at - lead, None));
    }
    let channels = registry::Channels::load(state, merchant_id).await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let context = messages::notice_context_for_update(&mut tx, merchant_id, id, due_at).await?;
    let Some(c) = context
        .filter(|c| c.status == "ACTIVE" && c.installment_status == "scheduled" && due_at > now)
    else {
        jobs::remove(&mut *tx, job.id).await?;
        tx.commit().await?;
        return Ok(Outcome::Done);
    };
    let zone = crate::domain::scheduled::zone(&c.time_zone).unwrap_or(chrono_tz::Africa::Lagos);
    let amount = Currency::parse(&c.currency)
        .map(|cur| Money::from_minor(c.amount_minor, cur).display())
        .unwrap_or_else(|| format!("{} {}", c.currency, c.amount_minor));
    let when = due_at
        .with_timezone(&zone)
        .format("%-d %b, %H:%M")
        .to_string();
    let facts = Notice {
        merchant: &c.merchant_name,
        first_name: c.first_name.as_deref().filter(|n| !n.is_empty()),
        amount: &amount,
        when: &when,
        reference: &c.reference,
    };
    let seq = (due_at.timestamp() / 60) as i32;
    for (channel, recipient) in [("sms", c.phone.as_deref()), ("email", c.email.as_deref())] {
        let Some(recipient) = recipient else { continue };
        let skipped = if c.opted_out.iter().any(|o| o == channel) {
            Some(format!("the customer opted out of {channel}"))
        } else {
            channels
                .open(state, channel)?
                .err()
                .map(|closed| closed.reason(channel))
        };
        let (subject, body, html) = if channel == "email" {
            let email = notice::email(&facts);
            (Some(email.subject), email.text, Some(email.html))
        } else {
            (None, notice::sms(&facts), None)
        };
        let message_id = new_id("msg");
        let written = messages::insert(
            &mut *tx,
            &NewMessage {
                merchant_id,
                id: &message_id,
                collection_id: id,
                contact_id: c.contact_id.as_deref(),
                seq,
                channel,
                tone: "notice",
                status: if skipped.is_some() {
                    "skipped"
                } else {
                    "queued"
                },
                recipient,
                subject: subject.as_deref(),
                body: &body,
                html: html.as_deref(),
                template: None,
                reason: skipped.as_deref(),
                planned_at: now,
            },
        )
        .await?;
        if written && skipped.is_none() {
            super::message::schedule(&mut tx, merchant_id, &message_id).await?;
        }
    }
    jobs::remove(&mut *tx, job.id).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

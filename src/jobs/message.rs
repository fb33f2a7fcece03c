//! The `message` job: sends one follow-up message (key `{merchant}/{message}`), written with it by the
//! `followup` job.
//!
//! The claim — the message locked with its collection, the collection still open, the contact not
//! opted out of the channel — and the move to `sending` are one transaction, so a payment or an
//! opt-out committed before it means nothing is sent, and one committed after waits for nothing. The
//! send itself is at most once: a message found `sending` (its worker died mid-send) becomes `unknown`
//! and is not sent again — a second reminder is a second buzz on the customer's phone and a second
//! charge. A send refused for good fails at once; a retryable one is retried with backoff, up to
//! [`MAX_SENDS`] times, then fails. Each outcome that settles a message is an event on its collection:
//! `followup.sent` or `followup.failed`.

use serde_json::json;

use super::queue::{backoff, in_, Outcome};
use crate::domain::ids::new_id;
use crate::notify::channel::{Outgoing, SendError};
use crate::notify::registry::{self, Closed};
use crate::store::jobs::{self, Job};
use crate::store::messages::{self, Claimed};
use crate::AppState;

pub const KIND: &str = "message";
/// Tries of one message before it is shown as failed.
pub const MAX_SENDS: i32 = 5;

pub const SENT: &str = "followup.sent";
pub const FAILED: &str = "followup.failed";

/// Queues the send of a message just written (in that transaction).
pub async fn schedule(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    message_id: &str,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        &mut *conn,
        KIND,
        &format!("{merchant_id}/{message_id}"),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "messageId": message_id}),
        chrono::Utc::now(),
    )
    .await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match send(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn send(state: &AppState, job: &Job) -> Result<Outcome, crate::error::ApiError> {
    let p = &job.payload.0;
    let (Some(merchant_id), Some(message_id)) = (p["merchantId"].as_str(), p["messageId"].as_str())
    else {
        return Ok(Outcome::GiveUp("payload names no message".to_owned()));
    };
    // Read before the claim: a database error after the claim would leave the message `sending`, and
    // a message found `sending` is never sent again.
    let channels = registry::Channels::load(state, merchant_id).await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let Some(m) = messages::claim(&mut tx, merchant_id, message_id).await? else {
        return Ok(Outcome::Done);
    };
    let stop = match m.status.as_str() {
        "queued" => None,
        "sending" => Some((
            "unknown",
            "the process sending it stopped mid-send; it is not sent again".to_owned(),
        )),
        _ => return Ok(Outcome::Done),
    };
    // An integrated collection still payable, or a scheduled one still debiting (its notices).
    let open = m.collection_status == "ACTIVE"
        || crate::domain::collection::Status::parse(&m.collection_status)
            .is_some_and(|s| !s.is_terminal());
    let stop = stop
        .or_else(|| {
            (!open).then(|| {
                (
                    "cancelled",
                    format!("the collection is {}", m.collection_status),
                )
            })
        })
        .or_else(|| {
            m.opted_out.then(|| {
                (
                    "cancelled",
                    format!("the customer opted out of {}", m.channel),
                )
            })
        });
    if let Some((status, why)) = stop {
        messages::set_status(&mut *tx, merchant_id, message_id, status, Some(&why)).await?;
        tx.commit().await?;
        return Ok(Outcome::Done);
    }
    let opened = channels.open(state, &m.channel)?;
    messages::set_status(&mut *tx, merchant_id, message_id, "sending", None).await?;
    tx.commit().await?;

    let result = match opened {
        Ok(opened) => opened.channel.send(&outgoing(&m)).await,
        Err(Closed::NotConfigured) => Err(SendError::Refused(format!(
            "{} is no longer configured",
            m.channel
        ))),
        Err(Closed::Broken(why)) => Err(SendError::Refused(why)),
    };
    let attempts = m.attempts + 1;
    let mut tx = crate::db::begin(&state.pool).await?;
    let outcome = match result {
        Ok(sent) => {
            messages::mark_sent(
                &mut tx,
                merchant_id,
                message_id,
                &m.channel,
                sent.provider_message_id.as_deref(),
                sent.parts,
            )
            .await?;
            event(&mut tx, merchant_id, &m, message_id, SENT, None).await?;
            Outcome::Done
        }
        Err(SendError::Retryable(why)) if attempts < MAX_SENDS => {
            messages::set_status(&mut *tx, merchant_id, message_id, "queued", Some(&why)).await?;
            Outcome::RetryAt(in_(backoff(attempts)), None)
        }
        Err(SendError::Unknown(why)) => {
            messages::set_status(&mut *tx, merchant_id, message_id, "unknown", Some(&why)).await?;
            Outcome::Done
        }
        Err(SendError::Refused(why) | SendError::Retryable(why)) => {
            messages::set_status(&mut *tx, merchant_id, message_id, "failed", Some(&why)).await?;
            event(&mut tx, merchant_id, &m, message_id, FAILED, Some(&why)).await?;
            Outcome::Done
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

fn outgoing(m: &Claimed) -> Outgoing {
    Outgoing {
        to: m.recipient.clone(),
        subject: m.subject.clone(),
        body: m.body.clone(),
        html: m.html.clone(),
        template: m.template.as_ref().map(|t| t.0.clone()),
    }
}

/// `followup.sent` / `followup.failed` on the collection, published with the collection as it is.
async fn event(
    tx: &mut sqlx::PgConnection,
    merchant_id: &str,
    m: &Claimed,
    message_id: &str,
    kind: &str,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    crate::store::collections::add_event(
        &mut *tx,
        merchant_id,
        &m.collection_id,
        &new_id("evt"),
        kind,
        &json!({"messageId": message_id, "channel": m.channel, "reason": reason}),
    )
    .await?;
    crate::events::publish(
        tx,
        merchant_id,
        crate::events::Object::Collection(&m.collection_id),
    )
    .await
}

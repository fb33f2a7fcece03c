//! The `followup` job: one per collection with a follow-up plan (key `{merchant}/{collection}`),
//! written by the statement that creates the collection, due at the plan's next touch. Each run, in one
//! transaction with the collection locked:
//!
//! 1. a collection no longer open (paid, cancelled, expired) ends the plan: nothing is written;
//! 2. a touch due in the customer's quiet hours or on a day that had its cap waits (`domain::followup::hold`);
//! 3. otherwise one message per channel is written — `queued` with its own `message` job, or `skipped`
//!    with the reason (opted out, no WhatsApp opt-in, the channel not configured) — and the job moves
//!    itself to the next touch.
//!
//! Run twice (a worker died after committing), a touch writes nothing new: messages are unique per
//! (collection, touch, channel).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::queue::Outcome;
use crate::domain::collection::Status;
use crate::domain::currency::Currency;
use crate::domain::followup::{self, Plan, Touch};
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::notify::registry;
use crate::notify::reminder::{self, BankTransfer, Reminder, Tone};
use crate::store::jobs::{self, Job};
use crate::store::messages::{self, FollowUpContext, NewMessage};
use crate::AppState;

pub const KIND: &str = "followup";

/// The job's key for a collection (as the create statement writes it).
pub fn key(merchant_id: &str, collection_id: &str) -> String {
    format!("{merchant_id}/{collection_id}")
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match touch(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn touch(state: &AppState, job: &Job) -> Result<Outcome, crate::error::ApiError> {
    let p = &job.payload.0;
    let (Some(merchant_id), Some(collection_id)) =
        (p["merchantId"].as_str(), p["collectionId"].as_str())
    else {
        return Ok(Outcome::GiveUp("payload names no collection".to_owned()));
    };
    let seq = p["seq"].as_u64().unwrap_or(1).max(1) as usize;
    let due: DateTime<Utc> = p["at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| state.clock.now());
    let now = state.clock.now();
    if now < due {
        return Ok(Outcome::RetryAt(due, None));
    }
    // Read before the transaction: a job holding a connection must not wait on the pool for another.
    let channels = registry::Channels::load(state, merchant_id).await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let Some(c) = messages::context_for_update(&mut tx, merchant_id, collection_id).await? else {
        jobs::remove(&mut *tx, job.id).await?;
        tx.commit().await?;
        return Ok(Outcome::Done);
    };
    let open = Status::parse(&c.status).is_some_and(|s| !s.is_terminal());
    let plan = Plan::read(c.follow_up.as_ref().map(|j| &j.0));
    let last = p["last"].as_str().and_then(|t| t.parse().ok());
    let touch = plan.touch(seq, c.created_at, c.expires_at, last);
    let (Some(mut touch), true) = (touch, open && now < c.expires_at) else {
        jobs::remove(&mut *tx, job.id).await?;
        tx.commit().await?;
        return Ok(Outcome::Done);
    };
    let zone = crate::domain::phone::Phone::parse(&c.phone)
        .ok()
        .and_then(|p| crate::domain::phone::zone_of(p.country_code()))
        .unwrap_or(chrono_tz::Africa::Lagos);
    let (day_start, day_end) = followup::local_day(now, zone);
    let (of_collection, of_contact) = messages::touches_between(
        &mut *tx,
        merchant_id,
        collection_id,
        &c.contact_id,
        day_start,
        day_end,
    )
    .await?;
    let day_full = of_collection >= followup::MERCHANT_MAX_PER_DAY as i64
        || of_contact >= followup::CONTACT_MAX_PER_DAY as i64;
    if let Some((later, why)) = followup::hold(now, zone, day_full) {
        if later >= c.expires_at {
            jobs::remove(&mut *tx, job.id).await?;
        } else {
            let payload = json!({
                "merchantId": merchant_id, "collectionId": collection_id, "seq": seq,
                "at": crate::domain::time::format(&later), "last": p["last"], "held": why,
            });
            jobs::requeue(&mut *tx, job.id, later, &payload).await?;
        }
        tx.commit().await?;
        return Ok(Outcome::Done);
    }
    // Past its due time, every plan speaks in the overdue tone: by the due time itself, not only the
    // status, since a deadline job due at the same moment (a worker back after an outage) may not have
    // run yet.
    if c.status == "overdue" || c.due_at.is_some_and(|due| now >= due) {
        touch.tone = "urgent".to_owned();
    }
    for channel in &touch.channels {
        write_message(
            &channels,
            state,
            &mut tx,
            merchant_id,
            collection_id,
            seq,
            &c,
            &touch,
            channel,
            zone,
            now,
        )
        .await?;
    }
    match plan.touch(seq + 1, c.created_at, c.expires_at, Some(now)) {
        Some(next) => {
            let payload = json!({
                "merchantId": merchant_id, "collectionId": collection_id, "seq": seq + 1,
                "at": crate::domain::time::format(&next.at), "last": crate::domain::time::format(&now),
            });
            jobs::requeue(&mut *tx, job.id, next.at, &payload).await?;
        }
        None => jobs::remove(&mut *tx, job.id).await?,
    }
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// Writes one channel's message of a touch (queued with its send job, or skipped with the reason).
#[allow(clippy::too_many_arguments)]
async fn write_message(
    channels: &registry::Channels,
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    merchant_id: &str,
    collection_id: &str,
    seq: usize,
    c: &FollowUpContext,
    touch: &Touch,
    channel: &str,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<(), crate::error::ApiError> {
    let opened = channels.open(state, channel)?;
    let skipped: Option<String> = if c.opted_out.iter().any(|o| o == channel) {
        Some(format!("the customer opted out of {channel}"))
    } else if channel == "whatsapp" && c.whatsapp_opt_in.is_none() {
        Some("the customer has no recorded WhatsApp opt-in".to_owned())
    } else {
        opened.as_ref().err().map(|closed| closed.reason(channel))
    };
    let settings = opened
        .as_ref()
        .map(|o| o.settings.clone())
        .unwrap_or_default();
    let content = render(c, touch, channel, zone, &settings);
    let recipient = if channel == "email" {
        &c.email
    } else {
        &c.phone
    };
    let id = new_id("msg");
    let written = messages::insert(
        &mut *tx,
        &NewMessage {
            merchant_id,
            id: &id,
            collection_id,
            contact_id: Some(&c.contact_id),
            seq: seq as i32,
            channel,
            tone: &touch.tone,
            status: if skipped.is_some() {
                "skipped"
            } else {
                "queued"
            },
            recipient,
            subject: content.subject.as_deref(),
            body: &content.body,
            html: content.html.as_deref(),
            template: content.template.as_ref(),
            reason: skipped.as_deref(),
            planned_at: now,
        },
    )
    .await?;
    if written && skipped.is_none() {
        super::message::schedule(&mut *tx, merchant_id, &id).await?;
    }
    Ok(())
}

struct Content {
    subject: Option<String>,
    body: String,
    html: Option<String>,
    template: Option<Value>,
}

/// What the message says, from the collection as it is now (its payment options, its expiry).
fn render(
    c: &FollowUpContext,
    touch: &Touch,
    channel: &str,
    zone: chrono_tz::Tz,
    settings: &Value,
) -> Content {
    let tone = Tone::parse(&touch.tone).unwrap_or(Tone::Professional);
    let amount = Currency::parse(&c.currency)
        .map(|cur| Money::from_minor(c.amount_minor, cur).display())
        .unwrap_or_else(|| format!("{} {}", c.currency, c.amount_minor));
    let due = c
        .expires_at
        .with_timezone(&zone)
        .format("%-d %b, %H:%M")
        .to_string();
    let purpose = purpose(c.metadata.as_ref().map(|m| &m.0));
    let options = c.payable.0["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let find = |method: &str| options.iter().find(|o| o["method"] == method);
    let link = find("payment_link")
        .or_else(|| find("card"))
        .and_then(|o| o["link"].as_str());
    let bank = find("virtual_account").and_then(|o| {
        Some(BankTransfer {
            bank: o["bankName"].as_str()?,
            account_number: o["accountNumber"].as_str()?,
            account_name: o["accountName"].as_str()?,
        })
    });
    let mobile_money = find("mobile_money").and_then(|o| o["instructions"].as_str());
    let r = Reminder {
        merchant: &c.merchant_name,
        first_name: Some(c.first_name.as_str()).filter(|n| !n.is_empty()),
        amount: &amount,
        purpose: purpose.as_deref(),
        due: &due,
        link,
        bank,
        mobile_money,
    };
    match channel {
        "email" => match reminder::email(tone, &r) {
            Ok(email) => Content {
                subject: Some(email.subject),
                body: email.text,
                html: Some(email.html),
                template: None,
            },
            Err(_) => Content {
                subject: None,
                body: reminder::sms(tone, &r),
                html: None,
                template: None,
            },
        },
        "whatsapp" => {
            let wa = reminder::whatsapp(tone, &r);
            // The merchant's approved name for this tone, when its settings give one.
            let name = settings["templates"][tone.as_str()]
                .as_str()
                .map(str::to_owned)
                .unwrap_or(wa.template);
            let language = settings["language"].as_str().unwrap_or(wa.language);
            Content {
                subject: None,
                body: reminder::sms(tone, &r),
                html: None,
                template: Some(
                    json!({"name": name, "language": language, "parameters": wa.parameters}),
                ),
            }
        }
        _ => Content {
            subject: None,
            body: reminder::sms(tone, &r),
            html: None,
            template: None,
        },
    }
}

/// What the collection is for: the metadata's `description` (or its first item's), else its `name`.
fn purpose(metadata: Option<&Value>) -> Option<String> {
    let m = metadata?;
    let item = if m.is_array() { &m[0] } else { m };
    item["description"]
        .as_str()
        .or_else(|| item["name"].as_str())
        .map(|s| s.chars().take(80).collect())
}

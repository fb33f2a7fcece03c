//! The `deadline` job: one per integrated collection (key `{merchant}/{collection}`), written by the
//! statement that creates it, due at its due time. It moves the collection on by the clock, on time
//! rather than at the next sweep: `pending` past `dueAt` → `overdue` (`collection.overdue`), then, due
//! again at the expiry, open past `expiresAt` → `expired` (`collection.expired`; payment options stop
//! being offered, the follow-up plan ends). Paid or cancelled first, the job is removed with the change.
//! The expiry sweep stays as the safety net for collections without one.

use super::queue::Outcome;
use crate::store::collections::{self as store, Deadline};
use crate::store::jobs::{self, Job};
use crate::AppState;

pub const KIND: &str = "deadline";

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    let p = &job.payload.0;
    let (Some(merchant_id), Some(id)) = (p["merchantId"].as_str(), p["collectionId"].as_str())
    else {
        return Outcome::GiveUp("payload names no collection".to_owned());
    };
    match pass(state, job, merchant_id, id).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn pass(
    state: &AppState,
    job: &Job,
    merchant_id: &str,
    id: &str,
) -> Result<Outcome, sqlx::Error> {
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let found = store::pass_deadline(&mut tx, merchant_id, id, now).await?;
    if matches!(found, Deadline::Overdue | Deadline::Expired) {
        crate::events::publish(&mut tx, merchant_id, crate::events::Object::Collection(id)).await?;
    }
    let outcome = match store::next_deadline(&mut *tx, merchant_id, id, now).await? {
        // Still open: look again at the next deadline (business time).
        Some(next) => {
            jobs::requeue(&mut *tx, job.id, next.max(now), &job.payload.0).await?;
            Outcome::Done
        }
        None => {
            jobs::remove(&mut *tx, job.id).await?;
            Outcome::Done
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

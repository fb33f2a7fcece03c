//! Moves open collections past their `expires_at` to `expired` (scheduled ones to `EXPIRED`), with a
//! `collection.expired` event.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::shutdown::Shutdown;
use crate::store::collections::expire_due;
use crate::AppState;

/// Expires up to `batch` due collections in one transaction, each with its `collection.expired`
/// event published. Returns how many.
pub async fn expire_batch(
    pool: &PgPool,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    let expired = expire_due(&mut tx, now, batch).await?;
    for (merchant_id, id) in &expired {
        crate::events::publish(&mut tx, merchant_id, crate::events::Object::Collection(id)).await?;
    }
    // Scheduled collections end at their expiry date; their unpaid installments stop.
    let mandates = crate::store::scheduled::expire_due(&mut tx, now, batch).await?;
    for (merchant_id, id) in &mandates {
        crate::store::scheduled::stop_installments(&mut tx, merchant_id, id).await?;
        crate::events::publish(&mut tx, merchant_id, crate::events::Object::Scheduled(id)).await?;
    }
    tx.commit().await?;
    Ok((expired.len() + mandates.len()) as u64)
}

const BATCH: i64 = 500;

pub async fn run(state: AppState, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(state.config.expiry_sweep_interval);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        // Drain in batches so a backlog clears in one tick without one huge transaction.
        loop {
            match expire_batch(&state.pool, state.clock.now(), BATCH).await {
                Ok(n) if n > 0 => tracing::info!(expired = n, "collections expired"),
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "expiry sweep failed; retrying next tick");
                    break;
                }
            }
            if shutdown.is_triggered() {
                return;
            }
        }
    }
}

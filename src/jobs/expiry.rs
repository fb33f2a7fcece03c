//! Moves open collections past their `expires_at` to `expired`, with a `collection.expired` event.

use crate::domain::time;
use crate::shutdown::Shutdown;
use crate::store::collections::expire_due;
use crate::AppState;

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
            match expire_due(&state.pool, time::now(), BATCH).await {
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

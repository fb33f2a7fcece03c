//! Moves open collections past their `expires_at` to `expired`, with a `collection.expired` event; on
//! the same tick, adopts provider attempts orphaned by a process that died mid-call.

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
        match crate::jobs::reconcile::adopt_orphans(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                attempts = n,
                "adopted attempts left mid-call by a dead process"
            ),
            Err(e) => tracing::warn!(error = %e, "could not look for orphaned attempts"),
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

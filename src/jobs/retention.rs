//! Forgets `Idempotency-Key` records after [`KEEP`]: a retry comes within minutes or hours, and a key
//! table that only grows would slow every keyed request down.

use chrono::TimeDelta;

use crate::domain::time;
use crate::shutdown::Shutdown;
use crate::store::idempotency::delete_older_than;
use crate::AppState;

pub const KEEP: TimeDelta = TimeDelta::hours(24);
const BATCH: i64 = 1000;

pub async fn run(state: AppState, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(state.config.expiry_sweep_interval);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        loop {
            match delete_older_than(&state.pool, time::now() - KEEP, BATCH).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "idempotency retention sweep failed; retrying next tick");
                    break;
                }
            }
        }
    }
}

//! The one owner of retention: on each tick, deletes what is past its configured age
//! (`COWRY_RETAIN_*`, see `config::Retention`): `Idempotency-Key` records (a retry comes within hours),
//! provider callbacks (verified or hints, with their de-duplication keys) and those that failed
//! verification (kept shorter: anyone can send them), and jobs kept as `failed`. Events and collection
//! history are never deleted.

use chrono::TimeDelta;

use crate::domain::time;
use crate::shutdown::Shutdown;
use crate::store::retention::{self, Kept};
use crate::AppState;

const BATCH: i64 = 1000;

pub async fn run(state: AppState, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(state.config.expiry_sweep_interval);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        sweep(&state).await;
    }
}

/// One pass over every kind of record, in bounded batches.
pub async fn sweep(state: &AppState) {
    let keep = &state.config.retention;
    let kinds: [(&Kept, std::time::Duration); 6] = [
        (&retention::IDEMPOTENCY_KEYS, keep.idempotency_keys),
        (&retention::RECEIPTS, keep.receipts),
        (&retention::REJECTED_RECEIPTS, keep.rejected_receipts),
        (&retention::FAILED_JOBS, keep.failed_jobs),
        (&retention::DELIVERIES, keep.deliveries),
        (&retention::EARLY_REPORTS, keep.receipts),
    ];
    for (kept, age) in kinds {
        let cutoff = time::now() - TimeDelta::from_std(age).unwrap_or(TimeDelta::days(36_500));
        loop {
            match retention::delete_older_than(&state.pool, kept, cutoff, BATCH).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(0) => break,
                Ok(n) => {
                    tracing::info!(records = kept.name, deleted = n, "retention");
                    break;
                }
                Err(e) => {
                    tracing::warn!(records = kept.name, error = %e, "retention sweep failed; retrying next tick");
                    break;
                }
            }
        }
    }
}

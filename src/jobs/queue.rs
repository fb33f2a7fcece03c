//! The worker loop over the durable job queue (`store::jobs`). Up to `SLOTS` jobs run at once; a slot
//! that frees up takes the next due job straight away (no batch waits for its slowest job). While a job
//! runs its lease is renewed, so a job longer than the lease is never taken by a second worker; a worker
//! that dies stops renewing, and its jobs are taken again when the lease runs out. A failed run is
//! retried with jittered exponential backoff until its kind's cap, then kept as `failed` for operators
//! (`/admin/jobs`). Every `cowry serve` (unless `COWRY_WORKERS=false`) and `cowry worker` process runs
//! one; they share the table.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Semaphore;

use super::kinds;
use crate::shutdown::Shutdown;
use crate::store::jobs::{self, Job};
use crate::AppState;

/// Jobs one worker runs at once.
// Jobs spend most of their time waiting (a provider or merchant answering, a commit reaching disk), so
// many run at once: each waits on its own, and PostgreSQL groups their commits.
const SLOTS: usize = 32;
/// The longest backoff between failed runs.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What running a job came to.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Done, and already off the queue: the handler called `jobs::finish` in the transaction that
    /// recorded its effect, so the effect and the job's end commit together (no round trip after).
    Finished,
    /// Run again at this time; the error (if any) is kept on the job for operators, and counts towards
    /// the kind's cap.
    RetryAt(DateTime<Utc>, Option<String>),
    /// The run failed: the queue retries it with jittered backoff, or gives up at the kind's cap.
    Failed(String),
    /// Stop: the job is kept as `failed` with this reason.
    GiveUp(String),
}

pub fn in_(delay: Duration) -> DateTime<Utc> {
    Utc::now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::hours(1))
}

pub async fn run(state: AppState, mut shutdown: Shutdown) {
    let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let slots = Arc::new(Semaphore::new(SLOTS));
    loop {
        // Wait for a free slot, then take as many due jobs as there are free slots.
        let first = tokio::select! {
            _ = shutdown.wait() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let free = slots.available_permits() + 1;
        let taken = match jobs::take(
            &state.pool,
            &worker,
            state.config.job_lease,
            free as i64,
            state.clock.now(),
        )
        .await
        {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "could not take jobs; retrying");
                Vec::new()
            }
        };
        if taken.is_empty() {
            drop(first);
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(state.config.worker_idle) => continue,
            }
        }
        let mut first = Some(first);
        for job in taken {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match slots.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    // Cannot happen (only this loop acquires); the lease returns the job if it does.
                    Err(_) => break,
                },
            };
            let (state, worker) = (state.clone(), worker.clone());
            tokio::spawn(async move {
                run_one(&state, &worker, job).await;
                drop(permit);
            });
        }
    }
    // Let running jobs finish (their leases would hand them to another worker otherwise).
    let _ = slots.acquire_many(SLOTS as u32).await;
}

async fn run_one(state: &AppState, worker: &str, job: Job) {
    let kind = kinds::find(&job.kind);
    let outcome = {
        let renewing = renew_lease(state, worker, job.id);
        let work = async {
            match kind {
                Some(kind) => (kind.run)(state.clone(), job.clone()).await,
                None => Outcome::GiveUp(format!("no worker handles jobs of kind {}", job.kind)),
            }
        };
        tokio::pin!(work);
        tokio::select! {
            outcome = &mut work => outcome,
            () = renewing => {
                // Another worker holds the job now (this one was too slow to renew): stop, so it is
                // never run twice at once.
                tracing::warn!(job = job.id, "lost a job's lease; leaving it to its new holder");
                return;
            }
        }
    };
    let cap = kind.map_or(1, |k| k.max_attempts);
    let outcome = match outcome {
        Outcome::Failed(why) if job.attempts >= cap => {
            Outcome::GiveUp(format!("{why} (gave up after {} runs)", job.attempts))
        }
        Outcome::Failed(why) => Outcome::RetryAt(in_(backoff(job.attempts)), Some(why)),
        Outcome::RetryAt(_, Some(why)) if job.attempts >= cap => {
            Outcome::GiveUp(format!("{why} (gave up after {} runs)", job.attempts))
        }
        other => other,
    };
    let label = match &outcome {
        Outcome::Done | Outcome::Finished => "done",
        Outcome::RetryAt(_, None) => "rescheduled",
        Outcome::RetryAt(..) | Outcome::Failed(_) => "retry",
        Outcome::GiveUp(_) => "gave_up",
    };
    crate::metrics::METRICS
        .jobs
        .with_label_values(&[&job.kind, label])
        .inc();
    let recorded = match &outcome {
        Outcome::Done => jobs::finish(&state.pool, job.id, worker).await,
        Outcome::Finished => Ok(()),
        Outcome::RetryAt(at, error) => {
            jobs::retry_at(&state.pool, job.id, worker, *at, error.as_deref()).await
        }
        Outcome::Failed(why) | Outcome::GiveUp(why) => {
            tracing::warn!(job = job.id, kind = %job.kind, reason = %why, "job gave up");
            jobs::give_up(&state.pool, job.id, worker, why).await
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and another worker takes the job again: every handler is safe to repeat.
        tracing::warn!(job = job.id, error = %e, "could not record a job's outcome");
    }
}

/// Renews the job's lease every third of it; returns only when the lease was lost.
async fn renew_lease(state: &AppState, worker: &str, id: i64) {
    let lease = state.config.job_lease;
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(lease / 3).await;
        match jobs::renew(&state.pool, id, worker, lease).await {
            Ok(true) => failures = 0,
            Ok(false) => return,
            // A database hiccup: try again; after two misses the lease may have run out.
            Err(e) => {
                failures += 1;
                tracing::warn!(job = id, error = %e, "could not renew a job's lease");
                if failures >= 2 {
                    return;
                }
            }
        }
    }
}

/// Exponential backoff with jitter: between half and all of 2^runs seconds, at most an hour.
pub fn backoff(runs: i32) -> Duration {
    let ceiling = Duration::from_secs(1u64 << runs.clamp(1, 12)).min(MAX_BACKOFF);
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    let share = 0.5 + 0.5 * f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX);
    ceiling.mul_f64(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for runs in 1..30 {
            let wait = backoff(runs);
            let ceiling = Duration::from_secs(1u64 << runs.clamp(1, 12)).min(MAX_BACKOFF);
            assert!(wait <= ceiling && wait >= ceiling / 2, "{runs}: {wait:?}");
        }
        assert!(backoff(40) <= MAX_BACKOFF);
    }
}

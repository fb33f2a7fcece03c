//! The worker loop over the durable job queue (`store::jobs`): take due jobs under a lease, run each,
//! then finish, reschedule or give it up. Every `cowry serve` process runs one; they share the table.

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinSet;

use super::{reconcile, webhook};
use crate::shutdown::Shutdown;
use crate::store::jobs::{self, Job};
use crate::AppState;

/// Jobs taken at once by one worker (run concurrently).
const BATCH: i64 = 8;

/// What running a job came to.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Run again at this time; the error (if any) is kept on the job for operators.
    RetryAt(DateTime<Utc>, Option<String>),
    /// Stop: the job is kept as `failed` with this reason.
    GiveUp(String),
}

pub fn in_(delay: std::time::Duration) -> DateTime<Utc> {
    Utc::now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::hours(1))
}

pub async fn run(state: AppState, mut shutdown: Shutdown) {
    let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    loop {
        if shutdown.is_triggered() {
            return;
        }
        let taken = match jobs::take(&state.pool, &worker, state.config.job_lease, BATCH).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "could not take jobs; retrying");
                Vec::new()
            }
        };
        if taken.is_empty() {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(state.config.worker_idle) => continue,
            }
        }
        let mut running = JoinSet::new();
        for job in taken {
            let (state, worker) = (state.clone(), worker.clone());
            running.spawn(async move { run_one(&state, &worker, job).await });
        }
        while running.join_next().await.is_some() {}
    }
}

async fn run_one(state: &AppState, worker: &str, job: Job) {
    let outcome = match job.kind.as_str() {
        reconcile::KIND => reconcile::run(state, &job).await,
        webhook::KIND => webhook::run(state, &job).await,
        other => Outcome::GiveUp(format!("no worker handles jobs of kind {other}")),
    };
    let label = match &outcome {
        Outcome::Done => "done",
        Outcome::RetryAt(..) => "retry",
        Outcome::GiveUp(_) => "gave_up",
    };
    crate::metrics::METRICS
        .jobs
        .with_label_values(&[&job.kind, label])
        .inc();
    let recorded = match &outcome {
        Outcome::Done => jobs::finish(&state.pool, job.id, worker).await,
        Outcome::RetryAt(at, error) => {
            jobs::retry_at(&state.pool, job.id, worker, *at, error.as_deref()).await
        }
        Outcome::GiveUp(why) => {
            tracing::warn!(job = job.id, kind = %job.kind, reason = %why, "job gave up");
            jobs::give_up(&state.pool, job.id, worker, why).await
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and another worker takes the job again: at worst a repeat status check.
        tracing::warn!(job = job.id, error = %e, "could not record a job's outcome");
    }
}

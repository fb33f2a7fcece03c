//! Background work: beside the HTTP server in every `cowry serve` process (the queue unless
//! `COWRY_WORKERS=false`), or alone in `cowry worker`. Each worker is safe to run in several processes
//! against one database.

pub mod activation;
pub mod consent;
pub mod deadline;
pub mod debit;
pub mod deliver;
pub mod expiry;
pub mod followup;
pub mod kinds;
pub mod mandate;
pub mod message;
pub mod notice;
pub mod paid_callbacks;
pub mod queue;
pub mod receipt;
pub mod reconcile;
pub mod refund;
pub mod remainder;
pub mod retention;
pub mod settle;
pub mod transfer;
pub mod webhook;

use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;
use crate::AppState;

/// Starts the sweeps, and the job queue when `queue` is set.
pub fn spawn(state: AppState, shutdown: Shutdown, queue: bool) -> Vec<JoinHandle<()>> {
    let mut workers = vec![
        tokio::spawn(expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(retention::run(state.clone(), shutdown.clone())),
    ];
    if queue {
        workers.push(tokio::spawn(queue::run(state, shutdown)));
    }
    workers
}

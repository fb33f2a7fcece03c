//! Background work that runs beside the HTTP server in every `cowry serve` process. Each worker is safe
//! to run in several processes against one database.

pub mod expiry;
pub mod kinds;
pub mod queue;
pub mod reconcile;
pub mod retention;
pub mod settle;
pub mod webhook;

use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;
use crate::AppState;

pub fn spawn(state: AppState, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
    let mut workers = vec![
        tokio::spawn(expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(retention::run(state.clone(), shutdown.clone())),
    ];
    if state.config.workers {
        workers.push(tokio::spawn(queue::run(state, shutdown)));
    }
    workers
}

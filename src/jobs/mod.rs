//! Background work that runs beside the HTTP server in every `cowry serve` process. Each worker is safe
//! to run in several processes against one database.

pub mod expiry;
pub mod retention;

use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;
use crate::AppState;

pub fn spawn(state: AppState, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(retention::run(state, shutdown)),
    ]
}

//! SQL, in small functions per table. Callers own transactions: a function takes any executor, so the
//! same query runs alone or inside the transaction that also writes its event and idempotency record.

pub mod attempts;
pub mod audit;
pub mod channels;
pub mod check;
pub mod collections;
pub mod collects;
pub mod contacts;
pub mod create_batch;
pub mod events;
pub mod group_commit;
pub mod idempotency;
pub mod jobs;
pub mod merchants;
pub mod messages;
pub mod paid_callback;
pub mod parties;
pub mod providers;
pub mod read_batch;
pub mod retention;
pub mod scheduled;
pub mod virtual_accounts;
pub mod webhook_endpoints;
pub mod webhooks;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The paging part of a list query: newest first, (created_at, id) breaking ties.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Rows strictly after this (created_at, id) in list order.
    pub after: Option<(DateTime<Utc>, String)>,
    pub limit: i64,
}

/// SHA-256 of a secret (API keys, request bodies): what is stored and compared instead of the secret.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

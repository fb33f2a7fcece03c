//! SQL, in small functions per table. Callers own transactions: a function takes any executor, so the
//! same query runs alone or inside the transaction that also writes its event and idempotency record.

pub mod attempts;
pub mod collections;
pub mod collects;
pub mod idempotency;
pub mod jobs;
pub mod merchants;
pub mod providers;
pub mod webhooks;

use sha2::{Digest, Sha256};

/// SHA-256 of a secret (API keys, request bodies): what is stored and compared instead of the secret.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

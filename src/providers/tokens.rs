//! Access tokens cached per provider account, across requests and jobs: MoMo and Airtel issue tokens
//! that live for an hour, so one token call per account per lifetime, not one per payment. Each account
//! has one slot behind an async mutex, so concurrent callers wait for a single refresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One account's cached token and when it expires.
pub type Slot = Arc<tokio::sync::Mutex<Option<(String, Instant)>>>;

/// Slots beyond this are dropped wholesale (each costs one token call to refill): a bound, not a policy.
const MAX_SLOTS: usize = 10_000;

#[derive(Default, Clone)]
pub struct TokenCache {
    slots: Arc<Mutex<HashMap<Vec<u8>, Slot>>>,
}

impl TokenCache {
    /// The slot for the account these credentials identify (base URL, user, secret: a change of any of
    /// them is a different account, so a rotated key never uses a stale token).
    pub fn slot(&self, parts: &[&str]) -> Slot {
        let key = crate::store::sha256(parts.join("\n").as_bytes());
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= MAX_SLOTS && !slots.contains_key(&key) {
            slots.clear();
        }
        slots.entry(key).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_per_account() {
        let cache = TokenCache::default();
        let a = cache.slot(&["http://x", "user", "secret"]);
        let again = cache.slot(&["http://x", "user", "secret"]);
        let rotated = cache.slot(&["http://x", "user", "new-secret"]);
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &rotated));
    }
}

//! A short-lived, per-process cache of API key → merchant, so an authenticated request costs no extra
//! database round trip. Only successful look-ups are cached (unknown keys always hit the database, so
//! guessing cannot grow the cache). A key revoked through this process is dropped at once; other
//! processes notice within the TTL (`COWRY_AUTH_CACHE_SECS`, 0 turns the cache off).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::merchants::MerchantContext;

/// Bound on cached keys; past it the cache is cleared rather than grown.
const MAX_ENTRIES: usize = 10_000;

/// Key hash → the merchant and when it was looked up.
type Entries = HashMap<Vec<u8>, (MerchantContext, Instant)>;

#[derive(Clone)]
pub struct AuthCache {
    ttl: Duration,
    entries: Arc<RwLock<Entries>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: Arc::default(),
        }
    }

    pub fn get(&self, key_hash: &[u8]) -> Option<MerchantContext> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (merchant, at) = entries.get(key_hash)?;
        (at.elapsed() < self.ttl).then(|| merchant.clone())
    }

    pub fn put(&self, key_hash: Vec<u8>, merchant: MerchantContext) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key_hash, (merchant, Instant::now()));
    }

    /// Forgets every cached key of a merchant (after a key is revoked or its providers change).
    pub fn forget_merchant(&self, merchant_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (merchant, _)| merchant.merchant_id != merchant_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant(id: &str) -> MerchantContext {
        MerchantContext {
            key_id: "key_test".to_owned(),
            rate_limit: None,
            merchant_id: id.to_owned(),
            name: "Test merchant".to_owned(),
            mode: "test".to_owned(),
            default_provider: "sandbox".to_owned(),
            providers: vec![],
        }
    }

    #[test]
    fn caches_until_forgotten_or_expired() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.put(b"k1".to_vec(), merchant("mer_a"));
        cache.put(b"k2".to_vec(), merchant("mer_b"));
        assert_eq!(cache.get(b"k1").unwrap().merchant_id, "mer_a");
        cache.forget_merchant("mer_a");
        assert!(cache.get(b"k1").is_none());
        assert!(cache.get(b"k2").is_some());

        let expired = AuthCache::new(Duration::from_nanos(1));
        expired.put(b"k".to_vec(), merchant("mer_a"));
        std::thread::sleep(Duration::from_millis(1));
        assert!(expired.get(b"k").is_none());

        let off = AuthCache::new(Duration::ZERO);
        off.put(b"k".to_vec(), merchant("mer_a"));
        assert!(off.get(b"k").is_none());
    }
}

//! A small per-process cache whose entries expire after a time to live, for look-ups that every request
//! of a hot path would otherwise repeat (API key → merchant, provider account → its decrypted
//! credentials, a merchant's follow-up learning). Only what was found is cached, so unknown keys always reach the database and guessing
//! cannot grow it; past its bound it is cleared rather than grown. A TTL of zero turns it off.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Bound on cached entries.
const MAX_ENTRIES: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Arc<RwLock<HashMap<K, (V, Instant)>>>,
}

// Derived `Clone` would ask `K: Clone, V: Clone`; the handle is an `Arc` either way.
impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        TtlCache {
            ttl: self.ttl,
            entries: self.entries.clone(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Arc::default(),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (value, at) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Keeps only the entries whose value passes `keep` (e.g. forgets one merchant's).
    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (value, _)| keep(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_until_forgotten_or_expired() {
        let cache = TtlCache::new(Duration::from_secs(60));
        cache.put("k1".to_owned(), "mer_a");
        cache.put("k2".to_owned(), "mer_b");
        assert_eq!(cache.get("k1"), Some("mer_a"));
        cache.retain(|merchant| *merchant != "mer_a");
        assert!(cache.get("k1").is_none());
        assert!(cache.get("k2").is_some());

        let expired = TtlCache::new(Duration::from_nanos(1));
        expired.put("k".to_owned(), "mer_a");
        std::thread::sleep(Duration::from_millis(1));
        assert!(expired.get("k").is_none());

        let off = TtlCache::new(Duration::ZERO);
        off.put("k".to_owned(), "mer_a");
        assert!(off.get("k").is_none());
    }

    #[test]
    fn is_cleared_rather_than_grown_past_its_bound() {
        let cache = TtlCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES {
            cache.put(i, i);
        }
        assert_eq!(cache.get(&0), Some(0));
        cache.put(MAX_ENTRIES, MAX_ENTRIES);
        assert!(cache.get(&0).is_none());
        assert_eq!(cache.get(&MAX_ENTRIES), Some(MAX_ENTRIES));
    }
}

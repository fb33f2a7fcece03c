//! Abuse limits: a token bucket (GCRA, `governor`) per API key, with the merchant's own limit where an
//! operator set one (`PUT /admin/merchants/{id}/rate-limit`), else `COWRY_RATE_LIMIT_PER_SECOND` /
//! `COWRY_RATE_LIMIT_BURST`; and, on unauthenticated routes, one per client address for what fails
//! verification only (a provider's genuine callbacks come in bursts from few addresses and are never
//! throttled). Over the limit: 429 in the error shape with `Retry-After` and `RateLimit-*` headers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Buckets beyond this are dropped wholesale (each is refilled on next use): a bound, not a policy.
const MAX_BUCKETS: usize = 100_000;

/// A rate: `per_second` steady, `burst` at once. `per_second == 0` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_second = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst.max(1))?;
        Some(Quota::per_second(per_second).allow_burst(burst))
    }
}

/// One key's (or address's) bucket and the rate it was made for.
type Bucket = (Rate, Arc<DefaultDirectRateLimiter>);

#[derive(Default, Clone)]
pub struct Limiters {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Limiters {
    /// Takes one request from `who`'s bucket at `rate`; `Err(RateLimited)` when it is empty.
    pub fn check(&self, who: &str, rate: Rate) -> Result<(), ApiError> {
        let Some(quota) = rate.quota() else {
            return Ok(());
        };
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(who) {
                buckets.clear();
            }
            let entry = buckets
                .entry(who.to_owned())
                .or_insert_with(|| (rate, Arc::new(RateLimiter::direct(quota))));
            if entry.0 != rate {
                // The operator changed this merchant's limit: a fresh bucket at the new rate.
                *entry = (rate, Arc::new(RateLimiter::direct(quota)));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                limit: rate.burst,
            }
        })
    }

    /// The bucket of an address that sent something that failed verification.
    pub fn check_address(&self, address: IpAddr, rate: Rate) -> Result<(), ApiError> {
        self.check(&format!("addr:{address}"), rate)
    }
}

/// The client's address: the peer's, or — when the peer is a trusted proxy — the last address in
/// `X-Forwarded-For` (the one that proxy saw).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_says_when_to_retry() {
        let limiters = Limiters::default();
        let rate = Rate {
            per_second: 1,
            burst: 3,
        };
        for _ in 0..3 {
            assert!(limiters.check("key_a", rate).is_ok());
        }
        match limiters.check("key_a", rate) {
            Err(ApiError::RateLimited {
                retry_after_secs,
                limit,
            }) => assert_eq!((retry_after_secs, limit), (1, 3)),
            other => panic!("{other:?}"),
        }
        // Another key has its own bucket; no limit means no bucket.
        assert!(limiters.check("key_b", rate).is_ok());
        let off = Rate {
            per_second: 0,
            burst: 0,
        };
        for _ in 0..100 {
            assert!(limiters.check("key_a", off).is_ok());
        }
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.7, 198.51.100.9".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_address(Some(peer), &headers, &[proxy]), Some(peer));
        assert_eq!(
            client_address(Some(proxy), &headers, &[proxy]),
            Some("198.51.100.9".parse().unwrap())
        );
    }
}

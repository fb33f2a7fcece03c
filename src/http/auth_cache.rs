//! A short-lived, per-process cache of API key hash → merchant, so an authenticated request costs no
//! extra database round trip (`cache::TtlCache`). A key revoked through this process is dropped at once;
//! other processes notice within the TTL (`COWRY_AUTH_CACHE_SECS`, 0 turns the cache off).

use crate::cache::TtlCache;
use crate::store::merchants::MerchantContext;

pub type AuthCache = TtlCache<Vec<u8>, MerchantContext>;

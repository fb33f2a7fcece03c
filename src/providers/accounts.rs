//! Loads a merchant's provider account with its credentials decrypted, for the request path and the
//! workers alike. A test account added without credentials gets random emulator credentials of its
//! own on first use, stored encrypted like any credential (nothing about them can be derived from
//! the merchant's id, so knowing an id does not let anyone sign a callback for its payments).

use std::time::Duration;

use serde_json::{json, Value};

use super::Account;
use crate::cache::TtlCache;
use crate::domain::ids::random_chars;
use crate::domain::secretbox::SecretBox;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";

/// The account behind `slug`, or `None` when the merchant has no such provider.
pub async fn open(state: &AppState, merchant_id: &str, slug: &str) -> ApiResult<Option<Account>> {
    let Some(row) = crate::store::providers::account(&state.pool, merchant_id, slug).await? else {
        return Ok(None);
    };
    open_row(state, merchant_id, slug, row).await.map(Some)
}

/// [`open`] for an account row its caller has read (in a statement that needed it anyway).
pub async fn open_row(
    state: &AppState,
    merchant_id: &str,
    slug: &str,
    row: crate::store::providers::AccountRow,
) -> ApiResult<Account> {
    let associated = format!("{merchant_id}/{slug}");
    let mut sealed = row.credentials;
    if sealed.is_none() && row.mode == "test" {
        if let Some(generated) = emulator_credentials(&row.kind) {
            let key = key(
                state,
                "test accounts' emulator credentials cannot be stored",
            )?;
            let fresh = key.seal(generated.to_string().as_bytes(), associated.as_bytes());
            sealed =
                match crate::store::providers::provision_credentials(&state.pool, &row.id, &fresh)
                    .await?
                {
                    Some(stored) => Some(stored),
                    // Another request provisioned the account first: its credentials are the account's.
                    None => crate::store::providers::account(&state.pool, merchant_id, slug)
                        .await?
                        .and_then(|row| row.credentials),
                };
        }
    }
    let credentials = match sealed {
        None => None,
        Some(sealed) => {
            let key = key(state, "provider credentials cannot be read")?;
            let plain = key
                .open(&sealed, associated.as_bytes())
                .map_err(ApiError::internal)?;
            Some(serde_json::from_slice(&plain).map_err(ApiError::internal)?)
        }
    };
    Ok(Account {
        id: Some(row.id),
        merchant_id: merchant_id.to_owned(),
        slug: slug.to_owned(),
        kind: row.kind,
        mode: row.mode,
        base_url: row.base_url,
        credentials,
    })
}

/// Accounts as `open` gives them, for provider callbacks: a Paystack delivery is verified with the
/// account's key, and reading and decrypting it costs a round trip per delivery otherwise. Accounts are
/// never edited in place (only added and removed), so an entry is stale only when its account was
/// removed, or removed and added again under the same slug, by another process within the TTL: a
/// signature that fails against a cached key is checked again against the stored one
/// (`webhooks::verified_paystack_account`), and a callback for a removed account is stored and then
/// finds no account in its job, as it would a moment later anyway.
#[derive(Clone)]
pub struct AccountCache {
    by_slug: TtlCache<(String, String), Account>,
    by_id: TtlCache<String, Account>,
}

impl AccountCache {
    pub fn new(ttl: Duration) -> AccountCache {
        AccountCache {
            by_slug: TtlCache::new(ttl),
            by_id: TtlCache::new(ttl),
        }
    }

    fn put(&self, account: &Account) {
        let slug = (account.merchant_id.clone(), account.slug.clone());
        self.by_slug.put(slug, account.clone());
        if let Some(id) = &account.id {
            self.by_id.put(id.clone(), account.clone());
        }
    }

    pub fn forget_merchant(&self, merchant_id: &str) {
        self.by_slug.retain(|a| a.merchant_id != merchant_id);
        self.by_id.retain(|a| a.merchant_id != merchant_id);
    }
}

/// `open` through the cache; the flag says whether the account came from it (and so may be stale).
pub async fn cached(
    state: &AppState,
    merchant_id: &str,
    slug: &str,
) -> ApiResult<Option<(Account, bool)>> {
    let key = (merchant_id.to_owned(), slug.to_owned());
    if let Some(account) = state.accounts.by_slug.get(&key) {
        return Ok(Some((account, true)));
    }
    Ok(reopen(state, merchant_id, slug).await?.map(|a| (a, false)))
}

/// `open`, bypassing the cache and refreshing it.
pub async fn reopen(state: &AppState, merchant_id: &str, slug: &str) -> ApiResult<Option<Account>> {
    let account = open(state, merchant_id, slug).await?;
    if let Some(account) = &account {
        state.accounts.put(account);
    }
    Ok(account)
}

/// The account with this id (`acct_…`, the one in its callback URL), through the cache.
pub async fn cached_by_id(state: &AppState, id: &str) -> ApiResult<Option<(Account, bool)>> {
    if let Some(account) = state.accounts.by_id.get(id) {
        return Ok(Some((account, true)));
    }
    Ok(reopen_by_id(state, id).await?.map(|a| (a, false)))
}

/// The account with this id, bypassing the cache and refreshing it.
pub async fn reopen_by_id(state: &AppState, id: &str) -> ApiResult<Option<Account>> {
    let Some((merchant_id, slug)) = crate::store::providers::by_id(&state.pool, id).await? else {
        return Ok(None);
    };
    let account = reopen(state, &merchant_id, &slug).await?;
    Ok(account.filter(|a| a.id.as_deref() == Some(id)))
}

fn key<'a>(state: &'a AppState, what: &str) -> ApiResult<&'a SecretBox> {
    state.config.encryption_key.as_ref().ok_or_else(|| {
        ApiError::Unavailable(format!("{what}: the server has no COWRY_ENCRYPTION_KEY"))
    })
}

/// Random credentials in the shape each provider issues them, for an account on the emulators
/// (which accept any well-formed credentials and keep each set's payments apart).
pub fn emulator_credentials(kind: &str) -> Option<Value> {
    let chars = |n, alphabet| random_chars(n, alphabet).collect::<String>();
    match kind {
        "paystack" => Some(json!({"secretKey": format!("sk_test_{}", chars(40, BASE62))})),
        "mtn_momo" => Some(json!({
            "apiUser": uuid::Uuid::new_v4().to_string(),
            "apiKey": chars(32, HEX),
            "subscriptionKey": chars(32, HEX),
            "targetEnvironment": "sandbox",
        })),
        "airtel_money" => Some(json!({
            "clientId": uuid::Uuid::new_v4().to_string(),
            "clientSecret": chars(32, BASE62),
        })),
        "mona" => Some(json!({"apiKey": format!("mona_test_{}", chars(32, BASE62))})),
        "dollr" => Some(json!({
            "clientId": uuid::Uuid::new_v4().to_string(),
            "clientSecret": chars(32, BASE62),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_credentials_are_random_and_shaped_like_the_providers() {
        let a = emulator_credentials("paystack").unwrap();
        let b = emulator_credentials("paystack").unwrap();
        assert_ne!(a, b);
        assert!(a["secretKey"].as_str().unwrap().starts_with("sk_test_"));
        let momo = emulator_credentials("mtn_momo").unwrap();
        assert!(uuid::Uuid::parse_str(momo["apiUser"].as_str().unwrap()).is_ok());
        assert_eq!(momo["apiKey"].as_str().unwrap().len(), 32);
        assert!(emulator_credentials("airtel_money").unwrap()["clientSecret"].is_string());
        assert_eq!(emulator_credentials("sandbox"), None);
    }
}

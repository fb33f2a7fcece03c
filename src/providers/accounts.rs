//! Loads a merchant's provider account with its credentials decrypted, for the request path and the
//! workers alike. A test account added without credentials gets random emulator credentials of its
//! own on first use, stored encrypted like any credential (nothing about them can be derived from
//! the merchant's id, so knowing an id does not let anyone sign a callback for its payments).

use serde_json::{json, Value};

use super::Account;
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
    Ok(Some(Account {
        id: Some(row.id),
        merchant_id: merchant_id.to_owned(),
        slug: slug.to_owned(),
        kind: row.kind,
        mode: row.mode,
        base_url: row.base_url,
        credentials,
    }))
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

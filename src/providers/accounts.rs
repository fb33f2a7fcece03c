//! Loads a merchant's provider account with its credentials decrypted, for the request path and the
//! workers alike.

use super::Account;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The account behind `slug`, or `None` when the merchant has no such provider.
pub async fn open(state: &AppState, merchant_id: &str, slug: &str) -> ApiResult<Option<Account>> {
    let Some(row) = crate::store::providers::account(&state.pool, merchant_id, slug).await? else {
        return Ok(None);
    };
    let credentials = match row.credentials {
        None => None,
        Some(sealed) => {
            let key = state.config.encryption_key.as_ref().ok_or_else(|| {
                ApiError::Unavailable(
                    "provider credentials cannot be read: the server has no COWRY_ENCRYPTION_KEY"
                        .to_owned(),
                )
            })?;
            let plain = key
                .open(&sealed, format!("{merchant_id}/{slug}").as_bytes())
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

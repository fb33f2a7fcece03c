//! `cowry keys rotate`: re-seals every value at rest (provider credentials, webhook signing secrets)
//! under the current `COWRY_ENCRYPTION_KEY`, so the
//! keys listed in `COWRY_OLD_ENCRYPTION_KEYS` can then be dropped. Safe to run while servers run (each
//! value is replaced only if it is still the one that was read) and to run again.

use serde::Serialize;
use sqlx::PgPool;

use crate::domain::secretbox::SecretBox;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The key everything is now sealed with (its id, not the key).
    pub key_id: String,
    pub resealed: u64,
    pub already_current: u64,
    /// Values no configured key opens (by provider account or webhook endpoint id): they are left as they are.
    pub undecryptable: Vec<String>,
}

pub async fn rotate(pool: &PgPool, key: &SecretBox) -> Result<Rotation, sqlx::Error> {
    let mut report = Rotation {
        key_id: key.key_id(),
        ..Rotation::default()
    };
    for (id, merchant_id, slug, sealed) in crate::store::providers::all_credentials(pool).await? {
        if key.is_current(&sealed) {
            report.already_current += 1;
            continue;
        }
        let associated = format!("{merchant_id}/{slug}");
        let Ok(plain) = key.open(&sealed, associated.as_bytes()) else {
            report.undecryptable.push(id);
            continue;
        };
        let resealed = key.seal(&plain, associated.as_bytes());
        if crate::store::providers::reseal_credentials(pool, &id, &sealed, &resealed).await? {
            report.resealed += 1;
        } else {
            // Changed since it was read (re-added or provisioned): whatever is there now was sealed
            // by a server, with the current key if that server was configured like this one.
            report.already_current += 1;
        }
    }
    for (id, secret, previous) in crate::store::webhook_endpoints::all_secrets(pool).await? {
        if key.is_current(&secret) && previous.as_deref().is_none_or(|p| key.is_current(p)) {
            report.already_current += 1;
            continue;
        }
        let associated = format!("webhook_endpoint/{id}");
        let reseal = |sealed: &[u8]| {
            key.open(sealed, associated.as_bytes())
                .ok()
                .map(|plain| key.seal(&plain, associated.as_bytes()))
        };
        let (Some(new_secret), new_previous) = (reseal(&secret), previous.as_deref().map(reseal))
        else {
            report.undecryptable.push(id);
            continue;
        };
        if new_previous.as_ref().is_some_and(Option::is_none) {
            report.undecryptable.push(id);
            continue;
        }
        let new_previous = new_previous.flatten();
        if crate::store::webhook_endpoints::reseal(
            pool,
            &id,
            (&secret, previous.as_deref()),
            (&new_secret, new_previous.as_deref()),
        )
        .await?
        {
            report.resealed += 1;
        } else {
            report.already_current += 1;
        }
    }
    tracing::info!(
        key_id = %report.key_id,
        resealed = report.resealed,
        undecryptable = report.undecryptable.len(),
        "at-rest values re-sealed"
    );
    Ok(report)
}

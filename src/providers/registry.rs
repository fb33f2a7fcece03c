//! Connects a merchant's provider account to the adapter of its kind: test accounts without a base
//! URL talk to this process's emulators (with credentials derived from the merchant, so merchants stay
//! apart there too), live accounts to the provider's real API unless `baseUrl` overrides it.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::http::{HttpPolicy, ProviderHttp};
use super::paystack::{self, Paystack};
use super::sandbox::Sandbox;
use super::{PaymentProvider, ProviderError};
use crate::config::Secret;

/// A provider account with its credentials decrypted.
#[derive(Debug, Clone)]
pub struct Account {
    pub merchant_id: String,
    pub slug: String,
    pub kind: String,
    pub mode: String,
    pub base_url: Option<String>,
    pub credentials: Option<Value>,
}

impl Account {
    fn credential(&self, name: &str) -> Option<&str> {
        self.credentials.as_ref()?.get(name)?.as_str()
    }
}

#[derive(Clone)]
pub struct Registry {
    sandbox: Arc<Sandbox>,
    http: ProviderHttp,
    /// Where this process serves `/_emulator/…`, known once it is bound.
    self_base: Arc<OnceLock<String>>,
}

impl Registry {
    pub fn new(public_url: &str) -> Registry {
        Registry {
            sandbox: Arc::new(Sandbox::new(public_url)),
            http: ProviderHttp::new(HttpPolicy::default()),
            self_base: Arc::default(),
        }
    }

    /// Records the address this process listens on (called once, after binding).
    pub fn set_self_base(&self, base: String) {
        let _ = self.self_base.set(base);
    }

    fn emulator_url(&self, kind: &str) -> Result<String, ProviderError> {
        let base = self
            .self_base
            .get()
            .ok_or_else(|| ProviderError::Unavailable {
                provider: "emulator",
                message: "the emulators are reachable only once the server listens".to_owned(),
            })?;
        Ok(format!("{base}/_emulator/{kind}"))
    }

    pub fn connect(&self, account: &Account) -> Result<Arc<dyn PaymentProvider>, ProviderError> {
        match account.kind.as_str() {
            "sandbox" => Ok(self.sandbox.clone()),
            "paystack" => {
                let base_url = match (&account.base_url, account.mode.as_str()) {
                    (Some(url), _) => url.clone(),
                    (None, "live") => paystack::LIVE_BASE_URL.to_owned(),
                    (None, _) => self.emulator_url("paystack")?,
                };
                let secret = match account.credential("secretKey") {
                    Some(key) => key.to_owned(),
                    // The emulator treats each sk_test_ key as an integration of its own.
                    None => format!("sk_test_{}", account.merchant_id),
                };
                Ok(Arc::new(Paystack::new(
                    &base_url,
                    Secret::new(secret),
                    self.http.clone(),
                )))
            }
            other => Err(ProviderError::Unsupported {
                provider: "cowry",
                what: format!("integrated collections through a {other} account yet"),
            }),
        }
    }
}

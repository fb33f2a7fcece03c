//! Connects a merchant's provider account to the adapter of its kind: test accounts without a base
//! URL talk to this process's emulators (with random credentials of their own, so merchants stay
//! apart there too), live accounts to the provider's real API unless `baseUrl` overrides it.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::airtel_money::{self, AirtelAccount, AirtelMoney};
use super::http::{HttpPolicy, ProviderHttp};
use super::mobile_money::{MobileMoney, MobileMoneyRail};
use super::mtn_momo::{self, MomoAccount, MtnMomo};
use super::paystack::{self, Paystack};
use super::sandbox::Sandbox;
use super::{PaymentProvider, ProviderError};
use crate::config::Secret;
use crate::domain::network::Market;
use crate::domain::settlement::Report;

/// A provider account with its credentials decrypted.
#[derive(Debug, Clone)]
pub struct Account {
    /// The stored account's id (`None` for the built-in sandbox): names its callback URL.
    pub id: Option<String>,
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
    public_url: Arc<str>,
    /// Where emulated providers call back (`COWRY_EMULATOR_CALLBACK_URL`), if not this process.
    emulator_callback_url: Option<Arc<str>>,
    http: ProviderHttp,
    /// Where this process serves `/_emulator/…`, known once it is bound.
    self_base: Arc<OnceLock<String>>,
    tokens: super::tokens::TokenCache,
    /// Where provider calls may go (`providers::guard`).
    guard: super::guard::Guard,
    /// For the rails that keep what a provider made once (Dollr's parties).
    pool: sqlx::PgPool,
}

impl Registry {
    /// `allow_private_networks` lets provider calls reach private and loopback addresses (tests, local
    /// development); Cowry's own addresses (public URL, emulator callback URL, this process once bound)
    /// are reachable either way.
    pub fn new(
        public_url: &str,
        emulator_callback_url: Option<&str>,
        policy: HttpPolicy,
        allow_private_networks: bool,
        pool: sqlx::PgPool,
    ) -> Registry {
        let guard = super::guard::Guard::new(allow_private_networks);
        guard.trust(public_url);
        if let Some(url) = emulator_callback_url {
            guard.trust(url);
        }
        Registry {
            sandbox: Arc::new(Sandbox::new(
                crate::store::virtual_accounts::SandboxSerials::new(pool.clone()),
            )),
            pool,
            public_url: public_url.into(),
            emulator_callback_url: emulator_callback_url.map(Into::into),
            http: ProviderHttp::guarded(policy, guard.clone()),
            self_base: Arc::default(),
            tokens: Default::default(),
            guard,
        }
    }

    /// The one outbound HTTP client and policy (no redirects, guarded addresses), for webhook
    /// deliveries as for provider calls.
    pub fn outbound(&self) -> &ProviderHttp {
        &self.http
    }

    /// Records the address this process listens on (called once, after binding).
    pub fn set_self_base(&self, base: String) {
        self.guard.trust(&base);
        let _ = self.self_base.set(base);
    }

    /// Where this process serves HTTP, once bound (emulated callbacks come back here).
    pub fn self_base(&self) -> Option<&str> {
        self.self_base.get().map(String::as_str)
    }

    /// Where MTN should send the callback for `reference`: the account's own callback URL
    /// (`/webhooks/mtn_momo/{account id}?reference=…`) at this server's public URL; for a test account,
    /// at `COWRY_EMULATOR_CALLBACK_URL` or this process, where its emulator's callbacks are heard.
    pub fn callback_url(&self, account: &Account, reference: &str) -> String {
        let emulator_target = self.emulator_callback_url.as_deref().or(self.self_base());
        let base = match (account.mode.as_str(), emulator_target) {
            ("test", Some(base)) => base,
            _ => &self.public_url,
        };
        let path = account_callback_path(&account.kind, account.id.as_deref());
        format!("{}{path}?reference={reference}", base.trim_end_matches('/'))
    }

    /// The base URL an account talks to: its override, the provider's live host, or the emulator.
    fn base_url(&self, account: &Account, live: &str) -> Result<String, ProviderError> {
        match (&account.base_url, account.mode.as_str()) {
            (Some(url), _) => Ok(url.clone()),
            (None, "live") => Ok(live.to_owned()),
            (None, _) => self.emulator_url(&account.kind),
        }
    }

    /// Connects a mobile-money account for a payer in `market`.
    pub fn mobile_money(
        &self,
        account: &Account,
        market: Market,
    ) -> Result<MobileMoney, ProviderError> {
        let credential = |name: &str| -> Result<String, ProviderError> {
            account
                .credential(name)
                .map(str::to_owned)
                .ok_or_else(|| missing_credential(account, name))
        };
        match account.kind.as_str() {
            "mtn_momo" => {
                let momo = MomoAccount {
                    base_url: self.base_url(account, mtn_momo::SANDBOX_BASE_URL)?,
                    api_user: credential("apiUser")?,
                    api_key: Secret::new(credential("apiKey")?),
                    subscription_key: Secret::new(credential("subscriptionKey")?),
                    target_environment: account
                        .credential("targetEnvironment")
                        .unwrap_or("sandbox")
                        .to_owned(),
                };
                let token = self.tokens.slot(&[
                    &momo.base_url,
                    &momo.api_user,
                    momo.api_key.expose(),
                    momo.subscription_key.expose(),
                ]);
                Ok(MobileMoney::Mtn(MtnMomo::new(
                    momo,
                    self.http.clone(),
                    token,
                )))
            }
            "airtel_money" => {
                // An Airtel app serves the one market its account names; a test account any market.
                let market = match account.credential("country") {
                    Some(country) => {
                        Market::for_country(country).ok_or_else(|| ProviderError::Unsupported {
                            provider: "airtel_money",
                            what: format!("the market {country}"),
                        })?
                    }
                    None => market,
                };
                let airtel = AirtelAccount {
                    base_url: self.base_url(account, airtel_money::LIVE_BASE_URL)?,
                    client_id: credential("clientId")?,
                    client_secret: Secret::new(credential("clientSecret")?),
                    country: market.country.to_owned(),
                    currency: market.currency.to_owned(),
                    sign_payments: account
                        .credentials
                        .as_ref()
                        .and_then(|c| c.get("signPayments"))
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                };
                let token = self.tokens.slot(&[
                    &airtel.base_url,
                    &airtel.client_id,
                    airtel.client_secret.expose(),
                ]);
                Ok(MobileMoney::Airtel(AirtelMoney::new(
                    airtel,
                    self.http.clone(),
                    token,
                )))
            }
            "dollr" => Ok(MobileMoney::Dollr(Box::new(
                super::dollr::collect::DollrCollect {
                    dollr: self.dollr(account)?,
                    pool: self.pool.clone(),
                    merchant_id: account.merchant_id.clone(),
                    slug: account.slug.clone(),
                    market,
                },
            ))),
            other => Err(ProviderError::Unsupported {
                provider: "cowry",
                what: format!("mobile-money collect through a {other} account"),
            }),
        }
    }

    /// Asks the provider where a payment stands: the reconciler's one question, for every kind of
    /// attempt Cowry polls. `market` is the payment's market (for mobile money).
    pub async fn check(
        &self,
        account: &Account,
        reference: &str,
        market: Option<Market>,
    ) -> Result<Report, ProviderError> {
        match account.kind.as_str() {
            "paystack" => {
                let verified = self.paystack(account)?.verify(reference).await?;
                Ok(Report {
                    status: verified.status,
                    amount: Some(verified.amount),
                })
            }
            "dollr" => {
                // Dollr's status needs no market; the rail is built for any.
                let market = market
                    .or_else(|| Market::for_country("UG"))
                    .ok_or_else(|| ProviderError::Unsupported {
                        provider: "cowry",
                        what: "a market".to_owned(),
                    })?;
                self.mobile_money(account, market)?.status(reference).await
            }
            "mtn_momo" | "airtel_money" => {
                let market = market.ok_or_else(|| ProviderError::Unsupported {
                    provider: "cowry",
                    what: "a status check without the payment's market".to_owned(),
                })?;
                self.mobile_money(account, market)?.status(reference).await
            }
            other => Err(ProviderError::Unsupported {
                provider: "cowry",
                what: format!("status checks through a {other} account"),
            }),
        }
    }

    pub fn paystack(&self, account: &Account) -> Result<Paystack, ProviderError> {
        let base_url = self.base_url(account, paystack::LIVE_BASE_URL)?;
        Ok(Paystack::new(
            &base_url,
            Secret::new(
                paystack_secret(account)
                    .ok_or_else(|| missing_credential(account, "secretKey"))?
                    .to_owned(),
            ),
            self.http.clone(),
        )
        .with_preferred_bank(
            account
                .credential("preferredBank")
                .unwrap_or(paystack::default_preferred_bank(&account.mode)),
        ))
    }

    pub fn dollr(&self, account: &Account) -> Result<super::dollr::Dollr, ProviderError> {
        let base_url = self.base_url(account, super::dollr::LIVE_BASE_URL)?;
        let id = account
            .credential("clientId")
            .ok_or_else(|| missing_credential(account, "clientId"))?;
        let secret = account
            .credential("clientSecret")
            .ok_or_else(|| missing_credential(account, "clientSecret"))?;
        Ok(super::dollr::Dollr::new(
            &base_url,
            id,
            Secret::new(secret.to_owned()),
            self.http.clone(),
        ))
    }

    pub fn mona(&self, account: &Account) -> Result<super::mona::Mona, ProviderError> {
        let base_url = self.base_url(account, super::mona::LIVE_BASE_URL)?;
        let key = account
            .credential("apiKey")
            .ok_or_else(|| missing_credential(account, "apiKey"))?;
        Ok(super::mona::Mona::new(
            &base_url,
            Secret::new(key.to_owned()),
            self.http.clone(),
        ))
    }

    pub fn emulator_url(&self, kind: &str) -> Result<String, ProviderError> {
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
            "paystack" => Ok(Arc::new(self.paystack(account)?)),
            "mtn_momo" | "airtel_money" | "dollr" => {
                let (kind, capabilities) = match account.kind.as_str() {
                    "mtn_momo" => ("mtn_momo", mtn_momo::CAPABILITIES),
                    "airtel_money" => ("airtel_money", airtel_money::CAPABILITIES),
                    _ => ("dollr", super::dollr::CAPABILITIES),
                };
                Ok(Arc::new(MobileMoneyRail {
                    registry: self.clone(),
                    account: account.clone(),
                    kind,
                    capabilities,
                }))
            }
            other => Err(ProviderError::Unsupported {
                provider: "cowry",
                what: format!("integrated collections through a {other} account yet"),
            }),
        }
    }
}

/// The Paystack secret key of an account (test accounts get a random one on first use: see
/// `providers::accounts`). Webhook signatures are checked with the same key.
pub fn paystack_secret(account: &Account) -> Option<&str> {
    account.credential("secretKey")
}

fn missing_credential(account: &Account, name: &str) -> ProviderError {
    ProviderError::Unsupported {
        provider: "cowry",
        what: format!(
            "the {} account {} without its {name} credential",
            account.kind, account.slug
        ),
    }
}

/// `/webhooks/{kind}/{account id}`: the account's own callback path (`/webhooks/{kind}` without one).
pub fn account_callback_path(kind: &str, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("/webhooks/{kind}/{id}"),
        None => format!("/webhooks/{kind}"),
    }
}

//! MTN MoMo Collection: an access token (Basic auth + subscription key, cached until shortly before it
//! expires), request-to-pay keyed by a Cowry-generated UUID `X-Reference-Id` (stored before the call),
//! status by that id (HTTP 200 even when the payment FAILED: read `status` and `reason`), account-holder
//! checks, and the unsigned callback, which is only a hint to look the payment up. Amounts travel as
//! decimal strings in major units.

pub mod wire;

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use uuid::Uuid;

use super::http::{ProviderHttp, Reply, Safety};
use super::{PaymentStatus, ProviderError};
use crate::config::Secret;
use crate::domain::currency::Currency;
use crate::domain::money::Money;

pub const NAME: &str = "mtn_momo";
/// The host, as MTN's portal gives it; the adapter builds `/collection/…` on it.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.momodeveloper.mtn.com";
/// Mobile-money collect (request-to-pay); callbacks carry no signature.
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    methods: &["mobile_money"],
    currencies: &[
        "UGX", "GHS", "RWF", "ZMW", "XOF", "XAF", "GNF", "NGN", "EUR",
    ],
    countries: &["UG", "GH", "RW", "ZM", "CI", "BJ", "CM", "CG", "GN", "NG"],
    mandates: false,
    signed_callbacks: false,
    amount_unit: super::AmountUnit::Major,
};
/// A token is renewed this long before MTN says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

pub struct MtnMomo {
    /// `{host}/collection`: the Collection product's root.
    base_url: String,
    api_user: String,
    api_key: Secret,
    subscription_key: Secret,
    target_environment: String,
    http: ProviderHttp,
    /// Shared with every other use of this account (`providers::tokens`).
    token: super::tokens::Slot,
}

/// The Collection API's root for a base URL given as the host (as MTN's portal shows it) or, as older
/// accounts were set up, already ending in `/collection`: both forms reach the same place.
pub fn collection_api(base_url: &str) -> String {
    let host = base_url.trim_end_matches('/');
    let host = host.strip_suffix("/collection").unwrap_or(host);
    format!("{host}/collection")
}

/// Credentials and routing for one MoMo account.
pub struct MomoAccount {
    pub base_url: String,
    pub api_user: String,
    pub api_key: Secret,
    pub subscription_key: Secret,
    /// `sandbox` in the sandbox; the market's name (e.g. `mtnuganda`) in production.
    pub target_environment: String,
}

/// One request-to-pay.
#[derive(Debug, Clone, Copy)]
pub struct PayRequest<'a> {
    /// Cowry's UUID for the payment, stored before the call; MTN's only handle for it.
    pub reference_id: Uuid,
    pub amount: Money,
    /// Shown in the merchant's MoMo reports; need not be unique.
    pub external_id: &'a str,
    pub payer_e164: &'a str,
    pub payer_message: &'a str,
    pub payee_note: &'a str,
    /// Where MTN sends the final result (once, unsigned).
    pub callback_url: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MomoPayment {
    pub status: PaymentStatus,
    pub amount: Money,
    pub financial_transaction_id: Option<String>,
    pub external_id: Option<String>,
}

impl MtnMomo {
    /// `token` is the account's cached-token slot (`providers::tokens`); a fresh one caches per adapter.
    pub fn new(account: MomoAccount, http: ProviderHttp, token: super::tokens::Slot) -> MtnMomo {
        MtnMomo {
            base_url: collection_api(&account.base_url),
            api_user: account.api_user,
            api_key: account.api_key,
            subscription_key: account.subscription_key,
            target_environment: account.target_environment,
            http,
            token,
        }
    }

    /// A valid access token, from the cache or `POST /token/`.
    pub async fn token(&self) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.api_user,
            self.api_key.expose()
        ));
        let url = format!("{}/token/", self.base_url);
        let reply = self
            .http
            .send(NAME, "token", Safety::Read, |client| {
                client
                    .post(&url)
                    .header("Authorization", format!("Basic {basic}"))
                    .header("Ocp-Apim-Subscription-Key", self.subscription_key.expose())
            })
            .await?;
        let token: wire::Token = parse(reply)?;
        let lifetime = Duration::from_secs(token.expires_in.max(0) as u64);
        *cached = Some((token.access_token.clone(), Instant::now() + lifetime));
        Ok(token.access_token)
    }

    /// `POST /v1_0/requesttopay`. `reference_id` must already be stored: MTN answers 202 with no body,
    /// so the id is the only handle. A 409 (id already used) means an earlier attempt got through:
    /// `DuplicateReference`, and the caller polls the status instead of sending again.
    pub async fn request_to_pay(&self, pay: &PayRequest<'_>) -> Result<(), ProviderError> {
        let PayRequest {
            reference_id,
            amount,
            external_id,
            payer_e164,
            payer_message,
            payee_note,
            callback_url,
        } = *pay;
        let token = self.token().await?;
        let body = wire::RequestToPay {
            amount: amount.major_string(),
            currency: amount.currency().code(),
            external_id,
            payer: wire::Party {
                party_id_type: "MSISDN",
                party_id: msisdn(payer_e164),
            },
            payer_message,
            payee_note,
        };
        let url = format!("{}/v1_0/requesttopay", self.base_url);
        let reference = reference_id.to_string();
        // The X-Reference-Id makes a resend harmless (409), so a lost answer may be retried; if every
        // try is lost the payment may exist, and the caller asks for its status.
        let reply = self
            .http
            .send(NAME, "request_to_pay", Safety::Keyed, |client| {
                let request = self
                    .authorized(client.post(&url), &token)
                    .header("X-Reference-Id", &reference)
                    .json(&body);
                match callback_url {
                    Some(callback) => request.header("X-Callback-Url", callback),
                    None => request,
                }
            })
            .await?;
        match reply.status {
            StatusCode::ACCEPTED => Ok(()),
            StatusCode::CONFLICT => Err(ProviderError::DuplicateReference { provider: NAME }),
            _ => Err(error(reply)),
        }
    }

    /// `GET /v1_0/requesttopay/{referenceId}`.
    pub async fn status(&self, reference_id: Uuid) -> Result<MomoPayment, ProviderError> {
        let token = self.token().await?;
        let url = format!("{}/v1_0/requesttopay/{reference_id}", self.base_url);
        let reply = self
            .http
            .send(NAME, "request_to_pay_status", Safety::Read, |client| {
                self.authorized(client.get(&url), &token)
            })
            .await?;
        payment(parse(reply)?)
    }

    /// `GET /v1_0/accountholder/msisdn/{id}/active`: whether the payer has an active wallet.
    pub async fn is_active(&self, payer_e164: &str) -> Result<bool, ProviderError> {
        let token = self.token().await?;
        let url = format!(
            "{}/v1_0/accountholder/msisdn/{}/active",
            self.base_url,
            msisdn(payer_e164)
        );
        let reply = self
            .http
            .send(NAME, "account_holder_active", Safety::Read, |client| {
                self.authorized(client.get(&url), &token)
            })
            .await?;
        Ok(parse::<wire::BooleanResult>(reply)?.result)
    }

    fn authorized(&self, request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        request
            .bearer_auth(token)
            .header("X-Target-Environment", &self.target_environment)
            .header("Ocp-Apim-Subscription-Key", self.subscription_key.expose())
    }
}

/// MSISDN as MTN wants it: E.164 digits without the `+`.
pub fn msisdn(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

/// Reads a callback (PUT or POST, unsigned, sent once): only a hint; confirm with [`MtnMomo::status`].
pub fn parse_callback(raw_body: &[u8]) -> Result<MomoPayment, ProviderError> {
    let result: wire::RequestToPayResult =
        serde_json::from_slice(raw_body).map_err(|e| ProviderError::Protocol {
            provider: NAME,
            message: format!("unreadable callback: {e}"),
        })?;
    payment(result)
}

fn payment(result: wire::RequestToPayResult) -> Result<MomoPayment, ProviderError> {
    let protocol = |message: String| ProviderError::Protocol {
        provider: NAME,
        message,
    };
    let currency = Currency::parse(&result.currency)
        .ok_or_else(|| protocol(format!("unknown currency {}", result.currency)))?;
    let amount = Money::from_major_str(&result.amount, currency)
        .map_err(|e| protocol(format!("amount {}: {e}", result.amount)))?;
    let status = match result.status.as_str() {
        "SUCCESSFUL" => PaymentStatus::Succeeded,
        "FAILED" => PaymentStatus::Failed {
            reason: result
                .reason
                .as_ref()
                .map(|r| r.code().to_owned())
                .unwrap_or_else(|| "FAILED".to_owned()),
        },
        // PENDING, and anything MTN adds later, is not final.
        _ => PaymentStatus::Pending,
    };
    Ok(MomoPayment {
        status,
        amount,
        financial_transaction_id: result.financial_transaction_id,
        external_id: result.external_id,
    })
}

fn parse<T: serde::de::DeserializeOwned>(reply: Reply) -> Result<T, ProviderError> {
    if reply.status.is_success() {
        return serde_json::from_slice(&reply.body).map_err(|e| ProviderError::Protocol {
            provider: NAME,
            message: format!("unreadable {} body: {e}", reply.status),
        });
    }
    Err(error(reply))
}

fn error(reply: Reply) -> ProviderError {
    let reason: Option<wire::ErrorReason> = serde_json::from_slice(&reply.body).ok();
    let message = reason
        .as_ref()
        .map(|r| r.code().to_owned())
        .unwrap_or_else(|| format!("HTTP {}", reply.status));
    match reply.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ProviderError::BadCredentials { provider: NAME }
        }
        StatusCode::NOT_FOUND => ProviderError::NotFound { provider: NAME },
        StatusCode::CONFLICT => ProviderError::DuplicateReference { provider: NAME },
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            provider: NAME,
            retry_after_secs: super::http::retry_after(&reply.headers).map(|d| d.as_secs()),
        },
        s if s.is_client_error() => ProviderError::Rejected {
            provider: NAME,
            message,
        },
        // MTN reports a wrong X-Target-Environment as a 500; that is configuration, not an outage.
        _ if message == "NOT_ALLOWED_TARGET_ENVIRONMENT" => {
            ProviderError::BadCredentials { provider: NAME }
        }
        _ => ProviderError::Unavailable {
            provider: NAME,
            message,
        },
    }
}

#[cfg(test)]
mod tests;

//! Airtel Money collections: an OAuth client-credentials token (cached, renewed early), a USSD-push
//! payment request keyed by Cowry's transaction id with `X-Country`/`X-Currency`, status enquiry by that
//! id, and the callback, which is only a hint (its signing is unconfirmed) to be checked by enquiry.
//! A payment request is sent once: Airtel does not document what a repeated id does, so a lost answer
//! is `Unknown` and resolved by asking for the status. Apps that require signed requests (production
//! apps do) send `POST /merchant/v2/payments/` with `x-signature` and `x-key` (`airtel_money/signing.rs`,
//! the account's `signPayments` setting); others the unsigned v1.

mod signing;
pub mod wire;

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::http::{ProviderHttp, Reply, Safety};
use super::{PaymentStatus, ProviderError};
use crate::config::Secret;
use crate::domain::money::Money;
use crate::domain::phone::Phone;

pub const NAME: &str = "airtel_money";
pub const LIVE_BASE_URL: &str = "https://openapi.airtel.africa";
/// Mobile-money collect (USSD push); callback signing is unconfirmed, so callbacks are hints.
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    methods: &["mobile_money"],
    currencies: &["UGX", "KES", "TZS", "RWF", "ZMW", "MWK", "NGN", "CDF"],
    countries: &["UG", "KE", "TZ", "RW", "ZM", "MW", "NG", "CD"],
    mandates: false,
    signed_callbacks: false,
    amount_unit: super::AmountUnit::Major,
};
/// Tokens live for minutes; renew this long before they end.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

pub struct AirtelAccount {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// ISO 3166 alpha-2 of the app's market, e.g. `UG`.
    pub country: String,
    /// ISO 4217 of that market, e.g. `UGX`.
    pub currency: String,
    /// Sign payment requests (v2 with `x-signature`/`x-key`), as apps set to require it need.
    pub sign_payments: bool,
}

pub struct AirtelMoney {
    account: AirtelAccount,
    http: ProviderHttp,
    /// Shared with every other use of this account (`providers::tokens`).
    token: super::tokens::Slot,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AirtelPayment {
    pub transaction_id: String,
    pub status: PaymentStatus,
    pub airtel_money_id: Option<String>,
    pub message: Option<String>,
}

impl AirtelMoney {
    /// `token` is the account's cached-token slot (`providers::tokens`); a fresh one caches per adapter.
    pub fn new(
        mut account: AirtelAccount,
        http: ProviderHttp,
        token: super::tokens::Slot,
    ) -> AirtelMoney {
        account.base_url = account.base_url.trim_end_matches('/').to_owned();
        AirtelMoney {
            account,
            http,
            token,
        }
    }

    pub async fn token(&self) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        let url = format!("{}/auth/oauth2/token", self.account.base_url);
        let body = wire::TokenRequest {
            client_id: &self.account.client_id,
            client_secret: self.account.client_secret.expose(),
            grant_type: "client_credentials",
        };
        let reply = self
            .http
            .send(NAME, "token", Safety::Read, |c| c.post(&url).json(&body))
            .await?;
        if !reply.status.is_success() {
            return Err(error(&reply, None));
        }
        let token: wire::Token =
            serde_json::from_slice(&reply.body).map_err(|e| ProviderError::Protocol {
                provider: NAME,
                message: format!("unreadable token: {e}"),
            })?;
        *cached = Some((
            token.access_token.clone(),
            Instant::now() + Duration::from_secs(token.expires_in),
        ));
        Ok(token.access_token)
    }

    /// `POST /merchant/v1/payments/`: asks the payer to approve on their phone. `transaction_id` must
    /// already be stored. Airtel's 200 means *accepted*, not paid.
    pub async fn collect(
        &self,
        transaction_id: &str,
        reference: &str,
        amount: Money,
        payer: &Phone,
    ) -> Result<PaymentStatus, ProviderError> {
        if amount.currency().code() != self.account.currency {
            return Err(ProviderError::Unsupported {
                provider: NAME,
                what: format!(
                    "{} on an account in {}",
                    amount.currency().code(),
                    self.account.currency
                ),
            });
        }
        let token = self.token().await?;
        let body = wire::CollectRequest {
            reference,
            subscriber: wire::Subscriber {
                country: &self.account.country,
                currency: &self.account.currency,
                msisdn: payer.national(),
            },
            transaction: wire::CollectTransaction {
                amount: amount
                    .major_string()
                    .parse()
                    .expect("a decimal string is a JSON number"),
                country: &self.account.country,
                currency: &self.account.currency,
                id: transaction_id,
            },
        };
        let bytes = serde_json::to_vec(&body).expect("a request serialises");
        let signature = if self.account.sign_payments {
            let key = self.encryption_key(&token).await?;
            Some(signing::sign(&bytes, &key)?)
        } else {
            None
        };
        let version = if signature.is_some() { "v2" } else { "v1" };
        let url = format!("{}/merchant/{version}/payments/", self.account.base_url);
        let reply = self
            .http
            .send(NAME, "collect", Safety::Once, |c| {
                let request = self
                    .headers(c.post(&url), &token)
                    .header("content-type", "application/json")
                    .body(bytes.clone());
                match &signature {
                    Some((signed, key)) => {
                        request.header("x-signature", signed).header("x-key", key)
                    }
                    None => request,
                }
            })
            .await?;
        let envelope = envelope(&reply)?;
        if !envelope.status.success {
            return Err(error(&reply, Some(&envelope)));
        }
        Ok(envelope
            .data
            .and_then(|d| d.transaction.status)
            .map(|s| status(&s, None))
            .unwrap_or(PaymentStatus::Pending))
    }

    /// `GET /v1/rsa/encryption-keys`: Airtel's RSA public key for sealing a request's signing key
    /// (base64 DER).
    async fn encryption_key(&self, token: &str) -> Result<String, ProviderError> {
        let url = format!("{}/v1/rsa/encryption-keys", self.account.base_url);
        let reply = self
            .http
            .send(NAME, "encryption_key", Safety::Read, |c| {
                self.headers(c.get(&url), token)
            })
            .await?;
        let key: wire::EncryptionKey = serde_json::from_slice(&reply.body)
            .ok()
            .filter(|_| reply.status.is_success())
            .ok_or_else(|| error(&reply, None))?;
        Ok(key.data.key)
    }

    /// `GET /standard/v1/payments/{id}`.
    pub async fn status(&self, transaction_id: &str) -> Result<AirtelPayment, ProviderError> {
        let token = self.token().await?;
        let url = format!(
            "{}/standard/v1/payments/{transaction_id}",
            self.account.base_url
        );
        let reply = self
            .http
            .send(NAME, "status", Safety::Read, |c| {
                self.headers(c.get(&url), &token)
            })
            .await?;
        let envelope = envelope(&reply)?;
        let transaction = match envelope.data {
            Some(data) if envelope.status.success => data.transaction,
            _ => return Err(error(&reply, Some(&envelope))),
        };
        let code = transaction.status.clone().unwrap_or_default();
        Ok(AirtelPayment {
            transaction_id: transaction_id.to_owned(),
            status: status(&code, envelope.status.response_code.as_deref()),
            airtel_money_id: transaction.airtel_money_id,
            message: transaction.message,
        })
    }

    /// `GET /standard/v1/users/{msisdn}`: the KYC name on the wallet ("MUJUNI INNOCENT"), if Airtel
    /// knows one. Only a name is kept; nothing else of the KYC record is read.
    pub async fn account_holder_name(
        &self,
        payer: &Phone,
    ) -> Result<Option<String>, ProviderError> {
        let token = self.token().await?;
        let url = format!(
            "{}/standard/v1/users/{}",
            self.account.base_url,
            payer.national()
        );
        let reply = self
            .http
            .send(NAME, "user_enquiry", Safety::Read, |c| {
                self.headers(c.get(&url), &token)
            })
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(ProviderError::Unavailable {
                provider: NAME,
                message: format!("HTTP {}", reply.status),
            });
        }
        let envelope: wire::UserEnvelope =
            serde_json::from_slice(&reply.body).map_err(|e| ProviderError::Protocol {
                provider: NAME,
                message: format!("unreadable user enquiry: {e}"),
            })?;
        Ok(envelope.data.and_then(|user| {
            let name = [user.first_name, user.last_name]
                .into_iter()
                .flatten()
                .map(|part| part.trim().to_owned())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (!name.is_empty()).then_some(name)
        }))
    }

    fn headers(&self, request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        request
            .bearer_auth(token)
            .header("X-Country", &self.account.country)
            .header("X-Currency", &self.account.currency)
    }
}

/// `TS` paid; `TF` failed; `TE` expired; `TIP` in progress and `TA` ambiguous (ask again) wait.
pub fn status(code: &str, response_code: Option<&str>) -> PaymentStatus {
    match code {
        "TS" => PaymentStatus::Succeeded,
        "TF" => PaymentStatus::Failed {
            reason: failure_reason(response_code).to_owned(),
        },
        "TE" => PaymentStatus::Failed {
            reason: "expired".to_owned(),
        },
        _ => PaymentStatus::Pending,
    }
}

/// Airtel's `DP008000010xx` response codes, as far as they are known.
fn failure_reason(response_code: Option<&str>) -> &'static str {
    match response_code.and_then(|c| c.get(c.len().saturating_sub(3)..)) {
        Some("007") => "insufficient funds",
        Some("008") => "refused by the payer",
        Some("024") => "timed out",
        Some("025") => "not found",
        _ => "failed",
    }
}

/// Reads a callback. Unsigned (or signed in a way no source confirms): confirm with [`AirtelMoney::status`].
pub fn parse_callback(raw_body: &[u8]) -> Result<AirtelPayment, ProviderError> {
    let callback: wire::Callback =
        serde_json::from_slice(raw_body).map_err(|e| ProviderError::Protocol {
            provider: NAME,
            message: format!("unreadable callback: {e}"),
        })?;
    Ok(AirtelPayment {
        status: status(&callback.transaction.status_code, None),
        transaction_id: callback.transaction.id,
        airtel_money_id: callback.transaction.airtel_money_id,
        message: callback.transaction.message,
    })
}

fn envelope(reply: &Reply) -> Result<wire::Envelope, ProviderError> {
    if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
        return Err(ProviderError::BadCredentials { provider: NAME });
    }
    if reply.status.is_server_error() {
        return Err(ProviderError::Unavailable {
            provider: NAME,
            message: format!("HTTP {}", reply.status),
        });
    }
    serde_json::from_slice(&reply.body).map_err(|e| ProviderError::Protocol {
        provider: NAME,
        message: format!("unreadable {} body: {e}", reply.status),
    })
}

fn error(reply: &Reply, envelope: Option<&wire::Envelope>) -> ProviderError {
    let message = envelope
        .and_then(|e| e.status.message.clone())
        .unwrap_or_else(|| format!("HTTP {}", reply.status));
    let response_code = envelope
        .and_then(|e| e.status.response_code.as_deref())
        .unwrap_or_default();
    match reply.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ProviderError::BadCredentials { provider: NAME }
        }
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            provider: NAME,
            retry_after_secs: super::http::retry_after(&reply.headers).map(|d| d.as_secs()),
        },
        _ if response_code.ends_with("025") || reply.status == StatusCode::NOT_FOUND => {
            ProviderError::NotFound { provider: NAME }
        }
        s if s.is_server_error() => ProviderError::Unavailable {
            provider: NAME,
            message,
        },
        _ => ProviderError::Rejected {
            provider: NAME,
            message,
        },
    }
}

#[cfg(test)]
mod tests;

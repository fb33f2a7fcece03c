//! Paystack: payment links (initialize), dedicated virtual accounts, direct charges (mobile money, bank),
//! verification, recurring debits on a saved authorization, and webhook verification. The wire types
//! are in `paystack/wire.rs`; amounts travel in minor units.

pub mod options;
mod recurring;
pub mod wire;

pub use recurring::Refund;

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha512;

use super::http::{ProviderHttp, Reply, Safety};
use super::{PaymentStatus, ProviderError};
use crate::config::Secret;
use crate::domain::money::Money;

pub const NAME: &str = "paystack";
pub const LIVE_BASE_URL: &str = "https://api.paystack.co";
/// The `Currency` enum of Paystack's spec.
pub const CURRENCIES: [&str; 5] = ["GHS", "KES", "NGN", "ZAR", "USD"];
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    methods: &[
        "payment_link",
        "virtual_account",
        "mobile_money",
        "card",
        "bank_transfer",
    ],
    currencies: &CURRENCIES,
    countries: &["NG", "GH", "KE", "ZA"],
    mandates: true,
    signed_callbacks: true,
    amount_unit: super::AmountUnit::Minor,
};
/// Paystack references: only `-`, `.`, `=` and alphanumerics.
pub fn is_valid_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.=".contains(&b))
}

pub struct Paystack {
    base_url: String,
    secret: Secret,
    http: ProviderHttp,
    /// The bank dedicated accounts are opened at (`preferred_bank`).
    preferred_bank: String,
}

/// Where dedicated accounts are opened unless the account says otherwise: Paystack's test bank in test
/// mode (live Paystack refuses it), Wema Bank live (one of the banks Paystack documents).
pub fn default_preferred_bank(mode: &str) -> &'static str {
    if mode == "live" {
        "wema-bank"
    } else {
        "test-bank"
    }
}

/// What a verification (or a charge on a saved authorization) tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub reference: String,
    pub status: PaymentStatus,
    pub amount: Money,
    /// Reusable authorization for recurring debits, when the payment made one.
    pub authorization_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Charged {
    pub reference: String,
    pub status: PaymentStatus,
    /// The step Paystack wants next (`send_otp`, `send_pin`, …), if any.
    pub next_step: Option<String>,
    pub display_text: Option<String>,
}

/// How a direct charge reaches the customer.
#[derive(Debug, Clone, Copy)]
pub enum ChargeSource<'a> {
    MobileMoney {
        phone: &'a str,
        network: &'a str,
    },
    Bank {
        code: &'a str,
        account_number: &'a str,
    },
}

impl Paystack {
    pub fn new(base_url: &str, secret: Secret, http: ProviderHttp) -> Paystack {
        Paystack {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
            http,
            preferred_bank: default_preferred_bank("test").to_owned(),
        }
    }

    /// Dedicated accounts open at `bank` (a Paystack bank slug, e.g. `wema-bank`).
    pub fn with_preferred_bank(mut self, bank: &str) -> Paystack {
        bank.clone_into(&mut self.preferred_bank);
        self
    }

    pub fn preferred_bank(&self) -> &str {
        &self.preferred_bank
    }

    /// `POST /transaction/initialize`: a checkout link for `reference` (which Cowry chose and stored).
    /// `merchant_name` is shown on the checkout as a custom field (Paystack displays `custom_fields`).
    pub async fn initialize(
        &self,
        email: &str,
        amount: Money,
        reference: &str,
        channels: &[&str],
        merchant_name: Option<&str>,
        callback_url: Option<&str>,
    ) -> Result<wire::InitializeData, ProviderError> {
        let metadata = merchant_name.map(|name| {
            serde_json::json!({"custom_fields": [
                {"display_name": "Merchant", "variable_name": "merchant", "value": name}
            ]})
        });
        let body = wire::InitializeRequest {
            email,
            amount: amount.minor(),
            currency: amount.currency().code(),
            reference,
            channels: channels.to_vec(),
            callback_url,
            metadata,
        };
        // Paystack refuses a second transaction with the same reference, so a retry cannot pay twice.
        self.call(
            "initialize",
            Safety::Keyed,
            Method::POST,
            "/transaction/initialize",
            Some(&body),
        )
        .await
    }

    /// `GET /transaction/verify/{reference}`.
    pub async fn verify(&self, reference: &str) -> Result<Verified, ProviderError> {
        if !is_valid_reference(reference) {
            return Err(ProviderError::NotFound { provider: NAME });
        }
        let path = format!("/transaction/verify/{reference}");
        let tx: wire::Transaction = self
            .call::<(), _>("verify", Safety::Read, Method::GET, &path, None)
            .await?;
        verified(tx)
    }

    /// `POST /charge` with mobile money or a bank account.
    pub async fn charge(
        &self,
        email: &str,
        amount: Money,
        reference: &str,
        source: ChargeSource<'_>,
    ) -> Result<Charged, ProviderError> {
        let (mobile_money, bank) = match source {
            ChargeSource::MobileMoney { phone, network } => (
                Some(wire::MobileMoney {
                    phone,
                    provider: network,
                }),
                None,
            ),
            ChargeSource::Bank {
                code,
                account_number,
            } => (
                None,
                Some(wire::Bank {
                    code,
                    account_number,
                }),
            ),
        };
        let body = wire::ChargeRequest {
            email,
            amount: amount.minor(),
            currency: amount.currency().code(),
            reference,
            mobile_money,
            bank,
        };
        let data: wire::ChargeData = self
            .call(
                "charge",
                Safety::Keyed,
                Method::POST,
                "/charge",
                Some(&body),
            )
            .await?;
        let next_step = data
            .status
            .starts_with("send_")
            .then(|| data.status.clone());
        Ok(Charged {
            status: payment_status(&data.status, data.gateway_response.as_deref()),
            reference: data.reference,
            next_step,
            display_text: data.display_text,
        })
    }

    /// `POST /transaction/charge_authorization`: a recurring debit on a reusable authorization.
    pub async fn charge_authorization(
        &self,
        email: &str,
        amount: Money,
        authorization_code: &str,
        reference: &str,
    ) -> Result<Verified, ProviderError> {
        let body = wire::ChargeAuthorizationRequest {
            email,
            amount: amount.minor(),
            authorization_code,
            reference,
            currency: amount.currency().code(),
            metadata: None,
        };
        let tx: wire::Transaction = self
            .call(
                "charge_authorization",
                Safety::Keyed,
                Method::POST,
                "/transaction/charge_authorization",
                Some(&body),
            )
            .await?;
        verified(tx)
    }

    /// `POST /customer/authorization/initialize`: a direct-debit mandate request. Paystack chooses the
    /// reference, so there is nothing to look up after a lost answer; nothing is chargeable until the
    /// customer approves at `redirect_url`, so the customer simply starts again.
    pub async fn initialize_authorization(
        &self,
        email: &str,
        callback_url: Option<&str>,
    ) -> Result<wire::AuthorizationStarted, ProviderError> {
        let body = wire::AuthorizationRequest {
            email,
            channel: "direct_debit",
            callback_url,
        };
        self.call(
            "initialize_authorization",
            Safety::Once,
            Method::POST,
            "/customer/authorization/initialize",
            Some(&body),
        )
        .await
    }

    /// `GET /customer/authorization/verify/{reference}`: 404 (`NotFound`) until the customer approved.
    pub async fn verify_authorization(
        &self,
        reference: &str,
    ) -> Result<wire::AuthorizationState, ProviderError> {
        if !is_valid_reference(reference) {
            return Err(ProviderError::NotFound { provider: NAME });
        }
        let path = format!("/customer/authorization/verify/{reference}");
        self.call::<(), _>(
            "verify_authorization",
            Safety::Read,
            Method::GET,
            &path,
            None,
        )
        .await
    }

    /// `POST /customer/authorization/deactivate`: the mandate can no longer be charged.
    pub async fn deactivate_authorization(
        &self,
        authorization_code: &str,
    ) -> Result<(), ProviderError> {
        let body = wire::DeactivateRequest { authorization_code };
        let url = format!("{}/customer/authorization/deactivate", self.base_url);
        let reply = self
            .http
            .send(NAME, "deactivate_authorization", Safety::Keyed, |client| {
                client
                    .post(&url)
                    .bearer_auth(self.secret.expose())
                    .json(&body)
            })
            .await?;
        // A success carries no `data` (`{status, message}`); a refusal is read like any other.
        if reply.status.is_success() {
            return Ok(());
        }
        parse_reply::<serde_json::Value>(reply).map(|_| ())
    }

    /// `POST /customer` then `POST /dedicated_account`: a NUBAN that pays into this integration.
    pub async fn dedicated_account(
        &self,
        email: &str,
        first_name: &str,
        last_name: &str,
        phone: &str,
        preferred_bank: &str,
    ) -> Result<super::DedicatedAccount, ProviderError> {
        let customer = wire::CustomerRequest {
            email,
            first_name,
            last_name,
            phone,
        };
        // Paystack answers a repeated email with the existing customer.
        let customer: wire::CustomerData = self
            .call(
                "create_customer",
                Safety::Read,
                Method::POST,
                "/customer",
                Some(&customer),
            )
            .await?;
        let request = wire::DedicatedAccountRequest {
            customer: &customer.customer_code,
            preferred_bank,
        };
        let account: wire::DedicatedAccountData = self
            .call(
                "dedicated_account",
                Safety::Once,
                Method::POST,
                "/dedicated_account",
                Some(&request),
            )
            .await?;
        Ok(super::DedicatedAccount {
            customer_code: Some(customer.customer_code),
            bank_name: account.bank.name,
            account_number: account.account_number,
            account_name: account.account_name,
        })
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        operation: &'static str,
        safety: Safety,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let reply = self
            .http
            .send(NAME, operation, safety, |client| {
                let request = client
                    .request(method.clone(), &url)
                    .bearer_auth(self.secret.expose());
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        parse_reply(reply)
    }
}

/// Maps a Paystack answer to its `data`, or to a typed error.
pub fn parse_reply<T: DeserializeOwned>(reply: Reply) -> Result<T, ProviderError> {
    let protocol = |message: String| ProviderError::Protocol {
        provider: NAME,
        message,
    };
    if reply.status.is_success() {
        let envelope: wire::Envelope<T> = serde_json::from_slice(&reply.body)
            .map_err(|e| protocol(format!("unreadable {} body: {e}", reply.status)))?;
        return match (envelope.status, envelope.data) {
            (true, Some(data)) => Ok(data),
            _ => Err(ProviderError::Rejected {
                provider: NAME,
                message: envelope.message,
            }),
        };
    }
    let error: wire::ErrorBody = serde_json::from_slice(&reply.body).unwrap_or(wire::ErrorBody {
        message: format!("HTTP {}", reply.status),
        code: None,
    });
    Err(match reply.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ProviderError::BadCredentials { provider: NAME }
        }
        StatusCode::NOT_FOUND => ProviderError::NotFound { provider: NAME },
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            provider: NAME,
            retry_after_secs: super::http::retry_after(&reply.headers).map(|d| d.as_secs()),
        },
        s if s.is_client_error() && error.code.as_deref() == Some("duplicate_reference") => {
            ProviderError::DuplicateReference { provider: NAME }
        }
        s if s.is_client_error() => ProviderError::Rejected {
            provider: NAME,
            message: error.message,
        },
        _ => ProviderError::Unavailable {
            provider: NAME,
            message: format!("HTTP {}", reply.status),
        },
    })
}

fn verified(tx: wire::Transaction) -> Result<Verified, ProviderError> {
    let currency = crate::domain::currency::Currency::parse(&tx.currency).ok_or_else(|| {
        ProviderError::Protocol {
            provider: NAME,
            message: format!("unknown currency {}", tx.currency),
        }
    })?;
    if tx.amount <= 0 {
        return Err(ProviderError::Protocol {
            provider: NAME,
            message: "non-positive amount".to_owned(),
        });
    }
    Ok(Verified {
        status: payment_status(&tx.status, tx.gateway_response.as_deref()),
        reference: tx.reference,
        amount: Money::from_minor(tx.amount, currency),
        authorization_code: tx
            .authorization
            .filter(|a| a.reusable == Some(true))
            .and_then(|a| a.authorization_code),
    })
}

/// Paystack's transaction statuses: `success` is paid, `failed` is a final failure, `reversed` undoes a
/// success; `ongoing`, `pending`, `processing`, `queued` and the `send_*` steps wait. So does
/// `abandoned`: Paystack lists it as terminal, but it is what an initialized checkout reports until the
/// customer pays, and the link stays payable — calling it failed would make Cowry stop watching a
/// payment that can still arrive. It is polled until the collection expires instead.
pub fn payment_status(status: &str, gateway_response: Option<&str>) -> PaymentStatus {
    match status {
        "success" => PaymentStatus::Succeeded,
        "failed" => PaymentStatus::Failed {
            reason: gateway_response.unwrap_or(status).to_owned(),
        },
        "reversed" => PaymentStatus::Reversed,
        _ => PaymentStatus::Pending,
    }
}

/// Checks `x-paystack-signature`: the hex HMAC-SHA512 of the raw body keyed with the secret key,
/// compared in constant time. Call before parsing the body.
pub fn verify_signature(secret: &str, raw_body: &[u8], signature_hex: &str) -> bool {
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(raw_body);
    mac.verify_slice(&expected).is_ok()
}

/// A verified webhook, read.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// `charge.success`: still confirm with [`Paystack::verify`] before giving value.
    ChargeSuccess { reference: String, amount: Money },
    /// `refund.processed`: the payment under `reference` was refunded (in full or in part; Cowry
    /// treats any processed refund as a reversal of the payment, for finance to see).
    Refunded { reference: String },
    /// `direct_debit.authorization.created|active|inactive`: a mandate request's progress. Only
    /// `active` makes the authorization chargeable.
    Authorization {
        event: String,
        reference: String,
        authorization_code: String,
        active: bool,
        /// `…inactive` / `…deactivated`: the customer or the bank withdrew it.
        revoked: bool,
        email: Option<String>,
        /// Paystack's customer code (`CUS_…`).
        customer: Option<String>,
    },
    /// Any other event (acknowledged and recorded, never an error).
    Other { event: String },
}

pub fn parse_webhook(raw_body: &[u8]) -> Result<WebhookEvent, ProviderError> {
    let body: wire::WebhookBody =
        serde_json::from_slice(raw_body).map_err(|e| ProviderError::Protocol {
            provider: NAME,
            message: format!("unreadable webhook: {e}"),
        })?;
    if body.event == "refund.processed" {
        let reference = body
            .data
            .get("transaction_reference")
            .and_then(|r| r.as_str())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ProviderError::Protocol {
                provider: NAME,
                message: "refund.processed without data.transaction_reference".to_owned(),
            })?;
        return Ok(WebhookEvent::Refunded {
            reference: reference.to_owned(),
        });
    }
    if body.event.starts_with("direct_debit.authorization.") {
        let state: wire::AuthorizationState =
            serde_json::from_value(body.data).map_err(|e| ProviderError::Protocol {
                provider: NAME,
                message: format!("unreadable {}: {e}", body.event),
            })?;
        return Ok(WebhookEvent::Authorization {
            // `inactive` (seen from integrations, not in Paystack's published samples) and a
            // deactivation both leave `active: false`.
            active: state.active && body.event == "direct_debit.authorization.active",
            revoked: body.event.ends_with(".inactive") || body.event.ends_with(".deactivated"),
            event: body.event,
            reference: state.reference.unwrap_or_default(),
            authorization_code: state.authorization_code,
            email: state.customer.as_ref().and_then(|c| c.email.clone()),
            customer: state.customer.and_then(|c| c.code),
        });
    }
    if body.event != "charge.success" {
        return Ok(WebhookEvent::Other { event: body.event });
    }
    let tx: wire::Transaction =
        serde_json::from_value(body.data).map_err(|e| ProviderError::Protocol {
            provider: NAME,
            message: format!("unreadable charge.success: {e}"),
        })?;
    let verified = verified(tx)?;
    Ok(WebhookEvent::ChargeSuccess {
        reference: verified.reference,
        amount: verified.amount,
    })
}

/// Money paid into a dedicated account: a `charge.success` with `channel: "dedicated_nuban"`. Paystack
/// generates its reference, so it names no Cowry payment; the receiving account number (in
/// `authorization.receiver_bank_account_number`, and `metadata.receiver_account_number`) says whose
/// it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub reference: String,
    pub amount: Money,
    pub account_number: String,
    /// Paystack's customer code (`CUS_…`), when given.
    pub customer: Option<String>,
    /// The sending bank, as Paystack names it (the sender's account number stays masked and unkept).
    pub sender_bank: Option<String>,
}

/// The transfer a webhook body (or a verify answer's `data`) reports, if it is a successful one.
pub fn parse_transfer(raw_body: &[u8]) -> Option<Transfer> {
    let body: serde_json::Value = serde_json::from_slice(raw_body).ok()?;
    if body["event"] != "charge.success" {
        return None;
    }
    transfer_of(&body["data"])
}

fn transfer_of(data: &serde_json::Value) -> Option<Transfer> {
    if data["channel"] != "dedicated_nuban" || data["status"] != "success" {
        return None;
    }
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let account_number = text(&data["authorization"]["receiver_bank_account_number"])
        .or_else(|| text(&data["metadata"]["receiver_account_number"]))?;
    let currency = crate::domain::currency::Currency::parse(data["currency"].as_str()?)?;
    let amount = data["amount"].as_i64().filter(|a| *a > 0)?;
    Some(Transfer {
        reference: text(&data["reference"])?,
        amount: Money::from_minor(amount, currency),
        account_number,
        customer: text(&data["customer"]["customer_code"]),
        sender_bank: text(&data["authorization"]["sender_bank"]),
    })
}

#[cfg(test)]
mod tests;

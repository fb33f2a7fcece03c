//! Dollr, an invoice/session rail: a bearer token (expiry in minutes, renewed with under five left); a
//! party and counterparty per customer, created once and remembered by the caller; an invoice with line
//! items, published; a checkout session; the customer's wallet as a payment account; and a collection
//! executed under a UUID `reference_id` that the caller stored before the call. Status is polled (Dollr
//! sends no webhooks); after an ambiguous answer the status decides: PROCESSING or COMPLETED is never
//! executed again. Payouts follow the same pattern.

pub mod collect;
pub mod wire;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::http::{ProviderHttp, Reply, Safety};
use super::{PaymentStatus, ProviderError};
use crate::config::Secret;
use crate::domain::money::Money;
use crate::domain::phone::Phone;

pub const NAME: &str = "dollr";
pub const LIVE_BASE_URL: &str = "https://api.heydollr.app";
/// Invoice/checkout collections over mobile money and payouts; no webhooks (status is polled). As the
/// provider of an integrated collection: `mobile_money` (a push at creation) and `payment_link` (Dollr
/// has no hosted checkout: the link is Cowry's hosted page, whose "send me the prompt" runs the same
/// invoice → session → execution), in the mobile-money markets Cowry knows.
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    methods: &["payment_link", "mobile_money"],
    currencies: &[],
    countries: &[],
    mandates: false,
    signed_callbacks: false,
    amount_unit: super::AmountUnit::Major,
};
/// Renew a token with less than this left, as Dollr advises.
const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

pub struct Dollr {
    base_url: String,
    client_id: String,
    client_secret: Secret,
    http: ProviderHttp,
    token: Mutex<Option<(String, Instant)>>,
}

/// A customer as Dollr knows them, to be remembered per contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub party_id: String,
    pub counterparty_id: String,
}

#[derive(Debug, Clone)]
pub struct LineItem<'a> {
    pub name: &'a str,
    pub qty: u32,
    /// Unit price.
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionStatus {
    pub status: PaymentStatus,
    /// Dollr's own word (PENDING, PROCESSING, COMPLETED, FAILED).
    pub raw: String,
    pub requires_action: bool,
    pub gateway_message: Option<String>,
}

impl Dollr {
    pub fn new(
        base_url: &str,
        client_id: &str,
        client_secret: Secret,
        http: ProviderHttp,
    ) -> Dollr {
        Dollr {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            http,
            token: Mutex::new(None),
        }
    }

    /// `POST /v1/jwt/client/obtain/token`, cached until five minutes before it expires.
    pub async fn token(&self) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        let url = format!("{}/v1/jwt/client/obtain/token", self.base_url);
        let body = wire::TokenRequest {
            client_id: &self.client_id,
            client_secret: self.client_secret.expose(),
        };
        let reply = self
            .http
            .send(NAME, "token", Safety::Read, |c| c.post(&url).json(&body))
            .await?;
        let token: wire::Token = parse(reply)?;
        *cached = Some((
            token.access_token.clone(),
            Instant::now() + Duration::from_secs(token.expires_in * 60),
        ));
        Ok(token.access_token)
    }

    /// Steps 2–3: a party and a CUSTOMER counterparty, unless the caller already knows them.
    pub async fn ensure_customer(
        &self,
        known: Option<Customer>,
        full_name: &str,
        phone: &Phone,
        email: Option<&str>,
        country_code: &str,
    ) -> Result<Customer, ProviderError> {
        if let Some(customer) = known {
            return Ok(customer);
        }
        let party = wire::PartyRequest {
            fullname: full_name,
            phone: &phone.e164()[1..],
            email,
            country_code,
        };
        let party: wire::Created = self
            .call(
                "create_party",
                Safety::Once,
                Method::POST,
                "/v1/parties/create",
                Some(&party),
            )
            .await?;
        let link = wire::CounterpartyRequest {
            relationship_type: "CUSTOMER",
            party_id: &party.id,
        };
        let counterparty: wire::Created = self
            .call(
                "create_counterparty",
                Safety::Once,
                Method::POST,
                "/v1/counterparties/create",
                Some(&link),
            )
            .await?;
        Ok(Customer {
            party_id: party.id,
            counterparty_id: counterparty.id,
        })
    }

    /// Steps 4–6: an invoice with its line items, published (IDLE → ACTIVE). Returns the invoice id.
    pub async fn invoice(
        &self,
        customer: &Customer,
        note: &str,
        items: &[LineItem<'_>],
    ) -> Result<String, ProviderError> {
        let currency = items
            .first()
            .map(|i| i.amount.currency().code())
            .ok_or_else(|| ProviderError::Unsupported {
                provider: NAME,
                what: "an invoice without line items".to_owned(),
            })?;
        let request = wire::InvoiceRequest {
            counterparty_id: &customer.counterparty_id,
            currency,
            note,
            fee_bearer: "PAYEE",
            as_payment_link: false,
        };
        let invoice: wire::Created = self
            .call(
                "create_invoice",
                Safety::Once,
                Method::POST,
                "/v1/invoices/create",
                Some(&request),
            )
            .await?;
        for item in items {
            let body = wire::ItemRequest {
                name: item.name,
                currency: item.amount.currency().code(),
                qty: item.qty,
                amount: item
                    .amount
                    .major_string()
                    .parse()
                    .expect("a decimal string is a JSON number"),
            };
            let path = format!("/v1/invoices/{}/items/add", invoice.id);
            let _: Value = self
                .call(
                    "add_invoice_item",
                    Safety::Once,
                    Method::POST,
                    &path,
                    Some(&body),
                )
                .await?;
        }
        let path = format!("/v1/invoices/publish/{}", invoice.id);
        let _: Value = self
            .call::<(), _>("publish_invoice", Safety::Read, Method::PUT, &path, None)
            .await?;
        Ok(invoice.id)
    }

    /// Step 8: the network and payment method Dollr recommends for a phone.
    pub async fn mmo_info(&self, phone: &Phone) -> Result<wire::MmoInfo, ProviderError> {
        let path = format!(
            "/v1/predictions/mmo-provider-info?phone={}&operation_type=COLLECTION",
            &phone.e164()[1..]
        );
        self.call::<(), _>("mmo_provider_info", Safety::Read, Method::GET, &path, None)
            .await
    }

    /// Step 9: a checkout session for the invoice.
    pub async fn checkout(&self, invoice_id: &str) -> Result<String, ProviderError> {
        let body = wire::CheckoutRequest {
            source_id: invoice_id,
            source_type: "INVOICE",
            source_kind: "INVOICE",
        };
        let session: wire::Created = self
            .call(
                "checkout_session",
                Safety::Once,
                Method::POST,
                "/v1/sessions/checkout",
                Some(&body),
            )
            .await?;
        Ok(session.id)
    }

    /// Step 10 (and payout step 3): the customer's mobile wallet as a payment account.
    pub async fn payment_account(
        &self,
        operation: &str,
        customer: &Customer,
        name: &str,
        phone: &Phone,
        mmo: &wire::MmoInfo,
        country_code: &str,
    ) -> Result<String, ProviderError> {
        let body = wire::PaymentAccountRequest {
            account_name: name,
            provider: &mmo.gateway_provider,
            method: &mmo.payment_method,
            party_id: &customer.party_id,
            country_code,
            insensitive_account_number: &phone.e164()[1..],
        };
        let path = format!("/v1/payment-accounts/create?operation_type={operation}");
        let account: wire::Created = self
            .call(
                "payment_account",
                Safety::Once,
                Method::POST,
                &path,
                Some(&body),
            )
            .await?;
        Ok(account.id)
    }

    /// Step 11: executes the collection under `reference_id` (already stored). Safe to resend under the
    /// same id: Dollr refuses a reused id for another payment, and the caller checks the status first.
    pub async fn execute_collection(
        &self,
        session_id: &str,
        payment_account_id: &str,
        amount: Money,
        reference_id: Uuid,
    ) -> Result<ExecutionStatus, ProviderError> {
        let reference = reference_id.to_string();
        let body = wire::ExecuteCollection {
            session_id,
            payment_account_id,
            currency: amount.currency().code(),
            reference_id: &reference,
        };
        let execution: wire::Execution = self
            .call(
                "execute_collection",
                Safety::Once,
                Method::POST,
                "/v1/executions/collection",
                Some(&body),
            )
            .await?;
        Ok(execution_status(execution))
    }

    /// Step 12: `GET /v1/status/collection/{reference_id}`.
    pub async fn collection_status(
        &self,
        reference_id: Uuid,
    ) -> Result<ExecutionStatus, ProviderError> {
        let path = format!("/v1/status/collection/{reference_id}");
        Ok(execution_status(
            self.call::<(), _>("collection_status", Safety::Read, Method::GET, &path, None)
                .await?,
        ))
    }

    /// Step 13: the receipt of a paid invoice, as Dollr gives it.
    pub async fn receipt(&self, invoice_id: &str) -> Result<Value, ProviderError> {
        let path = format!("/v1/invoices/receipt/{invoice_id}");
        self.call::<(), _>("receipt", Safety::Read, Method::GET, &path, None)
            .await
    }

    /// Payout steps 4–5: a payout session, then its execution under `reference_id` (already stored).
    pub async fn payout(
        &self,
        payout_account_id: &str,
        amount: Money,
        reference_id: Uuid,
        passcode: Value,
    ) -> Result<ExecutionStatus, ProviderError> {
        let session = wire::PayoutSession {
            payout_account_id,
            amount: amount
                .major_string()
                .parse()
                .expect("a decimal string is a JSON number"),
            currency: amount.currency().code(),
        };
        let session: wire::Created = self
            .call(
                "payout_session",
                Safety::Once,
                Method::POST,
                "/v1/sessions/payout",
                Some(&session),
            )
            .await?;
        let reference = reference_id.to_string();
        let body = wire::ExecutePayout {
            session_id: &session.id,
            payout_account_id,
            reference_id: &reference,
            passcode,
        };
        let execution: wire::Execution = self
            .call(
                "execute_payout",
                Safety::Once,
                Method::POST,
                "/v1/executions/payout",
                Some(&body),
            )
            .await?;
        Ok(execution_status(execution))
    }

    /// Payout step 6.
    pub async fn payout_status(
        &self,
        reference_id: Uuid,
    ) -> Result<ExecutionStatus, ProviderError> {
        let path = format!("/v1/status/payout/{reference_id}");
        Ok(execution_status(
            self.call::<(), _>("payout_status", Safety::Read, Method::GET, &path, None)
                .await?,
        ))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        operation: &'static str,
        safety: Safety,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ProviderError> {
        let token = self.token().await?;
        let url = format!("{}{path}", self.base_url);
        let reply = self
            .http
            .send(NAME, operation, safety, |client| {
                let request = client.request(method.clone(), &url).bearer_auth(&token);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        parse(reply)
    }
}

/// PENDING and PROCESSING wait (mobile money may sit in PROCESSING for minutes: not a failure).
pub fn execution_status(execution: wire::Execution) -> ExecutionStatus {
    let status = match execution.status.as_str() {
        "COMPLETED" => PaymentStatus::Succeeded,
        "FAILED" => PaymentStatus::Failed {
            reason: execution
                .gateway_message
                .clone()
                .unwrap_or_else(|| "FAILED".to_owned()),
        },
        _ => PaymentStatus::Pending,
    };
    ExecutionStatus {
        status,
        raw: execution.status,
        requires_action: execution.requires_action.unwrap_or(false),
        gateway_message: execution.gateway_message,
    }
}

fn parse<T: DeserializeOwned>(reply: Reply) -> Result<T, ProviderError> {
    if reply.status.is_success() {
        return serde_json::from_slice(&reply.body).map_err(|e| ProviderError::Protocol {
            provider: NAME,
            message: format!("unreadable {} body: {e}", reply.status),
        });
    }
    let message = serde_json::from_slice::<wire::ErrorBody>(&reply.body)
        .map(|e| e.message())
        .unwrap_or_else(|_| format!("HTTP {}", reply.status));
    Err(match reply.status {
        StatusCode::UNAUTHORIZED => ProviderError::BadCredentials { provider: NAME },
        StatusCode::NOT_FOUND => ProviderError::NotFound { provider: NAME },
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            provider: NAME,
            retry_after_secs: super::http::retry_after(&reply.headers).map(|d| d.as_secs()),
        },
        StatusCode::UNPROCESSABLE_ENTITY if message.to_lowercase().contains("duplicate") => {
            ProviderError::DuplicateReference { provider: NAME }
        }
        s if s.is_client_error() => ProviderError::Rejected {
            provider: NAME,
            message,
        },
        _ => ProviderError::Unavailable {
            provider: NAME,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use reqwest::header::HeaderMap;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn ids_of_either_type_are_read() {
        let created: wire::Created = parse(reply(200, r#"{"id": 42}"#)).unwrap();
        assert_eq!(created.id, "42");
        let created: wire::Created = parse(reply(200, r#"{"id": "sess_9"}"#)).unwrap();
        assert_eq!(created.id, "sess_9");
    }

    #[test]
    fn fastapi_errors_keep_their_message() {
        let refused = parse::<wire::Created>(reply(
            422,
            r#"{"detail": [{"loc": ["body", "currency"], "msg": "field required", "type": "value_error.missing"}]}"#,
        ));
        match refused {
            Err(ProviderError::Rejected { message, .. }) => {
                assert_eq!(message, "body.currency: field required")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse::<wire::Created>(reply(
                401,
                r#"{"detail": "Could not validate credentials"}"#
            )),
            Err(ProviderError::BadCredentials { .. })
        ));
        let duplicate = parse::<wire::Created>(reply(
            422,
            r#"{"detail": "Duplicate reference_id for a different payment"}"#,
        ));
        assert!(matches!(
            duplicate,
            Err(ProviderError::DuplicateReference { .. })
        ));
    }

    #[test]
    fn executions_wait_while_processing() {
        let status = |s: &str| {
            execution_status(wire::Execution {
                status: s.to_owned(),
                reference_id: None,
                payer_amount: None,
                requires_action: None,
                gateway_message: Some("declined".to_owned()),
            })
            .status
        };
        assert_eq!(status("PENDING"), PaymentStatus::Pending);
        assert_eq!(status("PROCESSING"), PaymentStatus::Pending);
        assert_eq!(status("COMPLETED"), PaymentStatus::Succeeded);
        assert_eq!(
            status("FAILED"),
            PaymentStatus::Failed {
                reason: "declined".to_owned()
            }
        );
    }

    #[test]
    fn the_token_lives_minutes() {
        let token: wire::Token =
            serde_json::from_str(r#"{"access_token": "t", "expires_in": 60}"#).unwrap();
        assert_eq!(
            Duration::from_secs(token.expires_in * 60),
            Duration::from_secs(3600)
        );
    }
}

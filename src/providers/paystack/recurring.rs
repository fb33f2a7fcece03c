//! The calls behind a mandate's life besides the debits themselves: refunding a card's verification
//! charge, and retrying the bank's activation of a direct-debit authorization (which names Paystack's
//! integer customer id and authorization id, so both are looked up first).

use reqwest::Method;

use super::{wire, Paystack, Safety, NAME};
use crate::providers::ProviderError;

/// What `POST /refund` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refund {
    /// Queued (`pending`) or done; `refund.processed` follows.
    Accepted { status: String },
    /// The transaction was refunded before: a retried refund is done, not an error.
    AlreadyRefunded,
}

impl Paystack {
    /// `POST /refund` of the whole transaction `reference`. Paystack refuses a second full refund
    /// ("fully reversed"), so a retry after a lost answer cannot pay the customer back twice.
    pub async fn refund(&self, reference: &str, note: &str) -> Result<Refund, ProviderError> {
        let body = wire::RefundRequest {
            transaction: reference,
            merchant_note: note,
        };
        let answer = self
            .call::<_, wire::RefundData>(
                "refund",
                Safety::Keyed,
                Method::POST,
                "/refund",
                Some(&body),
            )
            .await;
        match answer {
            Ok(data) => Ok(Refund::Accepted {
                status: data.status,
            }),
            Err(ProviderError::Rejected { message, .. })
                if message.to_lowercase().contains("fully reversed") =>
            {
                Ok(Refund::AlreadyRefunded)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /customer/{code}`: the customer's integer id, which the direct-debit calls name.
    pub async fn customer_id(&self, customer_code: &str) -> Result<i64, ProviderError> {
        // `CUS_` and alphanumerics: nothing that could change the path.
        if customer_code.is_empty()
            || !customer_code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ProviderError::NotFound { provider: NAME });
        }
        let path = format!("/customer/{customer_code}");
        let customer: wire::CustomerRecord = self
            .call::<(), _>("fetch_customer", Safety::Read, Method::GET, &path, None)
            .await?;
        Ok(customer.id)
    }

    /// `GET /customer/{id}/directdebit-mandate-authorizations`: the customer's mandates with their ids.
    pub async fn mandate_authorizations(
        &self,
        customer_id: i64,
    ) -> Result<Vec<wire::MandateAuthorization>, ProviderError> {
        let path = format!("/customer/{customer_id}/directdebit-mandate-authorizations");
        self.call::<(), _>(
            "mandate_authorizations",
            Safety::Read,
            Method::GET,
            &path,
            None,
        )
        .await
    }

    /// `PUT /customer/{id}/directdebit-activation-charge`: asks the bank to try the small activation
    /// debit of an approved, inactive mandate again. Repeating it only queues another try.
    pub async fn retry_activation_charge(
        &self,
        customer_id: i64,
        authorization_id: i64,
    ) -> Result<(), ProviderError> {
        let path = format!("/customer/{customer_id}/directdebit-activation-charge");
        let body = wire::ActivationChargeRequest { authorization_id };
        let url = format!("{}{path}", self.base_url);
        let reply = self
            .http
            .send(NAME, "activation_charge", Safety::Keyed, |client| {
                client
                    .put(&url)
                    .bearer_auth(self.secret.expose())
                    .json(&body)
            })
            .await?;
        // A success is `{status, message}` with no `data`.
        if reply.status.is_success() {
            return Ok(());
        }
        super::parse_reply::<serde_json::Value>(reply).map(|_| ())
    }
}

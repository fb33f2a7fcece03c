//! Dollr as a mobile-money rail, the guide's "Collect Payment via Invoice" for one push: the customer's
//! party and counterparty (made once per account and phone, then reused), an invoice with one line for
//! the amount, published, a checkout session, the customer's wallet as a payment account, and the
//! execution under the reference Cowry stored before the call. Dollr sends no webhooks: the payment
//! is reconciled by polling its status, like any other. The invoice and session ids are noted on the
//! attempt, so the receipt can be fetched once it is paid.
//!
//! Nothing before the execution moves money, so a failure there (even a lost answer) created no
//! payment; only the execution's own lost answer leaves the payment unknown until its status is read.

use sqlx::PgPool;
use uuid::Uuid;

use super::{Customer, Dollr, LineItem};
use crate::domain::network::Market;
use crate::domain::settlement::{PaymentStatus, Report};
use crate::providers::mobile_money::Push;
use crate::providers::ProviderError;

pub struct DollrCollect {
    pub dollr: Dollr,
    pub pool: PgPool,
    pub merchant_id: String,
    /// The merchant's Dollr account (slug): parties are kept per account.
    pub slug: String,
    pub market: Market,
}

/// A failure before the execution: no payment exists, whatever the error was.
fn before_payment(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Unknown { message, .. } | ProviderError::Protocol { message, .. } => {
            ProviderError::Unavailable {
                provider: super::NAME,
                message: format!("before the payment was made: {message}"),
            }
        }
        other => other,
    }
}

fn database(e: sqlx::Error) -> ProviderError {
    ProviderError::Unavailable {
        provider: super::NAME,
        message: format!("the customer's Dollr party could not be read or kept: {e}"),
    }
}

impl DollrCollect {
    pub async fn request(&self, push: &Push<'_>) -> Result<PaymentStatus, ProviderError> {
        let reference = Uuid::parse_str(push.reference).map_err(|_| ProviderError::Protocol {
            provider: super::NAME,
            message: "Dollr reference ids are UUIDs".to_owned(),
        })?;
        let phone = push.payer.e164();
        let known = crate::store::parties::get(&self.pool, &self.merchant_id, &self.slug, phone)
            .await
            .map_err(database)?
            .map(|(party_id, counterparty_id)| Customer {
                party_id,
                counterparty_id,
            });
        let country = self.market.country;
        let name = push
            .payer_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(phone);
        let customer = self
            .dollr
            .ensure_customer(known.clone(), name, push.payer, None, country)
            .await
            .map_err(before_payment)?;
        if known.is_none() {
            crate::store::parties::save(
                &self.pool,
                &self.merchant_id,
                &self.slug,
                phone,
                &customer.party_id,
                &customer.counterparty_id,
            )
            .await
            .map_err(database)?;
        }
        let line = LineItem {
            name: push.payer_message,
            qty: 1,
            amount: push.amount,
        };
        let invoice = self
            .dollr
            .invoice(&customer, push.external_id, &[line])
            .await
            .map_err(before_payment)?;
        let session = self
            .dollr
            .checkout(&invoice)
            .await
            .map_err(before_payment)?;
        let mmo = self
            .dollr
            .mmo_info(push.payer)
            .await
            .map_err(before_payment)?;
        let account = self
            .dollr
            .payment_account("COLLECTION", &customer, name, push.payer, &mmo, country)
            .await
            .map_err(before_payment)?;
        crate::store::attempts::note_response(
            &self.pool,
            &self.merchant_id,
            super::NAME,
            push.reference,
            &serde_json::json!({"invoiceId": invoice, "sessionId": session}),
        )
        .await
        .map_err(database)?;
        let executed = self
            .dollr
            .execute_collection(&session, &account, push.amount, reference)
            .await?;
        Ok(executed.status)
    }

    pub async fn status(&self, reference: &str) -> Result<Report, ProviderError> {
        let reference = Uuid::parse_str(reference).map_err(|_| ProviderError::Protocol {
            provider: super::NAME,
            message: "Dollr reference ids are UUIDs".to_owned(),
        })?;
        let execution = self.dollr.collection_status(reference).await?;
        // Dollr's status gives no amount Cowry can compare: the status alone decides.
        Ok(Report {
            status: execution.status,
            amount: None,
        })
    }
}

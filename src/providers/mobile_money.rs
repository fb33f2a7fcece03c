//! Mobile-money push payments through whichever adapter reaches the payer's network: MTN MoMo or
//! Airtel Money. The collect endpoint and the reconciler talk to this, not to the adapters directly.

use uuid::Uuid;

use super::airtel_money::AirtelMoney;
use super::mtn_momo::{MtnMomo, PayRequest};
use super::ProviderError;
use crate::domain::money::Money;
use crate::domain::phone::Phone;
use crate::domain::settlement::{PaymentStatus, Report};

pub enum MobileMoney {
    Mtn(MtnMomo),
    Airtel(AirtelMoney),
}

/// One push payment. `reference` is stored before the call (a UUID: MTN's `X-Reference-Id`, Airtel's
/// `transaction.id`).
pub struct Push<'a> {
    pub reference: &'a str,
    pub external_id: &'a str,
    pub amount: Money,
    pub payer: &'a Phone,
    pub payer_message: &'a str,
    pub payee_note: &'a str,
    /// Where MTN sends its result; Airtel's callback URL is set in its portal instead.
    pub callback_url: &'a str,
}

impl MobileMoney {
    /// Sends the push. `Ok(status)` is what the provider said at once (usually pending).
    pub async fn request(&self, push: &Push<'_>) -> Result<PaymentStatus, ProviderError> {
        match self {
            MobileMoney::Mtn(momo) => {
                let reference_id = uuid(push.reference)?;
                momo.request_to_pay(&PayRequest {
                    reference_id,
                    amount: push.amount,
                    external_id: push.external_id,
                    payer_e164: push.payer.e164(),
                    payer_message: push.payer_message,
                    payee_note: push.payee_note,
                    callback_url: Some(push.callback_url),
                })
                .await?;
                Ok(PaymentStatus::Pending)
            }
            MobileMoney::Airtel(airtel) => {
                airtel
                    .collect(push.reference, push.external_id, push.amount, push.payer)
                    .await
            }
        }
    }

    /// Where the payment stands, from the provider's status API.
    pub async fn status(&self, reference: &str) -> Result<Report, ProviderError> {
        match self {
            MobileMoney::Mtn(momo) => {
                let payment = momo.status(uuid(reference)?).await?;
                Ok(Report {
                    status: payment.status,
                    amount: Some(payment.amount),
                })
            }
            MobileMoney::Airtel(airtel) => {
                let payment = airtel.status(reference).await?;
                // Airtel's enquiry carries no amount: the status alone decides.
                Ok(Report {
                    status: payment.status,
                    amount: None,
                })
            }
        }
    }

    /// The account holder's name, where the provider has a look-up. MTN's Collection API has none
    /// (only an "is active" check), so MTN payers' names stay unknown.
    pub async fn payer_name(&self, payer: &Phone) -> Option<String> {
        match self {
            MobileMoney::Mtn(_) => None,
            MobileMoney::Airtel(airtel) => match airtel.account_holder_name(payer).await {
                Ok(name) => name,
                Err(e) => {
                    tracing::info!(error = %e, "Airtel name look-up failed; payerName stays null");
                    None
                }
            },
        }
    }
}

fn uuid(reference: &str) -> Result<Uuid, ProviderError> {
    Uuid::parse_str(reference).map_err(|_| ProviderError::Protocol {
        provider: "mtn_momo",
        message: "MoMo references are UUIDs".to_owned(),
    })
}

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
    /// Dollr's invoice → session → execution, for the payer's mobile-money network.
    Dollr(Box<super::dollr::collect::DollrCollect>),
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
    /// The payer's name, where known (Dollr's party is made with it).
    pub payer_name: Option<&'a str>,
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
            MobileMoney::Dollr(dollr) => dollr.request(push).await,
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
            MobileMoney::Dollr(dollr) => dollr.status(reference).await,
        }
    }

    /// The account holder's name, where the provider has a look-up. MTN's Collection API has none
    /// (only an "is active" check), so MTN payers' names stay unknown.
    pub async fn payer_name(&self, payer: &Phone) -> Option<String> {
        match self {
            MobileMoney::Mtn(_) | MobileMoney::Dollr(_) => None,
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

/// The operation a push is recorded as, per rail.
pub fn push_operation(kind: &str) -> &'static str {
    match kind {
        "airtel_money" => "collect",
        "dollr" => "execute_collection",
        _ => "request_to_pay",
    }
}

fn uuid(reference: &str) -> Result<Uuid, ProviderError> {
    Uuid::parse_str(reference).map_err(|_| ProviderError::Protocol {
        provider: "mtn_momo",
        message: "MoMo references are UUIDs".to_owned(),
    })
}

/// A mobile-money account as the provider of an integrated collection: its one method,
/// `mobile_money`, pushes a payment prompt to the contact's phone (which must be on this account's
/// network, in a market paying in the collection's currency). The push is a payment attempt like any
/// other: polled until final, completing the collection when paid.
pub struct MobileMoneyRail {
    pub registry: super::Registry,
    pub account: super::Account,
    pub kind: &'static str,
    pub capabilities: super::Capabilities,
}

#[async_trait::async_trait]
impl super::PaymentProvider for MobileMoneyRail {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn capabilities(&self) -> super::Capabilities {
        self.capabilities
    }

    fn plan(&self, request: &super::OptionsRequest<'_>) -> Vec<super::PlannedCall> {
        if !request.methods.contains(&"mobile_money") {
            return Vec::new();
        }
        vec![super::PlannedCall {
            operation: push_operation(self.kind),
            provider_reference: Uuid::new_v4().to_string(),
            is_payment: true,
            spare: false,
        }]
    }

    async fn payment_options(
        &self,
        request: &super::OptionsRequest<'_>,
        plan: &[super::PlannedCall],
    ) -> Result<super::Offered, ProviderError> {
        // The hosted page is the link: its prompt pushes through this account.
        let link =
            request
                .methods
                .contains(&"payment_link")
                .then(|| super::PaymentOption::PaymentLink {
                    link: request.pay_url.to_owned(),
                    expires_at: request.expires_at,
                });
        let Some(call) = plan.first() else {
            return Ok(link.map(|l| vec![l]).unwrap_or_default().into());
        };
        let payer = Phone::parse(request.phone).map_err(|why| ProviderError::Rejected {
            provider: self.kind,
            message: format!("contact.phone {why}"),
        })?;
        let network = crate::domain::network::Network::detect(&payer);
        let market = network.as_ref().and_then(|n| n.market);
        // Dollr reaches every network Cowry knows (its own prediction picks the gateway).
        let reachable = network
            .as_ref()
            .and_then(|n| n.family)
            .is_some_and(|family| family.kind() == self.kind || self.kind == "dollr");
        let currency = request.amount.currency().code();
        let (Some(network), Some(market), true) = (&network, market, reachable) else {
            return Err(ProviderError::Rejected {
                provider: self.kind,
                message: format!(
                    "the contact's phone {} is not on a network {} reaches",
                    payer.e164(),
                    self.kind
                ),
            });
        };
        if market.currency != currency {
            return Err(ProviderError::Rejected {
                provider: self.kind,
                message: format!(
                    "a payer in {} pays in {}, not {currency}",
                    market.country, market.currency
                ),
            });
        }
        let adapter = self.registry.mobile_money(&self.account, market)?;
        let callback_url = self
            .registry
            .callback_url(&self.account, &call.provider_reference);
        let name = format!("{} {}", request.first_name, request.last_name);
        let status = adapter
            .request(&Push {
                reference: &call.provider_reference,
                external_id: request.reference,
                amount: request.amount,
                payer: &payer,
                payer_message: &format!("Payment {}", request.reference),
                payee_note: request.reference,
                payer_name: Some(&name),
                callback_url: &callback_url,
            })
            .await;
        match status {
            Ok(PaymentStatus::Failed { reason }) => Err(ProviderError::Rejected {
                provider: self.kind,
                message: reason,
            }),
            Err(e) if e.created_nothing() => Err(e),
            // A lost answer is resolved by the reconciliation poll, like a pending one.
            outcome => {
                let unconfirmed = match outcome {
                    Err(ProviderError::DuplicateReference { .. }) | Ok(_) => Vec::new(),
                    Err(_) => vec![call.provider_reference.clone()],
                };
                let mut options: Vec<super::PaymentOption> = link.into_iter().collect();
                options.push(super::PaymentOption::MobileMoney {
                    instructions: format!(
                        "Approve the payment prompt sent to {} ({}) to pay {} {}.",
                        payer.e164(),
                        network.code(),
                        currency,
                        request.amount.major_string()
                    ),
                    link: None,
                    expires_at: request.expires_at,
                });
                Ok(super::Offered {
                    options,
                    unconfirmed,
                    ..super::Offered::default()
                })
            }
        }
    }
}

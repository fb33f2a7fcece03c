//! Paystack as a source of payment options: one initialized transaction (its checkout link serves the
//! payment link, card, bank transfer and, in Ghana and Kenya, mobile money) and a dedicated virtual
//! account for Nigerian naira. Initialize moves no money and its link cannot be fetched again, so when
//! its answer is lost it is sent again under a spare reference planned (and stored) beforehand; the lost
//! one stays `unknown` and polled, so a payment on it is never missed.

use super::Paystack;
use crate::domain::ids::random_chars;
use crate::domain::money::Money;
use crate::providers::{
    Capabilities, Offered, OptionsRequest, PaymentOption, PaymentProvider, PlannedCall,
    ProviderError,
};

const INITIALIZE: &str = "initialize";
const DEDICATED_ACCOUNT: &str = "dedicated_account";

/// A Paystack-safe reference (letters, digits and `-`): `cwr-` and 26 random base-36 characters.
pub fn new_reference() -> String {
    format!(
        "cwr-{}",
        random_chars(26, b"0123456789abcdefghijklmnopqrstuvwxyz").collect::<String>()
    )
}

#[async_trait::async_trait]
impl PaymentProvider for Paystack {
    fn kind(&self) -> &'static str {
        super::NAME
    }

    fn capabilities(&self) -> Capabilities {
        super::CAPABILITIES
    }

    fn offered_methods(&self, methods: &[&'static str], amount: Money) -> Vec<&'static str> {
        let currency = amount.currency().code();
        methods
            .iter()
            .copied()
            .filter(|method| match *method {
                // Paystack's mobile money runs in Ghana and Kenya; dedicated accounts are Nigerian NUBANs.
                "mobile_money" => matches!(currency, "GHS" | "KES"),
                "virtual_account" => currency == "NGN",
                other => super::CAPABILITIES.methods.contains(&other),
            })
            .collect()
    }

    fn plan(&self, request: &OptionsRequest<'_>) -> Vec<PlannedCall> {
        let mut plan = Vec::new();
        if request.methods.iter().any(|m| *m != "virtual_account") {
            for spare in [false, true] {
                plan.push(PlannedCall {
                    operation: INITIALIZE,
                    provider_reference: new_reference(),
                    is_payment: true,
                    spare,
                });
            }
        }
        // A customer keeps one dedicated account: made once, then reused.
        if request.methods.contains(&"virtual_account") && request.dedicated.is_none() {
            plan.push(PlannedCall {
                operation: DEDICATED_ACCOUNT,
                provider_reference: new_reference(),
                is_payment: false,
                spare: false,
            });
        }
        plan
    }

    async fn payment_options(
        &self,
        request: &OptionsRequest<'_>,
        plan: &[PlannedCall],
    ) -> Result<Offered, ProviderError> {
        let planned = |operation: &str| {
            plan.iter()
                .find(|call| call.operation == operation && !call.spare)
        };
        let spare = plan
            .iter()
            .find(|call| call.operation == INITIALIZE && call.spare);
        let mut unconfirmed = Vec::new();
        let mut unused: Vec<String> = spare
            .map(|c| c.provider_reference.clone())
            .into_iter()
            .collect();
        let checkout = match planned(INITIALIZE) {
            Some(call) => {
                // A payment link offers every channel; otherwise only the ones asked for.
                let channels: Vec<&str> = if request.methods.contains(&"payment_link") {
                    Vec::new()
                } else {
                    request
                        .methods
                        .iter()
                        .map(|m| {
                            if *m == "bank_transfer" {
                                "bank_transfer"
                            } else {
                                m
                            }
                        })
                        .collect()
                };
                let first = self
                    .initialize(
                        request.email,
                        request.amount,
                        &call.provider_reference,
                        &channels,
                        Some(request.merchant_name),
                        None,
                    )
                    .await;
                match (first, spare) {
                    (Err(e), Some(spare)) if !e.created_nothing() => {
                        tracing::warn!(error = %e, "Paystack initialize answer lost; initializing again under the spare reference");
                        unconfirmed.push(call.provider_reference.clone());
                        unused.clear();
                        let second = self
                            .initialize(
                                request.email,
                                request.amount,
                                &spare.provider_reference,
                                &channels,
                                Some(request.merchant_name),
                                None,
                            )
                            .await;
                        if second.as_ref().is_err_and(|e| !e.created_nothing()) {
                            unconfirmed.push(spare.provider_reference.clone());
                        }
                        Some(second?)
                    }
                    (first, _) => Some(first?),
                }
            }
            None => None,
        };
        let made = match planned(DEDICATED_ACCOUNT) {
            Some(_) => Some(
                self.dedicated_account(
                    request.email,
                    request.first_name,
                    request.last_name,
                    request.phone,
                    self.preferred_bank(),
                )
                .await?,
            ),
            None => None,
        };
        let account = made.as_ref().or(request.dedicated);
        let expires_at = request.expires_at;
        let link = || {
            checkout
                .as_ref()
                .map(|c| c.authorization_url.clone())
                .unwrap_or_default()
        };
        let options = request
            .methods
            .iter()
            .filter_map(|method| match *method {
                "payment_link" => Some(PaymentOption::PaymentLink {
                    link: link(),
                    expires_at,
                }),
                "card" => Some(PaymentOption::Card {
                    link: link(),
                    expires_at,
                }),
                "bank_transfer" => Some(PaymentOption::BankTransfer {
                    bank_name: None,
                    account_number: None,
                    account_name: None,
                    link: Some(link()),
                    instructions: transfer_instructions(request.amount),
                    expires_at,
                }),
                "mobile_money" => Some(PaymentOption::MobileMoney {
                    instructions: mobile_money_instructions(request.amount),
                    link: Some(link()),
                    expires_at,
                }),
                "virtual_account" => account.map(|a| PaymentOption::VirtualAccount {
                    bank_name: a.bank_name.clone(),
                    account_number: a.account_number.clone(),
                    account_name: a.account_name.clone(),
                    expires_at,
                }),
                _ => None,
            })
            .collect();
        Ok(Offered {
            options,
            unconfirmed,
            unused,
            dedicated: made,
        })
    }
}

fn amount_text(amount: Money) -> String {
    format!("{} {}", amount.currency().code(), amount.major_string())
}

fn transfer_instructions(amount: Money) -> String {
    format!(
        "Open the link and choose Pay with Transfer to send exactly {}.",
        amount_text(amount)
    )
}

fn mobile_money_instructions(amount: Money) -> String {
    format!(
        "Open the link and choose Mobile Money to pay {}.",
        amount_text(amount)
    )
}

/// Points a collection's checkout options (`payable.options`) at a new checkout for `amount` (what is
/// still owed after a short transfer); the virtual account stays as it was.
pub fn relink(options: &mut serde_json::Value, link: &str, amount: Money) {
    let Some(options) = options.as_array_mut() else {
        return;
    };
    for option in options {
        match option["method"].as_str() {
            Some("payment_link" | "card") => option["link"] = link.into(),
            Some("bank_transfer") => {
                option["link"] = link.into();
                option["instructions"] = transfer_instructions(amount).into();
            }
            Some("mobile_money") => {
                option["link"] = link.into();
                option["instructions"] = mobile_money_instructions(amount).into();
            }
            _ => {}
        }
    }
}

//! The built-in `sandbox` provider: deterministic payment options computed from the collection itself,
//! with no outside call, so test mode and the README walk-through work on any machine.

use super::{Capabilities, OptionsRequest, PaymentOption, PaymentProvider, ProviderError};
use crate::domain::collection::METHODS;
use crate::domain::nuban;

pub const BANK_NAME: &str = "Cowry Sandbox Bank";
/// CBN-style three-digit code of the sandbox bank, used for the NUBAN check digit.
pub const BANK_CODE: &str = "999";

/// Offers every method in every known currency and calls nobody.
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    methods: &METHODS,
    currencies: &[],
    countries: &[],
    mandates: false,
    signed_callbacks: false,
    amount_unit: super::AmountUnit::Minor,
};

pub struct Sandbox {
    serials: crate::store::virtual_accounts::SandboxSerials,
}

impl Sandbox {
    pub fn new(serials: crate::store::virtual_accounts::SandboxSerials) -> Sandbox {
        Sandbox { serials }
    }

    /// A new account number at the sandbox bank: a 9-digit serial no other collection has had (of any
    /// merchant), plus the NUBAN check digit, so a transfer into it is credited to one collection only.
    async fn account_number(&self) -> Result<String, ProviderError> {
        let serial = self
            .serials
            .next()
            .await
            .map_err(|e| ProviderError::Unavailable {
                provider: "sandbox",
                message: format!("no account number could be allocated: {e}"),
            })?;
        Ok(nuban::account_number(BANK_CODE, &format!("{serial:09}"))
            .expect("9 digits and a 3-digit code"))
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Sandbox {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn payment_options(
        &self,
        request: &OptionsRequest<'_>,
        _plan: &[super::PlannedCall],
    ) -> Result<super::Offered, ProviderError> {
        let expires_at = request.expires_at;
        // The link is Cowry's own hosted page, where test mode offers Pay and Decline.
        let link = request.pay_url.to_owned();
        let account_name = format!("{} {}", request.first_name, request.last_name);
        let amount = format!(
            "{} {}",
            request.amount.currency().code(),
            request.amount.major_string()
        );
        let account_number = if request
            .methods
            .iter()
            .any(|m| matches!(*m, "virtual_account" | "bank_transfer"))
        {
            self.account_number().await?
        } else {
            String::new()
        };
        let options = request
            .methods
            .iter()
            .map(|method| match *method {
                "payment_link" => Ok(PaymentOption::PaymentLink { link: link.clone(), expires_at }),
                "virtual_account" => Ok(PaymentOption::VirtualAccount {
                    bank_name: BANK_NAME.to_owned(),
                    account_number: account_number.clone(),
                    account_name: account_name.clone(),
                    expires_at,
                }),
                "mobile_money" => Ok(PaymentOption::MobileMoney {
                    instructions: format!(
                        "Approve the {amount} request sent to {} on your mobile money wallet, quoting {}.",
                        request.phone, request.reference
                    ),
                    link: None,
                    expires_at,
                }),
                "card" => Ok(PaymentOption::Card { link: format!("{link}?channel=card"), expires_at }),
                "bank_transfer" => Ok(PaymentOption::BankTransfer {
                    bank_name: Some(BANK_NAME.to_owned()),
                    account_number: Some(account_number.clone()),
                    account_name: Some(account_name.clone()),
                    link: None,
                    instructions: format!("Transfer exactly {amount} to the account above before it expires."),
                    expires_at,
                }),
                other => Err(ProviderError::Unsupported { provider: "sandbox", what: format!("method {other}") }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(options.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{currency::Currency, money::Money};
    use chrono::{TimeZone, Utc};

    fn request<'a>(methods: &'a [&'static str]) -> OptionsRequest<'a> {
        OptionsRequest {
            merchant_name: "Acme",
            reference: "PSK_txn_8a7f34",
            amount: Money::from_minor(4_500_000, Currency::parse("NGN").unwrap()),
            methods,
            first_name: "Amina",
            last_name: "Lawal",
            email: "amina@example.com",
            phone: "+2348012345678",
            expires_at: Utc.with_ymd_and_hms(2025, 11, 14, 17, 46, 7).unwrap(),
            dedicated: None,
            pay_url: "http://localhost:8080/pay/pt_token",
        }
    }

    fn sandbox() -> Sandbox {
        Sandbox::new(crate::store::virtual_accounts::SandboxSerials::in_memory())
    }

    #[tokio::test]
    async fn options_point_at_the_hosted_page_and_a_fresh_account() {
        let sandbox = sandbox();
        let methods = ["payment_link", "virtual_account", "bank_transfer"];
        let options = sandbox
            .payment_options(&request(&methods), &[])
            .await
            .unwrap()
            .options;
        let again = sandbox
            .payment_options(&request(&methods), &[])
            .await
            .unwrap()
            .options;
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(json[0]["method"], "payment_link");
        assert_eq!(json[0]["link"], "http://localhost:8080/pay/pt_token");
        assert_eq!(json[1]["method"], "virtual_account");
        assert_eq!(json[1]["accountName"], "Amina Lawal");
        assert_eq!(json[1]["expiresAt"], "2025-11-14T17:46:07.000Z");
        let account = json[1]["accountNumber"].as_str().unwrap();
        assert!(nuban::is_valid(BANK_CODE, account), "{account}");
        // One number per collection (its transfer option shows the same), never given out twice.
        assert_eq!(json[2]["accountNumber"], account);
        let second = serde_json::to_value(&again).unwrap();
        assert_ne!(second[1]["accountNumber"], account);
    }

    #[tokio::test]
    async fn every_method_yields_an_option() {
        let options = sandbox()
            .payment_options(&request(&METHODS), &[])
            .await
            .unwrap()
            .options;
        assert_eq!(options.len(), METHODS.len());
    }
}

//! Payment providers behind one trait. A merchant's providers list maps the slug a request names to the
//! kind of adapter that serves it; the registry connects an adapter to the merchant's account.

pub mod accounts;
pub mod airtel_money;
pub mod dollr;
pub mod guard;
pub mod http;
pub mod mobile_money;
pub mod mona;
pub mod mtn_momo;
pub mod paystack;
pub mod registry;
pub mod sandbox;
pub mod tokens;

pub use registry::{Account, Registry};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::money::Money;
use crate::domain::time;

/// What Cowry asks a provider for when a collection is created with `payable.enabled`.
#[derive(Debug, Clone)]
pub struct OptionsRequest<'a> {
    /// The merchant's business name, for checkouts that show it.
    pub merchant_name: &'a str,
    pub reference: &'a str,
    pub amount: Money,
    pub methods: &'a [&'static str],
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub expires_at: DateTime<Utc>,
    /// The customer's dedicated account at this provider account, made for an earlier collection:
    /// reused, never made again.
    pub dedicated: Option<&'a DedicatedAccount>,
    /// The collection's hosted payment page (`{COWRY_PUBLIC_URL}/pay/{token}`).
    pub pay_url: &'a str,
}

/// A customer's dedicated virtual account (Paystack keeps one per customer).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DedicatedAccount {
    pub customer_code: Option<String>,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
}

/// One way for the customer to pay, as shown in `data.payable.options`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "method",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum PaymentOption {
    PaymentLink {
        link: String,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
    VirtualAccount {
        bank_name: String,
        account_number: String,
        account_name: String,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
    MobileMoney {
        instructions: String,
        /// Where to pay, when the provider hosts the mobile-money step.
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<String>,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
    Card {
        link: String,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
    BankTransfer {
        /// Account details when the provider gives them up front; otherwise the `link` shows them.
        #[serde(skip_serializing_if = "Option::is_none")]
        bank_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_number: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<String>,
        instructions: String,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
}

/// What an adapter can do, declared so unsupported requests are refused before any call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Payable methods it can offer (integrated collections).
    pub methods: &'static [&'static str],
    /// ISO 4217 codes; empty means any currency Cowry knows.
    pub currencies: &'static [&'static str],
    /// ISO 3166 alpha-2 markets; empty means not tied to a market.
    pub countries: &'static [&'static str],
    /// Whether it runs debit mandates (recurring collections).
    pub mandates: bool,
    /// Whether its callbacks can be verified cryptographically (else they are hints to check).
    pub signed_callbacks: bool,
    /// The unit amounts travel in on its wire; Cowry converts at the adapter's edge.
    pub amount_unit: AmountUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AmountUnit {
    /// Integer smallest units (kobo, pesewas, cents).
    Minor,
    /// Main units, decimals allowed.
    Major,
}

/// Every adapter kind's declared capabilities.
pub fn capabilities(kind: &str) -> Option<Capabilities> {
    Some(match kind {
        "sandbox" => sandbox::CAPABILITIES,
        "paystack" => paystack::CAPABILITIES,
        "mtn_momo" => mtn_momo::CAPABILITIES,
        "airtel_money" => airtel_money::CAPABILITIES,
        "mona" => mona::CAPABILITIES,
        "dollr" => dollr::CAPABILITIES,
        _ => return None,
    })
}

pub use crate::domain::settlement::PaymentStatus;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} does not support {what}")]
    Unsupported {
        provider: &'static str,
        what: String,
    },
    #[error("{provider} refused the credentials")]
    BadCredentials { provider: &'static str },
    /// The provider rejected the data it was sent; a short, cleaned form of its message is shown to the
    /// merchant (never a remote service's raw text).
    #[error("{provider} rejected the request: {}", short(.message))]
    Rejected {
        provider: &'static str,
        message: String,
    },
    /// The reference was used before: the earlier call went through, so ask for its status.
    #[error("{provider} already has a transaction with this reference")]
    DuplicateReference { provider: &'static str },
    #[error("{provider} has no such transaction")]
    NotFound { provider: &'static str },
    #[error("{provider} is rate limiting; retry after {retry_after_secs:?} s")]
    RateLimited {
        provider: &'static str,
        retry_after_secs: Option<u64>,
    },
    #[error("{provider} is unavailable: {message}")]
    Unavailable {
        provider: &'static str,
        message: String,
    },
    /// The call may or may not have happened (answer lost); resolve by a status query.
    #[error(
        "{provider} did not answer ({message}); the outcome is unknown until its status is checked"
    )]
    Unknown {
        provider: &'static str,
        message: String,
    },
    /// The provider answered something its documented contract does not allow. `message` (the parser's
    /// words) is for logs and the attempt's record; the merchant is told only that the reply was
    /// unreadable.
    #[error("{provider} sent a reply Cowry could not read")]
    Protocol {
        provider: &'static str,
        message: String,
    },
}

/// A remote message as Cowry repeats it: printable characters only, whitespace collapsed, at most 120
/// characters.
pub fn short(message: &str) -> String {
    let cleaned: String = message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    match cleaned.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &cleaned[..cut]),
        None => cleaned,
    }
}

impl ProviderError {
    /// Whether a failed call that could have created a payment proves that it did not: only a
    /// connection that was never made or a definite refusal does. A lost answer, a 5xx, an unreadable
    /// success, or "that reference exists" leave a payment that may be (or is) there: the caller keeps
    /// it `unknown` and asks the provider.
    /// The full story for logs and an attempt's record (a protocol error's parser detail included),
    /// where `Display` is what a merchant may read.
    pub fn detail(&self) -> String {
        match self {
            ProviderError::Protocol { provider, message } => {
                format!("{provider} sent an unreadable reply: {message}")
            }
            other => other.to_string(),
        }
    }

    pub fn created_nothing(&self) -> bool {
        !matches!(
            self,
            ProviderError::Unknown { .. }
                | ProviderError::Protocol { .. }
                | ProviderError::DuplicateReference { .. }
        )
    }
}

/// A call an adapter will make for a request, named before it is made so that its reference can be
/// stored first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall {
    pub operation: &'static str,
    pub provider_reference: String,
    /// Whether the reference names a payment whose status the provider can be asked for (then it is
    /// reconciled by polling); a virtual account, say, is not one.
    pub is_payment: bool,
    /// A reference held in reserve for a second try of a call that moves no money (Paystack's
    /// initialize), used only when the first try's answer is lost; an unused spare is discarded.
    pub spare: bool,
}

/// What `payment_options` came to: the options, and what became of the planned references.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Offered {
    pub options: Vec<PaymentOption>,
    /// References whose call's answer was lost: the payment may exist, so they are polled (`unknown`).
    pub unconfirmed: Vec<String>,
    /// Planned references never sent (unused spares).
    pub unused: Vec<String>,
    /// A dedicated account made by this call, for the caller to keep for the customer's next collection.
    pub dedicated: Option<DedicatedAccount>,
}

impl From<Vec<PaymentOption>> for Offered {
    fn from(options: Vec<PaymentOption>) -> Offered {
        Offered {
            options,
            ..Offered::default()
        }
    }
}

#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The adapter kind, e.g. `sandbox`.
    fn kind(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// Which of the requested methods this provider offers for `amount`'s currency; the others are
    /// left out of the collection (as the document's example response shows).
    fn offered_methods(&self, methods: &[&'static str], amount: Money) -> Vec<&'static str> {
        let _ = amount;
        let supported = self.capabilities().methods;
        methods
            .iter()
            .copied()
            .filter(|m| supported.contains(m))
            .collect()
    }
    /// The provider calls `payment_options` will make, each with a fresh reference. The caller stores
    /// them before calling `payment_options`. Providers that call nobody plan nothing.
    fn plan(&self, request: &OptionsRequest<'_>) -> Vec<PlannedCall> {
        let _ = request;
        Vec::new()
    }
    /// Generates the payment options for a new collection, one per offered method.
    async fn payment_options(
        &self,
        request: &OptionsRequest<'_>,
        plan: &[PlannedCall],
    ) -> Result<Offered, ProviderError>;
}

/// The providers list a new test-mode merchant starts with: (slug, kind). Test accounts without
/// credentials talk to the emulators, so the document's example (`"provider": "paystack"`) works.
pub const DEFAULT_TEST_PROVIDERS: &[(&str, &str)] = &[
    ("sandbox", "sandbox"),
    ("paystack", "paystack"),
    ("mona", "mona"),
    ("mtn_momo", "mtn_momo"),
    ("airtel_money", "airtel_money"),
    ("dollr", "dollr"),
];
pub const DEFAULT_PROVIDER: &str = "sandbox";

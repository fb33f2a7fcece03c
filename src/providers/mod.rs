//! Payment providers behind one trait. A merchant's providers list maps the slug a request names to the
//! kind of adapter that serves it; the registry holds one adapter per kind.

pub mod sandbox;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::money::Money;
use crate::domain::time;

/// What Cowry asks a provider for when a collection is created with `payable.enabled`.
#[derive(Debug, Clone)]
pub struct OptionsRequest<'a> {
    pub reference: &'a str,
    pub amount: Money,
    pub methods: &'a [&'static str],
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub expires_at: DateTime<Utc>,
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
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
    Card {
        link: String,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
    BankTransfer {
        bank_name: String,
        account_number: String,
        account_name: String,
        instructions: String,
        #[serde(serialize_with = "time::serialize")]
        expires_at: DateTime<Utc>,
    },
}

/// What an adapter can do, declared so unsupported requests are refused before any call.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub methods: &'static [&'static str],
    /// ISO 4217 codes; empty means any currency Cowry knows.
    pub currencies: &'static [&'static str],
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} does not support {what}")]
    Unsupported {
        provider: &'static str,
        what: String,
    },
    #[error("{provider} is unavailable: {message}")]
    Unavailable {
        provider: &'static str,
        message: String,
    },
}

#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The adapter kind, e.g. `sandbox`.
    fn kind(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// Generates the payment options for a new collection, one per requested method.
    async fn payment_options(
        &self,
        request: &OptionsRequest<'_>,
    ) -> Result<Vec<PaymentOption>, ProviderError>;
}

/// Adapters by kind.
#[derive(Clone, Default)]
pub struct Registry {
    by_kind: HashMap<&'static str, Arc<dyn PaymentProvider>>,
}

impl Registry {
    pub fn new(public_url: &str) -> Registry {
        let mut registry = Registry::default();
        registry.add(Arc::new(sandbox::Sandbox::new(public_url)));
        registry
    }

    pub fn add(&mut self, provider: Arc<dyn PaymentProvider>) {
        self.by_kind.insert(provider.kind(), provider);
    }

    pub fn get(&self, kind: &str) -> Option<Arc<dyn PaymentProvider>> {
        self.by_kind.get(kind).cloned()
    }
}

/// The providers list a new test-mode merchant starts with: (slug, kind). `paystack` is served by the
/// sandbox until the Paystack adapter lands, so the document's example (`"provider": "paystack"`) works.
pub const DEFAULT_TEST_PROVIDERS: &[(&str, &str)] =
    &[("sandbox", "sandbox"), ("paystack", "sandbox")];
pub const DEFAULT_PROVIDER: &str = "sandbox";

//! The OpenAPI 3 document, generated from the handlers' annotations and the view types.

use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::collections::view::{
    AmountView, CollectionView, ContactView, EventView, ListEnvelope, Pagination,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Cowry", description = "Multi-provider payment collections server"),
    paths(
        super::collections::create::create, super::collections::list, super::collections::fetch,
        super::collections::cancel, super::collections::events,
        super::collect::create::create, super::collect::list, super::collect::fetch, super::collect::events,
        super::webhooks::receive, super::webhooks::receive_for_account, super::admin_attempts::list, super::admin_attempts::recheck,
        super::admin_jobs::list, super::admin_jobs::retry, super::admin_jobs::run_check,
        super::api_keys::roll, super::admin::set_rate_limit, super::admin::audit,
        super::providers::list, super::providers::create, super::providers::remove,
        super::admin::create_merchant, super::admin::revoke_key,
        super::health::healthz, super::health::readyz, super::health::metrics,
    ),
    components(schemas(
        CollectionView, ContactView, AmountView, EventView, ListEnvelope, Pagination,
        CreateCollectionRequest, crate::error::ErrorBody, crate::error::ErrorDetail,
        crate::domain::validate::FieldError, super::admin::CreatedMerchantView, super::admin::CreateMerchantRequest,
        CollectionStatus, CollectionType, super::providers::ProviderView,
        crate::providers::Capabilities, crate::providers::AmountUnit,
        super::admin_attempts::AttemptView, super::admin_attempts::AttemptList,
        super::admin_jobs::JobView, super::admin_jobs::JobList, super::api_keys::RolledKey, super::admin::RateLimitView, super::admin::AuditEntryView, super::admin::AuditList, crate::store::check::Report, crate::store::check::Finding,
        CollectRequest, super::collect::view::CollectView, super::collect::view::CollectList, super::collect::view::CollectEventView,
    )),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `POST /collections` body (integrated). Documentation only: the handler validates the raw JSON so it
/// can report every bad field at once.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateCollectionRequest {
    /// "integrated" (the default).
    #[serde(rename = "type")]
    #[schema(example = "integrated", pattern = "^integrated$")]
    kind: Option<String>,
    /// Unique within your account; letters, digits and - _ . = : (at most 100).
    #[schema(
        example = "PSK_txn_8a7f34",
        min_length = 1,
        max_length = 100,
        pattern = "^[A-Za-z0-9_.=:-]+$"
    )]
    reference: String,
    amount: AmountRequest,
    contact: ContactRequest,
    /// Object or array of objects; each must carry `description`.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// Minutes until the collection expires: 1 to 525600, default 1440.
    #[schema(example = 1440, minimum = 1, maximum = 525600)]
    expires_in: Option<i64>,
    payable: Option<PayableRequest>,
    /// Slug from your providers list; default: your default provider.
    #[schema(example = "paystack", min_length = 1, max_length = 64)]
    provider: Option<String>,
    follow_up: Option<FollowUpRequest>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AmountRequest {
    /// Major units (45000 = ₦45,000.00), at most as many decimals as the currency has.
    #[schema(value_type = f64, example = 45000, exclusive_minimum = 0)]
    value: serde_json::Number,
    /// ISO 4217, e.g. NGN, GHS, KES, UGX, USD.
    #[schema(
        example = "NGN",
        pattern = "^(NGN|GHS|KES|UGX|RWF|TZS|ZAR|ZMW|XOF|XAF|EGP|MAD|ETB|MWK|CDF|BWP|GNF|BIF|SLE|MZN|USD|EUR|GBP)$"
    )]
    currency: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ContactRequest {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S", example = "Amina")]
    first_name: String,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S", example = "Lawal")]
    last_name: String,
    /// E.164 with country code; must be a valid number for its country.
    #[schema(example = "+2348012345678", pattern = "^\\+[0-9]{7,15}$")]
    phone: String,
    #[schema(format = Email, max_length = 254, example = "amina.lawal@example.com")]
    email: String,
}

/// Collection states, for the `status` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CollectionStatus {
    Pending,
    Overdue,
    Completed,
    Cancelled,
    Expired,
}

/// Collection types, for the `type` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CollectionType {
    Integrated,
    Scheduled,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PayableRequest {
    /// Default false.
    enabled: Option<bool>,
    /// payment_link, virtual_account, mobile_money, card, bank_transfer.
    methods: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct FollowUpRequest {
    enabled: Option<bool>,
    /// Minutes before the first follow-up (default 0).
    start_after: Option<i64>,
    /// every_5m … every_12h, daily (default daily).
    cadence: Option<String>,
    /// whatsapp, sms, email.
    channels: Option<Vec<String>>,
    /// gentle, professional (default), urgent.
    tone: Option<String>,
}

/// `POST /collections/collect` body (mobile money). Documentation only, as above.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CollectRequest {
    /// The payer's number with its country code (E.164), e.g. `+256706859041`.
    #[schema(example = "+256706859041")]
    phone: String,
    /// Major units, greater than 0; whole units for zero-decimal currencies (UGX, RWF).
    #[schema(value_type = f64, example = 500)]
    amount: serde_json::Number,
    /// Optional; must be the payer's country's currency (UGX for +256).
    currency: Option<String>,
    /// Your reference; unique per merchant when given.
    #[schema(max_length = 100)]
    external_id: Option<String>,
    #[schema(max_length = 160)]
    payer_message: Option<String>,
    #[schema(max_length = 160)]
    payee_note: Option<String>,
    /// A provider slug from your list; by default the payer's network picks the account.
    provider: Option<String>,
}

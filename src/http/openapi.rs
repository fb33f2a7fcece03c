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
        super::collections::create, super::collections::list, super::collections::fetch,
        super::collections::cancel, super::collections::events,
        super::admin::create_merchant, super::admin::revoke_key,
        super::health::healthz, super::health::readyz,
    ),
    components(schemas(
        CollectionView, ContactView, AmountView, EventView, ListEnvelope, Pagination,
        CreateCollectionRequest, crate::error::ErrorBody, crate::error::ErrorDetail,
        crate::domain::validate::FieldError, super::admin::CreatedMerchantView,
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
    #[schema(example = "integrated")]
    kind: Option<String>,
    /// Unique within your account; letters, digits and - _ . = : (at most 100).
    #[schema(example = "PSK_txn_8a7f34")]
    reference: String,
    amount: AmountRequest,
    contact: ContactRequest,
    /// Object or array of objects; each must carry `description`.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// Minutes until the collection expires: 1 to 525600, default 1440.
    #[schema(example = 1440)]
    expires_in: Option<i64>,
    payable: Option<PayableRequest>,
    /// Slug from your providers list; default: your default provider.
    #[schema(example = "paystack")]
    provider: Option<String>,
    follow_up: Option<FollowUpRequest>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AmountRequest {
    /// Major units (45000 = ₦45,000.00), at most as many decimals as the currency has.
    #[schema(value_type = f64, example = 45000)]
    value: serde_json::Number,
    /// ISO 4217, e.g. NGN, GHS, KES, UGX, USD.
    #[schema(example = "NGN")]
    currency: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ContactRequest {
    first_name: String,
    last_name: String,
    /// E.164 with country code.
    #[schema(example = "+2348012345678")]
    phone: String,
    email: String,
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

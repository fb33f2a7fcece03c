//! The OpenAPI 3 document, generated from the handlers' annotations and the view types.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::collections::view::{
    AmountView, CollectionView, ContactView, EventView, ListEnvelope, Pagination,
};

mod accounts;
mod events;
mod requests;
mod scheduled;

use crate::AppState;
pub use accounts::ProviderRequest;
pub use events::{EventPayload, EventType};
pub use requests::{
    AttemptStatus, CollectRequest, CollectStatus, CollectionStatus, CollectionType,
    CreateCollectionRequest, CreateMerchantRequest, DeliveryStatus, EndpointChange,
    EndpointRequest, JobStatus, MetadataRequest, RateLimitRequest, ReplayRequest, RollKeyRequest,
    SandboxTransferRequest,
};
pub use scheduled::{CollectionAnswer, CreateRequest, DebitRequest, ScheduledCollectionRequest};

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Cowry", description = "Multi-provider payment collections server"),
    paths(
        super::collections::create::create, super::collections::list, super::collections::fetch,
        super::collections::cancel, super::collections::events, super::collections::debit,
        super::collect::create::create, super::collect::list, super::collect::fetch, super::collect::events,
        super::webhooks::receive, super::webhooks::receive_for_account, super::admin_attempts::list, super::admin_attempts::recheck,
        super::admin_jobs::list, super::admin_jobs::retry, super::admin_jobs::run_check,
        super::api_keys::roll, super::admin::set_rate_limit, super::admin::audit,
        super::providers::list, super::providers::create, super::providers::remove,
        super::admin::create_merchant, super::admin::revoke_key,
        super::health::healthz, super::health::readyz, super::health::metrics,
        super::events::list, super::events::fetch,
        super::webhook_endpoints::create, super::webhook_endpoints::list, super::webhook_endpoints::fetch,
        super::webhook_endpoints::update, super::webhook_endpoints::remove,
        super::webhook_endpoints::rotate_secret, super::webhook_endpoints::test,
        super::webhook_endpoints::deliveries, super::webhook_endpoints::retry,
        super::webhook_endpoints::replay, super::admin::failing_endpoints,
        super::followups::messages, super::followups::opt_out, super::followups::opt_in,
        super::channels::list, super::channels::fetch, super::channels::put, super::channels::remove,
        super::contacts::list, super::contacts::fetch, super::contacts::update,
        super::sandbox::send, super::collections::prompt::prompt,
    ),
    components(schemas(
        CollectionView, ContactView, AmountView, super::collections::prompt::PromptView, EventView, ListEnvelope, Pagination,
        CreateCollectionRequest, SandboxTransferRequest, crate::error::ErrorBody, crate::error::ErrorDetail,
        crate::domain::validate::FieldError, super::admin::CreatedMerchantView, CreateMerchantRequest, RollKeyRequest, RateLimitRequest, ProviderRequest,
        CollectionStatus, CollectionType, CollectStatus, AttemptStatus, JobStatus, super::providers::ProviderView,
        crate::providers::Capabilities, crate::providers::AmountUnit,
        super::admin_attempts::AttemptView, super::admin_attempts::AttemptList,
        super::admin_jobs::JobView, super::admin_jobs::JobList, super::api_keys::RolledKey, super::admin::RateLimitView, super::admin::AuditEntryView, super::admin::AuditList, crate::store::check::Report, crate::store::check::Finding,
        EventPayload, EventType, EndpointRequest, EndpointChange, ReplayRequest, DeliveryStatus,
        super::webhook_endpoints::EndpointView, super::webhook_endpoints::PingResult,
        super::webhook_endpoints::DeliveryView, super::webhook_endpoints::DeliveryAttemptView, super::webhook_endpoints::ReplayResult, super::admin::FailingEndpointView, super::admin::FailingEndpointList, super::events::EventList, super::events::StreamPosition,
        CreateRequest, CollectionAnswer, ScheduledCollectionRequest, DebitRequest, scheduled::ScheduleRequest, scheduled::EntryRequest,
        crate::http::scheduled::view::ScheduledView, crate::http::scheduled::view::MandateView,
        crate::http::scheduled::debit::DebitView, super::collections::view::ListItem,
        super::followups::MessageView, super::followups::OptOutView, super::channels::ChannelView,
        super::contacts::ContactDetails, super::contacts::HistoryItem, super::contacts::ContactList,
        CollectRequest, super::collect::view::CollectView, super::collect::view::CollectList, super::collect::view::CollectEventView,
    )),
    modifiers(&Security, &CommonAnswers),
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

/// Answers any route can give besides its own, added to every operation they apply to, so the
/// document lists every status Cowry can answer (the schemathesis run in CI holds it to that).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |why: &str| {
            ResponseBuilder::new()
                .description(why)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let json_body = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                let takes_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                    || operation.request_body.is_some();
                let mut add = |status: &str, why: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(why).into());
                };
                if takes_input {
                    add(
                        "400",
                        "The request cannot be read (malformed query, JSON or header)",
                    );
                }
                if authenticated {
                    add("401", "Missing, unknown, revoked or expired credentials");
                    add(
                        "429",
                        "Over the rate limit (see Retry-After and RateLimit-*)",
                    );
                }
                if path.starts_with("/webhooks") {
                    add(
                        "429",
                        "Too many deliveries from this address failed verification",
                    );
                }
                if operation.request_body.is_some() {
                    add("413", "The body is over its size limit");
                }
                if json_body {
                    add("415", "The body is not application/json");
                }
                add(
                    "408",
                    "The request took longer than COWRY_REQUEST_TIMEOUT_SECS",
                );
            }
        }
    }
}

//! `/providers`: the merchant's providers list. Credentials are write-only: encrypted before they are
//! stored, never returned, never logged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::collections::view::Envelope;
use super::extract::{JsonBody, Merchant};
use crate::domain::provider_account;
use crate::domain::time;
use crate::error::{ApiError, ApiResult};
use crate::store::providers::{self as store, NewProviderRow, ProviderRow, Removal};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/providers", get(list).post(create))
        .route("/providers/{slug}", delete(remove))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    #[schema(example = "paystack")]
    pub slug: String,
    /// The adapter behind the slug: sandbox, paystack, mtn_momo.
    #[schema(example = "paystack")]
    pub kind: String,
    /// test (emulators unless credentials say otherwise) or live.
    pub mode: String,
    pub base_url: Option<String>,
    /// Whether credentials are stored (they are never returned).
    pub has_credentials: bool,
    /// Where this account's provider should send its callbacks (set it in the provider's dashboard):
    /// the account gives the verification key and the de-duplication scope.
    #[schema(example = "https://cowry.example.com/webhooks/paystack/acct_5f0c…")]
    pub callback_url: Option<String>,
    /// Used when a collection names no provider.
    pub is_default: bool,
    /// What the adapter behind this account can do.
    pub capabilities: Option<crate::providers::Capabilities>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl ProviderView {
    fn new(row: ProviderRow, public_url: &str) -> ProviderView {
        let callbacks = ["paystack", "mtn_momo", "airtel_money"].contains(&row.kind.as_str());
        ProviderView {
            callback_url: callbacks.then(|| {
                let path =
                    crate::providers::registry::account_callback_path(&row.kind, Some(&row.id));
                format!("{}{path}", public_url.trim_end_matches('/'))
            }),
            capabilities: crate::providers::capabilities(&row.kind),
            slug: row.slug,
            kind: row.kind,
            mode: row.mode,
            base_url: row.base_url,
            has_credentials: row.has_credentials,
            is_default: row.is_default,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The merchant's providers list.
#[utoipa::path(get, path = "/providers", tag = "providers",
    responses((status = 200, body = Envelope<Vec<ProviderView>>), (status = 401, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
) -> ApiResult<Json<Envelope<Vec<ProviderView>>>> {
    let rows = store::list(&state.pool, &merchant.merchant_id).await?;
    Ok(Json(Envelope::new(
        "Providers retrieved successfully",
        rows.into_iter()
            .map(|row| ProviderView::new(row, &state.config.public_url))
            .collect(),
    )))
}

/// Add a provider account. Credentials are encrypted with `COWRY_ENCRYPTION_KEY` before they are stored.
#[utoipa::path(post, path = "/providers", tag = "providers",
    request_body(content = crate::http::openapi::ProviderRequest),
    responses(
        (status = 201, body = Envelope<ProviderView>),
        (status = 401, body = crate::error::ErrorBody),
        (status = 409, description = "The slug is taken", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
        (status = 503, description = "Credentials given but no encryption key configured", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Envelope<ProviderView>>)> {
    let account =
        provider_account::parse(&body.value, &merchant.mode).map_err(ApiError::Validation)?;
    let sealed_credentials = match &account.credentials {
        None => None,
        Some(credentials) => {
            let Some(key) = &state.config.encryption_key else {
                return Err(ApiError::Unavailable(
                    "credentials cannot be stored: the server has no COWRY_ENCRYPTION_KEY"
                        .to_owned(),
                ));
            };
            let associated = format!("{}/{}", merchant.merchant_id, account.slug);
            Some(key.seal(credentials.to_string().as_bytes(), associated.as_bytes()))
        }
    };
    let new = NewProviderRow {
        slug: &account.slug,
        kind: account.kind,
        mode: account.mode,
        base_url: account.base_url.as_deref(),
        sealed_credentials,
    };
    let row = store::insert(&state.pool, &merchant.merchant_id, &new)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            code: "provider_exists",
            message: format!("your providers list already has {}", account.slug),
        })?;
    state.forget_merchant(&merchant.merchant_id);
    crate::store::audit::record(
        &state.pool,
        crate::store::audit::Actor::Merchant {
            key_id: &merchant.key_id,
        },
        "provider_account.added",
        Some(&merchant.merchant_id),
        Some(&row.slug),
        &serde_json::json!({"kind": row.kind, "mode": row.mode, "hasCredentials": row.has_credentials}),
    )
    .await?;
    tracing::info!(slug = %row.slug, kind = %row.kind, mode = %row.mode, "provider account added");
    Ok((
        StatusCode::CREATED,
        Json(Envelope::new(
            "Provider added successfully",
            ProviderView::new(row, &state.config.public_url),
        )),
    ))
}

/// Remove a provider account (not the default one).
#[utoipa::path(delete, path = "/providers/{slug}", tag = "providers",
    params(("slug" = String, Path)),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "The default provider, or one with payments still open, cannot be removed", body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    if slug.len() > 40 || slug.chars().any(char::is_control) {
        return Err(ApiError::NotFound("no provider with this slug".to_owned()));
    }
    match store::delete(&state.pool, &merchant.merchant_id, &slug).await? {
        Removal::Removed => {
            state.forget_merchant(&merchant.merchant_id);
            crate::store::audit::record(
                &state.pool,
                crate::store::audit::Actor::Merchant {
                    key_id: &merchant.key_id,
                },
                "provider_account.removed",
                Some(&merchant.merchant_id),
                Some(&slug),
                &serde_json::json!({}),
            )
            .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Removal::NotFound => Err(ApiError::NotFound("no provider with this slug".to_owned())),
        Removal::IsDefault => Err(ApiError::Conflict {
            code: "default_provider",
            message: format!("{slug} is your default provider and cannot be removed"),
        }),
        Removal::HasOpenPayments(n) => Err(ApiError::Conflict {
            code: "provider_has_open_payments",
            message: format!(
                "{slug} has {n} payment attempt(s) not yet final at the provider; it can be removed once they are settled"
            ),
        }),
    }
}

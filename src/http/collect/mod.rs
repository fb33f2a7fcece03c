//! `/collections/collect`: mobile-money collect, as `spec/mobile-money-collect.txt`. The payer's
//! number picks the market (currency) and the network (adapter); `create` writes the collect, its
//! attempt and its reconciliation poll before the push, so no push is lost and none is sent twice.

pub mod create;
pub mod view;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use self::view::{CollectEnvelope, CollectEventView, CollectList, CollectView};
use super::extract::Merchant;
use super::listing;
use crate::domain::collect::NewCollect;
use crate::domain::phone::Phone;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::providers::Account;
use crate::store::collects::{self, CollectFilter};
use crate::store::merchants::MerchantContext;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collections/collect", post(create::create).get(list))
        .route("/collections/collect/{id}", get(fetch))
        .route("/collections/collect/{id}/events", get(events))
}

fn not_found() -> ApiError {
    ApiError::NotFound("no mobile-money collection with this id".to_owned())
}

/// The merchant's account that reaches the payer's network: the one the body names, else the one
/// named after the adapter kind (`mtn_momo`), else the first of that kind.
pub(super) async fn choose_account(
    state: &AppState,
    merchant: &MerchantContext,
    new: &NewCollect,
) -> ApiResult<Account> {
    let network = new.network.code();
    let Some(family) = new.network.family else {
        return Err(ApiError::validation(
            "phone",
            format!("{network} is not a network Cowry can collect from (it reaches MTN MoMo and Airtel Money)"),
        ));
    };
    let kind = family.kind();
    let currency = new.amount.currency().code();
    let supported =
        crate::providers::capabilities(kind).is_some_and(|c| c.currencies.contains(&currency));
    if !supported {
        return Err(ApiError::validation(
            "phone",
            format!(
                "{network} collects in {currency}, which Cowry's {kind} adapter does not support"
            ),
        ));
    }
    let slug = match &new.provider {
        Some(slug) => match merchant.provider_kind(slug) {
            None => {
                return Err(ApiError::validation(
                    "provider",
                    format!("{slug} is not in your providers list"),
                ))
            }
            // Dollr reaches the payer through its own gateways, whichever network they are on.
            Some("dollr") => slug.clone(),
            Some(other) if other != kind => {
                return Err(ApiError::validation(
                    "provider",
                    format!("{slug} is a {other} account, but {network} is reached through {kind}"),
                ))
            }
            Some(_) => slug.clone(),
        },
        None => merchant
            .providers
            .iter()
            .filter(|(_, k)| k == kind)
            .min_by_key(|(slug, _)| slug != kind)
            .map(|(slug, _)| slug.clone())
            .ok_or_else(|| {
                ApiError::validation(
                    "phone",
                    format!("no provider in your list reaches {network}: add a {kind} account with POST /providers"),
                )
            })?,
    };
    crate::providers::accounts::open(state, &merchant.merchant_id, &slug)
        .await?
        .ok_or_else(|| {
            ApiError::validation("provider", format!("{slug} is not in your providers list"))
        })
}

pub(super) fn duplicate_external_id() -> ApiError {
    ApiError::Conflict {
        code: "duplicate_external_id",
        message: "a mobile-money collection with this externalId already exists".to_owned(),
    }
}

/// One balance per merchant and currency, named stably without a table of its own.
pub(super) fn balance_id(merchant_id: &str, currency: &str) -> String {
    let digest = crate::store::sha256(format!("{merchant_id}/{currency}").as_bytes());
    format!("bal_{}", hex::encode(&digest[..12]))
}

/// The current state of a mobile-money collection.
#[utoipa::path(get, path = "/collections/collect/{id}", tag = "mobile money",
    params(("id" = String, Path, description = "The collect's id (a UUID)")),
    responses((status = 200, body = CollectEnvelope<CollectView>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<CollectEnvelope<CollectView>>> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(not_found());
    }
    let row = collects::get(&state.pool, &merchant.merchant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(CollectEnvelope::new(
        "Collection retrieved",
        row.into(),
        200,
    )))
}

/// What happened to a mobile-money collection: created, provider reports, late or ignored callbacks.
#[utoipa::path(get, path = "/collections/collect/{id}/events", tag = "mobile money",
    params(("id" = String, Path)),
    responses((status = 200, body = CollectEnvelope<Vec<CollectEventView>>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<CollectEnvelope<Vec<CollectEventView>>>> {
    if uuid::Uuid::parse_str(&id).is_err()
        || collects::get(&state.pool, &merchant.merchant_id, &id)
            .await?
            .is_none()
    {
        return Err(not_found());
    }
    let rows = collects::events(&state.pool, &merchant.merchant_id, &id).await?;
    Ok(Json(CollectEnvelope::new(
        "Events retrieved",
        rows.into_iter().map(CollectEventView::from).collect(),
        200,
    )))
}

const STATUSES: [&str; 4] = ["PENDING", "SUCCESS", "FAILED", "ROLLED_BACK"];

/// List mobile-money collections, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/collections/collect", tag = "mobile money",
    params(
        ("status" = Option<crate::http::openapi::CollectStatus>, Query),
        ("externalId" = Option<String>, Query, min_length = 1, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("provider" = Option<String>, Query, min_length = 1, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$", description = "The network, e.g. MTN_UG"),
        ("phone" = Option<String>, Query, min_length = 1, pattern = "^\\s*\\+?[0-9 ()-]{7,20}\\s*$", description = "The payer, E.164"),
        ("createdFrom" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive"),
        ("createdTo" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, min_length = 1, description = "pagination.nextCursor of the previous page"),
    ),
    responses((status = 200, body = CollectList), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<CollectList>> {
    let query = listing::read_query(query)?;
    let mut errors = FieldErrors::default();
    let text = |key: &str| listing::text(&query, key);
    let status = text("status");
    if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        errors.add("status", format!("must be one of: {}", STATUSES.join(", ")));
    }
    let payer = text("phone").and_then(|p| match Phone::parse(&p) {
        Ok(phone) => Some(phone.e164().to_owned()),
        Err(why) => {
            errors.add("phone", why);
            None
        }
    });
    let (external_id, network) = (text("externalId"), text("provider"));
    for key in ["externalId", "provider"] {
        // The raw value: a control character at either end is refused, not trimmed away.
        if query
            .get(key)
            .is_some_and(|v| v.chars().any(char::is_control))
        {
            errors.add(key, "must not contain control characters");
        }
    }
    let page = listing::parse_page(&query, &mut errors);
    let mut filter = errors
        .finish(|| CollectFilter {
            status,
            external_id,
            network,
            payer,
            page,
        })
        .map_err(ApiError::Validation)?;
    let limit = filter.page.limit;
    filter.page.limit += 1; // one extra row tells whether another page exists
    let rows = collects::list(&state.pool, &merchant.merchant_id, &filter).await?;
    let (rows, has_more, next_cursor) = listing::cut(rows, limit, |r| (r.created_at, &r.id));
    Ok(Json(CollectList {
        success: true,
        message: "Collections retrieved",
        payload: rows.into_iter().map(CollectView::from).collect(),
        pagination: crate::http::collections::view::Pagination {
            limit,
            has_more,
            next_cursor,
        },
        status_code: 200,
    }))
}

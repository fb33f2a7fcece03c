//! `/collections/collect`: mobile-money collect, as `spec/mobile-money-collect.txt`. The payer's
//! number picks the market (currency) and the network (adapter); the provider reference is stored before
//! the push is sent; the collect, its event, its attempt and its reconciliation poll are written in one
//! transaction, so a payment whose callback never comes is still found.

pub mod view;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use self::view::{CollectEnvelope, CollectEventView, CollectList, CollectView};
use super::extract::{IdempotencyKey, JsonBody, Merchant};
use super::idempotent;
use super::listing;
use crate::domain::collect::{self, NewCollect};
use crate::domain::ids::new_id;
use crate::domain::network::Family;
use crate::domain::phone::Phone;
use crate::domain::settlement::PaymentStatus;
use crate::domain::time;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::jobs::queue::in_;
use crate::jobs::reconcile;
use crate::providers::mobile_money::{MobileMoney, Push};
use crate::providers::{Account, ProviderError};
use crate::store::attempts::{self, NewAttempt};
use crate::store::collects::{self, CollectFilter, CollectRow};
use crate::store::merchants::MerchantContext;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collections/collect", post(create).get(list))
        .route("/collections/collect/{id}", get(fetch))
        .route("/collections/collect/{id}/events", get(events))
}

fn not_found() -> ApiError {
    ApiError::NotFound("no mobile-money collection with this id".to_owned())
}

/// Ask a payer to approve a mobile-money payment on their phone.
#[utoipa::path(post, path = "/collections/collect", tag = "mobile money",
    request_body(content = crate::http::openapi::CollectRequest, description = "As the mobile-money collect document"),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$",
        description = "Replays the saved response for the same key and body")),
    responses(
        (status = 201, description = "Sent to the provider", body = CollectEnvelope<CollectView>),
        (status = 400, description = "Malformed JSON", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 409, description = "Duplicate externalId or reused Idempotency-Key", body = crate::error::ErrorBody),
        (status = 422, description = "Validation failed, or no configured provider reaches the payer", body = crate::error::ErrorBody),
        (status = 502, description = "The provider failed; nothing was sent", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody,
) -> ApiResult<Response> {
    let new = collect::parse(&body.value).map_err(ApiError::Validation)?;
    let account = choose_account(&state, &merchant, &new).await?;
    let adapter = state
        .providers
        .mobile_money(&account, new.market)
        .map_err(|e| ApiError::validation("provider", e.to_string()))?;
    let fingerprint: [&[u8]; 3] = [b"POST", b"/collections/collect", &body.raw];
    let merchant_id = merchant.merchant_id.as_str();
    let keyed = idempotent::Keyed {
        merchant_id,
        key: key.as_deref(),
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    idempotent::run(
        &state.pool,
        keyed,
        async || push(&state, &account, &adapter, &new).await,
        async |conn, sent| {
            let row = write(conn, &state, merchant_id, sent).await?;
            let body =
                CollectEnvelope::new("Request sent to provider", CollectView::from(row), 201)
                    .to_bytes();
            Ok((StatusCode::CREATED, body))
        },
    )
    .await
}

/// The merchant's account that reaches the payer's network: the one the body names, else the one
/// named after the adapter kind (`mtn_momo`), else the first of that kind.
async fn choose_account(
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

/// A push that went out (or may have): the collect as first written, and what the provider said.
struct Sent {
    row: CollectRow,
    attempt_id: String,
    attempt_status: &'static str,
}

/// Writes the collect (`PENDING`, with its `collect.created` event) and its attempt in one transaction
/// *before* the push: the reference is on record if the process dies mid-call (the orphan sweep finds
/// it), and the unique `externalId` is claimed, so simultaneous requests with one `externalId` send one
/// push. A push the provider refused takes the collect back out: nothing was created.
async fn push(
    state: &AppState,
    account: &Account,
    adapter: &MobileMoney,
    new: &NewCollect,
) -> ApiResult<Sent> {
    let merchant_id = account.merchant_id.as_str();
    let reference = uuid::Uuid::new_v4().to_string();
    let attempt_id = new_id("att");
    let operation = match new.network.family {
        Some(Family::Airtel) => "collect",
        _ => "request_to_pay",
    };
    let currency = new.amount.currency().code();
    let created_at = time::now();
    let mut row = CollectRow {
        id: uuid::Uuid::new_v4().to_string(),
        external_id: new.external_id.clone(),
        payer: new.payer.e164().to_owned(),
        amount_minor: new.amount.minor(),
        currency: currency.to_owned(),
        network: new.network.code(),
        provider: account.slug.clone(),
        status: "PENDING".to_owned(),
        message: Some("Sending request to provider".to_owned()),
        payer_message: new.payer_message.clone(),
        payee_note: new.payee_note.clone(),
        payer_name: None,
        balance_id: balance_id(merchant_id, currency),
        flag: None,
        created_at,
        updated_at: created_at,
        completed_at: None,
    };
    let mut tx = state.pool.begin().await?;
    collects::insert(&mut *tx, merchant_id, &row, &new_id("evt"))
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db)
                if db.constraint() == Some("mobile_money_collects_external_id_key") =>
            {
                duplicate_external_id()
            }
            _ => e.into(),
        })?;
    let attempt = NewAttempt {
        id: &attempt_id,
        provider: &account.slug,
        kind: &account.kind,
        operation,
        provider_reference: &reference,
        amount_minor: new.amount.minor(),
        currency,
    };
    attempts::insert_created(&mut *tx, merchant_id, std::slice::from_ref(&attempt)).await?;
    attempts::attach_collect(&mut *tx, merchant_id, &attempt_id, &row.id, "created", None).await?;
    tx.commit().await?;

    row.payer_name = adapter.payer_name(&new.payer).await;
    let callback_url = state.providers.callback_url(account, &reference);
    let sent = adapter
        .request(&Push {
            reference: &reference,
            external_id: new.external_id.as_deref().unwrap_or(&row.id),
            amount: new.amount,
            payer: &new.payer,
            payer_message: new.payer_message.as_deref().unwrap_or("Payment request"),
            payee_note: new.payee_note.as_deref().unwrap_or(""),
            callback_url: &callback_url,
        })
        .await;
    let (attempt_status, status, message) = match sent {
        Ok(PaymentStatus::Failed { reason }) => ("failed", "FAILED", reason),
        Ok(_) | Err(ProviderError::DuplicateReference { .. }) => {
            ("pending", "PENDING", "Request sent to provider".to_owned())
        }
        Err(ProviderError::Unknown { .. }) => (
            "unknown",
            "PENDING",
            "The provider did not answer; Cowry is checking the payment's status".to_owned(),
        ),
        Err(e) => {
            let error = e.to_string();
            if let Err(db) = withdraw(state, merchant_id, &row.id, &attempt_id, &error).await {
                // The attempt stays `created`: the orphan sweep asks the provider and fails it.
                tracing::error!(error = %db, "could not withdraw a collect the provider refused");
            }
            tracing::warn!(provider = %account.slug, error = %e, "mobile-money push failed; nothing created");
            return Err(match e {
                ProviderError::Rejected { .. } | ProviderError::Unsupported { .. } => {
                    ApiError::validation("phone", error)
                }
                _ => ApiError::Provider(error),
            });
        }
    };
    row.status = status.to_owned();
    row.message = Some(message);
    row.completed_at = (status != "PENDING").then_some(created_at);
    Ok(Sent {
        row,
        attempt_id,
        attempt_status,
    })
}

/// The provider refused the push: the attempt keeps the refusal, the collect goes.
async fn withdraw(
    state: &AppState,
    merchant_id: &str,
    collect_id: &str,
    attempt_id: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = state.pool.begin().await?;
    attempts::detach_collect(&mut *tx, merchant_id, attempt_id, "failed", error).await?;
    collects::delete(&mut *tx, merchant_id, collect_id).await?;
    tx.commit().await
}

fn duplicate_external_id() -> ApiError {
    ApiError::Conflict {
        code: "duplicate_external_id",
        message: "a mobile-money collection with this externalId already exists".to_owned(),
    }
}

/// Records what the provider said, and queues the first reconciliation poll, in one transaction.
async fn write(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    merchant_id: &str,
    sent: Sent,
) -> ApiResult<CollectRow> {
    let Sent {
        row,
        attempt_id,
        attempt_status,
    } = sent;
    collects::record_sent(&mut *conn, merchant_id, &row).await?;
    let error = (attempt_status == "failed")
        .then(|| row.message.clone())
        .flatten();
    attempts::set_status(
        &mut *conn,
        merchant_id,
        &attempt_id,
        attempt_status,
        error.as_deref(),
    )
    .await?;
    if attempt_status != "failed" {
        let first = crate::domain::time::schedule_delay(&state.config.reconcile_schedule, 0);
        reconcile::schedule(&mut *conn, merchant_id, &attempt_id, in_(first)).await?;
    }
    Ok(row)
}

/// One balance per merchant and currency, named stably without a table of its own.
fn balance_id(merchant_id: &str, currency: &str) -> String {
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
        ("status" = Option<String>, Query, description = "PENDING, SUCCESS, FAILED or ROLLED_BACK"),
        ("externalId" = Option<String>, Query),
        ("provider" = Option<String>, Query, description = "The network, e.g. MTN_UG"),
        ("phone" = Option<String>, Query, description = "The payer, E.164"),
        ("createdFrom" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("createdTo" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "pagination.nextCursor of the previous page"),
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
    for (key, value) in [("externalId", &external_id), ("provider", &network)] {
        if value
            .as_ref()
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

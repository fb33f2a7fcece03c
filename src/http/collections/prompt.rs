//! `POST /collections/{id}/prompt` (and the hosted page's "send me the prompt"): a mobile-money payment
//! prompt pushed to the contact's phone for what the collection still owes, through the merchant's
//! account on the phone's network (the collection's own provider when it is that account, else the
//! merchant's first MTN MoMo or Airtel Money account). Each prompt is a new payment attempt on the same
//! collection, with the same guarantees as any other: its reference is stored before the push, a lost
//! answer is `unknown` and polled, a refusal is `payment.failed`.
//!
//! So that a page anyone holding the link can open never floods a phone, and a customer is never asked
//! twice at once:
//! - no prompt while another one on the collection is still open (`prompt_pending`, 409);
//! - at most [`PER_COLLECTION_PER_HOUR`] prompts an hour per collection and [`PER_PHONE_PER_HOUR`]
//!   an hour per phone across the merchant's collections (429 `rate_limited`, `Retry-After: 3600`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::network::Network;
use crate::domain::phone::Phone;
use crate::domain::settlement::{PaymentStatus, Report};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::Merchant;
use crate::jobs::queue::in_;
use crate::jobs::{reconcile, settle};
use crate::providers::mobile_money::Push;
use crate::providers::ProviderError;
use crate::store::attempts::{self, NewAttempt};
use crate::AppState;

pub const PER_COLLECTION_PER_HOUR: i64 = 3;
pub const PER_PHONE_PER_HOUR: i64 = 6;

/// What a prompt came to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptView {
    /// The payment attempt (att_…).
    pub attempt: String,
    /// pending (the customer approves on the phone), unknown (the answer was lost; Cowry asks the
    /// provider), or failed.
    pub status: String,
    /// The network the prompt went to (e.g. MTN_UG).
    pub network: String,
    pub amount: super::view::AmountView,
}

/// Push a mobile-money prompt for what a collection still owes.
#[utoipa::path(post, path = "/collections/{id}/prompt", tag = "collections",
    params(("id" = String, Path, description = "Collection id (pay_…)")),
    responses(
        (status = 201, description = "Sent: a new payment attempt on the collection", body = crate::http::collections::view::Envelope<PromptView>),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The collection is closed, or a prompt is still open", body = crate::error::ErrorBody),
        (status = 422, description = "No account of the merchant reaches the contact's phone in the collection's currency", body = crate::error::ErrorBody),
        (status = 429, description = "Too many prompts this hour", body = crate::error::ErrorBody),
        (status = 502, description = "The network refused or failed; nothing was sent", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn prompt(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<super::view::Envelope<PromptView>>)> {
    let id = super::collection_id(id)?;
    let sent = send(&state, &merchant.merchant_id, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(super::view::Envelope::new("Prompt sent", sent)),
    ))
}

/// The collection a prompt is for, read under its row lock.
struct Owing {
    phone: String,
    name: String,
    reference: String,
    owed: Money,
}

/// Sends a prompt for collection `id` of `merchant_id` (the endpoint's and the page's).
pub async fn send(state: &AppState, merchant_id: &str, id: &str) -> ApiResult<PromptView> {
    let collection = crate::store::collections::get(&state.pool, merchant_id, id)
        .await?
        .ok_or_else(super::not_found)?;
    let currency = crate::domain::currency::Currency::parse(collection.currency.trim())
        .ok_or_else(|| ApiError::internal("a stored currency is unknown"))?;
    let phone = Phone::parse(&collection.contact.phone)
        .map_err(|why| ApiError::validation("contact.phone", why.to_string()))?;
    let network = Network::detect(&phone);
    let (Some(network), Some(family), Some(market)) = (
        network.as_ref(),
        network.as_ref().and_then(|n| n.family),
        network.as_ref().and_then(|n| n.market),
    ) else {
        return Err(ApiError::validation(
            "contact.phone",
            "is not on a mobile-money network Cowry reaches (MTN MoMo, Airtel Money)",
        ));
    };
    if market.currency != currency.code() {
        return Err(ApiError::validation(
            "amount.currency",
            format!(
                "a payer in {} pays in {}, not {}",
                market.country,
                market.currency,
                currency.code()
            ),
        ));
    }
    let accounts = crate::store::providers::list(&state.pool, merchant_id).await?;
    // A Dollr collection pushes through its Dollr account; any other through the merchant's account on
    // the phone's network (the collection's own first).
    let own_dollr = accounts
        .iter()
        .any(|a| a.kind == "dollr" && a.slug == collection.provider);
    let kind = if own_dollr { "dollr" } else { family.kind() };
    let slug = accounts
        .iter()
        .filter(|a| a.kind == kind)
        .min_by_key(|a| a.slug != collection.provider)
        .map(|a| a.slug.clone())
        .ok_or_else(|| {
            ApiError::validation(
                "provider",
                format!(
                    "no provider in your list reaches {}: add a {kind} account with POST /providers",
                    network.code()
                ),
            )
        })?;
    let account = crate::providers::accounts::open(state, merchant_id, &slug)
        .await?
        .ok_or_else(|| ApiError::validation("provider", format!("{slug} was removed")))?;
    let adapter = state
        .providers
        .mobile_money(&account, market)
        .map_err(|e| ApiError::validation("provider", e.to_string()))?;

    // Claim, under the collection's lock: checks and the attempt in one transaction.
    let attempt_id = new_id("att");
    let reference = uuid::Uuid::new_v4().to_string();
    let operation = crate::providers::mobile_money::push_operation(kind);
    let mut tx = crate::db::begin(&state.pool).await?;
    let owing = lock_owing(&mut tx, merchant_id, id, currency).await?;
    let recent = recent_prompts(&mut tx, merchant_id, id, &owing.phone).await?;
    if recent.open > 0 {
        return Err(ApiError::Conflict {
            code: "prompt_pending",
            message: "a prompt for this collection is still waiting for the customer".to_owned(),
        });
    }
    if recent.this_collection >= PER_COLLECTION_PER_HOUR || recent.this_phone >= PER_PHONE_PER_HOUR
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: 3600,
            limit: PER_COLLECTION_PER_HOUR as u32,
        });
    }
    let attempt = NewAttempt {
        id: &attempt_id,
        provider: &slug,
        kind,
        operation,
        provider_reference: &reference,
        amount_minor: owing.owed.minor(),
        currency: currency.code(),
    };
    attempts::insert_created(&mut *tx, merchant_id, std::slice::from_ref(&attempt)).await?;
    attempts::attach_collection(
        &mut *tx,
        merchant_id,
        std::slice::from_ref(&attempt_id),
        Some(id),
    )
    .await?;
    let first = crate::domain::time::schedule_delay(&state.config.reconcile_schedule, 0);
    reconcile::schedule(&mut *tx, merchant_id, &attempt_id, in_(first)).await?;
    tx.commit().await?;

    // The push, then what it means.
    let callback_url = state.providers.callback_url(&account, &reference);
    let sent = adapter
        .request(&Push {
            reference: &reference,
            external_id: &owing.reference,
            amount: owing.owed,
            payer: &phone,
            payer_message: &format!("Payment {}", owing.reference),
            payee_note: &owing.reference,
            payer_name: Some(&owing.name),
            callback_url: &callback_url,
        })
        .await;
    let ids = [attempt_id.clone()];
    let mut tx = crate::db::begin(&state.pool).await?;
    let status = match sent {
        Err(e) if e.created_nothing() => {
            let why = e.to_string();
            attempts::settle(
                &mut *tx,
                merchant_id,
                &ids,
                "failed",
                None,
                None,
                Some(&why),
            )
            .await?;
            reconcile::unschedule(&mut *tx, merchant_id, &attempt_id).await?;
            tx.commit().await?;
            return Err(match e {
                ProviderError::Rejected { .. } => ApiError::validation("contact.phone", why),
                _ => ApiError::Provider(why),
            });
        }
        Ok(PaymentStatus::Failed { reason }) => {
            let report = Report {
                status: PaymentStatus::Failed { reason },
                amount: None,
            };
            settle::apply(&mut tx, merchant_id, &attempt_id, &report, "push").await?;
            "failed"
        }
        Ok(_) | Err(ProviderError::DuplicateReference { .. }) => {
            attempts::set_status(
                &mut *tx,
                merchant_id,
                &attempt_id,
                &["created"],
                "pending",
                None,
            )
            .await?;
            "pending"
        }
        Err(e) => {
            let why = format!("the answer was lost ({e}); polled until it is known");
            let from = ["created"];
            attempts::set_status(
                &mut *tx,
                merchant_id,
                &attempt_id,
                &from,
                "unknown",
                Some(&why),
            )
            .await?;
            "unknown"
        }
    };
    tx.commit().await?;
    Ok(PromptView {
        attempt: attempt_id,
        status: status.to_owned(),
        network: network.code(),
        amount: super::view::AmountView::new(owing.owed.minor(), currency.code()),
    })
}

async fn lock_owing(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    currency: crate::domain::currency::Currency,
) -> ApiResult<Owing> {
    let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
        "select c.status, ct.phone, trim(ct.first_name || ' ' || ct.last_name), c.reference, c.amount_minor - c.amount_paid_minor
         from collections c join contacts ct on ct.merchant_id = c.merchant_id and ct.id = c.contact_id
         where c.merchant_id = $1 and c.id = $2 and c.type = 'integrated'
         for update of c",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((status, phone, name, reference, owed)) = row else {
        return Err(super::not_found());
    };
    if !matches!(status.as_str(), "pending" | "overdue") || owed <= 0 {
        return Err(ApiError::Conflict {
            code: "invalid_state",
            message: format!("the collection is {status}: there is nothing to pay"),
        });
    }
    Ok(Owing {
        phone,
        name,
        reference,
        owed: Money::from_minor(owed, currency),
    })
}

struct Recent {
    open: i64,
    this_collection: i64,
    this_phone: i64,
}

/// Mobile-money prompts on this collection still open, and those of the last hour on it and on the
/// phone (across the merchant's collections).
async fn recent_prompts(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    phone: &str,
) -> Result<Recent, sqlx::Error> {
    // From the phone's contact through its collections (`collections_by_contact`) to their attempts
    // (`provider_attempts_by_collection`): never every attempt of the merchant.
    let (open, this_collection, this_phone): (i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where a.collection_id = $2 and a.status in ('created', 'pending', 'unknown')),
                count(*) filter (where a.collection_id = $2 and a.created_at > now() - interval '1 hour'),
                count(*) filter (where a.created_at > now() - interval '1 hour')
         from contacts ct
         join collections c on c.merchant_id = ct.merchant_id and c.contact_id = ct.id
         join provider_attempts a on a.merchant_id = c.merchant_id and a.collection_id = c.id
         where ct.merchant_id = $1 and ct.phone = $3
           and a.operation in ('request_to_pay', 'collect', 'execute_collection')",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(phone)
    .fetch_one(conn)
    .await?;
    Ok(Recent {
        open,
        this_collection,
        this_phone,
    })
}

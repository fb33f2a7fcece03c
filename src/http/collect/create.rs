//! `POST /collections/collect`, written so that no push is lost and none is sent twice:
//! 1. **claim** (one transaction, before any provider call): the collect (`PENDING`, with its
//!    `collect.created` event), its attempt with the reference the provider will know it by, the
//!    attempt's first reconciliation poll, and — with an `Idempotency-Key` — the recovery point. The
//!    unique `externalId` is claimed here, so simultaneous requests send one push; and whatever happens
//!    next (a lost answer, a dead process), a job is already watching the payment.
//! 2. **push**, in a task of its own: when it outlives the request's budget the merchant gets the
//!    `PENDING` collect at once and the push finishes in the background.
//! 3. **record** (one transaction, guarded): what the provider said moves the attempt on from `created`
//!    only, and the collect only while `PENDING`, so a callback-triggered poll that settled the payment
//!    first keeps its word. A definite refusal takes the collect back out (the `externalId` is free
//!    again); a lost answer leaves it `PENDING` with the attempt `unknown`, for the poll to resolve.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::view::{CollectEnvelope, CollectView};
use crate::domain::collect::{self, NewCollect};
use crate::domain::ids::new_id;
use crate::domain::settlement::{PaymentStatus, Report};
use crate::domain::time;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{IdempotencyKey, JsonBody, Merchant};
use crate::http::idempotent::{self, Begin, Keyed};
use crate::jobs::queue::in_;
use crate::jobs::{reconcile, settle};
use crate::providers::mobile_money::{MobileMoney, Push};
use crate::providers::{Account, ProviderError};
use crate::store::attempts::{self, NewAttempt};
use crate::store::collects::{self, CollectRow};
use crate::store::idempotency;
use crate::AppState;

pub const SENT: &str = "Request sent to provider";
const SENDING: &str = "Sending request to provider";
pub const UNCONFIRMED: &str =
    "The provider has not confirmed the request yet; Cowry is checking the payment's status";

/// Ask a payer to approve a mobile-money payment on their phone.
#[utoipa::path(post, path = "/collections/collect", tag = "mobile money",
    request_body(content = crate::http::openapi::CollectRequest, description = "As the mobile-money collect document"),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$",
        description = "Replays the saved response for the same key and body; a retry of a request still \
                       in its provider call answers with the collect it made")),
    responses(
        (status = 201, description = "Sent to the provider (or sent and not yet confirmed: status PENDING, \
                                      and Cowry asks the provider until it is final)", body = CollectEnvelope<CollectView>),
        (status = 400, description = "Malformed JSON", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 409, description = "Duplicate externalId or reused Idempotency-Key", body = crate::error::ErrorBody),
        (status = 422, description = "Validation failed, no configured provider reaches the payer, or the provider refused the payer", body = crate::error::ErrorBody),
        (status = 502, description = "The provider could not be reached or refused the request; nothing was sent", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody,
) -> ApiResult<Response> {
    let deadline = tokio::time::Instant::now() + budget(&state);
    let new = collect::parse(&body.value).map_err(ApiError::Validation)?;
    let account = super::choose_account(&state, &merchant, &new).await?;
    let adapter = state
        .providers
        .mobile_money(&account, new.market)
        .map_err(|e| ApiError::validation("provider", e.to_string()))?;
    let fingerprint: [&[u8]; 3] = [b"POST", b"/collections/collect", &body.raw];
    let keyed = Keyed {
        merchant_id: &merchant.merchant_id,
        key: key.as_deref(),
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    match idempotent::begin(&state.pool, &keyed).await? {
        Begin::Answer(response) => return Ok(response),
        Begin::Resume(recovery) => {
            let id = recovery["collect"].as_str().unwrap_or_default();
            return answer_from_store(&state, &merchant.merchant_id, id, true).await;
        }
        Begin::Go => {}
    }
    let claimed = match claim(&state, &account, &new, key.as_deref()).await {
        Ok(claimed) => claimed,
        Err(e) => {
            idempotent::give_back(&state.pool, &keyed).await;
            return Err(e);
        }
    };
    let collect_id = claimed.row.id.clone();
    let merchant_id = merchant.merchant_id.clone();
    let task = tokio::spawn(push_and_record(
        state.clone(),
        account,
        adapter,
        new,
        claimed,
        key.clone(),
    ));
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(Ok(response))) => Ok(response),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(panicked)) => Err(ApiError::internal(panicked)),
        // The push outlives the request: it goes on in the background; the merchant learns the
        // outcome from GET, the events, or a retry with the same key.
        Err(_) => answer_from_store(&state, &merchant_id, &collect_id, false).await,
    }
}

/// How long a request (from its handler's start) waits for its provider calls before answering with
/// what is stored: well inside the request timeout, so the merchant never gets a 408 for a payment that
/// was sent.
pub fn budget(state: &AppState) -> Duration {
    state.config.request_timeout.mul_f64(0.75)
}

/// What was claimed before the push.
pub struct Claimed {
    row: CollectRow,
    attempt_id: String,
    reference: String,
}

/// Step 1: the collect, its event, its attempt, its first poll and the recovery point, in one
/// transaction committed before any provider call.
async fn claim(
    state: &AppState,
    account: &Account,
    new: &NewCollect,
    key: Option<&str>,
) -> ApiResult<Claimed> {
    let merchant_id = account.merchant_id.as_str();
    let reference = uuid::Uuid::new_v4().to_string();
    let attempt_id = new_id("att");
    let operation = crate::providers::mobile_money::push_operation(&account.kind);
    let currency = new.amount.currency().code();
    let created_at = time::now();
    let row = CollectRow {
        id: uuid::Uuid::new_v4().to_string(),
        external_id: new.external_id.clone(),
        payer: new.payer.e164().to_owned(),
        amount_minor: new.amount.minor(),
        currency: currency.to_owned(),
        network: new.network.code(),
        provider: account.slug.clone(),
        status: "PENDING".to_owned(),
        message: Some(SENDING.to_owned()),
        payer_message: new.payer_message.clone(),
        payee_note: new.payee_note.clone(),
        payer_name: None,
        balance_id: super::balance_id(merchant_id, currency),
        flag: None,
        created_at,
        updated_at: created_at,
        completed_at: None,
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    collects::insert(
        &mut *tx,
        merchant_id,
        &row,
        &new_id("evt"),
        &new_id("contact"),
    )
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db)
            if db.constraint() == Some("mobile_money_collects_external_id_key") =>
        {
            super::duplicate_external_id()
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
    attempts::attach_collect(&mut *tx, merchant_id, &attempt_id, &row.id).await?;
    let first = time::schedule_delay(&state.config.reconcile_schedule, 0);
    reconcile::schedule(&mut *tx, merchant_id, &attempt_id, in_(first)).await?;
    if let Some(key) = key {
        idempotency::set_recovery(&mut tx, merchant_id, key, &json!({"collect": row.id})).await?;
    }
    tx.commit().await?;
    Ok(Claimed {
        row,
        attempt_id,
        reference,
    })
}

/// Steps 2 and 3: the push, then what it means, written in one guarded transaction (with the saved
/// response, when keyed).
async fn push_and_record(
    state: AppState,
    account: Account,
    adapter: MobileMoney,
    new: NewCollect,
    claimed: Claimed,
    key: Option<String>,
) -> ApiResult<Response> {
    let Claimed {
        row,
        attempt_id,
        reference,
    } = claimed;
    let merchant_id = account.merchant_id.as_str();
    let payer_name = adapter.payer_name(&new.payer).await;
    let callback_url = state.providers.callback_url(&account, &reference);
    let started = Instant::now();
    let sent = adapter
        .request(&Push {
            reference: &reference,
            external_id: new.external_id.as_deref().unwrap_or(&row.id),
            amount: new.amount,
            payer: &new.payer,
            payer_message: new.payer_message.as_deref().unwrap_or("Payment request"),
            payee_note: new.payee_note.as_deref().unwrap_or(""),
            payer_name: payer_name.as_deref(),
            callback_url: &callback_url,
        })
        .await;
    let call = call_record(&row, started, &sent);
    match sent {
        Err(e) if e.created_nothing() => {
            tracing::warn!(provider = %account.slug, error = %e, "mobile-money push refused; nothing created");
            if !withdraw(
                &state,
                merchant_id,
                &row.id,
                &attempt_id,
                &e.to_string(),
                &call,
            )
            .await?
            {
                // A poll found the payment first: the provider has it after all.
                return answer_from_store(&state, merchant_id, &row.id, false).await;
            }
            let error = match e {
                ProviderError::Rejected { .. } | ProviderError::Unsupported { .. } => {
                    ApiError::validation("phone", e.to_string())
                }
                _ => ApiError::Provider(e.to_string()),
            };
            idempotent::save_error(&state.pool, merchant_id, key.as_deref(), &error).await;
            Err(error)
        }
        sent => {
            let mut tx = crate::db::begin(&state.pool).await?;
            attempts::record_call(&mut *tx, merchant_id, &attempt_id, &call).await?;
            let message = match &sent {
                Ok(PaymentStatus::Failed { reason }) => {
                    // Refused at once (Airtel can answer so): the same settlement as a polled failure.
                    let report = Report {
                        status: PaymentStatus::Failed {
                            reason: reason.clone(),
                        },
                        amount: None,
                    };
                    settle::apply(&mut tx, merchant_id, &attempt_id, &report, "push").await?;
                    reason.clone()
                }
                Ok(_) | Err(ProviderError::DuplicateReference { .. }) => {
                    let from = ["created"];
                    attempts::set_status(
                        &mut *tx,
                        merchant_id,
                        &attempt_id,
                        &from,
                        "pending",
                        None,
                    )
                    .await?;
                    SENT.to_owned()
                }
                Err(e) => {
                    tracing::warn!(provider = %account.slug, error = %e.detail(), "mobile-money push answer lost; polling");
                    let from = ["created"];
                    let why = e.to_string();
                    attempts::set_status(
                        &mut *tx,
                        merchant_id,
                        &attempt_id,
                        &from,
                        "unknown",
                        Some(&why),
                    )
                    .await?;
                    UNCONFIRMED.to_owned()
                }
            };
            collects::record_sent(
                &mut *tx,
                merchant_id,
                &row.id,
                &message,
                payer_name.as_deref(),
            )
            .await?;
            // Published once sent (a refusal takes the collect back, unpublished).
            crate::events::publish(
                &mut tx,
                merchant_id,
                crate::events::Object::Collect(&row.id),
            )
            .await?;
            let stored = collects::get(&mut *tx, merchant_id, &row.id)
                .await?
                .ok_or_else(|| ApiError::internal("a claimed collect vanished"))?;
            let body = CollectEnvelope::new(SENT, CollectView::from(stored), 201).to_bytes();
            idempotent::commit_created(tx, merchant_id, key.as_deref(), body).await
        }
    }
}

/// A redacted record of the push for the attempt: what was called, how it ended, how long it took.
fn call_record(
    row: &CollectRow,
    started: Instant,
    sent: &Result<PaymentStatus, ProviderError>,
) -> serde_json::Value {
    let outcome = match sent {
        Ok(PaymentStatus::Failed { reason }) => format!("failed: {reason}"),
        Ok(_) => "accepted".to_owned(),
        Err(ProviderError::DuplicateReference { .. }) => "exists".to_owned(),
        Err(e) if e.created_nothing() => format!("refused: {}", e.detail()),
        Err(e) => format!("unknown: {}", e.detail()),
    };
    json!({"operation": "push", "network": row.network, "outcome": outcome,
           "latencyMs": started.elapsed().as_millis() as u64, "at": time::format(&time::now())})
}

/// The provider refused the push: the attempt keeps the refusal, the collect goes. False when a poll
/// moved the attempt on first (then the collect stays).
async fn withdraw(
    state: &AppState,
    merchant_id: &str,
    collect_id: &str,
    attempt_id: &str,
    error: &str,
    call: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let mut tx = crate::db::begin(&state.pool).await?;
    attempts::record_call(&mut *tx, merchant_id, attempt_id, call).await?;
    let refused = attempts::refused(&mut *tx, merchant_id, attempt_id, error).await?;
    if refused {
        collects::delete(&mut *tx, merchant_id, collect_id).await?;
    }
    tx.commit().await?;
    Ok(refused)
}

/// The collect as stored, in the create response's shape: for a retry of a request that got past its
/// recovery point, or a push that outlived its request.
async fn answer_from_store(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    replayed: bool,
) -> ApiResult<Response> {
    let row = collects::get(&state.pool, merchant_id, id).await?;
    let Some(mut row) = row else {
        // The push was refused and the collect withdrawn since: the saved answer says why.
        return Err(ApiError::Conflict {
            code: "idempotency_key_in_use",
            message: "the request with this Idempotency-Key is finishing; retry shortly".to_owned(),
        });
    };
    if row.message.as_deref() == Some(SENDING) {
        row.message = Some(UNCONFIRMED.to_owned());
    }
    let body = CollectEnvelope::new(SENT, CollectView::from(row), 201).to_bytes();
    Ok(idempotent::stored_response(
        StatusCode::CREATED,
        body,
        replayed,
    ))
}

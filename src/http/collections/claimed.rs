//! An integrated collection whose options come from provider calls, written so that no payment is lost
//! and none is made twice (the same three steps as a mobile-money collect):
//! 1. **claim** (one transaction, before any call): the collection (`pending`, no options yet) with its
//!    contact and `collection.created` event — which claims the unique `reference`, so simultaneous
//!    creates with one reference make one set of provider calls —, the planned attempts with their
//!    references, a reconciliation poll for each payment, and the idempotency recovery point;
//! 2. **call** the provider in a task of its own, which finishes in the background when it outlives the
//!    request's budget (the merchant then gets the `pending` collection at once);
//! 3. **record** (one transaction, guarded): the options, each attempt moved on from `created` only
//!    (`pending`, or `unknown` where the answer was lost), unused spare references dropped. When the
//!    provider offered nothing, the collection is taken back (its reference free again); attempts whose
//!    answer was lost stay `unknown` and polled, so a payment on them is still found.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::create::{provider_error, Draft};
use super::view::{CollectionView, Envelope};
use crate::domain::ids::new_id;
use crate::domain::integrated::NewCollection;
use crate::domain::time;
use crate::error::{ApiError, ApiResult};
use crate::http::idempotent::{self, Begin, Keyed};
use crate::jobs::queue::in_;
use crate::jobs::reconcile;
use crate::providers::{Offered, PaymentProvider, PlannedCall, ProviderError};
use crate::store::attempts::{self, NewAttempt};
use crate::store::collections as store;
use crate::store::idempotency;
use crate::AppState;

const CREATED: &str = "Collection created successfully";

/// A collection about to be claimed, and the provider calls planned for it (each with its attempt id).
pub(super) struct Planned {
    pub slug: String,
    pub adapter: Arc<dyn PaymentProvider>,
    pub new: NewCollection,
    pub draft: Draft,
    pub plan: Vec<PlannedCall>,
    ids: Vec<String>,
}

impl Planned {
    pub fn new(
        slug: String,
        adapter: Arc<dyn PaymentProvider>,
        new: NewCollection,
        draft: Draft,
        plan: Vec<PlannedCall>,
    ) -> Planned {
        let ids = plan.iter().map(|_| new_id("att")).collect();
        Planned {
            slug,
            adapter,
            new,
            draft,
            plan,
            ids,
        }
    }

    /// Each planned call with its attempt's id.
    fn calls(&self) -> impl Iterator<Item = (&PlannedCall, &String)> {
        self.plan.iter().zip(&self.ids)
    }
}

pub(super) async fn create(
    state: &AppState,
    keyed: Keyed<'_>,
    planned: Planned,
    deadline: tokio::time::Instant,
) -> ApiResult<Response> {
    let merchant_id = keyed.merchant_id.to_owned();
    match idempotent::begin(&state.pool, &keyed).await? {
        Begin::Answer(response) => return Ok(response),
        Begin::Resume(recovery) => {
            let id = recovery["collection"].as_str().unwrap_or_default();
            return answer_from_store(state, &merchant_id, id, true).await;
        }
        Begin::Go => {}
    }
    if let Err(e) = claim(state, &keyed, &planned).await {
        idempotent::give_back(&state.pool, &keyed).await;
        return Err(e);
    }
    let id = planned.draft.id.clone();
    let key = keyed.key.map(str::to_owned);
    let task = {
        let state = state.clone();
        let merchant_id = merchant_id.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let request = planned.draft.request(&planned.new);
            let offered = planned
                .adapter
                .payment_options(&request, &planned.plan)
                .await;
            let outcome = Outcome {
                offered,
                latency: started.elapsed(),
            };
            record(&state, &merchant_id, key.as_deref(), &planned, outcome).await
        })
    };
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(panicked)) => Err(ApiError::internal(panicked)),
        Err(_) => answer_from_store(state, &merchant_id, &id, false).await,
    }
}

/// Step 1, committed before any provider call.
async fn claim(state: &AppState, keyed: &Keyed<'_>, planned: &Planned) -> ApiResult<()> {
    let merchant_id = keyed.merchant_id;
    let Planned {
        slug,
        new,
        draft,
        ids,
        ..
    } = planned;
    let rows: Vec<NewAttempt<'_>> = planned
        .calls()
        .map(|(call, id)| NewAttempt {
            id,
            provider: slug,
            kind: planned.adapter.kind(),
            operation: call.operation,
            provider_reference: &call.provider_reference,
            amount_minor: new.amount.minor(),
            currency: new.amount.currency().code(),
        })
        .collect();
    let mut tx = crate::db::begin(&state.pool).await?;
    let later = super::create::Publish::Later;
    let writer = super::create::Writer::Conn(&mut tx);
    super::create::write(writer, merchant_id, slug, new, draft, Vec::new(), later).await?;
    attempts::insert_created(&mut *tx, merchant_id, &rows).await?;
    attempts::attach_collection(&mut *tx, merchant_id, ids, Some(&draft.id)).await?;
    let first = in_(time::schedule_delay(&state.config.reconcile_schedule, 0));
    for (call, id) in planned.calls() {
        if call.is_payment && !call.spare {
            reconcile::schedule(&mut *tx, merchant_id, id, first).await?;
        }
    }
    if let Some(key) = keyed.key {
        idempotency::set_recovery(&mut tx, merchant_id, key, &json!({"collection": draft.id}))
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What the provider calls came to, and how long they took together.
struct Outcome {
    offered: Result<Offered, ProviderError>,
    latency: std::time::Duration,
}

/// A redacted record of a planned call for its attempt: what it was for, how it ended, how long the
/// provider calls took.
fn call_record(
    call: &PlannedCall,
    outcome: &str,
    latency: std::time::Duration,
) -> serde_json::Value {
    json!({"operation": call.operation, "outcome": outcome,
           "latencyMs": latency.as_millis() as u64, "at": time::format(&time::now())})
}

/// Step 3: what the provider calls came to, in one guarded transaction.
async fn record(
    state: &AppState,
    merchant_id: &str,
    key: Option<&str>,
    planned: &Planned,
    outcome: Outcome,
) -> ApiResult<Response> {
    let Outcome { offered, latency } = outcome;
    let Planned {
        new,
        draft,
        plan,
        ids,
        ..
    } = planned;
    let id_of = |reference: &String| {
        plan.iter()
            .position(|c| &c.provider_reference == reference)
            .map(|i| ids[i].clone())
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    let offered = match offered {
        Ok(offered) => offered,
        Err(e) => {
            tracing::warn!(error = %e, "provider offered nothing; the collection is taken back");
            // Attempts whose answer was lost may exist at the provider: they stay `unknown`, detached
            // and polled. The others never made anything.
            let status = if e.created_nothing() {
                "failed"
            } else {
                "unknown"
            };
            let why = e.to_string();
            attempts::settle(&mut *tx, merchant_id, ids, status, None, None, Some(&why)).await?;
            attempts::attach_collection(&mut *tx, merchant_id, ids, None).await?;
            store::withdraw(&mut tx, merchant_id, &draft.id).await?;
            tx.commit().await?;
            let error = provider_error(e);
            idempotent::save_error(&state.pool, merchant_id, key, &error).await;
            return Err(error);
        }
    };
    let payable = draft.payable(new, &offered.options);
    store::set_payable(&mut *tx, merchant_id, &draft.id, &payable).await?;
    if let Some(account) = &offered.dedicated {
        // Kept for the customer's next collection: Paystack keeps one dedicated account per customer.
        crate::store::virtual_accounts::save(
            &mut *tx,
            merchant_id,
            &planned.slug,
            &new.contact.email,
            account,
        )
        .await?;
    }
    let unused: Vec<String> = offered.unused.iter().filter_map(id_of).collect();
    let unconfirmed: Vec<String> = offered.unconfirmed.iter().filter_map(id_of).collect();
    let sent: Vec<String> = ids
        .iter()
        .filter(|id| !unused.contains(id) && !unconfirmed.contains(id))
        .cloned()
        .collect();
    attempts::discard_unsent(&mut *tx, merchant_id, &unused).await?;
    for (call, id) in planned.calls() {
        let outcome = if unconfirmed.contains(id) {
            "unknown: the answer was lost"
        } else {
            "accepted"
        };
        if !unused.contains(id) {
            let record = call_record(call, outcome, latency);
            attempts::record_call(&mut *tx, merchant_id, id, &record).await?;
        }
    }
    let options = Some(&payable["options"]);
    attempts::settle(&mut *tx, merchant_id, &sent, "pending", None, options, None).await?;
    let why = "the provider's answer was lost; polled until it is known";
    attempts::settle(
        &mut *tx,
        merchant_id,
        &unconfirmed,
        "unknown",
        None,
        None,
        Some(why),
    )
    .await?;
    // A spare that was used is a payment like the first: polled too.
    let first = in_(time::schedule_delay(&state.config.reconcile_schedule, 0));
    for (call, id) in planned.calls() {
        if call.is_payment && call.spare && !unused.contains(id) {
            reconcile::schedule(&mut *tx, merchant_id, id, first).await?;
        }
    }
    // Published only now that it will stay (a refusal takes the collection back, unpublished), with
    // its payment options.
    let row = store::get(&mut *tx, merchant_id, &draft.id)
        .await?
        .ok_or_else(|| ApiError::internal("a claimed collection vanished"))?;
    let view = CollectionView::from(row);
    let snapshot = serde_json::value::to_raw_value(&view).expect("views serialise");
    crate::events::publish_snapshot(
        &mut tx,
        merchant_id,
        crate::events::Table::Collection,
        &draft.id,
        &snapshot,
    )
    .await?;
    let body = Envelope::new(CREATED, view).to_bytes();
    idempotent::commit_created(tx, merchant_id, key, body).await
}

/// The collection as stored, in the create response's shape.
async fn answer_from_store(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    replayed: bool,
) -> ApiResult<Response> {
    let Some(row) = store::get(&state.pool, merchant_id, id).await? else {
        return Err(ApiError::Conflict {
            code: "idempotency_key_in_use",
            message: "the request with this Idempotency-Key is finishing; retry shortly".to_owned(),
        });
    };
    let body = Envelope::new(CREATED, CollectionView::from(row)).to_bytes();
    Ok(idempotent::stored_response(
        StatusCode::CREATED,
        body,
        replayed,
    ))
}

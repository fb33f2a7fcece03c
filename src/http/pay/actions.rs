//! What the hosted page's buttons do, each answered with a redirect back to the page (which then says
//! what happened, from a fixed set of notices):
//! - "Send me the prompt": a mobile-money prompt through the merchant's MTN or Airtel account, with
//!   the same caps as `POST /collections/{id}/prompt` (one open prompt at a time, a few an hour per
//!   collection and per phone), so the page can never be used to flood someone's phone;
//! - in test mode, on a sandbox collection, Pay and Decline: the payment settles as the emulators'
//!   checkouts settle theirs (a succeeded or failed attempt; Pay completes the collection).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::page::find;
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::emulator::pages;
use crate::error::ApiError;
use crate::store::attempts::{self, NewAttempt};
use crate::AppState;

fn back(token: &str, notice: &str) -> Response {
    let location = if notice.is_empty() {
        format!("/pay/{token}")
    } else {
        format!("/pay/{token}?m={notice}")
    };
    Redirect::to(&location).into_response()
}

/// `POST /pay/{token}/prompt`.
pub async fn prompt(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let found = match find(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let sent =
        crate::http::collections::prompt::send(&state, &found.merchant_id, &found.row.id).await;
    let notice = match sent {
        Ok(_) => "prompt_sent",
        Err(ApiError::Conflict {
            code: "prompt_pending",
            ..
        }) => "prompt_pending",
        Err(ApiError::RateLimited { .. }) => "prompt_limit",
        Err(e) => {
            tracing::info!(error = %e, "a prompt asked for on the payment page was not sent");
            "prompt_failed"
        }
    };
    back(&token, notice)
}

/// `POST /pay/{token}/sandbox/{pay|decline}` (test mode, sandbox collections).
pub async fn sandbox(
    State(state): State<AppState>,
    Path((token, action)): Path<(String, String)>,
) -> Response {
    let found = match find(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !found.test_mode || found.row.provider != "sandbox" {
        return pages::not_found("Test payments are only for sandbox collections in test mode.");
    }
    let outcome = match action.as_str() {
        "pay" => pay(&state, &found.merchant_id, &found.row.id).await,
        "decline" => decline(&state, &found.merchant_id, &found.row).await,
        _ => return pages::not_found("No such action."),
    };
    match outcome {
        Ok(notice) => back(&token, notice),
        Err(e) => {
            tracing::error!(error = %e, "a sandbox page payment was not recorded");
            let mut response = pages::not_found("This page is unavailable right now; try again.");
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
        }
    }
}

async fn pay(state: &AppState, merchant_id: &str, id: &str) -> Result<&'static str, sqlx::Error> {
    let mut tx = crate::db::begin(&state.pool).await?;
    let reference = new_id("sbx");
    crate::jobs::transfer::pay_owed(&mut tx, merchant_id, id, "sandbox", &reference).await?;
    tx.commit().await?;
    Ok("")
}

/// A declined test payment: a failed attempt and `payment.failed`; the collection stays payable.
async fn decline(
    state: &AppState,
    merchant_id: &str,
    row: &crate::store::collections::CollectionRow,
) -> Result<&'static str, sqlx::Error> {
    let mut tx = crate::db::begin(&state.pool).await?;
    let (attempt_id, reference) = (new_id("att"), new_id("sbx"));
    let owed = row.amount_minor - row.amount_paid_minor;
    let attempt = NewAttempt {
        id: &attempt_id,
        provider: "sandbox",
        kind: "sandbox",
        operation: "checkout",
        provider_reference: &reference,
        amount_minor: owed,
        currency: row.currency.trim(),
    };
    let why = "Declined";
    let detail = json!({"channel": "checkout"});
    attempts::insert_reported(
        &mut *tx,
        &attempt,
        merchant_id,
        Some(&row.id),
        "failed",
        &detail,
        Some(why),
    )
    .await?;
    let data = json!({"attempt": attempt_id, "provider": "sandbox", "reported": "failed: Declined",
                      "source": "checkout"});
    crate::store::collections::add_event(
        &mut *tx,
        merchant_id,
        &row.id,
        &new_id("evt"),
        event::PAYMENT_FAILED,
        &data,
    )
    .await?;
    crate::events::publish(
        &mut tx,
        merchant_id,
        crate::events::Object::Collection(&row.id),
    )
    .await?;
    tx.commit().await?;
    Ok("declined")
}

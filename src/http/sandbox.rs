//! The sandbox bank, in test mode: money paid into a sandbox virtual account as a customer's bank would
//! send it. `POST /sandbox/transfers {"accountNumber", "amount": {"value", "currency"}}` credits it at
//! once, by the same rule as a transfer into a Paystack dedicated account (`domain::transfer`): exact,
//! short, more, or after the collection closed. Sandbox account numbers are unique across merchants,
//! so the number alone names the collection. No API key: the customer's bank has none; only test-mode
//! merchants' collections can be paid this way.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::domain::ids::new_id;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::jobs::transfer::{self, Incoming};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/sandbox/transfers", post(send))
}

/// Pay into a sandbox virtual account (test mode).
#[utoipa::path(post, path = "/sandbox/transfers", tag = "sandbox",
    request_body = crate::http::openapi::SandboxTransferRequest,
    responses((status = 201, description = "Received and credited: `data.reference` and what it paid (`data.outcome`)"),
        (status = 404, description = "No test-mode sandbox account has this number", body = crate::error::ErrorBody),
        (status = 422, description = "Validation failed; every bad field is listed", body = crate::error::ErrorBody)))]
pub async fn send(
    State(state): State<AppState>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = FieldErrors::default();
    let Some(object) = body.value.as_object() else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let account_number =
        crate::domain::validate::string(object, "accountNumber", "", 10, true, &mut errors);
    if account_number
        .as_deref()
        .is_some_and(|n| n.len() != 10 || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        errors.add("accountNumber", "must be a 10-digit account number");
    }
    let amount = crate::domain::integrated::parse_amount(object, &mut errors);
    if amount.is_some_and(|a| a.minor() <= 0) {
        errors.add("amount.value", "must be more than zero");
    }
    let (account_number, amount) = errors
        .finish(|| (account_number.unwrap_or_default(), amount.expect("checked")))
        .map_err(ApiError::Validation)?;
    let owner = crate::store::virtual_accounts::sandbox_owner(&state.pool, &account_number).await?;
    let Some(merchant_id) = owner else {
        return Err(ApiError::NotFound(
            "no test-mode sandbox account has this number".to_owned(),
        ));
    };
    let reference = new_id("sbx");
    let incoming = Incoming {
        provider: "sandbox",
        kind: "sandbox",
        reference: &reference,
        amount,
        account_number: &account_number,
        detail: json!({"channel": "sandbox_transfer"}),
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    let outcome = transfer::credit(&mut tx, &merchant_id, &incoming).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": "Transfer received",
                    "data": {"reference": reference, "outcome": outcome}})),
    ))
}

//! What the channels tell Cowry after a send: delivery reports and the customer's replies (STOP).
//! Each merchant's channel has its own callback URLs, carrying a secret derived from the server's key
//! (`notify::registry::callback_token`), shown by `GET /channels`:
//!
//! - Africa's Talking (unsigned callbacks: the secret in the URL is the check, and a report is a report,
//!   not proof — it only ever moves a message's delivery status): `…/sms/{merchant}/{token}/delivery`
//!   (delivery reports), `…/incoming` (replies to a two-way number), `…/opt-out` (the gateway's bulk
//!   opt-out notices).
//! - WhatsApp: `…/whatsapp/{merchant}/{token}`: the GET verification handshake (`hub.verify_token` is the
//!   token, `hub.challenge` echoed) and POSTed `statuses` and `messages`, signed with
//!   `X-Hub-Signature-256` under the app secret.
//!
//! A reply that is a stop word opts the contact out of that channel at once, for all of the merchant's
//! collections. Anything else is acknowledged and ignored (a channel that sees errors retries).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use subtle::ConstantTimeEq;

use crate::error::ApiResult;
use crate::notify::channel::is_stop_word;
use crate::notify::registry;
use crate::notify::whatsapp::{self, Inbound};
use crate::store::messages;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/callbacks/sms/{merchant}/{token}/{kind}", post(sms))
        .route(
            "/callbacks/whatsapp/{merchant}/{token}",
            get(whatsapp_verify).post(whatsapp_events),
        )
}

/// Whether `token` is this merchant channel's callback secret (constant time); unknown merchants and
/// wrong tokens look the same.
fn token_ok(state: &AppState, merchant: &str, channel: &str, token: &str) -> bool {
    if !crate::domain::ids::looks_like(merchant, "mer") {
        return false;
    }
    registry::callback_token(state, merchant, channel)
        .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(token.as_bytes())))
}

fn not_found() -> Response {
    crate::error::ApiError::NotFound("no such callback".to_owned()).into_response()
}

async fn sms(
    State(state): State<AppState>,
    Path((merchant, token, kind)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    if !token_ok(&state, &merchant, "sms", &token) {
        return Ok(not_found());
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    match kind.as_str() {
        // id, status (Success | Failed | Rejected | Sent | Submitted | Buffered), phoneNumber,
        // networkCode, failureReason, retryCount.
        "delivery" => {
            let delivered = match field("status") {
                "Success" => Some(true),
                "Failed" | "Rejected" => Some(false),
                _ => None,
            };
            if let (Some(delivered), false) = (delivered, field("id").is_empty()) {
                let reason = Some(field("failureReason")).filter(|r| !r.is_empty());
                messages::record_delivery(
                    &state.pool,
                    &merchant,
                    "sms",
                    field("id"),
                    delivered,
                    reason,
                )
                .await?;
            }
        }
        // from, to, text, date, id, linkId: a reply to a two-way number.
        "incoming" => {
            if is_stop_word(field("text")) {
                stop(&state, &merchant, field("from"), "sms", "sms reply").await?;
            }
        }
        // senderId, phoneNumber: the gateway's opt-out list.
        "opt-out" => {
            stop(
                &state,
                &merchant,
                field("phoneNumber"),
                "sms",
                "sms gateway opt-out",
            )
            .await?
        }
        _ => return Ok(not_found()),
    }
    Ok(StatusCode::OK.into_response())
}

async fn stop(
    state: &AppState,
    merchant: &str,
    phone: &str,
    channel: &str,
    source: &str,
) -> ApiResult<()> {
    let Ok(phone) = crate::domain::phone::Phone::parse(phone) else {
        return Ok(());
    };
    if messages::opt_out_by_phone(&state.pool, merchant, phone.e164(), channel, source).await? {
        tracing::info!(channel, source, "a contact opted out");
    }
    Ok(())
}

async fn whatsapp_verify(
    State(state): State<AppState>,
    Path((merchant, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let given = query
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or("");
    if query.get("hub.mode").map(String::as_str) != Some("subscribe")
        || !token_ok(&state, &merchant, "whatsapp", &token)
        || !token_ok(&state, &merchant, "whatsapp", given)
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
    (StatusCode::OK, challenge).into_response()
}

async fn whatsapp_events(
    State(state): State<AppState>,
    Path((merchant, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if !token_ok(&state, &merchant, "whatsapp", &token) {
        return Ok(not_found());
    }
    let mode = crate::store::channels::merchant_mode(&state.pool, &merchant).await?;
    let secret = match mode {
        Some(mode) => registry::whatsapp_app_secret(&state, &merchant, &mode).await?,
        None => None,
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !secret.is_some_and(|s| whatsapp::signature_ok(&s, &body, signature)) {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    };
    for inbound in whatsapp::read_webhook(&payload) {
        match inbound {
            Inbound::Status {
                id,
                delivered: Some(delivered),
                reason,
            } => {
                messages::record_delivery(
                    &state.pool,
                    &merchant,
                    "whatsapp",
                    &id,
                    delivered,
                    reason.as_deref(),
                )
                .await?;
            }
            Inbound::Status { .. } => {}
            Inbound::Reply { from, text } if is_stop_word(&text) => {
                stop(&state, &merchant, &from, "whatsapp", "whatsapp reply").await?;
            }
            Inbound::Reply { .. } => {}
        }
    }
    Ok(StatusCode::OK.into_response())
}

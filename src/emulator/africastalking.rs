//! An Africa's Talking SMS emulator, from its documented API as its official client libraries call it
//! (`africastalking-python`'s `SMS.send`): form-encoded `POST /version1/messaging` with `username`,
//! `to` (comma-separated E.164 numbers), `message`, and optionally `from` (sender ID or short code),
//! `bulkSMSMode` and `enqueue`; the key in the `apiKey` header; the answer
//! `{"SMSMessageData": {"Message", "Recipients": [{statusCode, number, status, cost, messageId}]}}`.
//!
//! Any non-empty key and username are an account of their own. Magic numbers (the number's last four
//! digits): `0403` → 403 InvalidPhoneNumber, `0406` → 406 UserInBlacklist, `0405` → 405
//! InsufficientBalance, `0500` → 500 InternalServerError (the gateway's own trouble); any other well-formed number → 101 Success. A missing key is a 401 with AT's
//! plain-text body. `GET /_messages?username=…` lists what was sent (tests read it).

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Emulator {
    /// username → messages sent, oldest first.
    sent: Arc<Mutex<super::Capped<String, Vec<Value>>>>,
}

pub fn router() -> Router {
    Router::new()
        .route("/version1/messaging", post(send))
        .route("/_messages", get(messages))
        .with_state(Emulator::default())
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default, rename = "bulkSMSMode")]
    bulk_sms_mode: Option<String>,
}

fn is_number(n: &str) -> bool {
    n.len() > 5 && n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A part's price in the answers (an illustrative Nigerian route price).
const PART_COST: f64 = 0.8;

async fn send(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SendForm>(&body) else {
        return (StatusCode::BAD_REQUEST, "Invalid request").into_response();
    };
    let key = headers
        .get("apiKey")
        .and_then(|k| k.to_str().ok())
        .unwrap_or("");
    if key.is_empty() || form.username.is_empty() {
        return (
            StatusCode::UNAUTHORIZED,
            "The supplied authentication is invalid",
        )
            .into_response();
    }
    if form.message.is_empty() || form.to.is_empty() {
        return (StatusCode::BAD_REQUEST, "Missing required parameter").into_response();
    }
    let parts = crate::notify::sms::length(&form.message).parts;
    let mut recipients = Vec::new();
    let mut sent = 0;
    for number in form.to.split(',').map(str::trim) {
        let last4 = number.get(number.len().saturating_sub(4)..).unwrap_or("");
        let (code, status) = match (is_number(number), last4) {
            (false, _) | (true, "0403") => (403, "InvalidPhoneNumber"),
            (true, "0405") => (405, "InsufficientBalance"),
            (true, "0406") => (406, "UserInBlacklist"),
            (true, "0500") => (500, "InternalServerError"),
            _ => (101, "Success"),
        };
        let id = format!("ATXid_{}", uuid::Uuid::new_v4().simple());
        let cost = if code == 101 {
            sent += 1;
            format!("NGN {:.4}", PART_COST * parts as f64)
        } else {
            "0".to_owned()
        };
        recipients.push(json!({"statusCode": code, "number": number, "status": status,
                               "cost": cost, "messageId": if code == 101 { id.clone() } else { "None".to_owned() }}));
        if code == 101 {
            let record = json!({"id": id, "to": number, "message": form.message, "from": form.from,
                                "bulkSMSMode": form.bulk_sms_mode, "parts": parts, "apiKey": key});
            emulator
                .sent
                .lock()
                .expect("ledger")
                .get_or_insert_with(form.username.clone(), Vec::new)
                .push(record);
        }
    }
    let total = recipients.len();
    Json(json!({"SMSMessageData": {
        "Message": format!("Sent to {sent}/{total} Total Cost: NGN {:.4}", sent as f64 * parts as f64 * PART_COST),
        "Recipients": recipients}}))
    .into_response()
}

#[derive(Deserialize)]
struct Account {
    username: String,
}

async fn messages(State(emulator): State<Emulator>, Query(account): Query<Account>) -> Response {
    let sent = emulator
        .sent
        .lock()
        .expect("ledger")
        .get(&account.username)
        .cloned()
        .unwrap_or_default();
    Json(json!({"messages": sent})).into_response()
}

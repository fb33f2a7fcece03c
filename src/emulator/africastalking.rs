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
//!
//! The dashboard's callback URLs are set with `POST /_callbacks {username, deliveryReports,
//! incomingMessages}`; each accepted message is then reported there (form-encoded, unsigned, as AT
//! does): `Success`, or `Failed` with `AbsentSubscriber` for numbers ending `0404`; numbers ending
//! `0777` are delivered late (after 5 s). `POST /_reply {username, from, text}` is a customer's reply
//! to a two-way number, posted to the incoming-messages URL.

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
    /// username → the callback URLs set in its "dashboard" (`POST /_callbacks`).
    callbacks: Arc<Mutex<super::Capped<String, Callbacks>>>,
    client: reqwest::Client,
}

#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Callbacks {
    #[serde(default)]
    delivery_reports: Option<String>,
    #[serde(default)]
    incoming_messages: Option<String>,
}

pub fn router() -> Router {
    Router::new()
        .route("/version1/messaging", post(send))
        .route("/_messages", get(messages))
        .route("/_callbacks", post(set_callbacks))
        .route("/_reply", post(reply))
        .with_state(Emulator::default())
}

#[derive(Deserialize)]
struct CallbackSettings {
    username: String,
    #[serde(flatten)]
    callbacks: Callbacks,
}

/// The dashboard's "SMS → Callback URLs": where delivery reports and incoming messages go.
async fn set_callbacks(
    State(emulator): State<Emulator>,
    Json(set): Json<CallbackSettings>,
) -> Response {
    emulator
        .callbacks
        .lock()
        .expect("callbacks")
        .insert(set.username, set.callbacks);
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct Reply {
    username: String,
    from: String,
    #[serde(default)]
    to: Option<String>,
    text: String,
}

/// A customer's reply to a two-way number, posted to the incoming-messages URL as AT does; answers
/// the status that URL gave.
async fn reply(State(emulator): State<Emulator>, Json(reply): Json<Reply>) -> Response {
    let url = emulator
        .callbacks
        .lock()
        .expect("callbacks")
        .get(&reply.username)
        .and_then(|c| c.incoming_messages.clone());
    let Some(url) = url else {
        return (StatusCode::CONFLICT, "no incoming-messages callback set").into_response();
    };
    let form = [
        ("from", reply.from.as_str()),
        ("to", reply.to.as_deref().unwrap_or("12345")),
        ("text", reply.text.as_str()),
        ("date", &chrono::Utc::now().to_rfc3339()),
        ("id", &uuid::Uuid::new_v4().to_string()),
        ("linkId", &uuid::Uuid::new_v4().to_string()),
    ];
    match emulator.client.post(url).form(&form).send().await {
        Ok(answer) => Json(json!({"callbackStatus": answer.status().as_u16()})).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Reports a sent message's delivery to the username's delivery-report URL, as AT does (form-encoded,
/// unsigned): `0404` numbers fail (AbsentSubscriber), `0777` ones are delivered late (5 s).
fn report_delivery(emulator: &Emulator, username: &str, id: String, number: String) {
    let url = emulator
        .callbacks
        .lock()
        .expect("callbacks")
        .get(username)
        .and_then(|c| c.delivery_reports.clone());
    let Some(url) = url else { return };
    let client = emulator.client.clone();
    tokio::spawn(async move {
        let ending = &number[number.len().saturating_sub(4)..];
        let delay = if ending == "0777" { 5000 } else { 50 };
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let (status, reason) = if ending == "0404" {
            ("Failed", "AbsentSubscriber")
        } else {
            ("Success", "")
        };
        let mut form = vec![
            ("id", id.as_str()),
            ("status", status),
            ("phoneNumber", number.as_str()),
            ("networkCode", "62130"),
            ("retryCount", "0"),
        ];
        if !reason.is_empty() {
            form.push(("failureReason", reason));
        }
        let _ = client.post(url).form(&form).send().await;
    });
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
            report_delivery(&emulator, &form.username, id.clone(), number.to_owned());
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

//! A WhatsApp Business Cloud API emulator: `POST /{version}/{phone-number-id}/messages` as Meta
//! documents it and its client libraries (e.g. `pywa`) send it — a bearer token, a JSON template
//! message — answered `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
//! "messages": [{"id": "wamid.…"}]}`, errors as Graph API error objects.
//!
//! Any non-empty token is an account; each phone-number id keeps its own record, listed by
//! `GET /_messages?phone_number_id=…` (tests read it). Magic recipients (last four digits): `0403` →
//! 400, code 131026 (message undeliverable); `0429` → 429, code 130429 (rate limit hit); `0500` → 500,
//! code 1 (unknown error); any other number is accepted.
//!
//! `POST /_webhook {phone_number_id, url, verify_token, app_secret}` is the app dashboard's webhook
//! setting: the URL is verified with Meta's GET handshake first. Each accepted message is then reported
//! there, signed with `X-Hub-Signature-256`: `sent`, then `delivered` (late, after 5 s, for numbers
//! ending `0777`) — or `failed` (131026) for numbers ending `0404`. `POST /_reply {phone_number_id,
//! from, text}` is the customer texting back.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Emulator {
    /// phone-number id → messages sent, oldest first.
    sent: Arc<Mutex<super::Capped<String, Vec<Value>>>>,
    /// phone-number id → its app's webhook (URL and app secret), once verified.
    webhooks: Arc<Mutex<super::Capped<String, Webhook>>>,
    client: reqwest::Client,
}

#[derive(Clone)]
struct Webhook {
    url: String,
    app_secret: String,
}

pub fn router() -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send))
        .route("/_messages", get(messages))
        .route("/_webhook", post(set_webhook))
        .route("/_reply", post(reply))
        .with_state(Emulator::default())
}

#[derive(Deserialize)]
struct WebhookSettings {
    phone_number_id: String,
    url: String,
    verify_token: String,
    app_secret: String,
}

/// The app dashboard's "Webhooks → Callback URL": Meta first verifies the URL with a GET
/// (`hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`) and keeps it only if the challenge comes
/// back.
async fn set_webhook(
    State(emulator): State<Emulator>,
    Json(set): Json<WebhookSettings>,
) -> Response {
    let challenge = uuid::Uuid::new_v4().simple().to_string();
    let verified = emulator
        .client
        .get(&set.url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", set.verify_token.as_str()),
            ("hub.challenge", challenge.as_str()),
        ])
        .send()
        .await;
    let echoed = match verified {
        Ok(answer) if answer.status().is_success() => answer.text().await.unwrap_or_default(),
        Ok(answer) => {
            return error(
                StatusCode::BAD_REQUEST,
                2200,
                "OAuthException",
                &format!(
                    "Callback verification failed: the URL answered {}",
                    answer.status()
                ),
            )
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                2200,
                "OAuthException",
                &e.to_string(),
            )
        }
    };
    if echoed != challenge {
        return error(
            StatusCode::BAD_REQUEST,
            2200,
            "OAuthException",
            "Callback verification failed: the response did not match the challenge",
        );
    }
    emulator.webhooks.lock().expect("webhooks").insert(
        set.phone_number_id,
        Webhook {
            url: set.url,
            app_secret: set.app_secret,
        },
    );
    Json(json!({"success": true})).into_response()
}

/// Posts one webhook (`whatsapp_business_account`, one change of `value`) signed with
/// `X-Hub-Signature-256`; the receiver's status.
async fn post_webhook(
    client: &reqwest::Client,
    hook: &Webhook,
    phone_number_id: &str,
    value: Value,
) -> Option<u16> {
    use hmac::{Hmac, Mac};
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": "15550100000", "phone_number_id": phone_number_id});
    let body = json!({"object": "whatsapp_business_account",
                      "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
    .to_string();
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(hook.app_secret.as_bytes()).ok()?;
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .ok()
        .map(|a| a.status().as_u16())
}

#[derive(Deserialize)]
struct Reply {
    phone_number_id: String,
    from: String,
    text: String,
}

/// A customer's text to the business number, sent to its webhook.
async fn reply(State(emulator): State<Emulator>, Json(reply): Json<Reply>) -> Response {
    let hook = emulator
        .webhooks
        .lock()
        .expect("webhooks")
        .get(&reply.phone_number_id)
        .cloned();
    let Some(hook) = hook else {
        return (StatusCode::CONFLICT, "no webhook set for this number").into_response();
    };
    let from = reply.from.trim_start_matches('+').to_owned();
    let value = json!({
        "contacts": [{"profile": {"name": "Customer"}, "wa_id": from}],
        "messages": [{"from": from, "id": format!("wamid.IN{}", uuid::Uuid::new_v4().simple()),
                      "timestamp": chrono::Utc::now().timestamp().to_string(),
                      "type": "text", "text": {"body": reply.text}}],
    });
    match post_webhook(&emulator.client, &hook, &reply.phone_number_id, value).await {
        Some(status) => Json(json!({"callbackStatus": status})).into_response(),
        None => (StatusCode::BAD_GATEWAY, "the webhook could not be reached").into_response(),
    }
}

/// After an accepted send: `sent`, then `delivered` (5 s later for numbers ending `0777`) — or `failed`
/// (131026) for numbers ending `0404`.
fn report_statuses(emulator: &Emulator, phone_number_id: String, wamid: String, to: String) {
    let hook = emulator
        .webhooks
        .lock()
        .expect("webhooks")
        .get(&phone_number_id)
        .cloned();
    let Some(hook) = hook else { return };
    let client = emulator.client.clone();
    tokio::spawn(async move {
        let status = |status: &str| {
            json!({"statuses": [{"id": wamid, "status": status, "recipient_id": to,
                                 "timestamp": chrono::Utc::now().timestamp().to_string()}]})
        };
        post_webhook(&client, &hook, &phone_number_id, status("sent")).await;
        // Numbers ending 0777 are delivered late.
        let delay = if to.ends_with("0777") { 5000 } else { 50 };
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let last = if to.ends_with("0404") {
            let mut failed = status("failed");
            failed["statuses"][0]["errors"] =
                json!([{"code": 131026, "title": "Message undeliverable"}]);
            failed
        } else {
            status("delivered")
        };
        post_webhook(&client, &hook, &phone_number_id, last).await;
    });
}

fn error(status: StatusCode, code: i64, kind: &str, message: &str) -> Response {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    (
        status,
        Json(
            json!({"error": {"message": message, "type": kind, "code": code,
                              "fbtrace_id": &trace[..23]}}),
        ),
    )
        .into_response()
}

async fn send(
    State(emulator): State<Emulator>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.trim().is_empty() {
        return error(
            StatusCode::UNAUTHORIZED,
            190,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        );
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            100,
            "OAuthException",
            "(#100) Invalid parameter",
        );
    };
    let to = message["to"].as_str().unwrap_or("");
    let template = &message["template"];
    let well_formed = message["messaging_product"] == "whatsapp"
        && to.len() > 5
        && to
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit())
        && (message["type"] == "template" || message["type"] == "text");
    if !well_formed {
        return error(
            StatusCode::BAD_REQUEST,
            100,
            "OAuthException",
            "(#100) Invalid parameter",
        );
    }
    if message["type"] == "template"
        && (template["name"].as_str().unwrap_or("").is_empty()
            || template["language"]["code"]
                .as_str()
                .unwrap_or("")
                .is_empty())
    {
        return error(
            StatusCode::NOT_FOUND,
            132001,
            "OAuthException",
            "(#132001) Template name does not exist in the translation",
        );
    }
    match to.get(to.len() - 4..).unwrap_or("") {
        "0403" => {
            return error(
                StatusCode::BAD_REQUEST,
                131026,
                "OAuthException",
                "(#131026) Message undeliverable",
            )
        }
        "0429" => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                130429,
                "OAuthException",
                "(#130429) Rate limit hit",
            )
        }
        "0500" => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                1,
                "OAuthException",
                "An unknown error occurred",
            )
        }
        _ => {}
    }
    let wamid = format!(
        "wamid.HBgN{}",
        uuid::Uuid::new_v4().simple().to_string().to_uppercase()
    );
    let parameters: Vec<Value> = template["components"][0]["parameters"]
        .as_array()
        .map(|p| p.iter().map(|p| p["text"].clone()).collect())
        .unwrap_or_default();
    let record = json!({"id": wamid, "to": to, "type": message["type"],
                        "template": template["name"], "language": template["language"]["code"],
                        "parameters": parameters, "token": token});
    emulator
        .sent
        .lock()
        .expect("ledger")
        .get_or_insert_with(phone_number_id.clone(), Vec::new)
        .push(record);
    report_statuses(
        &emulator,
        phone_number_id,
        wamid.clone(),
        to.trim_start_matches('+').to_owned(),
    );
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to.trim_start_matches('+')}],
        "messages": [{"id": wamid}],
    }))
    .into_response()
}

#[derive(Deserialize)]
struct Number {
    phone_number_id: String,
}

async fn messages(State(emulator): State<Emulator>, Query(number): Query<Number>) -> Response {
    let sent = emulator
        .sent
        .lock()
        .expect("ledger")
        .get(&number.phone_number_id)
        .cloned()
        .unwrap_or_default();
    Json(json!({"messages": sent})).into_response()
}

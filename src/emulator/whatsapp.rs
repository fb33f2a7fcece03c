//! A WhatsApp Business Cloud API emulator: `POST /{version}/{phone-number-id}/messages` as Meta
//! documents it and its client libraries (e.g. `pywa`) send it — a bearer token, a JSON template
//! message — answered `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
//! "messages": [{"id": "wamid.…"}]}`, errors as Graph API error objects.
//!
//! Any non-empty token is an account; each phone-number id keeps its own record, listed by
//! `GET /_messages?phone_number_id=…` (tests read it). Magic recipients (last four digits): `0403` →
//! 400, code 131026 (message undeliverable); `0429` → 429, code 130429 (rate limit hit); `0500` → 500,
//! code 1 (unknown error); any other number is accepted.

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
}

pub fn router() -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send))
        .route("/_messages", get(messages))
        .with_state(Emulator::default())
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
        .get_or_insert_with(phone_number_id, Vec::new)
        .push(record);
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

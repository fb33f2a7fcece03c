//! A Mona emulator for what Mona documents: `POST /collections` with `x-api-key` (any key of 8+
//! characters; none → 401), a mandate request with kobo strings and offset-less Lagos datetimes, and
//! the documented answer (`maxAmount`, `NOT_STARTED`, `isConsented: false`, UTC `Z` times). Mona's error
//! body is not documented; the emulator answers `{"success": false, "message"}`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{json, Value};

pub fn router() -> Router {
    Router::new().route("/collections", post(create))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"success": false, "message": message}))).into_response()
}

/// An offset-less Lagos datetime as UTC RFC 3339 with milliseconds, the way Mona answers.
fn lagos_to_utc(text: &str) -> Option<String> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()?;
    let lagos = FixedOffset::east_opt(3600)?
        .from_local_datetime(&naive)
        .single()?;
    Some(
        lagos
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

fn kobo(value: &Value) -> Option<&str> {
    value
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0'))
}

async fn create(headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    if headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|k| k.len() < 8)
    {
        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Some(Json(body)) = body else {
        return refuse(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let Some(maximum) = kobo(&body["maximumAmount"]) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "maximumAmount must be a string of kobo",
        );
    };
    let Some(debit_type) = body["debitType"]
        .as_str()
        .filter(|d| ["MERCHANT", "MONA"].contains(d))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "debitType must be MERCHANT or MONA",
        );
    };
    let start = body["startDate"].as_str().and_then(lagos_to_utc);
    let expiry = body["expiryDate"].as_str().and_then(lagos_to_utc);
    let (Some(start), Some(expiry)) = (start, expiry) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "startDate and expiryDate must be datetimes like 2025-05-22T05:43:00",
        );
    };
    if expiry <= start {
        return refuse(
            StatusCode::BAD_REQUEST,
            "expiryDate must be after startDate",
        );
    }
    let schedule = &body["schedule"];
    let Some(kind) = schedule["type"].as_str() else {
        return refuse(StatusCode::BAD_REQUEST, "schedule.type is required");
    };
    let mut entries = Vec::new();
    for entry in schedule["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (Some(date), Some(amount)) = (
            entry["date"].as_str().and_then(lagos_to_utc),
            kobo(&entry["amount"]),
        ) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "schedule.entries need a date and an amount in kobo",
            );
        };
        if amount.parse::<u64>().ok() > maximum.parse::<u64>().ok() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "a schedule entry is above maximumAmount",
            );
        }
        entries.push(json!({"date": date, "amount": amount}));
    }
    let object_id = || uuid::Uuid::new_v4().simple().to_string()[..24].to_owned();
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let next = entries
        .first()
        .map(|e| e["date"].clone())
        .unwrap_or_else(|| json!(start));
    (
        StatusCode::OK,
        Json(json!({"success": true, "data": {
            "id": object_id(), "isConsented": false,
            "collection": {
                "maxAmount": maximum, "expiryDate": expiry, "startDate": start, "monthlyLimit": maximum,
                "schedule": {"type": kind, "frequency": schedule["frequency"], "entries": entries, "amount": schedule["amount"]},
                "reference": body["reference"], "status": "NOT_STARTED", "lastCollectedAt": null,
                "nextCollectionAt": next, "debitType": debit_type, "loanLinkToken": object_id()},
            "createdAt": now, "updatedAt": now}})),
    )
        .into_response()
}

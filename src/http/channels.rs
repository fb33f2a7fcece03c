//! `/channels`: the merchant's follow-up channels (WhatsApp, SMS, email), shaped like `/providers`.
//! Credentials are write-only: sealed before they are stored, never returned, never logged. A test-mode
//! merchant without settings of its own uses the emulated channel (WhatsApp, SMS) or the server's SMTP.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::collections::view::Envelope;
use super::extract::{JsonBody, Merchant};
use crate::domain::channel_settings;
use crate::domain::collection::CHANNELS;
use crate::domain::time;
use crate::error::{ApiError, ApiResult};
use crate::notify::registry::associated;
use crate::store::channels::{self as store, ChannelRow};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list))
        .route("/channels/{channel}", get(fetch).put(put).delete(remove))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    /// whatsapp, sms or email.
    pub channel: String,
    /// `merchant` (your settings), `emulator` (test mode: Cowry's emulated WhatsApp or SMS),
    /// `server` (test mode: the server's SMTP), or `none` (follow-ups skip this channel).
    pub source: String,
    pub base_url: Option<String>,
    /// What may be shown: the WhatsApp number id, templates and language; the SMS username and sender
    /// ID; the email from-address.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Whether credentials are stored (they are never returned).
    pub has_credentials: bool,
    /// Where the channel should send delivery reports and replies (set them in its dashboard):
    /// SMS `{deliveryReports, incomingMessages, optOut}`; WhatsApp `{webhookUrl, verifyToken}` (and
    /// for the emulated channel, `appSecret`: the emulator signs its webhooks with it).
    #[schema(value_type = Option<Object>)]
    pub callbacks: Option<Value>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn callbacks(state: &AppState, merchant_id: &str, channel: &str, emulated: bool) -> Option<Value> {
    let token = crate::notify::registry::callback_token(state, merchant_id, channel)?;
    let base = format!(
        "{}/callbacks/{channel}/{merchant_id}/{token}",
        state.config.public_url.trim_end_matches('/')
    );
    match channel {
        "sms" => Some(serde_json::json!({
            "deliveryReports": format!("{base}/delivery"),
            "incomingMessages": format!("{base}/incoming"),
            "optOut": format!("{base}/opt-out"),
        })),
        "whatsapp" => {
            let mut found = serde_json::json!({"webhookUrl": base, "verifyToken": token});
            if emulated {
                found["appSecret"] = Value::String(token);
            }
            Some(found)
        }
        _ => None,
    }
}

fn view(
    state: &AppState,
    merchant_id: &str,
    mode: &str,
    channel: &str,
    row: Option<ChannelRow>,
) -> ChannelView {
    let emulated = row.is_none() && mode == "test";
    let callbacks = callbacks(state, merchant_id, channel, emulated);
    match row {
        Some(row) => ChannelView {
            channel: row.channel,
            source: "merchant".to_owned(),
            base_url: row.base_url,
            settings: row.settings.0,
            has_credentials: row.credentials.is_some(),
            callbacks,
            updated_at: Some(row.updated_at),
        },
        None => {
            let source = match (mode, channel) {
                ("test", "whatsapp" | "sms") if state.config.emulators => "emulator",
                ("test", "email") if state.config.smtp_url.is_some() => "server",
                _ => "none",
            };
            ChannelView {
                channel: channel.to_owned(),
                source: source.to_owned(),
                base_url: None,
                settings: Value::Object(Default::default()),
                has_credentials: false,
                callbacks,
                updated_at: None,
            }
        }
    }
}

fn channel_name(channel: &str) -> ApiResult<&'static str> {
    CHANNELS
        .iter()
        .copied()
        .find(|c| *c == channel)
        .ok_or_else(|| ApiError::NotFound("no such channel (whatsapp, sms, email)".to_owned()))
}

/// The merchant's follow-up channels and where each sends from.
#[utoipa::path(get, path = "/channels", tag = "follow-ups",
    responses((status = 200, body = Envelope<Vec<ChannelView>>), (status = 401, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
) -> ApiResult<Json<Envelope<Vec<ChannelView>>>> {
    let mut rows = store::list(&state.pool, &merchant.merchant_id).await?;
    let views = CHANNELS
        .iter()
        .map(|channel| {
            let row = rows
                .iter()
                .position(|r| r.channel == *channel)
                .map(|i| rows.remove(i));
            view(&state, &merchant.merchant_id, &merchant.mode, channel, row)
        })
        .collect();
    Ok(Json(Envelope::new(
        "Channels retrieved successfully",
        views,
    )))
}

/// One channel.
#[utoipa::path(get, path = "/channels/{channel}", tag = "follow-ups",
    params(("channel" = String, Path, description = "whatsapp, sms or email")),
    responses((status = 200, body = Envelope<ChannelView>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(channel): Path<String>,
) -> ApiResult<Json<Envelope<ChannelView>>> {
    let channel = channel_name(&channel)?;
    let row = store::get(&state.pool, &merchant.merchant_id, channel).await?;
    Ok(Json(Envelope::new(
        "Channel retrieved successfully",
        view(&state, &merchant.merchant_id, &merchant.mode, channel, row),
    )))
}

/// Set the merchant's own settings for a channel (replacing earlier ones). Credentials are encrypted
/// with `COWRY_ENCRYPTION_KEY` before they are stored.
#[utoipa::path(put, path = "/channels/{channel}", tag = "follow-ups",
    params(("channel" = String, Path, description = "whatsapp, sms or email")),
    request_body(content = Object, description = "See the README's follow-ups section for each channel's fields"),
    responses(
        (status = 200, body = Envelope<ChannelView>),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
        (status = 503, description = "No encryption key configured", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(channel): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Envelope<ChannelView>>> {
    let channel = channel_name(&channel)?;
    let parsed = channel_settings::parse(channel, &body.value, merchant.mode == "live")
        .map_err(ApiError::Validation)?;
    let Some(key) = &state.config.encryption_key else {
        return Err(ApiError::Unavailable(
            "channel credentials cannot be stored: the server has no COWRY_ENCRYPTION_KEY"
                .to_owned(),
        ));
    };
    let sealed = key.seal(
        parsed.credentials.to_string().as_bytes(),
        associated(&merchant.merchant_id, channel).as_bytes(),
    );
    let row = store::put(
        &state.pool,
        &merchant.merchant_id,
        channel,
        parsed.base_url.as_deref(),
        &parsed.settings,
        Some(&sealed),
    )
    .await?;
    crate::store::audit::record(
        &state.pool,
        crate::store::audit::Actor::Merchant {
            key_id: &merchant.key_id,
        },
        "channel.set",
        Some(&merchant.merchant_id),
        Some(channel),
        &serde_json::json!({"settings": row.settings.0}),
    )
    .await?;
    tracing::info!(channel, "follow-up channel set");
    Ok(Json(Envelope::new(
        "Channel saved successfully",
        view(
            &state,
            &merchant.merchant_id,
            &merchant.mode,
            channel,
            Some(row),
        ),
    )))
}

/// Remove the merchant's settings for a channel (a test-mode merchant goes back to the emulator or
/// the server's SMTP; a live one stops sending on it).
#[utoipa::path(delete, path = "/channels/{channel}", tag = "follow-ups",
    params(("channel" = String, Path)),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(channel): Path<String>,
) -> ApiResult<StatusCode> {
    let channel = channel_name(&channel)?;
    if !store::delete(&state.pool, &merchant.merchant_id, channel).await? {
        return Err(ApiError::NotFound(format!(
            "you have no settings for {channel}"
        )));
    }
    crate::store::audit::record(
        &state.pool,
        crate::store::audit::Actor::Merchant {
            key_id: &merchant.key_id,
        },
        "channel.removed",
        Some(&merchant.merchant_id),
        Some(channel),
        &serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

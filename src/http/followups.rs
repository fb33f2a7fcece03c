//! Follow-ups as the merchant sees and steers them: a collection's messages, and a contact's say over
//! the channels (`opt-out`, the WhatsApp `opt-in` business-initiated messages need).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::collections::view::Envelope;
use super::extract::{JsonBody, Merchant};
use crate::domain::collection::CHANNELS;
use crate::domain::time;
use crate::domain::validate::{self as v, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::store::messages::{self as store, MessageRow};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collections/{id}/messages", get(messages))
        .route("/contacts/{id}/opt-out", post(opt_out))
        .route("/contacts/{id}/opt-in", post(opt_in))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    #[schema(example = "msg_3kq9…")]
    pub id: String,
    /// Which touch of the plan (1, 2, …); a touch on two channels is two messages.
    pub touch: i32,
    /// whatsapp, sms or email.
    pub channel: String,
    /// gentle, professional or urgent.
    pub tone: String,
    /// queued, sending, sent, delivered, undelivered, failed, unknown (the send may have gone; it is
    /// not repeated), cancelled (the collection closed or the customer opted out first), skipped (never
    /// sendable: see `reason`).
    pub status: String,
    pub recipient: String,
    pub subject: Option<String>,
    /// The text (SMS, email's plain part, or what the WhatsApp template says).
    pub text: String,
    /// WhatsApp: the template name, language and parameters sent.
    #[schema(value_type = Option<Object>)]
    pub template: Option<Value>,
    /// SMS parts billed.
    pub parts: Option<i32>,
    pub reason: Option<String>,
    pub attempts: i32,
    #[serde(serialize_with = "time::serialize")]
    pub planned_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>)]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>)]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<MessageRow> for MessageView {
    fn from(m: MessageRow) -> MessageView {
        MessageView {
            id: m.id,
            touch: m.seq,
            channel: m.channel,
            tone: m.tone,
            status: m.status,
            recipient: m.recipient,
            subject: m.subject,
            text: m.body,
            template: m.template.map(|t| t.0),
            parts: m.parts,
            reason: m.reason,
            attempts: m.attempts,
            planned_at: m.planned_at,
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
        }
    }
}

/// The follow-up messages of a collection, in plan order.
#[utoipa::path(get, path = "/collections/{id}/messages", tag = "follow-ups",
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Vec<MessageView>>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<Vec<MessageView>>>> {
    let not_found = || ApiError::NotFound("no collection with this id".to_owned());
    if !crate::domain::ids::looks_like(&id, "pay")
        || !store::collection_exists(&state.pool, &merchant.merchant_id, &id).await?
    {
        return Err(not_found());
    }
    let rows = store::list(&state.pool, &merchant.merchant_id, &id).await?;
    Ok(Json(Envelope::new(
        "Messages retrieved successfully",
        rows.into_iter().map(MessageView::from).collect(),
    )))
}

fn contact_id(id: &str) -> ApiResult<&str> {
    if crate::domain::ids::looks_like(id, "contact") {
        Ok(id)
    } else {
        Err(ApiError::NotFound("no contact with this id".to_owned()))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutView {
    pub contact_id: String,
    /// Every channel the contact has opted out of.
    pub opted_out: Vec<String>,
}

/// Stop follow-ups to a contact on some channels, across all of the merchant's collections (honoured
/// before every send, including messages already queued).
#[utoipa::path(post, path = "/contacts/{id}/opt-out", tag = "follow-ups",
    params(("id" = String, Path)),
    request_body(content = Object, description = r#"{"channels": ["sms", "whatsapp", "email"]}"#),
    responses((status = 200, body = Envelope<OptOutView>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn opt_out(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Envelope<OptOutView>>> {
    let id = contact_id(&id)?;
    let mut errors = FieldErrors::default();
    let Some(object) = body.value.as_object() else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let channels = v::string_set(object, "channels", "", &CHANNELS, &mut errors);
    if v::get(object, "channels").is_none() || channels.as_ref().is_some_and(Vec::is_empty) {
        errors.add(
            "channels",
            "must name at least one channel (whatsapp, sms, email)",
        );
    }
    let channels = errors
        .finish(|| channels.unwrap_or_default())
        .map_err(ApiError::Validation)?;
    if store::opt_outs(&state.pool, &merchant.merchant_id, id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("no contact with this id".to_owned()));
    }
    for channel in channels {
        store::opt_out(&state.pool, &merchant.merchant_id, id, channel, "merchant").await?;
    }
    let opted_out = store::opt_outs(&state.pool, &merchant.merchant_id, id)
        .await?
        .unwrap_or_default();
    Ok(Json(Envelope::new(
        "Opt-out recorded",
        OptOutView {
            contact_id: id.to_owned(),
            opted_out,
        },
    )))
}

/// Record the contact's opt-in to WhatsApp messages (WhatsApp allows business-initiated messages only
/// to customers who agreed to them): where they gave it and when.
#[utoipa::path(post, path = "/contacts/{id}/opt-in", tag = "follow-ups",
    params(("id" = String, Path)),
    request_body(content = Object, description = r#"{"channel": "whatsapp", "source": "checkout checkbox", "at": "2026-11-27T10:00:00Z"}"#),
    responses((status = 200, body = Envelope<Object>), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn opt_in(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Envelope<Value>>> {
    let id = contact_id(&id)?;
    let mut errors = FieldErrors::default();
    let Some(object) = body.value.as_object() else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let channel = v::one_of(object, "channel", "", &["whatsapp"], &mut errors);
    if channel.is_none() && v::get(object, "channel").is_none() {
        errors.add("channel", "is required (whatsapp)");
    }
    let source = v::string(object, "source", "", 200, true, &mut errors);
    let at = match v::get(object, "at") {
        None => Some(Utc::now()),
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
            Ok(at) if at.with_timezone(&Utc) <= Utc::now() + chrono::TimeDelta::minutes(5) => {
                Some(at.with_timezone(&Utc))
            }
            Ok(_) => {
                errors.add("at", "must not be in the future");
                None
            }
            Err(_) => {
                errors.add("at", "must be an RFC 3339 time, e.g. 2026-11-27T10:00:00Z");
                None
            }
        },
        Some(_) => {
            errors.add("at", "must be an RFC 3339 time string");
            None
        }
    };
    let record = errors
        .finish(
            || json!({"channel": "whatsapp", "source": source, "at": at.map(|a| time::format(&a))}),
        )
        .map_err(ApiError::Validation)?;
    if !store::set_whatsapp_opt_in(&state.pool, &merchant.merchant_id, id, &record).await? {
        return Err(ApiError::NotFound("no contact with this id".to_owned()));
    }
    Ok(Json(Envelope::new(
        "Opt-in recorded",
        json!({"contactId": id, "whatsappOptIn": record}),
    )))
}

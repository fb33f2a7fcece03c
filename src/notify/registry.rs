//! Opens a merchant's follow-up channel: their own settings (`/channels`, credentials sealed like
//! provider credentials), or — for a test-mode merchant without any — the emulated WhatsApp and SMS
//! channels this server runs and the server's own SMTP (`COWRY_SMTP_URL`). A live merchant has only
//! what it configured.

use std::sync::Arc;

use serde_json::{json, Value};

use super::africastalking::{AfricasTalking, SmsChannel};
use super::channel::Channel;
use super::email::Email;
use super::whatsapp::WhatsApp;
use crate::config::Secret;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// A channel ready to send, with its non-secret settings (template names, sender ID, from-address).
pub struct Opened {
    pub channel: Arc<dyn Channel>,
    pub settings: Value,
    /// Whether it is the test-mode default rather than the merchant's own settings.
    pub default: bool,
}

/// Why a channel cannot be used, in words for the follow-up plan.
pub enum Closed {
    NotConfigured,
    Broken(String),
}

impl Closed {
    /// Why a message on `channel` is skipped, in words for the merchant.
    pub fn reason(&self, channel: &str) -> String {
        match self {
            Closed::NotConfigured => format!("{channel} is not configured"),
            Closed::Broken(why) => format!("{channel} settings cannot be used: {why}"),
        }
    }
}

/// A merchant's channel settings, read once (one query) and opened without further I/O: for work
/// that must not wait on the pool while it holds a transaction.
pub struct Channels {
    pub merchant_id: String,
    pub mode: String,
    rows: Vec<crate::store::channels::ChannelRow>,
}

impl Channels {
    pub async fn load(state: &AppState, merchant_id: &str) -> ApiResult<Channels> {
        let mode = crate::store::channels::merchant_mode(&state.pool, merchant_id)
            .await?
            .unwrap_or_else(|| "live".to_owned());
        let rows = crate::store::channels::list(&state.pool, merchant_id).await?;
        Ok(Channels {
            merchant_id: merchant_id.to_owned(),
            mode,
            rows,
        })
    }

    pub fn open(&self, state: &AppState, channel: &str) -> ApiResult<Result<Opened, Closed>> {
        let row = self.rows.iter().find(|r| r.channel == channel).cloned();
        build(state, &self.merchant_id, &self.mode, channel, row)
    }
}

fn build(
    state: &AppState,
    merchant_id: &str,
    mode: &str,
    channel: &str,
    row: Option<crate::store::channels::ChannelRow>,
) -> ApiResult<Result<Opened, Closed>> {
    let Some(row) = row else {
        return Ok(default(state, merchant_id, mode, channel));
    };
    let credentials: Value = match &row.credentials {
        None => json!({}),
        Some(sealed) => {
            let key = state.config.encryption_key.as_ref().ok_or_else(|| {
                ApiError::Unavailable(
                    "channel credentials cannot be read: the server has no COWRY_ENCRYPTION_KEY"
                        .to_owned(),
                )
            })?;
            let plain = key
                .open(sealed, associated(merchant_id, channel).as_bytes())
                .map_err(ApiError::internal)?;
            serde_json::from_slice(&plain).map_err(ApiError::internal)?
        }
    };
    let settings = row.settings.0;
    let text = |v: &Value, name: &str| v[name].as_str().map(str::to_owned);
    let client = state.providers.outbound().client().clone();
    let opened: Result<Arc<dyn Channel>, String> = match channel {
        "whatsapp" => match (
            text(&settings, "phoneNumberId"),
            text(&credentials, "accessToken"),
        ) {
            (Some(phone_number_id), Some(token)) => Ok(Arc::new(WhatsApp {
                base_url: row
                    .base_url
                    .clone()
                    .unwrap_or_else(|| super::whatsapp::LIVE_BASE_URL.to_owned()),
                phone_number_id,
                token: Secret::new(token),
                client,
            })),
            _ => Err("phoneNumberId or accessToken missing".to_owned()),
        },
        "sms" => match (text(&settings, "username"), text(&credentials, "apiKey")) {
            (Some(username), Some(key)) => Ok(Arc::new(SmsChannel {
                client: AfricasTalking::new(
                    row.base_url
                        .as_deref()
                        .unwrap_or(super::africastalking::LIVE_BASE_URL),
                    &username,
                    Secret::new(key),
                    client,
                ),
                from: text(&settings, "senderId"),
            })),
            _ => Err("username or apiKey missing".to_owned()),
        },
        "email" => match (text(&credentials, "smtpUrl"), text(&settings, "from")) {
            (Some(url), Some(from)) => Email::new(&url, &from).map(|e| Arc::new(e) as _),
            _ => Err("smtpUrl or from missing".to_owned()),
        },
        _ => Err(format!("{channel} is not a channel")),
    };
    Ok(match opened {
        Ok(channel) => Ok(Opened {
            channel,
            settings,
            default: false,
        }),
        Err(why) => Err(Closed::Broken(why)),
    })
}

/// The secret in a channel's callback URLs (and the WhatsApp webhook's verify token), derived from the
/// server's key for this merchant and channel; `None` without a key. Rotating the key changes it: set
/// the new URLs at the provider then.
pub fn callback_token(state: &AppState, merchant_id: &str, channel: &str) -> Option<String> {
    let key = state.config.encryption_key.as_ref()?;
    let derived = key.derive(format!("channel callback/{merchant_id}/{channel}").as_bytes());
    Some(hex::encode(&derived[..20]))
}

/// The app secret WhatsApp signs webhooks with: the merchant's `appSecret`, or for the emulated
/// channel of a test merchant, its callback token (register the emulator's webhook with it).
pub async fn whatsapp_app_secret(
    state: &AppState,
    merchant_id: &str,
    mode: &str,
) -> ApiResult<Option<String>> {
    let row = crate::store::channels::get(&state.pool, merchant_id, "whatsapp").await?;
    let Some(row) = row else {
        return Ok((mode == "test")
            .then(|| callback_token(state, merchant_id, "whatsapp"))
            .flatten());
    };
    let Some(sealed) = row.credentials else {
        return Ok(None);
    };
    let Some(key) = state.config.encryption_key.as_ref() else {
        return Ok(None);
    };
    let plain = key
        .open(&sealed, associated(merchant_id, "whatsapp").as_bytes())
        .map_err(ApiError::internal)?;
    let credentials: Value = serde_json::from_slice(&plain).map_err(ApiError::internal)?;
    Ok(credentials["appSecret"].as_str().map(str::to_owned))
}

/// What a sealed channel credential is bound to.
pub fn associated(merchant_id: &str, channel: &str) -> String {
    format!("{merchant_id}/channel/{channel}")
}

/// The emulated WhatsApp number of a test merchant (the emulator lists its messages by it).
pub fn emulated_phone_number_id(merchant_id: &str) -> String {
    format!("emu-{merchant_id}")
}

fn default(
    state: &AppState,
    merchant_id: &str,
    mode: &str,
    channel: &str,
) -> Result<Opened, Closed> {
    if mode != "test" {
        return Err(Closed::NotConfigured);
    }
    let client = state.providers.outbound().client().clone();
    let emulator = |kind: &str| {
        if !state.config.emulators {
            return Err(Closed::NotConfigured);
        }
        state
            .providers
            .emulator_url(kind)
            .map_err(|e| Closed::Broken(e.to_string()))
    };
    let channel: Arc<dyn Channel> = match channel {
        "whatsapp" => Arc::new(WhatsApp {
            base_url: emulator("whatsapp")?,
            phone_number_id: emulated_phone_number_id(merchant_id),
            token: Secret::new(format!("emulated-{merchant_id}")),
            client,
        }),
        "sms" => Arc::new(SmsChannel {
            client: AfricasTalking::new(
                &emulator("africastalking")?,
                merchant_id,
                Secret::new("emulated"),
                client,
            ),
            from: None,
        }),
        "email" => {
            let Some(url) = &state.config.smtp_url else {
                return Err(Closed::NotConfigured);
            };
            Arc::new(Email::new(url.expose(), &state.config.smtp_from).map_err(Closed::Broken)?)
        }
        _ => return Err(Closed::NotConfigured),
    };
    Ok(Opened {
        channel,
        settings: json!({}),
        default: true,
    })
}

//! `POST /collections` (integrated): validate, pick the provider account, store the provider
//! references Cowry will use *before* calling the provider, get the payment options, then write the
//! collection, its contact and its event in one statement (with the idempotency record, when keyed).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeDelta;
use serde_json::json;

use super::view::{CollectionView, Envelope};
use crate::domain::collection::{event, Status};
use crate::domain::followup;
use crate::domain::ids::new_id;
use crate::domain::integrated::{self, NewCollection};
use crate::domain::time;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{IdempotencyKey, JsonBody, Merchant};
use crate::http::idempotent;
use crate::providers::{Account, OptionsRequest, PaymentOption, PaymentProvider, ProviderError};
use crate::store::collections::{self as store, CollectionRow, NewCollectionRow};
use crate::store::merchants::MerchantContext;
use crate::AppState;

/// Create an integrated collection.
#[utoipa::path(post, path = "/collections", tag = "collections",
    request_body(content = crate::http::openapi::CreateRequest,
        description = "As the integrated-collection document, or (with `schedule` or `debitType`) the scheduled-collection document"),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$",
        description = "Replays the saved response for the same key and body")),
    responses(
        (status = 201, description = "Created: an integrated collection, or a scheduled one in the scheduled document's shape",
            body = crate::http::openapi::CollectionAnswer),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::error::ErrorBody),
        (status = 415, description = "Content type is not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 409, description = "Duplicate reference or reused Idempotency-Key", body = crate::error::ErrorBody),
        (status = 422, description = "Validation failed; every bad field is listed", body = crate::error::ErrorBody),
        (status = 502, description = "The provider failed; nothing was created", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody,
) -> ApiResult<Response> {
    // The provider calls' answers are awaited until then; past it the merchant gets what is stored.
    let deadline = tokio::time::Instant::now() + crate::http::collect::create::budget(&state);
    if body
        .value
        .as_object()
        .is_some_and(integrated::is_scheduled_body)
    {
        return crate::http::scheduled::create::create(&state, &merchant, key.as_deref(), &body)
            .await;
    }
    let new = integrated::parse(&body.value).map_err(ApiError::Validation)?;
    let (slug, adapter) = choose_provider(&state, &merchant, &new).await?;
    let fingerprint: [&[u8]; 3] = [b"POST", b"/collections", &body.raw];
    let merchant_id = merchant.merchant_id.as_str();
    let keyed = idempotent::Keyed {
        merchant_id,
        key: key.as_deref(),
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    // Cowry plans the follow-ups when the merchant did not: from what worked for this merchant before.
    let known = match new.follow_up {
        Some(_) => Known::default(),
        None => Known {
            arms: state
                .learned
                .arms(&state.pool, &merchant.merchant_id)
                .await?,
            history: crate::store::messages::history(
                &state.pool,
                &merchant.merchant_id,
                new.contact.phone.e164(),
            )
            .await?
            .unwrap_or_default(),
        },
    };
    let mut draft = Draft::new(
        &merchant.name,
        &state.config.public_url,
        adapter.as_ref(),
        &new,
        state.clock.now(),
        &known,
    )?;
    // Only Paystack keeps a dedicated account per customer (the sandbox makes one per collection).
    if new.payable_enabled
        && adapter.kind() == crate::providers::paystack::NAME
        && draft.methods.contains(&"virtual_account")
    {
        draft.dedicated = crate::store::virtual_accounts::for_email(
            &state.pool,
            merchant_id,
            &slug,
            &new.contact.email,
        )
        .await?;
    }
    let plan = if new.payable_enabled {
        adapter.plan(&draft.request(&new))
    } else {
        Vec::new()
    };
    if !plan.is_empty() {
        // Provider calls ahead: claim first, call after (see `claimed`).
        let planned = super::claimed::Planned::new(slug, adapter, new, draft, plan);
        return super::claimed::create(&state, keyed, planned, deadline).await;
    }
    let offer = async || {
        if !new.payable_enabled {
            return Ok(Vec::new());
        }
        let offered = adapter.payment_options(&draft.request(&new), &[]).await;
        Ok(offered.map_err(provider_error)?.options)
    };
    let live = merchant.mode == "live";
    let created = |row: CollectionRow| {
        let view = CollectionView::from(row);
        let body = Envelope::new("Collection created successfully", view).to_bytes();
        (StatusCode::CREATED, body)
    };
    if keyed.key.is_none() {
        // One statement, atomic on its own: written with other requests' creates, one commit for all.
        let options = offer().await?;
        let writer = Writer::Grouped(&state.group_commit);
        let publish = Publish::Now { live };
        let row = write(writer, merchant_id, &slug, &new, &draft, options, publish).await?;
        let (status, body) = created(row);
        return Ok(idempotent::json_response(status, body, false));
    }
    idempotent::run(&state.pool, keyed, offer, async |conn, options| {
        let (writer, publish) = (Writer::Conn(conn), Publish::Now { live });
        let row = write(writer, merchant_id, &slug, &new, &draft, options, publish).await?;
        Ok(created(row))
    })
    .await
}

/// The provider the collection names (or the merchant's default), checked against the merchant's
/// providers list and the adapter's declared capabilities, connected to the merchant's account.
async fn choose_provider(
    state: &AppState,
    merchant: &MerchantContext,
    new: &NewCollection,
) -> ApiResult<(String, Arc<dyn PaymentProvider>)> {
    let slug = new
        .provider
        .clone()
        .unwrap_or_else(|| merchant.default_provider.clone());
    let Some(kind) = merchant.provider_kind(&slug) else {
        let have: Vec<&str> = merchant.providers.iter().map(|(s, _)| s.as_str()).collect();
        return Err(ApiError::validation(
            "provider",
            format!(
                "{slug} is not in your providers list (you have: {})",
                have.join(", ")
            ),
        ));
    };
    let account = account(state, merchant, &slug, kind).await?;
    let adapter = state
        .providers
        .connect(&account)
        .map_err(|e| ApiError::validation("provider", e.to_string()))?;
    let capabilities = adapter.capabilities();
    let mut errors = FieldErrors::default();
    let currency = new.amount.currency().code();
    if !capabilities.currencies.is_empty() && !capabilities.currencies.contains(&currency) {
        errors.add(
            "amount.currency",
            format!("{currency} is not supported by provider {slug}"),
        );
    }
    for (i, method) in new.methods.iter().enumerate() {
        if new.payable_enabled && !capabilities.methods.contains(method) {
            errors.add(
                format!("payable.methods[{i}]"),
                format!("{method} is not supported by provider {slug}"),
            );
        }
    }
    errors
        .finish(|| (slug, adapter))
        .map_err(ApiError::Validation)
}

/// The account behind `slug`, credentials decrypted. The sandbox needs none, so it costs no query.
async fn account(
    state: &AppState,
    merchant: &MerchantContext,
    slug: &str,
    kind: &str,
) -> ApiResult<Account> {
    let account = Account {
        id: None,
        merchant_id: merchant.merchant_id.clone(),
        slug: slug.to_owned(),
        kind: kind.to_owned(),
        mode: merchant.mode.clone(),
        base_url: None,
        credentials: None,
    };
    if kind == "sandbox" {
        return Ok(account);
    }
    crate::providers::accounts::open(state, &merchant.merchant_id, slug)
        .await?
        .ok_or_else(|| {
            ApiError::validation("provider", format!("{slug} is not in your providers list"))
        })
}

/// Everything decided before the collection is written: its id and times, and the methods offered.
pub(super) struct Draft {
    pub id: String,
    /// The merchant's business name, for provider checkouts that show it.
    pub merchant_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub methods: Vec<&'static str>,
    /// The merchant's `followUp`, or the plan Cowry made when it gave none.
    pub follow_up: serde_json::Value,
    /// When the plan's first message is due (its `followup` job's run time).
    pub first_follow_up: Option<chrono::DateTime<chrono::Utc>>,
    /// When it becomes overdue unpaid: the merchant's `dueAt`, else three quarters of the way to expiry.
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// The hosted payment page: its token and its URL.
    pub pay_token: String,
    pub pay_url: String,
    /// The customer's dedicated account at the chosen provider account, when one was made before.
    pub dedicated: Option<crate::providers::DedicatedAccount>,
}

impl Draft {
    /// `now` is business time (`clock`): what the expiry and the follow-up plan count from.
    fn new(
        merchant_name: &str,
        public_url: &str,
        adapter: &dyn PaymentProvider,
        new: &NewCollection,
        now: chrono::DateTime<chrono::Utc>,
        known: &Known,
    ) -> ApiResult<Draft> {
        let id = new_id("pay");
        let created_at = crate::domain::time::truncate(now);
        let expires_at = created_at + TimeDelta::minutes(new.expires_in.into());
        let due_at = match new.due_at {
            Some(due) if due <= created_at || due > expires_at => {
                return Err(ApiError::validation(
                    "dueAt",
                    format!(
                        "must be after now and at or before the expiry ({})",
                        time::format(&expires_at)
                    ),
                ))
            }
            Some(due) => crate::domain::time::truncate(due),
            None => created_at + (expires_at - created_at) * 3 / 4,
        };
        let follow_up = new
            .follow_up
            .clone()
            .unwrap_or_else(|| default_follow_up(new, &id, known, created_at, expires_at));
        let first_follow_up = followup::Plan::read(Some(&follow_up))
            .touch(1, created_at, expires_at, None)
            .map(|t| t.at);
        let pay_token = crate::http::pay::new_token();
        Ok(Draft {
            id,
            pay_url: crate::http::pay::url(public_url, &pay_token),
            pay_token,
            dedicated: None,
            merchant_name: merchant_name.to_owned(),
            created_at,
            expires_at,
            follow_up,
            first_follow_up,
            due_at,
            methods: if new.payable_enabled {
                adapter.offered_methods(&new.methods, new.amount)
            } else {
                new.methods.clone()
            },
        })
    }

    /// What the provider is asked for.
    pub fn request<'a>(&'a self, new: &'a NewCollection) -> OptionsRequest<'a> {
        OptionsRequest {
            merchant_name: &self.merchant_name,
            reference: &new.reference,
            amount: new.amount,
            methods: &self.methods,
            first_name: &new.contact.first_name,
            last_name: &new.contact.last_name,
            email: &new.contact.email,
            phone: new.contact.phone.e164(),
            expires_at: self.expires_at,
            dedicated: self.dedicated.as_ref(),
            pay_url: &self.pay_url,
        }
    }

    /// `payable` as stored and shown: the document's fields, and (when the customer can pay) `payUrl`,
    /// the hosted page that shows every option.
    pub fn payable(&self, new: &NewCollection, options: &[PaymentOption]) -> serde_json::Value {
        if new.payable_enabled {
            json!({"enabled": true, "methods": self.methods, "options": options, "payUrl": self.pay_url})
        } else {
            json!({"enabled": false, "methods": self.methods, "options": options})
        }
    }
}

/// What the default plan is made from besides the collection: the merchant's history of what worked,
/// and this customer's with the merchant.
#[derive(Default)]
pub(super) struct Known {
    pub arms: std::sync::Arc<Vec<crate::domain::learning::Arm>>,
    pub history: crate::store::messages::History,
}

/// Cowry's plan for a collection whose merchant gave no `followUp` (`domain::followup::default_plan`).
/// It knows the customer's zone (from the phone), the channels they can be reached on (WhatsApp only
/// with a recorded opt-in; none they opted out of) and whether they paid this merchant promptly before.
fn default_follow_up(
    new: &NewCollection,
    id: &str,
    known: &Known,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let history = &known.history;
    let reachable: Vec<&'static str> = ["whatsapp", "sms", "email"]
        .into_iter()
        .filter(|c| *c != "whatsapp" || history.whatsapp_opt_in)
        .filter(|c| !history.opted_out.iter().any(|o| o == c))
        .collect();
    let mut learned = crate::domain::learning::prefer(
        &known.arms,
        &reachable,
        crate::domain::learning::explores(id),
    );
    // The customer's own preference, where it can reach them, comes before what worked for others.
    if let Some(preferred) = history
        .preferred_channel
        .as_deref()
        .filter(|c| reachable.contains(c))
    {
        learned.channel = Some(preferred.to_owned());
        learned
            .why
            .insert(0, format!("the customer prefers {preferred}"));
    }
    let steps = followup::default_plan(&followup::Situation {
        created_at,
        expires_at,
        zone: crate::domain::phone::zone_of(new.contact.phone.country_code())
            .unwrap_or(chrono_tz::Africa::Lagos),
        reachable,
        pays_promptly: history.pays_promptly,
        learned: learned.clone(),
    });
    followup::planned_json(&steps, &learned.why)
}

/// Whether `write` publishes the `collection.created` event itself.
pub(super) enum Publish {
    /// In the same statement (`live`: the merchant's mode, for the payload's `livemode`).
    Now { live: bool },
    /// Not yet: provider calls follow, and the event is published once they confirmed the collection.
    Later,
}

/// Where `write` sends its one statement.
pub(super) enum Writer<'a> {
    /// On this connection: in the caller's transaction, or alone as its own.
    Conn(&'a mut sqlx::PgConnection),
    /// Through the group-commit writer: with other requests' creates, one statement and one commit.
    Grouped(&'a crate::store::group_commit::GroupCommit<crate::store::create_batch::Creates>),
}

/// Writes the collection, its contact and its event (one statement) with the options it offers.
pub(super) async fn write(
    writer: Writer<'_>,
    merchant_id: &str,
    slug: &str,
    new: &NewCollection,
    draft: &Draft,
    options: Vec<PaymentOption>,
    publish: Publish,
) -> ApiResult<CollectionRow> {
    let Draft {
        id,
        created_at,
        expires_at,
        ..
    } = draft;
    let (created_at, expires_at) = (*created_at, *expires_at);
    let payable = draft.payable(new, &options);
    let event_id = new_id("evt");
    let new_contact_id = new_id("contact");
    let mut collection = CollectionRow {
        id: id.clone(),
        kind: "integrated".to_owned(),
        reference: new.reference.clone(),
        amount_minor: new.amount.minor(),
        amount_paid_minor: 0,
        currency: new.amount.currency().code().to_owned(),
        status: Status::Pending.as_str().to_owned(),
        provider: slug.to_owned(),
        expires_in: new.expires_in,
        expires_at,
        due_at: Some(draft.due_at),
        payable: store::raw(&payable),
        follow_up: Some(store::raw(&draft.follow_up)),
        metadata: new.metadata.as_ref().map(store::raw),
        created_at,
        updated_at: created_at,
        completed_at: None,
        // As it will be when the contact is new; the statement answers with the one it found or made.
        contact: store::ContactRow {
            contact_id: new_contact_id.clone(),
            first_name: new.contact.first_name.clone(),
            last_name: new.contact.last_name.clone(),
            phone: new.contact.phone.e164().to_owned(),
            email: new.contact.email.clone(),
        },
        events: vec![(event_id.clone(), event::CREATED.to_owned(), created_at)],
    };
    let published = match publish {
        Publish::Now { live } => Some((
            serde_json::value::to_raw_value(&CollectionView::from(collection.clone()))
                .expect("views serialise"),
            crate::domain::events::payload(
                &event_id,
                event::CREATED,
                live,
                &time::format(&created_at),
                0,
                &serde_json::Value::Null,
            ),
        )),
        Publish::Later => None,
    };
    let row = NewCollectionRow {
        merchant_id: merchant_id.to_owned(),
        id: id.clone(),
        reference: new.reference.clone(),
        amount_minor: new.amount.minor(),
        currency: collection.currency.clone(),
        provider: slug.to_owned(),
        expires_in: new.expires_in,
        expires_at,
        payable: collection.payable.0.get().to_owned(),
        follow_up: collection.follow_up.as_ref().map(|j| j.0.get().to_owned()),
        metadata: collection.metadata.as_ref().map(|j| j.0.get().to_owned()),
        created_at,
        event_id,
        first_follow_up: draft.first_follow_up,
        due_at: draft.due_at,
        pay_token: draft.pay_token.clone(),
        virtual_account: options.iter().find_map(|o| match o {
            PaymentOption::VirtualAccount { account_number, .. } => Some(account_number.clone()),
            _ => None,
        }),
        new_contact_id,
        first_name: new.contact.first_name.clone(),
        last_name: new.contact.last_name.clone(),
        phone: new.contact.phone.e164().to_owned(),
        email: new.contact.email.clone(),
        published: published.map(|(snapshot, envelope)| store::Published { snapshot, envelope }),
    };
    let contact = match writer {
        Writer::Conn(conn) => store::insert(conn, &row).await?,
        Writer::Grouped(group) => group.submit(row).await?,
    };
    collection.contact = contact;
    Ok(collection)
}

/// What the merchant sees: the provider's own rejection of their data is a 422 naming the provider;
/// anything else the provider did is a 502 `provider_error` with its message.
pub(super) fn provider_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Unsupported { .. } => ApiError::validation("payable.methods", e.to_string()),
        ProviderError::Rejected { .. } => ApiError::validation("provider", e.to_string()),
        _ => ApiError::Provider(e.to_string()),
    }
}

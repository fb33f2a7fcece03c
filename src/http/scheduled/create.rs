//! `POST /collections` with a scheduled body: validate, choose a debit-capable account, and write the
//! collection, its mandate and its event in one transaction. On a Paystack account nothing is sent to
//! the provider yet: the customer's consent page starts the authorization. On a Mona account
//! (`debitType: MONA`) the mandate is created at Mona: claimed first (the reference is taken), then
//! sent, then Mona's id recorded; a refusal takes the claim back.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::view::{ScheduledEnvelope, ScheduledView};
use crate::domain::ids::{new_id, random_chars};
use crate::domain::scheduled::{self, DebitType, NewScheduled};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::idempotent::{self, Keyed};
use crate::providers::mona::{self, Mandate};
use crate::providers::ProviderError;
use crate::store::merchants::MerchantContext;
use crate::store::scheduled::{self as store, NewMandate};
use crate::AppState;

const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

pub async fn create(
    state: &AppState,
    merchant: &MerchantContext,
    key: Option<&str>,
    body: &JsonBody,
) -> ApiResult<Response> {
    let merchant_id = merchant.merchant_id.as_str();
    let zone = store::merchant_zone(&state.pool, merchant_id)
        .await?
        .and_then(|name| scheduled::zone(&name))
        .unwrap_or(scheduled::DEFAULT_ZONE);
    // One instant for "in the future" and for the creation time: an entry accepted as future is never
    // before the collection existed (installments are planned from then on).
    let created_at = state.clock.now();
    let new = scheduled::parse(&body.value, zone, created_at).map_err(ApiError::Validation)?;
    let (slug, kind) = choose_account(merchant, &new)?;
    let fingerprint: [&[u8]; 3] = [b"POST", b"/collections", &body.raw];
    let keyed = Keyed {
        merchant_id,
        key,
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    let id = new_id("pay");
    let token = random_chars(32, TOKEN_ALPHABET).collect::<String>();
    let consent_url = format!(
        "{}/consent/{token}",
        state.config.public_url.trim_end_matches('/')
    );
    let schedule = new.schedule_json();
    let event_id = new_id("evt");
    let contact_id = new_id("contact");
    let row = NewMandate {
        merchant_id,
        id: &id,
        reference: &new.reference,
        currency: new.currency.code(),
        provider: &slug,
        provider_kind: kind,
        maximum_minor: new.maximum,
        monthly_limit_minor: new.monthly_limit,
        start_at: new.plan.start,
        expires_at: new.plan.expiry,
        time_zone: new.time_zone.name(),
        debit_type: new.debit_type.as_str(),
        schedule_type: new.schedule_type,
        schedule: &schedule,
        agent_id: new.agent_id.as_deref(),
        token: &token,
        consent_url: &consent_url,
        provider_reference: None,
        customer_email: new.contact.as_ref().map(|c| c.email.as_str()),
        created_at,
        event_id: &event_id,
        contact: new.contact.as_ref().map(|c| {
            (
                contact_id.as_str(),
                c.first_name.as_str(),
                c.last_name.as_str(),
                c.phone.e164(),
                c.email.as_str(),
            )
        }),
    };
    if kind == mona::NAME {
        return create_at_mona(state, merchant, &keyed, &new, &row).await;
    }
    idempotent::run(
        &state.pool,
        keyed,
        async || Ok(()),
        async |conn, ()| {
            store::insert(conn, &row).await?;
            answer(conn, merchant_id, &id).await
        },
    )
    .await
}

/// The view as stored, published, as the 201 body.
async fn answer(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
) -> ApiResult<idempotent::Effect> {
    let stored = store::get(&mut *conn, merchant_id, id)
        .await?
        .ok_or_else(|| ApiError::internal("a scheduled collection vanished"))?;
    let view = ScheduledView::from(stored);
    let snapshot = serde_json::value::to_raw_value(&view).expect("views serialise");
    crate::events::publish_snapshot(
        conn,
        merchant_id,
        crate::events::Table::Collection,
        id,
        &snapshot,
    )
    .await?;
    Ok((StatusCode::CREATED, ScheduledEnvelope::new(view).to_bytes()))
}

/// The account the collection names, else the merchant's default when it can hold mandates, else the
/// first Paystack account in the providers list. Paystack direct debit is for naira; Mona's
/// merchant-triggered debit call is not public, so a Mona account runs its own schedule (`MONA`).
fn choose_account(
    merchant: &MerchantContext,
    new: &NewScheduled,
) -> ApiResult<(String, &'static str)> {
    let capable = |kind: &str| kind == "paystack" || kind == mona::NAME;
    let slug = match &new.provider {
        Some(slug) => slug.clone(),
        None => match merchant.provider_kind(&merchant.default_provider) {
            Some(kind) if capable(kind) => merchant.default_provider.clone(),
            _ => merchant
                .providers
                .iter()
                .find(|(_, kind)| kind == "paystack")
                .map(|(slug, _)| slug.clone())
                .ok_or_else(|| {
                    ApiError::validation(
                        "provider",
                        "no provider in your providers list can hold a mandate (add a paystack or mona account)",
                    )
                })?,
        },
    };
    let kind = match merchant.provider_kind(&slug) {
        Some("paystack") => "paystack",
        Some("mona") => mona::NAME,
        Some(other) => {
            return Err(ApiError::validation(
                "provider",
                format!(
                "{slug} is a {other} account, which cannot hold a mandate (use paystack or mona)"
            ),
            ))
        }
        None => {
            return Err(ApiError::validation(
                "provider",
                format!("{slug} is not in your providers list"),
            ))
        }
    };
    let currency = new.currency.code();
    if kind == mona::NAME && currency != "NGN" {
        return Err(ApiError::validation(
            "currency",
            "mona direct debit is for NGN only",
        ));
    }
    if kind == "paystack" && scheduled::card_verification_minor(currency).is_none() {
        return Err(ApiError::validation(
            "currency",
            "a paystack mandate is in NGN (bank account or card) or GHS, ZAR or USD (card)",
        ));
    }
    if kind == mona::NAME && new.debit_type == DebitType::Merchant {
        return Err(ApiError::validation(
            "debitType",
            "Mona's merchant-triggered debit call is not public: a mona account takes debitType MONA (Mona runs the schedule); use a paystack account for MERCHANT",
        ));
    }
    Ok((slug, kind))
}

/// Mona: claim (collection and mandate, committed), create the mandate at Mona, record Mona's id.
async fn create_at_mona(
    state: &AppState,
    merchant: &MerchantContext,
    keyed: &Keyed<'_>,
    new: &NewScheduled,
    row: &NewMandate<'_>,
) -> ApiResult<Response> {
    let merchant_id = merchant.merchant_id.as_str();
    match idempotent::begin(&state.pool, keyed).await? {
        idempotent::Begin::Answer(response) => return Ok(response),
        idempotent::Begin::Resume(recovery) => {
            let id = recovery["collection"].as_str().unwrap_or_default();
            return stored(state, merchant_id, id, true).await;
        }
        idempotent::Begin::Go => {}
    }
    let account = match crate::providers::accounts::open(state, merchant_id, row.provider).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            idempotent::give_back(&state.pool, keyed).await;
            return Err(ApiError::validation(
                "provider",
                "not in your providers list",
            ));
        }
        Err(e) => {
            idempotent::give_back(&state.pool, keyed).await;
            return Err(e);
        }
    };
    let claimed = async {
        let mut tx = crate::db::begin(&state.pool).await?;
        store::insert(&mut tx, row).await?;
        if let Some(key) = keyed.key {
            crate::store::idempotency::set_recovery(
                &mut tx,
                merchant_id,
                key,
                &json!({"collection": row.id}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<_, ApiError>(())
    };
    if let Err(e) = claimed.await {
        idempotent::give_back(&state.pool, keyed).await;
        return Err(e);
    }
    let entries = &new.plan.entries;
    let entries: Vec<_> = entries
        .iter()
        .map(|(at, amount)| {
            (
                *at,
                crate::domain::money::Money::from_minor(*amount, new.currency),
            )
        })
        .collect();
    let mandate = Mandate {
        reference: &new.reference,
        maximum: crate::domain::money::Money::from_minor(new.maximum, new.currency),
        debit_type: mona::DebitType::Mona,
        start: new.plan.start,
        expiry: new.plan.expiry,
        schedule_type: new.schedule_type,
        frequency: new.plan.recurring.map(|(f, _)| f.as_str()),
        amount: new
            .plan
            .recurring
            .map(|(_, a)| crate::domain::money::Money::from_minor(a, new.currency)),
        entries: &entries,
    };
    let sent = match state.providers.mona(&account) {
        Ok(mona) => mona.create_mandate(&mandate).await,
        Err(e) => Err(e),
    };
    let mut tx = crate::db::begin(&state.pool).await?;
    match sent {
        Ok(created) => {
            store::set_consent(
                &mut *tx,
                merchant_id,
                row.id,
                &store::ConsentStep {
                    stage: "requested",
                    provider_reference: Some(&created.id),
                    ..Default::default()
                },
            )
            .await?;
        }
        Err(e) if e.created_nothing() => {
            withdraw(&mut tx, merchant_id, row.id).await?;
            tx.commit().await?;
            let error = match e {
                ProviderError::Rejected { .. } => ApiError::validation("provider", e.to_string()),
                _ => ApiError::Provider(e.to_string()),
            };
            idempotent::give_back(&state.pool, keyed).await;
            return Err(error);
        }
        Err(e) => {
            // Mona offers no way to look a mandate up, so a lost answer stays visible as such.
            tracing::warn!(error = %e.detail(), "Mona's answer to a mandate was lost");
            crate::store::collections::add_event(
                &mut *tx,
                merchant_id,
                row.id,
                &new_id("evt"),
                "mandate.unconfirmed",
                &json!({"reason": e.to_string()}),
            )
            .await?;
        }
    }
    let (status, body) = answer(&mut tx, merchant_id, row.id).await?;
    if let Some(key) = keyed.key {
        crate::store::idempotency::save(&mut tx, merchant_id, key, status.as_u16(), &body).await?;
    }
    tx.commit().await?;
    Ok(idempotent::stored_response(status, body, false))
}

/// Takes a claimed Mona mandate back after Mona refused it: nothing exists there.
async fn withdraw(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    for statement in [
        "delete from collection_events where merchant_id = $1 and collection_id = $2",
        "delete from mandates where merchant_id = $1 and collection_id = $2",
        "delete from collections where merchant_id = $1 and id = $2",
    ] {
        sqlx::query(statement)
            .bind(merchant_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn stored(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    replayed: bool,
) -> ApiResult<Response> {
    let row = store::get(&state.pool, merchant_id, id)
        .await?
        .ok_or_else(|| ApiError::internal("a claimed collection vanished"))?;
    let body = ScheduledEnvelope::new(ScheduledView::from(row)).to_bytes();
    Ok(idempotent::stored_response(
        StatusCode::CREATED,
        body,
        replayed,
    ))
}

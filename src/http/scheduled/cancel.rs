//! `POST /collections/{id}/cancel` of a scheduled collection: `CANCELLED` with its event, future
//! installments stopped, then the mandate deactivated at Paystack so it can never be charged (a
//! failure there is recorded on the collection for an operator; Cowry itself will not debit again).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::view::{ScheduledEnvelope, ScheduledView};
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::error::{ApiError, ApiResult};
use crate::http::idempotent::{self, Keyed};
use crate::jobs::mandate;
use crate::store::merchants::MerchantContext;
use crate::store::scheduled as store;
use crate::AppState;

pub async fn cancel(
    state: &AppState,
    merchant: &MerchantContext,
    key: Option<&str>,
    id: &str,
) -> ApiResult<Response> {
    let merchant_id = merchant.merchant_id.as_str();
    let path = format!("/collections/{id}/cancel");
    let fingerprint: [&[u8]; 2] = [b"POST", path.as_bytes()];
    let keyed = Keyed {
        merchant_id,
        key,
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    let mut deactivate = None;
    let response = idempotent::run(
        &state.pool,
        keyed,
        async || Ok(()),
        async |conn, ()| {
            let status = store::lock_mandate(conn, merchant_id, id)
                .await?
                .map(|row| row.status)
                .ok_or_else(|| ApiError::NotFound("no collection with this id".to_owned()))?;
            let moved = store::transition(
                &mut *conn,
                merchant_id,
                id,
                &["NOT_STARTED", "ACTIVE"],
                "CANCELLED",
                (&new_id("evt"), event::CANCELLED, &json!({"by": "merchant"})),
            )
            .await?;
            if !moved {
                return Err(ApiError::Conflict {
                    code: "invalid_state",
                    message: format!("the collection is {status} and can no longer be cancelled"),
                });
            }
            store::stop_installments(conn, merchant_id, id).await?;
            crate::store::jobs::cancel(
                &mut *conn,
                crate::jobs::consent::KIND,
                &crate::jobs::consent::key(merchant_id, id),
            )
            .await?;
            mandate::publish(conn, merchant_id, id).await?;
            let row = store::get(&mut *conn, merchant_id, id)
                .await?
                .ok_or_else(|| ApiError::internal("a cancelled collection vanished"))?;
            deactivate = row
                .mandate
                .authorization_code
                .clone()
                .map(|code| (row.mandate.provider.clone(), code));
            Ok((
                StatusCode::OK,
                ScheduledEnvelope::new(ScheduledView::from(row)).to_bytes(),
            ))
        },
    )
    .await?;
    if let Some((provider, sealed)) = deactivate {
        deactivate_at_provider(state, merchant_id, id, &provider, &sealed).await;
    }
    Ok(response)
}

/// Revokes the authorization at Paystack (best effort, recorded either way).
async fn deactivate_at_provider(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    provider: &str,
    sealed: &[u8],
) {
    let code = state
        .config
        .encryption_key
        .as_ref()
        .and_then(|key| key.open(sealed, id.as_bytes()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let outcome = match (
        code,
        crate::providers::accounts::open(state, merchant_id, provider).await,
    ) {
        (Some(code), Ok(Some(account))) => match state.providers.paystack(&account) {
            Ok(paystack) => paystack
                .deactivate_authorization(&code)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        _ => Err("the authorization or the account could not be opened".to_owned()),
    };
    let (kind, data) = match outcome {
        Ok(()) => ("mandate.deactivated", json!({"provider": provider})),
        Err(why) => (
            "mandate.deactivation_failed",
            json!({"provider": provider, "reason": why}),
        ),
    };
    let recorded = crate::store::collections::add_event(
        &state.pool,
        merchant_id,
        id,
        &new_id("evt"),
        kind,
        &data,
    )
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record a mandate's deactivation");
    }
}

//! The `activation` job: a direct-debit mandate the customer approved is chargeable only once their
//! bank's small activation debit went through, which can take a day or more — or fail. When a mandate
//! is still not active after each wait of `COWRY_ACTIVATION_RETRY_SCHEDULE` (default 24 h, three
//! times), Cowry asks Paystack once more where it stands and, if still inactive, asks it to retry the
//! activation charge: `GET /customer/{code}` (the integer id), `GET /customer/{id}/directdebit-mandate-
//! authorizations` (the authorization's id), `PUT /customer/{id}/directdebit-activation-charge`. Each
//! retry is an event on the collection (`mandate.activation_retried`). The `consent` poll and the
//! `direct_debit.authorization.active` webhook report the activation when it comes.

use serde_json::json;

use super::consent::{self, CheckError};
use super::mandate::{self, Applied};
use super::queue::Outcome;
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::providers::ProviderError;
use crate::store::jobs::Job;
use crate::store::scheduled as store;
use crate::AppState;

pub const KIND: &str = "activation";

pub async fn schedule(
    db: impl sqlx::PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    run_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    consent::enqueue_for(db, KIND, merchant_id, id, run_at).await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match run_once(state, job).await {
        Ok(outcome) => outcome,
        Err(CheckError::NoAccount) => {
            Outcome::GiveUp("the provider account was removed".to_owned())
        }
        Err(CheckError::Provider(e @ ProviderError::BadCredentials { .. })) => {
            Outcome::GiveUp(e.to_string())
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn run_once(state: &AppState, job: &Job) -> Result<Outcome, CheckError> {
    let (Some(merchant_id), Some(id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["collectionId"].as_str(),
    ) else {
        return Ok(Outcome::GiveUp("payload names no collection".to_owned()));
    };
    let waiting = |row: &store::MandateRow| {
        row.status == "NOT_STARTED"
            && row.consent_stage == "authorized"
            && row.consent_rail == "direct_debit"
    };
    let Some(row) = store::mandate(&state.pool, merchant_id, id).await? else {
        return Ok(Outcome::GiveUp("no such collection".to_owned()));
    };
    if !waiting(&row) {
        return Ok(Outcome::Done);
    }
    // It may have become active meanwhile (a lost webhook): ask first.
    if consent::check(state, &row, "activation").await? == Applied::Consented {
        return Ok(Outcome::Done);
    }
    let Some(row) = store::mandate(&state.pool, merchant_id, id).await? else {
        return Ok(Outcome::Done);
    };
    let retried: i64 = sqlx::query_scalar(
        "select count(*) from collection_events
         where merchant_id = $1 and collection_id = $2 and type = $3",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(event::MANDATE_ACTIVATION_RETRIED)
    .fetch_one(&state.pool)
    .await?;
    let schedule = &state.config.activation_retry_schedule;
    if !waiting(&row) || retried as usize >= schedule.len() {
        return Ok(Outcome::Done);
    }
    let (Some(customer), Some(code)) = (
        row.provider_customer.as_deref(),
        mandate::authorization_code(state, id, row.authorization_code.as_deref()),
    ) else {
        return Ok(Outcome::GiveUp(
            "Paystack named no customer or authorization for this mandate".to_owned(),
        ));
    };
    let account = crate::providers::accounts::open(state, merchant_id, &row.provider)
        .await
        .map_err(|e| CheckError::Account(e.to_string()))?
        .ok_or(CheckError::NoAccount)?;
    let paystack = state
        .providers
        .paystack(&account)
        .map_err(CheckError::Provider)?;
    let customer_id = paystack
        .customer_id(customer)
        .await
        .map_err(CheckError::Provider)?;
    let authorizations = paystack
        .mandate_authorizations(customer_id)
        .await
        .map_err(CheckError::Provider)?;
    let Some(authorization) = authorizations.iter().find(|a| a.authorization_code == code) else {
        return Ok(Outcome::GiveUp(
            "Paystack lists no such authorization for the customer".to_owned(),
        ));
    };
    paystack
        .retry_activation_charge(customer_id, authorization.authorization_id)
        .await
        .map_err(CheckError::Provider)?;
    crate::store::collections::add_event(
        &state.pool,
        merchant_id,
        id,
        &new_id("evt"),
        event::MANDATE_ACTIVATION_RETRIED,
        &json!({"try": retried + 1, "statusBefore": authorization.status}),
    )
    .await?;
    Ok(match schedule.get(retried as usize + 1) {
        Some(wait) => Outcome::RetryAt(state.clock.in_(*wait), None),
        None => Outcome::Done,
    })
}

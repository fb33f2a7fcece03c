//! Dollr's receipt of a paid invoice (amounts, fees, FX rate, provider, line items), fetched once the
//! payment that paid it succeeded and kept with that payment's attempt (`response.receipt`). Dollr
//! makes it available only once the invoice is paid, so it is asked for after the success is recorded;
//! a failure is retried by the queue.

use serde_json::json;

use super::queue::Outcome;
use crate::store::attempts::{self, AttemptRow};
use crate::store::jobs::{self, Job};
use crate::AppState;

pub const KIND: &str = "receipt";

/// Queues the fetch for a Dollr payment that just succeeded (in the caller's transaction).
pub async fn schedule(
    conn: &mut sqlx::PgConnection,
    attempt: &AttemptRow,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        conn,
        KIND,
        &attempt.id,
        Some(&attempt.merchant_id),
        &json!({"merchantId": attempt.merchant_id, "attemptId": attempt.id}),
        chrono::Utc::now(),
    )
    .await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    let (Some(merchant_id), Some(attempt_id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["attemptId"].as_str(),
    ) else {
        return Outcome::GiveUp("payload names no attempt".to_owned());
    };
    let attempt = match attempts::get(&state.pool, merchant_id, attempt_id).await {
        Ok(Some(attempt)) => attempt,
        Ok(None) => return Outcome::GiveUp("no such attempt".to_owned()),
        Err(e) => return Outcome::Failed(format!("database: {e}")),
    };
    let invoice: Option<String> = sqlx::query_scalar(
        "select response->>'invoiceId' from provider_attempts where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(attempt_id)
    .fetch_one(&state.pool)
    .await
    .ok()
    .flatten();
    let Some(invoice) = invoice else {
        return Outcome::GiveUp("the attempt names no Dollr invoice".to_owned());
    };
    let account =
        match crate::providers::accounts::open(state, merchant_id, &attempt.provider).await {
            Ok(Some(account)) => account,
            Ok(None) => return Outcome::GiveUp("the Dollr account was removed".to_owned()),
            Err(e) => return Outcome::Failed(e.to_string()),
        };
    let dollr = match state.providers.dollr(&account) {
        Ok(dollr) => dollr,
        Err(e) => return Outcome::GiveUp(e.to_string()),
    };
    match dollr.receipt(&invoice).await {
        Ok(receipt) => {
            let noted = json!({"receipt": receipt});
            match attempts::note_response(
                &state.pool,
                merchant_id,
                &attempt.kind,
                &attempt.provider_reference,
                &noted,
            )
            .await
            {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed(format!("database: {e}")),
            }
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

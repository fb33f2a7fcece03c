//! A checkout for what is still owed after a short transfer. The collection's Paystack checkout asked
//! for the whole amount, so a new one is initialized for the rest and the collection's link options
//! point at it (the virtual account stays). Its reference is stored (as a `created` attempt) in the
//! transaction that recorded the short transfer, before any call; the call is this job's.
//! - answered: the attempt is `pending` and polled like any checkout; the options show the new link;
//! - refused (nothing made): the attempt `failed`; the old link stays;
//! - answer lost: the attempt `unknown` and polled (a payment on it is still found); the old link stays;
//! - the collection closed, or another transfer changed what is owed, first: nothing is called.

use serde_json::json;
use sqlx::PgConnection;

use super::queue::Outcome;
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::time;
use crate::providers::paystack::{self, options};
use crate::store::attempts::{self, NewAttempt};
use crate::store::jobs::Job;
use crate::store::{collections, jobs, virtual_accounts};
use crate::AppState;

pub const KIND: &str = "remainder";

/// Methods whose option is a link to the provider's checkout.
const LINKED: [&str; 4] = ["payment_link", "card", "bank_transfer", "mobile_money"];

/// Plans the checkout for `remaining`, in the caller's transaction: only for a collection that offers a
/// checkout link.
pub async fn schedule(
    conn: &mut PgConnection,
    merchant_id: &str,
    collection_id: &str,
    provider: &str,
    remaining: Money,
) -> Result<(), sqlx::Error> {
    let linked: bool = sqlx::query_scalar(
        "select coalesce((select payable::jsonb->'methods' ?| $3 from collections
                          where merchant_id = $1 and id = $2), false)",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .bind(LINKED)
    .fetch_one(&mut *conn)
    .await?;
    if !linked {
        return Ok(());
    }
    let attempt_id = new_id("att");
    let reference = options::new_reference();
    let attempt = NewAttempt {
        id: &attempt_id,
        provider,
        kind: paystack::NAME,
        operation: "initialize",
        provider_reference: &reference,
        amount_minor: remaining.minor(),
        currency: remaining.currency().code(),
    };
    attempts::insert_created(&mut *conn, merchant_id, std::slice::from_ref(&attempt)).await?;
    attempts::attach_collection(
        &mut *conn,
        merchant_id,
        std::slice::from_ref(&attempt_id),
        Some(collection_id),
    )
    .await?;
    jobs::enqueue(
        &mut *conn,
        KIND,
        &attempt_id,
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "attemptId": attempt_id}),
        chrono::Utc::now(),
    )
    .await
}

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match process(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e),
    }
}

async fn process(state: &AppState, job: &Job) -> Result<Outcome, String> {
    let db = |e: sqlx::Error| format!("database: {e}");
    let (Some(merchant_id), Some(attempt_id)) = (
        job.payload["merchantId"].as_str(),
        job.payload["attemptId"].as_str(),
    ) else {
        return Ok(Outcome::GiveUp("payload names no attempt".to_owned()));
    };
    let attempt = attempts::get(&state.pool, merchant_id, attempt_id)
        .await
        .map_err(db)?;
    let Some(attempt) = attempt.filter(|a| a.status == "created") else {
        return Ok(Outcome::Done);
    };
    let ids = [attempt.id.clone()];
    let collection = match &attempt.collection_id {
        Some(id) => collections::get(&state.pool, merchant_id, id)
            .await
            .map_err(db)?,
        None => None,
    };
    let owed = match &collection {
        Some(c) => virtual_accounts::owed(&state.pool, merchant_id, &c.id)
            .await
            .map_err(db)?,
        None => None,
    };
    let (Some(collection), Some(owed)) = (collection, owed) else {
        return not_sent(
            state,
            merchant_id,
            &ids,
            "not sent: the collection closed first",
        )
        .await;
    };
    if Some(owed) != attempt.amount_minor {
        return not_sent(
            state,
            merchant_id,
            &ids,
            "not sent: another payment changed what is owed",
        )
        .await;
    }
    let account = crate::providers::accounts::open(state, merchant_id, &attempt.provider)
        .await
        .map_err(|e| e.to_string())?;
    let paystack = match account.map(|a| state.providers.paystack(&a)) {
        Some(Ok(paystack)) => paystack,
        _ => {
            return not_sent(
                state,
                merchant_id,
                &ids,
                "not sent: the Paystack account was removed",
            )
            .await;
        }
    };
    let currency = crate::domain::currency::Currency::parse(collection.currency.trim())
        .ok_or("the collection's currency is unknown")?;
    let remaining = Money::from_minor(owed, currency);
    let answer = paystack
        .initialize(
            &collection.contact.email,
            remaining,
            &attempt.provider_reference,
            &[],
            None,
            None,
        )
        .await;
    let mut tx = crate::db::begin(&state.pool).await.map_err(db)?;
    match answer {
        Ok(checkout) => {
            let mut payable = collection.payable();
            options::relink(
                &mut payable["options"],
                &checkout.authorization_url,
                remaining,
            );
            collections::set_payable(&mut *tx, merchant_id, &collection.id, &payable)
                .await
                .map_err(db)?;
            let options = Some(&payable["options"]);
            attempts::settle(&mut *tx, merchant_id, &ids, "pending", None, options, None)
                .await
                .map_err(db)?;
            poll(&mut tx, state, merchant_id, &attempt.id)
                .await
                .map_err(db)?;
        }
        Err(e) if e.created_nothing() => {
            let why = e.to_string();
            attempts::settle(
                &mut *tx,
                merchant_id,
                &ids,
                "failed",
                None,
                None,
                Some(&why),
            )
            .await
            .map_err(db)?;
        }
        Err(e) => {
            let why = format!("the provider's answer was lost ({e}); polled until it is known");
            attempts::settle(
                &mut *tx,
                merchant_id,
                &ids,
                "unknown",
                None,
                None,
                Some(&why),
            )
            .await
            .map_err(db)?;
            poll(&mut tx, state, merchant_id, &attempt.id)
                .await
                .map_err(db)?;
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(Outcome::Done)
}

/// The checkout is not asked for: its planned attempt ends `failed`, saying why.
async fn not_sent(
    state: &AppState,
    merchant_id: &str,
    ids: &[String],
    why: &str,
) -> Result<Outcome, String> {
    attempts::settle(
        &state.pool,
        merchant_id,
        ids,
        "failed",
        None,
        None,
        Some(why),
    )
    .await
    .map_err(|e| format!("database: {e}"))?;
    Ok(Outcome::Done)
}

async fn poll(
    conn: &mut PgConnection,
    state: &AppState,
    merchant_id: &str,
    attempt_id: &str,
) -> Result<(), sqlx::Error> {
    let first = super::queue::in_(time::schedule_delay(&state.config.reconcile_schedule, 0));
    super::reconcile::schedule(conn, merchant_id, attempt_id, first).await
}

//! Debits of a consented mandate, on the money path's three steps:
//! 1. **claim** (one transaction, under the mandate's row lock): check the collection is `ACTIVE`, the
//!    amount within `maximumAmount` and, with every debit not known to have failed, within the calendar
//!    month's limit (and, for merchant debits with a frequency, not before the agreed interval); write
//!    the debit, its provider attempt with the reference Paystack will know it by, and that attempt's
//!    first status poll. Twenty simultaneous debits queue on the lock: exactly those that fit are
//!    claimed.
//! 2. **charge**: `POST /transaction/charge_authorization` with that reference.
//! 3. **record**: the answer settles the attempt (`jobs::settle`), which moves the debit, its
//!    installment and the collection ([`follow`]). A lost answer leaves the attempt `unknown` for the
//!    poll: an installment is never charged a second time while its debit might have gone through (a
//!    unique index holds one live debit per installment).
//!
//! The `debit` job runs one installment of a `MONA` schedule at its due time. A worker killed mid-charge
//! leaves the installment `processing` with its debit claimed: the job's next run finds the debit and
//! leaves it to the poll instead of charging again.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

use super::queue::{in_, Outcome};
use super::{mandate, settle};
use crate::domain::collection::event;
use crate::domain::ids::new_id;
use crate::domain::schedule::month_of;
use crate::domain::scheduled::{self};
use crate::domain::settlement::{decide, AttemptState, Decision, PaymentStatus, Report};
use crate::domain::time;
use crate::providers::ProviderError;
use crate::store::attempts::{self, AttemptRow};
use crate::store::jobs::{self, Job};
use crate::store::scheduled::{self as store, NewDebit};
use crate::AppState;

pub const KIND: &str = "debit";

/// Queues an installment's debit at `run_at`. The payload names the mandate's time zone (`zone`), the
/// month's limit is counted in, so that the usual claim is one statement ([`claim_at_once`]).
pub async fn schedule(
    db: impl sqlx::PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    zone: &str,
    due_at: DateTime<Utc>,
    run_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    jobs::enqueue(
        db,
        KIND,
        &store::debit_job_key(merchant_id, id, due_at),
        Some(merchant_id),
        &json!({"merchantId": merchant_id, "collectionId": id, "dueAt": time::format(&due_at),
                "timeZone": zone}),
        run_at,
    )
    .await
}

/// Why a debit was not claimed.
#[derive(Debug)]
pub enum Refused {
    NotFound,
    /// The collection is not `ACTIVE` (its status).
    NotActive(String),
    /// `(limit name, message)`: `maximumAmount`, `monthlyLimit` or `frequency`.
    Limit(&'static str, String),
    DuplicateReference,
}

/// A claimed debit, ready to charge.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub debit_id: String,
    pub attempt_id: String,
    pub provider_reference: String,
    /// What the charge needs, read under the claim's lock: no second read before the call.
    amount: i64,
    currency: String,
    email: String,
    provider: String,
    sealed_code: Option<Vec<u8>>,
    /// The provider account, when the claim read it (else the charge reads it).
    account: Option<crate::store::providers::AccountRow>,
}

pub struct Ask<'a> {
    pub merchant_id: &'a str,
    pub collection_id: &'a str,
    pub amount: i64,
    pub reference: &'a str,
    pub installment: Option<DateTime<Utc>>,
    /// Merchant debits keep to the schedule's interval; the schedule's own installments are its dates.
    pub check_interval: bool,
    /// When the debit's status is first polled, if its own answer has not settled it by then.
    pub first_poll: std::time::Duration,
    /// Business time: the month the debit counts against, the interval's check. Read once the mandate
    /// is locked, so a debit that waited for the lock is not judged by a time before the one it waited
    /// for.
    pub clock: &'a crate::clock::Clock,
}

/// Step 1, in the caller's transaction.
pub async fn claim(
    conn: &mut PgConnection,
    ask: &Ask<'_>,
) -> Result<Result<Claimed, Refused>, sqlx::Error> {
    match store::lock_for_debit(conn, ask.merchant_id, ask.collection_id, None).await? {
        Some(locked) => claim_locked(conn, ask, locked).await,
        None => Ok(Err(Refused::NotFound)),
    }
}

/// Step 1 on a mandate `store::lock_for_debit` has locked.
pub async fn claim_locked(
    conn: &mut PgConnection,
    ask: &Ask<'_>,
    locked: store::DebitLock,
) -> Result<Result<Claimed, Refused>, sqlx::Error> {
    let (merchant_id, id) = (ask.merchant_id, ask.collection_id);
    let row = &locked.mandate;
    let plan = mandate::plan_of(row);
    let now = ask.clock.now();
    let month = month_of(plan.zone, now);
    let over_maximum = || {
        Refused::Limit(
            "maximumAmount",
            format!(
                "{} is more than the mandate's maximum of {} per debit",
                ask.amount, row.maximum_minor
            ),
        )
    };
    let over_month = |spent: i64| {
        Refused::Limit(
            "monthlyLimit",
            format!(
                "{} with the {spent} already debited (or in progress) in {} is more than the monthly limit of {}",
                ask.amount,
                month.format("%Y-%m"),
                row.monthly_limit_minor
            ),
        )
    };
    // A merchant's debit is checked here, statement by statement (its reference and interval first); an
    // installment's is checked by the statement that writes it.
    let within = match ask.installment {
        Some(_) => Some(store::Within {
            maximum: row.maximum_minor,
            monthly_limit: row.monthly_limit_minor,
        }),
        None => {
            // Read after the lock was granted: the locking statement's own view of the collection is
            // from before it waited, so a cancel or revocation committed meanwhile is only seen here.
            let (status, spent, last) = store::debit_state(conn, merchant_id, id, month).await?;
            if status != "ACTIVE" {
                return Ok(Err(Refused::NotActive(status)));
            }
            // A repeated reference is named as such before any limit.
            if store::reference_taken(conn, merchant_id, id, ask.reference).await? {
                return Ok(Err(Refused::DuplicateReference));
            }
            if ask.amount > row.maximum_minor {
                return Ok(Err(over_maximum()));
            }
            if spent.saturating_add(ask.amount) > row.monthly_limit_minor {
                return Ok(Err(over_month(spent)));
            }
            if let (true, Some(last)) = (ask.check_interval, last) {
                let allowed = plan.next_allowed(last);
                if now < allowed {
                    return Ok(Err(Refused::Limit(
                        "frequency",
                        format!(
                            "the schedule allows the next debit from {}",
                            time::format(&allowed)
                        ),
                    )));
                }
            }
            None
        }
    };
    let currency = row.currency.trim().to_owned();
    let claimed = Claimed {
        debit_id: new_id("dbt"),
        attempt_id: new_id("att"),
        provider_reference: new_provider_reference(),
        amount: ask.amount,
        email: row
            .customer_email
            .clone()
            .or(row.email.clone())
            .unwrap_or_default(),
        provider: row.provider.clone(),
        sealed_code: row.authorization_code.clone(),
        currency,
        account: None,
    };
    let written = store::insert_debit(
        &mut *conn,
        &NewDebit {
            merchant_id,
            id: &claimed.debit_id,
            collection_id: id,
            installment_due_at: ask.installment,
            reference: ask.reference,
            amount_minor: ask.amount,
            currency: &claimed.currency,
            month,
            attempt_id: &claimed.attempt_id,
            provider: &row.provider,
            provider_kind: &row.provider_kind,
            provider_reference: &claimed.provider_reference,
            at: now,
            first_poll_at: in_(ask.first_poll),
        },
        within.as_ref(),
    )
    .await;
    match written {
        Err(sqlx::Error::Database(e))
            if e.constraint() == Some("debits_merchant_id_collection_id_reference_key") =>
        {
            // The transaction is spoilt: the caller rolls it back.
            Ok(Err(Refused::DuplicateReference))
        }
        Err(e) => Err(e),
        Ok(Some(found)) if !found.written => Ok(Err(if found.status != "ACTIVE" {
            Refused::NotActive(found.status)
        } else if ask.amount > row.maximum_minor {
            over_maximum()
        } else {
            over_month(found.spent)
        })),
        Ok(_) => Ok(Ok(claimed)),
    }
}

/// The first status poll of a debit: the reconcile schedule's first step.
pub fn first_poll(state: &AppState) -> std::time::Duration {
    time::schedule_delay(&state.config.reconcile_schedule, 0)
}

/// Steps 2 and 3: charge, then record what the answer means (in its own transaction). The installment's
/// `job`, when it is one, ends in that transaction too.
pub async fn charge_and_record(
    state: &AppState,
    merchant_id: &str,
    collection_id: &str,
    claimed: &Claimed,
    job: Option<&Job>,
) -> Result<(), sqlx::Error> {
    let attempt_id = claimed.attempt_id.as_str();
    let Some(currency) = crate::domain::currency::Currency::parse(&claimed.currency) else {
        return Ok(());
    };
    let amount = crate::domain::money::Money::from_minor(claimed.amount, currency);
    let code = mandate::authorization_code(state, collection_id, claimed.sealed_code.as_deref());
    let email = claimed.email.as_str();
    let started = std::time::Instant::now();
    let account = match claimed.account.clone() {
        Some(row) => {
            crate::providers::accounts::open_row(state, merchant_id, &claimed.provider, row)
                .await
                .map(Some)
        }
        None => crate::providers::accounts::open(state, merchant_id, &claimed.provider).await,
    };
    let charged = match (code, account) {
        (Some(code), Ok(Some(account))) => match state.providers.paystack(&account) {
            Ok(paystack) => {
                paystack
                    .charge_authorization(email, amount, &code, &claimed.provider_reference)
                    .await
            }
            Err(e) => Err(e),
        },
        (None, _) => Err(ProviderError::Rejected {
            provider: "cowry",
            message: "the mandate has no authorization to charge".to_owned(),
        }),
        (_, Ok(None)) => Err(ProviderError::Rejected {
            provider: "cowry",
            message: "the provider account was removed".to_owned(),
        }),
        (_, Err(e)) => Err(ProviderError::Unavailable {
            provider: "cowry",
            message: e.to_string(),
        }),
    };
    let outcome = match &charged {
        Ok(v) => format!("{:?}", v.status),
        Err(e) => format!("error: {}", e.detail()),
    };
    let call = json!({"operation": "charge_authorization", "outcome": outcome,
                      "latencyMs": started.elapsed().as_millis() as u64, "at": time::format(&Utc::now())});
    let mut tx = crate::db::begin(&state.pool).await?;
    let report = match charged {
        Ok(verified) => Ok(Report {
            status: verified.status,
            amount: Some(verified.amount),
        }),
        Err(e) if e.created_nothing() => Ok(Report {
            status: PaymentStatus::Failed {
                reason: e.to_string(),
            },
            amount: None,
        }),
        Err(e) => Err(e),
    };
    match report {
        Ok(report) => {
            let succeeded = decide(AttemptState::Created, amount, &report)
                == Decision::Move(AttemptState::Succeeded);
            // A success is recorded in one statement; when something else moved the attempt first, that
            // statement ended the job and wrote nothing else, and the answer is settled the general way.
            let recorded = succeeded
                && record_success(
                    &mut tx,
                    (merchant_id, collection_id),
                    claimed,
                    &call,
                    &report,
                    job,
                )
                .await?;
            if !recorded {
                let ending = if succeeded { None } else { job };
                let answer = (&call, &report);
                settle::apply_answer(&mut tx, merchant_id, attempt_id, amount, answer, ending)
                    .await?;
            }
        }
        Err(e) => {
            tracing::warn!(attempt = attempt_id, error = %e.detail(), "debit answer lost; polling");
            attempts::record_call_and_lock(&mut tx, merchant_id, attempt_id, &call, job).await?;
            let why = e.to_string();
            attempts::set_status(
                &mut *tx,
                merchant_id,
                attempt_id,
                &["created"],
                "unknown",
                Some(&why),
            )
            .await?;
            store::set_debit_status(&mut *tx, merchant_id, &claimed.debit_id, "unknown", None)
                .await?;
        }
    }
    tx.commit().await
}

/// The `debit` job: one installment, at its due time.
pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match run_once(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn run_once(state: &AppState, job: &Job) -> Result<Outcome, sqlx::Error> {
    let payload = &job.payload;
    let (Some(merchant_id), Some(id), Some(due_at)) = (
        payload["merchantId"].as_str(),
        payload["collectionId"].as_str(),
        payload["dueAt"]
            .as_str()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc)),
    ) else {
        return Ok(Outcome::GiveUp("payload names no installment".to_owned()));
    };
    if let Some(zone) = payload["timeZone"].as_str().and_then(scheduled::zone) {
        if let Some(claimed) = claim_at_once(state, merchant_id, id, due_at, zone).await? {
            charge_and_record(state, merchant_id, id, &claimed, Some(job)).await?;
            return Ok(Outcome::Finished);
        }
    }
    // The installment is read under the mandate's lock, in the statement that takes it.
    let mut tx = crate::db::begin(&state.pool).await?;
    let locked = store::lock_for_debit(&mut tx, merchant_id, id, Some(due_at)).await?;
    let installment = locked.as_ref().and_then(|l| {
        Some((
            l.installment_status.clone()?,
            l.installment_tries?,
            l.installment_amount?,
        ))
    });
    let (Some(locked), Some((status, tries, amount))) = (locked, installment) else {
        return Ok(Outcome::GiveUp("no such installment".to_owned()));
    };
    if status != "scheduled" {
        // Release the lock before anything else runs on another connection.
        tx.rollback().await?;
        if status != "processing" {
            return Ok(Outcome::Done);
        }
        if store::live_debit_for(&state.pool, merchant_id, id, due_at)
            .await?
            .is_some()
        {
            // A run died mid-charge, or the charge is still processing: its debit is claimed and
            // polled; never charge it again.
            return Ok(Outcome::Done);
        }
        return retry_or_fail(state, merchant_id, id, due_at, tries).await;
    }
    let reference = format!(
        "{}{}",
        store::installment_reference_prefix(due_at),
        tries + 1
    );
    let ask = Ask {
        merchant_id,
        collection_id: id,
        amount,
        reference: &reference,
        installment: Some(due_at),
        check_interval: false,
        first_poll: first_poll(state),
        clock: &state.clock,
    };
    let claimed = claim_locked(&mut tx, &ask, locked).await?;
    let claimed = match claimed {
        Ok(claimed) => claimed,
        Err(Refused::NotActive(_) | Refused::NotFound) => {
            store::set_installment(
                &mut *tx,
                merchant_id,
                id,
                due_at,
                &["scheduled"],
                "cancelled",
                None,
            )
            .await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
        Err(Refused::Limit(limit, message)) => {
            let error = format!("{limit}: {message}");
            store::set_installment(
                &mut *tx,
                merchant_id,
                id,
                due_at,
                &["scheduled"],
                "failed",
                Some(&error),
            )
            .await?;
            crate::store::collections::add_event(
                &mut *tx,
                merchant_id,
                id,
                &new_id("evt"),
                event::DEBIT_FAILED,
                &json!({"installmentDate": time::format(&due_at), "failureClass": "hard", "reason": error}),
            )
            .await?;
            mandate::publish(&mut tx, merchant_id, id).await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
        Err(Refused::DuplicateReference) => return Ok(Outcome::Done),
    };
    tx.commit().await?;
    charge_and_record(state, merchant_id, id, &claimed, Some(job)).await?;
    Ok(Outcome::Finished)
}

/// An installment's claim in one statement (`store::claim_installment`), when everything is as it
/// usually is: the collection `ACTIVE`, the installment `scheduled` and within the limits. `None`
/// otherwise: the job then locks and decides step by step, and says why.
async fn claim_at_once(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    due_at: DateTime<Utc>,
    zone: chrono_tz::Tz,
) -> Result<Option<Claimed>, sqlx::Error> {
    let now = state.clock.now();
    let (debit_id, attempt_id) = (new_id("dbt"), new_id("att"));
    let provider_reference = new_provider_reference();
    let claim = store::InstallmentClaim {
        merchant_id,
        collection_id: id,
        due_at,
        month: month_of(zone, now),
        debit_id: &debit_id,
        attempt_id: &attempt_id,
        provider_reference: &provider_reference,
        at: now,
        first_poll_at: in_(first_poll(state)),
    };
    let Some(row) = store::claim_installment(&state.pool, &claim).await? else {
        return Ok(None);
    };
    Ok(Some(Claimed {
        debit_id,
        attempt_id,
        provider_reference,
        account: row.account(),
        amount: row.amount_minor,
        currency: row.currency,
        email: row.email.unwrap_or_default(),
        provider: row.provider,
        sealed_code: row.authorization_code,
    }))
}

/// Paystack references: alphanumerics and `-`, `.`, `=` only.
fn new_provider_reference() -> String {
    format!("cwd-{}", uuid::Uuid::new_v4().simple())
}

/// The charge's answer that it succeeded, recorded with the attempt's move, the `job`'s end and the
/// debit's success in one statement (`store::record_debit_answer`), then what a success leads to
/// ([`succeeded`]). `false` when the attempt had already been moved (by a webhook or a poll): nothing but
/// the job's end was written.
async fn record_success(
    conn: &mut PgConnection,
    (merchant_id, collection_id): (&str, &str),
    claimed: &Claimed,
    call: &serde_json::Value,
    report: &Report,
    job: Option<&Job>,
) -> Result<bool, sqlx::Error> {
    let current = AttemptState::Created;
    let from = [current.as_str()];
    let poll = super::reconcile::key(merchant_id, &claimed.attempt_id);
    let change = settle::change(current, &from, AttemptState::Succeeded, report, &poll);
    let debit = (collection_id, claimed.debit_id.as_str());
    let attempt = claimed.attempt_id.as_str();
    let event_id = new_id("evt");
    let recorded = store::record_debit_answer(
        conn,
        merchant_id,
        attempt,
        call,
        job,
        &change,
        debit,
        &event_id,
    )
    .await?;
    let Some(recorded) = recorded else {
        return Ok(false);
    };
    settle::count("charge", &Decision::Move(AttemptState::Succeeded));
    succeeded(conn, merchant_id, collection_id, recorded).await?;
    Ok(true)
}

/// What a debit's recorded success leads to: a schedule Cowry runs plans on (the success recorded the
/// mandate's progress), and the collection is published. Nothing when the debit had been recorded before.
async fn succeeded(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    recorded: store::DebitSucceeded,
) -> Result<(), sqlx::Error> {
    if !recorded.moved {
        return Ok(());
    }
    let row = &recorded.mandate;
    if row.debit_type == "MONA" && row.status == "ACTIVE" {
        mandate::extend_from(conn, row, true, recorded.planned).await?
    }
    mandate::publish(conn, merchant_id, id).await
}

/// Settlement's follow-up for a debit's attempt (called by `jobs::settle` in its transaction).
pub async fn follow(
    conn: &mut PgConnection,
    attempt: &AttemptRow,
    to: AttemptState,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    let (Some(debit_id), Some(id)) = (&attempt.debit_id, &attempt.scheduled_id) else {
        return Ok(());
    };
    let merchant_id = attempt.merchant_id.as_str();
    match to {
        AttemptState::Succeeded => {
            // The mandate is locked by the statement that records the success.
            let recorded =
                store::record_debit_success(&mut *conn, merchant_id, id, debit_id, &new_id("evt"))
                    .await?;
            return match recorded {
                Some(recorded) => succeeded(conn, merchant_id, id, recorded).await,
                None => Ok(()),
            };
        }
        AttemptState::Failed => {
            let Some(mandate) = store::lock_mandate(conn, merchant_id, id).await? else {
                return Ok(());
            };
            let Some(debit) = store::debit(&mut *conn, merchant_id, debit_id).await? else {
                return Ok(());
            };
            let reason = reason.unwrap_or("failed");
            let class = scheduled::failure_class(reason);
            if !store::set_debit_status(
                &mut *conn,
                merchant_id,
                debit_id,
                "failed",
                Some((class, reason)),
            )
            .await?
            {
                return Ok(());
            }
            let data = json!({"debit": debit.id, "reference": debit.reference,
                              "amount": debit.amount_minor.to_string(), "attempt": attempt.id,
                              "failureClass": class, "reason": reason});
            crate::store::collections::add_event(
                &mut *conn,
                merchant_id,
                id,
                &new_id("evt"),
                event::DEBIT_FAILED,
                &data,
            )
            .await?;
            if class == "hard" {
                mandate::revoke(conn, merchant_id, id, reason).await?;
            } else if let Some(due_at) = debit.installment_due_at {
                // The installment's job decides when to try again (it knows the retry schedule).
                store::set_installment(
                    &mut *conn,
                    merchant_id,
                    id,
                    due_at,
                    &["processing"],
                    "processing",
                    Some(reason),
                )
                .await?;
                let zone = mandate.time_zone.as_str();
                schedule(&mut *conn, merchant_id, id, zone, due_at, Utc::now()).await?;
            }
        }
        _ => {
            if store::lock_mandate(conn, merchant_id, id).await?.is_none() {
                return Ok(());
            }
        }
    }
    mandate::publish(conn, merchant_id, id).await
}

/// The installment's last debit failed softly: try again after the next delay of
/// `COWRY_DEBIT_RETRY_SCHEDULE`, or, once it is used up, mark the installment `failed` and plan on.
async fn retry_or_fail(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    due_at: DateTime<Utc>,
    tries: i32,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = crate::db::begin(&state.pool).await?;
    let delay = state
        .config
        .debit_retry_schedule
        .get(tries.max(1) as usize - 1)
        .copied();
    let outcome = match delay {
        Some(delay) => {
            store::set_installment(
                &mut *tx,
                merchant_id,
                id,
                due_at,
                &["processing"],
                "scheduled",
                None,
            )
            .await?;
            Outcome::RetryAt(state.clock.in_(delay), None)
        }
        None => {
            store::set_installment(
                &mut *tx,
                merchant_id,
                id,
                due_at,
                &["processing"],
                "failed",
                None,
            )
            .await?;
            if let Some(row) = store::mandate(&mut *tx, merchant_id, id).await? {
                if row.status == "ACTIVE" {
                    mandate::extend(&mut tx, &row, None).await?;
                }
            }
            mandate::publish(&mut tx, merchant_id, id).await?;
            Outcome::Done
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

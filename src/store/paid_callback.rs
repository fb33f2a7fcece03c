//! A verified `charge.success` for a collection's plain payment (not a debit, a collect, a card's
//! verification charge or a Dollr invoice, whose successes lead elsewhere), settled with its receipt in
//! one statement: the attempt moves to `succeeded` (its status poll ended), the collection completes
//! with the payment added and `collection.completed` (or, already closed, only
//! `payment.received_after_close`), its follow-ups and deadline end, and the receipt is stamped with the
//! job's end — or, when the intake settles the payment before answering, the receipt is stored already
//! processed, as the first of its key. Publication follows in the same transaction (`events::publish`).

use serde_json::Value;
use sqlx::PgConnection;

use crate::domain::collection::event;
use crate::store::attempts::{self, AttemptRow, Change};
use crate::store::collections;
use crate::store::jobs::{finish_ctes, Job};
use crate::store::webhooks::ReceiptRow;

/// The receipt of the callback being settled.
pub enum Receipt<'a> {
    /// Stored by the intake, settled by this job: stamped, and the job ends.
    Stored { id: &'a str, job: &'a Job },
    /// Not stored yet (the intake settles the payment before answering): stored processed, if it is the
    /// first receipt of its `dedupe_key`. If it is not, the statement's other writes must not stay: the
    /// caller rolls back (see [`Settled::first`]).
    New(&'a ReceiptRow),
}

/// The SQL condition on `provider_attempts` that makes an attempt a collection's plain payment, and the
/// same rule in Rust (for a caller deciding whether to try [`settle`]).
fn only() -> String {
    format!(
        "and collection_id is not null and collect_id is null and debit_id is null
         and operation <> 'authorize_card' and kind <> '{}'",
        crate::providers::dollr::NAME
    )
}

/// Whether the attempt is a collection's plain payment (what [`settle`] settles), as read.
pub fn is_plain_payment(attempt: &AttemptRow) -> bool {
    attempt.collection_id.is_some()
        && attempt.collect_id.is_none()
        && attempt.debit_id.is_none()
        && attempt.operation != "authorize_card"
        && attempt.kind != crate::providers::dollr::NAME
}

/// What the statement did: the attempt as moved, and what the collection owed before the payment when
/// it completed (`None`: it was already closed).
#[derive(Debug)]
pub struct Settled {
    pub attempt: AttemptRow,
    pub owed: Option<i64>,
    /// Whether the receipt was the first of its key (always, for a [`Receipt::Stored`]). When not, the
    /// caller rolls back: a duplicate acts on nothing.
    pub first: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    attempt: AttemptRow,
    owed: Option<i64>,
    first: bool,
}

/// The success of `amount_minor` in `currency` on the attempt `(merchant, id)`, by `change` (from an open
/// state). `data` is the events' data less the attempt's provider, which the statement adds; `outcome`
/// is what the receipt says settling it did. `None` when the attempt was not a plain collection payment
/// still open and asking for exactly that amount: nothing was written, and the caller settles the
/// receipt the general way.
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    conn: &mut PgConnection,
    attempt: (&str, &str),
    amount_minor: i64,
    currency: &str,
    change: &Change<'_>,
    data: &Value,
    event_ids: (&str, &str),
    (receipt, outcome): (&Receipt<'_>, &str),
) -> Result<Option<Settled>, sqlx::Error> {
    let (receipt_ctes, first) = match receipt {
        Receipt::Stored { .. } => (
            format!(
                "stamped as (
                     update webhook_receipts set processed_at = now(), outcome = $17
                     where id = $16 and exists (select from moved)
                 ), {}",
                finish_ctes(
                    "(select $18::bigint where exists (select from moved))",
                    "$19"
                )
            ),
            "true",
        ),
        // Claimed after the attempt's row (as the intake's receipts claim theirs), so that a receipt of
        // the same callback stored meanwhile never waits on this one in the opposite order.
        Receipt::New(_) => (
            "first as (
                 insert into webhook_dedupe (provider, dedupe_key, receipt_id)
                 select $18, $19, $16 where exists (select from moved)
                 on conflict do nothing
                 returning 1
             ), receipt as (
                 insert into webhook_receipts (id, provider, merchant_id, attempt_id, headers, body,
                                               verdict, dedupe_key, duplicate, outcome, processed_at)
                 select $16, $18, $1, $2, $20, $21, $22, $19, false, $17, now() from first
             )"
            .to_owned(),
            "exists (select from first)",
        ),
    };
    let sql = format!(
        "with {}, event_data as (
             select $13::jsonb || jsonb_build_object('provider', provider) as data from moved
         ), {}, after_close as (
             insert into collection_events (merchant_id, id, collection_id, type, data, created_at)
             select $1, $14, collection_id, $15, (select data from event_data), now() from moved
             where not exists (select from changed)
         ), {receipt_ctes}
         select moved.*, (select owed from changed) as owed, {first} as first from moved",
        attempts::settle_if_asked_ctes(&only()),
        collections::completion_ctes(
            "(select collection_id from moved)",
            "$3",
            ("$11", "$12", "(select data from event_data)")
        ),
    );
    let query = attempts::bind_settle_if_asked(
        sqlx::query_as(&sql),
        attempt,
        amount_minor,
        currency,
        change,
    )
    .bind(event_ids.0)
    .bind(event::COMPLETED)
    .bind(sqlx::types::Json(data))
    .bind(event_ids.1)
    .bind(event::PAYMENT_AFTER_CLOSE);
    let query = match receipt {
        Receipt::Stored { id, job } => query
            .bind(*id)
            .bind(outcome)
            .bind(job.id)
            .bind(job.worker.as_str()),
        Receipt::New(r) => query
            .bind(r.id.as_str())
            .bind(outcome)
            .bind(r.provider.as_str())
            .bind(r.dedupe_key.as_deref())
            .bind(sqlx::types::Json(&r.headers))
            .bind(r.body.as_slice())
            .bind(r.verdict.as_str()),
    };
    let row: Option<Row> = query.fetch_optional(conn).await?;
    Ok(row.map(|r| Settled {
        attempt: r.attempt,
        owed: r.owed,
        first: r.first,
    }))
}

/// Locks, for settlements written together in the caller's transaction, every row they will update: the
/// attempts `(merchant, attempt, collection)` name, then their collections, each set in key order. A
/// settlement alone locks its attempt and then its collection; so do these, all at once, so no two
/// transactions (together or alone) can wait on each other's rows — in whatever order the payments of
/// one collection, or deliveries of one callback, came into each.
pub async fn lock_for(
    conn: &mut PgConnection,
    settlements: &[(&str, &str, &str)],
) -> Result<(), sqlx::Error> {
    let merchants: Vec<&str> = settlements.iter().map(|s| s.0).collect();
    let attempts: Vec<&str> = settlements.iter().map(|s| s.1).collect();
    let collections: Vec<&str> = settlements.iter().map(|s| s.2).collect();
    sqlx::query(
        "with attempts as (
             select 1 from provider_attempts
             where (merchant_id, id) in (select * from unnest($1::text[], $2::text[]))
             order by merchant_id, id
             for no key update
         ), collections as (
             select 1 from collections
             where (merchant_id, id) in (select * from unnest($1::text[], $3::text[]))
               and (select count(*) from attempts) >= 0
             order by merchant_id, id
             for no key update
         )
         select count(*) from collections",
    )
    .bind(&merchants)
    .bind(&attempts)
    .bind(&collections)
    .execute(conn)
    .await?;
    Ok(())
}

//! A verified `charge.success` for a collection's plain payment (not a debit, a collect, a card's
//! verification charge or a Dollr invoice, whose successes lead elsewhere), settled with its receipt in
//! one statement: the attempt moves to `succeeded` (its status poll ended), the collection completes
//! with the payment added and `collection.completed` (or, already closed, only
//! `payment.received_after_close`), its follow-ups and deadline end, and the receipt is stamped with the
//! job's end. Publication follows in the same transaction (`events::publish`).

use serde_json::Value;
use sqlx::PgConnection;

use crate::domain::collection::event;
use crate::store::attempts::{self, AttemptRow, Change};
use crate::store::collections;
use crate::store::jobs::{finish_ctes, Job};

/// The receipt a job settles, and the job.
pub struct Receipt<'a> {
    pub id: &'a str,
    /// What settling it did, as its stamp says it.
    pub outcome: &'a str,
    pub job: &'a Job,
}

/// What the statement did: the attempt as moved, and what the collection owed before the payment when
/// it completed (`None`: it was already closed).
#[derive(Debug)]
pub struct Settled {
    pub attempt: AttemptRow,
    pub owed: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    attempt: AttemptRow,
    owed: Option<i64>,
}

/// The success of `amount_minor` in `currency` on the attempt `(merchant, id)`, by `change` (from an open
/// state). `data` is the events' data less the attempt's provider, which the statement adds. `None`
/// when the attempt was not a plain collection payment still open and asking for exactly that amount:
/// nothing was written, and the caller settles the receipt the general way.
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    conn: &mut PgConnection,
    attempt: (&str, &str),
    amount_minor: i64,
    currency: &str,
    change: &Change<'_>,
    data: &Value,
    event_ids: (&str, &str),
    receipt: &Receipt<'_>,
) -> Result<Option<Settled>, sqlx::Error> {
    let only = format!(
        "and collection_id is not null and collect_id is null and debit_id is null
         and operation <> 'authorize_card' and kind <> '{}'",
        crate::providers::dollr::NAME
    );
    let sql = format!(
        "with {}, event_data as (
             select $13::jsonb || jsonb_build_object('provider', provider) as data from moved
         ), {}, after_close as (
             insert into collection_events (merchant_id, id, collection_id, type, data, created_at)
             select $1, $14, collection_id, $15, (select data from event_data), now() from moved
             where not exists (select from changed)
         ), stamped as (
             update webhook_receipts set processed_at = now(), outcome = $17
             where id = $16 and exists (select from moved)
         ), {}
         select moved.*, (select owed from changed) as owed from moved",
        attempts::settle_if_asked_ctes(&only),
        collections::completion_ctes(
            "(select collection_id from moved)",
            "$3",
            ("$11", "$12", "(select data from event_data)")
        ),
        finish_ctes(
            "(select $18::bigint where exists (select from moved))",
            "$19"
        ),
    );
    let query = attempts::bind_settle_if_asked(
        sqlx::query_as(&sql),
        attempt,
        amount_minor,
        currency,
        change,
    );
    let row: Option<Row> = query
        .bind(event_ids.0)
        .bind(event::COMPLETED)
        .bind(sqlx::types::Json(data))
        .bind(event_ids.1)
        .bind(event::PAYMENT_AFTER_CLOSE)
        .bind(receipt.id)
        .bind(receipt.outcome)
        .bind(receipt.job.id)
        .bind(receipt.job.worker.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| Settled {
        attempt: r.attempt,
        owed: r.owed,
    }))
}

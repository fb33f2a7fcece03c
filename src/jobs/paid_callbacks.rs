//! Verified successes for collections' plain payments, settled before their callbacks are answered
//! (`jobs::webhook::settle_before_answer`), and settled together: the callbacks arriving at the same
//! moment share one transaction, so one `BEGIN`, one `COMMIT` and one WAL flush (`store::group_commit`),
//! and their collections are published together (one read of their views, one stamp of their events).
//! Each keeps its own answer: settled, or not (then its caller stores the receipt with its job).
//!
//! In the shared transaction each settlement is the statement it would be alone (`store::paid_callback`),
//! after one statement has locked every attempt and collection they update, in one order
//! (`paid_callback::lock_for`), so that two such transactions never wait on each other. A delivery that
//! turns out not to be the first of its key fails the whole transaction — its writes cannot be undone
//! alone — and then each runs alone, as after any failure.

use sqlx::PgPool;

use super::settle::{self, Paid};
use crate::domain::money::Money;
use crate::events::Object;
use crate::store::group_commit::Batch;
use crate::store::paid_callback::{self, Receipt};
use crate::store::webhooks::ReceiptRow;

/// One callback's settlement: the attempt it pays, what it reports, and its receipt (not yet stored).
#[derive(Debug, Clone)]
pub struct PaidCallback {
    pub merchant_id: String,
    pub attempt_id: String,
    /// The collection the attempt pays (locked with the attempt before a shared transaction settles).
    pub collection_id: String,
    pub amount: Money,
    pub receipt: ReceiptRow,
}

pub struct PaidCallbacks;

impl Batch for PaidCallbacks {
    type Row = PaidCallback;
    /// Whether it was settled (and its receipt stored with it).
    type Answer = bool;

    async fn one(pool: &PgPool, row: &PaidCallback) -> Result<bool, sqlx::Error> {
        let mut tx = crate::db::begin(pool).await?;
        // Anything but a settlement (a duplicate's writes among them) rolls back as `tx` drops.
        match settle_in(&mut tx, row).await? {
            Paid::Settled(_, collection) => {
                let collection = Object::Collection(&collection);
                crate::events::publish(&mut tx, &row.merchant_id, collection).await?;
                tx.commit().await?;
                Ok(true)
            }
            Paid::Elsewhere | Paid::Duplicate => Ok(false),
        }
    }

    async fn many(
        pool: &PgPool,
        rows: &[PaidCallback],
    ) -> Result<Vec<Result<bool, sqlx::Error>>, sqlx::Error> {
        let mut tx = crate::db::begin(pool).await?;
        let locked: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.merchant_id.as_str(),
                    r.attempt_id.as_str(),
                    r.collection_id.as_str(),
                )
            })
            .collect();
        paid_callback::lock_for(&mut tx, &locked).await?;
        let mut answers: Vec<Result<bool, sqlx::Error>> = Vec::with_capacity(rows.len());
        let mut settled = Vec::with_capacity(rows.len());
        for row in rows {
            answers.push(Ok(match settle_in(&mut tx, row).await? {
                Paid::Settled(_, collection) => {
                    settled.push((row.merchant_id.as_str(), collection));
                    true
                }
                Paid::Elsewhere => false,
                Paid::Duplicate => {
                    return Err(sqlx::Error::Protocol(
                        "a duplicate callback among settlements written together".to_owned(),
                    ))
                }
            }));
        }
        // Each collection once, however many of its payments settled here.
        settled.sort();
        settled.dedup();
        let collections: Vec<(&str, &str)> =
            settled.iter().map(|(m, c)| (*m, c.as_str())).collect();
        crate::events::publish_collections(&mut tx, &collections).await?;
        tx.commit().await?;
        Ok(answers)
    }

    fn observe(rows: usize) {
        crate::metrics::METRICS
            .settlement_batch_rows
            .observe(rows as f64);
    }
}

async fn settle_in(conn: &mut sqlx::PgConnection, row: &PaidCallback) -> Result<Paid, sqlx::Error> {
    let attempt = (row.merchant_id.as_str(), row.attempt_id.as_str());
    let receipt = Receipt::New(&row.receipt);
    settle::apply_paid_callback(conn, attempt, row.amount, "webhook", &receipt).await
}

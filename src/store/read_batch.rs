//! Reads by id grouped like writes (`store::group_commit`): concurrent `GET /collections/{id}` look-ups
//! are answered by one statement, [`MANY_SQL`]. A GET's own work is small next to its round trips (the
//! query, and the ping sqlx sends when a connection goes back to the pool), so sharing them is what
//! raises its rate. Each read still starts after its request arrived, so it sees every write committed
//! before: a client reads what it wrote.

use std::sync::LazyLock;

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};

use super::collections::{self, CollectionRow, COLUMNS, WITH_CONTACT};
use super::group_commit::Batch;

/// (merchant id, collection id).
pub type Key = (String, String);

/// Integrated collections by id, for [`super::group_commit::GroupCommit`]: each answered with the
/// collection, or `None` when the merchant has no integrated collection by that id.
pub struct Reads;

impl Batch for Reads {
    type Row = Key;
    type Answer = Option<CollectionRow>;

    async fn one(pool: &PgPool, (merchant_id, id): &Key) -> Result<Self::Answer, sqlx::Error> {
        collections::get(pool, merchant_id, id).await
    }

    async fn many(
        pool: &PgPool,
        keys: &[Key],
    ) -> Result<Vec<Result<Self::Answer, sqlx::Error>>, sqlx::Error> {
        let merchants: Vec<&str> = keys.iter().map(|(m, _)| m.as_str()).collect();
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        let rows: Vec<PgRow> = sqlx::query(&MANY_SQL)
            .bind(&merchants)
            .bind(&ids)
            .fetch_all(pool)
            .await?;
        let mut answers: Vec<Result<Self::Answer, sqlx::Error>> =
            keys.iter().map(|_| Ok(None)).collect();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| answers.get_mut(i)) {
                *slot = CollectionRow::from_row(&row).map(Some);
            }
        }
        Ok(answers)
    }

    fn observe(rows: usize) {
        crate::metrics::METRICS.read_batch_rows.observe(rows as f64);
    }
}

/// `collections::get` for many keys at once; `n` is the key's position (1-based).
pub static MANY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select k.n, {COLUMNS}
         from unnest($1::text[], $2::text[]) with ordinality as k(merchant_id, id, n)
         join collections c on c.merchant_id = k.merchant_id and c.id = k.id and c.type = 'integrated'
         {WITH_CONTACT}"
    )
});

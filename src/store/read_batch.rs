//! Reads by id grouped like writes (`store::group_commit`): concurrent `GET /collections/{id}` look-ups
//! are answered by one statement, [`MANY_SQL`]. A GET's own work is small next to its round trips (the
//! query, and the ping sqlx sends when a connection goes back to the pool), so sharing them is what
//! raises its rate. Each read still starts after its request arrived, so it sees every write committed
//! before: a client reads what it wrote.
//!
//! Provider callbacks find their payment the same way ([`AttemptsByReference`]): every Paystack callback
//! reads its attempt by reference before its signature can be checked, and repeats cost nothing else.

use std::sync::LazyLock;

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};

use super::attempts::{self, AttemptRow};
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
        let keys: Vec<(&str, &str)> = keys
            .iter()
            .map(|(m, id)| (m.as_str(), id.as_str()))
            .collect();
        let rows = read(pool, &keys).await?;
        answer_by_position(keys.len(), rows, |row| CollectionRow::from_row(row))
    }

    fn observe(rows: usize) {
        crate::metrics::METRICS.read_batch_rows.observe(rows as f64);
    }
}

/// `collections::get` for many keys at once; `n` is the key's position (1-based).
/// Collections by (merchant, id), read in one statement on `db` (a caller's transaction, for one):
/// each found one in the keys' position.
pub async fn collections(
    db: impl sqlx::PgExecutor<'_>,
    keys: &[(&str, &str)],
) -> Result<Vec<Option<CollectionRow>>, sqlx::Error> {
    let rows = read(db, keys).await?;
    answer_by_position(keys.len(), rows, |row| CollectionRow::from_row(row))?
        .into_iter()
        .collect()
}

async fn read(
    db: impl sqlx::PgExecutor<'_>,
    keys: &[(&str, &str)],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let merchants: Vec<&str> = keys.iter().map(|(m, _)| *m).collect();
    let ids: Vec<&str> = keys.iter().map(|(_, id)| *id).collect();
    sqlx::query(&MANY_SQL)
        .bind(&merchants)
        .bind(&ids)
        .fetch_all(db)
        .await
}

pub static MANY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select k.n, {COLUMNS}
         from unnest($1::text[], $2::text[]) with ordinality as k(merchant_id, id, n)
         join collections c on c.merchant_id = k.merchant_id and c.id = k.id and c.type = 'integrated'
         {WITH_CONTACT}"
    )
});

/// (merchant id, or `None` for any merchant; account kind; the provider's reference).
pub type ReferenceKey = (Option<String>, String, String);

/// Provider attempts by the reference a callback names, for [`super::group_commit::GroupCommit`]: each
/// answered as `attempts::by_reference` (no merchant) or `attempts::by_merchant_reference` would.
pub struct AttemptsByReference;

impl Batch for AttemptsByReference {
    type Row = ReferenceKey;
    type Answer = Option<AttemptRow>;

    async fn one(
        pool: &PgPool,
        (merchant_id, kind, reference): &ReferenceKey,
    ) -> Result<Self::Answer, sqlx::Error> {
        match merchant_id {
            Some(merchant_id) => {
                attempts::by_merchant_reference(pool, merchant_id, kind, reference).await
            }
            None => attempts::by_reference(pool, kind, reference).await,
        }
    }

    async fn many(
        pool: &PgPool,
        keys: &[ReferenceKey],
    ) -> Result<Vec<Result<Self::Answer, sqlx::Error>>, sqlx::Error> {
        let merchants: Vec<Option<&str>> = keys.iter().map(|(m, _, _)| m.as_deref()).collect();
        let kinds: Vec<&str> = keys.iter().map(|(_, k, _)| k.as_str()).collect();
        let references: Vec<&str> = keys.iter().map(|(_, _, r)| r.as_str()).collect();
        let rows: Vec<PgRow> = sqlx::query(&ATTEMPTS_SQL)
            .bind(&merchants)
            .bind(&kinds)
            .bind(&references)
            .fetch_all(pool)
            .await?;
        answer_by_position(keys.len(), rows, |row| AttemptRow::from_row(row))
    }

    fn observe(rows: usize) {
        crate::metrics::METRICS
            .attempt_read_batch_rows
            .observe(rows as f64);
    }
}

/// `attempts::by_reference` / `by_merchant_reference` for many keys at once (the first match of each,
/// as they take it); `n` is the key's position (1-based).
pub static ATTEMPTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select k.n, a.*
         from unnest($1::text[], $2::text[], $3::text[]) with ordinality as k(merchant_id, kind, reference, n)
         cross join lateral (
             select {} from provider_attempts p
             where p.kind = k.kind and p.provider_reference = k.reference
               and (k.merchant_id is null or p.merchant_id = k.merchant_id)
             limit 1) a",
        attempts::COLUMNS
    )
});

/// One answer per key from rows that name their key's position in `n` (1-based): the row read, or
/// `None` for a key no row answered.
#[allow(clippy::type_complexity)]
fn answer_by_position<T>(
    keys: usize,
    rows: Vec<PgRow>,
    read: impl Fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<Result<Option<T>, sqlx::Error>>, sqlx::Error> {
    let mut answers: Vec<Result<Option<T>, sqlx::Error>> = (0..keys).map(|_| Ok(None)).collect();
    for row in rows {
        let n: i64 = row.try_get("n")?;
        if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| answers.get_mut(i)) {
            *slot = read(&row).map(Some);
        }
    }
    Ok(answers)
}

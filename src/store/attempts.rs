//! Provider attempts: written before a provider call, updated with what it answered.

use serde_json::Value;
use sqlx::PgExecutor;

pub struct NewAttempt<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub kind: &'a str,
    pub operation: &'a str,
    pub provider_reference: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

/// Records attempts in `created` state (its own statement: commit it before calling the provider).
pub async fn insert_created(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    attempts: &[NewAttempt<'_>],
) -> Result<(), sqlx::Error> {
    let column = |f: fn(&NewAttempt<'_>) -> String| attempts.iter().map(f).collect::<Vec<String>>();
    sqlx::query(
        "insert into provider_attempts (merchant_id, id, provider, kind, operation, provider_reference, status,
                                        amount_minor, currency)
         select $1, a.id, a.provider, a.kind, a.operation, a.reference, 'created', a.amount, a.currency
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
              as a(id, provider, kind, operation, reference, amount, currency)",
    )
    .bind(merchant_id)
    .bind(column(|a| a.id.to_owned()))
    .bind(column(|a| a.provider.to_owned()))
    .bind(column(|a| a.kind.to_owned()))
    .bind(column(|a| a.operation.to_owned()))
    .bind(column(|a| a.provider_reference.to_owned()))
    .bind(attempts.iter().map(|a| a.amount_minor).collect::<Vec<i64>>())
    .bind(column(|a| a.currency.to_owned()))
    .execute(db)
    .await?;
    Ok(())
}

/// A payment the provider reported first (a transfer into a virtual account): recorded already settled,
/// once per provider reference. `false` when that reference was recorded before (a repeat).
pub async fn insert_reported(
    db: impl PgExecutor<'_>,
    attempt: &NewAttempt<'_>,
    merchant_id: &str,
    collection_id: Option<&str>,
    status: &str,
    response: &Value,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let inserted: Option<String> = sqlx::query_scalar(
        "insert into provider_attempts (merchant_id, id, collection_id, provider, kind, operation,
                                        provider_reference, status, amount_minor, currency, response, error,
                                        amount_confirmed)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true)
         on conflict (merchant_id, kind, provider_reference) do nothing
         returning id",
    )
    .bind(merchant_id)
    .bind(attempt.id)
    .bind(collection_id)
    .bind(attempt.provider)
    .bind(attempt.kind)
    .bind(attempt.operation)
    .bind(attempt.provider_reference)
    .bind(status)
    .bind(attempt.amount_minor)
    .bind(attempt.currency)
    .bind(sqlx::types::Json(response))
    .bind(error)
    .fetch_optional(db)
    .await?;
    Ok(inserted.is_some())
}

/// Moves attempts on from `created` after the provider answered (or did not): their new status, the
/// collection they now belong to, and what was learned. An attempt a poll or callback already moved on
/// keeps its state.
pub async fn settle(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    ids: &[String],
    status: &str,
    collection_id: Option<&str>,
    response: Option<&Value>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts
         set status = $3, collection_id = coalesce($4, collection_id), response = coalesce(response, $5),
             error = $6, updated_at = now()
         where merchant_id = $1 and id = any($2) and status = 'created'",
    )
    .bind(merchant_id)
    .bind(ids)
    .bind(status)
    .bind(collection_id)
    .bind(response.map(sqlx::types::Json))
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub merchant_id: String,
    pub id: String,
    pub collection_id: Option<String>,
    pub collect_id: Option<String>,
    /// The scheduled collection a mandate authorization or a debit was for.
    pub scheduled_id: Option<String>,
    pub debit_id: Option<String>,
    pub provider: String,
    pub kind: String,
    pub operation: String,
    pub provider_reference: String,
    pub status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub error: Option<String>,
    pub checks: i32,
    pub last_checked: Option<chrono::DateTime<chrono::Utc>>,
    /// Redacted records of the calls made for it (operation, outcome, latency).
    pub calls: sqlx::types::Json<Value>,
    /// Whether the report that settled it carried the amount (Airtel's enquiry does not).
    pub amount_confirmed: Option<bool>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub const COLUMNS: &str = "merchant_id, id, collection_id, collect_id, scheduled_id, debit_id, provider, kind, operation,
    provider_reference, status, amount_minor, currency::text as currency, error, checks, last_checked,
    calls, amount_confirmed, created_at, updated_at";

/// The attempt, locked for the caller's transaction (so a webhook and a poll settle it one at a time).
pub async fn lock(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from provider_attempts where merchant_id = $1 and id = $2 for update"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from provider_attempts where merchant_id = $1 and id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The attempt a provider callback names by the reference Cowry gave it.
pub async fn by_reference(
    db: impl PgExecutor<'_>,
    kind: &str,
    reference: &str,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from provider_attempts where kind = $1 and provider_reference = $2 limit 1"
    ))
    .bind(kind)
    .bind(reference)
    .fetch_optional(db)
    .await
}

/// The attempt of one merchant's account kind that a provider callback names (callbacks that arrive at an
/// account's own URL are looked up within that account's merchant).
pub async fn by_merchant_reference(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    kind: &str,
    reference: &str,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from provider_attempts
         where merchant_id = $1 and kind = $2 and provider_reference = $3 limit 1"
    ))
    .bind(merchant_id)
    .bind(kind)
    .bind(reference)
    .fetch_optional(db)
    .await
}

/// Points a new attempt at the collect it pays for.
pub async fn attach_collect(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    collect_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update provider_attempts set collect_id = $3 where merchant_id = $1 and id = $2")
        .bind(merchant_id)
        .bind(id)
        .bind(collect_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The provider refused the call: the attempt (still `created`) fails and no longer belongs to its
/// collect or collection, which are being removed. False when something else moved it first.
pub async fn refused(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update provider_attempts
         set collect_id = null, collection_id = null, status = 'failed', error = $3, updated_at = now()
         where merchant_id = $1 and id = $2 and status = 'created'",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(error)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the attempt to `status` only from one of the states `from` (the state machine's allowed
/// predecessors); returns whether it moved, so two paths (a poll and the request's own write) never
/// overwrite each other.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    from: &[&str],
    status: &str,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let change = Change {
        from,
        to: status,
        error,
        amount_confirmed: None,
        ends: None,
    };
    settle_status(db, merchant_id, id, &change).await
}

/// An attempt's move, as settling decides it: from one of `from` to `to`, noting `error` (kept if
/// `None`) and, when given, whether the report that settled it carried the amount (Airtel's enquiry
/// does not); if it moves, the queued job `ends` names (kind, key: the attempt's status poll, as
/// `jobs::cancel` would) is removed in the same statement.
pub struct Change<'a> {
    pub from: &'a [&'a str],
    pub to: &'a str,
    pub error: Option<&'a str>,
    pub amount_confirmed: Option<bool>,
    pub ends: Option<(&'a str, &'a str)>,
}

/// Binds a [`Change`]'s six parameters onto a query (any of sqlx's kinds), in [`change_sql`]'s order.
macro_rules! bind_change {
    ($query:expr, $change:expr) => {{
        let change: &Change<'_> = $change;
        $query
            .bind(change.from)
            .bind(change.to)
            .bind(change.error)
            .bind(change.amount_confirmed)
            .bind(change.ends.map(|e| e.0))
            .bind(change.ends.map(|e| e.1))
    }};
}

/// The SET list and the poll's removal of a [`Change`] whose `from` is the statement's parameter `$n`
/// and the rest the five after it, in field order; `moved` names the CTE of the update.
fn change_sql(n: usize) -> (String, String) {
    let set = format!(
        "status = ${to}, error = coalesce(${error}, error),
         amount_confirmed = coalesce(${confirmed}, amount_confirmed), updated_at = now()",
        to = n + 1,
        error = n + 2,
        confirmed = n + 3
    );
    let ended = format!(
        "ended as (
             delete from jobs where kind = ${kind} and key = ${key} and status = 'queued'
               and (locked_until is null or locked_until < now()) and exists (select 1 from moved)
         )",
        kind = n + 4,
        key = n + 5
    );
    (set, ended)
}

/// `set_status` with a whole [`Change`]: one statement, one write of the row.
pub async fn settle_status(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    change: &Change<'_>,
) -> Result<bool, sqlx::Error> {
    let (set, ended) = change_sql(3);
    let sql = format!(
        "with moved as (
             update provider_attempts set {set}
             where merchant_id = $1 and id = $2 and status = any($3)
             returning 1
         ), {ended}
         select exists (select 1 from moved)"
    );
    let query = sqlx::query_scalar(&sql).bind(merchant_id).bind(id);
    bind_change!(query, change).fetch_one(db).await
}

/// [`settle_status`] for a success report, only if the attempt asked for exactly `amount_minor` in
/// `currency` (so the move is what `domain::settlement::decide` would make of it): the attempt is
/// returned as moved, or `None` when it was not in one of `change.from` or asked for something else
/// (the caller then locks it and settles it the general way).
pub async fn settle_if_asked(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    amount_minor: i64,
    currency: &str,
    change: &Change<'_>,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    let sql = format!("with {} select * from moved", settle_if_asked_ctes(""));
    bind_settle_if_asked(
        sqlx::query_as(&sql),
        (merchant_id, id),
        amount_minor,
        currency,
        change,
    )
    .fetch_optional(conn)
    .await
}

/// The CTEs of [`settle_if_asked`] (`moved`: the attempt as moved), over its parameters `$1` to `$10`
/// ([`bind_settle_if_asked`]), moving only an attempt that also meets `only` (SQL, may be empty), for a
/// statement that goes on to write what the move means.
pub(crate) fn settle_if_asked_ctes(only: &str) -> String {
    let (set, ended) = change_sql(5);
    format!(
        "moved as (
             update provider_attempts set {set}
             where merchant_id = $1 and id = $2 and amount_minor = $3 and trim(currency) = $4
               and status = any($5) {only}
             returning {COLUMNS}
         ), {ended}"
    )
}

/// Binds [`settle_if_asked_ctes`]' parameters, `$1` to `$10`.
pub(crate) fn bind_settle_if_asked<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    (merchant_id, id): (&'q str, &'q str),
    amount_minor: i64,
    currency: &'q str,
    change: &'q Change<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let query = query
        .bind(merchant_id)
        .bind(id)
        .bind(amount_minor)
        .bind(currency);
    bind_change!(query, change)
}

/// [`record_call_and_lock`] and [`settle_status`] in one statement, for the answer to a call on an
/// attempt its caller created: the call is recorded and the attempt moved only if it is still in one of
/// `change.from` (then it is returned, as moved). `None` when something else moved it first (a webhook,
/// a poll): the caller then records and settles it the general way. The job that made the call, if
/// `ending`, ends in this statement either way.
pub async fn record_call_and_settle(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    call: &Value,
    ending: Option<&crate::store::jobs::Job>,
    change: &Change<'_>,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    let sql = format!("with {} select * from moved", record_call_and_settle_ctes());
    bind_call_and_settle(sqlx::query_as(&sql), merchant_id, id, call, ending, change)
        .fetch_optional(conn)
        .await
}

/// The CTEs of [`record_call_and_settle`] (`moved`: the attempt as moved), over its parameters `$1` to
/// `$11` ([`bind_call_and_settle`]), for a statement that goes on to write what the move means.
pub(crate) fn record_call_and_settle_ctes() -> String {
    let (set, ended) = change_sql(6);
    format!(
        "{}, moved as (
             update provider_attempts
             set {APPEND_CALL}, {set}
             where merchant_id = $1 and id = $2 and status = any($6)
             returning {COLUMNS}
         ), {ended}",
        crate::store::jobs::finish_ctes("$4", "$5")
    )
}

/// Binds [`record_call_and_settle_ctes`]' parameters, `$1` to `$11`.
pub(crate) fn bind_call_and_settle<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    merchant_id: &'q str,
    id: &'q str,
    call: &'q Value,
    ending: Option<&'q crate::store::jobs::Job>,
    change: &'q Change<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let query = query
        .bind(merchant_id)
        .bind(id)
        .bind(sqlx::types::Json(call))
        .bind(ending.map(|job| job.id))
        .bind(ending.map(|job| job.worker.as_str()));
    bind_change!(query, change)
}

/// The SET item that appends the call bound as `$3` to the attempt's log, keeping the last 50.
const APPEND_CALL: &str =
    "calls = (case when jsonb_array_length(calls) >= 50 then calls - 0 else calls end)
                                  || jsonb_build_array($3::jsonb)";

/// Appends a redacted record of one provider call (operation, outcome, latency; never bodies, secrets
/// or account numbers), so an operator can answer a dispute. The last 50 are kept (a payment polled
/// for days makes many status calls).
pub async fn record_call(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    call: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "update provider_attempts set {APPEND_CALL} where merchant_id = $1 and id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(sqlx::types::Json(call))
    .execute(db)
    .await?;
    Ok(())
}

/// `record_call` that also locks the attempt for the caller's transaction and reads it back (as `lock`
/// does): a call's answer about to be settled costs one statement, not two. The job that made the call,
/// if `ending`, ends in the same statement (`jobs::finish`): it commits with what its answer settles.
pub async fn record_call_and_lock(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    call: &Value,
    ending: Option<&crate::store::jobs::Job>,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "with {}
         update provider_attempts set {APPEND_CALL}
         where merchant_id = $1 and id = $2
         returning {COLUMNS}",
        crate::store::jobs::finish_ctes("$4", "$5")
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(sqlx::types::Json(call))
    .bind(ending.map(|job| job.id))
    .bind(ending.map(|job| job.worker.as_str()))
    .fetch_optional(conn)
    .await
}

/// Counts a status check (whatever it found).
pub async fn checked(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts set checks = checks + 1, last_checked = now(),
                                      error = coalesce($3, error)
         where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Operators' view across merchants: attempts in a status (all when `None`), newest first.
pub async fn list(
    pool: &sqlx::PgPool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from provider_attempts where $1::text is null or status = $1
         order by created_at desc, id desc limit $2"
    ))
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// An attempt by id, whichever merchant it belongs to (operators only).
pub async fn find_any(pool: &sqlx::PgPool, id: &str) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from provider_attempts where id = $1 limit 1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Points new attempts at the collection they were planned for.
pub async fn attach_collection(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    ids: &[String],
    collection_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts set collection_id = $3 where merchant_id = $1 and id = any($2)",
    )
    .bind(merchant_id)
    .bind(ids)
    .bind(collection_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Drops planned attempts that were never sent (unused spare references).
pub async fn discard_unsent(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    ids: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from provider_attempts where merchant_id = $1 and id = any($2) and status = 'created'",
    )
    .bind(merchant_id)
    .bind(ids)
    .execute(db)
    .await?;
    Ok(())
}

/// Merges what a provider named along the way (Dollr's invoice and session ids) into the attempt's
/// recorded answer, found by its reference.
pub async fn note_response(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    kind: &str,
    provider_reference: &str,
    noted: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts set response = coalesce(response, '{}'::jsonb) || $4, updated_at = now()
         where merchant_id = $1 and kind = $2 and provider_reference = $3",
    )
    .bind(merchant_id)
    .bind(kind)
    .bind(provider_reference)
    .bind(sqlx::types::Json(noted))
    .execute(db)
    .await?;
    Ok(())
}

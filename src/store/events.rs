//! The merchant's event stream over the three event tables, and the fan-out of a published event to
//! its webhook deliveries. See migration 0009 for why the stream pages by (xid, stream_seq).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// Where an object's events live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Collection,
    Collect,
    Account,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Collection => "collection_events",
            Table::Collect => "collect_events",
            Table::Account => "account_events",
        }
    }

    fn owner_column(self) -> Option<&'static str> {
        match self {
            Table::Collection => Some("collection_id"),
            Table::Collect => Some("collect_id"),
            Table::Account => None,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stamped {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub stream_seq: i64,
    /// Whether an enabled endpoint of the merchant wants any of the stamped events.
    pub wanted: bool,
    /// Whether the merchant is live.
    pub live: bool,
}

/// Stamps the object's new published events (those of `types` without a snapshot yet, written in this
/// transaction) with `snapshot`, in one statement that also says whether any endpoint wants them.
pub async fn stamp(
    conn: &mut PgConnection,
    table: Table,
    merchant_id: &str,
    owner_id: &str,
    types: &[&str],
    snapshot: &serde_json::value::RawValue,
) -> Result<Vec<Stamped>, sqlx::Error> {
    let owner = table.owner_column().unwrap_or("id");
    sqlx::query_as(&format!(
        "with stamped as (
             update {} set snapshot = $4
             where merchant_id = $1 and {owner} = $2 and snapshot is null and type = any($3)
             returning id, type, created_at, stream_seq
         )
         select s.id, s.type, s.created_at, s.stream_seq,
                exists (select 1 from webhook_endpoints
                        where merchant_id = $1 and enabled
                          and (events is null or events && array(select type from stamped))) as wanted,
                coalesce((select mode = 'live' from merchants where id = $1), false) as live
         from stamped s",
        table.name()
    ))
    .bind(merchant_id)
    .bind(owner_id)
    .bind(types)
    .bind(sqlx::types::Json(snapshot))
    .fetch_all(&mut *conn)
    .await
}

/// [`stamp`] for several collections in one statement: `owners` (merchant, collection) and their
/// `snapshots` in the same positions; each stamped event with the position of its collection.
pub async fn stamp_collections(
    conn: &mut PgConnection,
    owners: &[(&str, &str)],
    types: &[&str],
    snapshots: &[Box<serde_json::value::RawValue>],
) -> Result<Vec<(usize, Stamped)>, sqlx::Error> {
    let merchants: Vec<&str> = owners.iter().map(|o| o.0).collect();
    let ids: Vec<&str> = owners.iter().map(|o| o.1).collect();
    let snapshots: Vec<sqlx::types::Json<&serde_json::value::RawValue>> =
        snapshots.iter().map(|s| sqlx::types::Json(&**s)).collect();
    let rows: Vec<(i64, Stamped)> = sqlx::query(
        "with input as (
             select * from unnest($1::text[], $2::text[], $3::jsonb[])
                 with ordinality as i(merchant_id, owner, snapshot, n)
         ), stamped as (
             update collection_events e set snapshot = i.snapshot
             from input i
             where e.merchant_id = i.merchant_id and e.collection_id = i.owner and e.snapshot is null
               and e.type = any($4)
             returning i.n, e.merchant_id, e.id, e.type, e.created_at, e.stream_seq
         )
         select s.n, s.id, s.type, s.created_at, s.stream_seq,
                exists (select 1 from webhook_endpoints w
                        where w.merchant_id = s.merchant_id and w.enabled
                          and (w.events is null or w.events && array(
                              select o.type from stamped o where o.n = s.n))) as wanted,
                coalesce((select mode = 'live' from merchants where id = s.merchant_id), false) as live
         from stamped s",
    )
    .bind(&merchants)
    .bind(&ids)
    .bind(&snapshots)
    .bind(types)
    .try_map(|row: sqlx::postgres::PgRow| {
        use sqlx::{FromRow, Row};
        Ok((row.try_get("n")?, Stamped::from_row(&row)?))
    })
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(n, s)| (usize::try_from(n - 1).unwrap_or(usize::MAX), s))
        .collect())
}

/// A delivery to write: the event and its payload.
pub struct Outgoing<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a Value,
}

/// Writes one delivery per (event, enabled endpoint that wants it) and a `deliver` job for each, in
/// the caller's transaction. Returns how many.
pub async fn fan_out(
    conn: &mut PgConnection,
    merchant_id: &str,
    events: &[Outgoing<'_>],
    only_endpoint: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let ids: Vec<&str> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let payloads: Vec<sqlx::types::Json<&Value>> = events
        .iter()
        .map(|e| sqlx::types::Json(e.payload))
        .collect();
    let (count,): (i64,) = sqlx::query_as(
        "with new as (
             select * from unnest($2::text[], $3::text[], $4::jsonb[]) as n(event_id, event_type, payload)
         ), deliveries as (
             insert into webhook_deliveries (id, merchant_id, endpoint_id, event_id, event_type, payload, next_attempt_at)
             select 'whd_' || replace(gen_random_uuid()::text, '-', ''), $1, ep.id, n.event_id, n.event_type, n.payload, now()
             from new n join webhook_endpoints ep
               on ep.merchant_id = $1 and ep.enabled
              and (ep.events is null or n.event_type = any(ep.events))
              and ($5::text is null or ep.id = $5)
             returning id
         ), jobs as (
             insert into jobs (kind, key, merchant_id, payload, run_at)
             select 'deliver', id, $1, '{}'::jsonb, now() from deliveries
         )
         select count(*) from deliveries",
    )
    .bind(merchant_id)
    .bind(&ids)
    .bind(&types)
    .bind(&payloads)
    .bind(only_endpoint)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count as u64)
}

/// A published event as listed: its payload is built from these.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub stream_seq: i64,
    /// The writing transaction's id, as text (the cursor's first half).
    pub xid: String,
    pub snapshot: sqlx::types::Json<Value>,
    pub livemode: bool,
}

#[derive(Debug, Default)]
pub struct EventFilter {
    pub types: Vec<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// (xid, stream_seq) of the last event of the previous page.
    pub after: Option<(String, i64)>,
    pub limit: i64,
}

/// A published event with its merchant's mode, from every event table.
const SELECT: &str = "select e.id, e.type, e.created_at, e.stream_seq, e.xid::text as xid, e.snapshot,
                m.mode = 'live' as livemode
         from (select merchant_id, id, type, created_at, stream_seq, xid, snapshot from collection_events
               union all select merchant_id, id, type, created_at, stream_seq, xid, snapshot from collect_events
               union all select merchant_id, id, type, created_at, stream_seq, xid, snapshot from account_events) e
         join merchants m on m.id = e.merchant_id";

/// The merchant's published events in stream order, only those of transactions older than every one
/// still running (so a later page never holds an event that belongs before this one).
pub async fn list(
    pool: &PgPool,
    merchant_id: &str,
    filter: &EventFilter,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let (after_xid, after_seq) = match &filter.after {
        Some((xid, seq)) => (Some(xid.as_str()), Some(*seq)),
        None => (None, None),
    };
    sqlx::query_as(&format!(
        "{SELECT}
         where e.merchant_id = $1 and e.snapshot is not null
           and e.xid < pg_snapshot_xmin(pg_current_snapshot())
           and (cardinality($2::text[]) = 0 or e.type = any($2))
           and ($3::timestamptz is null or e.created_at >= $3)
           and ($4::timestamptz is null or e.created_at <= $4)
           and ($5::xid8 is null or (e.xid, e.stream_seq) > ($5::xid8, $6::bigint))
         order by e.xid, e.stream_seq
         limit $7"
    ))
    .bind(merchant_id)
    .bind(&filter.types)
    .bind(filter.created_from)
    .bind(filter.created_to)
    .bind(after_xid)
    .bind(after_seq)
    .bind(filter.limit)
    .fetch_all(pool)
    .await
}

pub async fn get(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT}
         where e.merchant_id = $1 and e.id = $2 and e.snapshot is not null"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Writes a merchant-level event (not about a payment), unstamped: `publish` stamps it.
pub async fn add_account_event(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    kind: &str,
    data: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into account_events (merchant_id, id, type, data) values ($1, $2, $3, $4)")
        .bind(merchant_id)
        .bind(id)
        .bind(kind)
        .bind(sqlx::types::Json(data))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Events in a time range, for replaying to one endpoint (oldest first, at most `limit`).
pub async fn in_range(
    pool: &PgPool,
    merchant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT}
         where e.merchant_id = $1 and e.snapshot is not null
           and e.created_at >= $2 and e.created_at <= $3
         order by e.xid, e.stream_seq
         limit $4"
    ))
    .bind(merchant_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}

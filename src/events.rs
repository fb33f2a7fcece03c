//! Publishing: after a transaction writes an object's events, `publish` stamps each published one
//! with the object as GET shows it now (the payload's `data`, never re-rendered later) and writes a
//! delivery and a `deliver` job for every endpoint that wants it — all in that same transaction, so an
//! event is never without its deliveries, nor a delivery without its event.

use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;
use sqlx::PgConnection;

use crate::domain::events::{self, CATALOGUE};
use crate::domain::time;
pub use crate::store::events::Table;
use crate::store::events::{self as stream, Outgoing};

/// The object whose events were just written.
#[derive(Debug, Clone, Copy)]
pub enum Object<'a> {
    Collection(&'a str),
    /// A scheduled collection (its events live with the collections').
    Scheduled(&'a str),
    Collect(&'a str),
    /// A merchant-level event (e.g. `webhook_endpoint.disabled`), by event id, with its data.
    Account(&'a str, &'a Value),
}

pub async fn publish(
    conn: &mut PgConnection,
    merchant_id: &str,
    object: Object<'_>,
) -> Result<(), sqlx::Error> {
    let (table, owner, snapshot) = match object {
        Object::Collection(id) => {
            let Some(row) = crate::store::collections::get(&mut *conn, merchant_id, id).await?
            else {
                return Ok(());
            };
            let view = crate::http::collections::view::CollectionView::from(row);
            (
                Table::Collection,
                id,
                to_raw_value(&view).expect("views serialise"),
            )
        }
        Object::Scheduled(id) => {
            let Some(row) = crate::store::scheduled::get(&mut *conn, merchant_id, id).await? else {
                return Ok(());
            };
            let view = crate::http::scheduled::view::ScheduledView::from(row);
            (
                Table::Collection,
                id,
                to_raw_value(&view).expect("views serialise"),
            )
        }
        Object::Collect(id) => {
            let Some(row) = crate::store::collects::get(&mut *conn, merchant_id, id).await? else {
                return Ok(());
            };
            let view = crate::http::collect::view::CollectView::from(row);
            (
                Table::Collect,
                id,
                to_raw_value(&view).expect("views serialise"),
            )
        }
        Object::Account(event_id, data) => (
            Table::Account,
            event_id,
            to_raw_value(data).expect("JSON values serialise"),
        ),
    };
    publish_snapshot(conn, merchant_id, table, owner, &snapshot).await
}

/// `publish` for a caller that has just rendered the object as GET shows it (a create answer): no need
/// to read it back. The snapshot is JSON text, stored as it is; it becomes a tree only for the payloads
/// of deliveries, when an endpoint wants the events.
pub async fn publish_snapshot(
    conn: &mut PgConnection,
    merchant_id: &str,
    table: Table,
    owner: &str,
    snapshot: &RawValue,
) -> Result<(), sqlx::Error> {
    let types: Vec<&str> = CATALOGUE.iter().map(|(t, _)| *t).collect();
    let stamped = stream::stamp(conn, table, merchant_id, owner, &types, snapshot).await?;
    deliver(conn, merchant_id, &stamped, snapshot).await
}

/// `publish` for several collections at once (settlements written together, `jobs::paid_callbacks`):
/// their views read in one statement and their events stamped in one, then each one's deliveries
/// written as `publish` writes them.
pub async fn publish_collections(
    conn: &mut PgConnection,
    collections: &[(&str, &str)],
) -> Result<(), sqlx::Error> {
    let rows = crate::store::read_batch::collections(&mut *conn, collections).await?;
    let mut owners = Vec::with_capacity(rows.len());
    let mut snapshots = Vec::with_capacity(rows.len());
    for (&(merchant_id, id), row) in collections.iter().zip(rows) {
        let Some(row) = row else { continue };
        let view = crate::http::collections::view::CollectionView::from(row);
        owners.push((merchant_id, id));
        snapshots.push(to_raw_value(&view).expect("views serialise"));
    }
    let types: Vec<&str> = CATALOGUE.iter().map(|(t, _)| *t).collect();
    let stamped = stream::stamp_collections(conn, &owners, &types, &snapshots).await?;
    for (n, snapshot) in snapshots.iter().enumerate() {
        let own: Vec<stream::Stamped> = stamped
            .iter()
            .filter(|(owner, _)| *owner == n)
            .map(|(_, s)| s.clone())
            .collect();
        deliver(conn, owners[n].0, &own, snapshot).await?;
    }
    Ok(())
}

/// Writes the deliveries of an object's just-stamped events (with `snapshot`, the object as GET shows
/// it), when an endpoint wants any.
async fn deliver(
    conn: &mut PgConnection,
    merchant_id: &str,
    stamped: &[stream::Stamped],
    snapshot: &RawValue,
) -> Result<(), sqlx::Error> {
    if !stamped.iter().any(|s| s.wanted) {
        return Ok(());
    }
    let snapshot: Value = serde_json::from_str(snapshot.get()).expect("a rendered view is JSON");
    let snapshot = &snapshot;
    let payloads: Vec<Value> = stamped
        .iter()
        .map(|e| {
            events::payload(
                &e.id,
                &e.kind,
                e.live,
                &time::format(&e.created_at),
                e.stream_seq,
                snapshot,
            )
        })
        .collect();
    let outgoing: Vec<Outgoing> = stamped
        .iter()
        .zip(&payloads)
        .map(|(e, payload)| Outgoing {
            event_id: &e.id,
            event_type: &e.kind,
            payload,
        })
        .collect();
    stream::fan_out(conn, merchant_id, &outgoing, None).await?;
    Ok(())
}

/// The payload of a stored event, as it was delivered (for `GET /events` and replays).
pub fn payload_of(row: &stream::EventRow) -> Value {
    events::payload(
        &row.id,
        &row.kind,
        row.livemode,
        &time::format(&row.created_at),
        row.stream_seq,
        &row.snapshot.0,
    )
}

//! Collections, their contacts and their events.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use crate::domain::collection::event;

/// A collection as read back, with its contact and its events. The merchant's JSON (`payable`,
/// `followUp`, `metadata`) stays the stored text, passed through to the answer as it is, rather than
/// parsed into a `Value` tree only to be written out again (with the events read as records, this cut the
/// server's CPU per GET by a fifth to two fifths; `bench/README.md`, session 27).
/// [`CollectionRow::payable`] and friends parse it where a job or a page reads into it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CollectionRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub reference: String,
    pub amount_minor: i64,
    /// Paid towards it so far: short transfers, and the payment that completed it.
    pub amount_paid_minor: i64,
    pub currency: String,
    pub status: String,
    pub provider: String,
    pub expires_in: i32,
    pub expires_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub payable: Json<Box<RawValue>>,
    pub follow_up: Option<Json<Box<RawValue>>>,
    pub metadata: Option<Json<Box<RawValue>>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub contact: ContactRow,
    /// Oldest first.
    pub events: Vec<EventRef>,
}

/// An event as a collection lists it: (id, type, when), read as a record (no JSON built in SQL).
pub type EventRef = (String, String, DateTime<Utc>);

impl CollectionRow {
    /// `payable` as a tree, for those who read into it.
    pub fn payable(&self) -> Value {
        parsed(&self.payable)
    }

    pub fn metadata(&self) -> Option<Value> {
        self.metadata.as_ref().map(parsed)
    }
}

/// Stored JSON text (valid: it was read as JSON) as a tree.
pub fn parsed(raw: &Json<Box<RawValue>>) -> Value {
    serde_json::from_str(raw.0.get()).unwrap_or_default()
}

/// A value as JSON text, for a row built in memory (a create's answer).
pub fn raw(value: &impl serde::Serialize) -> Json<Box<RawValue>> {
    Json(serde_json::value::to_raw_value(value).expect("JSON values serialise"))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    pub contact_id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
}

/// The columns of [`CollectionRow`]; `c` is the collection, `ct` its contact.
pub(super) const COLUMNS: &str = "
           c.id, c.type, c.reference, c.amount_minor, c.amount_paid_minor, c.currency, c.status, c.provider,
           c.expires_in, c.expires_at, c.due_at, c.payable, c.follow_up, c.metadata, c.created_at, c.updated_at,
           c.completed_at, ct.id as contact_id, ct.first_name, ct.last_name, ct.phone, ct.email,
           array(select row(e.id, e.type, e.created_at) from collection_events e
                 where e.merchant_id = c.merchant_id and e.collection_id = c.id order by e.seq) as events";

/// Joins a collection `c` to its contact `ct`.
pub(super) const WITH_CONTACT: &str =
    "join contacts ct on ct.merchant_id = c.merchant_id and ct.id = c.contact_id";

/// Everything one create writes, generated before the statement runs. Owned, so that it can be handed to
/// the group-commit writer (`store::group_commit`).
#[derive(Debug, Clone)]
pub struct NewCollectionRow {
    pub merchant_id: String,
    pub id: String,
    pub reference: String,
    pub amount_minor: i64,
    pub currency: String,
    pub provider: String,
    pub expires_in: i32,
    pub expires_at: DateTime<Utc>,
    /// JSON text: a `Json<_>` parameter travels as jsonb, which would reorder the merchant's keys.
    pub payable: String,
    pub follow_up: Option<String>,
    pub metadata: Option<String>,
    pub created_at: DateTime<Utc>,
    pub event_id: String,
    /// The follow-up plan's first touch: its `followup` job is written with the collection.
    pub first_follow_up: Option<DateTime<Utc>>,
    /// When it becomes overdue: its `deadline` job is written with the collection.
    pub due_at: DateTime<Utc>,
    /// The hosted payment page's token (`/pay/{token}`).
    pub pay_token: String,
    /// The account number it offers for transfers, so a transfer into it finds the collection.
    pub virtual_account: Option<String>,
    pub new_contact_id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
    /// Published with the collection (its `collection.created` event stamped and delivered in the same
    /// statement), or `None`: published later, once provider calls confirmed it (`events::publish_snapshot`).
    pub published: Option<Published>,
}

/// What the statement needs to publish the `collection.created` event itself.
#[derive(Debug, Clone)]
pub struct Published {
    /// The collection as `GET` shows it; its `contact` is replaced by the contact the statement finds or makes.
    pub snapshot: Box<RawValue>,
    /// The delivery payload (`domain::events::payload`) without `sequence` and `data`, which the statement
    /// fills in from the stored event.
    pub envelope: Value,
}

/// The one statement behind `POST /collections`. `bench/create.pgbench.sql` runs the same statement
/// (a unit test below keeps the two in step), so the benchmark can compare HTTP with raw SQL.
pub const INSERT_SQL: &str = "with found as (
        -- By phone, else by email (the oldest): each a look-up on its own index, and no join to contacts, so
        -- that no cached generic plan planned on a young database can scan every contact.
        (select id, first_name, last_name, phone, email from contacts where merchant_id = $1 and phone = $2)
        union all
        (select id, first_name, last_name, phone, email from contacts
         where merchant_id = $1 and lower(email) = lower($3) order by created_at, id limit 1)
        limit 1
    ), inserted as (
        insert into contacts (merchant_id, id, first_name, last_name, phone, email, created_at, updated_at)
        select $1, $4, $5, $6, $2, $3, $7, $7 where not exists (select 1 from found)
        on conflict (merchant_id, phone) do update set updated_at = contacts.updated_at
        returning id, first_name, last_name, phone, email
    ), contact as (
        select * from inserted
        union all
        select * from found
    ), created as (
        insert into collections (merchant_id, id, type, reference, amount_minor, currency, status, contact_id,
                                 provider, expires_in, expires_at, due_at, payable, follow_up, metadata,
                                 created_at, updated_at, pay_token, virtual_account)
        select $1, $8, 'integrated', $9, $10, $11, 'pending', contact.id, $12, $13, $14, $21,
               $15::json, $16::json, $17::json, $7, $7, $22, $23
        from contact
        returning id
    ), event as (
        insert into collection_events (merchant_id, id, collection_id, type, created_at, snapshot)
        select $1, $18, id, $19, $7,
               jsonb_set($24::jsonb, '{contact}', (select jsonb_build_object('id', c.id, 'firstName', c.first_name,
                   'lastName', c.last_name, 'phone', c.phone, 'email', c.email) from contact c))
        from created
        returning id, type, stream_seq, snapshot
    ), deliveries as (
        -- Published now: one delivery (and its job) per enabled endpoint that wants the event.
        insert into webhook_deliveries (id, merchant_id, endpoint_id, event_id, event_type, payload, next_attempt_at)
        select 'whd_' || replace(gen_random_uuid()::text, '-', ''), $1, ep.id, e.id, e.type,
               $25::jsonb || jsonb_build_object('sequence', e.stream_seq, 'data', e.snapshot), now()
        from event e join webhook_endpoints ep
          on ep.merchant_id = $1 and ep.enabled and (ep.events is null or e.type = any(ep.events))
        where e.snapshot is not null
        returning id
    ), timers as (
        -- Its deadline (overdue, then expired, on time) and its follow-up plan's first touch.
        insert into jobs (kind, key, merchant_id, payload, run_at)
        select 'deadline', $1 || '/' || id, $1,
               jsonb_build_object('merchantId', $1::text, 'collectionId', id), $21
        from created
        union all
        select 'followup', $1 || '/' || id, $1,
               jsonb_build_object('merchantId', $1::text, 'collectionId', id, 'seq', 1), $20
        from created where $20::timestamptz is not null
        union all
        select 'deliver', id, $1, '{}'::jsonb, now() from deliveries
    )
    select id as contact_id, first_name, last_name, phone, email from contact";

/// Finds or creates the contact, inserts the collection, its `collection.created` event (published, with
/// its webhook deliveries and their jobs, when `published` is given), its deadline job and its follow-up
/// job (when it has a plan), in one statement (one round trip, atomic on its own). The contact is found by phone, else by email
/// (case-insensitive), else created; `on conflict` on (merchant, phone) makes two simultaneous creates
/// for the same new phone share one contact. Returns the contact the collection belongs to.
pub async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewCollectionRow,
) -> Result<ContactRow, sqlx::Error> {
    sqlx::query_as(INSERT_SQL)
        .bind(&new.merchant_id)
        .bind(&new.phone)
        .bind(&new.email)
        .bind(&new.new_contact_id)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(new.created_at)
        .bind(&new.id)
        .bind(&new.reference)
        .bind(new.amount_minor)
        .bind(&new.currency)
        .bind(&new.provider)
        .bind(new.expires_in)
        .bind(new.expires_at)
        .bind(&new.payable)
        .bind(&new.follow_up)
        .bind(&new.metadata)
        .bind(&new.event_id)
        .bind(event::CREATED)
        .bind(new.first_follow_up)
        .bind(new.due_at)
        .bind(&new.pay_token)
        .bind(&new.virtual_account)
        .bind(new.published.as_ref().map(|p| Json(&p.snapshot)))
        .bind(new.published.as_ref().map(|p| Json(&p.envelope)))
        .fetch_one(db)
        .await
}

/// Who a hosted page's token belongs to: (merchant id, merchant name, merchant mode, collection id).
pub async fn by_pay_token(
    pool: &PgPool,
    token: &str,
) -> Result<Option<(String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select c.merchant_id, m.name, m.mode, c.id from collections c
         join merchants m on m.id = c.merchant_id where c.pay_token = $1",
    )
    .bind(token)
    .fetch_optional(pool)
    .await
}

/// The payment that completed a collection, for its receipt: (provider kind, provider reference, when).
pub async fn paid_by(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
) -> Result<Option<(String, String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "select kind, provider_reference, updated_at from provider_attempts
         where merchant_id = $1 and collection_id = $2 and status = 'succeeded'
         order by updated_at desc limit 1",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn reference_taken(
    pool: &PgPool,
    merchant_id: &str,
    reference: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from collections where merchant_id = $1 and reference = $2)",
    )
    .bind(merchant_id)
    .bind(reference)
    .fetch_one(pool)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<CollectionRow>, sqlx::Error> {
    sqlx::query_as(&GET_SQL)
        .bind(merchant_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

static GET_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select {COLUMNS} from collections c {WITH_CONTACT}
         where c.merchant_id = $1 and c.id = $2 and c.type = 'integrated'"
    )
});

#[derive(Debug, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub reference: Option<String>,
    pub contact_id: Option<String>,
    pub page: super::Page,
}

/// Newest first; (created_at, id) gives a total order, so a cursor walk sees every row exactly once.
pub async fn list(
    pool: &PgPool,
    merchant_id: &str,
    filter: &ListFilter,
) -> Result<Vec<CollectionRow>, sqlx::Error> {
    let (after_at, after_id) = filter.page.after.clone().unzip();
    sqlx::query_as(&format!(
        "select {COLUMNS} from collections c {WITH_CONTACT}
         where c.merchant_id = $1 and c.type = 'integrated'
           and ($2::text is null or c.status = $2)
           and ($3::text is null or c.type = $3)
           and ($4::text is null or c.reference = $4)
           and ($5::text is null or c.contact_id = $5)
           and ($6::timestamptz is null or c.created_at >= $6)
           and ($7::timestamptz is null or c.created_at <= $7)
           and ($8::timestamptz is null or (c.created_at, c.id) < ($8, $9))
         order by c.created_at desc, c.id desc
         limit $10"
    ))
    .bind(merchant_id)
    .bind(&filter.status)
    .bind(&filter.kind)
    .bind(&filter.reference)
    .bind(&filter.contact_id)
    .bind(filter.page.created_from)
    .bind(filter.page.created_to)
    .bind(after_at)
    .bind(after_id)
    .bind(filter.page.limit)
    .fetch_all(pool)
    .await
}

/// Outcome of a state change that only open (pending/overdue) collections may make.
pub enum Transition {
    Done,
    NotFound,
    /// The collection is in this terminal state and stays there.
    Terminal(String),
}

/// Moves an open collection to `cancelled`, with its event, in one statement.
pub async fn cancel(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    event_id: &str,
    at: DateTime<Utc>,
) -> Result<Transition, sqlx::Error> {
    let (prior, changed): (Option<String>, bool) = sqlx::query_as(
        "with changed as (
             update collections set status = 'cancelled', updated_at = $4
             where merchant_id = $1 and id = $2 and status in ('pending', 'overdue')
             returning id
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, created_at)
             select $1, $3, id, $5, $4 from changed
         ), stop_follow_ups as (
             -- Its follow-up plan and deadline end with it (a running job sees the new status under the lock).
             delete from jobs where kind in ('followup', 'deadline') and key in (select $1 || '/' || id from changed)
               and status = 'queued' and (locked_until is null or locked_until < now())
         )
         select (select status from collections where merchant_id = $1 and id = $2),
                exists (select 1 from changed)",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(event_id)
    .bind(at)
    .bind(event::CANCELLED)
    .fetch_one(db)
    .await?;
    Ok(match (prior, changed) {
        (_, true) => Transition::Done,
        (None, false) => Transition::NotFound,
        (Some(status), false) => Transition::Terminal(status),
    })
}

/// Completes an open collection (paid), with its `collection.completed` event. Returns whether it moved
/// (false when it was already terminal: cancelled, expired or completed).
pub async fn complete(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    event_id: &str,
    data: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let owed = complete_paid(db, merchant_id, id, event_id, data, 0).await?;
    Ok(owed.is_some())
}

/// [`complete`] by a payment of `paid` minor units, added to what the collection has been paid in the
/// same statement. Returns what the collection owed before the payment when it moved (so the caller
/// sees an excess), `None` when it was already terminal.
pub async fn complete_paid(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    event_id: &str,
    data: &serde_json::Value,
    paid: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "with {} select (select owed from changed)",
        completion_ctes("$2", "$6", ("$3", "$4", "$5"))
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(event_id)
    .bind(event::COMPLETED)
    .bind(sqlx::types::Json(data))
    .bind(paid)
    .fetch_one(db)
    .await
}

/// The CTEs of [`complete_paid`] (`changed`: the collection completed, with what it owed before;
/// `event`; `stop_follow_ups`), for the merchant `$1`, the collection `id` and a payment of `paid` (SQL
/// expressions of the statement), and the event's `(id, type, data)`.
pub(crate) fn completion_ctes(id: &str, paid: &str, event: (&str, &str, &str)) -> String {
    let (event_id, event_type, data) = event;
    format!(
        "changed as (
             update collections set status = 'completed', completed_at = now(), updated_at = now(),
                                    amount_paid_minor = amount_paid_minor + {paid}
             where merchant_id = $1 and id = {id} and status in ('pending', 'overdue')
             returning id, amount_minor - (amount_paid_minor - {paid}) as owed
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, data, created_at)
             select $1, {event_id}, id, {event_type}, {data}, now() from changed
         ), stop_follow_ups as (
             -- Its follow-up plan and deadline end with it (a running job sees the new status under the lock).
             delete from jobs where kind in ('followup', 'deadline') and key in (select $1 || '/' || id from changed)
               and status = 'queued' and (locked_until is null or locked_until < now())
         )"
    )
}

pub async fn expires_at(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("select expires_at from collections where merchant_id = $1 and id = $2")
        .bind(merchant_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Adds a payment to what the collection has been paid.
pub async fn add_paid(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    collection_id: &str,
    amount_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update collections set amount_paid_minor = amount_paid_minor + $3, updated_at = now()
         where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .bind(amount_minor)
    .execute(db)
    .await?;
    Ok(())
}

/// Records an event on a collection without moving it (a payment failed, was flagged, came late).
pub async fn add_event(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    event_id: &str,
    kind: &str,
    data: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into collection_events (merchant_id, id, collection_id, type, data, created_at)
         values ($1, $2, $3, $4, $5, now())",
    )
    .bind(merchant_id)
    .bind(event_id)
    .bind(id)
    .bind(kind)
    .bind(sqlx::types::Json(data))
    .execute(db)
    .await?;
    Ok(())
}

/// What the `deadline` job found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deadline {
    /// Pending past its due time: now `overdue`, with its event.
    Overdue,
    /// Open past its expiry: now `expired`, with its event.
    Expired,
    /// Open and not yet due (the job ran early): nothing changed.
    NotYet,
    /// Already final (or gone): nothing to do.
    Closed,
}

/// Moves one collection on by the clock, under its row lock: `pending` past `due_at` → `overdue`;
/// open past `expires_at` → `expired` (its follow-up plan ends with it). Each move writes its event.
pub async fn pass_deadline(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Deadline, sqlx::Error> {
    let row: Option<(String, Option<DateTime<Utc>>, DateTime<Utc>)> = sqlx::query_as(
        "select status, due_at, expires_at from collections
         where merchant_id = $1 and id = $2 and type = 'integrated' for update",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((status, due_at, expires_at)) = row else {
        return Ok(Deadline::Closed);
    };
    let (next, kind, found) = match status.as_str() {
        "pending" | "overdue" if now >= expires_at => {
            ("expired", event::EXPIRED, Deadline::Expired)
        }
        "pending" if due_at.is_some_and(|due| now >= due) => {
            ("overdue", event::OVERDUE, Deadline::Overdue)
        }
        "pending" | "overdue" => return Ok(Deadline::NotYet),
        _ => return Ok(Deadline::Closed),
    };
    sqlx::query(
        "with changed as (
             update collections set status = $3, updated_at = $4
             where merchant_id = $1 and id = $2
             returning id
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, created_at)
             select $1, $5, id, $6, $4 from changed
         ), stop_follow_ups as (
             delete from jobs where $3 = 'expired' and kind = 'followup' and key = $1 || '/' || $2
               and status = 'queued' and (locked_until is null or locked_until < now())
         )
         select 1",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(next)
    .bind(now)
    .bind(crate::domain::ids::new_id("evt"))
    .bind(kind)
    .execute(&mut *conn)
    .await?;
    Ok(found)
}

/// The next time the `deadline` job should look at an open collection: its due time while pending and
/// not yet due, else its expiry.
pub async fn next_deadline(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "select case when status = 'pending' and due_at is not null and due_at > $3
                     then least(due_at, expires_at) else expires_at end
         from collections where merchant_id = $1 and id = $2 and status in ('pending', 'overdue')",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Expires open collections whose `expires_at` has passed (at most `batch`), each with a
/// `collection.expired` event. Safe to run from several processes: rows are claimed with SKIP LOCKED and
/// the status is re-checked by the update. Returns the (merchant, collection) pairs that expired.
pub async fn expire_due(
    conn: &mut sqlx::PgConnection,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "with due as (
             select merchant_id, id from collections
             where status in ('pending', 'overdue') and expires_at <= $1
             order by expires_at
             limit $2
             for update skip locked
         ), expired as (
             update collections c set status = 'expired', updated_at = $1
             from due where c.merchant_id = due.merchant_id and c.id = due.id
             returning c.merchant_id, c.id
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, created_at)
             select merchant_id, 'evt_' || left(replace(gen_random_uuid()::text, '-', ''), 26), id, $3, $1
             from expired
         ), stop_follow_ups as (
             delete from jobs where kind in ('followup', 'deadline')
               and key in (select merchant_id || '/' || id from expired)
               and status = 'queued' and (locked_until is null or locked_until < now())
         )
         select merchant_id, id from expired",
    )
    .bind(now)
    .bind(batch)
    .bind(event::EXPIRED)
    .fetch_all(conn)
    .await
}

/// A collection's events, oldest first; `None` when the collection is not the merchant's.
pub async fn events(
    pool: &PgPool,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Vec<EventRow>>, sqlx::Error> {
    let exists: Option<(i32,)> =
        sqlx::query_as("select 1 from collections where merchant_id = $1 and id = $2")
            .bind(merchant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query_as(
        "select id, type, data, created_at from collection_events
         where merchant_id = $1 and collection_id = $2 order by seq",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(rows))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub data: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
}

/// Sets the payment options of a collection claimed before its provider calls (json text keeps the
/// key order, as in `insert`).
pub async fn set_payable(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    payable: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update collections set payable = $3::json,
             virtual_account = coalesce(
                 (select o->>'accountNumber' from json_array_elements($3::json->'options') o
                  where o->>'method' = 'virtual_account' limit 1), virtual_account)
         where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(payable.to_string())
    .execute(db)
    .await?;
    Ok(())
}

/// Takes back a collection whose provider calls offered the customer nothing (its events with it), so
/// its reference is free again. Only while it is still `pending`.
pub async fn withdraw(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let contact: Option<String> = sqlx::query_scalar(
        "with gone as (
             delete from collections where merchant_id = $1 and id = $2 and status = 'pending'
             returning id, contact_id
         ), events as (
             delete from collection_events where merchant_id = $1 and collection_id in (select id from gone)
         )
         select contact_id from gone",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(contact) = contact else {
        return Ok(false);
    };
    // A contact made for this collection alone goes with it.
    sqlx::query(
        "delete from contacts c where c.merchant_id = $1 and c.id = $2
           and not exists (select 1 from collections o where o.merchant_id = $1 and o.contact_id = $2)",
    )
    .bind(merchant_id)
    .bind(&contact)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::INSERT_SQL;

    /// bench/create.pgbench.sql must run exactly the server's create statement, or the benchmark's
    /// "HTTP ÷ raw SQL" ratio compares different work.
    #[test]
    fn pgbench_script_runs_the_server_sql() {
        let params: serde_json::Value =
            serde_json::from_str(include_str!("../../bench/create.pgbench.params.json")).unwrap();
        let mut expected = INSERT_SQL.to_owned();
        // Highest first, so $1 does not eat the front of $10..$19.
        for n in (1..=25).rev() {
            let value = params[n.to_string()]
                .as_str()
                .expect("a pgbench expression per parameter");
            expected = expected.replace(&format!("${n}"), value);
        }
        let script = include_str!("../../bench/create.pgbench.sql");
        let statement: String = script
            .lines()
            .filter(|l| !l.starts_with("--") && !l.starts_with('\\'))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(statement.trim_end().trim_end_matches(';'), expected);
    }
}

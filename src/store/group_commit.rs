//! Group commit for `POST /collections`: concurrent creates are written by one statement, so they share
//! one round trip and one commit (on a slow disk, the commit's WAL flush is what limits the create rate).
//!
//! Requests hand their row to [`GroupCommit::insert`] and wait for their own answer. A few writers take
//! turns at the queue: a writer takes everything waiting (up to [`MAX_BATCH`]) and runs it while the
//! next writer collects what arrives meanwhile, so batches grow with the load and an idle server adds no
//! wait at all. One row runs [`collections::INSERT_SQL`] as before; more run [`BATCH_SQL`], which does
//! the same for each row. The batch is one statement, so it is all or nothing: when it fails (a duplicate
//! reference, text PostgreSQL cannot store, a deadlock between two batches), nothing of it stays, and
//! each row runs again alone, so every request gets its own answer and its own error.

use std::sync::{Arc, OnceLock};

use sqlx::types::Json;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::collections::{self, ContactRow, NewCollectionRow};
use crate::domain::collection::event;

/// The most rows one statement writes.
pub const MAX_BATCH: usize = 64;

/// A request's row and where its answer goes.
type Waiting = (
    NewCollectionRow,
    oneshot::Sender<Result<ContactRow, sqlx::Error>>,
);

pub struct GroupCommit {
    pool: PgPool,
    writers: usize,
    /// Started on first use, on the runtime of the request that needs it.
    queue: OnceLock<mpsc::Sender<Waiting>>,
}

impl GroupCommit {
    /// `writers`: how many batches may be in flight at once (each holds one pooled connection); 0 turns
    /// group commit off (each create runs its own statement on its own connection).
    pub fn new(pool: PgPool, writers: usize) -> GroupCommit {
        GroupCommit {
            pool,
            writers,
            queue: OnceLock::new(),
        }
    }

    /// Writes the row (with whatever other creates are waiting) and answers with its contact, or with the
    /// error the row would have met alone.
    pub async fn insert(&self, row: NewCollectionRow) -> Result<ContactRow, sqlx::Error> {
        if self.writers == 0 {
            return collections::insert(&self.pool, &row).await;
        }
        let (answer, answered) = oneshot::channel();
        let queue = self.queue.get_or_init(|| self.start());
        queue
            .send((row, answer))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answered.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    fn start(&self) -> mpsc::Sender<Waiting> {
        let (queue, waiting) = mpsc::channel(MAX_BATCH * 16);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..self.writers {
            tokio::spawn(writer(self.pool.clone(), waiting.clone()));
        }
        queue
    }
}

/// Takes turns at the queue: waits for a first row, takes whatever else is already waiting, and lets the
/// next writer collect while this batch runs.
async fn writer(pool: PgPool, waiting: Arc<Mutex<mpsc::Receiver<Waiting>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut queue = waiting.lock().await;
            if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return; // every sender is gone: the server is shutting down
            }
        }
        let (rows, answers): (Vec<NewCollectionRow>, Vec<_>) = batch.into_iter().unzip();
        for (answer, result) in answers.into_iter().zip(write_batch(&pool, &rows).await) {
            // A request that gave up waiting finds its collection written, as it would have alone.
            let _ = answer.send(result);
        }
    }
}

/// Writes the rows in one statement when there are several, else (or when that statement fails) each
/// alone; answers each row's contact or error, in the rows' order.
pub async fn write_batch(
    pool: &PgPool,
    rows: &[NewCollectionRow],
) -> Vec<Result<ContactRow, sqlx::Error>> {
    crate::metrics::METRICS
        .create_batch_rows
        .observe(rows.len() as f64);
    if rows.len() > 1 {
        match insert_many(pool, rows).await {
            Ok(answered) => {
                let mut contacts: Vec<Option<ContactRow>> = vec![None; rows.len()];
                for (n, contact) in answered {
                    let at = usize::try_from(n - 1).ok();
                    if let Some(slot) = at.and_then(|i| contacts.get_mut(i)) {
                        *slot = Some(contact);
                    }
                }
                // No contact: it vanished between the look-up and the insert, as it would have alone.
                return contacts
                    .into_iter()
                    .map(|c| c.ok_or(sqlx::Error::RowNotFound))
                    .collect();
            }
            Err(e) => {
                tracing::debug!(error = %e, rows = rows.len(), "a batched create failed; each row runs alone")
            }
        }
    }
    let mut answers = Vec::with_capacity(rows.len());
    for row in rows {
        answers.push(collections::insert(pool, row).await);
    }
    answers
}

/// [`collections::INSERT_SQL`] for many rows at once, each row's values in the arrays' same position.
/// Rows that share a new phone share one contact (PostgreSQL will not insert or update one row twice
/// in a statement, so the contacts are made once per phone, in phone order so that two batches never
/// wait on each other in opposite orders).
pub const BATCH_SQL: &str = "with input as (
        select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::timestamptz[], $8::text[], $9::text[], $10::int8[], $11::text[], $12::text[],
                             $13::int4[], $14::timestamptz[], $15::text[], $16::text[], $17::text[], $18::text[],
                             $20::timestamptz[], $21::timestamptz[], $22::text[], $23::text[], $24::jsonb[],
                             $25::jsonb[])
            with ordinality as i(merchant_id, phone, email, new_contact_id, first_name, last_name, created_at,
                                 id, reference, amount_minor, currency, provider, expires_in, expires_at,
                                 payable, follow_up, metadata, event_id, first_follow_up, due_at, pay_token,
                                 virtual_account, snapshot, envelope, n)
    ), found as (
        -- Each row's contact by phone, else by email (the oldest): index look-ups per row, never a join to
        -- contacts, so that no cached generic plan planned on a young database can scan every contact.
        select i.n, f.id, f.first_name, f.last_name, f.phone, f.email
        from input i cross join lateral (
            (select c.id, c.first_name, c.last_name, c.phone, c.email from contacts c
             where c.merchant_id = i.merchant_id and c.phone = i.phone)
            union all
            (select c.id, c.first_name, c.last_name, c.phone, c.email from contacts c
             where c.merchant_id = i.merchant_id and lower(c.email) = lower(i.email)
             order by c.created_at, c.id limit 1)
            limit 1) f
    ), inserted as (
        insert into contacts (merchant_id, id, first_name, last_name, phone, email, created_at, updated_at)
        select distinct on (i.merchant_id, i.phone)
               i.merchant_id, i.new_contact_id, i.first_name, i.last_name, i.phone, i.email, i.created_at, i.created_at
        from input i
        where not exists (select 1 from found f where f.n = i.n)
        order by i.merchant_id, i.phone, i.n
        on conflict (merchant_id, phone) do update set updated_at = contacts.updated_at
        returning merchant_id, id, first_name, last_name, phone, email
    ), contact as (
        select i.n, ins.id, ins.first_name, ins.last_name, ins.phone, ins.email
        from input i join inserted ins on ins.merchant_id = i.merchant_id and ins.phone = i.phone
        where not exists (select 1 from found f where f.n = i.n)
        union all
        select n, id, first_name, last_name, phone, email from found
    ), created as (
        insert into collections (merchant_id, id, type, reference, amount_minor, currency, status, contact_id,
                                 provider, expires_in, expires_at, due_at, payable, follow_up, metadata,
                                 created_at, updated_at, pay_token, virtual_account)
        select i.merchant_id, i.id, 'integrated', i.reference, i.amount_minor, i.currency, 'pending', ct.id,
               i.provider, i.expires_in, i.expires_at, i.due_at, i.payable::json, i.follow_up::json,
               i.metadata::json, i.created_at, i.created_at, i.pay_token, i.virtual_account
        from input i join contact ct on ct.n = i.n
        order by i.n
        returning merchant_id, id
    ), event as (
        insert into collection_events (merchant_id, id, collection_id, type, created_at, snapshot)
        select i.merchant_id, i.event_id, i.id, $19, i.created_at,
               jsonb_set(i.snapshot, '{contact}', jsonb_build_object('id', ct.id, 'firstName', ct.first_name,
                   'lastName', ct.last_name, 'phone', ct.phone, 'email', ct.email))
        from created cr join input i on i.merchant_id = cr.merchant_id and i.id = cr.id
        join contact ct on ct.n = i.n
        returning merchant_id, id, type, stream_seq, snapshot
    ), deliveries as (
        insert into webhook_deliveries (id, merchant_id, endpoint_id, event_id, event_type, payload, next_attempt_at)
        select 'whd_' || replace(gen_random_uuid()::text, '-', ''), e.merchant_id, ep.id, e.id, e.type,
               i.envelope || jsonb_build_object('sequence', e.stream_seq, 'data', e.snapshot), now()
        from event e join input i on i.merchant_id = e.merchant_id and i.event_id = e.id
        join webhook_endpoints ep
          on ep.merchant_id = e.merchant_id and ep.enabled and (ep.events is null or e.type = any(ep.events))
        where e.snapshot is not null
        returning merchant_id, id
    ), timers as (
        insert into jobs (kind, key, merchant_id, payload, run_at)
        select 'deadline', cr.merchant_id || '/' || cr.id, cr.merchant_id,
               jsonb_build_object('merchantId', cr.merchant_id, 'collectionId', cr.id), i.due_at
        from created cr join input i on i.merchant_id = cr.merchant_id and i.id = cr.id
        union all
        select 'followup', cr.merchant_id || '/' || cr.id, cr.merchant_id,
               jsonb_build_object('merchantId', cr.merchant_id, 'collectionId', cr.id, 'seq', 1), i.first_follow_up
        from created cr join input i on i.merchant_id = cr.merchant_id and i.id = cr.id
        where i.first_follow_up is not null
        union all
        select 'deliver', d.id, d.merchant_id, '{}'::jsonb, now() from deliveries d
    )
    select n, id as contact_id, first_name, last_name, phone, email from contact";

/// Runs [`BATCH_SQL`]: each row's contact, by its position in `rows` (1-based).
pub async fn insert_many(
    pool: &PgPool,
    rows: &[NewCollectionRow],
) -> Result<Vec<(i64, ContactRow)>, sqlx::Error> {
    fn column<'a, T>(
        rows: &'a [NewCollectionRow],
        f: impl Fn(&'a NewCollectionRow) -> T,
    ) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    let answered: Vec<Answered> = sqlx::query_as(BATCH_SQL)
        .bind(column(rows, |r| r.merchant_id.as_str()))
        .bind(column(rows, |r| r.phone.as_str()))
        .bind(column(rows, |r| r.email.as_str()))
        .bind(column(rows, |r| r.new_contact_id.as_str()))
        .bind(column(rows, |r| r.first_name.as_str()))
        .bind(column(rows, |r| r.last_name.as_str()))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.id.as_str()))
        .bind(column(rows, |r| r.reference.as_str()))
        .bind(column(rows, |r| r.amount_minor))
        .bind(column(rows, |r| r.currency.as_str()))
        .bind(column(rows, |r| r.provider.as_str()))
        .bind(column(rows, |r| r.expires_in))
        .bind(column(rows, |r| r.expires_at))
        .bind(column(rows, |r| r.payable.as_str()))
        .bind(column(rows, |r| r.follow_up.as_deref()))
        .bind(column(rows, |r| r.metadata.as_deref()))
        .bind(column(rows, |r| r.event_id.as_str()))
        .bind(event::CREATED)
        .bind(column(rows, |r| r.first_follow_up))
        .bind(column(rows, |r| r.due_at))
        .bind(column(rows, |r| r.pay_token.as_str()))
        .bind(column(rows, |r| r.virtual_account.as_deref()))
        .bind(column(rows, |r| {
            r.published.as_ref().map(|p| Json(&p.snapshot))
        }))
        .bind(column(rows, |r| {
            r.published.as_ref().map(|p| Json(&p.envelope))
        }))
        .fetch_all(pool)
        .await?;
    Ok(answered.into_iter().map(|a| (a.n, a.contact)).collect())
}

#[derive(sqlx::FromRow)]
struct Answered {
    /// 1-based, from `with ordinality`.
    n: i64,
    #[sqlx(flatten)]
    contact: ContactRow,
}

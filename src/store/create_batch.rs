//! Creates written together (`store::group_commit`): [`Creates`] writes concurrent unkeyed creates of
//! `POST /collections` in one statement, [`BATCH_SQL`], which does for each row what
//! [`collections::INSERT_SQL`] does for one.

use sqlx::types::Json;
use sqlx::PgPool;

use super::collections::{self, ContactRow, NewCollectionRow};
use super::group_commit::Batch;
use crate::domain::collection::event;

/// Creates, for [`super::group_commit::GroupCommit`]: each answered with its contact.
pub struct Creates;

impl Batch for Creates {
    type Row = NewCollectionRow;
    type Answer = ContactRow;

    async fn one(pool: &PgPool, row: &NewCollectionRow) -> Result<ContactRow, sqlx::Error> {
        collections::insert(pool, row).await
    }

    async fn many(
        pool: &PgPool,
        rows: &[NewCollectionRow],
    ) -> Result<Vec<Result<ContactRow, sqlx::Error>>, sqlx::Error> {
        let answered = insert_many(pool, rows).await?;
        let mut contacts: Vec<Option<ContactRow>> = vec![None; rows.len()];
        for (n, contact) in answered {
            let at = usize::try_from(n - 1).ok();
            if let Some(slot) = at.and_then(|i| contacts.get_mut(i)) {
                *slot = Some(contact);
            }
        }
        // No contact: it vanished between the look-up and the insert, as it would have alone.
        Ok(contacts
            .into_iter()
            .map(|c| c.ok_or(sqlx::Error::RowNotFound))
            .collect())
    }

    fn observe(rows: usize) {
        crate::metrics::METRICS
            .create_batch_rows
            .observe(rows as f64);
    }
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

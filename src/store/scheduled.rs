//! Scheduled collections: the collections row, its mandate, its installments and its debits.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::domain::collection::event;
use crate::domain::scheduled::INSTALLMENTS_AHEAD;

/// A scheduled collection's own fields and its mandate's (no lists): what debits and consent work from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MandateRow {
    pub merchant_id: String,
    pub id: String,
    pub reference: String,
    pub currency: String,
    pub status: String,
    pub provider: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub debit_type: String,
    pub maximum_minor: i64,
    pub monthly_limit_minor: i64,
    pub start_at: DateTime<Utc>,
    pub time_zone: String,
    pub schedule_type: String,
    pub schedule: Json<Value>,
    pub agent_id: Option<String>,
    pub token: String,
    pub consent_url: String,
    pub provider_kind: String,
    pub provider_reference: Option<String>,
    pub authorization_code: Option<Vec<u8>>,
    pub customer_email: Option<String>,
    pub consent_stage: String,
    /// `direct_debit` or `card`.
    pub consent_rail: String,
    pub provider_customer: Option<String>,
    pub consented_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_collected_at: Option<DateTime<Utc>>,
    pub next_collection_at: Option<DateTime<Utc>>,
    pub contact_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A scheduled collection as GET shows it: the mandate with its installments, debits and events.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduledRow {
    #[sqlx(flatten)]
    pub mandate: MandateRow,
    pub installments: Vec<InstallmentRef>,
    pub debits: Vec<DebitRef>,
    pub events: Vec<super::collections::EventRef>,
}

/// (due, amount, status, attempts, last error), as GET lists an installment.
pub type InstallmentRef = (DateTime<Utc>, i64, String, i32, Option<String>);

/// (id, reference, amount, status, failure class, failure reason, installment due, created), as GET
/// lists a debit.
pub type DebitRef = (
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

/// The columns of [`MandateRow`]; `c` the collection, `m` its mandate, `ct` its contact (if any).
const MANDATE: &str = r#"
    select c.merchant_id, c.id, c.reference, c.currency, c.status, c.provider, c.expires_at,
           c.created_at, c.updated_at,
           m.debit_type, m.maximum_minor, m.monthly_limit_minor, m.start_at, m.time_zone,
           m.schedule_type, m.schedule, m.agent_id, m.token, m.consent_url, m.provider_kind,
           m.provider_reference, m.authorization_code, m.customer_email, m.consent_stage, m.consent_rail,
           m.provider_customer, m.consented_at,
           m.revoked_at, m.last_collected_at, m.next_collection_at,
           ct.id as contact_id, ct.first_name, ct.last_name, ct.phone, ct.email"#;

const FROM: &str = "
    from collections c
    join mandates m on m.merchant_id = c.merchant_id and m.collection_id = c.id
    left join contacts ct on ct.merchant_id = c.merchant_id and ct.id = c.contact_id";

/// The mandate alone (no lists): cheap enough for every debit.
pub async fn mandate(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<MandateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MANDATE} {FROM} where c.merchant_id = $1 and c.id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The lists GET shows, each its latest 20 (oldest first): a ten-year daily schedule stays a small
/// answer. The full history of events is at `GET /collections/{id}/events`. Read as records, not built
/// as JSON in SQL: the view writes them out (building that JSON was half of this statement's time in
/// pgbench, and the server then parsed it back only to write it out again).
const LISTS: &str = ",
           array(select row(i.due_at, i.amount_minor, i.status, i.tries, i.last_error)
                 from (select * from installments i
                       where i.merchant_id = c.merchant_id and i.collection_id = c.id
                       order by i.due_at desc limit 20) i
                 order by i.due_at) as installments,
           array(select row(d.id, d.reference, d.amount_minor, d.status, d.failure_class, d.failure_reason,
                            d.installment_due_at, d.created_at)
                 from (select * from debits d
                       where d.merchant_id = c.merchant_id and d.collection_id = c.id
                       order by d.created_at desc, d.id desc limit 20) d
                 order by d.created_at, d.id) as debits,
           array(select row(e.id, e.type, e.created_at)
                 from (select * from collection_events e
                       where e.merchant_id = c.merchant_id and e.collection_id = c.id
                       order by e.seq desc limit 20) e
                 order by e.seq) as events";

pub async fn get(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<ScheduledRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MANDATE}{LISTS} {FROM} where c.merchant_id = $1 and c.id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// By consent token (the customer's page): any merchant's.
pub async fn by_token(pool: &PgPool, token: &str) -> Result<Option<MandateRow>, sqlx::Error> {
    sqlx::query_as(&format!("{MANDATE} {FROM} where m.token = $1"))
        .bind(token)
        .fetch_optional(pool)
        .await
}

/// Newest first, like `collections::list`, with the same filters.
pub async fn list(
    pool: &PgPool,
    merchant_id: &str,
    filter: &super::collections::ListFilter,
) -> Result<Vec<ScheduledRow>, sqlx::Error> {
    let (after_at, after_id) = filter.page.after.clone().unzip();
    sqlx::query_as(&format!(
        "{MANDATE}{LISTS} {FROM}
         where c.merchant_id = $1 and c.type = 'scheduled'
           and ($2::text is null or c.status = $2)
           and ($3::text is null or c.reference = $3)
           and ($4::text is null or c.contact_id = $4)
           and ($5::timestamptz is null or c.created_at >= $5)
           and ($6::timestamptz is null or c.created_at <= $6)
           and ($7::timestamptz is null or (c.created_at, c.id) < ($7, $8))
         order by c.created_at desc, c.id desc
         limit $9"
    ))
    .bind(merchant_id)
    .bind(&filter.status)
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

/// Whether `id` is a scheduled collection of this merchant.
pub async fn is_scheduled(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from collections
                        where merchant_id = $1 and id = $2 and type = 'scheduled')",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_one(db)
    .await
}

/// Everything one scheduled create writes.
pub struct NewMandate<'a> {
    pub merchant_id: &'a str,
    pub id: &'a str,
    pub reference: &'a str,
    pub currency: &'a str,
    pub provider: &'a str,
    pub provider_kind: &'a str,
    pub maximum_minor: i64,
    pub monthly_limit_minor: i64,
    pub start_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub time_zone: &'a str,
    pub debit_type: &'a str,
    pub schedule_type: &'a str,
    pub schedule: &'a Value,
    pub agent_id: Option<&'a str>,
    pub token: &'a str,
    pub consent_url: &'a str,
    pub provider_reference: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub event_id: &'a str,
    /// (new contact id, first name, last name, E.164 phone, email), found by phone or created.
    pub contact: Option<(&'a str, &'a str, &'a str, &'a str, &'a str)>,
}

/// The collection, its contact (found by phone or created), its mandate and its `collection.created`
/// event, in one transaction (the caller's).
pub async fn insert(conn: &mut PgConnection, new: &NewMandate<'_>) -> Result<(), sqlx::Error> {
    let contact_id: Option<String> = match new.contact {
        None => None,
        Some((contact_id, first, last, phone, email)) => Some(
            sqlx::query_scalar(
                "insert into contacts (merchant_id, id, first_name, last_name, phone, email)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (merchant_id, phone) do update set updated_at = contacts.updated_at
                 returning id",
            )
            .bind(new.merchant_id)
            .bind(contact_id)
            .bind(first)
            .bind(last)
            .bind(phone)
            .bind(email)
            .fetch_one(&mut *conn)
            .await?,
        ),
    };
    sqlx::query(
        "with created as (
             insert into collections (merchant_id, id, type, reference, amount_minor, currency, status,
                                      contact_id, provider, expires_at, payable, created_at, updated_at)
             values ($1, $2, 'scheduled', $3, $4, $5, 'NOT_STARTED', $6, $7, $8, '{}'::json, $9, $9)
             returning id
         ), mandate as (
             insert into mandates (merchant_id, collection_id, debit_type, maximum_minor,
                                   monthly_limit_minor, start_at, time_zone, schedule_type, schedule,
                                   agent_id, token, provider_kind, provider_reference, customer_email,
                                   consent_url)
             select $1, id, $10, $4, $11, $12, $13, $14, $15::json, $16, $17, $18, $19, $20, $23
             from created
         )
         insert into collection_events (merchant_id, id, collection_id, type, created_at)
         select $1, $21, id, $22, $9 from created",
    )
    .bind(new.merchant_id)
    .bind(new.id)
    .bind(new.reference)
    .bind(new.maximum_minor)
    .bind(new.currency)
    .bind(contact_id)
    .bind(new.provider)
    .bind(new.expires_at)
    .bind(new.created_at)
    .bind(new.debit_type)
    .bind(new.monthly_limit_minor)
    .bind(new.start_at)
    .bind(new.time_zone)
    .bind(new.schedule_type)
    .bind(new.schedule.to_string())
    .bind(new.agent_id)
    .bind(new.token)
    .bind(new.provider_kind)
    .bind(new.provider_reference)
    .bind(new.customer_email)
    .bind(new.event_id)
    .bind(event::CREATED)
    .bind(new.consent_url)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks the mandate (every debit decision on one collection is made under this lock) and reads it.
pub async fn lock_mandate(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<Option<MandateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MANDATE} {FROM} where c.merchant_id = $1 and c.id = $2 for update of m"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn reference_taken(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    reference: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from debits
                        where merchant_id = $1 and collection_id = $2 and reference = $3)",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(reference)
    .fetch_one(conn)
    .await
}

/// The mandate locked for a debit decision, with the installment asked about (if any).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DebitLock {
    #[sqlx(flatten)]
    pub mandate: MandateRow,
    pub installment_status: Option<String>,
    pub installment_tries: Option<i32>,
    pub installment_amount: Option<i64>,
}

/// Locks the mandate and reads the installment due at `installment` in the same statement. Only what
/// the lock itself guards may be decided on from here: this statement's snapshot is taken before it
/// waits for the lock, so the collection's status and the month's debits (which a cancel or another
/// debit under the lock may have just changed) are read by [`debit_state`], after.
pub async fn lock_for_debit(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    installment: Option<DateTime<Utc>>,
) -> Result<Option<DebitLock>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MANDATE},
           i.status as installment_status, i.tries as installment_tries,
           i.amount_minor as installment_amount
         {FROM}
         left join installments i
           on i.merchant_id = c.merchant_id and i.collection_id = c.id and i.due_at = $3
         where c.merchant_id = $1 and c.id = $2
         for update of m"
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(installment)
    .fetch_optional(conn)
    .await
}

/// What a debit decision reads once the mandate's lock is granted (a statement of its own, so its
/// snapshot is from after the wait): the collection's status, what the debits not known to have failed
/// add up to in one calendar month ([`month_spent`]), and when the latest of them was made.
pub async fn debit_state(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    month: NaiveDate,
) -> Result<(String, i64, Option<DateTime<Utc>>), sqlx::Error> {
    let (status, total, last): (String, i64, Option<DateTime<Utc>>) = sqlx::query_as(&format!(
        "select (select status from collections where merchant_id = $1 and id = $2),
                ({}),
                (select max(created_at) from debits
                 where merchant_id = $1 and collection_id = $2 and status <> 'failed')",
        month_spent("$1", "$2", "$3")
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(month)
    .fetch_one(conn)
    .await?;
    Ok((status, total, last))
}

/// What the debits not known to have failed add up to in one calendar month, for the statement's own
/// parameters: the mandate's running total when it is that month's (or nothing yet, for a month after
/// it). Only a month before the running total's (a clock set back) sums that month's debits
/// ([`month_total`]). Read under the mandate's lock: the claims that change the total hold it too.
fn month_spent(merchant: &str, collection: &str, month: &str) -> String {
    format!(
        "select case when m.spent_month = {month} then m.spent_minor
                     when m.spent_month is null or m.spent_month < {month} then 0
                     else ({}) end
         from mandates m where m.merchant_id = {merchant} and m.collection_id = {collection}",
        month_total(merchant, collection, month)
    )
}

/// The sum [`month_spent`] keeps, counted from the debits. A debit's month is the one it was made in
/// (local to the mandate), so the month's debits were made from a day before its first day in UTC on
/// (no zone is a day ahead): a range of `debits_by_collection`, filtered by the month itself.
fn month_total(merchant: &str, collection: &str, month: &str) -> String {
    format!(
        "select coalesce(sum(amount_minor), 0)::bigint from debits
         where merchant_id = {merchant} and collection_id = {collection}
           and created_at >= ({month}::date - 1)::timestamp at time zone 'UTC'
           and month = {month} and status <> 'failed'"
    )
}

pub struct NewDebit<'a> {
    pub merchant_id: &'a str,
    pub id: &'a str,
    pub collection_id: &'a str,
    pub installment_due_at: Option<DateTime<Utc>>,
    pub reference: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub month: NaiveDate,
    pub attempt_id: &'a str,
    pub provider: &'a str,
    pub provider_kind: &'a str,
    pub provider_reference: &'a str,
    pub at: DateTime<Utc>,
    /// When the attempt's first status poll (`jobs::reconcile`) is due.
    pub first_poll_at: DateTime<Utc>,
}

/// The writes of a claimed debit, each made only if the statement's `go` has a row (which carries the
/// debit's `reference`, `amount`, `currency`, `provider` and `provider_kind`): the debit, its provider
/// attempt (`created`, with the reference the provider will know it by), that attempt's first status
/// poll (the `reconcile` job, keyed and shaped as `jobs::reconcile::schedule` writes it), its
/// installment taken (`processing`, one more try) and its amount added to the mandate's running total
/// for its month ([`month_spent`]; a new month starts it again, an earlier one leaves it alone).
/// Parameters: `$1` merchant, `$2` debit id, `$3` collection, `$4` installment, `$5` month, `$6` attempt
/// id, `$7` time, `$8` provider reference, `$9` the poll's job kind, `$10` its time.
const DEBIT_WRITES: &str = "
    debit as (
        insert into debits (merchant_id, id, collection_id, installment_due_at, reference,
                            amount_minor, currency, month, status, attempt_id, created_at, updated_at)
        select $1, $2, $3, $4, reference, amount, currency, $5, 'pending', $6, $7, $7 from go
    ), attempt as (
        insert into provider_attempts (merchant_id, id, provider, kind, operation, provider_reference,
                                       status, amount_minor, currency, scheduled_id, debit_id)
        select $1, $6, provider, provider_kind, 'charge_authorization', $8, 'created', amount, currency,
               $3, $2
        from go
    ), poll as (
        insert into jobs (kind, key, merchant_id, payload, run_at)
        select $9, $1 || '/' || $6, $1, jsonb_build_object('merchantId', $1, 'attemptId', $6), $10 from go
    ), taken as (
        update installments set status = 'processing', tries = tries + 1
        where merchant_id = $1 and collection_id = $3 and due_at = $4 and status = 'scheduled'
          and exists (select from go)
    ), counted as (
        update mandates m
        set spent_minor = case when m.spent_month = $5 then m.spent_minor + go.amount else go.amount end,
            spent_month = $5
        from go
        where m.merchant_id = $1 and m.collection_id = $3 and (m.spent_month is null or m.spent_month <= $5)
    )";

/// The limits a debit is claimed within, checked by the statement that writes it.
pub struct Within {
    pub maximum: i64,
    pub monthly_limit: i64,
}

/// What the claiming statement found: the collection's status and the month's total before this debit,
/// and whether it wrote the debit (`ACTIVE` and within both limits).
#[derive(Debug, sqlx::FromRow)]
pub struct DebitCheck {
    pub status: String,
    pub spent: i64,
    pub written: bool,
}

/// The debit's own values as `go` carries them to [`DEBIT_WRITES`], from `insert_debit`'s parameters.
const ASKED: &str = "$11::text as reference, $12::bigint as amount, $13::text as currency,
                     $14::text as provider, $15::text as provider_kind";

/// Writes the debit ([`DEBIT_WRITES`]) in one statement, after the mandate's lock is granted. With
/// `within`, the same statement first reads what [`debit_state`] reads and writes only if the collection
/// is `ACTIVE` and the debit fits both limits; without, the caller has checked (a merchant's debit,
/// whose interval is checked in between). A reference the collection already used is a unique
/// violation on `debits_merchant_id_collection_id_reference_key`.
pub async fn insert_debit(
    conn: &mut PgConnection,
    new: &NewDebit<'_>,
    within: Option<&Within>,
) -> Result<Option<DebitCheck>, sqlx::Error> {
    let sql = match within {
        // The row answered is not read: the caller checked.
        None => format!(
            "with go as (select {ASKED}), {DEBIT_WRITES}
             select 'ACTIVE' as status, 0::bigint as spent, true as written"
        ),
        Some(_) => format!(
            "with state as (
                 select (select status from collections where merchant_id = $1 and id = $3) as status,
                        ({}) as spent
             ), go as (
                 select {ASKED} from state where status = 'ACTIVE' and $12 <= $16 and spent + $12 <= $17
             ), {DEBIT_WRITES}
             select status, spent, exists (select from go) as written from state",
            month_spent("$1", "$3", "$5")
        ),
    };
    let query = sqlx::query_as(&sql)
        .bind(new.merchant_id)
        .bind(new.id)
        .bind(new.collection_id)
        .bind(new.installment_due_at)
        .bind(new.month)
        .bind(new.attempt_id)
        .bind(new.at)
        .bind(new.provider_reference)
        .bind(crate::jobs::reconcile::KIND)
        .bind(new.first_poll_at)
        .bind(new.reference)
        .bind(new.amount_minor)
        .bind(new.currency)
        .bind(new.provider)
        .bind(new.provider_kind);
    let query = match within {
        Some(within) => query.bind(within.maximum).bind(within.monthly_limit),
        None => query,
    };
    let checked: DebitCheck = query.fetch_one(conn).await?;
    Ok(within.map(|_| checked))
}

/// An installment's claim made by [`claim_installment`]: the debit's ids and reference (made up before
/// the statement, used only if it writes), the month it counts in, and the time.
pub struct InstallmentClaim<'a> {
    pub merchant_id: &'a str,
    pub collection_id: &'a str,
    pub due_at: DateTime<Utc>,
    pub month: NaiveDate,
    pub debit_id: &'a str,
    pub attempt_id: &'a str,
    pub provider_reference: &'a str,
    pub at: DateTime<Utc>,
    pub first_poll_at: DateTime<Utc>,
}

/// What charging a claimed installment needs, as the claiming statement read it: the provider account
/// included (`account_*`, none when the merchant removed it), so the charge needs no read of its own.
#[derive(Debug, sqlx::FromRow)]
pub struct ClaimedInstallment {
    pub amount_minor: i64,
    pub currency: String,
    pub provider: String,
    pub email: Option<String>,
    pub authorization_code: Option<Vec<u8>>,
    account_id: Option<String>,
    account_kind: Option<String>,
    account_mode: Option<String>,
    account_base_url: Option<String>,
    account_credentials: Option<Vec<u8>>,
}

impl ClaimedInstallment {
    /// The provider account the collection charges through, as the claim read it.
    pub fn account(&self) -> Option<crate::store::providers::AccountRow> {
        Some(crate::store::providers::AccountRow {
            id: self.account_id.clone()?,
            kind: self.account_kind.clone()?,
            mode: self.account_mode.clone()?,
            base_url: self.account_base_url.clone(),
            credentials: self.account_credentials.clone(),
        })
    }
}

/// Claims a scheduled installment in one statement, outside any transaction: the mandate locked, the
/// collection `ACTIVE`, the installment still `scheduled` and within the per-debit maximum and the month's
/// limit, then [`DEBIT_WRITES`]. One statement can decide this only because every value it decides on
/// is read under a lock, and a row lock hands over the row's latest version, not the one this statement's
/// snapshot (taken before any wait) holds: the mandate `for update` (its running total), the collection
/// `for share` (a cancel, revocation or expiry committed while this waited), the installment `for
/// update`. They are taken in that order, the order every other writer of a mandate's rows keeps (the
/// mandate first). `None` when it wrote nothing: the caller decides the way that says why (the
/// installment taken already, the collection no longer `ACTIVE`, a limit, a clock set back before the
/// running total's month).
pub async fn claim_installment(
    db: impl PgExecutor<'_>,
    claim: &InstallmentClaim<'_>,
) -> Result<Option<ClaimedInstallment>, sqlx::Error> {
    sqlx::query_as(&format!(
        "with mandate as (
             select maximum_minor, monthly_limit_minor, spent_month, spent_minor, provider_kind,
                    authorization_code, customer_email
             from mandates where merchant_id = $1 and collection_id = $3
             for update
         ), collection as (
             select c.status, trim(c.currency) as currency, c.provider, c.contact_id
             from collections c
             where c.merchant_id = $1 and c.id = $3 and exists (select from mandate)
             for share of c
         ), installment as (
             select i.amount_minor, i.tries
             from installments i
             where i.merchant_id = $1 and i.collection_id = $3 and i.due_at = $4 and i.status = 'scheduled'
               and exists (select from collection where status = 'ACTIVE')
             for update of i
         ), go as (
             select $11::text || (i.tries + 1) as reference, i.amount_minor as amount, c.currency,
                    c.provider, m.provider_kind
             from mandate m, collection c, installment i
             where (m.spent_month is null or m.spent_month <= $5) and i.amount_minor <= m.maximum_minor
               and case when m.spent_month = $5 then m.spent_minor else 0 end + i.amount_minor
                   <= m.monthly_limit_minor
         ), {DEBIT_WRITES}
         select go.amount as amount_minor, go.currency, go.provider, m.authorization_code,
                coalesce(m.customer_email,
                         (select ct.email from contacts ct, collection c
                          where ct.merchant_id = $1 and ct.id = c.contact_id)) as email,
                a.id as account_id, a.kind as account_kind, a.mode as account_mode,
                a.base_url as account_base_url, a.credentials as account_credentials
         from go cross join mandate m
         left join merchant_providers a on a.merchant_id = $1 and a.slug = go.provider"
    ))
    .bind(claim.merchant_id)
    .bind(claim.debit_id)
    .bind(claim.collection_id)
    .bind(claim.due_at)
    .bind(claim.month)
    .bind(claim.attempt_id)
    .bind(claim.at)
    .bind(claim.provider_reference)
    .bind(crate::jobs::reconcile::KIND)
    .bind(claim.first_poll_at)
    .bind(installment_reference_prefix(claim.due_at))
    .fetch_optional(db)
    .await
}

/// An installment's debits are referenced by its due time and the try (`installment-<µs>-<n>`).
pub fn installment_reference_prefix(due_at: DateTime<Utc>) -> String {
    format!("installment-{}-", due_at.timestamp_micros())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DebitRow {
    pub id: String,
    pub collection_id: String,
    pub installment_due_at: Option<DateTime<Utc>>,
    pub reference: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub failure_class: Option<String>,
    pub failure_reason: Option<String>,
    pub attempt_id: String,
    pub created_at: DateTime<Utc>,
}

const DEBIT: &str = "select id, collection_id, installment_due_at, reference, amount_minor, currency,
                            status, failure_class, failure_reason, attempt_id, created_at from debits";

pub async fn debit(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<DebitRow>, sqlx::Error> {
    sqlx::query_as(&format!("{DEBIT} where merchant_id = $1 and id = $2"))
        .bind(merchant_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The debit made for an installment that has not failed (at most one: a unique index).
pub async fn live_debit_for(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    collection_id: &str,
    due_at: DateTime<Utc>,
) -> Result<Option<DebitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{DEBIT} where merchant_id = $1 and collection_id = $2 and installment_due_at = $3
                   and status <> 'failed'"
    ))
    .bind(merchant_id)
    .bind(collection_id)
    .bind(due_at)
    .fetch_optional(db)
    .await
}

/// Moves a debit on from an open state (pending/unknown); returns whether it moved. A debit that fails
/// no longer counts against its month's limit: its amount comes off the mandate's running total in the
/// same statement (when the total is still that month's).
pub async fn set_debit_status(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    status: &str,
    failure: Option<(&str, &str)>,
) -> Result<bool, sqlx::Error> {
    let (moved,): (bool,) = sqlx::query_as(
        "with moved as (
             update debits set status = $3, failure_class = $4, failure_reason = $5, updated_at = now()
             where merchant_id = $1 and id = $2 and status in ('pending', 'unknown')
             returning collection_id, month, amount_minor
         ), unspent as (
             update mandates m set spent_minor = m.spent_minor - moved.amount_minor
             from moved
             where $3 = 'failed' and m.merchant_id = $1 and m.collection_id = moved.collection_id
               and m.spent_month = moved.month
         )
         select exists (select from moved)",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(status)
    .bind(failure.map(|f| f.0))
    .bind(failure.map(|f| f.1))
    .fetch_one(db)
    .await?;
    Ok(moved)
}

/// A debit recorded as succeeded, under its mandate's lock.
#[derive(Debug, sqlx::FromRow)]
pub struct DebitSucceeded {
    /// The mandate, as locked (see [`lock_for_debit`] on what a waiting lock may and may not read).
    #[sqlx(flatten)]
    pub mandate: MandateRow,
    /// Whether the debit moved (`false`: it had already been recorded).
    pub moved: bool,
    pub installment_due_at: Option<DateTime<Utc>>,
    /// The installments as the debit's success leaves them (what [`progress`] would answer next).
    #[sqlx(flatten)]
    pub planned: Planned,
}

/// Locks the mandate (as [`lock_mandate`] does, and first: every write here waits for the lock) and
/// moves the debit to `succeeded` with its `debit.succeeded` event (its data built from the debit row)
/// and its installment `paid`, and records the mandate's progress ([`progress`]: that it collected,
/// and its next collection when the schedule is Cowry's to run, `MONA` and `ACTIVE`), in one statement.
/// The open installments are read as the statement found them, less the one this debit paid. `None`
/// when there is no such collection.
pub async fn record_debit_success(
    conn: &mut PgConnection,
    merchant_id: &str,
    collection_id: &str,
    debit_id: &str,
    event_id: &str,
) -> Result<Option<DebitSucceeded>, sqlx::Error> {
    sqlx::query_as(&format!(
        "with {} {DEBIT_SUCCEEDED_ROW}",
        debit_success(["$2", "$3", "$4", "$5"], "true")
    ))
    .bind(merchant_id)
    .bind(collection_id)
    .bind(debit_id)
    .bind(event_id)
    .bind(event::DEBIT_SUCCEEDED)
    .fetch_optional(conn)
    .await
}

/// The CTEs of [`record_debit_success`] (`locked` … `progress`), over the statement's parameters: `$1`
/// the merchant, then `[collection, debit, event id, event type]`; the mandate is locked only `if` that
/// SQL condition holds (a statement that first moves the debit's attempt makes it depend on that).
fn debit_success(params: [&str; 4], if_: &str) -> String {
    let [collection, debit, event_id, event_type] = params;
    format!(
        "locked as (
             {MANDATE} {FROM} where c.merchant_id = $1 and c.id = {collection} and {if_} for update of m
         ), debit_moved as (
             update debits set status = 'succeeded', updated_at = now()
             where merchant_id = $1 and id = {debit} and collection_id = {collection}
               and status in ('pending', 'unknown') and exists (select from locked)
             returning id, reference, amount_minor, attempt_id, installment_due_at
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, data, created_at)
             select $1, {event_id}, {collection}, {event_type},
                    jsonb_build_object('debit', id, 'reference', reference, 'amount', amount_minor::text,
                                       'attempt', attempt_id),
                    now()
             from debit_moved
         ), installment as (
             update installments i set status = 'paid'
             from debit_moved
             where i.merchant_id = $1 and i.collection_id = {collection}
               and i.due_at = debit_moved.installment_due_at and i.status in ('processing', 'scheduled')
         ), {}
         ), progress as (
             update mandates m
             set next_collection_at = case when l.debit_type = 'MONA' and l.status = 'ACTIVE'
                                           then (select next from planned) end,
                 last_collected_at = now()
             from locked l
             where m.merchant_id = $1 and m.collection_id = {collection}
               and exists (select from debit_moved)
         )",
        planned(
            collection,
            "and due_at is distinct from (select installment_due_at from debit_moved)"
        )
    )
}

/// What a statement ending in [`debit_success`]'s CTEs answers ([`DebitSucceeded`]).
const DEBIT_SUCCEEDED_ROW: &str = "select locked.*, exists (select from debit_moved) as moved,
                (select installment_due_at from debit_moved) as installment_due_at,
                planned.last, planned.open, planned.next
         from locked, planned";

/// A debit's charge answered that it succeeded: the answer recorded on its attempt, which moves to
/// `succeeded` (its status poll ended), the `debit` job that made the call ended, and the debit's success
/// recorded as [`record_debit_success`] does — one statement. The attempt moves only if it is still in
/// one of `change.from` (`created`); `None` when something else moved it first (a webhook, a poll) and
/// nothing but the job's end was written: the caller records and settles the answer the general way.
#[allow(clippy::too_many_arguments)]
pub async fn record_debit_answer(
    conn: &mut PgConnection,
    merchant_id: &str,
    attempt_id: &str,
    call: &Value,
    ending: Option<&crate::store::jobs::Job>,
    change: &crate::store::attempts::Change<'_>,
    debit: (&str, &str),
    event_id: &str,
) -> Result<Option<DebitSucceeded>, sqlx::Error> {
    let (collection_id, debit_id) = debit;
    let attempt = crate::store::attempts::record_call_and_settle_ctes();
    let sql = format!(
        "with {attempt}, {} {DEBIT_SUCCEEDED_ROW}",
        debit_success(["$12", "$13", "$14", "$15"], "exists (select from moved)")
    );
    let query = crate::store::attempts::bind_call_and_settle(
        sqlx::query_as(&sql),
        merchant_id,
        attempt_id,
        call,
        ending,
        change,
    );
    query
        .bind(collection_id)
        .bind(debit_id)
        .bind(event_id)
        .bind(event::DEBIT_SUCCEEDED)
        .fetch_optional(conn)
        .await
}

/// A status change of the whole collection with its event, from one of `from`; returns whether it
/// moved. `completed_at` is set for `COMPLETED`.
pub async fn transition(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    from: &[&str],
    to: &str,
    event: (&str, &str, &Value),
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "with changed as (
             update collections set status = $4, updated_at = now(),
                    completed_at = case when $4 = 'COMPLETED' then now() else completed_at end
             where merchant_id = $1 and id = $2 and type = 'scheduled' and status = any($3)
             returning id
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, data, created_at)
             select $1, $5, id, $6, $7, now() from changed
         )
         select exists (select 1 from changed)",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(event.0)
    .bind(event.1)
    .bind(Json(event.2))
    .fetch_one(db)
    .await
}

/// A step of the mandate's consent: its stage and what the provider said (`None` keeps what is stored).
#[derive(Debug, Default)]
pub struct ConsentStep<'a> {
    /// `none` (start again), `requested`, `authorized`, `active`.
    pub stage: &'a str,
    pub provider_reference: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    /// Sealed.
    pub authorization_code: Option<&'a [u8]>,
    pub rail: Option<&'a str>,
    pub provider_customer: Option<&'a str>,
}

pub async fn set_consent(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    step: &ConsentStep<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update mandates set consent_stage = $3,
                provider_reference = coalesce($4, provider_reference),
                customer_email = coalesce($5, customer_email),
                authorization_code = coalesce($6, authorization_code),
                consent_rail = coalesce($7, consent_rail),
                provider_customer = coalesce($8, provider_customer),
                consented_at = case when $3 = 'active' then coalesce(consented_at, now()) else consented_at end
         where merchant_id = $1 and collection_id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(step.stage)
    .bind(step.provider_reference)
    .bind(step.customer_email)
    .bind(step.authorization_code)
    .bind(step.rail)
    .bind(step.provider_customer)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_revoked(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update mandates set revoked_at = coalesce(revoked_at, now())
         where merchant_id = $1 and collection_id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Stops every installment not yet taken (the collection ended) and removes their debit jobs.
pub async fn stop_installments(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with stopped as (
             update installments set status = 'cancelled'
             where merchant_id = $1 and collection_id = $2 and status = 'scheduled'
             returning due_at
         )
         delete from jobs
         where kind = 'debit' and status = 'queued'
           and key in (select $1 || '/' || $2 || '/' || (extract(epoch from due_at) * 1000000)::bigint
                       from stopped)",
    )
    .bind(merchant_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update mandates set next_collection_at = null where merchant_id = $1 and collection_id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    // An unconsented mandate's authorization request ends with it.
    close_authorization_requests(conn, merchant_id, id, "failed").await
}

/// The job key of an installment's debit.
pub fn debit_job_key(merchant_id: &str, id: &str, due_at: DateTime<Utc>) -> String {
    format!("{merchant_id}/{id}/{}", due_at.timestamp_micros())
}

/// Writes installments not yet written (by due date) and returns those that were new.
pub async fn add_installments(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    installments: &[(DateTime<Utc>, i64)],
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    let (dates, amounts): (Vec<DateTime<Utc>>, Vec<i64>) = installments.iter().copied().unzip();
    sqlx::query_scalar(
        "insert into installments (merchant_id, collection_id, due_at, amount_minor)
         select $1, $2, due_at, amount from unnest($3::timestamptz[], $4::bigint[]) as t(due_at, amount)
         on conflict do nothing
         returning due_at",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(dates)
    .bind(amounts)
    .fetch_all(conn)
    .await
}

/// The `planned` CTE of the mandate `$1`/`$2`: its latest installment and its open ones, left open at
/// its `where` so that a statement can leave out an installment it is paying.
/// The `planned` CTE over the statement's `$1` (merchant) and `collection`: the latest installment
/// written, and the open ones (`scheduled` or `processing`) in due order, read through the
/// `installments_open` index and counted only up to one more than planning keeps ahead. A dated schedule
/// may have hundreds open; planning only asks whether fewer than `INSTALLMENTS_AHEAD` are, and which is
/// next. `except` is a further condition on the open ones (SQL, may be empty).
fn planned(collection: &str, except: &str) -> String {
    format!(
        "planned as (
             select (select max(due_at) from installments
                     where merchant_id = $1 and collection_id = {collection}) as last,
                    count(*) as open, min(due_at) as next
             from (select due_at from installments
                   where merchant_id = $1 and collection_id = {collection}
                     and status in ('scheduled', 'processing')
                     {except}
                   order by due_at
                   limit {}) ahead",
        INSTALLMENTS_AHEAD + 1
    )
}

/// What planning after a debit needs: the latest installment written and the ones still ahead.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Planned {
    pub last: Option<DateTime<Utc>>,
    /// Installments still ahead (`scheduled` or `processing`), counted up to `INSTALLMENTS_AHEAD + 1`.
    pub open: i64,
    /// The earliest of those.
    pub next: Option<DateTime<Utc>>,
}

/// Sets the mandate's next collection time from its open installments (and, with `collected`, that a
/// debit was just paid), and returns what planning needs, in one statement. Reads only the open
/// installments (a partial index) and the latest one: not every installment ever paid, which a long
/// daily schedule accumulates by the thousand.
pub async fn progress(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
    collected: bool,
) -> Result<Planned, sqlx::Error> {
    sqlx::query_as(&format!(
        "with {}
         ), progress as (
             update mandates
             set next_collection_at = (select next from planned),
                 last_collected_at = case when $3 then now() else last_collected_at end
             where merchant_id = $1 and collection_id = $2
         )
         select last, open, next from planned",
        planned("$2", "")
    ))
    .bind(merchant_id)
    .bind(id)
    .bind(collected)
    .fetch_one(conn)
    .await
}

/// Whether every installment written was paid (none failed or cancelled): asked once nothing is ahead.
pub async fn paid_all(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select coalesce(bool_and(status = 'paid'), false)
         from installments where merchant_id = $1 and collection_id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Moves an installment on (`processing`, `paid`, `failed`, back to `scheduled` for a retry), counting
/// a try when it is taken.
pub async fn set_installment(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    due_at: DateTime<Utc>,
    from: &[&str],
    to: &str,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "update installments
         set status = $5, last_error = coalesce($6, last_error),
             tries = tries + case when $5 = 'processing' and status = 'scheduled' then 1 else 0 end
         where merchant_id = $1 and collection_id = $2 and due_at = $3 and status = any($4)",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(due_at)
    .bind(from)
    .bind(to)
    .bind(error)
    .execute(db)
    .await?;
    Ok(moved.rows_affected() > 0)
}

/// Expires scheduled collections whose expiry passed (at most `batch`), each with its event.
pub async fn expire_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "with due as (
             select merchant_id, id from collections
             where type = 'scheduled' and status in ('NOT_STARTED', 'ACTIVE') and expires_at <= $1
             order by expires_at limit $2
             for update skip locked
         ), changed as (
             update collections c set status = 'EXPIRED', updated_at = $1
             from due where c.merchant_id = due.merchant_id and c.id = due.id
               and c.status in ('NOT_STARTED', 'ACTIVE')
             returning c.merchant_id, c.id
         ), event as (
             insert into collection_events (merchant_id, id, collection_id, type, created_at)
             select merchant_id, 'evt_' || replace(gen_random_uuid()::text, '-', ''), id, $3, $1
             from changed
         )
         select merchant_id, id from changed",
    )
    .bind(now)
    .bind(batch)
    .bind(event::EXPIRED)
    .fetch_all(conn)
    .await
}

pub async fn merchant_zone(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select time_zone from merchants where id = $1")
        .bind(merchant_id)
        .fetch_optional(db)
        .await
}

/// The mandate's authorization requests end with it: `succeeded` at consent, `failed` when the
/// collection ends unconsented (so nothing is left open for the reconciler's checks).
pub async fn close_authorization_requests(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update provider_attempts set status = $3, updated_at = now()
         where merchant_id = $1 and scheduled_id = $2 and operation = 'initialize_authorization'
           and status in ('created', 'pending', 'unknown')",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(status)
    .execute(db)
    .await?;
    Ok(())
}

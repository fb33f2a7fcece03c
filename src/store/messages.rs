//! Follow-up messages (`messages`), the opt-outs honoured before each is sent (`contact_opt_outs`), and
//! the collection facts a follow-up is written from.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};

/// What a follow-up touch is planned and written from, read with the collection locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FollowUpContext {
    pub merchant_name: String,
    pub mode: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it becomes overdue unpaid (the `deadline` job marks it then).
    pub due_at: Option<DateTime<Utc>>,
    pub follow_up: Option<Json<Value>>,
    pub metadata: Option<Json<Value>>,
    pub payable: Json<Value>,
    pub contact_id: String,
    pub first_name: String,
    pub phone: String,
    pub email: String,
    pub whatsapp_opt_in: Option<Json<Value>>,
    /// The channels this contact opted out of.
    pub opted_out: Vec<String>,
}

/// Locks the collection (so a payment landing now waits for this touch to be written, or this touch
/// sees it) and reads what the touch needs.
pub async fn context_for_update(
    conn: &mut PgConnection,
    merchant_id: &str,
    collection_id: &str,
) -> Result<Option<FollowUpContext>, sqlx::Error> {
    sqlx::query_as(
        "select m.name as merchant_name, m.mode, c.status, c.amount_minor, c.currency, c.created_at,
                c.expires_at, c.due_at, c.follow_up, c.metadata, c.payable, ct.id as contact_id, ct.first_name,
                ct.phone, ct.email, ct.whatsapp_opt_in,
                array(select o.channel from contact_opt_outs o
                      where o.merchant_id = c.merchant_id and o.contact_id = c.contact_id) as opted_out
         from collections c
         join merchants m on m.id = c.merchant_id
         join contacts ct on ct.merchant_id = c.merchant_id and ct.id = c.contact_id
         where c.merchant_id = $1 and c.id = $2 and c.type = 'integrated'
         for update of c",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .fetch_optional(conn)
    .await
}

/// What a notice before a scheduled debit is written from, read with the collection locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeContext {
    pub merchant_name: String,
    pub mode: String,
    pub status: String,
    pub reference: String,
    pub currency: String,
    pub time_zone: String,
    pub amount_minor: i64,
    pub installment_status: String,
    pub contact_id: Option<String>,
    pub first_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub opted_out: Vec<String>,
}

pub async fn notice_context_for_update(
    conn: &mut PgConnection,
    merchant_id: &str,
    collection_id: &str,
    due_at: DateTime<Utc>,
) -> Result<Option<NoticeContext>, sqlx::Error> {
    sqlx::query_as(
        "select m.name as merchant_name, m.mode, c.status, c.reference, c.currency, md.time_zone,
                i.amount_minor, i.status as installment_status, c.contact_id, ct.first_name, ct.phone,
                coalesce(md.customer_email, ct.email) as email,
                array(select o.channel from contact_opt_outs o
                      where o.merchant_id = c.merchant_id and o.contact_id = c.contact_id) as opted_out
         from collections c
         join merchants m on m.id = c.merchant_id
         join mandates md on md.merchant_id = c.merchant_id and md.collection_id = c.id
         join installments i on i.merchant_id = c.merchant_id and i.collection_id = c.id and i.due_at = $3
         left join contacts ct on ct.merchant_id = c.merchant_id and ct.id = c.contact_id
         where c.merchant_id = $1 and c.id = $2
         for update of c",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .bind(due_at)
    .fetch_optional(conn)
    .await
}

/// Touches (distinct planned sends) in `[from, to)`: of this collection, and to this contact from any
/// of the merchant's collections. Skipped rows (never sendable) do not count.
pub async fn touches_between(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    collection_id: &str,
    contact_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "select count(distinct seq) filter (where collection_id = $2),
                count(distinct (collection_id, seq))
         from messages
         where merchant_id = $1 and contact_id = $3 and planned_at >= $4 and planned_at < $5
           and status <> 'skipped' and tone <> 'notice'",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .bind(contact_id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

pub struct NewMessage<'a> {
    pub merchant_id: &'a str,
    pub id: &'a str,
    pub collection_id: &'a str,
    pub contact_id: Option<&'a str>,
    pub seq: i32,
    pub channel: &'a str,
    pub tone: &'a str,
    pub status: &'a str,
    pub recipient: &'a str,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    pub html: Option<&'a str>,
    pub template: Option<&'a Value>,
    pub reason: Option<&'a str>,
    pub planned_at: DateTime<Utc>,
}

/// Writes a message; false when this touch already has one on this channel (a repeated run).
pub async fn insert(db: impl PgExecutor<'_>, m: &NewMessage<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into messages (merchant_id, id, collection_id, contact_id, seq, channel, tone, status,
                               recipient, subject, body, html, template, reason, planned_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         on conflict (merchant_id, collection_id, seq, channel) do nothing",
    )
    .bind(m.merchant_id)
    .bind(m.id)
    .bind(m.collection_id)
    .bind(m.contact_id)
    .bind(m.seq)
    .bind(m.channel)
    .bind(m.tone)
    .bind(m.status)
    .bind(m.recipient)
    .bind(m.subject)
    .bind(m.body)
    .bind(m.html)
    .bind(m.template.map(Json))
    .bind(m.reason)
    .bind(m.planned_at)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A message about to be sent, with what decides whether it still may be.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub status: String,
    pub channel: String,
    pub collection_id: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub template: Option<Json<Value>>,
    pub attempts: i32,
    pub collection_status: String,
    pub opted_out: bool,
}

/// Locks the message and reads it with its collection's state and the contact's opt-out for its
/// channel — all in the transaction that marks it `sending`.
pub async fn claim(
    conn: &mut PgConnection,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "select msg.status, msg.channel, msg.collection_id, msg.recipient, msg.subject, msg.body,
                msg.html, msg.template, msg.attempts, c.status as collection_status,
                exists (select 1 from contact_opt_outs o
                        where o.merchant_id = msg.merchant_id and o.contact_id = msg.contact_id
                          and o.channel = msg.channel) as opted_out
         from messages msg
         join collections c on c.merchant_id = msg.merchant_id and c.id = msg.collection_id
         where msg.merchant_id = $1 and msg.id = $2
         for update of msg, c",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Moves a message on; `sent_at` is set when it becomes `sent`.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update messages
         set status = $3, reason = $4, updated_at = now(),
             attempts = attempts + case when $3 = 'sending' then 1 else 0 end
         where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(status)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn mark_sent(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    id: &str,
    channel: &str,
    provider_message_id: Option<&str>,
    parts: Option<i32>,
) -> Result<(), sqlx::Error> {
    if let Some(provider_id) = provider_message_id {
        report_lock(&mut *conn, merchant_id, channel, provider_id).await?;
    }
    sqlx::query(
        "update messages
         set status = 'sent', provider_message_id = $3, parts = $4, reason = null, sent_at = now(),
             updated_at = now()
         where merchant_id = $1 and id = $2 and status = 'sending'",
    )
    .bind(merchant_id)
    .bind(id)
    .bind(provider_message_id)
    .bind(parts)
    .execute(&mut *conn)
    .await?;
    if let Some(provider_id) = provider_message_id {
        // A report that arrived before this send was recorded is applied now.
        sqlx::query(
            "with early as (
                 delete from early_delivery_reports
                 where merchant_id = $1 and channel = $3 and provider_message_id = $4
                 returning delivered, reason
             )
             update messages m
             set status = case when e.delivered then 'delivered' else 'undelivered' end,
                 delivered_at = case when e.delivered then now() else m.delivered_at end,
                 reason = case when e.delivered then m.reason else e.reason end, updated_at = now()
             from early e
             where m.merchant_id = $1 and m.id = $2 and m.status = 'sent'",
        )
        .bind(merchant_id)
        .bind(id)
        .bind(channel)
        .bind(provider_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub seq: i32,
    pub channel: String,
    pub tone: String,
    pub status: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub template: Option<Json<Value>>,
    pub parts: Option<i32>,
    pub reason: Option<String>,
    pub attempts: i32,
    pub planned_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A collection's messages, in the order they were planned.
pub async fn list(
    pool: &PgPool,
    merchant_id: &str,
    collection_id: &str,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, seq, channel, tone, status, recipient, subject, body, template, parts, reason,
                attempts, planned_at, sent_at, delivered_at
         from messages where merchant_id = $1 and collection_id = $2
         order by seq, channel",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .fetch_all(pool)
    .await
}

/// Records an opt-out (the first one stands); false when there was one already.
pub async fn opt_out(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    contact_id: &str,
    channel: &str,
    source: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into contact_opt_outs (merchant_id, contact_id, channel, source)
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(merchant_id)
    .bind(contact_id)
    .bind(channel)
    .bind(source)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn collection_exists(
    pool: &PgPool,
    merchant_id: &str,
    collection_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from collections where merchant_id = $1 and id = $2)",
    )
    .bind(merchant_id)
    .bind(collection_id)
    .fetch_one(pool)
    .await
}

/// Records the contact's WhatsApp opt-in (`{source, at}`); false when there is no such contact.
pub async fn set_whatsapp_opt_in(
    pool: &PgPool,
    merchant_id: &str,
    contact_id: &str,
    opt_in: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update contacts set whatsapp_opt_in = $3, updated_at = now() where merchant_id = $1 and id = $2",
    )
    .bind(merchant_id)
    .bind(contact_id)
    .bind(Json(opt_in))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The channels a contact opted out of; `None` when there is no such contact.
pub async fn opt_outs(
    pool: &PgPool,
    merchant_id: &str,
    contact_id: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    sqlx::query_scalar(
        "select array(select o.channel from contact_opt_outs o
                      where o.merchant_id = c.merchant_id and o.contact_id = c.id order by o.channel)
         from contacts c where c.merchant_id = $1 and c.id = $2",
    )
    .bind(merchant_id)
    .bind(contact_id)
    .fetch_optional(pool)
    .await
}

/// A channel's delivery report for one of the merchant's messages: `delivered` or `undelivered` (a
/// report, not proof; it never touches money). A report for a message already delivered changes
/// nothing. One for an id no message has yet is kept (`early_delivery_reports`) and applied when the
/// send is recorded ([`mark_sent`]): the report can win the race with Cowry's own commit. Both take the
/// same advisory lock first, so a report is either applied here or kept for the send, never lost.
/// Returns whether a message moved.
pub async fn record_delivery(
    pool: &PgPool,
    merchant_id: &str,
    channel: &str,
    provider_message_id: &str,
    delivered: bool,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    report_lock(&mut tx, merchant_id, channel, provider_message_id).await?;
    let done = sqlx::query(
        "update messages
         set status = case when $4 then 'delivered' else 'undelivered' end,
             delivered_at = case when $4 then now() else delivered_at end,
             reason = case when $4 then reason else coalesce($5, reason) end, updated_at = now()
         where merchant_id = $1 and channel = $2 and provider_message_id = $3
           and status in ('sent', 'unknown', 'undelivered')",
    )
    .bind(merchant_id)
    .bind(channel)
    .bind(provider_message_id)
    .bind(delivered)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        // No message has this id (yet): kept for the send, unless one has it and is past reports.
        sqlx::query(
            "insert into early_delivery_reports (merchant_id, channel, provider_message_id, delivered, reason)
             select $1, $2, $3, $4, $5
             where not exists (select 1 from messages
                               where merchant_id = $1 and channel = $2 and provider_message_id = $3)
             on conflict (merchant_id, channel, provider_message_id)
             do update set delivered = excluded.delivered, reason = excluded.reason,
                           received_at = excluded.received_at",
        )
        .bind(merchant_id)
        .bind(channel)
        .bind(provider_message_id)
        .bind(delivered)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Serialises a report and the recording of the send it reports on (per merchant, channel and id).
async fn report_lock(
    conn: &mut sqlx::PgConnection,
    merchant_id: &str,
    channel: &str,
    provider_message_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!(
            "report/{merchant_id}/{channel}/{provider_message_id}"
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records an opt-out for the contact with this phone (E.164); false when the merchant has no such
/// contact or it had opted out already.
pub async fn opt_out_by_phone(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    phone: &str,
    channel: &str,
    source: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into contact_opt_outs (merchant_id, contact_id, channel, source)
         select merchant_id, id, $3, $4 from contacts where merchant_id = $1 and phone = $2
         on conflict do nothing",
    )
    .bind(merchant_id)
    .bind(phone)
    .bind(channel)
    .bind(source)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One sent message for learning: its channel, tone, when it went, to whom, and whether the
/// collection was paid within `window_hours` after it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Trial {
    pub channel: String,
    pub tone: String,
    pub sent_at: DateTime<Utc>,
    pub phone: String,
    pub paid: bool,
}

/// The merchant's latest sent follow-ups (of the last 90 days, at most `limit`), as trials.
pub async fn trials(
    pool: &PgPool,
    merchant_id: &str,
    window_hours: i64,
    limit: i64,
) -> Result<Vec<Trial>, sqlx::Error> {
    sqlx::query_as(
        "select m.channel, m.tone, m.sent_at, ct.phone,
                coalesce(c.completed_at > m.sent_at
                         and c.completed_at <= m.sent_at + make_interval(hours => $2::int), false) as paid
         from messages m
         join collections c on c.merchant_id = m.merchant_id and c.id = m.collection_id
         join contacts ct on ct.merchant_id = m.merchant_id and ct.id = m.contact_id
         where m.merchant_id = $1 and m.status in ('sent', 'delivered') and m.sent_at is not null
           and m.tone <> 'notice'
           and m.sent_at > now() - interval '90 days'
         order by m.sent_at desc
         limit $3",
    )
    .bind(merchant_id)
    .bind(window_hours as i32)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What the merchant knows of a customer (by phone) that the default follow-up plan uses.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct History {
    pub whatsapp_opt_in: bool,
    /// The channel the merchant says the customer prefers.
    pub preferred_channel: Option<String>,
    pub opted_out: Vec<String>,
    /// Paid one of the merchant's collections within the first quarter of its time.
    pub pays_promptly: bool,
}

pub async fn history(
    pool: &PgPool,
    merchant_id: &str,
    phone: &str,
) -> Result<Option<History>, sqlx::Error> {
    sqlx::query_as(
        "select ct.whatsapp_opt_in is not null as whatsapp_opt_in, ct.preferred_channel,
                array(select o.channel from contact_opt_outs o
                      where o.merchant_id = ct.merchant_id and o.contact_id = ct.id) as opted_out,
                exists (select 1 from collections c
                        where c.merchant_id = ct.merchant_id and c.contact_id = ct.id
                          and c.status = 'completed' and c.type = 'integrated'
                          and c.completed_at <= c.created_at + (c.expires_at - c.created_at) / 4)
                  as pays_promptly
         from contacts ct where ct.merchant_id = $1 and ct.phone = $2",
    )
    .bind(merchant_id)
    .bind(phone)
    .fetch_optional(pool)
    .await
}

//! `deliver` jobs: one POST of one event to one merchant endpoint, signed per Standard Webhooks,
//! through the one outbound HTTP policy (no redirects; private addresses refused unless allowed).
//! At least once: a worker that dies mid-send leaves the job to be taken again, and the receiver sees
//! the same `webhook-id`. A delivery is never held back behind another that is still retrying; each
//! payload's `sequence` lets a receiver put events about one object in order.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use reqwest::header::RETRY_AFTER;

use super::queue::Outcome;
use crate::domain::events;
use crate::store::jobs::Job;
use crate::store::webhook_endpoints::{self as store, Attempt, Sendable};
use crate::AppState;

pub const KIND: &str = "deliver";

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is kept for the merchant to see.
const ANSWER_EXCERPT: usize = 1024;
/// An endpoint that has failed every delivery for this long is disabled.
pub const DISABLE_AFTER: TimeDelta = TimeDelta::days(5);
/// The longest `Retry-After` honoured (the schedule's longest step).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(36_000);

pub async fn run(state: &AppState, job: &Job) -> Outcome {
    match deliver(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("database: {e}")),
    }
}

async fn deliver(state: &AppState, job: &Job) -> Result<Outcome, sqlx::Error> {
    let Some(delivery) = store::sendable(&state.pool, &job.key).await? else {
        return Ok(Outcome::Done);
    };
    if delivery.status != "pending" {
        return Ok(Outcome::Done);
    }
    if !delivery.enabled {
        store::abandon(&state.pool, &delivery.id, "the endpoint is disabled").await?;
        return Ok(Outcome::Done);
    }
    let secrets = signing_secrets(
        state,
        &delivery.endpoint_id,
        &delivery.secret,
        delivery.previous_secret.as_deref(),
        delivery.previous_expires_at,
    );
    let Some(secrets) = secrets else {
        return Ok(Outcome::Failed(
            "the endpoint's signing secret cannot be opened with the configured keys".to_owned(),
        ));
    };
    let body = serde_json::to_vec(&delivery.payload.0).expect("JSON values serialise");
    let sent = send(state, &delivery.url, &delivery.event_id, &secrets, body).await;
    settle(state, job.id, &delivery, sent).await
}

/// What came back from one try.
pub struct Sent {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub answer: Option<String>,
    pub error: Option<String>,
    pub latency: Duration,
}

/// One signed POST of `body` to `url`, answered within 10 s or counted as failed.
pub async fn send(
    state: &AppState,
    url: &str,
    event_id: &str,
    secrets: &[String],
    body: Vec<u8>,
) -> Sent {
    let started = Instant::now();
    let failed = |error: String| Sent {
        status: None,
        retry_after: None,
        answer: None,
        error: Some(error),
        latency: started.elapsed(),
    };
    let outbound = state.providers.outbound();
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return failed("the endpoint URL cannot be parsed".to_owned());
    };
    if let Err(why) = outbound.check(&parsed) {
        return failed(format!("Cowry does not call this address: {why}"));
    }
    let timestamp = Utc::now().timestamp();
    let keys: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature = events::signature_header(&keys, event_id, timestamp, &body);
    let request = outbound
        .client()
        .post(parsed)
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return failed(format!("no answer within {}s", TIMEOUT.as_secs()))
        }
        Err(e) if e.is_connect() => return failed("could not connect".to_owned()),
        Err(_) => return failed("the connection failed".to_owned()),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    // Only the start of the answer is read: it is kept for the merchant, nothing more is needed.
    let mut excerpt = Vec::new();
    while excerpt.len() < ANSWER_EXCERPT {
        match tokio::time::timeout(TIMEOUT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => excerpt.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt.truncate(ANSWER_EXCERPT);
    Sent {
        status: Some(status),
        retry_after,
        answer: Some(String::from_utf8_lossy(&excerpt).into_owned()),
        error: None,
        latency: started.elapsed(),
    }
}

/// Records the try, and decides: delivered, retried later, or failed for good; 410 Gone or five days
/// of nothing but failures disables the endpoint (with a `webhook_endpoint.disabled` event).
async fn settle(
    state: &AppState,
    job_id: i64,
    delivery: &Sendable,
    sent: Sent,
) -> Result<Outcome, sqlx::Error> {
    let delivered = sent.status.is_some_and(|s| (200..300).contains(&s));
    let gone = sent.status == Some(410);
    let tries = delivery.attempts as u32 + 1;
    let wait = events::retry_delay(&state.config.webhook_retry_schedule, tries, rand_fraction());
    let next = match wait {
        Some(wait) if !delivered && !gone => {
            let wait = wait.max(sent.retry_after.unwrap_or_default());
            Some(Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(10)))
        }
        _ => None,
    };
    let status = match (delivered, next) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    let attempt = Attempt {
        http_status: sent.status.map(i32::from),
        latency_ms: sent.latency.as_millis().min(i32::MAX as u128) as i32,
        answer: sent.answer.as_deref(),
        error: sent.error.as_deref(),
    };
    // One statement: the try, the delivery's state, the failure streak and (when finished) the job.
    store::record_attempt(&state.pool, &delivery.id, &attempt, status, next, job_id).await?;
    crate::metrics::METRICS
        .webhook_deliveries
        .with_label_values(&[status])
        .inc();
    let failing_too_long = !delivered
        && delivery
            .failing_since
            .is_some_and(|since| Utc::now() - since > DISABLE_AFTER);
    let disable_reason = if gone {
        Some("the endpoint answered 410 Gone")
    } else if failing_too_long {
        Some("every delivery failed for 5 days")
    } else {
        None
    };
    if let Some(reason) = disable_reason {
        disable(state, delivery, reason).await?;
    }
    Ok(match next {
        Some(at) => Outcome::RetryAt(at, None),
        // The job left the queue with the record (the queue's `finish` then finds nothing).
        None => Outcome::Done,
    })
}

/// Disables the endpoint with its `webhook_endpoint.disabled` event, once (a second caller finds it
/// disabled already and writes nothing).
async fn disable(state: &AppState, delivery: &Sendable, reason: &str) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin(&state.pool).await?;
    if store::disable(&mut tx, &delivery.endpoint_id, reason).await? {
        let event_id = crate::domain::ids::new_id("evt");
        let data = serde_json::json!({"id": delivery.endpoint_id, "url": delivery.url, "enabled": false,
                                      "disabledReason": reason});
        crate::store::events::add_account_event(
            &mut tx,
            &delivery.merchant_id,
            &event_id,
            "webhook_endpoint.disabled",
            &data,
        )
        .await?;
        crate::events::publish(
            &mut tx,
            &delivery.merchant_id,
            crate::events::Object::Account(&event_id, &data),
        )
        .await?;
        tracing::warn!(endpoint = %delivery.endpoint_id, reason, "webhook endpoint disabled");
    }
    tx.commit().await
}

/// The secrets that sign: the current one, and the previous one during its overlap.
pub fn signing_secrets(
    state: &AppState,
    endpoint_id: &str,
    secret: &[u8],
    previous: Option<&[u8]>,
    previous_until: Option<chrono::DateTime<Utc>>,
) -> Option<Vec<String>> {
    let key = state.config.encryption_key.as_ref()?;
    let associated = format!("webhook_endpoint/{endpoint_id}");
    let open = |sealed: &[u8]| {
        key.open(sealed, associated.as_bytes())
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok())
    };
    let mut secrets = vec![open(secret)?];
    if let (Some(previous), Some(until)) = (previous, previous_until) {
        if until > Utc::now() {
            secrets.extend(open(previous));
        }
    }
    Some(secrets)
}

fn rand_fraction() -> f64 {
    let mut byte = [0u8; 2];
    getrandom::fill(&mut byte).expect("the operating system's random source failed");
    f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX)
}

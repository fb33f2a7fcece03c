//! The merchant's event catalogue, the payload every event is sent and listed as, and Standard
//! Webhooks signing (<https://www.standardwebhooks.com/>): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under a `whsec_…` secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The payload format's version, in every payload (`apiVersion`).
pub const API_VERSION: &str = "2026-11-27";

/// Every event type a merchant can receive, with what it means. Event rows of other types (internal
/// bookkeeping such as `payment.status_ignored`) are never published.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("collection.created", "A collection was created"),
    ("collection.completed", "The collection is paid"),
    (
        "collection.cancelled",
        "The merchant cancelled the collection",
    ),
    ("collection.expired", "The collection expired unpaid"),
    (
        "collection.overdue",
        "The collection passed its due time unpaid",
    ),
    ("payment.failed", "A payment attempt on a collection failed"),
    (
        "payment.partial",
        "A transfer paid part of a collection; it stays open for the rest (data: amountPaid, amountRemaining)",
    ),
    (
        "payment.flagged",
        "The provider reported a payment Cowry will not accept as paid (wrong amount or currency), or a transfer paid more than was owed",
    ),
    (
        "payment.reversed",
        "A successful payment was reversed by the provider",
    ),
    (
        "payment.received_after_close",
        "Money arrived for a collection already cancelled or expired",
    ),
    (
        "mandate.consented",
        "The customer's mandate for a scheduled collection is active: debits may run",
    ),
    (
        "mandate.revoked",
        "The customer or the bank withdrew the mandate (or a debit failed for good): debits stopped",
    ),
    ("debit.succeeded", "A debit of a scheduled collection was paid"),
    (
        "debit.failed",
        "A debit of a scheduled collection failed (hard: the schedule stops; soft: retried)",
    ),
    (
        "collect.created",
        "A mobile-money collect was sent to the payer's network",
    ),
    (
        "collect.succeeded",
        "The payer approved and the money arrived",
    ),
    (
        "collect.failed",
        "The collect failed (declined, timed out, insufficient funds)",
    ),
    ("collect.rolled_back", "A successful collect was reversed"),
    (
        "collect.flagged",
        "The network reported a payment Cowry will not accept as paid",
    ),
    (
        "followup.sent",
        "A follow-up message to the customer was accepted by its channel (data: messageId, channel)",
    ),
    (
        "followup.failed",
        "A follow-up message could not be sent (refused, or retries ran out; data: reason)",
    ),
    (
        "webhook_endpoint.disabled",
        "An endpoint was disabled (it answered 410, or failed everything for 5 days)",
    ),
];

/// Sent by `POST /webhook-endpoints/{id}/test`; never stored in the stream.
pub const PING: &str = "ping";

pub fn is_published(kind: &str) -> bool {
    CATALOGUE.iter().any(|(t, _)| *t == kind)
}

/// `{id, type, apiVersion, livemode, createdAt, sequence, data}`: what is delivered and listed.
pub fn payload(
    id: &str,
    kind: &str,
    livemode: bool,
    created_at: &str,
    sequence: i64,
    data: &Value,
) -> Value {
    json!({
        "id": id,
        "type": kind,
        "apiVersion": API_VERSION,
        "livemode": livemode,
        "createdAt": created_at,
        "sequence": sequence,
        "data": data,
    })
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `v1,<signature>` of one message under one `whsec_…` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_")?)
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per current secret, space-separated (during a
/// rotation both the new and the previous secret sign, so receivers holding either verify).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The default waits between tries of a failing delivery (`COWRY_WEBHOOK_RETRY_SCHEDULE`): the first
/// try is immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — eight tries over about a day and
/// a half.
pub const RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// How long to wait after `tries` failed tries, stretched by up to a tenth at random (`jitter` in
/// 0..=1) so a receiver coming back is not hit by every delivery at once. `None`: no tries left.
pub fn retry_delay(
    schedule: &[std::time::Duration],
    tries: u32,
    jitter: f64,
) -> Option<std::time::Duration> {
    let base = *schedule.get((tries as usize).checked_sub(1)?)?;
    Some(base.mul_f64(1.0 + 0.1 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        // The specification's own example (standard-webhooks/spec, "Signature scheme").
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let two = signature_header(
            &[secret, secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        assert_eq!(two.split(' ').count(), 2);
        assert_eq!(sign("not-a-secret", "x", 1, b""), None);
    }

    #[test]
    fn secrets_are_whsec_and_random() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_ne!(a, new_secret());
        assert!(sign(&a, "evt_1", 1, b"{}").is_some());
    }

    #[test]
    fn retries_follow_the_schedule_with_bounded_jitter() {
        let schedule = crate::domain::time::parse_schedule(RETRY_SCHEDULE).unwrap();
        let secs = std::time::Duration::from_secs;
        assert_eq!(retry_delay(&schedule, 1, 0.0), Some(secs(5)));
        assert_eq!(retry_delay(&schedule, 2, 1.0), Some(secs(330)));
        assert_eq!(retry_delay(&schedule, 7, 0.0), Some(secs(36_000)));
        assert_eq!(retry_delay(&schedule, 8, 0.0), None, "eight tries in all");
    }

    #[test]
    fn internal_bookkeeping_is_not_published() {
        assert!(is_published("collection.completed"));
        assert!(!is_published("payment.status_ignored"));
        assert!(!is_published("collect.status_ignored"));
    }
}

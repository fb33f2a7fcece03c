//! The event payload every webhook delivers and `GET /events` lists, and the catalogue of types.

use serde::Serialize;
use utoipa::ToSchema;

/// `{id, type, apiVersion, livemode, createdAt, sequence, data}`. Deliveries carry the Standard
/// Webhooks headers `webhook-id` (the event's id: the same on every retry), `webhook-timestamp` and
/// `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct EventPayload {
    #[schema(example = "evt_0t3hq1v6c2m8x9b4k7d5f0a1z2")]
    id: String,
    #[serde(rename = "type")]
    kind: EventType,
    /// The payload format's version.
    #[schema(example = "2026-11-27")]
    api_version: String,
    livemode: bool,
    #[schema(example = "2026-11-27T10:00:00.000Z")]
    created_at: String,
    /// Grows with every event about the same object: a receiver keeps the highest it has applied
    /// and ignores older ones (deliveries are not held back behind a retrying one, so they can
    /// arrive out of order).
    sequence: i64,
    /// The object as `GET` showed it when the event happened: a collection (`collection.*`,
    /// `payment.*`), a mobile-money collect (`collect.*`), or the endpoint (`webhook_endpoint.*`).
    data: EventData,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
pub enum EventData {
    Collection(crate::http::collections::view::CollectionView),
    Scheduled(crate::http::scheduled::view::ScheduledView),
    Collect(crate::http::collect::view::CollectView),
    Endpoint(EndpointData),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct EndpointData {
    id: String,
    url: String,
    enabled: bool,
    disabled_reason: String,
}

/// Every type a merchant can receive (see the README's catalogue).
#[derive(Serialize, ToSchema)]
#[allow(dead_code, non_camel_case_types)]
pub enum EventType {
    #[serde(rename = "collection.created")]
    CollectionCreated,
    #[serde(rename = "collection.completed")]
    CollectionCompleted,
    #[serde(rename = "collection.cancelled")]
    CollectionCancelled,
    #[serde(rename = "collection.expired")]
    CollectionExpired,
    #[serde(rename = "collection.overdue")]
    CollectionOverdue,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.partial")]
    PaymentPartial,
    #[serde(rename = "payment.flagged")]
    PaymentFlagged,
    #[serde(rename = "payment.reversed")]
    PaymentReversed,
    #[serde(rename = "payment.received_after_close")]
    PaymentReceivedAfterClose,
    #[serde(rename = "mandate.consented")]
    MandateConsented,
    #[serde(rename = "mandate.revoked")]
    MandateRevoked,
    #[serde(rename = "debit.succeeded")]
    DebitSucceeded,
    #[serde(rename = "debit.failed")]
    DebitFailed,
    #[serde(rename = "collect.created")]
    CollectCreated,
    #[serde(rename = "collect.succeeded")]
    CollectSucceeded,
    #[serde(rename = "collect.failed")]
    CollectFailed,
    #[serde(rename = "collect.rolled_back")]
    CollectRolledBack,
    #[serde(rename = "collect.flagged")]
    CollectFlagged,
    #[serde(rename = "followup.sent")]
    FollowupSent,
    #[serde(rename = "followup.failed")]
    FollowupFailed,
    #[serde(rename = "webhook_endpoint.disabled")]
    WebhookEndpointDisabled,
    #[serde(rename = "ping")]
    Ping,
}

#[cfg(test)]
mod tests {
    /// The documented enum and the catalogue the server publishes stay one list.
    #[test]
    fn the_documented_types_are_the_catalogue() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(super::EventType::schema()).unwrap();
        let mut documented: Vec<String> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        documented.sort();
        let mut published: Vec<String> = crate::domain::events::CATALOGUE
            .iter()
            .map(|(t, _)| t.to_string())
            .chain([crate::domain::events::PING.to_owned()])
            .collect();
        published.sort();
        assert_eq!(documented, published);
    }
}

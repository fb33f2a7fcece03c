//! What the hosted payment page shows a customer, decided without I/O: the customer's own contact
//! details masked (the link may be forwarded), what the collection is for, how long the link lives,
//! and the status in words.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// How long a closed collection's page keeps answering (for its receipt): then the link is dead.
pub const GRACE: TimeDelta = TimeDelta::days(7);

/// `+234 ••• ••• 5678`: the country code and the last four digits.
pub fn mask_phone(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return "•••".to_owned();
    }
    let last: String = digits[digits.len() - 4..].iter().collect();
    let code: String = digits[..3].iter().collect();
    format!("+{code} ••• ••• {last}")
}

/// `a•••@example.com`: the first character of the local part and the domain.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        _ => String::new(),
    }
}

/// What the payment is for, from the merchant's `metadata` (an object or an array of objects): each
/// item's `description`, else its `name`, joined.
pub fn purpose(metadata: Option<&Value>) -> String {
    let items: Vec<&Value> = match metadata {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(object @ Value::Object(_)) => vec![object],
        _ => Vec::new(),
    };
    items
        .iter()
        .filter_map(|item| {
            item.get("description")
                .or_else(|| item.get("name"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a collection's page still answers: always while it is open; for a closed one until
/// [`GRACE`] after it closed.
pub fn link_alive(status: &str, closed_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    matches!(status, "pending" | "overdue") || now < closed_at + GRACE
}

/// The status as the customer reads it.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "pending" => "Awaiting payment",
        "overdue" => "Overdue: awaiting payment",
        "completed" => "Paid",
        "cancelled" => "Cancelled",
        "expired" => "Expired",
        _ => "Unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contact_details_are_masked() {
        assert_eq!(mask_phone("+2348012345678"), "+234 ••• ••• 5678");
        assert_eq!(mask_phone("+1"), "•••");
        assert_eq!(mask_email("amina.lawal@example.com"), "a•••@example.com");
        assert_eq!(mask_email(""), "");
    }

    #[test]
    fn the_purpose_comes_from_the_metadata() {
        let items = json!([{"name": "Standard Membership", "description": "January plan renewal"},
                           {"name": "Joining fee"}]);
        assert_eq!(purpose(Some(&items)), "January plan renewal; Joining fee");
        assert_eq!(purpose(Some(&json!({"description": " Rent "}))), "Rent");
        assert_eq!(purpose(None), "");
    }

    #[test]
    fn a_closed_collections_link_lives_for_the_grace_period() {
        let closed = Utc::now();
        assert!(link_alive("pending", closed - TimeDelta::days(30), closed));
        assert!(link_alive(
            "completed",
            closed,
            closed + GRACE - TimeDelta::seconds(1)
        ));
        assert!(!link_alive("completed", closed, closed + GRACE));
        assert!(!link_alive("expired", closed, closed + GRACE));
    }
}

//! The collection state machine and the vocabularies a collection is described with.

/// `pending → completed | cancelled | expired`, `pending → overdue → completed | expired | cancelled`.
/// Terminal states never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Overdue,
    Completed,
    Cancelled,
    Expired,
}

impl Status {
    pub const ALL: [&'static str; 5] = ["pending", "overdue", "completed", "cancelled", "expired"];

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "pending" => Status::Pending,
            "overdue" => Status::Overdue,
            "completed" => Status::Completed,
            "cancelled" => Status::Cancelled,
            "expired" => Status::Expired,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Overdue => "overdue",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Cancelled | Status::Expired
        )
    }

    /// Whether the transition `self → next` is allowed.
    pub fn can_become(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Pending, Status::Overdue)
                | (
                    Status::Pending | Status::Overdue,
                    Status::Completed | Status::Cancelled | Status::Expired
                )
        )
    }
}

pub const TYPES: [&str; 2] = ["integrated", "scheduled"];
pub const METHODS: [&str; 5] = [
    "payment_link",
    "virtual_account",
    "mobile_money",
    "card",
    "bank_transfer",
];
pub const CADENCES: [&str; 10] = [
    "every_5m",
    "every_10m",
    "every_15m",
    "every_30m",
    "every_1h",
    "every_2h",
    "every_4h",
    "every_6h",
    "every_12h",
    "daily",
];
pub const CHANNELS: [&str; 3] = ["whatsapp", "sms", "email"];
pub const TONES: [&str; 3] = ["gentle", "professional", "urgent"];

/// Event types appended to a collection's history.
pub mod event {
    pub const CREATED: &str = "collection.created";
    pub const CANCELLED: &str = "collection.cancelled";
    pub const EXPIRED: &str = "collection.expired";
    pub const OVERDUE: &str = "collection.overdue";
    /// The provider confirmed the payment; the collection is paid.
    pub const COMPLETED: &str = "collection.completed";
    pub const MANDATE_CONSENTED: &str = "mandate.consented";
    pub const MANDATE_REVOKED: &str = "mandate.revoked";
    pub const DEBIT_SUCCEEDED: &str = "debit.succeeded";
    pub const DEBIT_FAILED: &str = "debit.failed";
    /// Recorded on the collection only (not published): the consent's steps a merchant may ask about.
    /// A customer's card or mandate request that did not consent (they may start again).
    pub const MANDATE_CONSENT_FAILED: &str = "mandate.consent_failed";
    /// The card rail's verification charge was refunded.
    pub const MANDATE_VERIFICATION_REFUNDED: &str = "mandate.verification_refunded";
    /// Cowry asked Paystack to retry the bank's activation charge of an approved mandate.
    pub const MANDATE_ACTIVATION_RETRIED: &str = "mandate.activation_retried";
    /// The customer consented after the collection had ended: recorded, never acted on.
    pub const MANDATE_CONSENT_AFTER_CLOSE: &str = "mandate.consent_after_close";
    pub const PAYMENT_FAILED: &str = "payment.failed";
    /// Part of the amount arrived (a short transfer): the collection stays open for the rest.
    pub const PAYMENT_PARTIAL: &str = "payment.partial";
    /// The provider reported a payment Cowry will not accept as paid (wrong amount or currency).
    pub const PAYMENT_FLAGGED: &str = "payment.flagged";
    pub const PAYMENT_REVERSED: &str = "payment.reversed";
    /// Money arrived for a collection already cancelled or expired: finance must refund or apply it.
    pub const PAYMENT_AFTER_CLOSE: &str = "payment.received_after_close";
    /// A report that contradicted a terminal state: recorded, not acted on.
    pub const STATUS_IGNORED: &str = "payment.status_ignored";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_never_move() {
        for from in [Status::Completed, Status::Cancelled, Status::Expired] {
            assert!(from.is_terminal());
            for to in Status::ALL.map(|s| Status::parse(s).unwrap()) {
                assert!(!from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn open_states_can_finish() {
        assert!(Status::Pending.can_become(Status::Overdue));
        assert!(Status::Pending.can_become(Status::Cancelled));
        assert!(Status::Overdue.can_become(Status::Completed));
        assert!(Status::Overdue.can_become(Status::Expired));
        assert!(!Status::Overdue.can_become(Status::Pending));
        assert!(!Status::Pending.can_become(Status::Pending));
    }

    #[test]
    fn names_round_trip() {
        for name in Status::ALL {
            assert_eq!(Status::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(Status::parse("paid"), None);
    }
}

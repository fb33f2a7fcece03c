//! What a provider's report (a verified webhook or a status query) does to a provider attempt. Pure:
//! the reconciler and the webhook processor both ask [`decide`], then write what it says in one
//! transaction. The rules that keep money honest live here:
//! - terminal states never move, except a success the provider reverses;
//! - a report that repeats the current state changes nothing and records nothing (duplicates);
//! - a different report after a terminal state is recorded as an event and otherwise ignored;
//! - a success for another amount or currency than was asked is flagged for an operator, never paid;
//! - so is a success reported after a recorded failure (the failure stands; finance must see the money).

use super::money::Money;

/// Where a payment stands at the provider, in Cowry's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Not final yet (the customer has to act, or the provider is processing).
    Pending,
    Succeeded,
    /// Final failure, with the provider's reason.
    Failed {
        reason: String,
    },
    /// A success the provider later undid.
    Reversed,
}

impl PaymentStatus {
    pub fn is_final(&self) -> bool {
        !matches!(self, PaymentStatus::Pending)
    }
}

/// A provider attempt's state (`provider_attempts.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    Created,
    Pending,
    Unknown,
    Succeeded,
    Failed,
    Flagged,
    Reversed,
}

impl AttemptState {
    pub fn parse(text: &str) -> Option<AttemptState> {
        Some(match text {
            "created" => AttemptState::Created,
            "pending" => AttemptState::Pending,
            "unknown" => AttemptState::Unknown,
            "succeeded" => AttemptState::Succeeded,
            "failed" => AttemptState::Failed,
            "flagged" => AttemptState::Flagged,
            "reversed" => AttemptState::Reversed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Created => "created",
            AttemptState::Pending => "pending",
            AttemptState::Unknown => "unknown",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Flagged => "flagged",
            AttemptState::Reversed => "reversed",
        }
    }

    /// Open attempts are still being reconciled.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AttemptState::Created | AttemptState::Pending | AttemptState::Unknown
        )
    }
}

/// A provider's report about one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub status: PaymentStatus,
    /// The amount the provider says moved, when its report carries one.
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to write: the report repeats what is known (or an open attempt is still open).
    Nothing,
    /// The attempt moves; the owner (collection or collect) follows; one event is written.
    Move(AttemptState),
    /// The provider reports a success Cowry will not accept as paid; held for an operator.
    Flag(String),
    /// A report that contradicts a terminal state: recorded as an event, changes nothing.
    Ignore,
}

pub fn decide(current: AttemptState, expected: Money, report: &Report) -> Decision {
    use AttemptState as S;
    match (&report.status, current) {
        (PaymentStatus::Pending, S::Created | S::Unknown) => Decision::Move(S::Pending),
        (PaymentStatus::Pending, S::Pending) => Decision::Nothing,
        (PaymentStatus::Succeeded, s) if s.is_open() => match report.amount {
            Some(paid) if paid != expected => Decision::Flag(format!(
                "the provider reports {} {} paid, but {} {} was asked",
                paid.major_string(),
                paid.currency().code(),
                expected.major_string(),
                expected.currency().code()
            )),
            _ => Decision::Move(S::Succeeded),
        },
        (PaymentStatus::Failed { .. }, s) if s.is_open() => Decision::Move(S::Failed),
        // Money the provider says arrived after Cowry recorded a failure: the failure stands (terminal
        // states do not move), but finance must see it, so the attempt is held for review.
        (PaymentStatus::Succeeded, S::Failed) => Decision::Flag(
            "the provider reports this payment succeeded after it was recorded as failed"
                .to_owned(),
        ),
        (PaymentStatus::Reversed, S::Succeeded) => Decision::Move(S::Reversed),
        // A reversal of a payment never seen succeed still means no money: treat it as failed.
        (PaymentStatus::Reversed, s) if s.is_open() => Decision::Move(S::Failed),
        (PaymentStatus::Succeeded, S::Succeeded | S::Flagged)
        | (PaymentStatus::Failed { .. }, S::Failed)
        | (PaymentStatus::Reversed, S::Reversed) => Decision::Nothing,
        _ => Decision::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::currency::Currency;

    fn ugx(n: i64) -> Money {
        Money::from_minor(n, Currency::parse("UGX").unwrap())
    }

    fn report(status: PaymentStatus, amount: Option<Money>) -> Report {
        Report { status, amount }
    }

    fn failed() -> PaymentStatus {
        PaymentStatus::Failed {
            reason: "NOT_ENOUGH_FUNDS".into(),
        }
    }

    #[test]
    fn open_attempts_follow_the_provider() {
        use AttemptState as S;
        let ok = report(PaymentStatus::Succeeded, Some(ugx(500)));
        assert_eq!(
            decide(S::Pending, ugx(500), &ok),
            Decision::Move(S::Succeeded)
        );
        assert_eq!(
            decide(S::Unknown, ugx(500), &report(failed(), None)),
            Decision::Move(S::Failed)
        );
        let pending = report(PaymentStatus::Pending, None);
        assert_eq!(
            decide(S::Created, ugx(500), &pending),
            Decision::Move(S::Pending)
        );
        assert_eq!(decide(S::Pending, ugx(500), &pending), Decision::Nothing);
        // No amount in the report (Airtel's enquiry has none): the status decides.
        let bare = report(PaymentStatus::Succeeded, None);
        assert_eq!(
            decide(S::Pending, ugx(500), &bare),
            Decision::Move(S::Succeeded)
        );
    }

    #[test]
    fn terminal_states_do_not_move_except_a_reversal() {
        use AttemptState as S;
        let ok = report(PaymentStatus::Succeeded, None);
        assert_eq!(
            decide(S::Succeeded, ugx(500), &report(failed(), None)),
            Decision::Ignore
        );
        assert!(matches!(
            decide(S::Failed, ugx(500), &ok),
            Decision::Flag(_)
        ));
        assert_eq!(
            decide(S::Failed, ugx(500), &report(PaymentStatus::Pending, None)),
            Decision::Ignore
        );
        assert_eq!(decide(S::Reversed, ugx(500), &ok), Decision::Ignore);
        let reversed = report(PaymentStatus::Reversed, None);
        assert_eq!(
            decide(S::Succeeded, ugx(500), &reversed),
            Decision::Move(S::Reversed)
        );
        assert_eq!(decide(S::Failed, ugx(500), &reversed), Decision::Ignore);
    }

    #[test]
    fn repeats_change_nothing() {
        use AttemptState as S;
        assert_eq!(
            decide(
                S::Succeeded,
                ugx(500),
                &report(PaymentStatus::Succeeded, None)
            ),
            Decision::Nothing
        );
        assert_eq!(
            decide(S::Failed, ugx(500), &report(failed(), None)),
            Decision::Nothing
        );
        assert_eq!(
            decide(
                S::Flagged,
                ugx(500),
                &report(PaymentStatus::Succeeded, None)
            ),
            Decision::Nothing
        );
    }

    #[test]
    fn another_amount_or_currency_is_flagged_not_paid() {
        let short = report(PaymentStatus::Succeeded, Some(ugx(499)));
        match decide(AttemptState::Pending, ugx(500), &short) {
            Decision::Flag(why) => {
                assert!(why.contains("499 UGX") && why.contains("500 UGX"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let kes = Money::from_minor(500, Currency::parse("KES").unwrap());
        let other_currency = report(PaymentStatus::Succeeded, Some(kes));
        assert!(matches!(
            decide(AttemptState::Pending, ugx(500), &other_currency),
            Decision::Flag(_)
        ));
    }
}

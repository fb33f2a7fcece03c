//! What a transfer into a virtual account pays. A Paystack dedicated account belongs to a customer, not
//! to one collection, so one number can stand behind several open collections; the rule that picks one
//! lives here, with what the money then does to it. Pure: `jobs::transfer` reads the candidates under a
//! lock and writes what this decides.
//!
//! Which collection a transfer pays, among those shown that account number, in its currency:
//! 1. the oldest open collection whose remaining amount is exactly the amount transferred;
//! 2. else the oldest open collection;
//! 3. else (none open) the newest closed one: the money came after it closed
//!    (`payment.received_after_close`);
//! 4. else none: held for review.

/// A collection shown the account number, as the matcher sees it. Candidates come as the open ones,
/// oldest first, then the newest closed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub open: bool,
    pub currency: String,
    /// What is still owed (amount minus what was paid before).
    pub remaining_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// An open collection the transfer pays towards.
    Pays(String),
    /// Only closed collections: the money is recorded against the newest, which does not move.
    AfterClose(String),
    /// No collection in this currency was ever shown the number.
    Unmatched,
}

pub fn choose(candidates: &[Candidate], currency: &str, amount_minor: i64) -> Match {
    let same_currency = || candidates.iter().filter(|c| c.currency == currency);
    let open = || same_currency().filter(|c| c.open);
    if let Some(exact) = open().find(|c| c.remaining_minor == amount_minor) {
        return Match::Pays(exact.id.clone());
    }
    if let Some(oldest) = open().next() {
        return Match::Pays(oldest.id.clone());
    }
    match same_currency().next_back() {
        Some(closed) => Match::AfterClose(closed.id.clone()),
        None => Match::Unmatched,
    }
}

/// What a payment of `amount_minor` does to an open collection that still owes `remaining_minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credit {
    /// Exactly what was owed: completed.
    Paid,
    /// Less: recorded, the collection stays open owing `remaining_minor`.
    Partial { remaining_minor: i64 },
    /// More: completed, and the excess flagged for finance to refund or keep as credit.
    Overpaid { excess_minor: i64 },
}

pub fn credit(remaining_minor: i64, amount_minor: i64) -> Credit {
    match amount_minor.cmp(&remaining_minor) {
        std::cmp::Ordering::Equal => Credit::Paid,
        std::cmp::Ordering::Less => Credit::Partial {
            remaining_minor: remaining_minor - amount_minor,
        },
        std::cmp::Ordering::Greater => Credit::Overpaid {
            excess_minor: amount_minor - remaining_minor,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, open: bool, remaining: i64) -> Candidate {
        Candidate {
            id: id.into(),
            open,
            currency: "NGN".into(),
            remaining_minor: remaining,
        }
    }

    #[test]
    fn the_exact_amount_wins_over_age() {
        let all = [
            candidate("old", true, 5_000),
            candidate("exact", true, 2_000),
            candidate("exact-later", true, 2_000),
        ];
        assert_eq!(choose(&all, "NGN", 2_000), Match::Pays("exact".into()));
    }

    #[test]
    fn otherwise_the_oldest_open_one() {
        let all = [
            candidate("closed", false, 2_000),
            candidate("old", true, 5_000),
            candidate("new", true, 7_000),
        ];
        assert_eq!(choose(&all, "NGN", 2_000), Match::Pays("old".into()));
    }

    #[test]
    fn only_closed_ones_means_after_close_on_the_newest() {
        let all = [candidate("first", false, 0), candidate("second", false, 5)];
        assert_eq!(
            choose(&all, "NGN", 2_000),
            Match::AfterClose("second".into())
        );
    }

    #[test]
    fn nothing_in_the_currency_is_unmatched() {
        assert_eq!(choose(&[], "NGN", 1), Match::Unmatched);
        let usd = [candidate("open", true, 1)];
        assert_eq!(choose(&usd, "USD", 1), Match::Unmatched);
    }

    #[test]
    fn credit_compares_with_what_is_still_owed() {
        assert_eq!(credit(45_000, 45_000), Credit::Paid);
        assert_eq!(
            credit(45_000, 20_000),
            Credit::Partial {
                remaining_minor: 25_000
            }
        );
        assert_eq!(
            credit(45_000, 50_000),
            Credit::Overpaid {
                excess_minor: 5_000
            }
        );
    }
}

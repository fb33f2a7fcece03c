//! When a scheduled collection's installments fall due. Pure date arithmetic, in the collection's own
//! time zone: a monthly debit on the 31st is on the last day of shorter months (and back on the 31st
//! after them: every occurrence is counted from the start date, never from the previous one); a yearly
//! one from 29 February falls on 28 February in other years; a local time that a daylight-saving change
//! skips is moved past the gap, and one it repeats is taken at its first passing.
//!
//! Recurring schedules are expanded lazily ([`Plan::after`]): a ten-year daily schedule is a rule and a
//! few rows, not 3,650 rows on day one.

use chrono::Offset;
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Biweekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl Frequency {
    pub const ALL: [&'static str; 6] = [
        "DAILY",
        "WEEKLY",
        "BIWEEKLY",
        "MONTHLY",
        "QUARTERLY",
        "YEARLY",
    ];

    pub fn parse(text: &str) -> Option<Frequency> {
        Some(match text {
            "DAILY" => Frequency::Daily,
            "WEEKLY" => Frequency::Weekly,
            "BIWEEKLY" => Frequency::Biweekly,
            "MONTHLY" => Frequency::Monthly,
            "QUARTERLY" => Frequency::Quarterly,
            "YEARLY" => Frequency::Yearly,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }

    /// The `k`-th local wall-clock time after `anchor` (k = 0 is the anchor itself).
    pub fn nth(self, anchor: NaiveDateTime, k: u32) -> Option<NaiveDateTime> {
        let days = |n: u32| anchor.checked_add_signed(TimeDelta::days(i64::from(n) * i64::from(k)));
        let months = |n: u32| {
            // chrono clamps the day to the month's length (31 Jan + 1 month = 28/29 Feb).
            anchor.checked_add_months(Months::new(n.checked_mul(k)?))
        };
        match self {
            Frequency::Daily => days(1),
            Frequency::Weekly => days(7),
            Frequency::Biweekly => days(14),
            Frequency::Monthly => months(1),
            Frequency::Quarterly => months(3),
            Frequency::Yearly => months(12),
        }
    }
}

/// A local wall-clock time in `zone` as an instant: a time skipped by a daylight-saving change is read
/// with the offset in force just before the change (01:30 in a gap from 01:00 to 02:00 is 02:30 after
/// it); a repeated one is taken at its first passing. `None` only far out of range.
pub fn resolve(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(found) = zone.from_local_datetime(&local).earliest() {
        return Some(found.with_timezone(&Utc));
    }
    let before = zone
        .from_local_datetime(&local.checked_sub_signed(TimeDelta::days(1))?)
        .earliest()?;
    let offset = before.offset().fix().local_minus_utc();
    Some(Utc.from_utc_datetime(&local.checked_sub_signed(TimeDelta::seconds(offset.into()))?))
}

/// Whether `local` exists in `zone` (it is not inside a daylight-saving gap).
pub fn exists(zone: Tz, local: NaiveDateTime) -> bool {
    zone.from_local_datetime(&local).earliest().is_some()
}

/// The first day of the calendar month `at` falls in, in `zone`: what monthly limits are counted by.
pub fn month_of(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    let local = at.with_timezone(&zone).date_naive();
    NaiveDate::from_ymd_opt(local.year(), local.month(), 1).expect("the first of a month exists")
}

/// The whole plan: dated entries, a recurring rule, or both, between start and expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub zone: Tz,
    pub start: DateTime<Utc>,
    pub expiry: DateTime<Utc>,
    /// The recurring part: every `frequency` from `start`, for `amount` minor units.
    pub recurring: Option<(Frequency, i64)>,
    /// Dated installments, sorted, distinct. An entry at the same instant as a recurring occurrence
    /// replaces it.
    pub entries: Vec<(DateTime<Utc>, i64)>,
}

/// At most this many recurring occurrences are ever walked (ten years of daily debits and then some).
const MAX_OCCURRENCES: u32 = 40_000;

impl Plan {
    /// The `k`-th recurring occurrence, counted from the start in the plan's zone.
    pub fn occurrence(&self, k: u32) -> Option<DateTime<Utc>> {
        let (frequency, _) = self.recurring?;
        let anchor = self.start.with_timezone(&self.zone).naive_local();
        resolve(self.zone, frequency.nth(anchor, k)?)
    }

    /// Up to `n` installments due strictly after `after` (all of them from the start when `None`),
    /// in order, none past the expiry.
    pub fn after(&self, after: Option<DateTime<Utc>>, n: usize) -> Vec<(DateTime<Utc>, i64)> {
        let later = |at: &DateTime<Utc>| after.is_none_or(|a| *at > a) && *at <= self.expiry;
        let mut entries = self.entries.iter().copied().filter(|(at, _)| later(at));
        let mut recurring = (0..MAX_OCCURRENCES)
            .map_while(|k| self.occurrence(k))
            .take_while(|at| *at <= self.expiry)
            .filter(|at| later(at))
            .map(|at| (at, self.recurring.map_or(0, |(_, amount)| amount)));
        let (mut entry, mut occurrence) = (entries.next(), recurring.next());
        let mut out = Vec::with_capacity(n.min(64));
        while out.len() < n {
            let next = match (entry, occurrence) {
                (None, None) => break,
                (Some(e), Some(o)) if o.0 < e.0 => {
                    occurrence = recurring.next();
                    o
                }
                (Some(e), Some(o)) => {
                    if o.0 == e.0 {
                        occurrence = recurring.next();
                    }
                    entry = entries.next();
                    e
                }
                (Some(e), None) => {
                    entry = entries.next();
                    e
                }
                (None, Some(o)) => {
                    occurrence = recurring.next();
                    o
                }
            };
            out.push(next);
        }
        out
    }

    /// The first calendar month (in the plan's zone) whose installments add up to more than `limit`,
    /// with that total; checked over the first `horizon` installments.
    pub fn month_over(&self, limit: i64, horizon: usize) -> Option<(NaiveDate, i64)> {
        let mut current: Option<(NaiveDate, i64)> = None;
        for (at, amount) in self.after(None, horizon) {
            let month = month_of(self.zone, at);
            let total = match current {
                Some((m, total)) if m == month => total.saturating_add(amount),
                _ => amount,
            };
            if total > limit {
                return Some((month, total));
            }
            current = Some((month, total));
        }
        None
    }

    /// The earliest time a merchant-triggered debit may follow one made at `last`: one interval later
    /// (any time when the plan has no recurring rule).
    pub fn next_allowed(&self, last: DateTime<Utc>) -> DateTime<Utc> {
        match self.recurring {
            Some((frequency, _)) => {
                let local = last.with_timezone(&self.zone).naive_local();
                frequency
                    .nth(local, 1)
                    .and_then(|next| resolve(self.zone, next))
                    .unwrap_or(last)
            }
            None => last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(zone: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").unwrap();
        resolve(zone, naive).unwrap()
    }

    fn plan(zone: Tz, start: &str, expiry: &str, recurring: Option<(Frequency, i64)>) -> Plan {
        Plan {
            zone,
            start: local(zone, start),
            expiry: local(zone, expiry),
            recurring,
            entries: Vec::new(),
        }
    }

    fn locals(plan: &Plan, n: usize) -> Vec<String> {
        plan.after(None, n)
            .into_iter()
            .map(|(at, _)| {
                at.with_timezone(&plan.zone)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_31st_falls_on_each_month_end_and_comes_back() {
        let p = plan(
            chrono_tz::Africa::Lagos,
            "2027-01-31T09:00",
            "2027-06-30T23:00",
            Some((Frequency::Monthly, 100)),
        );
        assert_eq!(
            locals(&p, 10),
            [
                "2027-01-31 09:00 WAT",
                "2027-02-28 09:00 WAT",
                "2027-03-31 09:00 WAT",
                "2027-04-30 09:00 WAT",
                "2027-05-31 09:00 WAT",
                "2027-06-30 09:00 WAT",
            ]
        );
    }

    #[test]
    fn leap_days_and_quarters() {
        let yearly = plan(
            chrono_tz::UTC,
            "2028-02-29T12:00",
            "2033-01-01T00:00",
            Some((Frequency::Yearly, 5)),
        );
        assert_eq!(
            locals(&yearly, 9),
            [
                "2028-02-29 12:00 UTC",
                "2029-02-28 12:00 UTC",
                "2030-02-28 12:00 UTC",
                "2031-02-28 12:00 UTC",
                "2032-02-29 12:00 UTC",
            ]
        );
        let quarterly = plan(
            chrono_tz::UTC,
            "2027-11-30T08:00",
            "2028-09-01T00:00",
            Some((Frequency::Quarterly, 5)),
        );
        assert_eq!(
            locals(&quarterly, 9),
            [
                "2027-11-30 08:00 UTC",
                "2028-02-29 08:00 UTC",
                "2028-05-30 08:00 UTC",
                "2028-08-30 08:00 UTC",
            ]
        );
    }

    #[test]
    fn local_time_holds_across_daylight_saving() {
        // London moves its clocks on 28 March and 31 October 2027: 09:00 stays 09:00 local.
        let p = plan(
            chrono_tz::Europe::London,
            "2027-03-21T09:00",
            "2027-04-05T00:00",
            Some((Frequency::Weekly, 1)),
        );
        let utc: Vec<String> = p
            .after(None, 5)
            .iter()
            .map(|(at, _)| at.format("%m-%d %H:%M").to_string())
            .collect();
        assert_eq!(utc, ["03-21 09:00", "03-28 08:00", "04-04 08:00"]);
        // 01:30 on 28 March does not exist in London: moved past the gap to 02:30 BST (01:30 UTC).
        let gap = NaiveDateTime::parse_from_str("2027-03-28T01:30", "%Y-%m-%dT%H:%M").unwrap();
        assert!(!exists(chrono_tz::Europe::London, gap));
        assert_eq!(
            resolve(chrono_tz::Europe::London, gap)
                .unwrap()
                .to_rfc3339(),
            "2027-03-28T01:30:00+00:00"
        );
        // 01:30 on 31 October happens twice: the first (BST, 00:30 UTC) is taken.
        let twice = NaiveDateTime::parse_from_str("2027-10-31T01:30", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(
            resolve(chrono_tz::Europe::London, twice)
                .unwrap()
                .to_rfc3339(),
            "2027-10-31T00:30:00+00:00"
        );
    }

    #[test]
    fn entries_merge_with_the_rule_and_replace_a_same_time_occurrence() {
        let zone = chrono_tz::Africa::Lagos;
        let mut p = plan(
            zone,
            "2027-05-22T05:43",
            "2027-06-19T08:42",
            Some((Frequency::Weekly, 500)),
        );
        p.entries = vec![
            (local(zone, "2027-05-22T05:43"), 200),
            (local(zone, "2027-06-01T10:00"), 300),
        ];
        let amounts: Vec<i64> = p.after(None, 10).iter().map(|(_, a)| *a).collect();
        assert_eq!(amounts, [200, 500, 300, 500, 500, 500]);
        // Lazily: the next two after the second installment.
        let second = p.after(None, 2)[1].0;
        let next: Vec<i64> = p.after(Some(second), 2).iter().map(|(_, a)| *a).collect();
        assert_eq!(next, [300, 500]);
    }

    #[test]
    fn a_ten_year_daily_schedule_is_walked_not_stored() {
        let p = plan(
            chrono_tz::Africa::Nairobi,
            "2027-01-01T06:00",
            "2036-12-31T23:00",
            Some((Frequency::Daily, 10)),
        );
        let last_year = local(chrono_tz::Africa::Nairobi, "2036-12-30T12:00");
        let tail = p.after(Some(last_year), 5);
        assert_eq!(tail.len(), 1, "only 31 December 2036 is left");
        assert_eq!(p.after(None, 3).len(), 3);
    }

    #[test]
    fn monthly_totals_are_counted_per_local_calendar_month() {
        let p = plan(
            chrono_tz::Africa::Lagos,
            "2027-01-01T00:30",
            "2027-03-01T00:00",
            Some((Frequency::Weekly, 500)),
        );
        // 1 January 00:30 in Lagos is 31 December 23:30 UTC: it counts in January.
        assert_eq!(
            month_of(p.zone, p.start),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
        assert_eq!(p.month_over(2_500, 100), None);
        assert_eq!(
            p.month_over(2_000, 100),
            Some((NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), 2_500))
        );
    }

    #[test]
    fn the_next_allowed_debit_is_one_interval_later() {
        let p = plan(
            chrono_tz::Africa::Lagos,
            "2027-01-31T09:00",
            "2028-01-01T00:00",
            Some((Frequency::Monthly, 1)),
        );
        let last = local(p.zone, "2027-01-31T10:00");
        assert_eq!(p.next_allowed(last), local(p.zone, "2027-02-28T10:00"));
        let none = Plan {
            recurring: None,
            ..p
        };
        assert_eq!(none.next_allowed(last), last);
    }
}

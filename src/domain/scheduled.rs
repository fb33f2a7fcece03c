//! A scheduled collection (`spec/scheduled-collection.txt`): the customer consents once to debits of at
//! most `maximumAmount` each, no more than `monthlyLimit` in a calendar month, between `startDate` and
//! `expiryDate`, on the `schedule`. Amounts are strings of minor units (kobo), as Mona sends them.
//!
//! The rules (documented in the README, "Scheduled collections"):
//! - `schedule.type` `SCHEDULED`: dated `entries`, a recurring `frequency` with `amount`, or both (an
//!   entry at the same instant as an occurrence replaces it). `SUBSCRIPTION`: the recurring part only.
//! - `frequency` and `amount` come together; every amount is > 0 and at most `maximumAmount`; every entry
//!   lies between `startDate` and `expiryDate`, none in the past, no two at one instant.
//! - `startDate` < `expiryDate`, and the expiry is in the future (so the document's own example, dated
//!   2025, is a 422 naming `expiryDate`); at least one installment falls due between now and expiry.
//! - A date without an offset is read in `timeZone` (else the merchant's zone); an explicit offset wins.
//!   A local time inside a daylight-saving gap is refused, naming the field.
//! - With `debitType: MONA` Cowry debits on the schedule itself, so no calendar month's installments
//!   may add up to more than `monthlyLimit`. With `MERCHANT` the schedule says when debits are agreed
//!   (`frequency` is the least interval between two), and each debit is checked when it is asked for.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::currency::Currency;
use super::integrated::{self, ContactInput};
use super::schedule::{self, Frequency, Plan};
use super::validate::{self as v, FieldError, FieldErrors};

pub const DEBIT_TYPES: [&str; 2] = ["MERCHANT", "MONA"];
pub const SCHEDULE_TYPES: [&str; 2] = ["SCHEDULED", "SUBSCRIPTION"];
pub const DEFAULT_ZONE: Tz = chrono_tz::Africa::Lagos;
/// Installments of a recurring schedule written ahead of time (the rest are planned as these are paid).
pub const INSTALLMENTS_AHEAD: usize = 3;
const MAX_ENTRIES: usize = 366;
const MAX_REFERENCE_LEN: usize = 128;
/// Installments looked at when checking monthly totals (more than a year of daily debits).
const LIMIT_HORIZON: usize = 1_000;
/// Ten trillion minor units: far above any real debit, far below `i64` overflow when summed.
const MAX_MINOR: i64 = 10_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebitType {
    /// The merchant triggers each debit (`POST /collections/{id}/debit`).
    Merchant,
    /// The schedule runs by itself (Cowry's workers, or Mona on a `mona` account).
    Mona,
}

impl DebitType {
    pub fn as_str(self) -> &'static str {
        match self {
            DebitType::Merchant => "MERCHANT",
            DebitType::Mona => "MONA",
        }
    }

    pub fn parse(text: &str) -> Option<DebitType> {
        match text {
            "MERCHANT" => Some(DebitType::Merchant),
            "MONA" => Some(DebitType::Mona),
            _ => None,
        }
    }
}

/// A scheduled collection's life: `NOT_STARTED` (awaiting consent) → `ACTIVE` (consented; debits run)
/// → `COMPLETED` (every installment paid) | `EXPIRED` (expiry passed) | `CANCELLED` (by the merchant) |
/// `REVOKED` (the customer or the bank withdrew the mandate, or a debit failed for good). `NOT_STARTED`
/// may also end `CANCELLED` or `EXPIRED`. The last four never change again.
pub const STATUSES: [&str; 6] = [
    "NOT_STARTED",
    "ACTIVE",
    "COMPLETED",
    "EXPIRED",
    "CANCELLED",
    "REVOKED",
];

pub fn is_final(status: &str) -> bool {
    matches!(status, "COMPLETED" | "EXPIRED" | "CANCELLED" | "REVOKED")
}

#[derive(Debug, Clone)]
pub struct NewScheduled {
    pub reference: String,
    pub debit_type: DebitType,
    pub currency: Currency,
    pub maximum: i64,
    pub monthly_limit: i64,
    pub plan: Plan,
    pub schedule_type: &'static str,
    pub agent_id: Option<String>,
    pub contact: Option<ContactInput>,
    pub provider: Option<String>,
    pub time_zone: Tz,
}

impl NewScheduled {
    /// The schedule as stored and shown: UTC `Z` times, minor-unit strings, as Mona answers.
    pub fn schedule_json(&self) -> Value {
        schedule_json(self.schedule_type, &self.plan)
    }
}

pub fn schedule_json(kind: &str, plan: &Plan) -> Value {
    let entries: Vec<Value> = plan
        .entries
        .iter()
        .map(|(at, amount)| json!({"date": super::time::format(at), "amount": amount.to_string()}))
        .collect();
    json!({
        "type": kind,
        "frequency": plan.recurring.map(|(f, _)| f.as_str()),
        "entries": entries,
        "amount": plan.recurring.map(|(_, a)| a.to_string()),
    })
}

/// The card rail's first charge, in minor units: the smallest Paystack recommends for a card's first
/// charge (NGN 50.00, GHS 0.10, ZAR 1.00, USD 0.20; it documents none for KES, so KES has no card
/// rail). It only proves the card and leaves a reusable authorization: it is refunded at once, and every
/// installment is debited on its own, within the limits, like any other.
pub fn card_verification_minor(currency: &str) -> Option<i64> {
    match currency {
        "NGN" => Some(5_000),
        "GHS" => Some(10),
        "ZAR" => Some(100),
        "USD" => Some(20),
        _ => None,
    }
}

/// How a failed debit is treated: `hard` (the authorization is inactive, revoked or invalid, the account
/// closed: the schedule stops and the merchant is told) or `soft` (insufficient funds, the bank or the
/// provider unavailable, anything else: the installment is tried again on the retry schedule).
pub fn failure_class(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    let hard = [
        "inactive",
        "revoked",
        "deactivated",
        "invalid authorization",
        "invalid or inactive",
        "no authorization",
        "account closed",
        "closed account",
        "not active",
    ];
    if hard.iter().any(|h| reason.contains(h)) {
        "hard"
    } else {
        "soft"
    }
}

/// Reads a stored schedule back (the inverse of [`schedule_json`]).
pub fn plan_from(schedule: &Value, zone: Tz, start: DateTime<Utc>, expiry: DateTime<Utc>) -> Plan {
    let minor = |v: &Value| v.as_str().and_then(|s| s.parse::<i64>().ok());
    let recurring = schedule["frequency"]
        .as_str()
        .and_then(Frequency::parse)
        .zip(minor(&schedule["amount"]));
    let entries = schedule["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    let at = DateTime::parse_from_rfc3339(e["date"].as_str()?).ok()?;
                    Some((at.with_timezone(&Utc), minor(&e["amount"])?))
                })
                .collect()
        })
        .unwrap_or_default();
    Plan {
        zone,
        start,
        expiry,
        recurring,
        entries,
    }
}

/// A time zone by IANA name.
pub fn zone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// Parses a scheduled create body. `merchant_zone` reads dates without an offset when the body names
/// no `timeZone`; `now` is when the request arrived.
pub fn parse(
    body: &Value,
    merchant_zone: Tz,
    now: DateTime<Utc>,
) -> Result<NewScheduled, Vec<FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(body) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors.into_vec());
    };
    if v::get(body, "type").is_some_and(|t| t.as_str() != Some("scheduled")) {
        errors.add(
            "type",
            "must be \"scheduled\" for a body with schedule or debitType",
        );
    }
    let reference = v::string(body, "reference", "", MAX_REFERENCE_LEN, true, &mut errors);
    let debit_type = match v::get(body, "debitType") {
        None => {
            errors.add("debitType", "is required (MERCHANT or MONA)");
            None
        }
        Some(_) => {
            v::one_of(body, "debitType", "", &DEBIT_TYPES, &mut errors).and_then(DebitType::parse)
        }
    };
    let time_zone = match v::string(body, "timeZone", "", 64, false, &mut errors) {
        None => Some(merchant_zone),
        Some(name) => {
            let found = zone(&name);
            if found.is_none() {
                errors.add("timeZone", "must be an IANA time zone, e.g. Africa/Lagos");
            }
            found
        }
    };
    let zone = time_zone.unwrap_or(merchant_zone);
    let currency = match v::nonblank_if_given(body, "currency", "", 3, &mut errors) {
        None => Currency::parse("NGN"),
        Some(code) => {
            let found = Currency::parse(&code);
            if found.is_none() {
                errors.add(
                    "currency",
                    "must be an ISO 4217 code Cowry supports, e.g. NGN",
                );
            }
            found
        }
    };
    let maximum = minor(body, "maximumAmount", "", true, &mut errors);
    let monthly_limit = minor(body, "monthlyLimit", "", false, &mut errors).or(maximum);
    let start = date(body, "startDate", "", zone, &mut errors);
    let expiry = date(body, "expiryDate", "", zone, &mut errors);
    if let (Some(start), Some(expiry)) = (start, expiry) {
        if start >= expiry {
            errors.add("expiryDate", "must be after startDate");
        }
    }
    if expiry.is_some_and(|e| e <= now) {
        errors.add("expiryDate", "must be in the future");
    }
    let agent_id = v::string(body, "agentId", "", 64, false, &mut errors);
    let provider = v::nonblank_if_given(body, "provider", "", 64, &mut errors);
    // An optional field that is given must say something: "" is not "absent".
    for key in ["agentId", "provider", "timeZone", "currency"] {
        if v::get(body, key)
            .and_then(Value::as_str)
            .is_some_and(|s| s.trim().is_empty())
        {
            errors.add(key, "must not be empty");
        }
    }
    let contact =
        v::get(body, "contact").and_then(|_| integrated::parse_contact(body, &mut errors));
    let schedule = parse_schedule(body, maximum, (start, expiry, zone), now, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into_vec());
    }
    let (schedule_type, plan) = schedule.expect("checked");
    let (maximum, monthly_limit) = (maximum.expect("checked"), monthly_limit.expect("checked"));
    if plan.after(Some(now), 1).is_empty() {
        errors.add(
            "schedule",
            "no installment falls due between now and expiryDate",
        );
    }
    if debit_type == Some(DebitType::Mona) {
        if let Some((month, total)) = plan.month_over(monthly_limit, LIMIT_HORIZON) {
            errors.add(
                "monthlyLimit",
                format!(
                    "the installments due in {} add up to {total}, more than the monthly limit of {monthly_limit}",
                    month.format("%Y-%m")
                ),
            );
        }
    }
    errors.finish(|| NewScheduled {
        reference: reference.expect("checked"),
        debit_type: debit_type.expect("checked"),
        currency: currency.expect("checked"),
        maximum,
        monthly_limit,
        plan,
        schedule_type,
        agent_id,
        contact,
        provider,
        time_zone: zone,
    })
}

fn parse_schedule(
    body: &Map<String, Value>,
    maximum: Option<i64>,
    (start, expiry, zone): (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Tz),
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<(&'static str, Plan)> {
    let schedule = v::required_object(body, "schedule", "", errors)?;
    let kind = match v::get(schedule, "type") {
        None => {
            errors.add("schedule.type", "is required (SCHEDULED or SUBSCRIPTION)");
            None
        }
        Some(_) => v::one_of(schedule, "type", "schedule", &SCHEDULE_TYPES, errors),
    };
    let frequency = v::one_of(schedule, "frequency", "schedule", &Frequency::ALL, errors)
        .and_then(Frequency::parse);
    let amount = minor(schedule, "amount", "schedule", false, errors);
    let over_maximum = |amount: i64| maximum.is_some_and(|m| amount > m);
    match (v::get(schedule, "frequency"), v::get(schedule, "amount")) {
        (Some(_), None) => errors.add("schedule.amount", "is required with schedule.frequency"),
        (None, Some(_)) => errors.add("schedule.frequency", "is required with schedule.amount"),
        _ => {}
    }
    if amount.is_some_and(over_maximum) {
        errors.add("schedule.amount", "must not be more than maximumAmount");
    }
    let mut entries: Vec<(DateTime<Utc>, i64)> = Vec::new();
    match v::get(schedule, "entries") {
        None => {}
        Some(Value::Array(items)) if items.len() > MAX_ENTRIES => {
            errors.add(
                "schedule.entries",
                format!("must have at most {MAX_ENTRIES} entries"),
            );
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("schedule.entries[{i}]");
                let Some(item) = item.as_object() else {
                    errors.add(path, "must be an object with date and amount");
                    continue;
                };
                let at = date(item, "date", &path, zone, errors);
                let amount = minor(item, "amount", &path, true, errors);
                if amount.is_some_and(over_maximum) {
                    errors.add(
                        format!("{path}.amount"),
                        "must not be more than maximumAmount",
                    );
                }
                if let Some(at) = at {
                    if at <= now {
                        errors.add(format!("{path}.date"), "is in the past");
                    } else if start.is_some_and(|s| at < s) || expiry.is_some_and(|e| at > e) {
                        errors.add(
                            format!("{path}.date"),
                            "must be between startDate and expiryDate",
                        );
                    } else if entries.iter().any(|(seen, _)| *seen == at) {
                        errors.add(format!("{path}.date"), "repeats an earlier entry's date");
                    }
                }
                if let (Some(at), Some(amount)) = (at, amount) {
                    entries.push((at, amount));
                }
            }
        }
        Some(_) => errors.add("schedule.entries", "must be an array"),
    }
    match kind {
        Some("SUBSCRIPTION") if !entries.is_empty() => errors.add(
            "schedule.entries",
            "a SUBSCRIPTION has no dated entries (use SCHEDULED)",
        ),
        Some("SUBSCRIPTION") if v::get(schedule, "frequency").is_none() => {
            errors.add("schedule.frequency", "is required for a SUBSCRIPTION")
        }
        Some("SCHEDULED")
            if v::get(schedule, "frequency").is_none()
                && v::get(schedule, "amount").is_none()
                && v::get(schedule, "entries")
                    .is_none_or(|e| e.as_array().is_some_and(Vec::is_empty)) =>
        {
            errors.add(
                "schedule.entries",
                "a SCHEDULED collection needs dated entries, a frequency with an amount, or both",
            )
        }
        _ => {}
    }
    entries.sort_by_key(|(at, _)| *at);
    Some((
        kind?,
        Plan {
            zone,
            start: start?,
            expiry: expiry?,
            recurring: frequency.zip(amount),
            entries,
        },
    ))
}

/// A string of minor units: digits only, > 0.
fn minor(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<i64> {
    let field = v::join(path, key);
    match v::get(object, key) {
        None if required => {
            errors.add(field, "is required");
            None
        }
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            match s.parse::<i64>() {
                Ok(0) => {
                    errors.add(field, "must be greater than 0");
                    None
                }
                Ok(n) if n <= MAX_MINOR => Some(n),
                _ => {
                    errors.add(field, "is too large");
                    None
                }
            }
        }
        Some(_) => {
            errors.add(
                field,
                "must be a string of minor units (e.g. \"50000\" for NGN 500.00)",
            );
            None
        }
    }
}

/// A date: RFC 3339 with an offset (honoured), or a local `YYYY-MM-DDTHH:MM[:SS[.fff]]` or
/// `YYYY-MM-DD` (midnight) read in `zone`.
fn date(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    zone: Tz,
    errors: &mut FieldErrors,
) -> Option<DateTime<Utc>> {
    let field = v::join(path, key);
    let text = v::string(object, key, path, 40, true, errors)?;
    match read_date(&text, zone) {
        Ok(at) => Some(at),
        Err(message) => {
            errors.add(field, message);
            None
        }
    }
}

pub fn read_date(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            "must be a date-time such as 2026-05-22T05:43:00 (read in the time zone) or with an offset"
                .to_owned()
        })?;
    if !schedule::exists(zone, local) {
        return Err(format!(
            "{local} does not exist in {} (the clocks skip it)",
            zone.name()
        ));
    }
    schedule::resolve(zone, local).ok_or_else(|| "is out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// The document's example with its dates moved two years on.
    fn example() -> Value {
        json!({
            "maximumAmount": "600",
            "debitType": "MERCHANT",
            "startDate": "2027-05-22T05:43:00",
            "expiryDate": "2027-06-19T08:42:00",
            "reference": "Testing Mona Scheduled Collection--Succeed",
            "schedule": {"type": "SCHEDULED", "frequency": "WEEKLY", "amount": "500",
                         "entries": [{"date": "2027-05-22T05:43:00", "amount": "200"}]},
            "agentId": "507f1f77bcf86cd799439011"
        })
    }

    fn fields(result: Result<NewScheduled, Vec<FieldError>>) -> Vec<String> {
        result
            .unwrap_err()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn the_documents_example_reads_in_lagos_time() {
        let s = parse(&example(), DEFAULT_ZONE, now()).unwrap();
        assert_eq!((s.maximum, s.monthly_limit), (600, 600));
        assert_eq!(s.debit_type, DebitType::Merchant);
        assert_eq!(
            super::super::time::format(&s.plan.start),
            "2027-05-22T04:43:00.000Z"
        );
        assert_eq!(s.plan.entries, vec![(s.plan.start, 200)]);
        assert_eq!(s.plan.recurring, Some((Frequency::Weekly, 500)));
        assert_eq!(
            s.schedule_json()["entries"][0]["date"],
            "2027-05-22T04:43:00.000Z"
        );
        // An explicit offset is honoured; another zone reads the same text differently.
        let mut body = example();
        body["startDate"] = json!("2027-05-22T05:43:00Z");
        body["schedule"]["entries"][0]["date"] = json!("2027-05-22T05:43:00Z");
        let s = parse(&body, DEFAULT_ZONE, now()).unwrap();
        assert_eq!(
            super::super::time::format(&s.plan.start),
            "2027-05-22T05:43:00.000Z"
        );
        body["timeZone"] = json!("Africa/Nairobi");
        let s = parse(&body, DEFAULT_ZONE, now()).unwrap();
        assert_eq!(
            super::super::time::format(&s.plan.expiry),
            "2027-06-19T05:42:00.000Z"
        );
    }

    #[test]
    fn the_example_as_printed_is_in_the_past() {
        let mut body = example();
        body["startDate"] = json!("2025-05-22T05:43:00");
        body["expiryDate"] = json!("2025-06-19T08:42:00");
        body["schedule"]["entries"][0]["date"] = json!("2025-05-22T05:43:00");
        assert_eq!(
            fields(parse(&body, DEFAULT_ZONE, now())),
            [
                "expiryDate: must be in the future",
                "schedule.entries[0].date: is in the past"
            ]
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = json!({
            "maximumAmount": 600, "debitType": "SOMETIMES", "startDate": "yesterday",
            "expiryDate": "2027-01-01T00:00:00", "reference": "",
            "schedule": {"type": "ONCE", "frequency": "HOURLY", "amount": "0",
                         "entries": [{"date": "2027-02-01", "amount": "-5"}, 3]},
            "monthlyLimit": "1.5", "timeZone": "Mars/Olympus", "currency": "XXX"
        });
        assert_eq!(
            fields(parse(&body, DEFAULT_ZONE, now())),
            [
                "reference: must not be empty",
                "debitType: must be one of: MERCHANT, MONA",
                "timeZone: must be an IANA time zone, e.g. Africa/Lagos",
                "currency: must be an ISO 4217 code Cowry supports, e.g. NGN",
                "maximumAmount: must be a string of minor units (e.g. \"50000\" for NGN 500.00)",
                "monthlyLimit: must be a string of minor units (e.g. \"50000\" for NGN 500.00)",
                "startDate: must be a date-time such as 2026-05-22T05:43:00 (read in the time zone) or with an offset",
                "schedule.type: must be one of: SCHEDULED, SUBSCRIPTION",
                "schedule.frequency: must be one of: DAILY, WEEKLY, BIWEEKLY, MONTHLY, QUARTERLY, YEARLY",
                "schedule.amount: must be greater than 0",
                "schedule.entries[0].amount: must be a string of minor units (e.g. \"50000\" for NGN 500.00)",
                "schedule.entries[0].date: must be between startDate and expiryDate",
                "schedule.entries[1]: must be an object with date and amount",
            ]
        );
    }

    #[test]
    fn amounts_and_dates_are_tied_to_the_mandate() {
        let mut body = example();
        body["schedule"]["amount"] = json!("700");
        body["schedule"]["entries"] = json!([
            {"date": "2027-05-21T00:00:00", "amount": "100"},
            {"date": "2027-06-01T00:00:00", "amount": "601"},
            {"date": "2027-06-02T00:00:00", "amount": "100"},
            {"date": "2027-06-02T00:00:00", "amount": "100"},
        ]);
        assert_eq!(
            fields(parse(&body, DEFAULT_ZONE, now())),
            [
                "schedule.amount: must not be more than maximumAmount",
                "schedule.entries[0].date: must be between startDate and expiryDate",
                "schedule.entries[1].amount: must not be more than maximumAmount",
                "schedule.entries[3].date: repeats an earlier entry's date",
            ]
        );
        let mut lone = example();
        lone["schedule"] = json!({"type": "SCHEDULED", "amount": "100"});
        assert_eq!(
            fields(parse(&lone, DEFAULT_ZONE, now())),
            ["schedule.frequency: is required with schedule.amount"]
        );
        let mut empty = example();
        empty["schedule"] = json!({"type": "SCHEDULED"});
        assert_eq!(
            fields(parse(&empty, DEFAULT_ZONE, now())),
            ["schedule.entries: a SCHEDULED collection needs dated entries, a frequency with an amount, or both"]
        );
        let mut subscription = example();
        subscription["schedule"]["type"] = json!("SUBSCRIPTION");
        assert_eq!(
            fields(parse(&subscription, DEFAULT_ZONE, now())),
            ["schedule.entries: a SUBSCRIPTION has no dated entries (use SCHEDULED)"]
        );
    }

    #[test]
    fn a_schedule_cowry_runs_must_fit_the_monthly_limit() {
        let mut body = example();
        body["debitType"] = json!("MONA");
        // Weekly 500 from 22 May: 22 and 29 May add up to 700 (the entry replaces the first: 200 + 500).
        assert_eq!(
            fields(parse(&body, DEFAULT_ZONE, now())),
            ["monthlyLimit: the installments due in 2027-05 add up to 700, more than the monthly limit of 600"]
        );
        body["monthlyLimit"] = json!("2500");
        assert!(parse(&body, DEFAULT_ZONE, now()).is_ok());
    }

    #[test]
    fn failures_are_hard_when_the_mandate_is_gone() {
        for hard in [
            "Invalid or inactive authorization code for this customer",
            "Authorization has been deactivated",
            "the mandate has no authorization to charge",
            "Account closed",
        ] {
            assert_eq!(failure_class(hard), "hard", "{hard}");
        }
        for soft in [
            "Insufficient Funds",
            "Bank unavailable",
            "Declined",
            "timeout",
        ] {
            assert_eq!(failure_class(soft), "soft", "{soft}");
        }
    }

    #[test]
    fn a_local_time_the_clocks_skip_is_refused() {
        let mut body = example();
        body["timeZone"] = json!("Europe/London");
        body["startDate"] = json!("2027-03-28T01:30:00");
        body["schedule"]["entries"] = json!([]);
        assert_eq!(
            fields(parse(&body, DEFAULT_ZONE, now())),
            ["startDate: 2027-03-28 01:30:00 does not exist in Europe/London (the clocks skip it)"]
        );
    }
}

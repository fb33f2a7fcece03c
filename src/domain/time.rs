//! Timestamps in JSON are UTC RFC 3339 with milliseconds (`2025-11-12T17:46:07.000Z`), as in the
//! API documents. Times Cowry creates are truncated to milliseconds so what is stored is what is shown.

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};

pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// `at` to the millisecond, as times Cowry creates are stored and shown.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::milliseconds(1))
        .expect("millisecond truncation cannot overflow")
}

pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(serialize_with = "time::serialize")]`
pub fn serialize<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(at))
}

/// `#[serde(serialize_with = "time::serialize_opt")]`
pub fn serialize_opt<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, s),
        None => s.serialize_none(),
    }
}

/// A retry/poll schedule such as `30s,1m,2m,1h` (units ms, s, m, h); `None` if any part is not one.
pub fn parse_schedule(text: &str) -> Option<Vec<std::time::Duration>> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let split = part.find(|c: char| !c.is_ascii_digit())?;
            let (digits, unit) = part.split_at(split);
            let n: u64 = digits.parse().ok()?;
            let millis = match unit {
                "ms" => n,
                "s" => n.checked_mul(1_000)?,
                "m" => n.checked_mul(60_000)?,
                "h" => n.checked_mul(3_600_000)?,
                "d" => n.checked_mul(86_400_000)?,
                _ => return None,
            };
            (millis > 0).then(|| std::time::Duration::from_millis(millis))
        })
        .collect()
}

/// One duration, written as the schedule's parts are (`90d`, `24h`, `30m`).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    match parse_schedule(text)?.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The delay before poll number `done + 1` (0-based count of polls already made); the schedule's last
/// delay repeats.
pub fn schedule_delay(schedule: &[std::time::Duration], done: usize) -> std::time::Duration {
    schedule
        .get(done)
        .or(schedule.last())
        .copied()
        .unwrap_or(std::time::Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_their_last_step_repeats() {
        let s = parse_schedule("30s, 1m,2m,5m,10m,30m,1h").unwrap();
        assert_eq!(s[0], std::time::Duration::from_secs(30));
        assert_eq!(schedule_delay(&s, 6), std::time::Duration::from_secs(3600));
        assert_eq!(schedule_delay(&s, 60), std::time::Duration::from_secs(3600));
        assert_eq!(parse_schedule("250ms").unwrap()[0].as_millis(), 250);
        assert_eq!(
            parse_duration("90d"),
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_duration("1h,2h"), None);
        for bad in ["", "1", "1w", "s", "0s", "1m,,2m", "-1s"] {
            assert!(parse_schedule(bad).is_none(), "{bad}");
        }
    }
    use chrono::TimeZone;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let at = Utc.with_ymd_and_hms(2025, 11, 12, 17, 46, 7).unwrap();
        assert_eq!(format(&at), "2025-11-12T17:46:07.000Z");
        assert_eq!(now().timestamp_subsec_nanos() % 1_000_000, 0);
    }
}

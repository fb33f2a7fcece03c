//! Timestamps in JSON are UTC RFC 3339 with milliseconds (`2025-11-12T17:46:07.000Z`), as in the
//! API documents. Times Cowry creates are truncated to milliseconds so what is stored is what is shown.

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::milliseconds(1))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let at = Utc.with_ymd_and_hms(2025, 11, 12, 17, 46, 7).unwrap();
        assert_eq!(format(&at), "2025-11-12T17:46:07.000Z");
        assert_eq!(now().timestamp_subsec_nanos() % 1_000_000, 0);
    }
}

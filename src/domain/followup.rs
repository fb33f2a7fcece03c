//! When follow-up messages go out. Pure: times in, steps out.
//!
//! **The merchant's plan** (`followUp` given): the first message `startAfter` minutes after creation,
//! then one every `cadence`, on each of `channels`, in `tone`, while the collection is open — never at
//! or after its expiry. [`next_send`] walks it lazily (an every-5-minutes plan over 90 days is a rule,
//! not 25,000 rows).
//!
//! **Cowry's default strategy** (`followUp` not given), [`default_plan`], from the collection's
//! context:
//! 1. *How many, when*, by the time the customer has (creation to expiry, `W`): up to 2 h, one message
//!    halfway; up to a day, at 30% and 80% of `W`; up to a week, at 20%, 60% and 90%; longer, a day in,
//!    halfway, three days before and one day before expiry.
//! 2. *Tone* escalates: the first message is gentle, the middle ones professional, the last urgent
//!    (a single message is professional).
//! 3. *History*: a customer who paid this merchant promptly before gets no gentle first nudge.
//! 4. *Quiet hours*: nothing between 21:00 and 08:00 in the customer's local time (from their phone's
//!    country). A message due then waits for 08:00; if that is too late (within 15 minutes of expiry)
//!    it goes at 20:45 the evening before, if the collection existed then; else it is dropped.
//! 5. *Channel*: the first the customer can be reached on, in the order WhatsApp (only with a recorded
//!    opt-in), SMS, email — the caller passes only channels not opted out of; the last message also
//!    goes by email when the customer has one, so a written record remains.
//! 6. *Caps*: at most 2 messages in one local day for a collection, and at most 5 in all.
//!
//! Every step carries the rule that placed it, so the plan can be shown to the merchant.
//!
//! **At send time** ([`hold`]), for either plan: a touch due in the customer's quiet hours waits for
//! 08:00 local, and one due on a local day that already had [`MERCHANT_MAX_PER_DAY`] touches of the
//! collection (or [`CONTACT_MAX_PER_DAY`] for the contact, across the merchant's collections) waits for
//! the next morning — so an `every_5m` cadence sends six a day, not 288.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// `every_5m` … `daily` → its interval.
pub fn cadence(text: &str) -> Option<Duration> {
    let minutes = match text {
        "every_5m" => 5,
        "every_10m" => 10,
        "every_15m" => 15,
        "every_30m" => 30,
        "every_1h" => 60,
        "every_2h" => 120,
        "every_4h" => 240,
        "every_6h" => 360,
        "every_12h" => 720,
        "daily" => 1440,
        _ => return None,
    };
    Some(Duration::minutes(minutes))
}

/// The merchant's plan: the send time after `last` (the first one when `last` is `None`), or `None`
/// once it would be at or after expiry.
pub fn next_send(
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    start_after_minutes: i64,
    every: Duration,
    last: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let first = created_at + Duration::minutes(start_after_minutes.max(0));
    let next = match last {
        None => first,
        // Counted from the plan's start, so a late send does not push every later one back; but at
        // least half a cadence after the last one (a touch held to 08:00 is not followed seconds later).
        Some(last) if last < first => first,
        Some(last) => {
            let anchor = last + every / 2;
            let steps = (anchor - first).num_seconds() / every.num_seconds().max(1) + 1;
            first + every * steps as i32
        }
    };
    (next < expires_at).then_some(next)
}

/// What the default strategy knows about the collection and the customer.
#[derive(Debug, Clone)]
pub struct Situation {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The customer's time zone (from their phone's country).
    pub zone: Tz,
    /// The channels the customer can be reached on and has not opted out of (`whatsapp` only with a
    /// recorded opt-in).
    pub reachable: Vec<&'static str>,
    /// They paid this merchant promptly before.
    pub pays_promptly: bool,
    /// What this merchant's history says works (`domain::learning`); the default when there is not
    /// enough of it.
    pub learned: super::learning::Preference,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub channel: &'static str,
    /// `gentle`, `professional` or `urgent`.
    pub tone: &'static str,
    /// The rule that placed it, in plain words.
    pub why: String,
}

pub const QUIET_FROM: u32 = 21;
pub const QUIET_UNTIL: u32 = 8;
pub const MAX_PER_DAY: usize = 2;
pub const MAX_MESSAGES: usize = 5;
const CHANNEL_ORDER: [&str; 3] = ["whatsapp", "sms", "email"];

/// The default strategy's steps, oldest first (empty when the customer cannot be reached).
pub fn default_plan(s: &Situation) -> Vec<Step> {
    let learned_channel = s
        .learned
        .channel
        .as_deref()
        .and_then(|c| CHANNEL_ORDER.into_iter().find(|known| *known == c))
        .filter(|c| s.reachable.contains(c));
    let Some(channel) =
        learned_channel.or_else(|| CHANNEL_ORDER.into_iter().find(|c| s.reachable.contains(c)))
    else {
        return Vec::new();
    };
    let window = s.expires_at - s.created_at;
    if window <= Duration::zero() {
        return Vec::new();
    }
    let at = |fraction: f64| {
        s.created_at + Duration::seconds((window.num_seconds() as f64 * fraction) as i64)
    };
    let mut touches: Vec<(DateTime<Utc>, &str)> = if window <= Duration::hours(2) {
        vec![(at(0.5), "halfway")]
    } else if window <= Duration::days(1) {
        vec![(at(0.3), "30% of the time"), (at(0.8), "80% of the time")]
    } else if window <= Duration::days(7) {
        vec![
            (at(0.2), "20% of the time"),
            (at(0.6), "60% of the time"),
            (at(0.9), "90% of the time"),
        ]
    } else {
        vec![
            (s.created_at + Duration::days(1), "a day in"),
            (at(0.5), "halfway"),
            (s.expires_at - Duration::days(3), "three days before expiry"),
            (s.expires_at - Duration::days(1), "a day before expiry"),
        ]
    };
    let tones: Vec<&'static str> = match touches.len() {
        1 => vec!["professional"],
        n => (0..n)
            .map(|i| match i {
                0 => "gentle",
                i if i == n - 1 => "urgent",
                _ => "professional",
            })
            .collect(),
    };
    let mut planned: Vec<(DateTime<Utc>, &'static str, String)> = Vec::new();
    for ((when, rule), tone) in touches.drain(..).zip(tones) {
        if tone == "gentle" && (s.pays_promptly || s.learned.skip_gentle) {
            continue;
        }
        let (when, rule) = match in_learned_band(when, s) {
            Some(moved) => (
                moved,
                format!("{rule}; moved to the hours that worked best"),
            ),
            None => (when, rule.to_owned()),
        };
        let rule = rule.as_str();
        let Some((when, moved)) = outside_quiet_hours(when, s) else {
            continue;
        };
        let why = match moved {
            Some(how) => format!("{rule}; {how}"),
            None => rule.to_owned(),
        };
        planned.push((when, tone, why));
    }
    // Two touches moved to one morning are one message, in the later (stronger) tone.
    planned.sort_by_key(|(when, ..)| *when);
    let mut merged: Vec<(DateTime<Utc>, &'static str, String)> = Vec::new();
    for step in planned {
        match merged.last_mut() {
            Some(last) if last.0 == step.0 => *last = step,
            _ => merged.push(step),
        }
    }
    let planned = merged;
    // At most MAX_PER_DAY in one local day: the last one of the collection is always kept.
    let mut kept: Vec<(DateTime<Utc>, &'static str, String)> = Vec::new();
    let last = planned.len().saturating_sub(1);
    for (i, step) in planned.into_iter().enumerate() {
        let day = step.0.with_timezone(&s.zone).date_naive();
        let same_day = kept
            .iter()
            .filter(|(when, ..)| when.with_timezone(&s.zone).date_naive() == day)
            .count();
        if same_day >= MAX_PER_DAY {
            if i != last {
                continue;
            }
            // The final, urgent one replaces the day's latest.
            if let Some(pos) = kept
                .iter()
                .rposition(|(when, ..)| when.with_timezone(&s.zone).date_naive() == day)
            {
                kept.remove(pos);
            }
        }
        kept.push(step);
    }
    let mut steps: Vec<Step> = Vec::new();
    let final_index = kept.len().saturating_sub(1);
    for (i, (at, tone, why)) in kept.into_iter().enumerate() {
        steps.push(Step {
            at,
            channel,
            tone,
            why: why.clone(),
        });
        if i == final_index && channel != "email" && s.reachable.contains(&"email") {
            steps.push(Step {
                at,
                channel: "email",
                tone,
                why: format!("{why}; also by email, for the record"),
            });
        }
    }
    steps.truncate(MAX_MESSAGES);
    steps
}

/// The start of the learned hour band on `at`'s local day, when `at` is outside it and that time is
/// after creation and well before expiry.
fn in_learned_band(at: DateTime<Utc>, s: &Situation) -> Option<DateTime<Utc>> {
    let start = s.learned.band_start?;
    let (_, from, to) = super::learning::BANDS
        .iter()
        .find(|(_, from, _)| *from == start)?;
    let local = at.with_timezone(&s.zone);
    if (*from..*to).contains(&local.hour()) {
        return None;
    }
    let moved = super::schedule::resolve(
        s.zone,
        local
            .date_naive()
            .and_time(NaiveTime::from_hms_opt(*from, 0, 0)?),
    )?;
    (moved > s.created_at && moved < s.expires_at - Duration::minutes(15)).then_some(moved)
}

/// `at`, or the next 08:00 local when `at` is in quiet hours, or 20:45 the evening before when that
/// is too close to expiry; `None` when neither fits. The second value says how it moved.
fn outside_quiet_hours(
    at: DateTime<Utc>,
    s: &Situation,
) -> Option<(DateTime<Utc>, Option<String>)> {
    let local = at.with_timezone(&s.zone);
    let hour = local.hour();
    if (QUIET_UNTIL..QUIET_FROM).contains(&hour) {
        return Some((at, None));
    }
    let morning_date = if hour >= QUIET_FROM {
        local.date_naive().succ_opt()?
    } else {
        local.date_naive()
    };
    let morning = s
        .zone
        .from_local_datetime(&morning_date.and_time(NaiveTime::from_hms_opt(QUIET_UNTIL, 0, 0)?))
        .earliest()?
        .with_timezone(&Utc);
    if morning < s.expires_at - Duration::minutes(15) {
        return Some((
            morning,
            Some("moved out of the customer's quiet hours to 08:00".to_owned()),
        ));
    }
    let evening_date = morning_date.pred_opt()?;
    let evening = s
        .zone
        .from_local_datetime(&evening_date.and_time(NaiveTime::from_hms_opt(
            QUIET_FROM - 1,
            45,
            0,
        )?))
        .earliest()?
        .with_timezone(&Utc);
    (evening > s.created_at && evening < at).then(|| {
        (
            evening,
            Some("moved before the customer's quiet hours, to 20:45".to_owned()),
        )
    })
}

/// One touch of a plan: when, in what tone, on which channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub at: DateTime<Utc>,
    pub tone: String,
    pub channels: Vec<String>,
}

/// A collection's follow-up plan as stored in its `followUp`.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing is sent (`enabled: false`).
    Off,
    /// The merchant's own: `startAfter`, `cadence`, `channels`, `tone`.
    Cadence {
        start_after: i64,
        every: Duration,
        tone: String,
        channels: Vec<String>,
    },
    /// Cowry's default strategy, planned at creation (`planned: true`): its steps grouped into touches.
    Steps(Vec<Touch>),
}

impl Plan {
    pub fn read(follow_up: Option<&serde_json::Value>) -> Plan {
        let Some(f) = follow_up else { return Plan::Off };
        if f["enabled"] != serde_json::Value::Bool(true) {
            return Plan::Off;
        }
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        if f["planned"] == serde_json::Value::Bool(true) {
            let mut touches: Vec<Touch> = Vec::new();
            for step in f["steps"].as_array().into_iter().flatten() {
                let (Some(at), Some(channel), Some(tone)) = (
                    step["at"]
                        .as_str()
                        .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
                    step["channel"].as_str(),
                    step["tone"].as_str(),
                ) else {
                    continue;
                };
                match touches.last_mut() {
                    Some(last) if last.at == at => last.channels.push(channel.to_owned()),
                    _ => touches.push(Touch {
                        at,
                        tone: tone.to_owned(),
                        channels: vec![channel.to_owned()],
                    }),
                }
            }
            return Plan::Steps(touches);
        }
        Plan::Cadence {
            start_after: f["startAfter"].as_i64().unwrap_or(0),
            every: f["cadence"]
                .as_str()
                .and_then(cadence)
                .unwrap_or_else(|| Duration::days(1)),
            tone: f["tone"].as_str().unwrap_or("professional").to_owned(),
            channels: strings(&f["channels"]),
        }
    }

    /// Touch number `seq` (from 1), the previous one having gone at `last`; `None` when the plan has
    /// no more before expiry.
    pub fn touch(
        &self,
        seq: usize,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
    ) -> Option<Touch> {
        match self {
            Plan::Off => None,
            Plan::Cadence {
                start_after,
                every,
                tone,
                channels,
            } => {
                let at = next_send(created_at, expires_at, *start_after, *every, last)?;
                Some(Touch {
                    at,
                    tone: tone.clone(),
                    channels: channels.clone(),
                })
            }
            Plan::Steps(touches) => {
                let mut touch = touches.get(seq.checked_sub(1)?)?.clone();
                // A touch held back (quiet hours, a full day) never makes the next one earlier.
                if let Some(last) = last {
                    touch.at = touch.at.max(last);
                }
                (touch.at < expires_at).then_some(touch)
            }
        }
    }
}

/// The default strategy's plan as a collection's `followUp` shows it.
pub fn planned_json(steps: &[Step], learned: &[String]) -> serde_json::Value {
    serde_json::json!({
        "enabled": !steps.is_empty(),
        "planned": true,
        "learned": learned,
        "steps": steps.iter().map(|s| serde_json::json!({
            "at": super::time::format(&s.at),
            "channel": s.channel,
            "tone": s.tone,
            "why": s.why,
        })).collect::<Vec<_>>(),
    })
}

/// Touches of one collection in one local day of the customer, at most, whoever planned them.
pub const MERCHANT_MAX_PER_DAY: usize = 6;
/// Touches one contact gets in one local day from all of the merchant's collections, at most.
pub const CONTACT_MAX_PER_DAY: usize = 8;

/// The customer's local day `at` falls in, as UTC instants `[start, end)`.
pub fn local_day(at: DateTime<Utc>, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let date = at.with_timezone(&zone).date_naive();
    let start_of = |d: chrono::NaiveDate| {
        super::schedule::resolve(zone, d.and_time(NaiveTime::MIN)).unwrap_or(at)
    };
    let next = date.succ_opt().unwrap_or(date);
    (start_of(date), start_of(next))
}

/// 08:00 local on the day `at` falls in, or on the next day when `next_day`.
fn morning(at: DateTime<Utc>, zone: Tz, next_day: bool) -> DateTime<Utc> {
    let mut date = at.with_timezone(&zone).date_naive();
    if next_day {
        date = date.succ_opt().unwrap_or(date);
    }
    let eight = date.and_time(NaiveTime::from_hms_opt(QUIET_UNTIL, 0, 0).unwrap_or(NaiveTime::MIN));
    super::schedule::resolve(zone, eight).unwrap_or(at)
}

/// Whether a touch due at `at` must wait, and until when: `None` to send it now; else the time it may
/// go and why. `day_full` says the local day of `at` already had its cap of touches.
pub fn hold(at: DateTime<Utc>, zone: Tz, day_full: bool) -> Option<(DateTime<Utc>, &'static str)> {
    let hour = at.with_timezone(&zone).hour();
    if hour < QUIET_UNTIL {
        return Some((
            morning(at, zone, false),
            "the customer's quiet hours (21:00-08:00)",
        ));
    }
    if hour >= QUIET_FROM {
        return Some((
            morning(at, zone, true),
            "the customer's quiet hours (21:00-08:00)",
        ));
    }
    day_full.then(|| (morning(at, zone, true), "the daily cap of messages"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Africa::Lagos;

    fn lagos(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Lagos
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn situation(created: DateTime<Utc>, expires: DateTime<Utc>) -> Situation {
        Situation {
            created_at: created,
            expires_at: expires,
            zone: Lagos,
            reachable: vec!["sms", "email"],
            pays_promptly: false,
            learned: Default::default(),
        }
    }

    fn local_hours(steps: &[Step]) -> Vec<u32> {
        steps
            .iter()
            .map(|s| s.at.with_timezone(&Lagos).hour())
            .collect()
    }

    #[test]
    fn the_merchants_cadence_counts_from_its_start_and_stops_before_expiry() {
        let created = lagos(2027, 3, 1, 10, 0);
        let expires = created + Duration::hours(1);
        let every = cadence("every_10m").unwrap();
        let first = next_send(created, expires, 20, every, None).unwrap();
        assert_eq!(first, created + Duration::minutes(20));
        // A send that went out late does not push the next one back.
        let late = first + Duration::minutes(3);
        assert_eq!(
            next_send(created, expires, 20, every, Some(late)),
            Some(created + Duration::minutes(30))
        );
        let fifty = created + Duration::minutes(50);
        assert_eq!(
            next_send(created, expires, 20, every, Some(fifty)),
            None,
            "60 minutes is the expiry"
        );
        assert_eq!(next_send(created, expires, 90, every, None), None);
        // Held off the grid (to 08:00, say), the next comes at least half a cadence later.
        let held = first + Duration::minutes(9) + Duration::seconds(59);
        assert_eq!(
            next_send(created, expires, 20, every, Some(held)),
            Some(created + Duration::minutes(40))
        );
        assert_eq!(cadence("daily"), Some(Duration::days(1)));
        assert_eq!(cadence("hourly"), None);
    }

    #[test]
    fn three_days_escalate_from_gentle_to_urgent_in_waking_hours() {
        let created = lagos(2027, 3, 1, 10, 0);
        let steps = default_plan(&situation(created, created + Duration::days(3)));
        let tones: Vec<&str> = steps.iter().map(|s| s.tone).collect();
        assert_eq!(tones, ["gentle", "professional", "urgent", "urgent"]);
        let channels: Vec<&str> = steps.iter().map(|s| s.channel).collect();
        assert_eq!(channels, ["sms", "sms", "sms", "email"]);
        for step in &steps {
            let hour = step.at.with_timezone(&Lagos).hour();
            assert!((8..21).contains(&hour), "{step:?}");
            assert!(step.at > created && step.at < created + Duration::days(3));
        }
        // 20% of 72 h is 14.4 h after 10:00: 00:24, quiet, so 08:00.
        assert_eq!(steps[0].at, lagos(2027, 3, 2, 8, 0));
        assert!(steps[0].why.contains("quiet hours"), "{}", steps[0].why);
        // 60%: 05:12 two days later; 90%: 02:48 the day of expiry; both wait for 08:00.
        assert_eq!(local_hours(&steps), [8, 8, 8, 8]);
        assert_eq!(steps[2].at, lagos(2027, 3, 4, 8, 0));

        // Two touches that land on one morning are one message, in the stronger tone.
        // (Created 21:00, due 09:00: 30% is 00:36 and 80% 06:36, both quiet until 08:00.)
        let created = lagos(2027, 3, 1, 21, 0);
        let steps = default_plan(&situation(created, lagos(2027, 3, 2, 9, 0)));
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.at, s.channel, s.tone))
                .collect::<Vec<_>>(),
            [
                (lagos(2027, 3, 2, 8, 0), "sms", "urgent"),
                (lagos(2027, 3, 2, 8, 0), "email", "urgent")
            ]
        );
    }

    #[test]
    fn a_prompt_payer_gets_no_gentle_nudge_and_whatsapp_comes_first_when_allowed() {
        let created = lagos(2027, 3, 1, 9, 0);
        let mut s = situation(created, created + Duration::hours(10));
        s.pays_promptly = true;
        s.reachable = vec!["email", "whatsapp", "sms"];
        let steps = default_plan(&s);
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.channel, s.tone))
                .collect::<Vec<_>>(),
            [("whatsapp", "urgent"), ("email", "urgent")]
        );
        assert_eq!(steps[0].at, created + Duration::hours(8));
    }

    #[test]
    fn a_short_window_at_night_moves_before_quiet_hours_or_is_dropped() {
        // Created 20:00, expires 23:00: halfway is 21:30 (quiet); 08:00 is after expiry; 20:45 fits.
        let created = lagos(2027, 3, 1, 20, 0);
        let steps = default_plan(&situation(created, lagos(2027, 3, 1, 22, 0)));
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].at, lagos(2027, 3, 1, 20, 45));
        assert_eq!(steps[0].tone, "professional");
        // Created 21:00: 20:45 was before it existed; nothing is sent rather than a message at night.
        let created = lagos(2027, 3, 1, 21, 0);
        assert!(default_plan(&situation(created, lagos(2027, 3, 1, 23, 0))).is_empty());
    }

    #[test]
    fn a_month_is_four_touches_and_nobody_is_messaged_without_a_channel() {
        let created = lagos(2027, 3, 1, 12, 0);
        let s = situation(created, created + Duration::days(30));
        let steps = default_plan(&s);
        assert_eq!(steps.len(), 5, "four touches, the last also by email");
        assert!(steps.len() <= MAX_MESSAGES);
        assert_eq!(steps[0].at, created + Duration::days(1));
        assert_eq!(steps[3].at, created + Duration::days(29));
        let mut nobody = s.clone();
        nobody.reachable.clear();
        assert!(default_plan(&nobody).is_empty());
    }

    #[test]
    fn a_touch_in_quiet_hours_or_on_a_full_day_waits_for_the_morning() {
        assert_eq!(hold(lagos(2027, 3, 1, 14, 0), Lagos, false), None);
        let (at, why) = hold(lagos(2027, 3, 1, 21, 0), Lagos, false).unwrap();
        assert_eq!(at, lagos(2027, 3, 2, 8, 0));
        assert!(why.contains("quiet"));
        assert_eq!(
            hold(lagos(2027, 3, 2, 7, 59), Lagos, false).unwrap().0,
            lagos(2027, 3, 2, 8, 0)
        );
        let (at, why) = hold(lagos(2027, 3, 1, 14, 0), Lagos, true).unwrap();
        assert_eq!(at, lagos(2027, 3, 2, 8, 0));
        assert!(why.contains("cap"));
        // London's spring-forward day is 23 hours long; 08:00 still exists.
        let london = chrono_tz::Europe::London;
        let noon = london
            .with_ymd_and_hms(2027, 3, 28, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = local_day(noon, london);
        assert_eq!(end - start, Duration::hours(23));
        assert_eq!(
            hold(
                london
                    .with_ymd_and_hms(2027, 3, 28, 0, 30, 0)
                    .unwrap()
                    .with_timezone(&Utc),
                london,
                false
            )
            .unwrap()
            .0,
            london
                .with_ymd_and_hms(2027, 3, 28, 8, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        );
    }

    #[test]
    fn a_stored_plan_reads_back_as_touches() {
        let created = lagos(2027, 3, 1, 10, 0);
        let expires = created + Duration::days(3);
        let plan = Plan::read(Some(&serde_json::json!({
            "enabled": true, "startAfter": 20, "cadence": "every_10m",
            "channels": ["whatsapp", "sms"], "tone": "gentle"
        })));
        let first = plan.touch(1, created, expires, None).unwrap();
        assert_eq!(first.at, created + Duration::minutes(20));
        assert_eq!(first.channels, ["whatsapp", "sms"]);
        assert_eq!(first.tone, "gentle");
        let second = plan.touch(2, created, expires, Some(first.at)).unwrap();
        assert_eq!(second.at, created + Duration::minutes(30));
        assert_eq!(
            Plan::read(Some(&serde_json::json!({"enabled": false}))),
            Plan::Off
        );
        assert_eq!(Plan::read(None).touch(1, created, expires, None), None);

        let steps = default_plan(&situation(created, expires));
        let planned = Plan::read(Some(&planned_json(&steps, &[])));
        let Plan::Steps(touches) = &planned else {
            panic!("{planned:?}")
        };
        assert_eq!(
            touches.len(),
            3,
            "the last step and its email are one touch"
        );
        assert_eq!(touches[2].channels, ["sms", "email"]);
        assert_eq!(
            planned.touch(1, created, expires, None).unwrap().at,
            steps[0].at
        );
        assert_eq!(planned.touch(4, created, expires, None), None);
        // A first touch held to a later morning holds the next one back too.
        let late = touches[1].at + Duration::hours(1);
        assert_eq!(
            planned.touch(2, created, expires, Some(late)).unwrap().at,
            late
        );
    }

    #[test]
    fn what_a_merchant_learned_changes_the_channel_the_opening_and_the_hours() {
        let created = lagos(2027, 3, 1, 9, 0);
        let mut s = situation(created, created + Duration::days(3));
        s.reachable = vec!["sms", "email"];
        s.learned = crate::domain::learning::Preference {
            channel: Some("email".into()),
            skip_gentle: true,
            band_start: Some(17),
            why: vec!["email worked best".into()],
        };
        let steps = default_plan(&s);
        assert!(steps.iter().all(|st| st.channel == "email"), "{steps:?}");
        assert!(steps.iter().all(|st| st.tone != "gentle"), "{steps:?}");
        // Each touch moves to the evening of its day — but the last, whose evening is after expiry.
        let (last, rest) = steps.split_last().unwrap();
        for step in rest {
            let hour = step.at.with_timezone(&Lagos).hour();
            assert!((17..21).contains(&hour), "{step:?}");
        }
        assert!(last.at < created + Duration::days(3));
        // A learned channel the customer cannot be reached on is not used.
        s.learned.channel = Some("whatsapp".into());
        assert!(default_plan(&s)
            .iter()
            .all(|st| st.channel == "sms" || st.channel == "email"));
    }

    #[test]
    fn no_local_day_gets_more_than_two() {
        // 20 h from 08:30: 30% = 14:30, 80% = 00:30 → 08:00 next day; then at most two a day anyway.
        let created = lagos(2027, 3, 1, 8, 30);
        let steps = default_plan(&situation(created, created + Duration::hours(20)));
        let mut per_day = std::collections::HashMap::new();
        for step in steps.iter().filter(|s| s.channel == "sms") {
            *per_day
                .entry(step.at.with_timezone(&Lagos).date_naive())
                .or_insert(0) += 1;
        }
        assert!(per_day.values().all(|n| *n <= MAX_PER_DAY), "{steps:?}");
    }
}

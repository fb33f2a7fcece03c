//! How Cowry's default follow-up strategy learns from a merchant's own history. Pure: counts in,
//! preferences out.
//!
//! Every message sent is a trial of an **arm** — its channel, its tone, and the customer's local hour
//! band when it went (morning 08–12, afternoon 12–17, evening 17–21) — and a success when the
//! collection was paid within [`WINDOW_HOURS`] after it. Each arm's success rate is estimated as the
//! mean of a Beta(1 + paid, 1 + unpaid) posterior (a uniform prior: an arm with no data is 50%, and a
//! handful of lucky sends cannot dominate). Once a merchant has [`MIN_TRIALS`] trials in all, the planner
//! prefers, for each of channel, first tone and hour band, the option with the highest estimate among
//! those with at least [`MIN_ARM_TRIALS`]; with fewer it keeps its defaults. One plan in
//! [`EXPLORE_ONE_IN`] ignores what was learned (chosen from the collection id, so it is reproducible),
//! so every option keeps being tried and a preference can change when customers do.

use std::collections::BTreeMap;

/// A payment this long after a message counts as following it.
pub const WINDOW_HOURS: i64 = 24;
/// Trials of the merchant (all arms) before anything learned is used.
pub const MIN_TRIALS: u32 = 30;
/// Trials of one option before it can be preferred.
pub const MIN_ARM_TRIALS: u32 = 10;
/// One plan in this many explores (uses the defaults).
pub const EXPLORE_ONE_IN: u32 = 5;

/// Hour bands of the customer's local day a message can go in.
pub const BANDS: [(&str, u32, u32); 3] = [
    ("morning", 8, 12),
    ("afternoon", 12, 17),
    ("evening", 17, 21),
];

/// The band a local hour falls in (`None` in quiet hours).
pub fn band_of(hour: u32) -> Option<&'static str> {
    BANDS
        .iter()
        .find(|(_, from, to)| (*from..*to).contains(&hour))
        .map(|(name, ..)| *name)
}

/// Trials of one arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub channel: String,
    pub tone: String,
    pub band: String,
    pub sent: u32,
    pub paid: u32,
}

/// The posterior mean of Beta(1 + paid, 1 + sent − paid).
pub fn estimate(sent: u32, paid: u32) -> f64 {
    (1.0 + f64::from(paid.min(sent))) / (2.0 + f64::from(sent))
}

/// What the planner should prefer, and why (shown in the plan).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preference {
    pub channel: Option<String>,
    /// `professional` when it beat `gentle` as an opening: the plan skips the gentle nudge.
    pub skip_gentle: bool,
    /// The band's first hour.
    pub band_start: Option<u32>,
    pub why: Vec<String>,
}

/// Whether the plan for this collection explores (ignores what was learned).
pub fn explores(collection_id: &str) -> bool {
    let sum: u32 = collection_id.bytes().map(u32::from).sum();
    sum.is_multiple_of(EXPLORE_ONE_IN)
}

/// The best option along one dimension (`key` picks it from an arm), if one has enough trials.
fn best<'a>(
    arms: &'a [Arm],
    key: impl Fn(&'a Arm) -> &'a str,
    allowed: impl Fn(&str) -> bool,
) -> Option<(&'a str, f64, u32)> {
    let mut totals: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for arm in arms {
        let entry = totals.entry(key(arm)).or_default();
        entry.0 += arm.sent;
        entry.1 += arm.paid;
    }
    totals
        .into_iter()
        .filter(|(option, (sent, _))| *sent >= MIN_ARM_TRIALS && allowed(option))
        .map(|(option, (sent, paid))| (option, estimate(sent, paid), sent))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(a.0)))
}

/// What to prefer for a customer reachable on `reachable`, from the merchant's arms.
pub fn prefer(arms: &[Arm], reachable: &[&str], explore: bool) -> Preference {
    let total: u32 = arms.iter().map(|a| a.sent).sum();
    if explore || total < MIN_TRIALS {
        return Preference::default();
    }
    let mut found = Preference::default();
    let percent = |p: f64| (p * 100.0).round();
    if let Some((channel, p, n)) = best(arms, |a| &a.channel, |c| reachable.contains(&c)) {
        found.channel = Some(channel.to_owned());
        found.why.push(format!(
            "{channel} worked best for this merchant ({}% paid within a day, {n} sent)",
            percent(p)
        ));
    }
    let openings: Vec<Arm> = arms
        .iter()
        .filter(|a| a.tone == "gentle" || a.tone == "professional")
        .cloned()
        .collect();
    if let Some(("professional", p, n)) = best(&openings, |a| &a.tone, |_| true) {
        found.skip_gentle = true;
        found.why.push(format!(
            "a professional opening beat a gentle one ({}%, {n} sent)",
            percent(p)
        ));
    }
    if let Some((band, p, n)) = best(arms, |a| &a.band, |_| true) {
        found.band_start = BANDS
            .iter()
            .find(|(name, ..)| *name == band)
            .map(|(_, from, _)| *from);
        found.why.push(format!(
            "the {band} worked best ({}%, {n} sent)",
            percent(p)
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(channel: &str, tone: &str, band: &str, sent: u32, paid: u32) -> Arm {
        Arm {
            channel: channel.into(),
            tone: tone.into(),
            band: band.into(),
            sent,
            paid,
        }
    }

    #[test]
    fn the_estimate_starts_at_a_half_and_follows_the_evidence() {
        assert_eq!(estimate(0, 0), 0.5);
        assert!((estimate(10, 9) - 10.0 / 12.0).abs() < 1e-9);
        // Two lucky sends do not beat a long good record.
        assert!(estimate(2, 2) < estimate(100, 80));
    }

    #[test]
    fn nothing_is_preferred_before_there_is_enough_data_or_while_exploring() {
        let few = [arm("email", "urgent", "evening", 20, 20)];
        assert_eq!(
            prefer(&few, &["sms", "email"], false),
            Preference::default()
        );
        let enough = [
            arm("email", "urgent", "evening", 40, 30),
            arm("sms", "gentle", "morning", 40, 4),
        ];
        assert_eq!(
            prefer(&enough, &["sms", "email"], true),
            Preference::default()
        );
    }

    #[test]
    fn what_worked_is_preferred_among_what_can_reach_the_customer() {
        let arms = [
            arm("whatsapp", "professional", "evening", 50, 35),
            arm("sms", "gentle", "morning", 60, 12),
            arm("sms", "professional", "afternoon", 40, 14),
            arm("email", "urgent", "afternoon", 5, 5),
        ];
        let p = prefer(&arms, &["sms", "email"], false);
        assert_eq!(
            p.channel.as_deref(),
            Some("sms"),
            "WhatsApp is not reachable; email has too few trials"
        );
        assert!(p.skip_gentle);
        assert_eq!(p.band_start, Some(17));
        assert_eq!(p.why.len(), 3);
        let p = prefer(&arms, &["whatsapp", "sms", "email"], false);
        assert_eq!(p.channel.as_deref(), Some("whatsapp"));
    }

    #[test]
    fn about_one_plan_in_five_explores() {
        let exploring = (0..1000)
            .filter(|i| explores(&format!("pay_{i:026}")))
            .count();
        assert!((150..=250).contains(&exploring), "{exploring}");
        assert_eq!(band_of(9), Some("morning"));
        assert_eq!(band_of(22), None);
    }
}

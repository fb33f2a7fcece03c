//! What the customer is told before a scheduled (`MONA`) debit: who will debit how much, when, and
//! under which reference — so a debit never comes as a surprise, and the customer can fund the account
//! or talk to the merchant first. Facts arrive formatted; nothing here reads a clock or a database.

use super::reminder::Email;
use super::sms;

#[derive(Debug, Clone)]
pub struct Notice<'a> {
    pub merchant: &'a str,
    pub first_name: Option<&'a str>,
    /// `NGN 5,000.00`
    pub amount: &'a str,
    /// `30 Nov, 09:00`
    pub when: &'a str,
    pub reference: &'a str,
}

/// The SMS: the richest text that fits one GSM-7 part.
pub fn sms(n: &Notice<'_>) -> String {
    let name = n.first_name.map(|f| format!("{f}, ")).unwrap_or_default();
    let candidates = [
        format!(
            "{name}{} will debit {} from your account on {} as you authorised (ref {}). Please keep it funded.",
            n.merchant, n.amount, n.when, n.reference
        ),
        format!(
            "{name}{} will debit {} from your account on {} (ref {}).",
            n.merchant, n.amount, n.when, n.reference
        ),
        format!("{} will debit {} on {}.", n.merchant, n.amount, n.when),
    ]
    .map(|c| sms::gsm_friendly(&c));
    candidates
        .iter()
        .find(|c| sms::length(c).parts == 1)
        .unwrap_or(&candidates[2])
        .clone()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The email: subject, plain text and (escaped) HTML.
pub fn email(n: &Notice<'_>) -> Email {
    let subject = format!("{} will debit {} on {}", n.merchant, n.amount, n.when);
    let greeting = match n.first_name {
        Some(name) => format!("Hello {name},"),
        None => "Hello,".to_owned(),
    };
    let lines = [
        format!(
            "{} will debit {} from your account on {}, as you authorised.",
            n.merchant, n.amount, n.when
        ),
        format!("Reference: {}", n.reference),
        "Please make sure the account is funded. To change or cancel the schedule, contact the merchant."
            .to_owned(),
    ];
    let text = format!("{greeting}\n\n{}\n\n{}\n", lines.join("\n\n"), n.merchant);
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body><p>{}</p>{}<p>{}</p></body></html>",
        escape(&subject),
        escape(&greeting),
        lines.iter().map(|l| format!("<p>{}</p>", escape(l))).collect::<String>(),
        escape(n.merchant)
    );
    Email {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice<'static> {
        Notice {
            merchant: "Acme <Loans>",
            first_name: Some("Ada"),
            amount: "NGN 5,000.00",
            when: "30 Nov, 09:00",
            reference: "LN-2207",
        }
    }

    #[test]
    fn a_notice_says_who_how_much_when_and_the_reference() {
        let text = sms(&notice());
        assert!(
            text.contains("NGN 5,000.00")
                && text.contains("30 Nov, 09:00")
                && text.contains("LN-2207")
        );
        assert_eq!(sms::length(&text).parts, 1, "{text}");
        let email = email(&notice());
        assert!(email
            .subject
            .contains("Acme <Loans> will debit NGN 5,000.00"));
        assert!(email.text.contains("Reference: LN-2207"));
        assert!(email.html.contains("Acme &lt;Loans&gt;") && !email.html.contains("<Loans>"));
    }
}

//! What a follow-up says, per tone and channel (English; a language is one more set of these texts):
//! who is asking, how much, what for, by when, and how to pay. Amounts and dates arrive formatted for
//! the customer (their currency, their time zone); nothing here reads a clock or a database.
//!
//! - **SMS**: the richest text that fits one GSM-7 part (`notify::sms`), dropping what the customer
//!   can do without first (the purpose, then the other ways to pay, then the greeting); if even the
//!   leanest does not fit, it is sent as one concatenated message.
//! - **Email**: a subject, a plain-text part and an HTML part (escaped: a merchant's name or a purpose
//!   cannot inject markup).
//! - **WhatsApp**: business-initiated messages must be pre-approved templates, so each tone is a named
//!   template whose body parameters are, in order, the merchant, the amount, the due date and the link.

use askama::Template;

use super::sms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Gentle,
    Professional,
    Urgent,
}

impl Tone {
    pub fn parse(text: &str) -> Option<Tone> {
        match text {
            "gentle" => Some(Tone::Gentle),
            "professional" => Some(Tone::Professional),
            "urgent" => Some(Tone::Urgent),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Gentle => "gentle",
            Tone::Professional => "professional",
            Tone::Urgent => "urgent",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BankTransfer<'a> {
    pub bank: &'a str,
    pub account_number: &'a str,
    pub account_name: &'a str,
}

/// The facts of one reminder, formatted for the customer.
#[derive(Debug, Clone)]
pub struct Reminder<'a> {
    pub merchant: &'a str,
    pub first_name: Option<&'a str>,
    /// `NGN 5,000.00`
    pub amount: &'a str,
    pub purpose: Option<&'a str>,
    /// `30 Nov, 18:00`
    pub due: &'a str,
    pub link: Option<&'a str>,
    pub bank: Option<BankTransfer<'a>>,
    /// The mobile-money instruction (`approve the prompt on 0803…`).
    pub mobile_money: Option<&'a str>,
}

fn greeting(tone: Tone, first_name: Option<&str>) -> String {
    match (tone, first_name) {
        (Tone::Urgent, Some(name)) => format!("{name},"),
        (_, Some(name)) => format!("Hello {name},"),
        (Tone::Urgent, None) => String::new(),
        (_, None) => "Hello,".to_owned(),
    }
}

fn ask(tone: Tone, r: &Reminder<'_>) -> String {
    match tone {
        Tone::Gentle => format!(
            "A friendly reminder: {} is waiting for your payment of {}.",
            r.merchant, r.amount
        ),
        Tone::Professional => format!(
            "{} requests payment of {}, due {}.",
            r.merchant, r.amount, r.due
        ),
        Tone::Urgent => format!(
            "Your payment of {} to {} is due {}. Please pay now.",
            r.amount, r.merchant, r.due
        ),
    }
}

fn closing(tone: Tone) -> &'static str {
    match tone {
        Tone::Gentle => "Thank you!",
        Tone::Professional => "Kind regards,",
        Tone::Urgent => "Thank you,",
    }
}

/// The SMS text. Candidates go from the richest to the leanest; the first that fits one GSM-7 part wins.
pub fn sms(tone: Tone, r: &Reminder<'_>) -> String {
    let lead = match tone {
        Tone::Gentle => format!("a reminder: {} is due to {}", r.amount, r.merchant),
        Tone::Professional => format!("{} requests {}", r.merchant, r.amount),
        Tone::Urgent => format!("URGENT: please pay {} to {}", r.amount, r.merchant),
    };
    let name = r.first_name.map(|n| format!("{n}, ")).unwrap_or_default();
    let bare_lead = capitalized(&lead);
    let purpose = r.purpose.map(|p| format!(" for {p}")).unwrap_or_default();
    let by = format!(" by {}.", r.due);
    let pay = r
        .link
        .map(|l| format!(" Pay: {l}"))
        .or_else(|| {
            r.bank
                .as_ref()
                .map(|b| format!(" Transfer to {} {}", b.bank, b.account_number))
        })
        .or_else(|| r.mobile_money.map(|m| format!(" {m}")))
        .unwrap_or_default();
    let also_bank = match (&r.link, &r.bank) {
        (Some(_), Some(b)) => format!(" or transfer to {} {}", b.bank, b.account_number),
        _ => String::new(),
    };
    let candidates = [
        format!("{name}{lead}{purpose}{by}{pay}{also_bank}"),
        format!("{name}{lead}{by}{pay}{also_bank}"),
        format!("{name}{lead}{by}{pay}"),
        format!("{bare_lead}{by}{pay}"),
    ];
    let candidates = candidates.map(|c| sms::gsm_friendly(&c));
    candidates
        .iter()
        .find(|c| {
            let length = sms::length(c);
            length.encoding == sms::Encoding::Gsm7 && length.parts == 1
        })
        .or_else(|| candidates.iter().find(|c| sms::length(c).parts == 1))
        .unwrap_or(&candidates[3])
        .clone()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What both parts of an email say.
struct Body<'a> {
    greeting: String,
    ask: String,
    amount: &'a str,
    purpose: Option<&'a str>,
    due: &'a str,
    link: Option<&'a str>,
    bank: Option<BankTransfer<'a>>,
    mobile_money: Option<&'a str>,
    closing: &'a str,
    merchant: &'a str,
}

#[derive(Template)]
#[template(path = "notify/reminder.txt")]
struct Text<'a> {
    b: &'a Body<'a>,
}

#[derive(Template)]
#[template(path = "notify/reminder.html")]
struct Html<'a> {
    subject: &'a str,
    b: &'a Body<'a>,
}

pub fn email(tone: Tone, r: &Reminder<'_>) -> Result<Email, askama::Error> {
    let subject = match tone {
        Tone::Gentle => format!("A reminder from {}: {} due {}", r.merchant, r.amount, r.due),
        Tone::Professional => format!("Payment request from {}: {}", r.merchant, r.amount),
        Tone::Urgent => format!("Payment due {}: {} to {}", r.due, r.amount, r.merchant),
    };
    let body = Body {
        greeting: greeting(tone, r.first_name),
        ask: ask(tone, r),
        amount: r.amount,
        purpose: r.purpose,
        due: r.due,
        link: r.link,
        bank: r.bank.clone(),
        mobile_money: r.mobile_money,
        closing: closing(tone),
        merchant: r.merchant,
    };
    let text = Text { b: &body }.render()?;
    let html = Html {
        subject: &subject,
        b: &body,
    }
    .render()?;
    Ok(Email {
        subject,
        text: text.trim().to_owned() + "\n",
        html,
    })
}

/// A pre-approved WhatsApp template and its body parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsApp {
    /// The merchant's approved template name for the tone (their channel settings may rename it).
    pub template: String,
    pub language: &'static str,
    /// In order: merchant, amount, due date, link (or the transfer details when there is no link).
    pub parameters: Vec<String>,
}

/// Default template names: `cowry_reminder_gentle`, `…_professional`, `…_urgent`.
pub fn whatsapp(tone: Tone, r: &Reminder<'_>) -> WhatsApp {
    let how = r
        .link
        .map(str::to_owned)
        .or_else(|| {
            r.bank
                .as_ref()
                .map(|b| format!("{} {} ({})", b.bank, b.account_number, b.account_name))
        })
        .or_else(|| r.mobile_money.map(str::to_owned))
        .unwrap_or_default();
    WhatsApp {
        template: format!("cowry_reminder_{}", tone.as_str()),
        language: "en",
        parameters: vec![
            r.merchant.to_owned(),
            r.amount.to_owned(),
            r.due.to_owned(),
            how,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TONES: [Tone; 3] = [Tone::Gentle, Tone::Professional, Tone::Urgent];

    fn reminder() -> Reminder<'static> {
        Reminder {
            merchant: "Acme Stores",
            first_name: Some("Ada"),
            amount: "NGN 5,000.00",
            purpose: Some("Order #1001"),
            due: "30 Nov, 18:00",
            link: Some("https://cowry.example/pay/4kq9d2"),
            bank: None,
            mobile_money: None,
        }
    }

    #[test]
    fn each_tone_fits_one_gsm7_sms_and_says_who_how_much_by_when_and_how() {
        for tone in TONES {
            let text = sms(tone, &reminder());
            let length = sms::length(&text);
            assert_eq!(
                (length.encoding, length.parts),
                (sms::Encoding::Gsm7, 1),
                "{tone:?}: {text}"
            );
            for fact in [
                "Acme Stores",
                "NGN 5,000.00",
                "30 Nov, 18:00",
                "https://cowry.example/pay/4kq9d2",
            ] {
                assert!(text.contains(fact), "{tone:?} lacks {fact}: {text}");
            }
        }
        assert_eq!(
            sms(Tone::Gentle, &reminder()),
            "Ada, a reminder: NGN 5,000.00 is due to Acme Stores for Order #1001 by 30 Nov, 18:00. \
             Pay: https://cowry.example/pay/4kq9d2"
        );
        assert!(sms(Tone::Urgent, &reminder()).starts_with("Ada, URGENT: please pay"));
    }

    #[test]
    fn what_does_not_fit_is_dropped_in_order_and_a_long_text_is_one_concatenated_message() {
        let mut long = reminder();
        long.purpose =
            Some("the spring wholesale restock of forty-two assorted items for the Ikeja shop");
        let text = sms(Tone::Professional, &long);
        assert!(
            !text.contains("wholesale"),
            "the purpose goes first: {text}"
        );
        assert!(text.contains("https://cowry.example/pay/4kq9d2"));
        assert_eq!(sms::length(&text).parts, 1);

        let mut huge = reminder();
        huge.merchant = "The Very Long Registered Business Name of a Lagos Wholesale and Retail Distribution Company Limited";
        let text = sms(Tone::Gentle, &huge);
        assert!(sms::length(&text).parts > 1);
        assert!(
            text.starts_with("A reminder:"),
            "the leanest text has no name: {text}"
        );
        assert!(text.contains(huge.merchant) && text.contains("30 Nov, 18:00"));
    }

    #[test]
    fn without_a_link_the_sms_gives_the_account_to_pay_into() {
        let mut r = reminder();
        r.link = None;
        r.bank = Some(BankTransfer {
            bank: "Wema Bank",
            account_number: "9876543210",
            account_name: "Acme Stores/Ada Obi",
        });
        let text = sms(Tone::Gentle, &r);
        assert!(text.contains("Wema Bank 9876543210"), "{text}");
        assert_eq!(sms::length(&text).parts, 1);
    }

    #[test]
    fn typographic_quotes_do_not_make_an_sms_ucs2() {
        let mut r = reminder();
        r.merchant = "Ada’s Kitchen";
        let text = sms(Tone::Gentle, &r);
        assert!(text.contains("Ada's Kitchen"));
        assert_eq!(sms::encoding(&text), sms::Encoding::Gsm7);
    }

    #[test]
    fn an_email_has_a_subject_a_text_part_and_an_escaped_html_part() {
        let mut r = reminder();
        r.merchant = "Acme <Stores> & Co";
        r.bank = Some(BankTransfer {
            bank: "Wema Bank",
            account_number: "9876543210",
            account_name: "Acme Stores/Ada Obi",
        });
        for tone in TONES {
            let email = email(tone, &r).unwrap();
            assert!(
                email.subject.contains("Acme <Stores> & Co")
                    && email.subject.contains("NGN 5,000.00")
            );
            for fact in [
                "Acme <Stores> & Co",
                "NGN 5,000.00",
                "Order #1001",
                "30 Nov, 18:00",
                "https://cowry.example/pay/4kq9d2",
                "Wema Bank",
                "9876543210",
            ] {
                assert!(
                    email.text.contains(fact),
                    "{tone:?} text lacks {fact}: {}",
                    email.text
                );
            }
            assert!(
                email.html.contains("Acme &#60;Stores&#62; &#38; Co")
                    || email.html.contains("Acme &lt;Stores&gt; &amp; Co"),
                "{}",
                email.html
            );
            assert!(!email.html.contains("<Stores>"));
            assert!(email
                .html
                .contains("href=\"https://cowry.example/pay/4kq9d2\""));
        }
        assert!(email(Tone::Gentle, &r)
            .unwrap()
            .text
            .starts_with("Hello Ada,"));
    }

    #[test]
    fn whatsapp_names_the_tone_template_and_orders_its_parameters() {
        let message = whatsapp(Tone::Urgent, &reminder());
        assert_eq!(message.template, "cowry_reminder_urgent");
        assert_eq!(
            message.parameters,
            [
                "Acme Stores",
                "NGN 5,000.00",
                "30 Nov, 18:00",
                "https://cowry.example/pay/4kq9d2"
            ]
        );
        assert_eq!(Tone::parse("gentle"), Some(Tone::Gentle));
        assert_eq!(Tone::parse("shouty"), None);
    }
}

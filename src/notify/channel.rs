//! The one trait every follow-up channel is behind, and what a send came to. A channel sends one
//! message to one recipient and says whether it went, was refused for good, failed in a way worth
//! another try, or may have gone (the answer was lost): the caller never sends that one again.

use async_trait::async_trait;

/// One message, as stored in its row.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// E.164 for SMS and WhatsApp, an address for email.
    pub to: String,
    pub subject: Option<String>,
    /// SMS: the text. Email: the plain-text part. WhatsApp: the template's rendered text (for the
    /// merchant's record; WhatsApp sends the template).
    pub body: String,
    /// Email: the HTML part.
    pub html: Option<String>,
    /// WhatsApp: `{name, language, parameters}`.
    pub template: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// The channel's id for the message, for matching delivery reports.
    pub provider_message_id: Option<String>,
    /// SMS parts billed.
    pub parts: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Refused for good (a bad number, an opted-out recipient, bad credentials): not retried.
    #[error("refused: {0}")]
    Refused(String),
    /// Not sent, and another try may go through (the channel unreachable, its own 5xx, a rate limit).
    #[error("not sent, retryable: {0}")]
    Retryable(String),
    /// The request went and its answer was lost: it may have been sent. Never sent again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

#[async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError>;
}

/// A reqwest failure: a connection never made is retryable; one that may have carried the request is
/// unknown.
pub fn transport_error(e: &reqwest::Error) -> SendError {
    let text = e.to_string();
    if e.is_connect() || e.is_builder() {
        SendError::Retryable(text)
    } else {
        SendError::Unknown(text)
    }
}

/// Whether a customer's reply asks to stop messages: the usual keywords, alone, in any case.
pub fn is_stop_word(text: &str) -> bool {
    let word: String = text
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation())
        .to_ascii_uppercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    matches!(
        word.as_str(),
        "STOP"
            | "STOPALL"
            | "STOP ALL"
            | "UNSUBSCRIBE"
            | "CANCEL"
            | "END"
            | "QUIT"
            | "OPTOUT"
            | "OPT OUT"
    )
}

#[cfg(test)]
mod tests {
    use super::is_stop_word;

    #[test]
    fn stop_words_are_recognised_alone_in_any_case() {
        for text in [
            "STOP",
            "stop",
            " Stop. ",
            "unsubscribe",
            "opt out",
            "STOP ALL",
        ] {
            assert!(is_stop_word(text), "{text}");
        }
        for text in ["don't stop", "stopped", "", "please call me"] {
            assert!(!is_stop_word(text), "{text}");
        }
    }
}

//! Email over SMTP with `lettre`: `smtp://host:port` (plain, for a local relay or a test server),
//! `smtp://…?tls=required` (STARTTLS), `smtps://host` (TLS from the start), with `user:password@` for
//! authentication — the URL forms `lettre` reads. Each message has a subject, a plain-text part and an
//! HTML part (`multipart/alternative`).

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::channel::{Channel, Outgoing, SendError, Sent};

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Email {
    /// `None` with the reason when the URL or the from-address cannot be used.
    pub fn new(smtp_url: &str, from: &str) -> Result<Email, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| format!("the SMTP URL cannot be used: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("the from-address cannot be used: {e}"))?;
        Ok(Email { transport, from })
    }

    fn message(&self, message: &Outgoing) -> Result<Message, SendError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| SendError::Refused(format!("the address cannot be used: {e}")))?;
        let html = message.html.clone().unwrap_or_else(|| message.body.clone());
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .multipart(MultiPart::alternative_plain_html(
                message.body.clone(),
                html,
            ))
            .map_err(|e| SendError::Refused(e.to_string()))
    }
}

#[async_trait::async_trait]
impl Channel for Email {
    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError> {
        let email = self.message(message)?;
        let id = email
            .headers()
            .get_raw("Message-ID")
            .map(|id| id.trim_matches(['<', '>']).to_owned());
        match self.transport.send(email).await {
            Ok(_) => Ok(Sent {
                provider_message_id: id,
                parts: None,
            }),
            Err(e) if e.is_permanent() => Err(SendError::Refused(e.to_string())),
            // A server that stopped answering mid-conversation may have taken the message.
            Err(e) if e.is_timeout() => Err(SendError::Unknown(e.to_string())),
            // "Try later", a server never reached, a TLS failure: nothing was accepted.
            Err(e) => Err(SendError::Retryable(e.to_string())),
        }
    }
}

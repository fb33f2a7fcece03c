//! Mona scheduled direct-debit mandates: `POST /collections` with `x-api-key`, amounts in kobo strings,
//! and dates without an offset, which Mona reads in Lagos time (UTC+1 all year: Nigeria keeps no daylight
//! saving). The customer then consents in Mona's SDK with the returned id.
//!
//! Only creation is in the sources available (`shared/providers/README.md` §2): the merchant-debit
//! trigger, the full status list, webhooks and their signature, and what a reused reference does are
//! not documented, so this adapter does not guess them.

pub mod wire;

use chrono::{DateTime, FixedOffset, Utc};
use reqwest::StatusCode;

use super::http::{ProviderHttp, Safety};
use super::ProviderError;
use crate::config::Secret;
use crate::domain::currency::Currency;
use crate::domain::money::Money;

pub const NAME: &str = "mona";
pub const LIVE_BASE_URL: &str = "https://api.mona.ng";
/// Naira direct-debit mandates; webhooks and their signing are not documented.
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    methods: &[],
    currencies: &["NGN"],
    countries: &["NG"],
    mandates: true,
    signed_callbacks: false,
    amount_unit: super::AmountUnit::Minor,
};

/// Who triggers each debit: the merchant (within the consented limits) or Mona on the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebitType {
    Merchant,
    Mona,
}

#[derive(Debug, Clone)]
pub struct Mandate<'a> {
    pub reference: &'a str,
    pub maximum: Money,
    pub debit_type: DebitType,
    pub start: DateTime<Utc>,
    pub expiry: DateTime<Utc>,
    /// e.g. `SCHEDULED`
    pub schedule_type: &'a str,
    /// e.g. `WEEKLY`
    pub frequency: Option<&'a str>,
    pub amount: Option<Money>,
    pub entries: &'a [(DateTime<Utc>, Money)],
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreatedMandate {
    /// Mona's id; the consent step calls it `accessRequestId`.
    pub id: String,
    pub is_consented: bool,
    pub status: String,
    pub maximum: Money,
}

pub struct Mona {
    base_url: String,
    api_key: Secret,
    http: ProviderHttp,
}

/// Lagos wall-clock time without an offset, as Mona's requests carry it.
pub fn lagos(at: DateTime<Utc>) -> String {
    let lagos = FixedOffset::east_opt(3600).expect("UTC+1 is a valid offset");
    at.with_timezone(&lagos)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn kobo(amount: Money) -> Result<String, ProviderError> {
    if amount.currency().code() != "NGN" {
        return Err(ProviderError::Unsupported {
            provider: NAME,
            what: format!("{} (naira only)", amount.currency().code()),
        });
    }
    Ok(amount.minor().to_string())
}

impl Mona {
    pub fn new(base_url: &str, api_key: Secret, http: ProviderHttp) -> Mona {
        Mona {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            http,
        }
    }

    /// `POST /collections`: a mandate awaiting the customer's consent. Sent once: Mona does not say
    /// what a repeated reference does.
    pub async fn create_mandate(
        &self,
        mandate: &Mandate<'_>,
    ) -> Result<CreatedMandate, ProviderError> {
        let body = request(mandate)?;
        let url = format!("{}/collections", self.base_url);
        let reply = self
            .http
            .send(NAME, "create_collection", Safety::Once, |c| {
                c.post(&url)
                    .header("x-api-key", self.api_key.expose())
                    .json(&body)
            })
            .await?;
        let envelope: Option<wire::Envelope<wire::Created>> =
            serde_json::from_slice(&reply.body).ok();
        match (reply.status, envelope) {
            (
                s,
                Some(wire::Envelope {
                    success: true,
                    data: Some(created),
                    ..
                }),
            ) if s.is_success() => created_mandate(created),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                Err(ProviderError::BadCredentials { provider: NAME })
            }
            (s, envelope) if s.is_client_error() => Err(ProviderError::Rejected {
                provider: NAME,
                message: envelope
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| format!("HTTP {s}")),
            }),
            (s, _) => Err(ProviderError::Unavailable {
                provider: NAME,
                message: format!("HTTP {s}"),
            }),
        }
    }
}

pub fn request<'a>(mandate: &Mandate<'a>) -> Result<wire::CreateCollection<'a>, ProviderError> {
    Ok(wire::CreateCollection {
        maximum_amount: kobo(mandate.maximum)?,
        debit_type: match mandate.debit_type {
            DebitType::Merchant => "MERCHANT",
            DebitType::Mona => "MONA",
        },
        start_date: lagos(mandate.start),
        expiry_date: lagos(mandate.expiry),
        reference: mandate.reference,
        schedule: wire::Schedule {
            kind: mandate.schedule_type.to_owned(),
            frequency: mandate.frequency.map(str::to_owned),
            amount: mandate.amount.map(kobo).transpose()?,
            entries: mandate
                .entries
                .iter()
                .map(|(date, amount)| {
                    Ok(wire::Entry {
                        date: lagos(*date),
                        amount: kobo(*amount)?,
                    })
                })
                .collect::<Result<_, ProviderError>>()?,
        },
        agent_id: None,
    })
}

fn created_mandate(created: wire::Created) -> Result<CreatedMandate, ProviderError> {
    let minor: i64 =
        created
            .collection
            .max_amount
            .parse()
            .map_err(|_| ProviderError::Protocol {
                provider: NAME,
                message: format!("maxAmount {:?} is not kobo", created.collection.max_amount),
            })?;
    Ok(CreatedMandate {
        id: created.id,
        is_consented: created.is_consented,
        status: created.collection.status,
        maximum: Money::from_minor(minor, Currency::parse("NGN").expect("NGN is known")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn ngn(kobo: i64) -> Money {
        Money::from_minor(kobo, Currency::parse("NGN").unwrap())
    }

    #[test]
    fn the_request_matches_monas_example() {
        // The document's example, read as Lagos times: 05:43 in Lagos is 04:43 UTC.
        let start = Utc.with_ymd_and_hms(2025, 5, 22, 4, 43, 0).unwrap();
        let expiry = Utc.with_ymd_and_hms(2025, 6, 19, 7, 42, 0).unwrap();
        let entries = [(start, ngn(200))];
        let mandate = Mandate {
            reference: "Testing Mona Scheduled Collection--Succeed",
            maximum: ngn(600),
            debit_type: DebitType::Merchant,
            start,
            expiry,
            schedule_type: "SCHEDULED",
            frequency: Some("WEEKLY"),
            amount: Some(ngn(500)),
            entries: &entries,
        };
        assert_eq!(
            serde_json::to_value(request(&mandate).unwrap()).unwrap(),
            json!({"maximumAmount": "600", "debitType": "MERCHANT", "startDate": "2025-05-22T05:43:00",
                   "expiryDate": "2025-06-19T08:42:00", "reference": "Testing Mona Scheduled Collection--Succeed",
                   "schedule": {"type": "SCHEDULED", "frequency": "WEEKLY", "amount": "500",
                                "entries": [{"date": "2025-05-22T05:43:00", "amount": "200"}]}})
        );
        let ghs = Money::from_minor(600, Currency::parse("GHS").unwrap());
        assert!(matches!(
            request(&Mandate {
                maximum: ghs,
                ..mandate
            }),
            Err(ProviderError::Unsupported { .. })
        ));
    }

    #[test]
    fn the_documented_answer_parses() {
        let answer = r#"{"success": true, "data": {"id": "68554203285367d030f8d398", "isConsented": false,
            "collection": {"maxAmount": "10000", "expiryDate": "2025-06-24T00:00:00.000Z", "startDate": "2025-06-20T13:12:03.075Z",
              "monthlyLimit": "10000", "schedule": {"type": "SCHEDULED", "frequency": null,
              "entries": [{"date": "2025-06-22T11:11:00.000Z", "amount": "10000"}], "amount": null},
              "reference": "LOAN", "status": "NOT_STARTED", "lastCollectedAt": null,
              "nextCollectionAt": "2025-06-20T13:12:03.075Z", "debitType": "MERCHANT", "loanLinkToken": "68554203285367d030f8d394"},
            "createdAt": "2025-06-20T11:12:03.816Z", "updatedAt": "2025-06-20T11:12:03.816Z"}}"#;
        let envelope: wire::Envelope<wire::Created> = serde_json::from_str(answer).unwrap();
        let mandate = created_mandate(envelope.data.unwrap()).unwrap();
        assert_eq!(mandate.id, "68554203285367d030f8d398");
        assert!(!mandate.is_consented);
        assert_eq!(mandate.status, "NOT_STARTED");
        assert_eq!(mandate.maximum, ngn(10_000));
    }
}

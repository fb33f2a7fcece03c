//! `POST /collections/collect` (mobile-money collect), as `spec/mobile-money-collect.txt`: the body's
//! rules, checked all at once so every bad field is named. The currency follows the payer's country
//! (UGX for +256); an explicit `currency` must be that one. Whether a configured provider reaches the
//! payer's network is the handler's question (it needs the merchant's accounts).

use serde_json::{Map, Value};

use super::currency::Currency;
use super::money::Money;
use super::network::{Market, Network};
use super::phone::Phone;
use super::validate::{self as v, FieldError, FieldErrors};

pub const MAX_EXTERNAL_ID_LEN: usize = 100;
/// MTN's payerMessage/payeeNote limit is 160 characters; Airtel's is shorter in practice, but both take
/// this much.
pub const MAX_NOTE_LEN: usize = 160;

#[derive(Debug, Clone, PartialEq)]
pub struct NewCollect {
    pub payer: Phone,
    pub network: Network,
    pub market: Market,
    pub amount: Money,
    pub external_id: Option<String>,
    pub payer_message: Option<String>,
    pub payee_note: Option<String>,
    /// A provider slug from the merchant's list (an extension: by default the network picks it).
    pub provider: Option<String>,
}

pub fn parse(body: &Value) -> Result<NewCollect, Vec<FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(body) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors.into_vec());
    };
    let payer = match v::string(body, "phone", "", 32, true, &mut errors) {
        Some(text) => match Phone::parse(&text) {
            Ok(phone) => Some(phone),
            Err(why) => {
                errors.add("phone", why);
                None
            }
        },
        None => None,
    };
    let market = payer.as_ref().and_then(|phone| {
        let market = Market::of(phone);
        if market.is_none() {
            errors.add(
                "phone",
                format!(
                    "+{} is not a country where a mobile-money provider Cowry supports collects",
                    phone.country_code()
                ),
            );
        }
        market
    });
    let network = match (&payer, market) {
        (Some(phone), Some(_)) => {
            let found = Network::detect(phone);
            if found.is_none() {
                errors.add("phone", "is not a mobile number of a known network");
            }
            found
        }
        _ => None,
    };
    let currency = parse_currency(body, market, &mut errors);
    let amount = parse_amount(body, currency, &mut errors);
    let external_id = v::string(
        body,
        "externalId",
        "",
        MAX_EXTERNAL_ID_LEN,
        false,
        &mut errors,
    );
    let payer_message = v::string(body, "payerMessage", "", MAX_NOTE_LEN, false, &mut errors);
    let payee_note = v::string(body, "payeeNote", "", MAX_NOTE_LEN, false, &mut errors);
    let provider = v::string(body, "provider", "", 40, false, &mut errors);
    errors.finish(|| NewCollect {
        payer: payer.expect("checked"),
        network: network.expect("checked"),
        market: market.expect("checked"),
        amount: amount.expect("checked"),
        external_id,
        payer_message,
        payee_note,
        provider,
    })
}

fn parse_currency(
    body: &Map<String, Value>,
    market: Option<Market>,
    errors: &mut FieldErrors,
) -> Option<Currency> {
    let expected = market.map(|m| m.currency());
    match v::get(body, "currency") {
        None => expected,
        Some(Value::String(code)) => match (Currency::parse(code), expected) {
            (Some(given), Some(expected)) if given != expected => {
                errors.add(
                    "currency",
                    format!(
                        "must be {} for a payer in {}",
                        expected.code(),
                        market.map(|m| m.country).unwrap_or_default()
                    ),
                );
                None
            }
            (Some(given), _) => Some(given),
            (None, _) => {
                errors.add(
                    "currency",
                    "must be an ISO 4217 code Cowry supports, e.g. UGX",
                );
                None
            }
        },
        Some(_) => {
            errors.add("currency", "must be a string");
            None
        }
    }
}

fn parse_amount(
    body: &Map<String, Value>,
    currency: Option<Currency>,
    errors: &mut FieldErrors,
) -> Option<Money> {
    let value = match v::get(body, "amount") {
        None => {
            errors.add("amount", "is required");
            return None;
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            errors.add("amount", "must be a number");
            return None;
        }
    };
    let Some(currency) = currency else {
        // The currency (from the phone) is unknown, but a non-positive amount is wrong in any.
        let digits = value.split(['e', 'E']).next().unwrap_or_default();
        if value.starts_with('-') || digits.chars().all(|c| c == '0' || c == '.') {
            errors.add("amount", "must be greater than 0");
        }
        return None;
    };
    match Money::from_major_str(&value, currency) {
        Ok(money) => Some(money),
        Err(e) => {
            errors.add("amount", e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        parse(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_documents_example_is_airtel_uganda_in_ugx() {
        let c = parse(&json!({"phone": "+256706859041", "amount": 500, "externalId": "order-20250520-001",
            "payerMessage": "Payment for internet subscription", "payeeNote": "ZenFii Hotspot System"}))
        .unwrap();
        assert_eq!(c.network.code(), "AIRTEL_UG");
        assert_eq!((c.amount.minor(), c.amount.currency().code()), (500, "UGX"));
        assert_eq!(c.external_id.as_deref(), Some("order-20250520-001"));
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            fields(json!({"phone": "0772123456", "amount": -1, "externalId": 5,
                "payerMessage": "x".repeat(161), "payeeNote": "bad\u{7}"})),
            ["phone", "amount", "externalId", "payerMessage", "payeeNote"]
        );
        assert_eq!(fields(json!({})), ["phone", "amount"]);
        assert_eq!(fields(json!([])), ["body"]);
    }

    #[test]
    fn zero_decimal_currencies_take_whole_units_and_currency_follows_the_country() {
        assert_eq!(
            fields(json!({"phone": "+256772123456", "amount": 500.5})),
            ["amount"]
        );
        assert_eq!(
            fields(json!({"phone": "+256772123456", "amount": 0})),
            ["amount"]
        );
        assert_eq!(
            fields(json!({"phone": "+256772123456", "amount": 500, "currency": "KES"})),
            ["currency"]
        );
        let ghana = parse(&json!({"phone": "+233241234567", "amount": 10.5})).unwrap();
        assert_eq!(
            (ghana.amount.minor(), ghana.amount.currency().code()),
            (1050, "GHS")
        );
        let explicit = parse(&json!({"phone": "+256772123456", "amount": 500, "currency": "UGX"}));
        assert!(explicit.is_ok());
    }

    #[test]
    fn countries_without_mobile_money_are_named() {
        // A valid French mobile number: no supported provider collects there.
        let errors = parse(&json!({"phone": "+33612345678", "amount": 5})).unwrap_err();
        assert_eq!(errors[0].field, "phone");
        assert!(errors[0].message.contains("+33"), "{}", errors[0].message);
    }
}

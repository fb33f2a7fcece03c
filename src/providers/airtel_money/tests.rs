//! Request building and response parsing against the payloads in Airtel's documentation copies.

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use serde_json::json;

use super::*;
use crate::domain::currency::Currency;

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_owned()),
    }
}

#[test]
fn collect_body_uses_the_national_msisdn_and_a_major_unit_number() {
    let payer = Phone::parse("+256772123456").unwrap();
    let amount = Money::from_minor(2_500, Currency::parse("UGX").unwrap());
    let body = wire::CollectRequest {
        reference: "Order 1",
        subscriber: wire::Subscriber {
            country: "UG",
            currency: "UGX",
            msisdn: payer.national(),
        },
        transaction: wire::CollectTransaction {
            amount: amount.major_string().parse().unwrap(),
            country: "UG",
            currency: "UGX",
            id: "cwr-123",
        },
    };
    let text = serde_json::to_string(&body).unwrap();
    assert!(text.contains(r#""amount":2500,"#), "{text}");
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"reference": "Order 1", "subscriber": {"country": "UG", "currency": "UGX", "msisdn": "772123456"},
               "transaction": {"amount": 2500, "country": "UG", "currency": "UGX", "id": "cwr-123"}})
    );
    let kes = Money::from_minor(9_999, Currency::parse("KES").unwrap());
    assert_eq!(
        kes.major_string()
            .parse::<serde_json::Number>()
            .unwrap()
            .to_string(),
        "99.99"
    );
}

#[test]
fn the_token_sample_has_a_string_expiry() {
    let token: wire::Token = serde_json::from_str(
        r#"{"access_token": "****", "expires_in": "180", "token_type": "bearer"}"#,
    )
    .unwrap();
    assert_eq!(token.expires_in, 180);
    let token: wire::Token =
        serde_json::from_str(r#"{"access_token": "****", "expires_in": 180}"#).unwrap();
    assert_eq!(token.expires_in, 180);
}

#[test]
fn the_initiation_sample_with_id_false_is_read() {
    let envelope = envelope(&reply(
        200,
        r#"{"data": {"transaction": {"id": false, "status": "Success."}},
            "status": {"code": "200", "message": "Success.", "result_code": "ESB000010", "response_code": "DP00800001006", "success": true}}"#,
    ))
    .unwrap();
    assert!(envelope.status.success);
    assert_eq!(envelope.data.unwrap().transaction.id, json!(false));
}

#[test]
fn statuses_map_with_their_reasons() {
    assert_eq!(
        status("TS", Some("DP00800001001")),
        PaymentStatus::Succeeded
    );
    assert_eq!(
        status("TF", Some("DP00800001007")),
        PaymentStatus::Failed {
            reason: "insufficient funds".to_owned()
        }
    );
    assert_eq!(
        status("TF", Some("DP00800001008")),
        PaymentStatus::Failed {
            reason: "refused by the payer".to_owned()
        }
    );
    assert_eq!(
        status("TE", None),
        PaymentStatus::Failed {
            reason: "expired".to_owned()
        }
    );
    assert_eq!(status("TIP", Some("DP00800001006")), PaymentStatus::Pending);
    assert_eq!(
        status("TA", Some("DP00800001000")),
        PaymentStatus::Pending,
        "ambiguous: ask again"
    );
}

#[test]
fn callbacks_use_status_code_and_are_only_hints() {
    let payment = parse_callback(
        br#"{"transaction": {"id": "cwr-123", "message": "Paid UGX 2,500", "status_code": "TS", "airtel_money_id": "MP210603.1234.L06941"}}"#,
    )
    .unwrap();
    assert_eq!(payment.transaction_id, "cwr-123");
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(
        payment.airtel_money_id.as_deref(),
        Some("MP210603.1234.L06941")
    );
    let with_hash = br#"{"transaction": {"id": "x", "status_code": "TF"}, "hash": "abc="}"#;
    assert!(matches!(
        parse_callback(with_hash).unwrap().status,
        PaymentStatus::Failed { .. }
    ));
}

#[test]
fn errors_are_typed() {
    assert!(matches!(
        envelope(&reply(401, "{}")),
        Err(ProviderError::BadCredentials { .. })
    ));
    assert!(matches!(
        envelope(&reply(503, "")),
        Err(ProviderError::Unavailable { .. })
    ));
    let not_found = reply(
        200,
        r#"{"status": {"code": "200", "message": "Transaction not found", "response_code": "DP00800001025", "success": false}}"#,
    );
    let parsed = envelope(&not_found).unwrap();
    assert!(matches!(
        error(&not_found, Some(&parsed)),
        ProviderError::NotFound { .. }
    ));
    let refused = reply(
        400,
        r#"{"status": {"code": "400", "message": "Invalid MSISDN", "success": false}}"#,
    );
    let parsed = envelope(&refused).unwrap();
    match error(&refused, Some(&parsed)) {
        ProviderError::Rejected { message, .. } => assert_eq!(message, "Invalid MSISDN"),
        other => panic!("{other:?}"),
    }
}

//! Request building and response parsing against the examples in MTN's Swagger export.

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::json;

use super::*;

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_owned()),
    }
}

fn money(major: &str, currency: &str) -> Money {
    Money::from_major_str(major, Currency::parse(currency).unwrap()).unwrap()
}

#[test]
fn request_to_pay_body_matches_the_spec() {
    let body = wire::RequestToPay {
        amount: money("2500", "UGX").major_string(),
        currency: "UGX",
        external_id: "ext-1",
        payer: wire::Party {
            party_id_type: "MSISDN",
            party_id: msisdn("+256772123456"),
        },
        payer_message: "Pay for order 1",
        payee_note: "Order 1",
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"amount": "2500", "currency": "UGX", "externalId": "ext-1",
               "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
               "payerMessage": "Pay for order 1", "payeeNote": "Order 1"})
    );
}

#[test]
fn amounts_convert_exactly_both_ways() {
    // (major text MTN sends or receives, currency, minor units Cowry stores)
    for (major, currency, minor) in [
        ("45000", "NGN", 4_500_000),
        ("10.5", "GHS", 1_050),
        ("99.99", "KES", 9_999),
        ("2500", "UGX", 2_500),
        ("1000", "RWF", 1_000),
    ] {
        let amount = money(major, currency);
        assert_eq!(amount.minor(), minor, "{major} {currency}");
        assert_eq!(amount.major_string(), major, "{currency} back to major");
    }
}

#[test]
fn the_specs_successful_example_parses_though_it_uses_numbers() {
    let result: wire::RequestToPayResult = parse(reply(
        200,
        r#"{"amount": 100, "currency": "UGX", "financialTransactionId": 23503452, "externalId": 947354,
            "payer": {"partyIdType": "MSISDN", "partyId": 4656473839}, "status": "SUCCESSFUL"}"#,
    ))
    .unwrap();
    let payment = payment(result).unwrap();
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(payment.amount, money("100", "UGX"));
    assert_eq!(
        payment.financial_transaction_id.as_deref(),
        Some("23503452")
    );
    assert_eq!(payment.external_id.as_deref(), Some("947354"));
}

#[test]
fn a_failed_payment_is_a_200_with_a_reason() {
    let result: wire::RequestToPayResult = parse(reply(
        200,
        r#"{"amount": 100, "currency": "UGX", "externalId": 947354, "payer": {"partyIdType": "MSISDN", "partyId": 4656473839},
            "status": "FAILED", "reason": {"code": "PAYER_NOT_FOUND", "message": "Payee does not exist"}}"#,
    ))
    .unwrap();
    assert_eq!(
        payment(result).unwrap().status,
        PaymentStatus::Failed {
            reason: "PAYER_NOT_FOUND".to_owned()
        }
    );
    let pending: wire::RequestToPayResult = parse(reply(
        200,
        r#"{"amount": "100", "currency": "UGX", "status": "PENDING"}"#,
    ))
    .unwrap();
    assert_eq!(payment(pending).unwrap().status, PaymentStatus::Pending);
}

#[test]
fn errors_map_from_the_specs_examples() {
    let conflict = error(reply(
        409,
        r#"{"code": "RESOURCE_ALREADY_EXIST", "message": "Duplicated reference id. Creation of resource failed."}"#,
    ));
    assert!(matches!(conflict, ProviderError::DuplicateReference { .. }));
    let not_found = error(reply(
        404,
        r#"{"code": "RESOURCE_NOT_FOUND", "message": "Requested resource was not found."}"#,
    ));
    assert!(matches!(not_found, ProviderError::NotFound { .. }));
    let internal = error(reply(
        500,
        r#"{"code": "INTERNAL_PROCESSING_ERROR", "message": "An internal error occurred while processing."}"#,
    ));
    assert!(matches!(internal, ProviderError::Unavailable { .. }));
    let environment = error(reply(
        500,
        r#"{"code": "NOT_ALLOWED_TARGET_ENVIRONMENT", "message": "Access to target environment is forbidden."}"#,
    ));
    assert!(matches!(environment, ProviderError::BadCredentials { .. }));
    assert!(matches!(
        error(reply(401, r#"{"error": "login_failed"}"#)),
        ProviderError::BadCredentials { .. }
    ));
    assert!(matches!(
        error(reply(400, "")),
        ProviderError::Rejected { .. }
    ));
}

#[test]
fn callbacks_parse_like_status_answers() {
    let callback = br#"{"financialTransactionId": "1855917350", "externalId": "ext-9", "amount": "2500", "currency": "UGX",
        "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"}, "payeeNote": "n", "status": "SUCCESSFUL"}"#;
    let payment = parse_callback(callback).unwrap();
    assert_eq!(
        (payment.status, payment.amount),
        (PaymentStatus::Succeeded, money("2500", "UGX"))
    );
    assert!(parse_callback(b"not json").is_err());
    assert!(
        parse_callback(br#"{"amount": "1.234", "currency": "UGX", "status": "SUCCESSFUL"}"#)
            .is_err(),
        "UGX has no decimals"
    );
}

#[test]
fn the_collection_api_is_found_from_the_host_or_an_old_collection_base_url() {
    for base in [
        "https://sandbox.momodeveloper.mtn.com",
        "https://sandbox.momodeveloper.mtn.com/",
        "https://sandbox.momodeveloper.mtn.com/collection",
        "https://sandbox.momodeveloper.mtn.com/collection/",
    ] {
        assert_eq!(
            super::collection_api(base),
            "https://sandbox.momodeveloper.mtn.com/collection"
        );
    }
}

//! Request building and response parsing against Paystack's documented payloads.

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
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

fn ngn(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("NGN").unwrap())
}

#[test]
fn initialize_request_matches_the_spec_shape() {
    let body = wire::InitializeRequest {
        email: "amina@example.com",
        amount: ngn(4_500_000).minor(),
        currency: "NGN",
        reference: "PSK_txn_8a7f34",
        channels: vec!["card", "bank_transfer"],
        callback_url: None,
        metadata: None,
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"email": "amina@example.com", "amount": 4500000, "currency": "NGN", "reference": "PSK_txn_8a7f34",
               "channels": ["card", "bank_transfer"]})
    );
}

#[test]
fn charge_authorization_sends_metadata_as_a_string() {
    let body = wire::ChargeAuthorizationRequest {
        email: "jb@email.com",
        amount: 30000,
        authorization_code: "AUTH_df1l5ehnym",
        reference: "ref-1",
        currency: "NGN",
        metadata: Some(json!({"collection": "pay_1"}).to_string()),
    };
    let value = serde_json::to_value(&body).unwrap();
    assert_eq!(value["metadata"], r#"{"collection":"pay_1"}"#);
    assert_eq!(value["amount"], 30000);
}

#[test]
fn charge_request_carries_the_mobile_money_object() {
    let body = wire::ChargeRequest {
        email: "k@example.com",
        amount: 10000,
        currency: "GHS",
        reference: "r1",
        mobile_money: Some(wire::MobileMoney {
            phone: "0551234987",
            provider: "mtn",
        }),
        bank: None,
    };
    let value = serde_json::to_value(&body).unwrap();
    assert_eq!(
        value["mobile_money"],
        json!({"phone": "0551234987", "provider": "mtn"})
    );
    assert!(value.get("bank").is_none());
}

#[test]
fn verify_success_from_the_docs() {
    let data: wire::Transaction = parse_reply(reply(
        200,
        include_str!("../../../tests/fixtures/paystack/verify_success.json"),
    ))
    .unwrap();
    let verified = verified(data).unwrap();
    assert_eq!(verified.status, PaymentStatus::Succeeded);
    assert_eq!(verified.reference, "re4lyvq3s3");
    assert_eq!(verified.amount, ngn(40333));
    assert_eq!(
        verified.authorization_code.as_deref(),
        Some("AUTH_uh8bcl3zbn")
    );
}

#[test]
fn statuses_map_to_cowry_states() {
    assert_eq!(payment_status("success", None), PaymentStatus::Succeeded);
    assert_eq!(
        payment_status("failed", Some("Declined")),
        PaymentStatus::Failed {
            reason: "Declined".to_owned()
        }
    );
    assert_eq!(payment_status("reversed", None), PaymentStatus::Reversed);
    for waiting in [
        "abandoned",
        "ongoing",
        "pending",
        "processing",
        "queued",
        "send_otp",
        "send_pin",
        "something_new",
    ] {
        assert_eq!(
            payment_status(waiting, None),
            PaymentStatus::Pending,
            "{waiting}"
        );
    }
}

#[test]
fn errors_map_to_typed_errors() {
    let unauthorized = parse_reply::<wire::InitializeData>(reply(
        401,
        r#"{"status":false,"message":"Invalid key"}"#,
    ));
    assert!(matches!(
        unauthorized,
        Err(ProviderError::BadCredentials { .. })
    ));
    // The spec's own example for a reused reference.
    let duplicate = parse_reply::<wire::InitializeData>(reply(
        400,
        r#"{"status":false,"message":"Duplicate Transaction Reference","meta":{"nextStep":"Try and create the Transaction or Charge with a new reference"},"type":"validation_error","code":"duplicate_reference","errorCodeMappingNotFound":false}"#,
    ));
    assert!(matches!(
        duplicate,
        Err(ProviderError::DuplicateReference { .. })
    ));
    let rejected = parse_reply::<wire::InitializeData>(reply(
        400,
        r#"{"status":false,"message":"Invalid Email Address Passed"}"#,
    ));
    match rejected {
        Err(ProviderError::Rejected { message, .. }) => {
            assert_eq!(message, "Invalid Email Address Passed")
        }
        other => panic!("{other:?}"),
    }
    let not_found = parse_reply::<wire::Transaction>(reply(
        404,
        r#"{"status":false,"message":"Transaction reference not found"}"#,
    ));
    assert!(matches!(not_found, Err(ProviderError::NotFound { .. })));
    let mut limited = reply(429, "{}");
    limited.headers.insert("retry-after", "7".parse().unwrap());
    assert!(matches!(
        parse_reply::<wire::Transaction>(limited),
        Err(ProviderError::RateLimited {
            retry_after_secs: Some(7),
            ..
        })
    ));
    assert!(matches!(
        parse_reply::<wire::Transaction>(reply(502, "<html>")),
        Err(ProviderError::Unavailable { .. })
    ));
    assert!(matches!(
        parse_reply::<wire::Transaction>(reply(200, "not json")),
        Err(ProviderError::Protocol { .. })
    ));
}

#[test]
fn webhook_signatures_are_checked_over_the_raw_body() {
    let body = include_bytes!("../../../tests/fixtures/paystack/charge_success_webhook.json");
    // Computed independently (Python's hmac/hashlib) for the secret below.
    let signature = "04642d34bddfdaacb55fd0290cf86da857e21fbee7082e0ad15c3f1d471cf730a06ab56c57b6185073b110af000182e96579c05ea128e91e1871dd227f2943b3";
    assert!(verify_signature("sk_test_emulator_secret", body, signature));
    assert!(!verify_signature("sk_test_other_secret", body, signature));
    let mut tampered = body.to_vec();
    tampered[30] ^= 1;
    assert!(!verify_signature(
        "sk_test_emulator_secret",
        &tampered,
        signature
    ));
    assert!(!verify_signature(
        "sk_test_emulator_secret",
        body,
        "not-hex"
    ));
    assert!(!verify_signature("sk_test_emulator_secret", body, ""));

    assert_eq!(
        parse_webhook(body).unwrap(),
        WebhookEvent::ChargeSuccess {
            reference: "qTPrJoy9Bx".to_owned(),
            amount: ngn(10000)
        }
    );
    assert_eq!(
        parse_webhook(br#"{"event":"transfer.success","data":{}}"#).unwrap(),
        WebhookEvent::Other {
            event: "transfer.success".to_owned()
        }
    );
}

#[test]
fn references_follow_paystacks_alphabet() {
    assert!(is_valid_reference("PSK-txn.8a7f34="));
    assert!(!is_valid_reference("PSK_txn"));
    assert!(!is_valid_reference("a/b"));
    assert!(!is_valid_reference(""));
}

/// Paystack's sample `charge.success` for a transfer into a dedicated account (its dedicated virtual
/// accounts guide, "Handling webhooks").
#[test]
fn a_transfer_into_a_dedicated_account_is_read_from_the_documented_sample() {
    let body = json!({
      "event": "charge.success",
      "data": {
        "id": 1504248187, "domain": "test", "status": "success", "reference": "1641029429584yxvfjb0a56r0kgt",
        "amount": 10000, "message": null, "gateway_response": "Approved",
        "paid_at": "2022-01-01T09:30:29.000Z", "created_at": "2022-01-01T09:30:29.000Z",
        "channel": "dedicated_nuban", "currency": "NGN", "ip_address": null,
        "metadata": {"receiver_account_number": "1234567890", "receiver_bank": "Test Bank"},
        "fees_breakdown": null, "log": null, "fees": 10000, "fees_split": null,
        "authorization": {
          "authorization_code": "AUTH_ids4wgzvqm", "bin": "008XXX", "last4": "X553", "exp_month": "12",
          "exp_year": "2021", "channel": "dedicated_nuban", "card_type": "transfer", "bank": null,
          "country_code": "NG", "brand": "Managed Account", "reusable": false, "signature": null,
          "account_name": null, "sender_country": "NG", "sender_bank": "Zenith Bank",
          "sender_bank_account_number": "XXXXXX0000", "receiver_bank_account_number": "1234567890",
          "receiver_bank": "Test Bank"
        },
        "customer": {"id": 74216453, "first_name": "Amina", "last_name": "Lawal",
                     "email": "amina@example.com", "customer_code": "CUS_jtpauoz9hhrj9ba",
                     "phone": "+2348012345678", "metadata": {}, "risk_action": "default",
                     "international_format_phone": "+2348012345678"},
        "plan": null, "subaccount": {}, "split": {}, "order_id": null, "paidAt": "2022-01-01T09:30:29.000Z",
        "requested_amount": 10000, "pos_transaction_data": null,
        "source": {"type": "resolvedAccount", "source": "banktransfer", "entry_point": "handleBankTransfer", "identifier": null}
      }
    })
    .to_string();
    assert_eq!(
        parse_transfer(body.as_bytes()),
        Some(Transfer {
            reference: "1641029429584yxvfjb0a56r0kgt".into(),
            amount: ngn(10_000),
            account_number: "1234567890".into(),
            customer: Some("CUS_jtpauoz9hhrj9ba".into()),
            sender_bank: Some("Zenith Bank".into()),
        })
    );
    // The same money by card is not a transfer; nor is a transfer that did not succeed.
    let card = body.replace(
        "\"channel\":\"dedicated_nuban\",\"currency\"",
        "\"channel\":\"card\",\"currency\"",
    );
    assert_eq!(parse_transfer(card.as_bytes()), None);
    let failed = body.replace("\"status\":\"success\"", "\"status\":\"failed\"");
    assert_eq!(parse_transfer(failed.as_bytes()), None);
}

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, example, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_example_gets_the_documented_response() {
    let app = spawn().await;
    let (status, body) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "Collection created successfully");
    let data = &body["data"];
    assert!(data["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(
        data["id"].as_str().unwrap().len(),
        "pay_9fmz6170pzaih14pmyl0a49o1l".len()
    );
    assert_eq!(data["type"], "integrated");
    assert!(data["contact"]["id"]
        .as_str()
        .unwrap()
        .starts_with("contact_"));
    assert_eq!(data["contact"]["firstName"], "Amina");
    assert_eq!(data["contact"]["lastName"], "Lawal");
    assert_eq!(data["contact"]["phone"], "+2348012345678");
    assert_eq!(data["contact"]["email"], "amina.lawal@example.com");
    assert_eq!(data["reference"], "PSK_txn_8a7f34");
    assert_eq!(data["amount"], json!({"value": 45000, "currency": "NGN"}));
    assert_eq!(data["amount"]["value"].to_string(), "45000");
    assert_eq!(data["status"], "pending");
    assert_eq!(data["expiresIn"], 1440);
    assert_eq!(data["payable"]["enabled"], true);
    // `paystack` is the Paystack adapter talking to its emulator. Paystack has no mobile money in
    // Nigeria, so the offered methods are the two the document's example response shows.
    assert_eq!(
        data["payable"]["methods"],
        json!(["payment_link", "virtual_account"])
    );
    let options = data["payable"]["options"].as_array().unwrap();
    assert_eq!(options.len(), 2);
    assert_eq!(options[0]["method"], "payment_link");
    assert!(
        options[0]["link"]
            .as_str()
            .unwrap()
            .contains("/_emulator/paystack/checkout/"),
        "{}",
        options[0]
    );
    assert_eq!(options[1]["method"], "virtual_account");
    assert_eq!(options[1]["accountName"], "Amina Lawal");
    assert_eq!(options[1]["bankName"], "Test Bank");
    let account = options[1]["accountNumber"].as_str().unwrap();
    assert!(cowry::domain::nuban::is_valid("999", account), "{account}");
    let created_at =
        chrono::DateTime::parse_from_rfc3339(data["createdAt"].as_str().unwrap()).unwrap();
    for option in options {
        let expires =
            chrono::DateTime::parse_from_rfc3339(option["expiresAt"].as_str().unwrap()).unwrap();
        assert_eq!(expires - created_at, chrono::TimeDelta::minutes(1440));
    }
    assert_eq!(data["followUp"], example()["followUp"]);
    assert_eq!(data["metadata"], example()["metadata"]);
    let events = data["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0]["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(events[0]["type"], "collection.created");
    assert_eq!(events[0]["timestamp"], data["createdAt"]);
    assert!(data["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        data["createdAt"].as_str().unwrap().len(),
        "2025-11-12T17:46:07.000Z".len()
    );
    assert_eq!(data["updatedAt"], data["createdAt"]);
    assert_eq!(data["completedAt"], Value::Null);

    // What was stored reads back the same.
    let (status, fetched) = app
        .get(&format!("/collections/{}", data["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["data"], *data);
    let minor: i64 = sqlx::query_scalar("select amount_minor from collections")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(minor, 4_500_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_apply_when_fields_are_omitted() {
    let app = spawn().await;
    let (status, body) = app
        .create(&json!({
            "reference": "minimal-1", "amount": {"value": 100, "currency": "NGN"},
            "contact": {"firstName": "Ada", "lastName": "Obi", "phone": "+2348031234567", "email": "ada@example.com"}
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(data["type"], "integrated");
    assert_eq!(data["expiresIn"], 1440);
    assert_eq!(
        data["payable"],
        json!({"enabled": false, "methods": [], "options": []})
    );
    assert_eq!(data["provider"], "sandbox");
    // No followUp given: Cowry plans one and shows it (SMS then email, escalating, in waking hours).
    let plan = &data["followUp"];
    assert_eq!(plan["enabled"], true);
    assert_eq!(plan["planned"], true);
    let steps = plan["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 5, "{plan}");
    assert_eq!(steps[0]["channel"], "sms");
    assert_eq!(steps.last().unwrap()["channel"], "email");
    assert!(steps.iter().all(|s| s["why"].is_string()));
    assert_eq!(data["metadata"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_survive_a_round_trip_exactly() {
    let app = spawn().await;
    // 0.1 + 0.2 is 0.30000000000000004 in binary floating point; Cowry must never go near a float.
    let cases = [
        ("0.3", "NGN", 30),
        ("0.1", "NGN", 10),
        ("0.2", "GHS", 20),
        ("1500.5", "NGN", 150_050),
        ("45000", "NGN", 4_500_000),
        ("1234567.89", "KES", 123_456_789),
        ("2500", "UGX", 2500),
        ("92233720368547758.07", "NGN", i64::MAX),
    ];
    for (i, (text, currency, minor)) in cases.iter().enumerate() {
        let raw = format!(
            r#"{{"reference":"amt-{i}","amount":{{"value":{text},"currency":"{currency}"}},
               "contact":{{"firstName":"A","lastName":"B","phone":"+2348031234567","email":"a@example.com"}}}}"#
        );
        let response = app
            .authed(reqwest::Method::POST, "/collections")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let text_body = response.text().await.unwrap();
        // The raw response carries the same number text the merchant sent.
        assert!(
            text_body.contains(&format!(
                r#""amount":{{"value":{text},"currency":"{currency}"}}"#
            )),
            "{text_body}"
        );
        let stored: i64 =
            sqlx::query_scalar("select amount_minor from collections where reference = $1")
                .bind(format!("amt-{i}"))
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(stored, *minor, "{text} {currency}");
    }
}

/// A change to the documented example.
type Change = Box<dyn Fn(&mut Value)>;

/// Each case: a change to the documented example, and the field the 422 must name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_is_a_422_naming_the_field() {
    let app = spawn().await;
    let cases: Vec<(&str, Change)> = vec![
        ("type", Box::new(|b| b["type"] = json!("recurring"))),
        (
            "reference",
            Box::new(|b| {
                b.as_object_mut()
                    .unwrap()
                    .remove("reference")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        ("reference", Box::new(|b| b["reference"] = json!(""))),
        (
            "reference",
            Box::new(|b| b["reference"] = json!("x".repeat(101))),
        ),
        (
            "reference",
            Box::new(|b| b["reference"] = json!("has spaces/and slashes")),
        ),
        (
            "amount",
            Box::new(|b| {
                b.as_object_mut()
                    .unwrap()
                    .remove("amount")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        (
            "amount.value",
            Box::new(|b| b["amount"]["value"] = json!(0)),
        ),
        (
            "amount.value",
            Box::new(|b| b["amount"]["value"] = json!(-5)),
        ),
        (
            "amount.value",
            Box::new(|b| b["amount"]["value"] = json!("45000")),
        ),
        (
            "amount.value",
            Box::new(|b| b["amount"]["value"] = "100.001".parse::<Value>().unwrap()),
        ),
        (
            "amount.value",
            Box::new(|b| {
                b["amount"] = json!({"value": "1e3".parse::<Value>().unwrap(), "currency": "NGN"})
            }),
        ),
        (
            "amount.value",
            Box::new(|b| {
                b["amount"] = json!({"value": "10.5".parse::<Value>().unwrap(), "currency": "UGX"})
            }),
        ),
        (
            "amount.value",
            Box::new(|b| b["amount"]["value"] = "92233720368547758.08".parse::<Value>().unwrap()),
        ),
        (
            "amount.currency",
            Box::new(|b| b["amount"]["currency"] = json!("XYZ")),
        ),
        (
            "amount.currency",
            Box::new(|b| b["amount"]["currency"] = json!("ngn")),
        ),
        (
            "amount.currency",
            Box::new(|b| {
                b["amount"]
                    .as_object_mut()
                    .unwrap()
                    .remove("currency")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        ("contact", Box::new(|b| b["contact"] = json!("Amina"))),
        (
            "contact.firstName",
            Box::new(|b| b["contact"]["firstName"] = json!(" ")),
        ),
        (
            "contact.lastName",
            Box::new(|b| {
                b["contact"]
                    .as_object_mut()
                    .unwrap()
                    .remove("lastName")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        (
            "contact.phone",
            Box::new(|b| b["contact"]["phone"] = json!("08012345678")),
        ),
        (
            "contact.phone",
            Box::new(|b| b["contact"]["phone"] = json!("+23480123")),
        ),
        (
            "contact.email",
            Box::new(|b| b["contact"]["email"] = json!("not-an-email")),
        ),
        (
            "contact.email",
            Box::new(|b| {
                b["contact"]
                    .as_object_mut()
                    .unwrap()
                    .remove("email")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        (
            "metadata.description",
            Box::new(|b| b["metadata"] = json!({"name": "no description"})),
        ),
        (
            "metadata[0].description",
            Box::new(|b| {
                b["metadata"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("description")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        ("metadata", Box::new(|b| b["metadata"] = json!("a string"))),
        ("metadata", Box::new(|b| b["metadata"] = json!([]))),
        ("expiresIn", Box::new(|b| b["expiresIn"] = json!(0))),
        ("expiresIn", Box::new(|b| b["expiresIn"] = json!(-10))),
        ("expiresIn", Box::new(|b| b["expiresIn"] = json!(1.5))),
        ("expiresIn", Box::new(|b| b["expiresIn"] = json!(525_601))),
        (
            "payable.methods",
            Box::new(|b| b["payable"] = json!({"enabled": true, "methods": []})),
        ),
        (
            "payable.methods",
            Box::new(|b| b["payable"] = json!({"enabled": true})),
        ),
        (
            "payable.methods[1]",
            Box::new(|b| b["payable"]["methods"] = json!(["card", "cheque"])),
        ),
        (
            "payable.enabled",
            Box::new(|b| b["payable"]["enabled"] = json!("yes")),
        ),
        (
            "provider",
            Box::new(|b| b["provider"] = json!("flutterwave")),
        ),
        // Documented with at least one character: given empty, it is an error, not the default.
        ("provider", Box::new(|b| b["provider"] = json!(""))),
        (
            "followUp.startAfter",
            Box::new(|b| b["followUp"]["startAfter"] = json!(-1)),
        ),
        (
            "followUp.cadence",
            Box::new(|b| b["followUp"]["cadence"] = json!("hourly")),
        ),
        (
            "followUp.channels[0]",
            Box::new(|b| b["followUp"]["channels"] = json!(["telegram"])),
        ),
        (
            "followUp.channels",
            Box::new(|b| b["followUp"]["channels"] = json!([])),
        ),
        (
            "followUp.tone",
            Box::new(|b| b["followUp"]["tone"] = json!("angry")),
        ),
    ];
    for (i, (field, change)) in cases.iter().enumerate() {
        let mut body = example();
        body["reference"] = json!(format!("rule-{i}"));
        change(&mut body);
        let (status, response) = app.create(&body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "case {i} ({field}): {response}"
        );
        let fields = assert_error(&response, status, "validation_failed");
        assert_eq!(fields, [*field], "case {i}: {response}");
    }
    assert_eq!(
        app.count("select count(*) from collections").await,
        0,
        "a rejected request changes nothing"
    );
    assert_eq!(app.count("select count(*) from contacts").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_bad_fields_are_all_listed() {
    let app = spawn().await;
    let mut body = example();
    body["amount"]["value"] = json!(0);
    body["contact"]["email"] = json!("nope");
    body["expiresIn"] = json!(0);
    let (status, response) = app.create(&body).await;
    let fields = assert_error(&response, status, "validation_failed");
    assert_eq!(fields, ["amount.value", "contact.email", "expiresIn"]);
    assert!(response["message"]
        .as_str()
        .unwrap()
        .starts_with("amount.value must be greater than 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_with_a_schedule_is_read_by_the_scheduled_rules() {
    let app = spawn().await;
    let (status, body) = app
        .create(&json!({"maximumAmount": "500000", "debitType": "MERCHANT", "schedule": {"type": "SCHEDULED"}}))
        .await;
    assert_eq!(
        assert_error(&body, status, "validation_failed"),
        ["reference", "startDate", "expiryDate", "schedule.entries"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_payable_method_gets_an_option() {
    let app = spawn().await;
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["payable"]["methods"] = json!([
        "payment_link",
        "virtual_account",
        "mobile_money",
        "card",
        "bank_transfer"
    ]);
    body["expiresIn"] = json!(30);
    let (status, response) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{response}");
    let options = response["data"]["payable"]["options"].as_array().unwrap();
    let methods: Vec<&str> = options
        .iter()
        .map(|o| o["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "payment_link",
            "virtual_account",
            "mobile_money",
            "card",
            "bank_transfer"
        ]
    );
    assert!(options[4]["instructions"]
        .as_str()
        .unwrap()
        .contains("NGN 45000"));
    assert!(options
        .iter()
        .all(|o| o["expiresAt"] == options[0]["expiresAt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_reads_back_with_the_merchants_key_order() {
    let app = spawn().await;
    let raw = r#"{"reference":"order-1","amount":{"value":1,"currency":"NGN"},
        "contact":{"firstName":"A","lastName":"B","phone":"+2348012345678","email":"a@example.com"},
        "metadata":{"zeta":1,"description":"d","alpha":2.50}}"#;
    let response = app
        .authed(reqwest::Method::POST, "/collections")
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let created: Value = response.json().await.unwrap();
    let id = created["data"]["id"].as_str().unwrap();
    let text = app
        .authed(reqwest::Method::GET, &format!("/collections/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#""metadata":{"zeta":1,"description":"d","alpha":2.50}"#),
        "{text}"
    );
}

//! `POST /collections` through the Paystack adapter and its emulator: references stored before the
//! call, the provider's failures, and what Paystack offers per currency.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{assert_error, example, paystack_secret, read, spawn, TestApp};

async fn merchant_id(app: &TestApp) -> String {
    sqlx::query_scalar("select merchant_id from api_keys limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn attempts(app: &TestApp) -> Vec<(String, String, String, Option<String>, Option<String>)> {
    sqlx::query_as("select operation, provider_reference, status, collection_id, error from provider_attempts order by operation")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_references_are_stored_and_are_the_ones_paystack_got() {
    let app = spawn().await;
    let (status, created) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let rows = attempts(&app).await;
    let operations: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(operations, ["dedicated_account", "initialize"]);
    for (_, reference, status, collection, error) in &rows {
        assert!(reference.starts_with("cwr-"), "{reference}");
        assert_eq!(
            (status.as_str(), collection.as_deref(), error),
            ("pending", Some(id), &None)
        );
    }
    // The emulator knows the initialized transaction by exactly that reference, for this merchant only.
    let reference = &rows[1].1;
    let secret = paystack_secret(&app.pool, &merchant_id(&app).await).await;
    let (status, verified) = read(
        app.client
            .get(app.url(&format!(
                "/_emulator/paystack/transaction/verify/{reference}"
            )))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(
        (
            verified["data"]["amount"].as_i64(),
            verified["data"]["currency"].as_str()
        ),
        (Some(4_500_000), Some("NGN"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_502_that_creates_nothing() {
    let app = spawn().await;
    let (status, _) = read(
        app.authed(Method::POST, "/providers")
            .json(&json!({"slug": "paystack-down", "kind": "paystack", "baseUrl": "http://127.0.0.1:1"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut body = example();
    body["provider"] = json!("paystack-down");
    let (status, response) = app.create(&body).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_error(&response, status, "provider_error");
    assert_eq!(app.count("select count(*) from collections").await, 0);
    assert_eq!(app.count("select count(*) from contacts").await, 0);
    let rows = attempts(&app).await;
    assert!(
        !rows.is_empty(),
        "the references were stored before the call"
    );
    assert!(
        rows.iter()
            .all(|r| r.2 == "failed" && r.3.is_none() && r.4.is_some()),
        "{rows:?}"
    );
    // The merchant can simply retry once the provider is back: the reference is still free.
    let (status, _) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_500_is_retried_under_the_same_reference() {
    let app = spawn().await;
    let mut body = example();
    body["amount"]["value"] = "45000.04".parse::<Value>().unwrap(); // …04: the emulator fails once
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        app.count("select count(*) from provider_attempts where status = 'pending'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paystack_offers_mobile_money_in_ghana_and_refuses_currencies_it_lacks() {
    let app = spawn().await;
    let mut body = example();
    body["amount"] = json!({"value": 150.5, "currency": "GHS"});
    body["contact"]["phone"] = json!("+233244123456");
    body["payable"]["methods"] = json!(["mobile_money", "card", "virtual_account"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let options = created["data"]["payable"]["options"].as_array().unwrap();
    let methods: Vec<&str> = options
        .iter()
        .map(|o| o["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        ["mobile_money", "card"],
        "no naira virtual account for cedis"
    );
    assert!(options[0]["link"]
        .as_str()
        .unwrap()
        .contains("/_emulator/paystack/checkout/"));
    assert_eq!(
        options[0]["link"], options[1]["link"],
        "one checkout serves both"
    );

    let mut body = example();
    body["reference"] = json!("ugx-1");
    body["amount"] = json!({"value": 2500, "currency": "UGX"});
    let (status, response) = app.create(&body).await;
    assert_eq!(
        assert_error(&response, status, "validation_failed"),
        ["amount.currency"]
    );
    assert_eq!(
        app.count("select count(*) from provider_attempts where currency = 'UGX'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_reference_is_refused_before_the_provider_is_asked() {
    let app = spawn().await;
    app.create(&example()).await;
    let before = app.count("select count(*) from provider_attempts").await;
    let (status, response) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&response, status, "duplicate_reference");
    assert_eq!(
        app.count("select count(*) from provider_attempts").await,
        before
    );
}

//! Scheduled collections end to end: the document's example, consent through the emulated Paystack
//! mandate page, merchant debits within the limits (under concurrency), a schedule Cowry runs by
//! itself, revocation, cancellation and soft failures.

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, eventually, paystack_secret, spawn_with, TestApp};

/// The document's example request, with its dates moved `days` days from now.
pub fn example_in(days: i64) -> Value {
    let start = Utc::now() + TimeDelta::days(days);
    let local = |at: chrono::DateTime<Utc>| {
        at.with_timezone(&chrono_tz::Africa::Lagos)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    json!({
        "maximumAmount": "600",
        "debitType": "MERCHANT",
        "startDate": local(start),
        "expiryDate": local(start + TimeDelta::days(28)),
        "reference": "Testing Mona Scheduled Collection--Succeed",
        "schedule": {"type": "SCHEDULED", "frequency": "WEEKLY", "amount": "500",
                     "entries": [{"date": local(start), "amount": "200"}]},
        "agentId": "507f1f77bcf86cd799439011"
    })
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The customer consents as a browser would, without one: the consent form, Paystack's page, Approve.
/// Returns once the collection is ACTIVE.
pub async fn consent(app: &TestApp, data: &Value, email: &str) -> Value {
    let token = data["collection"]["loanLinkToken"].as_str().unwrap();
    let client = no_redirects();
    let started = client
        .post(app.url(&format!("/consent/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name=Ada+Obi&email={}&phone=", email.replace('+', "%2B")))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER, "{:?}", started.text().await);
    // The emulator hands out links at COWRY_PUBLIC_URL; the test reaches it where it listens.
    let paystack_page = started.headers()["location"]
        .to_str()
        .unwrap()
        .replace("http://cowry.test", &app.base);
    assert!(paystack_page.contains("/_emulator/paystack/authorize/"), "{paystack_page}");
    let approved = client
        .post(format!("{paystack_page}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.ends_with(&format!("/consent/{token}/done")), "{back}");
    let shown = client.get(&back).send().await.unwrap();
    assert_eq!(shown.status(), StatusCode::SEE_OTHER);
    let id = data["id"].as_str().unwrap().to_owned();
    eventually("the mandate to become active", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        (body["data"]["collection"]["status"] == "ACTIVE").then_some(body["data"].clone())
    })
    .await
}

/// Charges the emulated Paystack made on the collection's authorization.
async fn charges(app: &TestApp, authorization_code: &str) -> u64 {
    let merchant: String = sqlx::query_scalar("select id from merchants limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let secret = paystack_secret(&app.pool, &merchant).await;
    let body: Value = app
        .client
        .get(app.url(&format!("/_emulator/paystack/_charges/{authorization_code}")))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["charges"].as_u64().unwrap()
}

/// The mandate's authorization code, as the provider issued it (read back through the server's key).
async fn authorization_code(app: &TestApp, id: &str) -> String {
    let sealed: Vec<u8> =
        sqlx::query_scalar("select authorization_code from mandates where collection_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let key = cowry::domain::secretbox::SecretBox::from_hex(crate::common::ENCRYPTION_KEY).unwrap();
    String::from_utf8(key.open(&sealed, id.as_bytes()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_example_is_a_past_mandate_and_works_with_future_dates() {
    let app = spawn_with(&[]).await;
    // Verbatim, the example's mandate ended in 2025.
    let mut verbatim = example_in(0);
    verbatim["startDate"] = json!("2025-05-22T05:43:00");
    verbatim["expiryDate"] = json!("2025-06-19T08:42:00");
    verbatim["schedule"]["entries"][0]["date"] = json!("2025-05-22T05:43:00");
    let (status, body) = app.create(&verbatim).await;
    let fields = assert_error(&body, status, "validation_failed");
    assert_eq!(fields, ["expiryDate", "schedule.entries[0].date"]);
    assert_eq!(app.count("select count(*) from collections").await, 0);

    let (status, body) = app.create(&example_in(30)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    let data = &body["data"];
    assert_eq!(data["isConsented"], false);
    let collection = &data["collection"];
    assert_eq!(collection["maxAmount"], "600");
    assert_eq!(collection["monthlyLimit"], "600");
    assert_eq!(collection["status"], "NOT_STARTED");
    assert_eq!(collection["debitType"], "MERCHANT");
    assert_eq!(collection["lastCollectedAt"], Value::Null);
    assert_eq!(collection["schedule"]["type"], "SCHEDULED");
    assert_eq!(collection["schedule"]["frequency"], "WEEKLY");
    assert_eq!(collection["schedule"]["amount"], "500");
    assert_eq!(collection["schedule"]["entries"][0]["amount"], "200");
    assert_eq!(collection["reference"], "Testing Mona Scheduled Collection--Succeed");
    for at in [
        &collection["startDate"],
        &collection["expiryDate"],
        &collection["nextCollectionAt"],
        &data["createdAt"],
        &data["updatedAt"],
    ] {
        assert!(at.as_str().unwrap().ends_with('Z'), "{at}");
    }
    let token = collection["loanLinkToken"].as_str().unwrap();
    assert_eq!(
        data["consentUrl"],
        format!("http://cowry.test/consent/{token}")
    );
    assert_eq!(data["agentId"], "507f1f77bcf86cd799439011");

    // The same shape from GET, and in the list of scheduled collections.
    let id = data["id"].as_str().unwrap();
    let (status, fetched) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["data"]["collection"], body["data"]["collection"]);
    let (_, listed) = app.get("/collections?type=scheduled").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["collection"]["loanLinkToken"], token);
    let (_, by_status) = app.get("/collections?status=NOT_STARTED").await;
    assert_eq!(by_status["data"][0]["id"], id);
    let (_, none) = app.get("/collections?status=pending").await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);

    // The reference is the merchant's, once.
    let (status, body) = app.create(&example_in(30)).await;
    assert_error(&body, status, "duplicate_reference");

    // No debit before consent.
    let (status, body) = app
        .post_json(&format!("/collections/{id}/debit"), &json!({"amount": "100"}))
        .await;
    assert_error(&body, status, "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_merchant_debits_stop_exactly_at_the_monthly_limit() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let mut body = example_in(0);
    body["startDate"] = json!((Utc::now() - TimeDelta::hours(1)).to_rfc3339());
    body["maximumAmount"] = json!("10000");
    // Seven debits of 10000 fit in the month, and no interval applies (dated entries only).
    body["monthlyLimit"] = json!("70000");
    body["schedule"] = json!({"type": "SCHEDULED", "entries": [
        {"date": (Utc::now() + TimeDelta::days(1)).to_rfc3339(), "amount": "10000"}]});
    body["contact"] = json!({"firstName": "Ada", "lastName": "Obi", "phone": "+2348012345678",
                             "email": "ada@example.com"});
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = consent(&app, &created["data"], "ada@example.com").await;
    assert_eq!(data["isConsented"], true);
    let id = data["id"].as_str().unwrap().to_owned();

    let (status, over) = app
        .post_json(&format!("/collections/{id}/debit"), &json!({"amount": "10001"}))
        .await;
    assert_eq!(assert_error(&over, status, "limit_exceeded"), ["maximumAmount"]);

    let mut tries = tokio::task::JoinSet::new();
    for i in 0..20 {
        let request = app
            .authed(reqwest::Method::POST, &format!("/collections/{id}/debit"))
            .json(&json!({"amount": "10000", "reference": format!("d-{i}")}));
        tries.spawn(async move { crate::common::read(request.send().await.unwrap()).await });
    }
    let results = tries.join_all().await;
    let mut succeeded = 0;
    for (status, body) in &results {
        if *status == StatusCode::CREATED {
            assert_eq!(body["data"]["status"], "succeeded", "{body}");
            succeeded += 1;
        } else {
            assert_eq!(assert_error(body, *status, "limit_exceeded"), ["monthlyLimit"]);
        }
    }
    assert_eq!(succeeded, 7);
    let code = authorization_code(&app, &id).await;
    assert_eq!(charges(&app, &code).await, 7);
    let (_, fetched) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(fetched["data"]["debits"].as_array().unwrap().len(), 7);
    assert!(fetched["data"]["collection"]["lastCollectedAt"].is_string());
}

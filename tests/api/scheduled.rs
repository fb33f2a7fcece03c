//! Scheduled collections end to end: the document's example, consent through the emulated Paystack
//! mandate page, merchant debits within the limits (under concurrency), a schedule Cowry runs by
//! itself, revocation, cancellation and soft failures.

use chrono::{Datelike, TimeDelta, Utc};
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

/// A `MERCHANT` collection that can be debited as soon as it is consented: started an hour ago, one dated
/// entry tomorrow (so no interval applies), with these limits.
pub fn debitable_now(maximum: &str, monthly: &str) -> Value {
    let mut body = example_in(0);
    body["startDate"] = json!((Utc::now() - TimeDelta::hours(1)).to_rfc3339());
    body["maximumAmount"] = json!(maximum);
    body["monthlyLimit"] = json!(monthly);
    body["schedule"] = json!({"type": "SCHEDULED", "entries": [
        {"date": (Utc::now() + TimeDelta::days(1)).to_rfc3339(), "amount": maximum}]});
    body
}

pub fn no_redirects() -> reqwest::Client {
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
        .body(format!(
            "name=Ada+Obi&email={}&phone=",
            email.replace('+', "%2B")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        started.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        started.text().await
    );
    // The emulator hands out links at COWRY_PUBLIC_URL; the test reaches it where it listens.
    let paystack_page = started.headers()["location"]
        .to_str()
        .unwrap()
        .replace("http://cowry.test", &app.base);
    assert!(
        paystack_page.contains("/_emulator/paystack/authorize/"),
        "{paystack_page}"
    );
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

/// The test merchant's Paystack secret key, as the emulator knows it.
pub async fn secret(app: &TestApp) -> String {
    let merchant: String = sqlx::query_scalar("select id from merchants limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    paystack_secret(&app.pool, &merchant).await
}

/// Charges the emulated Paystack made on the collection's authorization.
pub async fn charges(app: &TestApp, authorization_code: &str) -> u64 {
    let secret = secret(app).await;
    let body: Value = app
        .client
        .get(app.url(&format!(
            "/_emulator/paystack/_charges/{authorization_code}"
        )))
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
pub async fn authorization_code(app: &TestApp, id: &str) -> String {
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
    assert_eq!(
        collection["reference"],
        "Testing Mona Scheduled Collection--Succeed"
    );
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
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "100"}),
        )
        .await;
    assert_error(&body, status, "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_merchant_debits_stop_exactly_at_the_monthly_limit() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    // Seven debits of 10000 fit in the month, and no interval applies (dated entries only).
    let mut body = debitable_now("10000", "70000");
    body["contact"] = json!({"firstName": "Ada", "lastName": "Obi", "phone": "+2348012345678",
                             "email": "ada@example.com"});
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = consent(&app, &created["data"], "ada@example.com").await;
    assert_eq!(data["isConsented"], true);
    let id = data["id"].as_str().unwrap().to_owned();

    let (status, over) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "10001"}),
        )
        .await;
    assert_eq!(
        assert_error(&over, status, "limit_exceeded"),
        ["maximumAmount"]
    );

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
            assert_eq!(
                assert_error(body, *status, "limit_exceeded"),
                ["monthlyLimit"]
            );
        }
    }
    assert_eq!(succeeded, 7);
    let code = authorization_code(&app, &id).await;
    assert_eq!(charges(&app, &code).await, 7);
    let (_, fetched) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(fetched["data"]["debits"].as_array().unwrap().len(), 7);
    assert!(fetched["data"]["collection"]["lastCollectedAt"].is_string());
}

/// A debit counts against its month's limit while it may still go through, and no longer once it has
/// failed: the mandate's running total gives its amount back in the statement that fails it. A debit
/// made with the clock set back to an earlier month counts that month's debits, not the running total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_debit_no_longer_counts_against_the_monthly_limit() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let mut body = debitable_now("20001", "30001");
    body["expiryDate"] = json!((Utc::now() + TimeDelta::days(70)).to_rfc3339());
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = consent(&app, &created["data"], "ada@example.com").await;
    let id = data["id"].as_str().unwrap().to_owned();
    let debit = |amount: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            app.post_json(
                &format!("/collections/{id}/debit"),
                &json!({"amount": amount}),
            )
            .await
        }
    };
    let spent = || async {
        app.count(&format!(
            "select spent_minor from mandates where collection_id = '{id}'"
        ))
        .await
    };
    // …01 amounts are declined by the emulated bank.
    let (status, declined) = debit("20001").await;
    assert_eq!(status, StatusCode::CREATED, "{declined}");
    eventually("the declined debit to fail", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        let debits = body["data"]["debits"].as_array()?.clone();
        (debits.len() == 1 && debits[0]["status"] == "failed").then_some(())
    })
    .await;
    assert_eq!(spent().await, 0, "a failed debit gives its amount back");
    // 20001 + 20000 would be over 30001: only the failed debit's amount coming back lets this through.
    let (status, paid) = debit("20000").await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(spent().await, 20000);
    let (status, over) = debit("10002").await;
    assert_eq!(
        assert_error(&over, status, "limit_exceeded"),
        ["monthlyLimit"]
    );
    let (status, fits) = debit("10000").await;
    assert_eq!(status, StatusCode::CREATED, "{fits}");
    assert_eq!(spent().await, 30000);

    // Next month (in Lagos) starts the total again; back in this month, its 30000 still count.
    let now = app.clock.now();
    let lagos = now.with_timezone(&chrono_tz::Africa::Lagos).date_naive();
    let next_month = (lagos.with_day(1).unwrap() + chrono::Months::new(1))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    app.clock.set(next_month);
    let (status, next) = debit("10000").await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(spent().await, 10000);
    app.clock.set(now);
    let (status, over) = debit("2").await;
    assert_eq!(
        assert_error(&over, status, "limit_exceeded"),
        ["monthlyLimit"],
        "this month's debits still count with the total kept for the next"
    );
}

fn london(at: chrono::DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::London)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn contact() -> Value {
    json!({"firstName": "Ada", "lastName": "Obi", "phone": "+2348012345678", "email": "ada@example.com"})
}

/// A `MONA` schedule of three dated installments a few seconds apart, written in London time.
fn mona_schedule(first_in_secs: i64, amounts: [&str; 3]) -> (Value, Vec<chrono::DateTime<Utc>>) {
    let now = Utc::now();
    let dates: Vec<_> = (0..3)
        .map(|i| {
            chrono::DurationRound::duration_trunc(
                now + TimeDelta::seconds(first_in_secs + 2 * i),
                TimeDelta::seconds(1),
            )
            .unwrap()
        })
        .collect();
    let entries: Vec<Value> = dates
        .iter()
        .zip(amounts)
        .map(|(at, amount)| json!({"date": london(*at), "amount": amount}))
        .collect();
    let body = json!({
        "maximumAmount": "50000", "monthlyLimit": "500000", "debitType": "MONA",
        "timeZone": "Europe/London",
        "startDate": london(now), "expiryDate": london(now + TimeDelta::days(2)),
        "reference": format!("mona-{}", uuid::Uuid::new_v4().simple()),
        "schedule": {"type": "SCHEDULED", "entries": entries},
        "contact": contact(),
    });
    (body, dates)
}

pub fn event_types(data: &Value) -> Vec<String> {
    data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_cowry_runs_debits_each_installment_once_at_its_time() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_WORKER_IDLE_MS", "50"),
    ])
    .await;
    let (body, dates) = mona_schedule(4, ["20000", "20000", "10000"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    // Read in London time, stored in UTC.
    let stored: Vec<String> = created["data"]["collection"]["schedule"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["date"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = dates.iter().map(cowry::domain::time::format).collect();
    assert_eq!(stored, expected);
    // Nothing is planned, let alone debited, before consent.
    assert_eq!(app.count("select count(*) from installments").await, 0);
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'debit'")
            .await,
        0
    );

    consent(&app, &created["data"], "ada@example.com").await;
    let done = eventually("every installment to be collected", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        (body["data"]["collection"]["status"] == "COMPLETED").then_some(body["data"].clone())
    })
    .await;
    let installments = done["installments"].as_array().unwrap();
    assert_eq!(installments.len(), 3);
    for (installment, due) in installments.iter().zip(&dates) {
        assert_eq!(installment["status"], "paid");
        assert_eq!(installment["attempts"], 1);
        assert_eq!(installment["date"], cowry::domain::time::format(due));
    }
    let debits = done["debits"].as_array().unwrap();
    assert_eq!(debits.len(), 3);
    for debit in debits {
        assert_eq!(debit["status"], "succeeded");
        // Taken at its time, never before.
        assert!(debit["createdAt"].as_str().unwrap() >= debit["installmentDate"].as_str().unwrap());
    }
    let code = authorization_code(&app, &id).await;
    assert_eq!(charges(&app, &code).await, 3);
    let types = event_types(&done);
    for expected in [
        "collection.created",
        "mandate.consented",
        "collection.completed",
    ] {
        assert_eq!(
            types.iter().filter(|t| *t == expected).count(),
            1,
            "{types:?}"
        );
    }
    assert_eq!(types.iter().filter(|t| *t == "debit.succeeded").count(), 3);
    assert!(done["collection"]["lastCollectedAt"].is_string());
    assert_eq!(done["collection"]["nextCollectionAt"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_failure_is_retried_on_the_schedule_then_the_installment_fails() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_WORKER_IDLE_MS", "50"),
        ("COWRY_DEBIT_RETRY_SCHEDULE", "200ms,200ms"),
    ])
    .await;
    // …01 amounts are declined by the emulated bank (a soft failure); the last one pays.
    let (body, _) = mona_schedule(2, ["20001", "20000", "20000"]);
    let (_, created) = app.create(&body).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;
    let done = eventually("the schedule to run out", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        let installments = body["data"]["installments"].as_array()?.clone();
        let settled = installments.len() == 3
            && installments
                .iter()
                .all(|i| i["status"] == "paid" || i["status"] == "failed");
        settled.then_some(body["data"].clone())
    })
    .await;
    let first = &done["installments"][0];
    assert_eq!(first["status"], "failed");
    // The first try and one per retry delay.
    assert_eq!(first["attempts"], 3);
    let failed: Vec<&Value> = done["debits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|d| d["failureClass"] == "soft"));
    // A soft failure does not end the mandate; the installment after it was collected.
    assert_eq!(done["installments"][1]["status"], "paid");
    assert_eq!(done["collection"]["status"], "ACTIVE");
    let types = event_types(&done);
    assert_eq!(types.iter().filter(|t| *t == "debit.failed").count(), 3);
    let code = authorization_code(&app, &id).await;
    assert_eq!(charges(&app, &code).await, 5);
    // Nothing is left open: the authorization request succeeded with the consent.
    assert_eq!(
        app.count("select count(*) from provider_attempts where status in ('created', 'pending', 'unknown')")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_mandate_stops_the_schedule_at_once() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_WORKER_IDLE_MS", "50"),
    ])
    .await;
    let (body, _) = mona_schedule(3600, ["20000", "20000", "20000"]);
    let (_, created) = app.create(&body).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'debit'")
            .await,
        3
    );
    // The customer revokes the mandate at their bank: Paystack reports it inactive.
    let code = authorization_code(&app, &id).await;
    let revoked = app
        .client
        .post(app.url(&format!(
            "/_emulator/paystack/_authorizations/{code}/revoke"
        )))
        .bearer_auth(secret(&app).await)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let data = eventually("the mandate to be revoked", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        (body["data"]["collection"]["status"] == "REVOKED").then_some(body["data"].clone())
    })
    .await;
    assert!(event_types(&data).contains(&"mandate.revoked".to_owned()));
    assert!(data["installments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == "cancelled"));
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'debit'")
            .await,
        0
    );
    assert_eq!(charges(&app, &code).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_failure_revokes_and_a_cancelled_mandate_is_deactivated() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let mut body = debitable_now("10000", "100000");
    body["reference"] = json!("hard");
    let (_, created) = app.create(&body).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;
    // The mandate is deactivated behind Cowry's back (no webhook): the next debit finds out.
    let code = authorization_code(&app, &id).await;
    let deactivated = app
        .client
        .post(app.url("/_emulator/paystack/customer/authorization/deactivate"))
        .bearer_auth(secret(&app).await)
        .json(&json!({"authorization_code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), StatusCode::OK);
    let (status, debit) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "5000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{debit}");
    assert_eq!(debit["data"]["status"], "failed");
    assert_eq!(debit["data"]["failureClass"], "hard");
    let (_, fetched) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(fetched["data"]["collection"]["status"], "REVOKED");
    let (status, body) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "5000"}),
        )
        .await;
    assert_error(&body, status, "invalid_state");

    // Cancelled before consent, then the customer consents anyway: recorded, never acted on.
    let mut second = example_in(1);
    second["reference"] = json!("cancelled");
    let (_, created) = app.create(&second).await;
    let second_id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, cancelled) = app.post(&format!("/collections/{second_id}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["data"]["collection"]["status"], "CANCELLED");
    let (status, again) = app.post(&format!("/collections/{second_id}/cancel")).await;
    assert_error(&again, status, "invalid_state");
    let token = created["data"]["collection"]["loanLinkToken"]
        .as_str()
        .unwrap();
    let page = app
        .client
        .get(app.url(&format!("/consent/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("cancelled"), "{html}");
    assert!(
        !html.contains("<form"),
        "a cancelled mandate offers no button"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_active_mandate_deactivates_it_at_paystack() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let (_, created) = app.create(&debitable_now("600", "600")).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;
    let (status, cancelled) = app.post(&format!("/collections/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let (_, fetched) = app.get(&format!("/collections/{id}")).await;
    let types = event_types(&fetched["data"]);
    assert!(
        types.contains(&"mandate.deactivated".to_owned()),
        "{types:?}"
    );
    // Paystack no longer accepts the code.
    let code = authorization_code(&app, &id).await;
    let refused = app
        .client
        .post(app.url("/_emulator/paystack/transaction/charge_authorization"))
        .bearer_auth(secret(&app).await)
        .json(&json!({"email": "ada@example.com", "amount": 500, "authorization_code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_mona_account_mona_runs_the_schedule_and_cowry_never_debits() {
    let app = spawn_with(&[]).await;
    let mut body = example_in(3);
    body["provider"] = json!("mona");
    let (status, refused) = app.create(&body).await;
    assert_eq!(
        assert_error(&refused, status, "validation_failed"),
        ["debitType"]
    );

    body["debitType"] = json!("MONA");
    body["monthlyLimit"] = json!("100000");
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    assert_eq!(created["data"]["provider"], "mona");
    assert_eq!(created["data"]["consentStage"], "requested");
    // Mona's id for the customer's consent in its SDK is recorded.
    let mona_id: String =
        sqlx::query_scalar("select provider_reference from mandates where collection_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(mona_id.len(), 24);
    // Cowry plans no debit of its own for it, now or later.
    assert_eq!(app.count("select count(*) from installments").await, 0);
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'debit'")
            .await,
        0
    );
    let (status, body) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "100"}),
        )
        .await;
    assert_error(&body, status, "invalid_state");
    // The consent page says where to consent, and offers no Paystack button.
    let token = created["data"]["collection"]["loanLinkToken"]
        .as_str()
        .unwrap();
    let html = app
        .client
        .get(app.url(&format!("/consent/{token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&mona_id), "{html}");
    assert!(!html.contains("<form"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_debits_keep_the_interval_replay_their_key_and_end_at_expiry() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let mut body = example_in(0);
    body["startDate"] = json!((Utc::now() - TimeDelta::hours(1)).to_rfc3339());
    body["monthlyLimit"] = json!("5000");
    body["schedule"] = json!({"type": "SUBSCRIPTION", "frequency": "WEEKLY", "amount": "500"});
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;

    let keyed = || {
        app.authed(reqwest::Method::POST, &format!("/collections/{id}/debit"))
            .header("Idempotency-Key", "week-1")
            .json(&json!({"amount": "500", "reference": "week-1"}))
    };
    let first = keyed().send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = keyed().send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["id"], first["data"]["id"]);
    assert_eq!(first["data"]["status"], "succeeded");
    let code = authorization_code(&app, &id).await;
    assert_eq!(charges(&app, &code).await, 1);

    // Weekly: the next debit is allowed a week after this one.
    let (status, too_soon) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "500"}),
        )
        .await;
    assert_eq!(
        assert_error(&too_soon, status, "limit_exceeded"),
        ["frequency"]
    );
    // A reference is the merchant's, once per collection.
    let (status, repeated) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "500", "reference": "week-1"}),
        )
        .await;
    assert_error(&repeated, status, "duplicate_reference");

    // Past its expiry the mandate ends, and debits with it.
    let after = Utc::now() + TimeDelta::days(40);
    cowry::jobs::expiry::expire_batch(&app.pool, after, 100)
        .await
        .unwrap();
    let (_, fetched) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(fetched["data"]["collection"]["status"], "EXPIRED");
    assert!(event_types(&fetched["data"]).contains(&"collection.expired".to_owned()));
    let (status, body) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "500"}),
        )
        .await;
    assert_error(&body, status, "invalid_state");
}

/// Starts the customer's consent (the form only) and returns the reference Paystack gave the request.
pub async fn start_consent(app: &TestApp, data: &Value) -> String {
    let token = data["collection"]["loanLinkToken"].as_str().unwrap();
    let started = no_redirects()
        .post(app.url(&format!("/consent/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ada%40example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    sqlx::query_scalar("select provider_reference from mandates where collection_id = $1")
        .bind(data["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Sends Paystack's signed `direct_debit.authorization.active` for `reference` to the account's own URL.
async fn authorization_active(app: &TestApp, reference: &str) -> StatusCode {
    authorization_event(app, reference, "active").await
}

async fn authorization_event(app: &TestApp, reference: &str, what: &str) -> StatusCode {
    let account: String =
        sqlx::query_scalar("select id from merchant_providers where slug = 'paystack' limit 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let secret = secret(app).await;
    let body = json!({"event": format!("direct_debit.authorization.{what}"), "data": {
        "authorization_code": "AUTH_webhook01", "active": what == "active", "channel": "direct_debit",
        "reference": reference, "customer": {"email": "ada@example.com"}}})
    .to_string();
    app.client
        .post(app.url(&format!("/webhooks/paystack/{account}")))
        .header("content-type", "application/json")
        .header(
            "x-paystack-signature",
            cowry::emulator::hmac_sha512_hex(&secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_by_webhook_counts_once_and_late_consent_is_only_recorded() {
    let app = spawn_with(&[("COWRY_WORKER_IDLE_MS", "20")]).await;
    let (_, created) = app.create(&example_in(30)).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let reference = start_consent(&app, &created["data"]).await;
    // Paystack delivers the activation twice (a retry), at the account's own callback URL.
    assert_eq!(authorization_active(&app, &reference).await, StatusCode::OK);
    assert_eq!(authorization_active(&app, &reference).await, StatusCode::OK);
    let data = eventually("the webhook to consent", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        (body["data"]["collection"]["status"] == "ACTIVE").then_some(body["data"].clone())
    })
    .await;
    assert_eq!(data["isConsented"], true);
    let consented = event_types(&data)
        .iter()
        .filter(|t| *t == "mandate.consented")
        .count();
    assert_eq!(consented, 1);
    // Paystack's `created` event arriving after `active` (deliveries are not ordered) changes nothing.
    assert_eq!(
        authorization_event(&app, &reference, "created").await,
        StatusCode::OK
    );
    eventually("the late `created` event to be processed", || async {
        let processed = app
            .count("select count(*) from webhook_receipts where outcome like 'direct_debit.authorization.created%'")
            .await;
        (processed == 1).then_some(())
    })
    .await;
    let (_, still) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(still["data"]["collection"]["status"], "ACTIVE");

    // Consent for a collection cancelled meanwhile: recorded, never acted on.
    let mut body = example_in(30);
    body["reference"] = json!("cancelled-first");
    let (_, created) = app.create(&body).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let reference = start_consent(&app, &created["data"]).await;
    let (status, _) = app.post(&format!("/collections/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(authorization_active(&app, &reference).await, StatusCode::OK);
    let data = eventually("the late consent to be recorded", || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        event_types(&body["data"])
            .contains(&"mandate.consent_after_close".to_owned())
            .then_some(body["data"].clone())
    })
    .await;
    assert_eq!(data["collection"]["status"], "CANCELLED");
    assert_eq!(data["isConsented"], false);
}

/// A merchant's debit that waits on the mandate's lock while the collection is being cancelled is
/// refused once the cancel commits: the status it decides on is read after the lock is granted, not from
/// the snapshot its locking statement took before it waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_waiting_on_a_cancel_is_refused_and_charges_nothing() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let (status, created) = app.create(&debitable_now("10000", "70000")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = consent(&app, &created["data"], "ada@example.com").await;
    let id = data["id"].as_str().unwrap().to_owned();

    // The cancel, in flight: the mandate locked and the collection cancelled, not yet committed.
    let mut cancelling = app.pool.begin().await.unwrap();
    sqlx::query("select 1 from mandates where collection_id = $1 for update")
        .bind(&id)
        .execute(&mut *cancelling)
        .await
        .unwrap();
    sqlx::query("update collections set status = 'CANCELLED' where id = $1")
        .bind(&id)
        .execute(&mut *cancelling)
        .await
        .unwrap();
    let debit = {
        let request = app
            .authed(reqwest::Method::POST, &format!("/collections/{id}/debit"))
            .json(&json!({"amount": "100"}));
        tokio::spawn(async move { crate::common::read(request.send().await.unwrap()).await })
    };
    eventually("the debit to wait on the mandate's lock", || async {
        let waiting = app
            .count("select count(*) from pg_locks where not granted and locktype = 'transactionid'")
            .await;
        (waiting > 0).then_some(())
    })
    .await;
    cancelling.commit().await.unwrap();

    let (status, body) = debit.await.unwrap();
    assert_error(&body, status, "invalid_state");
    assert_eq!(
        app.count("select count(*) from debits").await,
        0,
        "a debit was made after the cancel"
    );
    let code = authorization_code(&app, &id).await;
    assert_eq!(charges(&app, &code).await, 0);
}

//! The two consent rails beyond the happy direct-debit path: a card (a small verification charge that
//! leaves a reusable authorization and is refunded; a declined or single-use card sends the customer
//! back), and a direct-debit mandate the bank did not activate, whose activation charge Cowry retries
//! after a day (walked with the business clock).

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{eventually, run_one, spawn_with, TestApp};
use crate::scheduled::{
    authorization_code, charges, debitable_now, event_types, no_redirects, secret,
};
use crate::scheduled_clock::worker_pass;

/// Presses the consent page's button for `rail` as `email`; returns where the customer is sent.
async fn press(app: &TestApp, data: &Value, email: &str, rail: &str) -> String {
    let token = data["collection"]["loanLinkToken"].as_str().unwrap();
    let started = no_redirects()
        .post(app.url(&format!("/consent/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email={}&rail={rail}",
            email.replace('+', "%2B").replace('@', "%40")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER, "{rail}");
    // The emulator hands out links at COWRY_PUBLIC_URL; the test reaches it where it listens.
    started.headers()["location"]
        .to_str()
        .unwrap()
        .replace("http://cowry.test", &app.base)
}

/// The customer acts on the emulated checkout; follows Paystack's redirect back, if any and if `back`.
async fn checkout(app: &TestApp, page: &str, action: &str, back: bool) {
    assert!(page.contains("/_emulator/paystack/checkout/"), "{page}");
    let shown = app
        .client
        .get(page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("NGN 50"),
        "the verification charge is shown: {shown}"
    );
    let acted = no_redirects()
        .post(format!("{page}/{action}"))
        .send()
        .await
        .unwrap();
    assert_eq!(acted.status(), StatusCode::SEE_OTHER);
    let location = acted.headers()["location"].to_str().unwrap().to_owned();
    if location.contains("/consent/") {
        assert!(location.contains("/done?trxref="), "{location}");
        if back {
            let returned = no_redirects().get(&location).send().await.unwrap();
            assert_eq!(returned.status(), StatusCode::SEE_OTHER);
        }
    }
}

async fn collection(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/collections/{id}")).await.1["data"].clone()
}

/// The card verification charge's attempt: (reference, status).
async fn verification(app: &TestApp, id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "select provider_reference, status from provider_attempts
         where scheduled_id = $1 and operation = 'authorize_card' order by created_at",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The emulated Paystack's view of a transaction.
async fn at_paystack(app: &TestApp, reference: &str) -> Value {
    app.client
        .get(app.url(&format!(
            "/_emulator/paystack/transaction/verify/{reference}"
        )))
        .bearer_auth(secret(app).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_consents_with_a_refunded_verification_charge_and_is_then_debited() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_EMULATOR_AUTOSETTLE", "false"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let (status, created) = app.create(&debitable_now("40000", "100000")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let token = created["data"]["collection"]["loanLinkToken"]
        .as_str()
        .unwrap();
    let page = app
        .client
        .get(app.url(&format!("/consent/{token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"direct_debit\"") && page.contains("value=\"card\""));
    assert!(page.contains("NGN 50.00, refunded at once"), "{page}");

    let checkout_page = press(&app, &created["data"], "ada@example.com", "card").await;
    let during = collection(&app, &id).await;
    assert_eq!(
        (
            during["consentStage"].as_str(),
            during["consentRail"].as_str()
        ),
        (Some("requested"), Some("card"))
    );
    // The customer closes the tab after paying: Paystack's webhook and the consent poll consent, whether
    // or not Cowry's refund of the verification is already through by the time it reads the card.
    checkout(&app, &checkout_page, "pay", false).await;
    let active = eventually("the card to consent", || async {
        let data = collection(&app, &id).await;
        (data["collection"]["status"] == "ACTIVE").then_some(data)
    })
    .await;
    assert_eq!(active["isConsented"], true);
    assert_eq!(active["consentRail"], "card");

    // The verification charge is refunded, and Paystack's refund.processed marks it reversed.
    let charged = verification(&app, &id).await;
    assert_eq!(charged.len(), 1);
    let reference = charged[0].0.clone();
    eventually("the verification charge to be refunded", || async {
        (verification(&app, &id).await[0].1 == "reversed").then_some(())
    })
    .await;
    assert_eq!(
        at_paystack(&app, &reference).await["data"]["status"],
        "reversed"
    );
    assert_eq!(at_paystack(&app, &reference).await["data"]["amount"], 5000);
    let data = collection(&app, &id).await;
    let types = event_types(&data);
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "mandate.verification_refunded")
            .count(),
        1,
        "{types:?}"
    );
    // Nothing of the verification counts as a debit.
    assert_eq!(data["debits"].as_array().unwrap().len(), 0);

    // The card's authorization is the mandate: a merchant debit is charged on it.
    let (status, debit) = app
        .post_json(
            &format!("/collections/{id}/debit"),
            &json!({"amount": "40000", "reference": "first"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{debit}");
    let code = authorization_code(&app, &id).await;
    eventually("the debit to succeed", || async {
        let data = collection(&app, &id).await;
        (data["debits"][0]["status"] == "succeeded").then_some(())
    })
    .await;
    assert_eq!(charges(&app, &code).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_or_declined_card_sends_the_customer_back_and_keeps_nothing() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_EMULATOR_AUTOSETTLE", "false"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let (_, created) = app.create(&debitable_now("40000", "100000")).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    // A card Paystack cannot charge again: paid, refunded, and not a mandate.
    let page = press(&app, &created["data"], "ada+once@example.com", "card").await;
    checkout(&app, &page, "pay", true).await;
    let back = eventually("the single-use card to be refused", || async {
        let data = collection(&app, &id).await;
        (data["consentStage"] == "none").then_some(data)
    })
    .await;
    assert_eq!(back["collection"]["status"], "NOT_STARTED");
    assert_eq!(back["isConsented"], false);
    assert!(event_types(&back).contains(&"mandate.consent_failed".to_owned()));
    eventually("the single-use card's charge to be refunded", || async {
        (verification(&app, &id).await[0].1 == "reversed").then_some(())
    })
    .await;

    // Then a declined card: the customer comes back to the page, which asks Paystack.
    let page = press(&app, &created["data"], "ada@example.com", "card").await;
    checkout(&app, &page, "decline", true).await;
    let token = created["data"]["collection"]["loanLinkToken"]
        .as_str()
        .unwrap();
    let returned = no_redirects()
        .get(app.url(&format!("/consent/{token}/done")))
        .send()
        .await
        .unwrap();
    assert_eq!(returned.status(), StatusCode::SEE_OTHER);
    let data = collection(&app, &id).await;
    assert_eq!(data["consentStage"], "none");
    let attempts = verification(&app, &id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].1, "failed");
    let failures = event_types(&data)
        .iter()
        .filter(|t| *t == "mandate.consent_failed")
        .count();
    assert_eq!(failures, 2);
    // Only the paid charge was refunded.
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'refund' and status = 'failed'")
            .await,
        0
    );
    assert_eq!(
        at_paystack(&app, &attempts[1].0).await["data"]["status"],
        "failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_mandate_the_bank_did_not_activate_is_retried_after_a_day() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_EMULATOR_AUTOSETTLE", "false"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let (_, created) = app.create(&debitable_now("40000", "100000")).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    // `+manual`: the emulated bank's activation charge does not go through by itself.
    let page = press(
        &app,
        &created["data"],
        "ada+manual@example.com",
        "direct_debit",
    )
    .await;
    let approved = no_redirects()
        .post(format!("{page}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    no_redirects().get(&back).send().await.unwrap();
    eventually("the approval to be recorded", || async {
        (collection(&app, &id).await["consentStage"] == "authorized").then_some(())
    })
    .await;
    let retried = || async {
        event_types(&collection(&app, &id).await)
            .iter()
            .filter(|t| *t == "mandate.activation_retried")
            .count()
    };

    // Not before a day has passed.
    let start = app.clock.now();
    app.clock.set(start + TimeDelta::hours(23));
    worker_pass(&app).await;
    assert_eq!(retried().await, 0);
    assert_eq!(
        collection(&app, &id).await["collection"]["status"],
        "NOT_STARTED"
    );

    // After a day: Cowry asks Paystack to retry the activation charge, and the bank activates.
    app.clock
        .set(start + TimeDelta::hours(24) + TimeDelta::minutes(1));
    let active = eventually("the retried activation to consent", || async {
        let data = collection(&app, &id).await;
        (data["collection"]["status"] == "ACTIVE").then_some(data)
    })
    .await;
    assert_eq!(retried().await, 1);
    assert_eq!(active["consentRail"], "direct_debit");
    // Consent ends the retries.
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'activation'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_refunded_before_the_consent_is_read_still_consents() {
    let extra = [
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_EMULATOR_AUTOSETTLE", "false"),
        // No worker: the test runs each job itself, in the order that matters here.
        ("COWRY_WORKERS", "false"),
    ];
    let app = spawn_with(&extra).await;
    let state = cowry::AppState::new(app.pool.clone(), crate::common::test_config(&extra));
    state.providers.set_self_base(app.base.clone());
    let (_, created) = app.create(&debitable_now("40000", "100000")).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    // The customer pays and closes the tab.
    let page = press(&app, &created["data"], "ada@example.com", "card").await;
    checkout(&app, &page, "pay", false).await;
    let reference = verification(&app, &id).await[0].0.clone();

    // Paystack's charge.success is settled: the refund and the consent poll are queued, both due now.
    eventually("Paystack's charge.success to arrive", || async {
        (app.count("select count(*) from jobs where kind = 'webhook'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    run_one(&app, &state, "webhook").await;
    assert_eq!(verification(&app, &id).await[0].1, "succeeded");
    // The refund runs first and goes through at Paystack before the poll reads the card.
    run_one(&app, &state, "refund").await;
    eventually("the refund to be processed at Paystack", || async {
        (at_paystack(&app, &reference).await["data"]["status"] == "reversed").then_some(())
    })
    .await;
    run_one(&app, &state, "consent").await;
    let data = collection(&app, &id).await;
    assert_eq!(data["collection"]["status"], "ACTIVE", "{data}");
    assert_eq!(data["consentRail"], "card");
}

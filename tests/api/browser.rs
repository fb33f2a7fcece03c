//! Test mode as a person sees it: a checkout link opened in a real browser (headless Chromium, driven by
//! `tests/browser/checkout.mjs`), a button pressed, and the payment reaching Cowry the way the provider
//! would send it; phone prompts approved or rejected on their page. With
//! `COWRY_EMULATOR_AUTOSETTLE=false` nothing is paid until someone acts.

use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{eventually, example, spawn_with, TestApp};

const BY_A_PERSON: [(&str, &str); 4] = [
    ("COWRY_EMULATOR_AUTOSETTLE", "false"),
    ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ("COWRY_RECONCILE_SCHEDULE", "1h"),
    ("COWRY_WORKER_IDLE_MS", "20"),
];

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs the browser script (installing its one npm package on first use); returns what the page said
/// before and after the press.
fn press(url: &str, button: &str, screenshot: &std::path::Path) -> Value {
    run_script("checkout.mjs", &[url, button], screenshot)
}

/// Runs one of `tests/browser/*.mjs` with `args` and the screenshot path; returns its JSON.
fn run_script(script: &str, args: &[&str], screenshot: &std::path::Path) -> Value {
    let dir = browser_dir();
    if !dir.join("node_modules/playwright-core").exists()
        || !dir.join("node_modules/axe-core").exists()
    {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci (tests/browser) failed");
    }
    let output = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .arg(screenshot)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser reported errors: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// The link as the customer's browser reaches this test server (`COWRY_PUBLIC_URL` is a placeholder in
/// tests).
fn reachable(app: &TestApp, link: &str) -> String {
    link.replacen("http://cowry.test", &app.base, 1)
}

async fn collection(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/collections/{id}")).await.1["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_on_the_checkout_page_in_a_real_browser() {
    let app = spawn_with(&BY_A_PERSON).await;
    // The README's walk-through: the integrated document's example through Paystack.
    let (status, created) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let link = created["data"]["payable"]["options"][0]["link"]
        .as_str()
        .unwrap();
    // Nobody has paid, and nothing pays by itself.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(collection(&app, &id).await["status"], "pending");

    let page = reqwest::get(reachable(&app, link)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let screenshot = std::env::temp_dir().join(format!("cowry-checkout-{id}.png"));
    let seen = press(&reachable(&app, link), "Pay", &screenshot);
    let before = seen["before"].as_str().unwrap();
    for shown in ["Pay Test merchant", "NGN 45000", "amina.lawal@example.com"] {
        assert!(before.contains(shown), "{shown} not on the page: {before}");
    }
    assert!(
        seen["after"]
            .as_str()
            .unwrap()
            .contains("Payment successful"),
        "{seen}"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real screenshot"
    );

    // Paystack's signed charge.success came back to Cowry, verified, and completed the collection.
    let done = eventually("the collection to complete", || async {
        let now = collection(&app, &id).await;
        (now["status"] == "completed").then_some(now)
    })
    .await;
    assert!(done["completedAt"].is_string(), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_checkout_stays_payable_in_cowry_and_fails_at_paystack() {
    let app = spawn_with(&BY_A_PERSON).await;
    let mut body = example();
    body["payable"]["methods"] = json!(["payment_link"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let link = reachable(
        &app,
        created["data"]["payable"]["options"][0]["link"]
            .as_str()
            .unwrap(),
    );
    let screenshot = std::env::temp_dir().join(format!(
        "cowry-declined-{}.png",
        created["data"]["id"].as_str().unwrap()
    ));
    let seen = press(&link, "Decline", &screenshot);
    assert!(
        seen["after"].as_str().unwrap().contains("Payment declined"),
        "{seen}"
    );
    // The page no longer offers the buttons.
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(!page.contains(">Pay<"), "{page}");
}

/// The payers' phones: an MTN prompt waits until it is approved on the prompts page, then MTN's
/// callback settles the collect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mobile_money_prompt_waits_for_the_payer_to_approve_it() {
    let app = spawn_with(&BY_A_PERSON).await;
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 2000, "payerMessage": "Order 9"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let id = sent["payload"]["id"].as_str().unwrap().to_owned();
    let prompts = reqwest::get(app.url("/_emulator/mtn_momo/prompts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        prompts.contains("+256772123456") && prompts.contains("Order 9"),
        "{prompts}"
    );
    let reference: String = sqlx::query_scalar("select provider_reference from provider_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let approved = reqwest::Client::new()
        .post(app.url(&format!("/_emulator/mtn_momo/prompts/{reference}/approve")))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success(), "{}", approved.status());
    let paid = crate::collect::settled(&app, &id).await;
    assert_eq!(paid["status"], "SUCCESS");
    let after = reqwest::get(app.url("/_emulator/mtn_momo/prompts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(after.contains("No open prompts"), "{after}");
}

/// Creates the document's example (dates moved) and consents to it in the browser on `rail`; returns
/// what the pages said and the collection afterwards.
async fn consent_in_browser(rail: &str) -> (Value, Value) {
    // The consent page sends the customer on to Paystack and back by real redirects, so the public URL
    // is where this server really listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let public = format!("http://{bind}");
    let app = spawn_with(&[
        ("COWRY_BIND", &bind),
        ("COWRY_PUBLIC_URL", &public),
        ("COWRY_EMULATOR_AUTOSETTLE", "false"),
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let mut body = crate::scheduled::example_in(30);
    body["contact"] = json!({"firstName": "Ada", "lastName": "Obi", "phone": "+2348012345678",
                             "email": "ada.obi@example.com"});
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let url = created["data"]["consentUrl"].as_str().unwrap().to_owned();

    let screenshot = std::env::temp_dir().join(format!("cowry-consent-{rail}-{id}.png"));
    let seen = run_script("consent.mjs", &[&url, rail], &screenshot);
    let before = seen["before"].as_str().unwrap();
    for shown in [
        "Authorize Test merchant to debit your account",
        "NGN 6.00",
        "weekly",
        "Testing Mona Scheduled Collection--Succeed",
        "NGN 50.00, refunded at once",
    ] {
        assert!(before.contains(shown), "{shown} not on the page: {before}");
    }
    assert_eq!(
        seen["email"], "ada.obi@example.com",
        "prefilled from the contact"
    );
    assert!(
        seen["after"].as_str().unwrap().contains("Authorized"),
        "{seen}"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real screenshot"
    );
    let data = collection(&app, &id).await;
    assert_eq!(data["isConsented"], true);
    assert_eq!(data["collection"]["status"], "ACTIVE");
    (seen, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_consents_to_a_scheduled_collection_in_a_real_browser() {
    let (seen, data) = consent_in_browser("bank").await;
    assert!(seen["paystack"]
        .as_str()
        .unwrap()
        .contains("Authorize a direct debit"));
    assert!(seen["after"]
        .as_str()
        .unwrap()
        .contains("collect from your bank account"));
    assert!(seen["after"]
        .as_str()
        .unwrap()
        .contains("Authorized (bank account)"));
    assert_eq!(data["consentRail"], "direct_debit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_consents_with_a_card_in_a_real_browser() {
    let (seen, data) = consent_in_browser("card").await;
    // Paystack's checkout asks for the verification charge, not an installment.
    assert!(
        seen["paystack"].as_str().unwrap().contains("NGN 50"),
        "{seen}"
    );
    assert!(seen["after"]
        .as_str()
        .unwrap()
        .contains("collect from your card"));
    assert!(seen["after"]
        .as_str()
        .unwrap()
        .contains("Authorized (card)"));
    assert_eq!(data["consentRail"], "card");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_on_the_hosted_page_in_a_real_browser() {
    let app = spawn_with(&BY_A_PERSON).await;
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["payable"]["methods"] = json!(["payment_link", "virtual_account", "mobile_money"]);
    let (status, first) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    body["reference"] = json!("PSK_txn_second");
    let (_, second) = app.create(&body).await;
    let page_of =
        |created: &Value| reachable(&app, created["data"]["payable"]["payUrl"].as_str().unwrap());
    let (first_url, second_url) = (page_of(&first), page_of(&second));
    // The sandbox's payment link is the hosted page itself.
    assert_eq!(
        reachable(
            &app,
            first["data"]["payable"]["options"][0]["link"]
                .as_str()
                .unwrap()
        ),
        first_url
    );
    let account = first["data"]["payable"]["options"][1]["accountNumber"]
        .as_str()
        .unwrap()
        .to_owned();

    // Served with a strict policy, and nothing of the customer's in full.
    let page = reqwest::get(&first_url).await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text().await.unwrap();
    for hidden in [
        "+2348012345678",
        "amina.lawal@example.com",
        "merchant_id",
        "pay_",
    ] {
        assert!(!html.contains(hidden), "{hidden} is on the page");
    }
    for shown in [
        "NGN 45,000.00",
        "January plan renewal",
        "+234 ••• ••• 5678",
        "a•••@example.com",
        "Cowry Sandbox Bank",
        &account,
        "Send me the prompt",
        "<svg",
    ] {
        assert!(html.contains(shown), "{shown} is not on the page");
    }

    let prefix = std::env::temp_dir().join(format!("cowry-pay-{}", uuid::Uuid::new_v4().simple()));
    let seen = run_script(
        "pay.mjs",
        &[
            &first_url,
            &app.url("/sandbox/transfers"),
            &account,
            "45000",
            &second_url,
        ],
        &prefix,
    );
    let serious: Vec<&Value> = seen["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "accessibility: {serious:?}");
    assert_eq!(seen["overflows"], false, "the page fits a 360 px screen");
    for script in seen["scripts"].as_array().unwrap() {
        assert!(script.as_str().unwrap().starts_with(&app.base), "{script}");
    }
    // Paid from the bank, and the open page said so by itself.
    assert_eq!(seen["transfer"], 201);
    assert_eq!(seen["live"], "Paid");
    assert_eq!(seen["navigations"], 1, "no reload");
    assert_eq!(seen["receiptShown"], true);
    // The test-mode Pay button, then the receipt.
    assert_eq!(seen["afterPay"], "Paid");
    let receipt = seen["receipt"].as_str().unwrap();
    for shown in [
        "Test merchant",
        "NGN 45,000.00",
        "PSK_txn_second",
        "sbx_",
        "Cowry sandbox",
    ] {
        assert!(
            receipt.contains(shown),
            "{shown} not on the receipt: {receipt}"
        );
    }
    for width in [360, 1280] {
        let png = std::fs::read(format!("{}-{width}.png", prefix.display())).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "a real screenshot"
        );
    }
    for created in [&first, &second] {
        let id = created["data"]["id"].as_str().unwrap();
        assert_eq!(collection(&app, id).await["status"], "completed");
    }
    // The link lives on for the receipt, then dies.
    sqlx::query("update collections set completed_at = now() - interval '8 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        reqwest::get(&first_url).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let guessed = format!("{}/pay/PSK_txn_8a7f34", app.base);
    assert_eq!(
        reqwest::get(&guessed).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

//! Nothing sensitive in the logs, at any level: a real `cowry serve` runs with `COWRY_LOG=trace`, the
//! main flows go through it (keys, provider credentials, collections with contacts, mobile-money
//! collects, signed callbacks, operators), and its whole log is searched for every secret, API key,
//! phone number, email and account number the flows used.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{eventually, spawn_with, ADMIN_TOKEN};

const ENCRYPTION_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const PAYSTACK_SECRET: &str = "sk_test_logsecret0123456789";
const MOMO_API_KEY: &str = "momo-api-key-log-secret-42";
const MOMO_SUBSCRIPTION: &str = "momo-subscription-log-secret-43";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_level_log_holds_no_secret_key_phone_email_or_account_number() {
    // The database and merchant come from the in-process app; the process under test is a real binary.
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("cowry-trace-{port}.log"));
    let mut child = app
        .cowry("serve")
        .env("COWRY_BIND", format!("127.0.0.1:{port}"))
        .env("COWRY_LOG", "trace")
        .env("COWRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("COWRY_ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("COWRY_EMULATORS", "true")
        .env("COWRY_EMULATOR_SETTLE_MS", "20")
        .env("COWRY_RECONCILE_SCHEDULE", "100ms")
        .env("COWRY_WORKER_IDLE_MS", "20")
        // The logs go to standard output.
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the cowry binary starts");
    let client = reqwest::Client::new();
    eventually("the process to serve", || async {
        let ready = client.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status().is_success()).then_some(())
    })
    .await;
    let key = app.key.clone();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("x-api-key", &key)
            .json(&body)
            .send()
    };

    // Provider accounts with credentials (Paystack on its emulator; MoMo with its own keys).
    let paystack = post(
        "/providers",
        json!({"slug": "paystack-own", "kind": "paystack", "mode": "test",
               "credentials": {"secretKey": PAYSTACK_SECRET}}),
    )
    .await
    .unwrap();
    assert_eq!(paystack.status(), StatusCode::CREATED);
    let momo = post(
        "/providers",
        json!({"slug": "momo-own", "kind": "mtn_momo", "mode": "test",
               "baseUrl": format!("{base}/_emulator/mtn_momo"),
               "credentials": {"apiUser": "0b2f8e9c-3c59-4a37-9a59-2f0c8d1e6a11", "apiKey": MOMO_API_KEY,
                               "subscriptionKey": MOMO_SUBSCRIPTION, "targetEnvironment": "sandbox"}}),
    )
    .await
    .unwrap();
    assert_eq!(momo.status(), StatusCode::CREATED);

    // An integrated collection through Paystack (a NUBAN comes back), one with the sandbox, and
    // mobile-money collects on MTN and Airtel.
    let mut body: Value =
        serde_json::from_str(include_str!("../fixtures/integrated_example.json")).unwrap();
    body["provider"] = json!("paystack-own");
    let created: Value = post("/collections", body.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account_number = created["data"]["payable"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["accountNumber"].as_str())
        .expect("a virtual account")
        .to_owned();
    body["provider"] = json!("sandbox");
    body["reference"] = json!("log-sandbox-1");
    let sandbox: Value = post("/collections", body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sandbox_account = sandbox["data"]["payable"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["accountNumber"].as_str())
        .unwrap()
        .to_owned();
    for (phone, provider) in [
        ("+256772123456", "momo-own"),
        ("+256752123456", "airtel_money"),
    ] {
        let sent = post(
            "/collections/collect",
            json!({"phone": phone, "amount": 1500, "provider": provider, "payerMessage": "Order 7"}),
        )
        .await
        .unwrap();
        assert_eq!(sent.status(), StatusCode::CREATED);
    }
    // Operators look around; a merchant is made (its key in the answer).
    let made: Value = client
        .post(format!("{base}/admin/merchants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "Log Ltd"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = made["apiKey"].as_str().unwrap().to_owned();
    for path in ["/admin/attempts", "/admin/jobs", "/admin/check"] {
        let seen = client
            .get(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(seen.status(), StatusCode::OK);
    }
    // Let the polls and callbacks run, then stop the process.
    eventually("the collects to settle", || async {
        let open = app
            .count("select count(*) from mobile_money_collects where status = 'PENDING'")
            .await;
        (open == 0).then_some(())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 100,
        "a trace log of the flows was written"
    );
    let forbidden = [
        ("the merchant's API key", app.key.as_str()),
        ("a new merchant's API key", other_key.as_str()),
        ("the admin token", ADMIN_TOKEN),
        ("the encryption key", ENCRYPTION_KEY),
        ("a Paystack secret key", PAYSTACK_SECRET),
        ("a MoMo API key", MOMO_API_KEY),
        ("a MoMo subscription key", MOMO_SUBSCRIPTION),
        ("a payer's phone", "256772123456"),
        ("a payer's phone", "256752123456"),
        ("a contact's phone", "2348012345678"),
        ("a contact's email", "amina.lawal@example.com"),
        ("a virtual account number", account_number.as_str()),
        ("a virtual account number", sandbox_account.as_str()),
    ];
    let mut found = Vec::new();
    for (what, needle) in forbidden {
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            found.push(format!("{what}: {}", &line[..line.len().min(300)]));
        }
    }
    assert!(found.is_empty(), "the log holds:\n{}", found.join("\n"));
}

//! Transfers into virtual accounts count: Paystack dedicated accounts (through the emulator, which fires
//! `charge.success` with `channel: dedicated_nuban` as Paystack does) and sandbox accounts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{
    assert_error, eventually, example, paystack_secret, read, spawn, spawn_with, TestApp,
};

async fn merchant_id(app: &TestApp) -> String {
    sqlx::query_scalar("select merchant_id from api_keys limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn option<'a>(collection: &'a Value, method: &str) -> &'a Value {
    collection["payable"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["method"] == method)
        .unwrap_or_else(|| panic!("no {method} option in {collection}"))
}

/// What the customer's bank does: a transfer of `kobo` into the dedicated account (the emulator's test
/// call; its page does the same).
async fn transfer(app: &TestApp, account_number: &str, kobo: i64) -> Value {
    let (status, body) = read(
        app.client
            .post(app.url("/_emulator/paystack/_transfers"))
            .json(&json!({"account_number": account_number, "amount": kobo}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn collection(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/collections/{id}")).await.1["data"].clone()
}

async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    collection(app, id).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// How many transfers Cowry recorded (each once, whatever became of it).
async fn transfers_recorded(app: &TestApp) -> i64 {
    app.count("select count(*) from provider_attempts where operation = 'transfer'")
        .await
}

async fn settled(app: &TestApp, count: i64) {
    eventually("the transfer to be recorded", || async {
        (transfers_recorded(app).await == count).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_into_a_dedicated_account_pay_by_the_documented_rule() {
    // Checkouts wait for the customer (tests otherwise pay them by themselves).
    let app = spawn_with(&[("COWRY_EMULATOR_AUTOSETTLE", "false")]).await;
    // Two collections for one customer: one dedicated account (made once, then reused).
    let (status, first) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["data"].clone();
    let mut body = example();
    body["reference"] = json!("PSK_txn_second");
    body["amount"]["value"] = json!(20000);
    let (status, second) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["data"].clone();
    let number = option(&first, "virtual_account")["accountNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(option(&second, "virtual_account")["accountNumber"], number);
    assert_eq!(
        app.count("select count(*) from provider_attempts where operation = 'dedicated_account'")
            .await,
        1,
        "the second collection reused the customer's account"
    );
    let (first_id, second_id) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );

    // Exactly what the newer one owes: it pays the newer one, not the oldest.
    transfer(&app, &number, 2_000_000).await;
    settled(&app, 1).await;
    assert_eq!(collection(&app, &second_id).await["status"], "completed");
    assert_eq!(collection(&app, &first_id).await["status"], "pending");

    // Short: recorded, the collection stays open showing what is left, and its checkout is for the rest.
    transfer(&app, &number, 2_000_000).await;
    settled(&app, 2).await;
    let partial = collection(&app, &first_id).await;
    assert_eq!(partial["status"], "pending");
    assert_eq!(
        (&partial["amountPaid"], &partial["amountRemaining"]),
        (
            &json!({"value": 20000, "currency": "NGN"}),
            &json!({"value": 25000, "currency": "NGN"})
        )
    );
    assert!(event_types(&app, &first_id)
        .await
        .contains(&"payment.partial".to_owned()));
    let old_link = option(&first, "payment_link")["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let relinked = eventually("a checkout for the rest", || async {
        let now = collection(&app, &first_id).await;
        let link = option(&now, "payment_link")["link"].as_str()?.to_owned();
        (link != old_link).then_some(now)
    })
    .await;
    let rest: (String, i64) = sqlx::query_as(
        "select provider_reference, amount_minor from provider_attempts
         where operation = 'initialize' and amount_minor = 2500000",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(option(&relinked, "payment_link")["link"]
        .as_str()
        .unwrap()
        .contains("/checkout/"));
    // The emulator holds a transaction for exactly the rest, under the reference Cowry stored first.
    let secret = paystack_secret(&app.pool, &merchant_id(&app).await).await;
    let (status, verified) = read(
        app.client
            .get(app.url(&format!(
                "/_emulator/paystack/transaction/verify/{}",
                rest.0
            )))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["data"]["amount"], 2_500_000);

    // The customer pays the rest at the new checkout: completed, paid in two parts.
    let link = option(&relinked, "payment_link")["link"].as_str().unwrap();
    let path = &link[link.find("/_emulator/").unwrap()..];
    let paid = app
        .client
        .post(app.url(&format!("{path}/pay")))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_success() || paid.status().is_redirection());
    let done = eventually("the rest paid by checkout", || async {
        let now = collection(&app, &first_id).await;
        (now["status"] == "completed").then_some(now)
    })
    .await;
    assert_eq!(
        done["amountPaid"],
        json!({"value": 45000, "currency": "NGN"})
    );
    assert_eq!(
        done["amountRemaining"],
        json!({"value": 0, "currency": "NGN"})
    );

    // More than is owed: completed, and finance is told the excess.
    body["reference"] = json!("PSK_txn_third");
    body["amount"]["value"] = json!(10000);
    let (_, third) = app.create(&body).await;
    let third_id = third["data"]["id"].as_str().unwrap().to_owned();
    transfer(&app, &number, 1_500_000).await;
    settled(&app, 3).await;
    let paid = collection(&app, &third_id).await;
    assert_eq!(paid["status"], "completed");
    let events = event_types(&app, &third_id).await;
    assert!(events.contains(&"payment.flagged".to_owned()), "{events:?}");
    let flagged: Value = sqlx::query_scalar(
        "select data from collection_events where collection_id = $1 and type = 'payment.flagged'",
    )
    .bind(&third_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(flagged["excess"], "5000", "{flagged}");

    // Both closed: the money is recorded against the newest and held for review. This time the
    // customer uses the bank page (the emulator's form does what the test call does).
    let page = format!("/_emulator/paystack/bank/{number}");
    let shown = app.client.get(app.url(&page)).send().await.unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    assert!(shown.text().await.unwrap().contains(&number));
    let sent = app
        .client
        .post(app.url(&page))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("amount=1000.00")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sent.contains("Sent NGN 1,000.00"), "{sent}");
    settled(&app, 4).await;
    assert!(event_types(&app, &third_id)
        .await
        .contains(&"payment.received_after_close".to_owned()));
    let (status, held) = app.admin_get("/admin/attempts?status=flagged").await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert_eq!(held["data"].as_array().unwrap().len(), 1, "{held}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_unmatched_transfer_moves_nothing() {
    let app = spawn().await;
    let (_, created) = app.create(&example()).await;
    let created = created["data"].clone();
    let id = created["id"].as_str().unwrap();
    let number = option(&created, "virtual_account")["accountNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let merchant = merchant_id(&app).await;
    let secret = paystack_secret(&app.pool, &merchant).await;
    let body = |account: &str| {
        serde_json::to_vec(&json!({"event": "charge.success", "data": {
            "id": 1504248187u64, "status": "success", "reference": "1641029429584yxvfjb0a56r0kgt",
            "amount": 4_500_000, "currency": "NGN", "channel": "dedicated_nuban",
            "gateway_response": "Approved", "paid_at": "2026-11-28T09:30:29.000Z",
            "metadata": {"receiver_account_number": account, "receiver_bank": "Test Bank"},
            "authorization": {"channel": "dedicated_nuban", "receiver_bank_account_number": account},
            "customer": {"customer_code": "CUS_x"}}}))
        .unwrap()
    };
    // Signed with another key: refused at both URLs, and nothing moves.
    let forged = body(&number);
    let signature = cowry::emulator::hmac_sha512_hex("sk_test_forgedforgedforged", &forged);
    let account_id: String = sqlx::query_scalar(
        "select id from merchant_providers where merchant_id = $1 and slug = 'paystack'",
    )
    .bind(&merchant)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for path in [
        "/webhooks/paystack".to_owned(),
        format!("/webhooks/paystack/{account_id}"),
    ] {
        let (status, answer) = read(
            app.client
                .post(app.url(&path))
                .header("content-type", "application/json")
                .header("x-paystack-signature", &signature)
                .body(forged.clone())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
        assert_error(&answer, status, "unauthorized");
    }
    assert_eq!(transfers_recorded(&app).await, 0);
    assert_eq!(collection(&app, id).await["status"], "pending");

    // Genuine, but into a number no collection was shown: held for review, no collection moves.
    let stray = body("0123456789");
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &stray);
    let (status, _) = read(
        app.client
            .post(app.url(&format!("/webhooks/paystack/{account_id}")))
            .header("content-type", "application/json")
            .header("x-paystack-signature", &signature)
            .body(stray)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    settled(&app, 1).await;
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "select status, error from provider_attempts where operation = 'transfer' and collection_id is null",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(status, "flagged");
    assert!(error.unwrap().contains("held for review"));
    assert_eq!(collection(&app, id).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_accounts_and_links_are_unique_across_merchants_and_take_transfers() {
    let app = spawn().await;
    let other = app.other_merchant_key().await;
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["reference"] = json!("order-1001");
    let (_, mine) = app.create(&body).await;
    let (status, theirs) = app.create_as(&other, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let (mine, theirs) = (mine["data"].clone(), theirs["data"].clone());
    let number = option(&mine, "virtual_account")["accountNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(option(&theirs, "virtual_account")["accountNumber"], number);
    assert_ne!(
        option(&theirs, "payment_link")["link"],
        option(&mine, "payment_link")["link"]
    );
    assert!(!option(&mine, "payment_link")["link"]
        .as_str()
        .unwrap()
        .contains("order-1001"));

    let send = |account: String, value: Value| {
        let app = &app;
        async move {
            read(
                app.client
                    .post(app.url("/sandbox/transfers"))
                    .json(&json!({"accountNumber": account, "amount": {"value": value, "currency": "NGN"}}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, answer) = send(number.clone(), json!(45000)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = mine["id"].as_str().unwrap();
    assert_eq!(collection(&app, id).await["status"], "completed");
    // Theirs, with the same reference, is untouched.
    let theirs_now: String = sqlx::query_scalar("select status from collections where id = $1")
        .bind(theirs["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(theirs_now, "pending");
    // A number no sandbox collection was given, and a bad body.
    let (status, answer) = send("9990000000".to_owned(), json!(1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = send("12".to_owned(), json!(-1)).await;
    let fields = assert_error(&answer, status, "validation_failed");
    assert!(fields.contains(&"accountNumber".to_owned()), "{fields:?}");
    assert!(fields.contains(&"amount.value".to_owned()), "{fields:?}");
}

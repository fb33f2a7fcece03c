//! Inbound provider callbacks: verified over the raw body, stored before the answer, de-duplicated, never
//! moving a terminal state; a plain payment's success settled before the answer, anything else acted
//! on by a durable job that survives the process that answered 200.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collect::{settled, FAST};
use crate::common::{body_n, eventually, paystack_secret, read, spawn_with, TestApp};

/// Polling an hour away: whatever happens here happens because of a callback.
const CALLBACKS_ONLY: [(&str, &str); 3] = [
    ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ("COWRY_RECONCILE_SCHEDULE", "1h"),
    ("COWRY_WORKER_IDLE_MS", "20"),
];

/// A process that answers callbacks and runs no workers (as if it died right after each 200): what a
/// callback does before its answer is all that happens.
const ANSWERS_ONLY: [(&str, &str); 2] = [
    ("COWRY_WORKERS", "false"),
    ("COWRY_RECONCILE_SCHEDULE", "1h"),
];

/// An integrated Paystack collection whose payment the emulator leaves pending (amount ends in 02),
/// with its payment's Paystack reference and the merchant's Paystack secret key.
async fn pending_paystack_collection(app: &TestApp, n: u32) -> (String, String, String) {
    let mut body = body_n(n);
    body["amount"]["value"] = json!(450.02);
    body["payable"]["methods"] = json!(["payment_link"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (reference, merchant): (String, String) = sqlx::query_as(
        "select provider_reference, merchant_id from provider_attempts where collection_id = $1 and operation = 'initialize'",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let secret = paystack_secret(&app.pool, &merchant).await;
    (id, reference, secret)
}

fn charge_success(reference: &str, amount_minor: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "charge.success",
        "data": {"id": 4099260516u64, "domain": "test", "status": "success", "reference": reference,
                 "amount": amount_minor, "gateway_response": "Successful", "currency": "NGN",
                 "channel": "card", "paid_at": "2025-11-12T17:46:07.000Z"}
    }))
    .unwrap()
}

async fn deliver(
    app: &TestApp,
    provider: &str,
    body: &[u8],
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/{provider}")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-paystack-signature", signature);
    }
    read(request.send().await.unwrap()).await
}

/// The status of the payment with this Paystack reference.
async fn attempt_status(app: &TestApp, reference: &str) -> String {
    sqlx::query_scalar("select status from provider_attempts where provider_reference = $1")
        .bind(reference)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn collection(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/collections/{id}")).await.1["data"].clone()
}

async fn events(app: &TestApp, id: &str) -> Vec<String> {
    let (_, body) = app.get(&format!("/collections/{id}/events")).await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_signed_webhook_completes_an_integrated_collection() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (status, created) = app.create(&crate::common::example()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let done = eventually("the collection to complete", || async {
        let now = collection(&app, id).await;
        (now["status"] == "completed").then_some(now)
    })
    .await;
    assert!(done["completedAt"].is_string(), "{done}");
    assert_eq!(
        events(&app, id).await,
        ["collection.created", "collection.completed"]
    );
    assert_eq!(
        app.count("select count(*) from webhook_receipts where verdict = 'verified' and processed_at is not null").await,
        1
    );
    // The receipt's job ended in the transaction that acted on it: none is left, locked or not.
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'webhook'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_missing_signatures_are_401_and_change_nothing() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (id, reference, _) = pending_paystack_collection(&app, 1).await;
    let body = charge_success(&reference, 45_002);
    let forged = cowry::emulator::hmac_sha512_hex("sk_test_not_the_merchants_key", &body);
    for signature in [Some(forged.as_str()), None, Some("zz-not-hex")] {
        let (status, answer) = deliver(&app, "paystack", &body, signature).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"]["code"], "unauthorized");
    }
    // Signed correctly, but altered after signing: the signature is over the raw bytes.
    let merchant: String = sqlx::query_scalar("select merchant_id from provider_attempts limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let secret = paystack_secret(&app.pool, &merchant).await;
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    let mut altered = body.clone();
    altered.push(b' ');
    let (status, _) = deliver(&app, "paystack", &altered, Some(&signature)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(collection(&app, &id).await["status"], "pending");
    assert_eq!(events(&app, &id).await, ["collection.created"]);
    assert_eq!(
        app.count("select count(*) from webhook_receipts where verdict = 'rejected'")
            .await,
        4
    );
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'webhook'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_concurrent_deliveries_of_one_callback_make_one_transition() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 2).await;
    let body = charge_success(&reference, 45_002);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    let once = || deliver(&app, "paystack", &body, Some(&signature));
    let (a, b, c, d, e) = tokio::join!(once(), once(), once(), once(), once());
    for (status, answer) in [a, b, c, d, e] {
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    eventually("the collection to complete", || async {
        (collection(&app, &id).await["status"] == "completed").then_some(())
    })
    .await;
    assert_eq!(
        events(&app, &id).await,
        ["collection.created", "collection.completed"]
    );
    assert_eq!(
        app.count("select count(*) from webhook_receipts").await,
        5,
        "every delivery is stored"
    );
    assert_eq!(
        app.count("select count(*) from webhook_receipts where duplicate")
            .await,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_success_after_a_failure_is_held_for_review_and_moves_nothing() {
    let app = spawn_with(&FAST).await;
    // Amount ending 01: the emulator fails the payment (no webhook, as Paystack); polling finds it.
    let mut body = body_n(3);
    body["amount"]["value"] = json!(450.01);
    body["payable"]["methods"] = json!(["payment_link"]);
    let (_, created) = app.create(&body).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    eventually("the payment to fail", || async {
        events(&app, &id)
            .await
            .contains(&"payment.failed".to_owned())
            .then_some(())
    })
    .await;
    let (reference, merchant): (String, String) = sqlx::query_as(
        "select provider_reference, merchant_id from provider_attempts where collection_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let late = charge_success(&reference, 45_001);
    let signature =
        cowry::emulator::hmac_sha512_hex(&paystack_secret(&app.pool, &merchant).await, &late);
    let (status, _) = deliver(&app, "paystack", &late, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK);
    eventually("the late callback to be recorded", || async {
        events(&app, &id)
            .await
            .contains(&"payment.flagged".to_owned())
            .then_some(())
    })
    .await;
    let attempt_status: String =
        sqlx::query_scalar("select status from provider_attempts where collection_id = $1")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        attempt_status, "flagged",
        "held for finance to review, not paid"
    );
    assert_ne!(collection(&app, &id).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_callback_is_only_a_hint_checked_with_the_provider() {
    let app = spawn_with(&FAST).await;
    // The payment fails (…0001); afterwards a "SUCCESSFUL" MoMo callback for it arrives.
    let (_, created) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772120001", "amount": 800}),
        )
        .await;
    let id = created["payload"]["id"].as_str().unwrap();
    assert_eq!(settled(&app, id).await["status"], "FAILED");
    let reference: String = sqlx::query_scalar("select provider_reference from provider_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let claim = json!({"amount": "800", "currency": "UGX", "externalId": id, "status": "SUCCESSFUL",
                       "financialTransactionId": "1855000999",
                       "payer": {"partyIdType": "MSISDN", "partyId": "256772120001"}});
    for method in [reqwest::Method::PUT, reqwest::Method::POST] {
        let (status, _) = read(
            app.client
                .request(
                    method,
                    app.url(&format!("/webhooks/mtn_momo?reference={reference}")),
                )
                .json(&claim)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    eventually("the hint to be checked", || async {
        let checks: i32 = sqlx::query_scalar("select checks from provider_attempts")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (checks >= 1).then_some(())
    })
    .await;
    let (_, now) = app.get(&format!("/collections/collect/{id}")).await;
    assert_eq!(
        now["payload"]["status"], "FAILED",
        "MoMo's status API says FAILED: the claim is not believed"
    );
    assert_eq!(
        app.count("select count(*) from webhook_receipts where provider = 'mtn_momo' and verdict = 'unsigned'").await,
        3,
        "the emulator's own FAILED callback and both claims are stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_events_are_acknowledged_and_recorded_and_unknown_providers_are_404() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 4).await;
    let body = serde_json::to_vec(&json!({"event": "customeridentification.success",
        "data": {"id": 77, "reference": reference, "customer_code": "CUS_x"}}))
    .unwrap();
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    let (status, _) = deliver(&app, "paystack", &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK);
    let outcome = eventually("the event to be processed", || async {
        sqlx::query_scalar::<_, Option<String>>("select outcome from webhook_receipts")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert!(
        outcome.contains("customeridentification.success"),
        "{outcome}"
    );
    assert_eq!(collection(&app, &id).await["status"], "pending");
    let (status, _) = deliver(&app, "stripe", b"{}", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A callback that needs a job (here a success for another amount, which flags the payment) is stored
/// with its job before the 200: a process that answers and then does nothing more loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_acknowledged_by_a_process_that_then_dies_is_still_acted_on() {
    // This process answers callbacks but runs no workers: as if it died right after the 200.
    let app = spawn_with(&ANSWERS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 5).await;
    let body = charge_success(&reference, 45_000);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    let (status, _) = deliver(&app, "paystack", &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events(&app, &id).await, ["collection.created"]);
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'webhook'")
            .await,
        1,
        "the work is durable"
    );

    // Another process on the same database picks the job up.
    let _other = app
        .sibling(&[
            ("COWRY_WORKER_IDLE_MS", "20"),
            ("COWRY_RECONCILE_SCHEDULE", "1h"),
        ])
        .await;
    eventually("the other process to flag the payment", || async {
        events(&app, &id)
            .await
            .contains(&"payment.flagged".to_owned())
            .then_some(())
    })
    .await;
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'webhook'")
            .await,
        0
    );
}

/// A verified success for a collection's plain payment settles before the 200, in the transaction that
/// stores its receipt: with no worker running at all, the collection is complete (its event published
/// with the collection as GET shows it) when the answer arrives, the receipt is processed, and no job
/// was written; the same delivery again is a duplicate that changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_payments_success_settles_before_the_answer_and_costs_no_job() {
    let app = spawn_with(&ANSWERS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 7).await;
    let body = charge_success(&reference, 45_002);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    for _ in 0..2 {
        let (status, answer) = deliver(&app, "paystack", &body, Some(&signature)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let now = collection(&app, &id).await;
        assert_eq!(now["status"], "completed", "{now}");
        assert_eq!(
            events(&app, &id).await,
            ["collection.created", "collection.completed"]
        );
    }
    let (_, stream) = app.get("/events?type=collection.completed").await;
    let completed = &stream["data"][0];
    assert_eq!(completed["data"]["id"], id.as_str(), "{stream}");
    assert_eq!(completed["data"]["status"], "completed");

    let receipts: Vec<(bool, Option<String>, bool)> = sqlx::query_as(
        "select duplicate, outcome, processed_at is not null from webhook_receipts order by received_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert_eq!(
        receipts[0],
        (false, Some("Move(Succeeded)".to_owned()), true)
    );
    assert!(receipts[1].0, "the second is a duplicate: {receipts:?}");
    let status = attempt_status(&app, &reference).await;
    assert_eq!(status, "succeeded");
    assert_eq!(
        app.count("select count(*) from jobs where kind in ('webhook', 'reconcile')")
            .await,
        0,
        "no job acts on it, and the payment's status poll ended"
    );
}

/// When the settlement before the answer fails (here a fault PostgreSQL raises inside it), nothing of
/// it stays: the receipt is stored with its job and answered 200 all the same, and the job settles it.
/// A duplicate of that callback arriving before the job ran settles nothing (its settlement is rolled
/// back as a duplicate's) and is stored as a duplicate; the job then completes the collection once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_that_fails_before_the_answer_leaves_the_receipt_to_its_job() {
    let app = spawn_with(&ANSWERS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 8).await;
    sqlx::raw_sql(
        "create function refuse_settled_receipt() returns trigger language plpgsql as $$
         begin raise exception 'injected fault'; end $$;
         create trigger refuse_settled_receipt before insert on webhook_receipts
         for each row when (new.processed_at is not null) execute function refuse_settled_receipt();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let body = charge_success(&reference, 45_002);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    let (status, answer) = deliver(&app, "paystack", &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let pending = || async {
        assert_eq!(collection(&app, &id).await["status"], "pending");
        assert_eq!(events(&app, &id).await, ["collection.created"]);
        let status: String = sqlx::query_scalar(
            "select status from provider_attempts where provider_reference = $1",
        )
        .bind(&reference)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(status, "pending");
    };
    pending().await;
    let jobs = "select count(*) from jobs where kind = 'webhook'";
    assert_eq!(app.count(jobs).await, 1);

    sqlx::raw_sql("drop trigger refuse_settled_receipt on webhook_receipts")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, answer) = deliver(&app, "paystack", &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    pending().await;
    let stored = "select count(*) from webhook_receipts where duplicate";
    assert_eq!(app.count(stored).await, 1);
    assert_eq!(app.count(jobs).await, 1);

    let _workers = app.sibling(&CALLBACKS_ONLY).await;
    eventually("the job to complete the collection", || async {
        (collection(&app, &id).await["status"] == "completed").then_some(())
    })
    .await;
    assert_eq!(
        events(&app, &id).await,
        ["collection.created", "collection.completed"]
    );
    eventually("the job to end", || async {
        (app.count(jobs).await == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_success_for_another_amount_is_flagged_not_paid() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 6).await;
    // ₦450.00 reported for a ₦450.02 collection.
    let body = charge_success(&reference, 45_000);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
    let (status, _) = deliver(&app, "paystack", &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK);
    eventually("the payment to be flagged", || async {
        events(&app, &id)
            .await
            .contains(&"payment.flagged".to_owned())
            .then_some(())
    })
    .await;
    assert_eq!(
        collection(&app, &id).await["status"],
        "pending",
        "never silently paid"
    );
    let (status, error): (String, String) =
        sqlx::query_as("select status, error from provider_attempts where collection_id = $1")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "flagged");
    assert!(
        error.contains("450 NGN") && error.contains("450.02 NGN"),
        "{error}"
    );
}

/// Each provider account has its own callback URL; there the account's key verifies the delivery, so a
/// Paystack refund — which names the payment only in `data.transaction_reference` — is verified, routed
/// to its payment, and reverses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_at_the_accounts_own_url_reverses_the_payment() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (_, providers) = app.get("/providers").await;
    let paystack = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "paystack")
        .unwrap()
        .clone();
    let url = paystack["callbackUrl"].as_str().unwrap();
    let path = &url[url
        .find("/webhooks/paystack/acct_")
        .expect("an account URL")..];
    let (id, reference, secret) = pending_paystack_collection(&app, 7).await;
    let post = |body: Vec<u8>, signature: String| {
        let request = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("x-paystack-signature", signature)
            .body(body);
        async move { read(request.send().await.unwrap()).await }
    };
    let paid = charge_success(&reference, 45_002);
    let (status, answer) = post(
        paid.clone(),
        cowry::emulator::hmac_sha512_hex(&secret, &paid),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    eventually("the collection to complete", || async {
        (collection(&app, &id).await["status"] == "completed").then_some(())
    })
    .await;
    let refund = serde_json::to_vec(&json!({
        "event": "refund.processed",
        "data": {"id": 1077, "status": "processed", "transaction_reference": reference,
                 "amount": 45_002, "currency": "NGN", "domain": "test"}
    }))
    .unwrap();
    // A forged refund changes nothing.
    let forged = cowry::emulator::hmac_sha512_hex("sk_test_someone_else", &refund);
    let (status, _) = post(refund.clone(), forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = post(
        refund.clone(),
        cowry::emulator::hmac_sha512_hex(&secret, &refund),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let history = eventually("the reversal to be recorded", || async {
        let history = events(&app, &id).await;
        history
            .contains(&"payment.reversed".to_owned())
            .then_some(history)
    })
    .await;
    assert_eq!(
        history,
        [
            "collection.created",
            "collection.completed",
            "payment.reversed"
        ]
    );
    let status = attempt_status(&app, &reference).await;
    assert_eq!(status, "reversed");
    // Another account's URL does not accept this merchant's deliveries.
    let (status, _) = read(
        app.client
            .post(app.url("/webhooks/paystack/acct_nobody"))
            .body(refund)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Paystack's id of another delivery of the same payment (a distinct event, not a duplicate).
fn charge_success_with_id(reference: &str, amount_minor: i64, id: u64) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&charge_success(reference, amount_minor)).unwrap();
    body["data"]["id"] = json!(id);
    serde_json::to_vec(&body).unwrap()
}

/// A payment a callback found succeeded is remembered by the process: its repeats are decided without
/// reading it again. Shown by changing the stored row behind the process's back (as a refund's reversal
/// would, which decides a repeated success no differently): the next repeat is still stamped at once as
/// repeating the recorded success, where a fresh read would have set a job going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_success_is_decided_from_the_remembered_payment() {
    let app = spawn_with(&ANSWERS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 9).await;
    let signed = |event: u64| {
        let body = charge_success_with_id(&reference, 45_002, event);
        let signature = cowry::emulator::hmac_sha512_hex(&secret, &body);
        (body, signature)
    };
    for event in [4_099_280_001, 4_099_280_002] {
        let (body, signature) = signed(event);
        let (status, answer) = deliver(&app, "paystack", &body, Some(&signature)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(collection(&app, &id).await["status"], "completed");
    sqlx::query("update provider_attempts set status = 'reversed' where provider_reference = $1")
        .bind(&reference)
        .execute(&app.pool)
        .await
        .unwrap();
    let (body, signature) = signed(4_099_280_003);
    assert_eq!(
        deliver(&app, "paystack", &body, Some(&signature)).await.0,
        StatusCode::OK
    );
    let outcomes: Vec<Option<String>> =
        sqlx::query_scalar("select outcome from webhook_receipts order by received_at")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let repeat = Some(cowry::jobs::webhook::REPEATS_SETTLED.to_owned());
    assert_eq!(
        outcomes,
        [Some("Move(Succeeded)".to_owned()), repeat.clone(), repeat]
    );
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'webhook'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_repeating_a_recorded_one_is_processed_at_once_and_another_amount_is_not() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let (id, reference, secret) = pending_paystack_collection(&app, 3).await;
    let first = charge_success(&reference, 45_002);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &first);
    assert_eq!(
        deliver(&app, "paystack", &first, Some(&signature)).await.0,
        StatusCode::OK
    );
    eventually("the collection to complete", || async {
        (collection(&app, &id).await["status"] == "completed").then_some(())
    })
    .await;
    let jobs_before = app
        .count("select count(*) from jobs where kind = 'webhook'")
        .await;

    // The same success again (another event id): recorded as processed in the receipt's own
    // transaction, no job.
    let again = charge_success_with_id(&reference, 45_002, 4099260517);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &again);
    assert_eq!(
        deliver(&app, "paystack", &again, Some(&signature)).await.0,
        StatusCode::OK
    );
    let outcome: (Option<String>, bool) = sqlx::query_as(
        "select outcome, processed_at is not null from webhook_receipts order by received_at desc limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        outcome,
        (Some(cowry::jobs::webhook::REPEATS_SETTLED.to_owned()), true)
    );
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'webhook'")
            .await,
        jobs_before
    );

    // A success for another amount is not a repeat: it is queued for settlement like any callback.
    let other = charge_success_with_id(&reference, 45_003, 4099260518);
    let signature = cowry::emulator::hmac_sha512_hex(&secret, &other);
    assert_eq!(
        deliver(&app, "paystack", &other, Some(&signature)).await.0,
        StatusCode::OK
    );
    eventually("the other amount to be settled by its job", || async {
        let outcome: Option<String> = sqlx::query_scalar(
            "select outcome from webhook_receipts where processed_at is not null
             order by received_at desc limit 1",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (outcome.as_deref() == Some("Nothing")).then_some(())
    })
    .await;
    assert_eq!(collection(&app, &id).await["status"], "completed");
}

/// The key a process remembers for verifying Paystack callbacks may be one another process has since
/// replaced: a signature that fails against the remembered key is checked against the stored one before
/// it is refused, at the shared URL and at the account's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_replaced_elsewhere_is_read_again_before_a_signature_is_refused() {
    let mut config = CALLBACKS_ONLY.to_vec();
    config.push(("COWRY_AUTH_CACHE_SECS", "300"));
    let app = spawn_with(&config).await;
    let (id, reference, old_secret) = pending_paystack_collection(&app, 11).await;
    let (merchant, account): (String, String) = sqlx::query_as(
        "select merchant_id, id from merchant_providers where slug = 'paystack'
          and merchant_id = (select merchant_id from provider_attempts where provider_reference = $1)",
    )
    .bind(&reference)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let own_url = format!("/webhooks/paystack/{account}");
    let post = |path: String, body: Vec<u8>, secret: String| {
        let request = app
            .client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .header(
                "x-paystack-signature",
                cowry::emulator::hmac_sha512_hex(&secret, &body),
            )
            .body(body);
        async move { read(request.send().await.unwrap()).await.0 }
    };
    // Both URLs remember the account: verified deliveries that decide nothing (an event Cowry does
    // not act on).
    let noted = |n: u64| {
        serde_json::to_vec(&json!({
            "event": "customer.identification.success",
            "data": {"reference": reference, "id": n}
        }))
        .unwrap()
    };
    let shared_url = "/webhooks/paystack".to_owned();
    for (n, url) in [(1, &shared_url), (2, &own_url)] {
        let status = post(url.clone(), noted(n), old_secret.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Another process stores a new key (as removing and adding the account again would).
    let new_secret = "sk_test_replaced_0123456789abcdefghijklmnopq".to_owned();
    let sealed = cowry::domain::secretbox::SecretBox::from_hex(crate::common::ENCRYPTION_KEY)
        .unwrap()
        .seal(
            json!({"secretKey": new_secret}).to_string().as_bytes(),
            format!("{merchant}/paystack").as_bytes(),
        );
    sqlx::query("update merchant_providers set credentials = $2 where id = $1")
        .bind(&account)
        .bind(&sealed)
        .execute(&app.pool)
        .await
        .unwrap();

    // The new key verifies at both URLs although each remembered the old one.
    let status = post(own_url.clone(), noted(3), new_secret.clone()).await;
    assert_eq!(status, StatusCode::OK, "at the account's own URL");
    let paid = charge_success(&reference, 45_002);
    let status = post(shared_url.clone(), paid, new_secret.clone()).await;
    assert_eq!(status, StatusCode::OK, "at the shared URL");
    eventually("the collection to complete", || async {
        (collection(&app, &id).await["status"] == "completed").then_some(())
    })
    .await;
    // Read again, the old key verifies nothing.
    for (n, url) in [(4, &shared_url), (5, &own_url)] {
        let status = post(url.clone(), noted(n), old_secret.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// A `charge.success` that arrives while Cowry is still recording the charge's own answer (the attempt's
/// row locked by the settling transaction) waits for it, and then, finding exactly this success recorded,
/// is stamped processed without a job; had that transaction recorded something else, a job would act.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_arriving_while_its_settlement_is_in_flight_waits_for_it_and_costs_no_job() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    for (n, records) in [(12, "succeeded"), (13, "pending")] {
        let (_, reference, secret) = pending_paystack_collection(&app, n).await;
        // The settling transaction, in flight.
        let mut settling = app.pool.begin().await.unwrap();
        sqlx::query(
            "update provider_attempts set status = $2, amount_minor = 45002, currency = 'NGN'
             where provider_reference = $1",
        )
        .bind(&reference)
        .bind(records)
        .execute(&mut *settling)
        .await
        .unwrap();
        let paid = charge_success(&reference, 45_002);
        let signature = cowry::emulator::hmac_sha512_hex(&secret, &paid);
        let delivery = {
            let (client, url) = (app.client.clone(), app.url("/webhooks/paystack"));
            tokio::spawn(async move {
                let request = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-paystack-signature", signature)
                    .body(paid);
                read(request.send().await.unwrap()).await.0
            })
        };
        eventually("the receipt to wait on the attempt's row", || async {
            let waiting = app
                .count("select count(*) from pg_locks where not granted and locktype = 'transactionid'")
                .await;
            (waiting > 0).then_some(())
        })
        .await;
        settling.commit().await.unwrap();
        assert_eq!(delivery.await.unwrap(), StatusCode::OK);
        let (outcome, processed): (Option<String>, bool) = sqlx::query_as(
            "select outcome, processed_at is not null from webhook_receipts
             where attempt_id = (select id from provider_attempts where provider_reference = $1)",
        )
        .bind(&reference)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        // Stamped at once only when it repeats what the settlement recorded; otherwise its job acts
        // (and writes its own outcome).
        let repeat = cowry::jobs::webhook::REPEATS_SETTLED;
        match records {
            "succeeded" => assert_eq!((outcome.as_deref(), processed), (Some(repeat), true)),
            _ => assert_ne!(outcome.as_deref(), Some(repeat)),
        }
    }
}

/// Receipts stored together (`store::webhooks::Receipts`, the group-commit writer of the webhook
/// intake): one statement decides each row as it would have been decided alone — one first per key even
/// within the batch, a job only for a first receipt that wants one, a repeat of a recorded success
/// stamped processed without a job — and a batch that fails leaves nothing and runs each row alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_written_in_one_statement_are_each_decided_as_alone() {
    use cowry::store::group_commit;
    use cowry::store::webhooks::{self, NewReceipt, Receipts, Then};

    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let (pending_id, _, _) = pending_paystack_collection(&app, 1).await;
    let (paid_id, _, _) = pending_paystack_collection(&app, 2).await;
    let attempt_of = |collection: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "select id, merchant_id from provider_attempts where collection_id = $1",
            )
            .bind(collection)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (pending, merchant) = attempt_of(pending_id).await;
    let (paid, _) = attempt_of(paid_id).await;
    sqlx::query(
        "update provider_attempts set status = 'succeeded', amount_minor = 45002, currency = 'NGN'
         where id = $1",
    )
    .bind(&paid)
    .execute(&app.pool)
    .await
    .unwrap();

    let headers = json!({"content-type": "application/json"});
    let payload = json!({"receipt": "any"});
    let row = |id: &str, key: &str, attempt: Option<&str>, verdict: &str, then: Then<'_>| {
        NewReceipt {
            id,
            provider: "paystack",
            merchant_id: Some(&merchant),
            attempt_id: attempt,
            headers: &headers,
            body: b"{}",
            verdict,
            dedupe_key: Some(key),
            outcome: None,
            then,
        }
        .row()
    };
    let job = ("webhook", merchant.as_str(), &payload);
    let unless_settled = |attempt| Then::JobUnlessSettled {
        job,
        attempt_id: attempt,
        amount_minor: 45_002,
        currency: "NGN",
        outcome_if_settled: "repeats",
    };
    let rows = [
        row("whr_batch_1", "k1", None, "verified", Then::Nothing),
        // The same key again in the same statement: a duplicate.
        row("whr_batch_2", "k1", None, "verified", Then::Nothing),
        row("whr_batch_3", "k2", None, "verified", Then::Processed),
        row(
            "whr_batch_4",
            "k3",
            Some(&pending),
            "verified",
            unless_settled(&pending),
        ),
        row(
            "whr_batch_5",
            "k4",
            Some(&paid),
            "verified",
            unless_settled(&paid),
        ),
        row(
            "whr_batch_6",
            "k4",
            Some(&paid),
            "verified",
            unless_settled(&paid),
        ),
    ];
    let firsts = webhooks::insert_rows(&app.pool, &rows).await.unwrap();
    assert_eq!(firsts, [true, false, true, true, true, false]);
    let stored: Vec<(String, bool, Option<String>, bool)> = sqlx::query_as(
        "select id, duplicate, outcome, processed_at is not null from webhook_receipts
         where id like 'whr_batch_%' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let none = || None::<String>;
    assert_eq!(
        stored,
        [
            ("whr_batch_1".to_owned(), false, none(), false),
            ("whr_batch_2".to_owned(), true, none(), false),
            ("whr_batch_3".to_owned(), false, none(), true),
            ("whr_batch_4".to_owned(), false, none(), false),
            (
                "whr_batch_5".to_owned(),
                false,
                Some("repeats".to_owned()),
                true
            ),
            // A duplicate is never processed, whatever its outcome says.
            (
                "whr_batch_6".to_owned(),
                true,
                Some("repeats".to_owned()),
                false
            ),
        ]
    );
    // Only the first receipt of k3 (its attempt not settled) set a job going; k4's first repeats the
    // recorded success, and its duplicate sets nothing going.
    let jobs: Vec<String> = sqlx::query_scalar(
        "select key from jobs where kind = 'webhook' and key like 'whr_batch_%' order by key",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(jobs, ["whr_batch_4"]);

    // A row the table refuses fails its whole statement, which leaves nothing; the writer then runs
    // each row alone, and only that row is refused.
    let rows = [
        row("whr_batch_7", "k5", None, "verified", Then::Nothing),
        row("whr_batch_8", "k6", None, "not a verdict", Then::Nothing),
        row("whr_batch_9", "k7", None, "verified", Then::Nothing),
    ];
    assert!(webhooks::insert_rows(&app.pool, &rows).await.is_err());
    let keys = "select count(*) from webhook_dedupe where dedupe_key in ('k5', 'k6', 'k7')";
    assert_eq!(app.count(keys).await, 0);
    let answers = group_commit::write_batch::<Receipts>(&app.pool, &rows).await;
    assert!(matches!(answers[0], Ok(true)), "{answers:?}");
    assert!(answers[1].is_err(), "{answers:?}");
    assert!(matches!(answers[2], Ok(true)), "{answers:?}");
    assert_eq!(app.count(keys).await, 2);
}

/// Many simultaneous verified deliveries — each payment's `charge.success` sent three times at once,
/// for eight payments — go through the receipts' group-commit writer together: every delivery is
/// stored and answered 200, each payment is settled exactly once, and the rest are duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_deliveries_for_many_payments_each_settle_their_payment_once() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let mut payments = Vec::new();
    for n in 0..8 {
        payments.push(pending_paystack_collection(&app, 10 + n).await);
    }
    let deliveries: Vec<_> = payments
        .iter()
        .enumerate()
        .flat_map(|(n, (_, reference, secret))| {
            // Each payment's own Paystack transaction id: the key its deliveries are de-duplicated by.
            let body = charge_success_with_id(reference, 45_002, 4_099_270_000 + n as u64);
            let signature = cowry::emulator::hmac_sha512_hex(secret, &body);
            std::iter::repeat_n((body, signature), 3)
        })
        .collect();
    let app = std::sync::Arc::new(app);
    let sending: Vec<_> = deliveries
        .into_iter()
        .map(|(body, signature)| {
            let app = app.clone();
            tokio::spawn(async move { deliver(&app, "paystack", &body, Some(&signature)).await })
        })
        .collect();
    for sent in sending {
        let (status, answer) = sent.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    for (id, _, _) in &payments {
        eventually("the collection to complete", || async {
            (collection(&app, id).await["status"] == "completed").then_some(())
        })
        .await;
        assert_eq!(
            events(&app, id).await,
            ["collection.created", "collection.completed"]
        );
    }
    let stored = "select count(*) from webhook_receipts where verdict = 'verified'";
    assert_eq!(app.count(stored).await, 24);
    let duplicates = "select count(*) from webhook_receipts where duplicate";
    assert_eq!(app.count(duplicates).await, 16);
    let jobs = "select count(*) from jobs where kind = 'webhook'";
    assert!(app.count(jobs).await <= 8);
}

/// A collection's plain payment reported by a signed `charge.success` settles with its receipt in one
/// statement (`store::paid_callback`), and says everything the step-by-step settlement would: for a
/// collection closed meanwhile only `payment.received_after_close`; for one a short transfer had partly
/// paid, the completion and the excess flagged. Each event names the attempt and its provider, the
/// receipt is stamped with what settling did, and no job is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_callback_settles_in_one_statement_after_a_close_or_a_short_transfer() {
    let app = spawn_with(&CALLBACKS_ONLY).await;
    let secret_of = |secret: &str, body: &[u8]| cowry::emulator::hmac_sha512_hex(secret, body);
    let event_data = |id: String, kind: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Value>(
                "select data from collection_events where collection_id = $1 and type = $2",
            )
            .bind(id)
            .bind(kind)
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    let (closed, closed_reference, secret) = pending_paystack_collection(&app, 31).await;
    let (short, short_reference, _) = pending_paystack_collection(&app, 32).await;
    sqlx::query("update collections set status = 'completed', completed_at = now() where id = $1")
        .bind(&closed)
        .execute(&app.pool)
        .await
        .unwrap();
    // A short transfer paid 100.00 of the 450.02 first.
    sqlx::query("update collections set amount_paid_minor = 10000 where id = $1")
        .bind(&short)
        .execute(&app.pool)
        .await
        .unwrap();
    for (n, reference) in [(1, &closed_reference), (2, &short_reference)] {
        let paid = charge_success_with_id(reference, 45_002, 5_000_000_000 + n);
        let signature = secret_of(&secret, &paid);
        assert_eq!(
            deliver(&app, "paystack", &paid, Some(&signature)).await.0,
            StatusCode::OK
        );
    }
    eventually("both receipts to be acted on", || async {
        let done = app
            .count("select count(*) from webhook_receipts where processed_at is not null")
            .await;
        (done == 2).then_some(())
    })
    .await;
    assert_eq!(
        app.count("select count(*) from webhook_receipts where outcome = 'Move(Succeeded)'")
            .await,
        2
    );
    assert_eq!(
        app.count("select count(*) from provider_attempts where operation = 'initialize' and status = 'succeeded'")
            .await,
        2
    );
    assert_eq!(
        app.count("select count(*) from jobs where kind in ('webhook', 'reconcile')")
            .await,
        0
    );

    let after_close = event_data(closed.clone(), "payment.received_after_close")
        .await
        .unwrap();
    assert_eq!(after_close["provider"], "paystack", "{after_close}");
    assert_eq!(after_close["amount"], "450.02", "{after_close}");
    assert!(event_data(closed.clone(), "collection.completed")
        .await
        .is_none());
    assert_eq!(collection(&app, &closed).await["status"], "completed");

    let completed = event_data(short.clone(), "collection.completed")
        .await
        .unwrap();
    assert_eq!(completed["provider"], "paystack", "{completed}");
    assert_eq!(completed["source"], "webhook", "{completed}");
    let flagged = event_data(short.clone(), "payment.flagged").await.unwrap();
    assert_eq!(flagged["excess"], "100", "{flagged}");
    assert_eq!(
        app.count(&format!(
            "select amount_paid_minor from collections where id = '{short}'"
        ))
        .await,
        55_002
    );
    // Published: every event of both collections carries its snapshot.
    assert_eq!(
        app.count("select count(*) from collection_events where snapshot is null")
            .await,
        0
    );
}

/// Settlements before the answer written together (`jobs::paid_callbacks`): one transaction settles each
/// as it would be settled alone — a plain payment asking for the amount completes its collection with
/// its receipt stored processed; anything else writes nothing and answers `false` — and a delivery that
/// turns out to be a duplicate fails the transaction, which leaves nothing; each then runs alone, and
/// only the duplicate settles nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlements_written_together_are_each_decided_as_alone() {
    use cowry::jobs::paid_callbacks::PaidCallbacks;
    use cowry::store::group_commit::{self, Batch};

    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let collections = pending_payments(&app, 20, 5).await;
    // An endpoint that wants completions: each settled collection's event is delivered to it.
    let endpoint = json!({"url": "http://127.0.0.1:9/hooks", "events": ["collection.completed"]});
    let (status, created) = app.post_json("/webhook-endpoints", &endpoint).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let callback = |n: usize, key: &str, minor: i64| paid_callback(&collections[n], key, minor);
    let status = |n: usize| {
        let (id, pool) = (collections[n].0.clone(), app.pool.clone());
        async move {
            sqlx::query_scalar::<_, String>("select status from collections where id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };

    // One transaction: a payment settled, another amount not.
    let rows = [callback(0, "s0", 45_002), callback(1, "s1", 45_000)];
    let answers = PaidCallbacks::many(&app.pool, &rows).await.unwrap();
    assert!(matches!(answers[..], [Ok(true), Ok(false)]), "{answers:?}");
    assert_eq!(
        (status(0).await.as_str(), status(1).await.as_str()),
        ("completed", "pending")
    );

    // A key already claimed (its receipt stored by another delivery): the transaction fails whole.
    sqlx::query("insert into webhook_dedupe (provider, dedupe_key, receipt_id) values ('paystack', 's3', 'whr_earlier')")
        .execute(&app.pool)
        .await
        .unwrap();
    let rows = [callback(2, "s2", 45_002), callback(3, "s3", 45_002)];
    assert!(PaidCallbacks::many(&app.pool, &rows).await.is_err());
    assert_eq!(
        (status(2).await.as_str(), status(3).await.as_str()),
        ("pending", "pending")
    );
    let answers = group_commit::write_batch::<PaidCallbacks>(&app.pool, &rows).await;
    assert!(matches!(answers[..], [Ok(true), Ok(false)]), "{answers:?}");
    assert_eq!(
        (status(2).await.as_str(), status(3).await.as_str()),
        ("completed", "pending")
    );
    let attempt3: String = sqlx::query_scalar("select status from provider_attempts where id = $1")
        .bind(&collections[3].1)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attempt3, "pending", "the duplicate's move was undone");

    let stored: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "select id, outcome, processed_at is not null from webhook_receipts order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let settled = |id: &str| (id.to_owned(), Some("Move(Succeeded)".to_owned()), true);
    assert_eq!(stored, [settled("whr_s0"), settled("whr_s2")]);
    for n in [0, 2] {
        assert_eq!(
            events(&app, &collections[n].0).await,
            ["collection.created", "collection.completed"]
        );
    }
    // Published together: each completion stamped with its own collection as GET shows it, and
    // delivered once.
    let published: Vec<(String, String, i64)> = sqlx::query_as(
        "select e.collection_id, e.snapshot->>'status',
                (select count(*) from webhook_deliveries d where d.event_id = e.id)
         from collection_events e where e.type = 'collection.completed' order by e.collection_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut expected: Vec<(String, String, i64)> = [0, 2]
        .iter()
        .map(|&n| (collections[n].0.clone(), "completed".to_owned(), 1))
        .collect();
    expected.sort();
    assert_eq!(published, expected);
}

/// Two transactions of settlements holding the same payments in opposite orders never wait on each
/// other: each locks every row it will update first, in one order (`store::paid_callback::lock_for`).
/// Set up so that, settling row by row, the first would hold one payment and wait on the second's,
/// while the second holds that one and waits on the first's: a deadlock, which fails one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlements_written_together_in_opposite_orders_do_not_deadlock() {
    use cowry::jobs::paid_callbacks::{PaidCallback, PaidCallbacks};
    use cowry::store::group_commit::Batch;

    let app = std::sync::Arc::new(spawn_with(&[("COWRY_WORKERS", "false")]).await);
    let payments = pending_payments(&app, 30, 2).await;
    let callback = |n: usize, key: &str| paid_callback(&payments[n], key, 45_002);
    // Each payment delivered twice (two event ids), once in each transaction.
    let first = vec![callback(0, "a0"), callback(1, "a1")];
    let second = vec![callback(1, "b1"), callback(0, "b0")];

    // The first payment is held, so that the first transaction waits on it before anything else.
    let mut holding = app.pool.begin().await.unwrap();
    sqlx::query("select 1 from provider_attempts where id = $1 for update")
        .bind(&payments[0].1)
        .execute(&mut *holding)
        .await
        .unwrap();
    let waiting = "select count(*) from pg_locks where not granted";
    let run = |rows: Vec<PaidCallback>| {
        let app = app.clone();
        tokio::spawn(async move { PaidCallbacks::many(&app.pool, &rows).await })
    };
    let one = run(first);
    eventually("the first to wait", || async {
        (app.count(waiting).await >= 1).then_some(())
    })
    .await;
    let other = run(second);
    eventually("the second to wait too", || async {
        (app.count(waiting).await >= 2).then_some(())
    })
    .await;
    holding.commit().await.unwrap();
    let (one, other) = (one.await.unwrap(), other.await.unwrap());
    let settled = |answers: &[Result<bool, sqlx::Error>]| {
        answers.iter().filter(|a| matches!(a, Ok(true))).count()
    };
    let (one, other) = (one.expect("no deadlock"), other.expect("no deadlock"));
    assert_eq!(settled(&one) + settled(&other), 2, "{one:?} {other:?}");
    for (id, _, _) in &payments {
        assert_eq!(
            events(&app, id).await,
            ["collection.created", "collection.completed"]
        );
    }
}

/// `count` pending Paystack payments (numbered from `first`), each as (collection, attempt, merchant).
async fn pending_payments(app: &TestApp, first: u32, count: u32) -> Vec<(String, String, String)> {
    let mut payments = Vec::new();
    for n in first..first + count {
        let (id, _, _) = pending_paystack_collection(app, n).await;
        let (attempt, merchant): (String, String) = sqlx::query_as(
            "select id, merchant_id from provider_attempts
             where collection_id = $1 and operation = 'initialize'",
        )
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        payments.push((id, attempt, merchant));
    }
    payments
}

/// A settlement before the answer as the intake hands it over: `minor` NGN reported for the payment, its
/// receipt (`whr_{key}`) not yet stored, de-duplicated by `key`.
fn paid_callback(
    (collection, attempt, merchant): &(String, String, String),
    key: &str,
    minor: i64,
) -> cowry::jobs::paid_callbacks::PaidCallback {
    use cowry::domain::{currency::Currency, money::Money};
    use cowry::store::webhooks::{NewReceipt, Then};
    cowry::jobs::paid_callbacks::PaidCallback {
        merchant_id: merchant.clone(),
        attempt_id: attempt.clone(),
        collection_id: collection.clone(),
        amount: Money::from_minor(minor, Currency::parse("NGN").unwrap()),
        receipt: NewReceipt {
            id: &format!("whr_{key}"),
            provider: "paystack",
            merchant_id: Some(merchant),
            attempt_id: Some(attempt),
            headers: &json!({"content-type": "application/json"}),
            body: b"{}",
            verdict: "verified",
            dedupe_key: Some(key),
            outcome: None,
            then: Then::Nothing,
        }
        .row(),
    }
}

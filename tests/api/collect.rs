//! Mobile-money collect (`/collections/collect`) end to end: the document's example, validation,
//! routing by network, idempotency, and every way a payment settles — callback, failure, lost callback
//! completed by polling, a failing status API, and an amount that does not match.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{assert_error, eventually, read, spawn_with, TestApp, ADMIN_TOKEN};

/// Emulated payments settle at once and open attempts are polled every 100 ms.
pub const FAST: [(&str, &str); 3] = [
    ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ("COWRY_RECONCILE_SCHEDULE", "100ms"),
    ("COWRY_WORKER_IDLE_MS", "20"),
];

fn collect_body(phone: &str, amount: u32) -> Value {
    json!({"phone": phone, "amount": amount, "payerMessage": "Order", "payeeNote": "shop"})
}

async fn collect(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    app.post_json("/collections/collect", body).await
}

/// Waits until the collect leaves PENDING (or, with `flagged`, until it is flagged) and returns it.
pub async fn settled(app: &TestApp, id: &str) -> Value {
    eventually("the collect to settle", || async {
        let (_, body) = app.get(&format!("/collections/collect/{id}")).await;
        (body["payload"]["status"] != "PENDING").then_some(body["payload"].clone())
    })
    .await
}

async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/collections/collect/{id}/events")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_example_gets_the_documented_response_and_its_callback_completes_it() {
    // Polling is an hour away: only Airtel's callback (a hint, checked with Airtel) can settle it.
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "1h"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let response = app
        .client
        .post(app.url("/collections/collect"))
        .header("Authorization", format!("Bearer {}", app.key))
        .header("Content-Type", "application/json")
        .body(include_str!("../fixtures/collect_example.json"))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["success", "message", "payload", "statusCode"]);
    assert_eq!(
        (body["success"].clone(), body["statusCode"].clone()),
        (json!(true), json!(201))
    );
    assert_eq!(body["message"], "Request sent to provider");
    let payload = &body["payload"];
    let fields: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "id",
            "balanceId",
            "amount",
            "currency",
            "payer",
            "payeeNote",
            "provider",
            "externalId",
            "status",
            "message",
            "payerMessage",
            "payerName",
            "createdAt"
        ]
    );
    assert!(uuid::Uuid::parse_str(payload["id"].as_str().unwrap()).is_ok());
    assert!(payload["balanceId"].as_str().unwrap().starts_with("bal_"));
    assert_eq!(payload["amount"], json!(500));
    assert_eq!(payload["currency"], "UGX");
    assert_eq!(payload["payer"], "+256706859041");
    assert_eq!(payload["payeeNote"], "ZenFii Hotspot System");
    assert_eq!(payload["provider"], "AIRTEL_UG");
    assert_eq!(payload["externalId"], "order-20250520-001");
    assert_eq!(payload["status"], "PENDING");
    assert_eq!(payload["message"], "Request sent to provider");
    assert_eq!(payload["payerMessage"], "Payment for internet subscription");
    assert_eq!(
        payload["payerName"], "MUJUNI INNOCENT",
        "from Airtel's KYC look-up"
    );
    assert!(payload["createdAt"].as_str().unwrap().ends_with('Z'));

    let id = payload["id"].as_str().unwrap();
    let done = settled(&app, id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(
        event_types(&app, id).await,
        ["collect.created", "collect.succeeded"]
    );
    assert_eq!(
        app.count("select count(*) from webhook_receipts where provider = 'airtel_money' and verdict = 'unsigned'").await,
        1,
        "the callback was stored before it was acted on"
    );
    let (status, again) = app.get(&format!("/collections/collect/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["message"], "Collection retrieved");
    assert_eq!(again["payload"]["balanceId"], payload["balanceId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_is_validated_and_nothing_is_sent() {
    let app = spawn_with(&FAST).await;
    let (_, body) = collect(
        &app,
        &json!({"phone": "0772123456", "amount": "500", "externalId": 7,
                "payerMessage": "x".repeat(161), "payeeNote": "bell\u{7}"}),
    )
    .await;
    assert_eq!(
        assert_error(&body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ["phone", "amount", "externalId", "payerMessage", "payeeNote"]
    );
    for (body, field) in [
        (json!({"phone": "+256772123456", "amount": 0}), "amount"),
        (json!({"phone": "+256772123456", "amount": -5}), "amount"),
        (json!({"phone": "+256772123456", "amount": 500.5}), "amount"),
        (json!({"phone": "+256772123456", "amount": 5e-1}), "amount"),
        (
            json!({"phone": "+256772123456", "amount": 500, "currency": "KES"}),
            "currency",
        ),
        (json!({"amount": 500}), "phone"),
        (json!({"phone": "+256772123456"}), "amount"),
    ] {
        let (status, answer) = collect(&app, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(
            assert_error(&answer, status, "validation_failed"),
            [field],
            "{body}"
        );
    }
    // A country no provider serves, and a network without an adapter, are named.
    let (_, france) = collect(&app, &collect_body("+33612345678", 5)).await;
    assert!(
        france["message"].as_str().unwrap().contains("+33"),
        "{france}"
    );
    // Airtel Niger pays in XOF, a currency Cowry's Airtel adapter does not serve.
    let (status, niger) = collect(&app, &collect_body("+22787123456", 500)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{niger}");
    assert!(
        niger["message"].as_str().unwrap().contains("AIRTEL_NE"),
        "{niger}"
    );
    let (status, africell) = collect(&app, &collect_body("+256798123456", 500)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        africell["message"]
            .as_str()
            .unwrap()
            .contains("AFRICELL_UG"),
        "{africell}"
    );
    let (status, malformed) = read(
        app.authed(Method::POST, "/collections/collect")
            .header("content-type", "application/json")
            .body("{\"phone\":")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&malformed, status, "malformed_json");
    assert_eq!(
        app.count("select count(*) from mobile_money_collects")
            .await,
        0
    );
    assert_eq!(
        app.count("select count(*) from provider_attempts").await,
        0,
        "nothing was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uganda_numbers_route_to_mtn_and_airtel_by_prefix() {
    let app = spawn_with(&FAST).await;
    let (status, mtn) = collect(&app, &collect_body("+256772123456", 1_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{mtn}");
    assert_eq!(mtn["payload"]["provider"], "MTN_UG");
    assert_eq!(
        mtn["payload"]["payerName"],
        Value::Null,
        "MoMo's Collection API has no name look-up"
    );
    let (_, airtel) = collect(&app, &collect_body("+256752123456", 1_000)).await;
    assert_eq!(airtel["payload"]["provider"], "AIRTEL_UG");
    let kinds: Vec<(String, String)> =
        sqlx::query_as("select kind, operation from provider_attempts order by created_at")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            ("mtn_momo".to_owned(), "request_to_pay".to_owned()),
            ("airtel_money".to_owned(), "collect".to_owned())
        ]
    );
    for body in [&mtn, &airtel] {
        let done = settled(&app, body["payload"]["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "SUCCESS");
    }
    // A merchant without an account for the network gets a 422 that says what to add.
    sqlx::query("delete from merchant_providers where kind = 'airtel_money'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, none) = collect(&app, &collect_body("+256752123456", 1_000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        none["message"].as_str().unwrap().contains("airtel_money"),
        "{none}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_are_unique_and_an_idempotency_key_replays() {
    let app = spawn_with(&FAST).await;
    let mut body = collect_body("+256772123456", 700);
    body["externalId"] = json!("order-1");
    let keyed = |key: &str| {
        app.authed(Method::POST, "/collections/collect")
            .header("Idempotency-Key", key.to_owned())
            .json(&body)
    };
    let (status, first) = read(keyed("k-1").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let replay = keyed("k-1").send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let (status, again) = read(replay).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    let (status, dup) = collect(&app, &body).await;
    assert_error(&dup, status, "duplicate_external_id");
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        app.count("select count(*) from mobile_money_collects")
            .await,
        1
    );
    assert_eq!(
        app.count("select count(*) from provider_attempts").await,
        1,
        "one push, not three"
    );

    // Another merchant may use the same externalId, and cannot see this one's collect.
    let other = app.other_merchant_key().await;
    let id = first["payload"]["id"].as_str().unwrap();
    let (status, _) = read(
        app.client
            .get(app.url(&format!("/collections/collect/{id}")))
            .header("x-api-key", &other)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = read(
        app.client
            .post(app.url("/collections/collect"))
            .header("x-api-key", &other)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_carries_the_providers_reason() {
    let app = spawn_with(&FAST).await;
    let (_, body) = collect(&app, &collect_body("+256772120001", 900)).await;
    let done = settled(&app, body["payload"]["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "FAILED");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("NOT_ENOUGH_FUNDS"),
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_whose_callback_never_comes_is_completed_by_polling() {
    let app = spawn_with(&FAST).await;
    let (_, body) = collect(&app, &collect_body("+256772120003", 900)).await;
    let id = body["payload"]["id"].as_str().unwrap();
    let done = settled(&app, id).await;
    assert_eq!(done["status"], "SUCCESS");
    assert_eq!(
        app.count("select count(*) from webhook_receipts").await,
        0,
        "no callback came"
    );
    assert!(
        app.count("select checks::bigint from provider_attempts")
            .await
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_status_api_is_retried_until_it_answers() {
    let app = spawn_with(&FAST).await;
    // …0005: no callback, and MoMo's status API answers 500 to the first enquiries.
    let (_, body) = collect(&app, &collect_body("+256772120005", 900)).await;
    let done = settled(&app, body["payload"]["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCESS");
    let (checks, error): (i32, Option<String>) =
        sqlx::query_as("select checks, error from provider_attempts")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        checks >= 2,
        "the first check failed and was retried ({checks})"
    );
    assert!(
        error.is_some_and(|e| e.contains("unavailable")),
        "the failure is on record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_for_another_amount_is_flagged_not_paid() {
    let app = spawn_with(&FAST).await;
    // …0006: MoMo reports the payment SUCCESSFUL, but for 899 UGX instead of 900.
    let (_, body) = collect(&app, &collect_body("+256772120006", 900)).await;
    let id = body["payload"]["id"].as_str().unwrap();
    let attempts = eventually("the attempt to be flagged", || async {
        let (_, list) = read(
            app.client
                .get(app.url("/admin/attempts?status=flagged"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        (!list["data"].as_array().unwrap().is_empty()).then_some(list)
    })
    .await;
    assert_eq!(attempts["data"][0]["collectId"], id);
    assert!(
        attempts["data"][0]["error"]
            .as_str()
            .unwrap()
            .contains("899 UGX"),
        "{attempts}"
    );
    let (_, now) = app.get(&format!("/collections/collect/{id}")).await;
    assert_eq!(now["payload"]["status"], "PENDING", "never silently paid");
    assert!(now["payload"]["message"]
        .as_str()
        .unwrap()
        .contains("held for review"));
    assert_eq!(
        event_types(&app, id).await,
        ["collect.created", "collect.flagged"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_money_is_a_payable_method_of_integrated_collections_where_a_provider_reaches_the_payer(
) {
    let app = spawn_with(&FAST).await;
    let mut body = crate::common::body_n(1);
    body["amount"] = json!({"value": 25000, "currency": "UGX"});
    body["contact"]["phone"] = json!("+256772123456");
    body["payable"] = json!({"enabled": true, "methods": ["mobile_money"]});
    body["provider"] = json!("mtn_momo");
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let option = &created["data"]["payable"]["options"][0];
    assert_eq!(option["method"], "mobile_money");
    assert!(
        option["instructions"].as_str().unwrap().contains("MTN_UG"),
        "{option}"
    );
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    eventually("the pushed payment to complete the collection", || async {
        let (_, now) = app.get(&format!("/collections/{id}")).await;
        (now["data"]["status"] == "completed").then_some(())
    })
    .await;

    // A contact whose phone the provider cannot reach, or another currency, is a 422 naming why.
    body["reference"] = json!("ref_ng");
    body["contact"]["phone"] = json!("+2348012345678");
    let (status, refused) = app.create(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("+2348012345678"),
        "{refused}"
    );
    body["reference"] = json!("ref_kes");
    body["contact"]["phone"] = json!("+256772123457");
    body["amount"] = json!({"value": 250, "currency": "KES"});
    let (status, refused) = app.create(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(app.count("select count(*) from collections").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_requests_provider_calls_settlements_and_the_queue() {
    let app = spawn_with(&FAST).await;
    let (_, body) = collect(&app, &collect_body("+256772123456", 300)).await;
    settled(&app, body["payload"]["id"].as_str().unwrap()).await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for line in [
        r#"cowry_http_requests_total{method="POST",route="/collections/collect",status="201"}"#,
        r#"cowry_provider_calls_total{operation="request_to_pay",outcome="202",provider="mtn_momo"}"#,
        r#"cowry_settlements_total{decision="succeeded",source="poll"}"#,
        "cowry_http_request_duration_seconds_bucket",
        "# TYPE cowry_jobs_queued gauge",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(!text.contains(&app.key), "no secrets in metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_requests_with_one_external_id_send_one_push() {
    let app = spawn_with(&FAST).await;
    let mut body = collect_body("+256772123456", 1_200);
    body["externalId"] = json!("order-race");
    let once = || collect(&app, &body);
    let results = tokio::join!(
        once(),
        once(),
        once(),
        once(),
        once(),
        once(),
        once(),
        once()
    );
    let statuses = [
        results.0 .0,
        results.1 .0,
        results.2 .0,
        results.3 .0,
        results.4 .0,
        results.5 .0,
        results.6 .0,
        results.7 .0,
    ];
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        app.count("select count(*) from provider_attempts").await,
        1,
        "one push went out"
    );
    assert_eq!(
        app.count("select count(*) from mobile_money_collects")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_never_connects_creates_nothing() {
    // Nothing listens on port 1: the connection is never made, so nothing can exist at the provider.
    for (kind, phone) in [
        ("airtel_money", "+256752123456"),
        ("mtn_momo", "+256772123456"),
    ] {
        let app = spawn_with(&FAST).await;
        let slug = format!("{kind}-down");
        let (status, account) = app
            .post_json(
                "/providers",
                &json!({"slug": slug, "kind": kind, "mode": "test", "baseUrl": "http://127.0.0.1:1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{account}");
        let mut body = collect_body(phone, 1_200);
        body["externalId"] = json!("order-refused");
        body["provider"] = json!(slug);
        let (status, refused) = collect(&app, &body).await;
        assert_error(&refused, status, "provider_error");
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{kind}");
        assert_eq!(
            app.count("select count(*) from mobile_money_collects")
                .await,
            0
        );
        assert_eq!(app.count("select count(*) from collect_events").await, 0);
        let (attempt_status, collect_id): (String, Option<String>) =
            sqlx::query_as("select status, collect_id from provider_attempts")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(
            (attempt_status.as_str(), collect_id),
            ("failed", None),
            "{kind}: the refusal is on record"
        );
        // The externalId is free again for a retry.
        body.as_object_mut().unwrap().remove("provider");
        let (status, retried) = collect(&app, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {retried}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_answered_with_a_500_is_unknown_and_settled_by_asking_the_provider() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "100ms"),
        ("COWRY_WORKER_IDLE_MS", "20"),
        ("COWRY_NOT_FOUND_GRACE_SECS", "1"),
    ])
    .await;
    // Airtel …0004 answers 500 to the push (and, as it happens, made nothing). A 500 may hide a
    // payment, so the merchant gets the collect PENDING, and the status API decides.
    let mut body = collect_body("+256752120004", 1_200);
    body["externalId"] = json!("order-500");
    let (status, sent) = collect(&app, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["payload"]["status"], "PENDING");
    assert!(
        sent["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("not confirmed"),
        "{sent}"
    );
    let id = sent["payload"]["id"].as_str().unwrap().to_owned();
    let calls: Value = sqlx::query_scalar("select calls from provider_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        push_outcome(&calls).starts_with("unknown"),
        "the call is on record: {calls}"
    );
    // The provider has no such payment: after the grace period the collect fails, with its event.
    let failed = eventually("the unknown push to be resolved", || async {
        let (_, got) = app.get(&format!("/collections/collect/{id}")).await;
        (got["payload"]["status"] == "FAILED").then_some(got)
    })
    .await;
    assert_eq!(failed["payload"]["id"], json!(id));
    assert_eq!(
        app.count("select count(*) from collect_events where type = 'collect.failed'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collects_list_newest_first_with_filters_and_a_cursor_that_sees_each_once() {
    let app = spawn_with(&FAST).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let phone = if n % 2 == 0 {
            "+256772123456"
        } else {
            "+256752123456"
        };
        let mut body = collect_body(phone, 100 + n);
        body["externalId"] = json!(format!("order-{n}"));
        let (status, created) = collect(&app, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["payload"]["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/collections/collect?limit=2&cursor={c}"),
            None => "/collections/collect?limit=2".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            (page["success"].clone(), page["statusCode"].clone()),
            (json!(true), json!(200))
        );
        for row in page["payload"].as_array().unwrap() {
            seen.push(row["id"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");

    let (_, airtel) = app.get("/collections/collect?provider=AIRTEL_UG").await;
    assert_eq!(airtel["payload"].as_array().unwrap().len(), 2);
    let (_, one) = app.get("/collections/collect?externalId=order-3").await;
    assert_eq!(one["payload"][0]["externalId"], "order-3");
    let (_, by_phone) = app
        .get("/collections/collect?phone=%2B256%20772%20123456")
        .await;
    assert_eq!(by_phone["payload"].as_array().unwrap().len(), 3);
    let (status, bad) = app
        .get("/collections/collect?status=PAID&limit=0&phone=07&createdFrom=yesterday")
        .await;
    assert_eq!(
        assert_error(&bad, status, "validation_failed"),
        ["status", "phone", "createdFrom", "limit"]
    );
    // Another merchant sees none of them.
    let other = app.other_merchant_key().await;
    let (_, theirs) = read(
        app.client
            .get(app.url("/collections/collect"))
            .header("x-api-key", other)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs["payload"], json!([]));
}

/// What the push's record on its attempt says (the polls' records may come before or after it).
pub fn push_outcome(calls: &Value) -> &str {
    calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["operation"] == "push")
        .and_then(|c| c["outcome"].as_str())
        .unwrap_or_else(|| panic!("no push recorded: {calls}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_push_on_a_collection_can_be_sent_again_within_the_caps() {
    let app = spawn_with(&FAST).await;
    let mut body = crate::common::body_n(1);
    body["amount"] = json!({"value": 25000, "currency": "UGX"});
    // …0001: the MoMo emulator fails every payment from this payer (not enough funds).
    body["contact"]["phone"] = json!("+256772120001");
    body["payable"] = json!({"enabled": true, "methods": ["mobile_money"]});
    body["provider"] = json!("mtn_momo");
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let failures = |n: i64| {
        let app = &app;
        async move {
            eventually("the push to fail", || async {
                let failed = app
                    .count("select count(*) from provider_attempts where status = 'failed'")
                    .await;
                (failed == n).then_some(())
            })
            .await
        }
    };
    failures(1).await;
    let prompt = format!("/collections/{id}/prompt");
    for n in 2..=3 {
        let (status, sent) = app.post(&prompt).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        assert_eq!(sent["data"]["status"], "pending");
        assert_eq!(sent["data"]["network"], "MTN_UG");
        assert_eq!(
            sent["data"]["amount"],
            json!({"value": 25000, "currency": "UGX"})
        );
        // While it waits for the customer, no second prompt.
        let (status, refused) = app.post(&prompt).await;
        if status != StatusCode::CREATED {
            assert_eq!(status, StatusCode::CONFLICT, "{refused}");
            assert_eq!(refused["error"]["code"], "prompt_pending");
        }
        failures(n).await;
    }
    // The first push and two prompts this hour: a third prompt waits for the next hour.
    let (status, limited) = app.post(&prompt).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{limited}");
    // Each was a new attempt on the same collection, and each failure an event on it.
    assert_eq!(
        app.count("select count(*) from provider_attempts where operation = 'request_to_pay'")
            .await,
        3
    );
    let (_, events) = app.get(&format!("/collections/{id}/events")).await;
    let failed = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "payment.failed")
        .count();
    assert_eq!(failed, 3, "{events}");
    // A closed collection has nothing to prompt for.
    app.post(&format!("/collections/{id}/cancel")).await;
    let (status, closed) = app.post(&prompt).await;
    assert_eq!(status, StatusCode::CONFLICT, "{closed}");
}

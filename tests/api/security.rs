//! The security boundary, as far as it is built: input the one error shape must refuse, headers on
//! every answer, a metrics endpoint that can be closed and whose labels cannot be grown by a caller,
//! and provider callbacks whose de-duplication one merchant cannot use against another.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{
    assert_error, body_n, eventually, paystack_secret, read, spawn_with, ADMIN_TOKEN,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_json_key_is_refused_and_changes_nothing() {
    let app = spawn_with(&[]).await;
    let mut text = body_n(1).to_string();
    // {"amount":{"value":45000,"currency":"NGN"}} → {"amount":{"value":100,"value":45000,…}}
    text = text.replacen(r#""amount":{"#, r#""amount":{"value":100,"#, 1);
    let response = app
        .authed(reqwest::Method::POST, "/collections")
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, status, "duplicate_json_key");
    assert!(
        body["message"].as_str().unwrap().contains("amount.value"),
        "{body}"
    );
    assert_eq!(app.count("select count(*) from collections").await, 0);

    // Provider callbacks are taken as the provider sends them: a repeated key there is not refused.
    let hint = app
        .client
        .put(app.url("/webhooks/mtn_momo?reference=none"))
        .header("content-type", "application/json")
        .body(r#"{"status":"SUCCESSFUL","status":"FAILED"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(hint.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_inside_metadata_are_refused_by_path() {
    let app = spawn_with(&[]).await;
    let mut body = body_n(2);
    body["metadata"] = json!([{"description": "ok", "notes": {"line": "a\u{0}b"}}]);
    let (status, refused) = app.create(&body).await;
    let fields = assert_error(&refused, status, "validation_failed");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        fields.contains(&"metadata[0].notes.line".to_owned()),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_answer_is_nosniff_and_never_cached() {
    let app = spawn_with(&[]).await;
    for (method, path) in [
        (reqwest::Method::GET, "/collections"),
        (reqwest::Method::GET, "/no/such/route"),
        (reqwest::Method::POST, "/collections"),
    ] {
        let response = app.authed(method.clone(), path).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(
            headers["x-content-type-options"], "nosniff",
            "{method} {path}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token_read_the_database_once_per_interval_and_bound_methods() {
    let token = "metrics-token-for-tests-0001";
    let app = spawn_with(&[("COWRY_METRICS_TOKEN", token)]).await;
    let invented = reqwest::Method::from_bytes(b"BREW").unwrap();
    let _ = app
        .client
        .request(invented, app.url("/collections"))
        .send()
        .await
        .unwrap();
    let closed = app.client.get(app.url("/metrics")).send().await.unwrap();
    let (status, body) = read(closed).await;
    assert_error(&body, status, "unauthorized");
    let open = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let text = open.text().await.unwrap();
    assert!(!text.contains("BREW"), "an invented method became a label");
    assert!(text.contains(r#"method="other""#), "{text}");
    // Scrapes do not scan tables each time: twenty scrapes, one read of the database-backed gauges.
    let mut last = String::new();
    for _ in 0..20 {
        last = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert!(
        last.contains("\ncowry_metrics_database_reads_total 1\n"),
        "{last}"
    );
    assert!(
        last.contains("cowry_jobs_queued"),
        "the gauges are still served"
    );
}

/// Merchant A signs a `charge.success` with its own key for its own payment, carrying the event id of a
/// payment of merchant B (Paystack ids are sequential, so guessable). B's genuine delivery with that id
/// is still acted on: event ids are unique per merchant (per account at the account's URL), not
/// globally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_merchants_callback_cannot_pre_claim_anothers_event_id() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "600000"),
        ("COWRY_RECONCILE_SCHEDULE", "1h"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let (status, other) = read(
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Merchant B"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other_key = other["apiKey"].as_str().unwrap().to_owned();
    // One pending Paystack collection each.
    let mut pending = Vec::new();
    for (n, key) in [(1, app.key.clone()), (2, other_key)] {
        let mut body = body_n(n);
        body["payable"]["methods"] = json!(["payment_link"]);
        let (status, created) = app.create_as(&key, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let (reference, merchant): (String, String) = sqlx::query_as(
            "select provider_reference, merchant_id from provider_attempts where collection_id = $1",
        )
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let secret = paystack_secret(&app.pool, &merchant).await;
        pending.push((id, reference, secret, key));
    }
    let deliver = |reference: &str, secret: &str| {
        let body = serde_json::to_vec(&json!({
            "event": "charge.success",
            "data": {"id": 777000001u64, "domain": "test", "status": "success", "reference": reference,
                     "amount": 4_500_000, "gateway_response": "Successful", "currency": "NGN",
                     "channel": "card", "paid_at": "2026-11-27T10:00:00.000Z"}
        }))
        .unwrap();
        let signature = cowry::emulator::hmac_sha512_hex(secret, &body);
        let request = app
            .client
            .post(app.url("/webhooks/paystack"))
            .header("content-type", "application/json")
            .header("x-paystack-signature", signature)
            .body(body);
        async move { request.send().await.unwrap().status() }
    };
    let (a_id, a_reference, a_secret, _) = &pending[0];
    let (b_id, b_reference, b_secret, b_key) = &pending[1];
    // Test-mode secrets are random per account and stored encrypted: nothing about a merchant's id
    // signs its callbacks.
    assert_ne!(a_secret, b_secret);
    let merchant_a: String =
        sqlx::query_scalar("select merchant_id from collections where id = $1")
            .bind(a_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!a_secret.contains(&merchant_a));
    assert_eq!(
        app.count("select count(*) from merchant_providers where position('sk_test_'::bytea in credentials) > 0")
            .await,
        0,
        "no secret stored in the clear"
    );
    assert_eq!(
        deliver(a_reference, &format!("sk_test_{merchant_a}")).await,
        StatusCode::UNAUTHORIZED,
        "the old derived secret signs nothing"
    );
    assert_eq!(deliver(a_reference, a_secret).await, StatusCode::OK);
    assert_eq!(deliver(b_reference, b_secret).await, StatusCode::OK);
    let duplicates = app
        .count("select count(*) from webhook_receipts where duplicate")
        .await;
    assert_eq!(duplicates, 0, "B's delivery was taken for A's");
    // Both deliveries were acted on: each merchant's collection is completed by its own payment.
    eventually("both deliveries to be processed", || async {
        let processed = app
            .count("select count(*) from webhook_receipts where processed_at is not null")
            .await;
        (processed == 2).then_some(())
    })
    .await;
    for (id, key) in [(a_id, &app.key), (b_id, b_key)] {
        let (_, body): (StatusCode, Value) = read(
            app.client
                .get(app.url(&format!("/collections/{id}")))
                .header("x-api-key", key.as_str())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(body["data"]["status"], "completed", "{body}");
    }
}

/// A TCP listener that counts the connections it is offered (it never answers).
async fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, accepted)
}

/// Provider `baseUrl`s cannot reach the inside: loopback, private and link-local addresses (and names
/// that resolve to them) are refused before anything connects, in Cowry's words; Cowry's own emulators
/// stay reachable; credentials in a URL and plain http for a live account are refused at the door.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_addresses_cannot_reach_the_inside() {
    let app = spawn_with(&[
        ("COWRY_ALLOW_PRIVATE_NETWORKS", "false"),
        ("COWRY_EMULATOR_SETTLE_MS", "600000"),
    ])
    .await;
    // Cowry's own emulator (a test account without baseUrl) is always reachable.
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");

    let (port, accepted) = counting_listener().await;
    let inside = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        "http://169.254.169.254/latest".to_owned(),
        "http://10.0.0.1:80".to_owned(),
        format!("http://[::1]:{port}"),
    ];
    for (n, base) in inside.iter().enumerate() {
        let slug = format!("inside-{n}");
        let (status, body) = app
            .post_json(
                "/providers",
                &json!({"slug": slug, "kind": "mtn_momo", "mode": "test", "baseUrl": base}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, refused) = app
            .post_json(
                "/collections/collect",
                &json!({"phone": "+256772123456", "amount": 1000 + n, "provider": slug}),
            )
            .await;
        assert_error(&refused, status, "provider_error");
        let message = refused["message"].as_str().unwrap();
        assert!(!message.contains(&port.to_string()), "{message}");
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing connected to the inside"
    );
    assert_eq!(
        app.count("select count(*) from mobile_money_collects")
            .await,
        1,
        "only the emulator's collect exists"
    );

    for (account, field) in [
        (
            json!({"slug": "with-userinfo", "kind": "paystack", "mode": "test",
                   "baseUrl": "https://user:secret@api.paystack.co"}),
            "baseUrl",
        ),
        (
            json!({"slug": "live-http", "kind": "paystack", "mode": "live",
                   "baseUrl": "http://api.paystack.co",
                   "credentials": {"secretKey": "sk_live_0123456789abcdef"}}),
            "baseUrl",
        ),
    ] {
        let (status, refused) = app.post_json("/providers", &account).await;
        let fields = assert_error(&refused, status, "validation_failed");
        assert!(fields.contains(&field.to_owned()), "{refused}");
        assert!(!refused.to_string().contains("secret@"), "{refused}");
    }
}

/// A provider's answer is Cowry's to read, not to relay: redirects are not followed, a huge answer is
/// not buffered, and a refusal's text reaches the merchant short and clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_answers_are_bounded_and_never_relayed_raw() {
    use axum::routing::post;
    let (trap, trapped) = counting_listener().await;
    let server = axum::Router::new()
        .route(
            "/redirect/transaction/initialize",
            post(move || async move {
                (
                    StatusCode::FOUND,
                    [("location", format!("http://127.0.0.1:{trap}/elsewhere"))],
                )
            }),
        )
        .route(
            "/huge/transaction/initialize",
            post(|| async { (StatusCode::OK, "x".repeat(2 * 1024 * 1024)) }),
        )
        .route(
            "/chatty/transaction/initialize",
            post(|| async {
                let message = format!("internal service says:\n{}", "<b>detail</b> ".repeat(100));
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"status": false, "message": message})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });

    let app = spawn_with(&[]).await;
    for path in ["redirect", "huge", "chatty"] {
        let (status, body) = app
            .post_json(
                "/providers",
                &json!({"slug": path, "kind": "paystack", "mode": "test",
                        "baseUrl": format!("{base}/{path}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut collection = body_n(10 + path.len() as u32);
        collection["provider"] = json!(path);
        collection["payable"]["methods"] = json!(["payment_link"]);
        let (status, refused) = app.create(&collection).await;
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{path}: {refused}"
        );
        let message = refused["message"].as_str().unwrap();
        assert!(message.chars().count() < 200, "{path}: {message}");
        assert!(
            !message.contains('\n') && !message.contains("xxxx"),
            "{path}: {message}"
        );
    }
    assert_eq!(
        trapped.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
    assert_eq!(app.count("select count(*) from collections").await, 0);
}

/// Test and live never mix: a live merchant (made by an operator) has `sk_live_` keys and live accounts
/// only; a test merchant cannot register a live account; and a process with live merchants will not
/// start without an https public URL and an encryption key, nor with emulators beside live accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_and_live_never_mix() {
    let key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let app = spawn_with(&[("COWRY_ENCRYPTION_KEY", key_hex)]).await;
    let (status, refused) = app
        .post_json(
            "/providers",
            &json!({"slug": "sneaky-live", "kind": "paystack", "mode": "live",
                    "credentials": {"secretKey": "sk_live_0123456789abcdef"}}),
        )
        .await;
    let fields = assert_error(&refused, status, "validation_failed");
    assert_eq!(fields, ["mode"], "{refused}");

    let live_key = app.live_merchant("Acme Live").await;
    assert!(live_key.starts_with("sk_live_"), "{live_key}");
    let (status, refused) = read(
        app.client
            .post(app.url("/providers"))
            .header("x-api-key", &live_key)
            .json(&json!({"slug": "emulated", "kind": "mtn_momo", "mode": "test"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let fields = assert_error(&refused, status, "validation_failed");
    assert_eq!(fields, ["mode"], "{refused}");
    let (status, added) = read(
        app.client
            .post(app.url("/providers"))
            .header("x-api-key", &live_key)
            .json(&json!({"slug": "paystack", "kind": "paystack",
                          "credentials": {"secretKey": "sk_live_0123456789abcdef"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");

    // Start-up: live merchants need an https public URL and the key; live accounts, no emulators.
    let url = app.database_url.clone();
    let config = |vars: &'static [(&'static str, &'static str)]| {
        let url = url.clone();
        cowry::Config::from_lookup(move |k| {
            if k == "DATABASE_URL" {
                return Some(url.clone());
            }
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    };
    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    for (vars, named) in [
        (
            &[("COWRY_ENCRYPTION_KEY", KEY), ("COWRY_EMULATORS", "false")][..],
            "COWRY_PUBLIC_URL",
        ),
        (
            &[
                ("COWRY_ENCRYPTION_KEY", KEY),
                ("COWRY_PUBLIC_URL", "https://pay.example.com"),
                ("COWRY_EMULATORS", "true"),
            ][..],
            "COWRY_EMULATORS",
        ),
    ] {
        let vars: &'static [(&'static str, &'static str)] =
            Box::leak(vars.to_vec().into_boxed_slice());
        let refused = cowry::db::prepare(&config(vars))
            .await
            .expect_err("refused");
        assert!(refused.to_string().contains(named), "{refused}");
    }
    let fine = cowry::db::prepare(&config(&[
        ("COWRY_ENCRYPTION_KEY", KEY),
        ("COWRY_PUBLIC_URL", "https://pay.example.com"),
        ("COWRY_EMULATORS", "false"),
    ]))
    .await;
    assert!(fine.is_ok(), "{:?}", fine.err());
}

/// A merchant rolls its key: the new one works at once, the old one for the overlap asked (none here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_key_replaces_the_old_one_after_its_overlap() {
    let app = spawn_with(&[]).await;
    let roll = |key: String, overlap: u64| {
        let request = app
            .client
            .post(app.url("/api-keys/roll"))
            .header("x-api-key", key)
            .json(&json!({"overlapSeconds": overlap}));
        async move { read(request.send().await.unwrap()).await }
    };
    let with = |key: &str| {
        let request = app
            .client
            .get(app.url("/collections"))
            .header("x-api-key", key);
        async move { request.send().await.unwrap().status() }
    };
    let (status, first) = roll(app.key.clone(), 3600).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_key = first["apiKey"].as_str().unwrap().to_owned();
    assert!(first_key.starts_with("sk_test_"));
    // With an overlap, both work.
    assert_eq!(with(&app.key).await, StatusCode::OK);
    assert_eq!(with(&first_key).await, StatusCode::OK);
    // Rolled again with no overlap: the key it was made with stops at once, the newest works.
    let (status, second) = roll(first_key.clone(), 0).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(with(&first_key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        with(second["apiKey"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let (status, refused) = roll(second["apiKey"].as_str().unwrap().to_owned(), 999_999_999).await;
    let fields = assert_error(&refused, status, "validation_failed");
    assert_eq!(fields, ["overlapSeconds"]);
}

/// The emulators are no open request forwarder: MTN's emulator calls back only on Cowry's own
/// configured address, whatever `X-Callback-Url` a caller sends, and refuses oversized bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_momo_emulator_calls_back_only_on_cowrys_own_address() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "20")]).await;
    let (port, accepted) = counting_listener().await;
    let client = reqwest::Client::new();
    let host = app.url("/_emulator/mtn_momo/collection");
    let token: Value = client
        .post(format!("{host}/token/"))
        .basic_auth("0b2f8e9c-3c59-4a37-9a59-2f0c8d1e6a11", Some("any-api-key"))
        .header("Ocp-Apim-Subscription-Key", "anyone")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reference = uuid::Uuid::new_v4().to_string();
    let pushed = client
        .post(format!("{host}/v1_0/requesttopay"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("Ocp-Apim-Subscription-Key", "anyone")
        .header("X-Target-Environment", "sandbox")
        .header("X-Reference-Id", &reference)
        .header(
            "X-Callback-Url",
            format!("http://127.0.0.1:{port}/internal/admin"),
        )
        .json(
            &json!({"amount": "1000", "currency": "UGX", "externalId": "x",
                      "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
                      "payerMessage": "m", "payeeNote": "n"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::ACCEPTED);
    // The payment settles (and would call back by now) …
    eventually("the emulated payment to settle", || async {
        let status: Value = client
            .get(format!("{host}/v1_0/requesttopay/{reference}"))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .header("Ocp-Apim-Subscription-Key", "anyone")
            .header("X-Target-Environment", "sandbox")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (status["status"] == "SUCCESSFUL").then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // … but not to the address the caller chose.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);

    let oversized = client
        .post(app.url("/_emulator/paystack/transaction/initialize"))
        .bearer_auth("sk_test_oversized_body_01")
        .body(vec![b' '; 128 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Emulators are off unless configured on (test scaffolding never rides along into a deployment).
#[test]
fn the_emulators_are_off_unless_configured_on() {
    let config = cowry::Config::from_lookup(|_| None).unwrap();
    assert!(!config.emulators);
    let on = cowry::Config::from_lookup(|k| (k == "COWRY_EMULATORS").then(|| "true".to_owned()))
        .unwrap();
    assert!(on.emulators);
}

/// Each API key has a token bucket (the server's default, or the merchant's own limit set by an
/// operator); past it, 429 in the error shape with `Retry-After` and `RateLimit-*`. Deliveries that
/// fail verification are limited per address; genuine callbacks are never throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_key_with_operator_overrides_and_for_failed_verifications() {
    let app = spawn_with(&[
        ("COWRY_RATE_LIMIT_PER_SECOND", "1"),
        ("COWRY_RATE_LIMIT_BURST", "3"),
        ("COWRY_AUTH_CACHE_SECS", "0"),
        ("COWRY_EMULATOR_SETTLE_MS", "600000"),
    ])
    .await;
    let list = |key: String| {
        let request = app
            .client
            .get(app.url("/collections"))
            .header("x-api-key", key);
        async move { request.send().await.unwrap() }
    };
    // The burst passes; within the next few (well inside the second a token takes to refill) one is
    // refused.
    for _ in 0..3 {
        assert_eq!(list(app.key.clone()).await.status(), StatusCode::OK);
    }
    let mut limited = None;
    for _ in 0..10 {
        let response = list(app.key.clone()).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the bucket ran out");
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.headers()["ratelimit-limit"], "3");
    let (status, body) = read(limited).await;
    assert_error(&body, status, "rate_limited");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Another merchant's key has its own bucket; an operator lifts this merchant's limit.
    let (_, other) = read(
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Other"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let other_key = other["apiKey"].as_str().unwrap().to_owned();
    assert_eq!(list(other_key.clone()).await.status(), StatusCode::OK);
    let other_id = other["id"].as_str().unwrap();
    let (status, set) = read(
        app.client
            .put(app.url(&format!("/admin/merchants/{other_id}/rate-limit")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"perSecond": 0}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    for _ in 0..20 {
        assert_eq!(list(other_key.clone()).await.status(), StatusCode::OK);
    }

    // Forged callbacks from one address: the first 20 are stored and refused, then 429 and nothing
    // stored; a genuinely signed one still goes through.
    let mut body = body_n(40);
    body["payable"]["methods"] = json!(["payment_link"]);
    let (status, created) = app.create_as(&other_key, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (reference, merchant): (String, String) =
        sqlx::query_as("select provider_reference, merchant_id from provider_attempts limit 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let payload = serde_json::to_vec(&json!({"event": "charge.success",
        "data": {"id": 1, "reference": reference, "status": "success", "amount": 4_500_000, "currency": "NGN"}}))
    .unwrap();
    let deliver = |signature: String| {
        let request = app
            .client
            .post(app.url("/webhooks/paystack"))
            .header("content-type", "application/json")
            .header("x-paystack-signature", signature)
            .body(payload.clone());
        async move { request.send().await.unwrap().status() }
    };
    // The burst is 20 and one more is allowed each second: how many pass before the first 429 depends
    // on how long the requests took (a loaded machine refills a token or two), never fewer than 20.
    let mut statuses = Vec::new();
    while !statuses.contains(&StatusCode::TOO_MANY_REQUESTS) && statuses.len() < 200 {
        statuses.push(deliver("00".repeat(64)).await);
    }
    let refused = statuses.len() - 1;
    assert!(refused >= 20, "{statuses:?}");
    assert!(
        statuses[..refused]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    // Past the limit nothing is stored: only the refused ones are, not the one answered 429.
    assert_eq!(
        app.count("select count(*) from webhook_receipts where verdict = 'rejected'")
            .await,
        refused as i64
    );
    let genuine =
        cowry::emulator::hmac_sha512_hex(&paystack_secret(&app.pool, &merchant).await, &payload);
    assert_eq!(deliver(genuine).await, StatusCode::OK);
}

/// What operators and merchants do to merchants, keys and accounts is kept with who and when, and
/// never a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_and_merchant_actions_are_audited() {
    let app = spawn_with(&[]).await;
    let admin = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(ADMIN_TOKEN)
    };
    let (_, made) = read(
        admin(reqwest::Method::POST, "/admin/merchants")
            .json(&json!({"name": "Audited"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let merchant = made["id"].as_str().unwrap().to_owned();
    let key = made["apiKey"].as_str().unwrap().to_owned();
    let as_merchant = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("x-api-key", &key)
    };
    let added = as_merchant(reqwest::Method::POST, "/providers")
        .json(&json!({"slug": "momo-2", "kind": "mtn_momo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let removed = as_merchant(reqwest::Method::DELETE, "/providers/momo-2")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let (_, rolled) = read(
        as_merchant(reqwest::Method::POST, "/api-keys/roll")
            .json(&json!({"overlapSeconds": 60}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let revoked = admin(
        reqwest::Method::DELETE,
        &format!("/admin/api-keys/{}", rolled["apiKeyId"].as_str().unwrap()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (status, trail) = read(
        admin(
            reqwest::Method::GET,
            &format!("/admin/audit?merchantId={merchant}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let actions: Vec<(String, String)> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("api_key.revoked", "operator"),
        ("api_key.rolled", "merchant"),
        ("provider_account.removed", "merchant"),
        ("provider_account.added", "merchant"),
        ("merchant.created", "operator"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(actions, expected);
    assert!(
        !trail.to_string().contains("sk_test_"),
        "no key in the trail"
    );
}

/// `COWRY_ENCRYPTION_KEY` rotates: values name the key that sealed them, an old key listed as
/// decrypt-only keeps everything readable, `cowry keys rotate` re-seals under the new key, and after
/// that the old key is not needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_encryption_key_rotates() {
    const NEW: &str = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "600000")]).await;
    let (status, added) = app
        .post_json(
            "/providers",
            &json!({"slug": "own-paystack", "kind": "paystack", "mode": "test",
                    "credentials": {"secretKey": "sk_test_merchantsownkey0001"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    // The default Paystack test account gets its random credentials on first use.
    let mut body = body_n(1);
    body["payable"]["methods"] = json!(["payment_link"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let merchant: String = sqlx::query_scalar("select merchant_id from collections limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let secret_before = paystack_secret(&app.pool, &merchant).await;
    // A webhook endpoint's signing secret is sealed the same way, and rotates with the rest.
    let (status, endpoint) = app
        .post_json(
            "/webhook-endpoints",
            &json!({"url": "https://example.com/hooks"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");

    // The new key alone opens nothing sealed before: the old one must be listed.
    let rotate = |vars: &[(&str, &str)]| {
        let mut command = app.cowry("keys");
        command
            .arg("rotate")
            .env_remove("COWRY_OLD_ENCRYPTION_KEYS")
            .stdout(std::process::Stdio::piped());
        for (k, v) in vars {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.success(), report)
    };
    let (ok, report) = rotate(&[("COWRY_ENCRYPTION_KEY", NEW)]);
    assert!(!ok, "nothing it cannot open is touched, and it says so");
    assert_eq!(
        report["undecryptable"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert_eq!(report["resealed"], 0);

    let (ok, report) = rotate(&[
        ("COWRY_ENCRYPTION_KEY", NEW),
        ("COWRY_OLD_ENCRYPTION_KEYS", crate::common::ENCRYPTION_KEY),
    ]);
    assert!(ok, "{report}");
    assert_eq!(report["resealed"], 3, "{report}");
    let (ok, report) = rotate(&[("COWRY_ENCRYPTION_KEY", NEW)]);
    assert!(ok, "{report}");
    assert_eq!(
        (report["resealed"].clone(), report["alreadyCurrent"].clone()),
        (json!(0), json!(3)),
        "running it again changes nothing"
    );

    // A server holding only the new key reads the same credentials: the same Paystack integration.
    let sealed: Vec<u8> = sqlx::query_scalar(
        "select credentials from merchant_providers where merchant_id = $1 and slug = 'paystack'",
    )
    .bind(&merchant)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let plain = cowry::domain::secretbox::SecretBox::from_hex(NEW)
        .unwrap()
        .open(&sealed, format!("{merchant}/paystack").as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&plain).unwrap()["secretKey"],
        json!(secret_before)
    );
    assert!(
        cowry::domain::secretbox::SecretBox::from_hex(crate::common::ENCRYPTION_KEY)
            .unwrap()
            .open(&sealed, format!("{merchant}/paystack").as_bytes())
            .is_err()
    );
}

/// What hyper answers by itself, before any of Cowry's code runs (a control byte in a header, a request
/// target over 64 KiB), leaves in the one error shape with the usual headers; ordinary answers on a
/// kept-alive connection are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_made_below_the_router_are_in_the_error_shape() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_with(&[]).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let exchange = |request: Vec<u8>| {
        let address = address.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.write_all(&request).await.unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            String::from_utf8(answer).unwrap()
        }
    };
    let long_path = format!("/collections/{}", "a".repeat(100_000));
    for (request, status, code) in [
        (
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-bad: a\x01b\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            format!("GET {long_path} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(),
            414,
            "uri_too_long",
        ),
    ] {
        let answer = exchange(request).await;
        let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_error(&body, StatusCode::from_u16(status).unwrap(), code);
    }
    // Two ordinary requests on one connection: both answered as the router answers them.
    let answer = exchange(
        b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert_eq!(answer.matches(r#"{"status":"ok"}"#).count(), 2, "{answer}");
}

/// Found by the schemathesis run: a filter given with no value is named, not silently dropped; an
/// operator's rate-limit body that is not an object changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_filters_and_non_object_bodies_are_refused() {
    let app = spawn_with(&[]).await;
    let (status, body) = app.get("/collections?createdTo=&status=pending").await;
    assert_eq!(
        assert_error(&body, status, "validation_failed"),
        ["createdTo"]
    );
    let (status, body) = app.admin_get("/admin/audit?merchantId=x%C2%9B").await;
    assert_eq!(
        assert_error(&body, status, "validation_failed"),
        ["merchantId"]
    );
    let merchant: String = sqlx::query_scalar("select id from merchants limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("update merchants set rate_per_second = 5, rate_burst = 5")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = read(
        app.client
            .put(app.url(&format!("/admin/merchants/{merchant}/rate-limit")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!(false))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&body, status, "validation_failed"), ["body"]);
    assert_eq!(
        app.count("select count(*) from merchants where rate_per_second = 5")
            .await,
        1,
        "the override stays"
    );
}

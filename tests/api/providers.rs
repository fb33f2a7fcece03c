use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{assert_error, example, read, spawn, spawn_with, TestApp};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

async fn add(app: &TestApp, body: Value) -> (StatusCode, Value) {
    read(
        app.authed(Method::POST, "/providers")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn slugs(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_merchant_has_the_default_list() {
    let app = spawn().await;
    let (status, list) = app.get("/providers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        slugs(&list),
        [
            "airtel_money",
            "dollr",
            "mona",
            "mtn_momo",
            "paystack",
            "sandbox"
        ]
    );
    let by_slug = |slug: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slug"] == slug)
            .unwrap()
            .clone()
    };
    let sandbox = by_slug("sandbox");
    assert_eq!(
        (sandbox["isDefault"].as_bool(), sandbox["mode"].as_str()),
        (Some(true), Some("test"))
    );
    // Each kind declares what it can do, the unit of its wire amounts included.
    let paystack = by_slug("paystack");
    assert_eq!(paystack["capabilities"]["amountUnit"], "minor");
    assert_eq!(paystack["capabilities"]["signedCallbacks"], true);
    assert_eq!(by_slug("mona")["capabilities"]["mandates"], true);
    for major in ["mtn_momo", "airtel_money", "dollr"] {
        assert_eq!(
            by_slug(major)["capabilities"]["amountUnit"],
            "major",
            "{major}"
        );
        assert_eq!(
            by_slug(major)["capabilities"]["signedCallbacks"],
            false,
            "{major}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_encrypted_and_never_returned() {
    let app = spawn_with(&[("COWRY_ENCRYPTION_KEY", KEY)]).await;
    // A live account belongs to a live merchant (a business going live gets one of its own).
    let (status, live) = read(
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(crate::common::ADMIN_TOKEN)
            .json(&json!({"name": "Acme Live", "mode": "live"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{live}");
    let live_key = live["apiKey"].as_str().unwrap().to_owned();
    let as_live = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("x-api-key", &live_key)
    };
    let (status, created) = read(
        as_live(Method::POST, "/providers")
            .json(&json!({"slug": "paystack-live", "kind": "paystack",
                          "credentials": {"secretKey": "sk_live_topsecret123"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["mode"], "live");
    assert_eq!(created["data"]["hasCredentials"], true);
    assert!(!created.to_string().contains("topsecret"));
    let (_, list) = read(as_live(Method::GET, "/providers").send().await.unwrap()).await;
    assert!(!list.to_string().contains("topsecret"));
    assert_eq!(slugs(&list), ["paystack-live"]);

    let (merchant, sealed): (String, Vec<u8>) = sqlx::query_as(
        "select merchant_id, credentials from merchant_providers where slug = 'paystack-live'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        !sealed.windows(9).any(|w| w == b"topsecret"),
        "stored encrypted"
    );
    let key = cowry::domain::secretbox::SecretBox::from_hex(KEY).unwrap();
    let plain = key
        .open(&sealed, format!("{merchant}/paystack-live").as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&plain).unwrap(),
        json!({"secretKey": "sk_live_topsecret123"})
    );

    // The server will not start without the key once live credentials exist.
    let url = app.database_url.clone();
    let config =
        cowry::Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).unwrap();
    let refused = cowry::db::prepare(&config)
        .await
        .expect_err("refused without the key");
    assert!(
        refused.to_string().contains("COWRY_ENCRYPTION_KEY"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_without_a_key_configured_are_refused() {
    let app = spawn_with(&[("COWRY_ENCRYPTION_KEY", "")]).await;
    let (status, body) = add(
        &app,
        json!({"slug": "p2", "kind": "paystack", "credentials": {"secretKey": "sk_test_abc"}}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, status, "service_unavailable");
    assert_eq!(
        app.count("select count(*) from merchant_providers where slug = 'p2'")
            .await,
        0
    );
    // A test account on the emulators needs credentials of its own too: a clear 503, nothing sent.
    let (status, body) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("COWRY_ENCRYPTION_KEY"),
        "{body}"
    );
    assert_eq!(
        app.count("select count(*) from mobile_money_collects")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_accounts_are_422s_and_taken_slugs_409s() {
    let app = spawn().await;
    let (status, body) = add(
        &app,
        json!({"slug": "Bad Slug", "kind": "stripe", "mode": "prod"}),
    )
    .await;
    assert_eq!(
        assert_error(&body, status, "validation_failed"),
        ["slug", "kind", "mode"]
    );
    let (status, body) = add(&app, json!({"slug": "paystack", "kind": "paystack"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, status, "provider_exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_is_usable_at_once_and_removal_is_guarded() {
    let app = spawn().await;
    let (status, _) = add(&app, json!({"slug": "sandbox-2", "kind": "sandbox"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut body = example();
    body["provider"] = "sandbox-2".into();
    let (status, created) = app.create(&body).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the cached key sees the new account: {created}"
    );
    assert_eq!(created["data"]["provider"], "sandbox-2");

    let delete = |slug: &str| {
        app.authed(Method::DELETE, &format!("/providers/{slug}"))
            .send()
    };
    assert_eq!(
        delete("sandbox-2").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete("sandbox-2").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let (status, body) = read(delete("sandbox").await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, status, "default_provider");
    body_refused_after_removal(&app).await;

    // Another merchant never sees this merchant's accounts.
    let other = app.other_merchant_key().await;
    let (_, list) = read(
        app.client
            .get(app.url("/providers"))
            .header("x-api-key", other)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(!slugs(&list).contains(&"sandbox-2"), "{list}");
}

async fn body_refused_after_removal(app: &TestApp) {
    let mut body = example();
    body["reference"] = "after-removal".into();
    body["provider"] = "sandbox-2".into();
    let (status, response) = app.create(&body).await;
    assert_eq!(
        assert_error(&response, status, "validation_failed"),
        ["provider"]
    );
}

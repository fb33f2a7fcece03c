use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{assert_error, example, read, spawn, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_unknown_and_malformed_keys_are_401() {
    let app = spawn().await;
    let attempts = [
        None,
        Some((
            "x-api-key",
            "sk_test_doesnotexist0000000000000000000000000000",
        )),
        Some((
            "authorization",
            "Bearer sk_test_doesnotexist00000000000000000000000",
        )),
        Some(("authorization", "Basic abc")),
        Some(("x-api-key", "not-a-key")),
    ];
    for header in attempts {
        let mut request = app.client.post(app.url("/collections")).json(&example());
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header:?}");
        assert_error(&body, status, "unauthorized");
    }
    assert_eq!(app.count("select count(*) from collections").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_header_styles_are_accepted() {
    let app = spawn().await;
    let response = app
        .client
        .get(app.url("/collections"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .client
        .get(app.url("/collections"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_stored_hashed_and_revoked_keys_stop_working() {
    let app = spawn().await;
    let stored: i64 = sqlx::query_scalar("select count(*) from api_keys where position(convert_to($1, 'UTF8') in key_hash) > 0 or key_prefix = $1")
        .bind(&app.key)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the plain key is not stored");

    let response = app
        .client
        .delete(app.url(&format!("/admin/api-keys/{}", app.key_id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = app.get("/collections").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, status, "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_merchants_whose_key_works() {
    let app = spawn().await;
    let (status, body) = read(
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Acme"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Acme");
    assert!(body["id"].as_str().unwrap().starts_with("mer_"));
    let key = body["apiKey"].as_str().unwrap();
    assert!(key.starts_with("sk_test_"));
    let (status, created) = read(
        app.client
            .post(app.url("/collections"))
            .header("x-api-key", key)
            .json(&example())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the example works verbatim for a new merchant: {created}"
    );
    assert_eq!(created["data"]["provider"], "paystack");

    for token in [None, Some("wrong-token-wrong-token")] {
        let mut request = app
            .client
            .post(app.url("/admin/merchants"))
            .json(&json!({"name": "Evil"}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, status, "unauthorized");
    }
    // A merchant key is not an admin token.
    let (status, _) = read(
        app.authed(Method::POST, "/admin/merchants")
            .bearer_auth(&app.key)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = read(
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&body, status, "validation_failed"), ["name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_key_bootstraps_one_merchant_even_from_concurrent_start_ups() {
    let app = spawn().await;
    let key = "sk_test_devkeyforthereadme0000000001";
    let starts = (0..5).map(|_| {
        let pool = app.pool.clone();
        async move { cowry::store::merchants::ensure_dev_merchant(&pool, key).await }
    });
    let ids: Vec<String> = futures_join(starts).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        app.count("select count(*) from merchants where name = 'Dev merchant'")
            .await,
        1
    );
    let response = app
        .client
        .post(app.url("/collections"))
        .header("x-api-key", key)
        .json(&example())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn futures_join<
    F: std::future::Future<Output = Result<String, sqlx::Error>> + Send + 'static,
>(
    futures: impl Iterator<Item = F>,
) -> Vec<String> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_merchants_collection_is_a_404() {
    let app = spawn().await;
    let (_, created) = app.create(&example()).await;
    let id = created["data"]["id"].as_str().unwrap();
    let other = app.other_merchant_key().await;
    for (method, path) in [
        (Method::GET, format!("/collections/{id}")),
        (Method::GET, format!("/collections/{id}/events")),
        (Method::POST, format!("/collections/{id}/cancel")),
    ] {
        let (status, body) = read(
            app.client
                .request(method, app.url(&path))
                .header("x-api-key", &other)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&body, status, "not_found");
    }
    let (status, list) = read(
        app.client
            .get(app.url("/collections"))
            .header("x-api-key", &other)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"], json!([]));
    // The same reference is free for the other merchant.
    let (status, _) = read(
        app.client
            .post(app.url("/collections"))
            .header("x-api-key", &other)
            .json(&example())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(
        mine["data"]["status"], "pending",
        "the other merchant's cancel attempt changed nothing"
    );
}

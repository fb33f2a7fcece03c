use reqwest::{Method, StatusCode};

use crate::common::{assert_error, example, read, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_in_the_error_shape() {
    let app = spawn().await;
    for raw in ["{\"reference\": ", "not json", "", "{\"a\":1}}"] {
        let response = app
            .authed(Method::POST, "/collections")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}");
        assert_error(&body, status, "malformed_json");
    }
    // A JSON value that is not an object is a validation error on the body.
    let (status, body) = read(
        app.authed(Method::POST, "/collections")
            .header("content-type", "application/json")
            .body("[1,2]")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&body, status, "validation_failed"), ["body"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_a_415() {
    let app = spawn().await;
    let body = example().to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app.authed(Method::POST, "/collections").body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let (status, response) = read(request.send().await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_error(&response, status, "unsupported_media_type");
    }
    // Parameters on the media type are fine.
    let (status, _) = read(
        app.authed(Method::POST, "/collections")
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_one_mebibyte_are_a_413() {
    let app = spawn().await;
    let mut body = example();
    body["metadata"] = serde_json::json!({"description": "big", "blob": "x".repeat(1024 * 1024)});
    let (status, response) = read(
        app.authed(Method::POST, "/collections")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&response, status, "payload_too_large");
    assert_eq!(app.count("select count(*) from collections").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_use_the_error_shape() {
    let app = spawn().await;
    let (status, body) = app.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, status, "not_found");
    let (status, body) = read(
        app.authed(Method::DELETE, "/collections")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, status, "method_not_allowed");
    let (status, body) = app.get("/collections/pay_doesnotexist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, status, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_set_and_propagated() {
    let app = spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let response = app
        .client
        .get(app.url("/collections"))
        .header("x-request-id", "req-err-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["x-request-id"], "req-err-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_openapi() {
    let app = spawn().await;
    let (status, body) = read(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let (status, doc) = read(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/collections",
        "/collections/{id}",
        "/collections/{id}/cancel",
        "/collections/{id}/events",
        "/admin/merchants",
        "/admin/api-keys/{id}",
        "/admin/attempts",
        "/admin/attempts/{id}/recheck",
        "/collections/collect",
        "/collections/collect/{id}",
        "/collections/collect/{id}/events",
        "/webhooks/{provider}",
        "/providers",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    for schema in [
        "CollectionView",
        "CreateCollectionRequest",
        "ErrorBody",
        "CollectView",
        "CollectRequest",
        "AttemptView",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn().await;
    app.pool.close().await;
    let (status, body) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, status, "service_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_and_control_characters_never_reach_the_database_as_500s() {
    let app = spawn().await;
    let mut body = example();
    body["contact"]["firstName"] = "Ami\u{0}na".into();
    let (status, response) = app.create(&body).await;
    assert_eq!(
        assert_error(&response, status, "validation_failed"),
        ["contact.firstName"]
    );

    let (status, response) = app.get("/collections?reference=a%00b&contactId=x%07").await;
    assert_eq!(
        assert_error(&response, status, "validation_failed"),
        ["reference", "contactId"]
    );
    for path in ["/collections/pay_%00", "/collections/pay_%00/events"] {
        let (status, response) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&response, status, "not_found");
    }
    // Free-form metadata is still text: a NUL inside it is refused like anywhere else, by path.
    let mut body = example();
    body["metadata"] = serde_json::json!({"description": "nul \u{0} inside"});
    let (status, response) = app.create(&body).await;
    let fields = assert_error(&response, status, "validation_failed");
    assert_eq!(fields, ["metadata.description"]);

    let (status, response) = read(
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(crate::common::ADMIN_TOKEN)
            .json(&serde_json::json!({"name": "bad\u{0}name"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        assert_error(&response, status, "validation_failed"),
        ["name"]
    );
}

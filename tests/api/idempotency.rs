use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{assert_error, example, read, spawn, spawn_with, TestApp};

async fn create_with_key(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value, bool) {
    let response = app
        .authed(Method::POST, "/collections")
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let (status, body) = read(response).await;
    (status, body, replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_same_body_replays_the_saved_response() {
    let app = spawn().await;
    let (first_status, first, replayed) = create_with_key(&app, "order-123", &example()).await;
    assert_eq!(
        (first_status, replayed),
        (StatusCode::CREATED, false),
        "{first}"
    );
    let (second_status, second, replayed) = create_with_key(&app, "order-123", &example()).await;
    assert_eq!((second_status, replayed), (StatusCode::CREATED, true));
    assert_eq!(first, second);
    assert_eq!(app.count("select count(*) from collections").await, 1);
    assert_eq!(app.count("select count(*) from collection_events").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_other_body_is_a_409() {
    let app = spawn().await;
    create_with_key(&app, "order-123", &example()).await;
    let mut other = example();
    other["amount"]["value"] = 50000.into();
    other["reference"] = "another-ref".into();
    let (status, body, _) = create_with_key(&app, "order-123", &other).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, status, "idempotency_key_reused");
    assert_eq!(app.count("select count(*) from collections").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_does_not_burn_its_key() {
    let app = spawn().await;
    app.create(&example()).await;
    // Same reference again: 409, and the key is not saved with that failure...
    let (status, body, _) = create_with_key(&app, "retry-me", &example()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, status, "duplicate_reference");
    assert_eq!(app.count("select count(*) from idempotency_keys").await, 0);
    // ...so after fixing the request the same key works.
    let mut fixed = example();
    fixed["reference"] = "fixed-ref".into();
    let (status, _, _) = create_with_key(&app, "retry-me", &fixed).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_reference_without_a_key_is_a_409() {
    let app = spawn().await;
    let (status, _) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, status, "duplicate_reference");
    assert!(
        !body.to_string().contains("collections_reference_key"),
        "no SQL detail leaks: {body}"
    );
    assert_eq!(app.count("select count(*) from collections").await, 1);
    assert_eq!(app.count("select count(*) from contacts").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_identical_requests_with_a_key_create_one_collection() {
    let app = std::sync::Arc::new(spawn().await);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { create_with_key(&app, "same-key", &example()).await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut in_use = 0;
    for task in tasks {
        let (status, body, _) = task.await.unwrap();
        match status {
            StatusCode::CREATED => ids.push(body["data"]["id"].as_str().unwrap().to_owned()),
            // The first request is still talking to the provider: retry shortly.
            StatusCode::CONFLICT => {
                assert_error(&body, status, "idempotency_key_in_use");
                in_use += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every 201 names the same collection"
    );
    assert_eq!(ids.len() + in_use, 50);
    assert_eq!(app.count("select count(*) from collections").await, 1);
    assert_eq!(app.count("select count(*) from collection_events").await, 1);
    assert_eq!(
        app.count("select count(*) from provider_attempts").await,
        2,
        "the provider was asked once"
    );
    // Once it is done, the key replays the saved response.
    let (status, body, replayed) = create_with_key(&app, "same-key", &example()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(body["data"]["id"], ids[0].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_identical_requests_without_a_key_create_one_collection() {
    let app = std::sync::Arc::new(spawn().await);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.create(&example()).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_error(&body, status, "duplicate_reference");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.count("select count(*) from collections").await, 1);
    assert_eq!(app.count("select count(*) from contacts").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_is_idempotent_with_a_key() {
    let app = spawn().await;
    let (_, created) = app.create(&example()).await;
    let path = format!(
        "/collections/{}/cancel",
        created["data"]["id"].as_str().unwrap()
    );
    let send = || {
        app.authed(Method::POST, &path)
            .header("idempotency-key", "cancel-1")
            .send()
    };
    let (first_status, first) = read(send().await.unwrap()).await;
    let (second_status, second) = read(send().await.unwrap()).await;
    assert_eq!(
        (first_status, second_status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(first, second);
    assert_eq!(
        app.count("select count(*) from collection_events where type = 'collection.cancelled'")
            .await,
        1
    );
}

/// One retention sweep owns every kind of operational record: what is past its age goes, what is
/// recent stays, and the collections' history is never deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_records_and_keeps_recent_ones_and_history() {
    let app = spawn_with(&[("COWRY_EXPIRY_SWEEP_SECS", "1")]).await;
    create_with_key(&app, "old-key", &example()).await;
    let mut fresh = example();
    fresh["reference"] = "fresh".into();
    create_with_key(&app, "fresh-key", &fresh).await;
    let statements = [
        "update idempotency_keys set created_at = now() - interval '25 hours' where key = 'old-key'",
        // Receipts: verified 91 days old (with its de-duplication key) and fresh; rejected 8 days and 1 day.
        "insert into webhook_receipts (id, provider, headers, body, verdict, dedupe_key, received_at) values
            ('whr_old', 'paystack', '{}', '', 'verified', 'k-old', now() - interval '91 days'),
            ('whr_new', 'paystack', '{}', '', 'verified', 'k-new', now()),
            ('whr_old_rejected', 'paystack', '{}', '', 'rejected', null, now() - interval '8 days'),
            ('whr_new_rejected', 'paystack', '{}', '', 'rejected', null, now() - interval '1 day')",
        "insert into webhook_dedupe (provider, dedupe_key, receipt_id) values
            ('paystack', 'k-old', 'whr_old'), ('paystack', 'k-new', 'whr_new')",
        // Jobs: failed 31 days ago, failed now, and a queued one that is old but still to run.
        "insert into jobs (kind, key, status, updated_at) values
            ('test', 'old-failed', 'failed', now() - interval '31 days'),
            ('test', 'new-failed', 'failed', now()),
            ('test', 'old-queued', 'queued', now() - interval '400 days')",
        // History is never deleted, however old.
        "update collection_events set created_at = now() - interval '400 days'",
    ];
    for statement in statements {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
    let events = app.count("select count(*) from collection_events").await;
    crate::common::eventually("the sweep to delete what is old", || async {
        let old = app
            .count(
                "select (select count(*) from idempotency_keys where key = 'old-key')
                      + (select count(*) from webhook_receipts where id in ('whr_old', 'whr_old_rejected'))
                      + (select count(*) from webhook_dedupe where receipt_id = 'whr_old')
                      + (select count(*) from jobs where key = 'old-failed')",
            )
            .await;
        (old == 0).then_some(())
    })
    .await;
    let kept: Vec<String> = sqlx::query_scalar(
        "select key from idempotency_keys
         union all select id from webhook_receipts
         union all select dedupe_key from webhook_dedupe
         union all select key from jobs where kind = 'test'
         order by 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        kept,
        [
            "fresh-key",
            "k-new",
            "new-failed",
            "old-queued",
            "whr_new",
            "whr_new_rejected"
        ]
    );
    assert_eq!(
        app.count("select count(*) from collection_events").await,
        events
    );
}

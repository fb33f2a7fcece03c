use reqwest::StatusCode;
use serde_json::json;

use crate::common::{assert_error, body_n, example, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_collections_cancel_once_and_terminal_ones_refuse() {
    let app = spawn().await;
    let (_, created) = app.create(&example()).await;
    let id = created["data"]["id"].as_str().unwrap();

    let (status, body) = app.post(&format!("/collections/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Collection cancelled successfully");
    assert_eq!(body["data"]["status"], "cancelled");
    let types: Vec<&str> = body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["collection.created", "collection.cancelled"]);

    let (status, body) = app.post(&format!("/collections/{id}/cancel")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, status, "invalid_state");
    assert_eq!(
        app.count("select count(*) from collection_events").await,
        2,
        "a refused cancel adds nothing"
    );

    let (status, body) = app.get(&format!("/collections/{id}/events")).await;
    assert_eq!(status, StatusCode::OK);
    let events = body["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["type"], "collection.cancelled");
    assert!(events[1]["id"].as_str().unwrap().starts_with("evt_"));

    let (status, body) = app.post("/collections/pay_missing/cancel").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, status, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_collections_can_be_cancelled_and_completed_ones_cannot() {
    let app = spawn().await;
    let (_, a) = app.create(&body_n(1)).await;
    let (_, b) = app.create(&body_n(2)).await;
    let (a, b) = (
        a["data"]["id"].as_str().unwrap(),
        b["data"]["id"].as_str().unwrap(),
    );
    sqlx::query("update collections set status = 'overdue' where id = $1")
        .bind(a)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update collections set status = 'completed', completed_at = now() where id = $1")
        .bind(b)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = app.post(&format!("/collections/{a}/cancel")).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (status, body) = app.post(&format!("/collections/{b}/cancel")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["message"].as_str().unwrap().contains("completed"));
    let (_, body) = app.get(&format!("/collections/{b}")).await;
    assert_eq!(body["data"]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_sweep_expires_due_collections_once() {
    let app = spawn().await;
    let mut short = body_n(1);
    short["expiresIn"] = json!(1);
    let (_, short) = app.create(&short).await;
    let (_, long) = app.create(&body_n(2)).await;
    let (_, cancelled) = app.create(&body_n(3)).await;
    let cancelled_id = cancelled["data"]["id"].as_str().unwrap();
    app.post(&format!("/collections/{cancelled_id}/cancel"))
        .await;

    let in_two_hours = chrono::Utc::now() + chrono::TimeDelta::hours(2);
    let expired = cowry::jobs::expiry::expire_batch(&app.pool, in_two_hours, 100)
        .await
        .unwrap();
    assert_eq!(expired, 1, "only the pending collection past its expiry");
    let again = cowry::jobs::expiry::expire_batch(&app.pool, in_two_hours, 100)
        .await
        .unwrap();
    assert_eq!(again, 0, "an expired collection is terminal");

    let (_, body) = app
        .get(&format!(
            "/collections/{}",
            short["data"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(body["data"]["status"], "expired");
    assert_eq!(body["data"]["events"][1]["type"], "collection.expired");
    let (_, body) = app
        .get(&format!(
            "/collections/{}",
            long["data"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(body["data"]["status"], "pending");
    let (_, body) = app.get(&format!("/collections/{cancelled_id}")).await;
    assert_eq!(body["data"]["status"], "cancelled");
    let (status, _) = app
        .post(&format!(
            "/collections/{}/cancel",
            short["data"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

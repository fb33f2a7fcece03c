//! The merchant's event stream: `GET /events` and signed, retried webhook deliveries (Standard
//! Webhooks), proved against a receiver that misbehaves, the published verification library, a
//! worker killed mid-delivery and two workers sharing the work.

use std::collections::{HashMap, HashSet};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, body_n, eventually, read, spawn_with, TestApp};
use crate::receiver::{verify_with_standard_webhooks, Answer, Received, Receiver};

/// Fast workers and a retry schedule of milliseconds, so retries happen within a test.
const FAST: &[(&str, &str)] = &[
    ("COWRY_WORKER_IDLE_MS", "20"),
    ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ("COWRY_RECONCILE_SCHEDULE", "100ms"),
    (
        "COWRY_WEBHOOK_RETRY_SCHEDULE",
        "50ms,50ms,100ms,100ms,100ms,100ms,100ms",
    ),
];

async fn add_endpoint(app: &TestApp, body: Value) -> (String, String) {
    let (status, created) = app.post_json("/webhook-endpoints", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["data"]["id"].as_str().unwrap().to_owned(),
        created["data"]["secret"].as_str().unwrap().to_owned(),
    )
}

/// Every published event, paging `GET /events` one at a time with the cursor.
async fn all_events(app: &TestApp) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/events?limit=1&cursor={c}"),
            None => "/events?limit=1".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let data = page["data"].as_array().unwrap().clone();
        events.extend(data.iter().cloned());
        cursor = page["pagination"]["nextCursor"].as_str().map(str::to_owned);
        if !page["pagination"]["hasMore"].as_bool().unwrap() {
            return events;
        }
    }
}

/// A collection on the sandbox (nothing pays it by itself), then cancelled.
async fn cancelled_collection(app: &TestApp, n: u32) -> String {
    let mut body = body_n(n);
    body["provider"] = json!("sandbox");
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, cancelled) = app
        .post_json(&format!("/collections/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    id
}

fn ids(received: &[Received]) -> HashSet<String> {
    received.iter().map(|r| r.id().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_signed_and_retried_through_a_failing_receiver() {
    let app = spawn_with(FAST).await;
    let receiver = Receiver::start().await;
    // The first tries fail every way a receiver fails; later ones succeed.
    receiver.plan(&[
        Answer::Status(500),
        Answer::Close,
        Answer::RetryAfter(1),
        Answer::Slow(std::time::Duration::from_millis(300)),
        Answer::Status(502),
    ]);
    let (endpoint, secret) = add_endpoint(&app, json!({"url": receiver.url})).await;

    let collection = cancelled_collection(&app, 1).await;
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let collect = sent["payload"]["id"].as_str().unwrap().to_owned();
    crate::collect::settled(&app, &collect).await;

    // The stream: four events, in one order across collections and collects, read exactly once.
    let events = eventually("four published events", || async {
        let events = all_events(&app).await;
        (events.len() == 4).then_some(events)
    })
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "collection.created",
        "collection.cancelled",
        "collect.created",
        "collect.succeeded",
    ] {
        assert!(types.contains(&expected), "{types:?}");
    }
    assert_eq!(
        events
            .iter()
            .map(|e| e["id"].clone())
            .collect::<HashSet<_>>()
            .len(),
        4,
        "no event listed twice"
    );
    // Within one object, `sequence` grows in stream order; `data` is the object at that moment.
    let by_object = |object: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["data"]["id"] == object)
            .collect()
    };
    let of_collection = by_object(&collection);
    assert!(of_collection[0]["sequence"].as_i64() < of_collection[1]["sequence"].as_i64());
    assert_eq!(of_collection[0]["data"]["status"], "pending");
    assert_eq!(of_collection[1]["data"]["status"], "cancelled");
    let of_collect = by_object(&collect);
    assert_eq!(of_collect[1]["data"]["status"], "SUCCESS");
    assert_eq!(of_collect[0]["livemode"], false);
    assert_eq!(of_collect[0]["apiVersion"], "2026-11-27");

    // Every event reaches the receiver, through the failures, under its event id.
    let wanted: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let received = eventually("every event delivered", || async {
        let received = receiver.received();
        wanted.is_subset(&ids(&received)).then_some(received)
    })
    .await;
    eventually("every delivery settled", || async {
        (app.count("select count(*) from webhook_deliveries where status = 'delivered'")
            .await
            == 4)
            .then_some(())
    })
    .await;
    let received = receiver
        .received()
        .into_iter()
        .chain(received)
        .collect::<Vec<_>>();
    assert!(received.len() > 4, "the failures were retried");
    // A retry is the same message: same id, same body.
    let mut bodies: HashMap<String, String> = HashMap::new();
    for r in &received {
        let first = bodies
            .entry(r.id().to_owned())
            .or_insert_with(|| r.body.clone());
        assert_eq!(first, &r.body, "a retry changed the payload");
    }
    // What was delivered is what GET /events shows.
    for event in &events {
        let id = event["id"].as_str().unwrap();
        let delivered: Value = serde_json::from_str(&bodies[id]).unwrap();
        assert_eq!(&delivered, event);
        let (status, one) = app.get(&format!("/events/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&one, event);
    }
    // The merchant verifies every delivery with the published library, unchanged.
    assert_eq!(
        verify_with_standard_webhooks(&secret, &received),
        Ok(received.len())
    );
    assert!(verify_with_standard_webhooks(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &received[..1]
    )
    .is_err());

    // The deliveries say what happened, try by try.
    let (status, listed) = app
        .get(&format!("/webhook-endpoints/{endpoint}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let tries: Vec<Vec<Value>> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempts"].as_array().unwrap().clone())
        .collect();
    assert_eq!(tries.len(), 4);
    assert!(tries.iter().any(|t| t.len() > 1));
    let statuses: HashSet<Value> = tries
        .iter()
        .flatten()
        .map(|a| a["httpStatus"].clone())
        .collect();
    assert!(
        statuses.contains(&json!(500)) && statuses.contains(&Value::Null),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_or_five_days_of_failures_disable_an_endpoint_with_an_event() {
    let app = spawn_with(FAST).await;
    let gone = Receiver::start().await;
    gone.otherwise(Answer::Status(410));
    let (gone_id, _) = add_endpoint(&app, json!({"url": gone.url})).await;
    let failing = Receiver::start().await;
    failing.otherwise(Answer::Status(500));
    let (failing_id, _) = add_endpoint(
        &app,
        json!({"url": failing.url, "events": ["collection.cancelled"]}),
    )
    .await;
    sqlx::query(
        "update webhook_endpoints set failing_since = now() - interval '6 days' where id = $1",
    )
    .bind(&failing_id)
    .execute(&app.pool)
    .await
    .unwrap();

    cancelled_collection(&app, 1).await;
    for id in [&gone_id, &failing_id] {
        let endpoint = eventually("the endpoint to be disabled", || async {
            let (_, body) = app.get(&format!("/webhook-endpoints/{id}")).await;
            (body["data"]["enabled"] == false).then_some(body)
        })
        .await;
        assert!(endpoint["data"]["disabledReason"].is_string(), "{endpoint}");
    }
    // No retries: 410 ends a delivery at once, and so does the sixth day of failures (deliveries
    // already running when the endpoint was disabled may each have had their one try).
    for receiver in [&gone, &failing] {
        let received = receiver.received();
        assert_eq!(
            ids(&received).len(),
            received.len(),
            "a delivery was retried"
        );
    }
    assert_eq!(
        failing.received().len(),
        1,
        "it wants only collection.cancelled"
    );
    let disabled: Vec<Value> = eventually("two disabled events", || async {
        let events = all_events(&app).await;
        let disabled: Vec<Value> = events
            .into_iter()
            .filter(|e| e["type"] == "webhook_endpoint.disabled")
            .collect();
        (disabled.len() == 2).then_some(disabled)
    })
    .await;
    let named: HashSet<&str> = disabled
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        HashSet::from([gone_id.as_str(), failing_id.as_str()])
    );
    // Operators see them across merchants.
    let (status, failing_list) = app.admin_get("/admin/webhook-endpoints/failing").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        failing_list["data"].as_array().unwrap().len(),
        2,
        "{failing_list}"
    );
    // Re-enabling starts afresh.
    let (status, enabled) = read(
        app.authed(
            reqwest::Method::PATCH,
            &format!("/webhook-endpoints/{gone_id}"),
        )
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["data"]["disabledReason"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_and_pings_replays_and_retries_resend() {
    let app = spawn_with(FAST).await;
    let receiver = Receiver::start().await;
    let (endpoint, old_secret) =
        add_endpoint(&app, json!({"url": receiver.url, "description": "books"})).await;
    let (status, rotated) = app
        .post_json(
            &format!("/webhook-endpoints/{endpoint}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    let (_, fetched) = app.get(&format!("/webhook-endpoints/{endpoint}")).await;
    assert!(
        fetched["data"].get("secret").is_none(),
        "a secret is shown once"
    );

    let (status, ping) = app
        .post_json(&format!("/webhook-endpoints/{endpoint}/test"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ping}");
    assert_eq!(ping["data"]["delivered"], true, "{ping}");
    let received = receiver.received();
    assert_eq!(received[0].json()["type"], "ping");
    assert_eq!(
        received[0].headers["webhook-signature"].split(' ').count(),
        2
    );
    for secret in [&old_secret, &new_secret] {
        assert_eq!(verify_with_standard_webhooks(secret, &received), Ok(1));
    }

    let started = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    cancelled_collection(&app, 1).await;
    eventually("two deliveries", || async {
        (receiver.received().len() == 3).then_some(())
    })
    .await;
    // Replay the range: the same events again, under the same ids.
    let (status, replayed) = app
        .post_json(
            &format!("/webhook-endpoints/{endpoint}/replay"),
            &json!({"from": started.to_rfc3339(), "to": chrono::Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_eq!(replayed["data"]["queued"], 2);
    eventually("the replay", || async {
        (receiver.received().len() == 5).then_some(())
    })
    .await;
    let received = receiver.received();
    assert_eq!(ids(&received[1..3]), ids(&received[3..5]));
    // Retry one delivery by hand.
    let delivery: String = sqlx::query_scalar("select id from webhook_deliveries limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (status, _) = app
        .post_json(&format!("/webhook-deliveries/{delivery}/retry"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("the retry", || async {
        (receiver.received().len() == 6).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_validated_and_managed() {
    let app = spawn_with(&[("COWRY_ALLOW_PRIVATE_NETWORKS", "false")]).await;
    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": "ftp://example.com/x"}), "url"),
        (json!({"url": "https://user:pw@example.com/x"}), "url"),
        (json!({"url": "http://127.0.0.1:9/hooks"}), "url"),
        (json!({"url": "http://169.254.169.254/latest"}), "url"),
        (
            json!({"url": "https://example.com/x", "events": ["collection.exploded"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://example.com/x", "events": []}),
            "events",
        ),
    ] {
        let (status, refused) = app.post_json("/webhook-endpoints", &body).await;
        assert_eq!(
            assert_error(&refused, status, "validation_failed"),
            [field],
            "{body}"
        );
    }
    assert_eq!(app.count("select count(*) from webhook_endpoints").await, 0);
    let (id, secret) = add_endpoint(
        &app,
        json!({"url": "https://example.com/hooks", "events": ["collection.completed", "collection.completed"]}),
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        app.count(
            "select count(*) from webhook_endpoints where position('whsec_'::bytea in secret) > 0"
        )
        .await,
        0,
        "the secret is stored sealed"
    );
    let (status, listed) = app.get("/webhook-endpoints").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"][0]["events"], json!(["collection.completed"]));
    assert!(listed["data"][0].get("secret").is_none());
    let (status, bad) = read(
        app.authed(reqwest::Method::PATCH, &format!("/webhook-endpoints/{id}"))
            .json(&json!({"enabled": "yes"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&bad, status, "validation_failed"), ["enabled"]);
    // A url given empty (or only spaces) is refused, not read as "no change"; null is no change.
    for empty in ["", "  "] {
        let (status, bad) = read(
            app.authed(reqwest::Method::PATCH, &format!("/webhook-endpoints/{id}"))
                .json(&json!({"url": empty}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(assert_error(&bad, status, "validation_failed"), ["url"]);
    }
    let (status, changed) = read(
        app.authed(reqwest::Method::PATCH, &format!("/webhook-endpoints/{id}"))
            .json(&json!({"events": null, "url": null, "description": "all of it"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["data"]["events"], Value::Null);
    assert_eq!(changed["data"]["description"], "all of it");
    assert_eq!(changed["data"]["url"], "https://example.com/hooks");
    let (status, _) = app.get("/events?type=collection.exploded").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get("/events?cursor=nonsense").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get("/events/evt_doesnotexist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let removed = app
        .authed(reqwest::Method::DELETE, &format!("/webhook-endpoints/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/webhook-endpoints/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A live merchant's endpoints are https.
    let live = app.live_merchant("Live Co").await;
    let (status, refused) = read(
        app.client
            .post(app.url("/webhook-endpoints"))
            .header("x-api-key", &live)
            .json(&json!({"url": "http://example.com/hooks"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&refused, status, "validation_failed"), ["url"]);
}

/// The server writes events while workers in other processes deliver them: one worker is killed with
/// SIGKILL mid-delivery, another takes over, and every event arrives. Two workers together never send
/// one delivery at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_and_two_workers_never_send_one_delivery_at_once() {
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Answer::Slow(std::time::Duration::from_millis(100)));
    add_endpoint(
        &app,
        json!({"url": receiver.url, "events": ["collection.created"]}),
    )
    .await;
    for n in 0..24 {
        let (status, created) = app.create(&body_n(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let wanted: HashSet<String> = sqlx::query_scalar("select event_id from webhook_deliveries")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(wanted.len(), 24);
    // `cowry worker` and `cowry serve` run the same queue; both kinds share the work here.
    let worker = |subcommand: &str| {
        app.cowry(subcommand)
            .env("COWRY_BIND", "127.0.0.1:0")
            .env("COWRY_PUBLIC_URL", &app.base)
            .env("COWRY_WORKER_IDLE_MS", "20")
            .env("COWRY_JOB_LEASE_SECS", "2")
            .spawn()
            .expect("the cowry binary starts")
    };
    let mut first = worker("worker");
    eventually("some deliveries", || async {
        (receiver.received().len() >= 3).then_some(())
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = worker("serve");
    let mut third = worker("serve");
    eventually("every event delivered after the kill", || async {
        let delivered = app
            .count("select count(*) from webhook_deliveries where status = 'delivered'")
            .await;
        (delivered == 24).then_some(())
    })
    .await;
    for process in [&mut second, &mut third] {
        process.kill().unwrap();
        process.wait().unwrap();
    }
    assert!(wanted.is_subset(&ids(&receiver.received())));
    assert_eq!(
        *receiver.most_at_once.lock().unwrap(),
        1,
        "one delivery sent twice at once"
    );
}

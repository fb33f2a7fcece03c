//! What operators and finance see and do: stuck attempts, an immediate re-check, and a reversal that
//! rolls a paid collect back.

use reqwest::StatusCode;
use serde_json::json;

use crate::collect::settled;
use crate::common::{read, spawn_with, TestApp, ADMIN_TOKEN};
use cowry::domain::currency::Currency;
use cowry::domain::money::Money;
use cowry::domain::settlement::{PaymentStatus, Report};

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    read(
        app.client
            .request(method, app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lists_attempts_and_asks_for_an_immediate_recheck() {
    // Polls are an hour apart: only the operator's re-check makes one happen now.
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "1h"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    // …0003: paid, but MTN never calls back.
    let (_, created) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772120003", "amount": 650}),
        )
        .await;
    let collect_id = created["payload"]["id"].as_str().unwrap();
    let (status, list) = admin(&app, reqwest::Method::GET, "/admin/attempts?status=pending").await;
    assert_eq!(status, StatusCode::OK);
    let attempt = list["data"][0].clone();
    assert_eq!(attempt["collectId"], collect_id);
    assert_eq!(attempt["kind"], "mtn_momo");
    let id = attempt["id"].as_str().unwrap();

    let (status, queued) = admin(
        &app,
        reqwest::Method::POST,
        &format!("/admin/attempts/{id}/recheck"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["id"], id);
    // The emulator may not have settled when the first re-check ran: the operator asks again until the
    // provider's answer is final (with an hour between scheduled polls, only re-checks can do this).
    crate::common::eventually("a re-check to find the payment", || async {
        let path = format!("/admin/attempts/{id}/recheck");
        let _ = admin(&app, reqwest::Method::POST, &path).await;
        let (_, now) = app.get(&format!("/collections/collect/{collect_id}")).await;
        (now["payload"]["status"] != "PENDING").then_some(())
    })
    .await;
    assert_eq!(settled(&app, collect_id).await["status"], "SUCCESS");

    let (status, body) = admin(
        &app,
        reqwest::Method::POST,
        &format!("/admin/attempts/{id}/recheck"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("invalid_state"))
    );
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/admin/attempts/att_nope/recheck",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = admin(&app, reqwest::Method::GET, "/admin/attempts?status=paid").await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("status"))
    );
    let (status, _) = read(
        app.client
            .get(app.url("/admin/attempts"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = read(
        app.client
            .get(app.url("/admin/attempts"))
            .header("x-api-key", &app.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a merchant key is not an operator token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_rolls_a_paid_collect_back_and_nothing_moves_it_again() {
    let app = spawn_with(&crate::collect::FAST).await;
    let (_, created) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 650}),
        )
        .await;
    let collect_id = created["payload"]["id"].as_str().unwrap();
    assert_eq!(settled(&app, collect_id).await["status"], "SUCCESS");
    let (merchant, attempt): (String, String) =
        sqlx::query_as("select merchant_id, id from provider_attempts")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let ugx = Money::from_minor(650, Currency::parse("UGX").unwrap());
    let apply = |status: PaymentStatus| {
        let (pool, merchant, attempt) = (app.pool.clone(), merchant.clone(), attempt.clone());
        async move {
            let mut tx = pool.begin().await.unwrap();
            let report = Report {
                status,
                amount: Some(ugx),
            };
            cowry::jobs::settle::apply(&mut tx, &merchant, &attempt, &report, "webhook")
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    };
    apply(PaymentStatus::Reversed).await;
    let (_, now) = app.get(&format!("/collections/collect/{collect_id}")).await;
    assert_eq!(now["payload"]["status"], "ROLLED_BACK");
    // Neither a late success nor a failure moves it again; each is recorded.
    apply(PaymentStatus::Succeeded).await;
    apply(PaymentStatus::Failed {
        reason: "late".into(),
    })
    .await;
    let (_, now) = app.get(&format!("/collections/collect/{collect_id}")).await;
    assert_eq!(now["payload"]["status"], "ROLLED_BACK");
    let (_, events) = app
        .get(&format!("/collections/collect/{collect_id}/events"))
        .await;
    let types: Vec<&str> = events["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "collect.created",
            "collect.succeeded",
            "collect.rolled_back",
            "collect.status_ignored",
            "collect.status_ignored"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_stops_at_the_deadline_quietly_for_checkouts_and_loudly_for_mobile_money() {
    let app = spawn_with(&crate::collect::FAST).await;
    // A Paystack checkout nobody pays (amount ending 02) and a MoMo prompt nobody answers (…0002).
    let mut body = crate::common::body_n(9);
    body["amount"]["value"] = json!(450.02);
    body["payable"]["methods"] = json!(["payment_link"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772120002", "amount": 650}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Time passes: the collection expires, and the prompt is a day old.
    sqlx::query("update collections set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update provider_attempts set created_at = now() - interval '25 hours' where kind = 'mtn_momo'")
        .execute(&app.pool)
        .await
        .unwrap();
    let states = crate::common::eventually("both attempts to reach their deadline", || async {
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("select kind, status, error from provider_attempts order by kind")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        rows.iter().all(|(_, s, _)| s != "pending").then_some(rows)
    })
    .await;
    assert_eq!(
        (states[0].0.as_str(), states[0].1.as_str()),
        ("mtn_momo", "unknown")
    );
    assert_eq!(
        (states[1].0.as_str(), states[1].1.as_str()),
        ("paystack", "failed")
    );
    assert_eq!(
        states[1].2.as_deref(),
        Some("not paid before the collection expired")
    );
    // Only the anomaly is left for operators: the unknown attempt, and its job kept as failed.
    let (_, stuck) = admin(&app, reqwest::Method::GET, "/admin/attempts?status=unknown").await;
    assert_eq!(stuck["data"].as_array().unwrap().len(), 1);
    assert_eq!(stuck["data"][0]["kind"], "mtn_momo");
    // The poll's job is kept as failed by the statement after the one that moved its attempt.
    crate::common::eventually(
        "the unknown attempt's poll to be kept as failed",
        || async {
            let failed = app
                .count("select count(*) from jobs where status = 'failed'")
                .await;
            (failed == 1).then_some(())
        },
    )
    .await;
    // No poller is left (the collection's own timers, its deadline and follow-up plan, end when the
    // sweep expires it: the test moved its expiry behind their backs).
    assert_eq!(
        app.count("select count(*) from jobs where status = 'queued' and kind not in ('followup', 'deadline')")
            .await,
        0
    );
}

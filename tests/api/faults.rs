//! Fault injection on the money path: a proxy between each adapter and its emulator loses, delays or
//! replaces the provider's answers (`fault_proxy`). Whatever the network does, a merchant request makes
//! at most one payment at the provider, a payment that may exist is never called failed, and the
//! reconciler settles it to the provider's truth.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collect::settled;
use crate::common::*;
use crate::fault_proxy::{Fault, FaultProxy};

const FAST: [(&str, &str); 4] = [
    ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ("COWRY_RECONCILE_SCHEDULE", "100ms"),
    ("COWRY_WORKER_IDLE_MS", "20"),
    ("COWRY_NOT_FOUND_GRACE_SECS", "1"),
];

/// `host:port` of the test server (where the emulators are).
fn upstream(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// A provider account of `kind` that reaches its emulator through `proxy`.
async fn account_via(app: &TestApp, proxy: &FaultProxy, slug: &str, kind: &str) {
    app.add_account(slug, kind, &format!("{}/_emulator/{kind}", proxy.base))
        .await;
}

async fn collect(app: &TestApp, body: &Value, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .authed(reqwest::Method::POST, "/collections/collect")
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    read(request.send().await.unwrap()).await
}

/// `GET /admin/check`: the invariant report.
async fn check_report(app: &TestApp) -> Value {
    let (status, report) = app.admin_get("/admin/check").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// The invariant check finds nothing wrong: every open owner is watched, no closed one is.
async fn assert_invariants_hold(app: &TestApp) {
    let report = check_report(app).await;
    assert_eq!(report["problems"], 0, "{report}");
}

/// Each of the three faults on an MTN request-to-pay, for every try the adapter makes: the merchant gets
/// the collect PENDING, MTN holds exactly one payment (one 202; the retries under the same
/// X-Reference-Id are 409s), and polling settles it SUCCESS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_momo_answer_is_pending_then_settled_by_polling_never_paid_twice() {
    let faults = [
        Fault::DropAnswer,
        Fault::Answer500,
        Fault::Delay(Duration::from_secs(3)),
    ];
    for (n, fault) in faults.into_iter().enumerate() {
        let mut env = FAST.to_vec();
        env.push(("COWRY_PROVIDER_TIMEOUT_SECS", "1"));
        let app = spawn_with(&env).await;
        let proxy =
            FaultProxy::start(&upstream(&app), "POST", "/requesttopay", fault, usize::MAX).await;
        account_via(&app, &proxy, "momo-flaky", "mtn_momo").await;
        let body = json!({"phone": "+256772123456", "amount": 2500, "provider": "momo-flaky",
                          "externalId": format!("order-{n}")});
        let (status, sent) = collect(&app, &body, None).await;
        assert_eq!(status, StatusCode::CREATED, "{fault:?}: {sent}");
        // MTN's callback may settle the payment while the adapter still waits for the lost answer;
        // otherwise the merchant is told it is not confirmed yet, and the attempt is `unknown`.
        if sent["payload"]["status"] == "PENDING" {
            assert!(
                sent["payload"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("not confirmed"),
                "{fault:?}: {sent}"
            );
        } else {
            assert_eq!(sent["payload"]["status"], "SUCCESS", "{fault:?}: {sent}");
        }
        let calls: Value = sqlx::query_scalar("select calls from provider_attempts")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert!(
            crate::collect::push_outcome(&calls).starts_with("unknown"),
            "{fault:?}: the lost answer is on record: {calls}"
        );
        let paid = settled(&app, sent["payload"]["id"].as_str().unwrap()).await;
        assert_eq!(paid["status"], "SUCCESS", "{fault:?}: {paid}");
        let statuses = proxy.statuses();
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            1,
            "{fault:?}: one payment at MTN, whatever the retries: {statuses:?}"
        );
        // The retry of the merchant's request with the same externalId is a conflict, not a second push.
        let (status, again) = collect(&app, &body, None).await;
        assert_error(&again, status, "duplicate_external_id");
        assert_eq!(
            proxy.statuses().len(),
            statuses.len(),
            "{fault:?}: no new push"
        );
        assert_eq!(
            app.count("select count(*) from collect_events where type = 'collect.succeeded'")
                .await,
            1
        );
        assert_invariants_hold(&app).await;
    }
}

/// Airtel's collect is sent once (it does not de-duplicate): a lost answer leaves one payment at Airtel,
/// the collect PENDING, and polling settles it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_airtel_answer_is_pending_then_settled_by_polling() {
    let app = spawn_with(&FAST).await;
    let proxy = FaultProxy::start(
        &upstream(&app),
        "POST",
        "/merchant/v1/payments/",
        Fault::DropAnswer,
        usize::MAX,
    )
    .await;
    account_via(&app, &proxy, "airtel-flaky", "airtel_money").await;
    let body = json!({"phone": "+256752123456", "amount": 1200, "provider": "airtel-flaky"});
    let (status, sent) = collect(&app, &body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["payload"]["status"], "PENDING");
    assert_eq!(proxy.hits(), 1, "a one-shot push is never resent");
    let paid = settled(&app, sent["payload"]["id"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "SUCCESS", "{paid}");
    // Airtel's enquiry carries no amount: the attempt says the amount was not confirmed by Airtel.
    let confirmed: Option<bool> =
        sqlx::query_scalar("select amount_confirmed from provider_attempts")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(confirmed, Some(false));
    assert_invariants_hold(&app).await;
}

/// A push that outlives the request's budget goes on in the background: the merchant gets the PENDING
/// collect at once (not a 408); a retry with the same Idempotency-Key while the push is stuck, and after
/// it finished, answers with the same collect and never pushes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_push_answers_pending_and_a_retry_with_the_key_resumes_it() {
    let mut env = FAST.to_vec();
    env.extend([
        ("COWRY_REQUEST_TIMEOUT_SECS", "2"),
        ("COWRY_PROVIDER_TIMEOUT_SECS", "10"),
        // The payer approves after the request is answered (MTN's answer is held back 4 s).
        ("COWRY_EMULATOR_SETTLE_MS", "5000"),
    ]);
    let app = spawn_with(&env).await;
    let proxy = FaultProxy::start(
        &upstream(&app),
        "POST",
        "/requesttopay",
        Fault::Delay(Duration::from_secs(4)),
        usize::MAX,
    )
    .await;
    account_via(&app, &proxy, "momo-slow", "mtn_momo").await;
    let body = json!({"phone": "+256772123456", "amount": 3000, "provider": "momo-slow"});
    let (status, first) = collect(&app, &body, Some("order-77")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["payload"]["status"], "PENDING");
    let id = first["payload"]["id"].clone();
    // The push is still in flight at MTN (its answer is held back): the retry resumes, not re-sends.
    let (status, retried) = collect(&app, &body, Some("order-77")).await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    assert_eq!(retried["payload"]["id"], id);
    assert_eq!(proxy.hits(), 1);
    let paid = settled(&app, id.as_str().unwrap()).await;
    assert_eq!(paid["status"], "SUCCESS");
    // After it finished: the saved answer, the same collect.
    let response = app
        .authed(reqwest::Method::POST, "/collections/collect")
        .header("Idempotency-Key", "order-77")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let (_, replayed) = read(response).await;
    assert_eq!(replayed["payload"]["id"], id);
    assert_eq!(proxy.hits(), 1, "one push for one merchant request");
    assert_eq!(
        app.count("select count(*) from mobile_money_collects")
            .await,
        1
    );
    assert_invariants_hold(&app).await;
}

/// MTN calls back (and the callback-triggered poll settles the payment) before the push's own answer
/// arrives: the push's late write changes nothing, and the collect succeeds once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_overtakes_the_push_answer_wins_and_is_not_undone() {
    let mut env = FAST.to_vec();
    env.push(("COWRY_RECONCILE_SCHEDULE", "30s"));
    let app = spawn_with(&env).await;
    let proxy = FaultProxy::start(
        &upstream(&app),
        "POST",
        "/requesttopay",
        Fault::Delay(Duration::from_millis(1500)),
        usize::MAX,
    )
    .await;
    account_via(&app, &proxy, "momo-late", "mtn_momo").await;
    let body = json!({"phone": "+256772123456", "amount": 4000, "provider": "momo-late"});
    let (status, sent) = collect(&app, &body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    // The callback came (20 ms after MTN took the push) and its poll settled the collect first.
    assert_eq!(sent["payload"]["status"], "SUCCESS", "{sent}");
    let attempt: String = sqlx::query_scalar("select status from provider_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attempt, "succeeded");
    assert_eq!(
        app.count("select count(*) from collect_events where type = 'collect.succeeded'")
            .await,
        1
    );
    // The schema holds it too: a second terminal event for the collect is refused.
    let second = sqlx::query(
        "insert into collect_events (merchant_id, id, collect_id, type, created_at)
         select merchant_id, 'evt_again', collect_id, type, now() from collect_events
         where type = 'collect.succeeded'",
    )
    .execute(&app.pool)
    .await;
    assert!(second.is_err(), "a terminal event is unique per collect");
    assert_invariants_hold(&app).await;
}

/// Paystack's initialize moves no money and its link cannot be fetched again: when every try under the
/// first reference is lost, Cowry initializes again under the spare reference it stored beforehand, and
/// keeps polling the lost one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_paystack_initialize_is_made_again_under_the_spare_reference() {
    // Nobody pays during the test (the emulator would settle a checkout by itself).
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "600000"),
        ("COWRY_RECONCILE_SCHEDULE", "100ms"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    // The adapter tries a keyed call 3 times: lose all three answers, then let the spare through.
    let proxy = FaultProxy::start(
        &upstream(&app),
        "POST",
        "/transaction/initialize",
        Fault::DropAnswer,
        3,
    )
    .await;
    account_via(&app, &proxy, "paystack-flaky", "paystack").await;
    let mut body = example();
    body["provider"] = json!("paystack-flaky");
    body["payable"]["methods"] = json!(["payment_link"]);
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let link = created["data"]["payable"]["options"][0]["link"]
        .as_str()
        .unwrap();
    assert!(link.contains("/_emulator/paystack/"), "{created}");
    assert_eq!(proxy.hits(), 4, "three lost tries, then the spare");
    // The attempt that made the link keeps the options it produced; the lost one has none.
    let attempts: Vec<(bool, String)> =
        sqlx::query_as("select response is not null, status from provider_attempts")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let (spare, lost): (Vec<_>, Vec<_>) = attempts.iter().partition(|(made_link, _)| *made_link);
    assert_eq!((spare.len(), lost.len()), (1, 1), "{attempts:?}");
    assert_eq!(spare[0].1, "pending");
    // The lost one may exist at Paystack: never failed, polled (`unknown` until a poll finds it).
    assert!(
        ["unknown", "pending"].contains(&lost[0].1.as_str()),
        "{lost:?}"
    );
    // Both references are polled: two reconciliation jobs.
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'reconcile'")
            .await,
        2
    );
    assert_invariants_hold(&app).await;
}

/// Fifty simultaneous creates with one reference: the reference is claimed before any provider call,
/// so Paystack is asked once, one collection exists, and the others are told the reference is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_creates_with_one_reference_make_one_provider_call() {
    let app = spawn().await;
    let proxy = FaultProxy::start(
        &upstream(&app),
        "POST",
        "/transaction/initialize",
        Fault::Pass,
        0,
    )
    .await;
    account_via(&app, &proxy, "paystack-counted", "paystack").await;
    let mut body = example();
    body["provider"] = json!("paystack-counted");
    body["payable"]["methods"] = json!(["payment_link"]);
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(async move { app.create(&body).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            _ => {
                assert_error(&body, status, "duplicate_reference");
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(proxy.hits(), 1, "one initialize for one collection");
    assert_eq!(app.count("select count(*) from collections").await, 1);
}

/// Money at risk is visible: an unknown push shows in the metrics (count, age, amount per provider and
/// currency) and in the invariant check's list, which still counts no problem (a job watches it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_payment_is_visible_in_metrics_and_the_check() {
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let proxy = FaultProxy::start(
        &upstream(&app),
        "POST",
        "/requesttopay",
        Fault::DropAnswer,
        usize::MAX,
    )
    .await;
    account_via(&app, &proxy, "momo-lost", "mtn_momo").await;
    let body = json!({"phone": "+256772123456", "amount": 9100, "provider": "momo-lost"});
    let (status, sent) = collect(&app, &body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"cowry_unknown_attempts{provider="mtn_momo",currency="UGX"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"cowry_unknown_attempts_amount_minor{provider="mtn_momo",currency="UGX"} 9100"#
        ),
        "{metrics}"
    );
    let report = check_report(&app).await;
    assert_eq!(report["problems"], 0, "{report}");
    assert_eq!(report["unknown"][0]["amountMinor"], 9100, "{report}");
    // Were its poll lost, the check would say so.
    sqlx::query("delete from jobs")
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, report) = read(
        app.client
            .get(app.url("/admin/check"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(report["problems"], 1, "{report}");
    assert_eq!(report["unwatched"][0]["owner"], "collect", "{report}");
}

//! The durable job queue under failure and scale-out: a crashed worker's job is taken again once its
//! lease runs out, and two real `cowry serve` processes on one database poll every pending attempt
//! without ever polling the same one at the same time.

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use cowry::emulator::EmulatorConfig;
use cowry::store::jobs;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{assert_error, eventually, read, spawn_with, ADMIN_TOKEN};
use crate::fault_proxy::{Fault, FaultProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_is_taken_again_once_its_lease_expires() {
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    jobs::enqueue(&app.pool, "test", "k", None, &json!({}), chrono::Utc::now())
        .await
        .unwrap();
    let taken = jobs::take(
        &app.pool,
        "dead-worker",
        Duration::from_secs(1),
        10,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(taken.len(), 1);
    // The worker "dies" holding the job: nobody else may take it while the lease holds…
    let meanwhile = jobs::take(
        &app.pool,
        "live-worker",
        Duration::from_secs(60),
        10,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(meanwhile.is_empty(), "a leased job is not handed out twice");
    // …and once it has run out, another worker gets the job (the second time it is taken).
    let again = eventually("the lease to expire", || async {
        let taken = jobs::take(
            &app.pool,
            "live-worker",
            Duration::from_secs(60),
            10,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        taken.into_iter().next()
    })
    .await;
    assert_eq!((again.id, again.attempts), (taken[0].id, 2));
    // The dead worker's late report cannot remove a job it no longer holds.
    jobs::finish(&app.pool, again.id, "dead-worker")
        .await
        .unwrap();
    assert_eq!(app.count("select count(*) from jobs").await, 1);
    jobs::finish(&app.pool, again.id, "live-worker")
        .await
        .unwrap();
    assert_eq!(app.count("select count(*) from jobs").await, 0);
}

/// Per MoMo status path: (requests in flight now, most ever in flight at once, requests seen).
type Polls = Arc<Mutex<HashMap<String, (u32, u32, u32)>>>;

/// The MoMo emulator on a port of its own, behind a layer that measures overlapping status polls of
/// the same payment (each poll is held a little, so overlaps would be seen).
async fn watched_emulator() -> (String, Polls) {
    let polls: Polls = Arc::default();
    let seen = polls.clone();
    let emulators = cowry::emulator::router(EmulatorConfig {
        webhook_base: "http://127.0.0.1:9/webhooks".to_owned(),
        settle_delay: Duration::from_millis(10),
        public_base: "http://127.0.0.1:9".to_owned(),
        autosettle: true,
    });
    let app = emulators.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let seen = seen.clone();
            async move {
                let path = req.uri().path().to_owned();
                let is_poll =
                    req.method() == axum::http::Method::GET && path.contains("/requesttopay/");
                if is_poll {
                    let mut map = seen.lock().unwrap();
                    let entry = map.entry(path.clone()).or_default();
                    entry.0 += 1;
                    entry.1 = entry.1.max(entry.0);
                    entry.2 += 1;
                }
                if is_poll {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                let response = next.run(req).await;
                if is_poll {
                    seen.lock().unwrap().get_mut(&path).unwrap().0 -= 1;
                }
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, polls)
}

/// Kills the child processes when the test ends, whatever happens.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_poll_every_pending_attempt_never_one_twice_at_once() {
    // The API process here runs no workers: only the two processes below poll.
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let (emulator, polls) = watched_emulator().await;
    app.add_account(
        "momo-shared",
        "mtn_momo",
        &format!("{emulator}/_emulator/mtn_momo"),
    )
    .await;
    const PAYMENTS: u32 = 6;
    for n in 0..PAYMENTS {
        // …0002: the payer never approves, so every attempt stays pending and keeps being polled.
        let phone = format!("+2567721{n}0002");
        let (status, body) = app
            .post_json(
                "/collections/collect",
                &json!({"phone": phone, "amount": 1000, "provider": "momo-shared"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'reconcile'")
            .await,
        PAYMENTS as i64
    );

    let serve = || {
        app.cowry("serve")
            .env("COWRY_BIND", "127.0.0.1:0")
            .env("COWRY_RECONCILE_SCHEDULE", "20ms")
            .env("COWRY_WORKER_IDLE_MS", "5")
            .spawn()
            .expect("the cowry binary starts")
    };
    // Due now: both processes start on the whole backlog at once.
    sqlx::query("update jobs set run_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    let processes = Processes(vec![serve(), serve()]);
    let polled = eventually("every attempt to be polled several times", || async {
        let map = polls.lock().unwrap().clone();
        let enough = map.len() == PAYMENTS as usize && map.values().all(|(_, _, seen)| *seen >= 5);
        enough.then_some(map)
    })
    .await;
    drop(processes);
    for (path, (_, most_at_once, seen)) in &polled {
        assert_eq!(
            *most_at_once, 1,
            "{path} was polled {most_at_once} times at once ({seen} polls)"
        );
    }
    let open: i64 = app
        .count("select count(*) from provider_attempts where status = 'pending' and checks >= 1")
        .await;
    assert_eq!(
        open, PAYMENTS as i64,
        "every attempt was checked and is still pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_orphaned_mid_call_by_a_dead_process_are_found() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "100ms"),
        ("COWRY_WORKER_IDLE_MS", "20"),
        ("COWRY_WORKERS", "false"),
    ])
    .await;
    // Emulated payments live in the memory of the process whose emulator took them: the account points
    // at this process's emulator, so the other process polls the same one.
    app.add_account("momo-shared", "mtn_momo", &app.url("/_emulator/mtn_momo"))
        .await;
    // A push that reached MTN, then the process died before writing what MTN answered: what the claim
    // wrote before the call (the collect, the attempt, its poll) is all there is.
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 1500, "provider": "momo-shared"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    sqlx::query("update provider_attempts set status = 'created'")
        .execute(&app.pool)
        .await
        .unwrap();
    // And one claimed just before a call that never went out: a collect, its attempt and its poll.
    let merchant: String = sqlx::query_scalar("select merchant_id from provider_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let never_sent = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "insert into mobile_money_collects (merchant_id, id, payer, amount_minor, currency, network, provider,
                                            status, balance_id, created_at, updated_at)
         select merchant_id, $1, payer, amount_minor, currency, network, provider, 'PENDING', balance_id,
                now(), now()
         from mobile_money_collects limit 1",
    )
    .bind(&never_sent)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into provider_attempts (merchant_id, id, provider, kind, operation, provider_reference, status,
                                        amount_minor, currency, collect_id)
         values ($1, 'att_never_sent', 'momo-shared', 'mtn_momo', 'request_to_pay', $2, 'created', 1500, 'UGX', $3)",
    )
    .bind(&merchant)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&never_sent)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into jobs (kind, key, merchant_id, payload)
         values ('reconcile', $1 || '/att_never_sent', $1,
                 jsonb_build_object('merchantId', $1::text, 'attemptId', 'att_never_sent'))",
    )
    .bind(&merchant)
    .execute(&app.pool)
    .await
    .unwrap();

    let _worker = app
        .sibling(&[
            ("COWRY_RECONCILE_SCHEDULE", "100ms"),
            ("COWRY_WORKER_IDLE_MS", "20"),
            ("COWRY_NOT_FOUND_GRACE_SECS", "1"),
        ])
        .await;
    let statuses = eventually("both orphans to be resolved", || async {
        let rows: Vec<(String, String)> =
            sqlx::query_as("select id, status from provider_attempts order by id")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        rows.iter().all(|(_, s)| s != "created").then_some(rows)
    })
    .await;
    let by_id: HashMap<String, String> = statuses.into_iter().collect();
    assert_eq!(
        by_id["att_never_sent"], "failed",
        "no payment exists for a call that never went out"
    );
    let reached = by_id
        .iter()
        .find(|(id, _)| *id != "att_never_sent")
        .unwrap();
    assert_eq!(
        reached.1, "succeeded",
        "the push that reached MTN is found, paid, for operators to see"
    );
    // Each owner followed its attempt through the same settlement as any report, event included.
    let owners: Vec<(String, String)> =
        sqlx::query_as("select id, status from mobile_money_collects order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    for (id, status) in owners {
        let expected = if id == never_sent {
            "FAILED"
        } else {
            "SUCCESS"
        };
        assert_eq!(status, expected, "{id}");
    }
    assert_eq!(
        app.count("select count(*) from collect_events where type in ('collect.failed', 'collect.succeeded')")
            .await,
        2
    );
}

/// An enqueue that lands on a job while a worker runs it is kept: the job runs once more after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_on_a_running_job_makes_it_run_again() {
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let now = chrono::Utc::now();
    jobs::enqueue(&app.pool, "test", "k", None, &json!({}), now)
        .await
        .unwrap();
    let taken = jobs::take(
        &app.pool,
        "worker",
        Duration::from_secs(60),
        10,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(taken.len(), 1);
    // A callback asks for the same work while it runs…
    jobs::enqueue(&app.pool, "test", "k", None, &json!({}), now)
        .await
        .unwrap();
    jobs::finish(&app.pool, taken[0].id, "worker")
        .await
        .unwrap();
    // …so finishing hands the job back to the queue, due now, instead of deleting it.
    let again = jobs::take(
        &app.pool,
        "worker",
        Duration::from_secs(60),
        10,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(again.len(), 1, "the request made while it ran is not lost");
    jobs::finish(&app.pool, again[0].id, "worker")
        .await
        .unwrap();
    assert_eq!(app.count("select count(*) from jobs").await, 0);
}

/// A poll whose status call takes three times the lease: the lease is renewed while it runs, so no
/// other worker (here a second process) takes the job and asks MTN again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_longer_than_its_lease_runs_once() {
    let env = [
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "100ms"),
        ("COWRY_WORKER_IDLE_MS", "20"),
        ("COWRY_JOB_LEASE_SECS", "1"),
        ("COWRY_PROVIDER_TIMEOUT_SECS", "10"),
    ];
    let app = spawn_with(&env).await;
    let _second = app.sibling(&env).await;
    let upstream = app.base.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(
        &upstream,
        "GET",
        "/requesttopay/",
        Fault::Delay(Duration::from_secs(3)),
        usize::MAX,
    )
    .await;
    app.add_account(
        "momo-slow-status",
        "mtn_momo",
        &format!("{}/_emulator/mtn_momo", proxy.base),
    )
    .await;
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 700, "provider": "momo-slow-status"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let paid = crate::collect::settled(&app, sent["payload"]["id"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "SUCCESS");
    assert_eq!(
        proxy.hits(),
        1,
        "one status call: the job was never taken twice"
    );
}

/// Operators see jobs that gave up, and put them back in the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_listed_and_can_be_retried() {
    let app = spawn_with(&[("COWRY_WORKER_IDLE_MS", "20")]).await;
    jobs::enqueue(
        &app.pool,
        "mystery",
        "k",
        None,
        &json!({}),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let admin = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(ADMIN_TOKEN)
    };
    let failed = eventually("the job to give up", || async {
        let (_, list) = read(
            admin(reqwest::Method::GET, "/admin/jobs?status=failed")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let rows = list["data"].as_array().unwrap().clone();
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(failed[0]["kind"], "mystery");
    assert!(failed[0]["lastError"]
        .as_str()
        .unwrap()
        .contains("no worker handles"));
    let id = failed[0]["id"].as_i64().unwrap();
    let response = admin(reqwest::Method::POST, &format!("/admin/jobs/{id}/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Back in the queue, it runs (and, having no handler, gives up again).
    eventually("the retried job to run", || async {
        let status: String = sqlx::query_scalar("select status from jobs where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let attempts: i32 = sqlx::query_scalar("select attempts from jobs where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (status == "failed" && attempts == 1).then_some(())
    })
    .await;
    let (status, body) = read(
        admin(reqwest::Method::GET, "/admin/jobs?kind=nonsense")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&body, status, "validation_failed");
    let missing = admin(reqwest::Method::POST, "/admin/jobs/999999/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let unauthorized = app.client.get(app.url("/admin/jobs")).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
}

/// Tokens are cached per provider account across requests and jobs: three collects and their polls
/// make one token call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_call_per_account_across_requests() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "100ms"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let upstream = app.base.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(&upstream, "POST", "/token/", Fault::Pass, 0).await;
    app.add_account(
        "momo-counted",
        "mtn_momo",
        &format!("{}/_emulator/mtn_momo", proxy.base),
    )
    .await;
    for amount in [500, 600, 700] {
        let (status, sent) = app
            .post_json(
                "/collections/collect",
                &json!({"phone": "+256772123456", "amount": amount, "provider": "momo-counted"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        crate::collect::settled(&app, sent["payload"]["id"].as_str().unwrap()).await;
    }
    assert_eq!(proxy.hits(), 1);
}

/// An account with payments still open at the provider cannot be removed: the reconciler needs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_account_with_open_payments_is_kept() {
    let app = spawn_with(&[("COWRY_WORKERS", "false")]).await;
    let (status, body) = app
        .post_json(
            "/providers",
            &json!({"slug": "momo-busy", "kind": "mtn_momo", "mode": "test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 800, "provider": "momo-busy"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let (status, refused) = read(
        app.authed(reqwest::Method::DELETE, "/providers/momo-busy")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&refused, status, "provider_has_open_payments");
    assert!(refused["message"].as_str().unwrap().contains('1'));
    // Once the payment is settled, it can go.
    sqlx::query("update provider_attempts set status = 'succeeded'")
        .execute(&app.pool)
        .await
        .unwrap();
    let removed = app
        .authed(reqwest::Method::DELETE, "/providers/momo-busy")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
}

/// `cowry worker` runs the job queue without an HTTP server: a collect made through a process that runs
/// no workers is settled by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cowry_worker_process_settles_what_the_server_wrote() {
    let app = spawn_with(&[
        ("COWRY_WORKERS", "false"),
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ])
    .await;
    let mut worker = app
        .cowry("worker")
        // Test accounts reach the emulators of the server at the public URL.
        .env("COWRY_PUBLIC_URL", &app.base)
        .env("COWRY_RECONCILE_SCHEDULE", "100ms")
        .env("COWRY_WORKER_IDLE_MS", "20")
        .spawn()
        .expect("the cowry binary starts");
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256772123456", "amount": 1300}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let paid = crate::collect::settled(&app, sent["payload"]["id"].as_str().unwrap()).await;
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(paid["status"], "SUCCESS");
}

/// Jobs that hold a database connection while they run (here each waits on a collection a transaction
/// of the test keeps locked) take the job queue's own pool (`COWRY_WORKER_DB_CONNECTIONS`), never the
/// API's: with one pool shared, a backlog of them takes every connection and the API's requests fail
/// after the pool's acquire timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_stuck_holding_connections_leave_the_api_its_own_pool() {
    let app = spawn_with(&[
        ("COWRY_WORKER_IDLE_MS", "20"),
        ("COWRY_WORKER_DB_CONNECTIONS", "2"),
    ])
    .await;
    // More collections, each with its deadline job, than the API's pool (the test's, 20) has connections.
    let mut ids = Vec::new();
    for n in 0..24 {
        let (status, body) = app.create(&crate::common::body_n(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let mut locked = app.pool.begin().await.unwrap();
    sqlx::query("select id from collections for update")
        .execute(&mut *locked)
        .await
        .unwrap();
    sqlx::query("update jobs set run_at = now() where kind = 'deadline'")
        .execute(&app.pool)
        .await
        .unwrap();
    let waiting = "select count(*) from pg_stat_activity
                   where wait_event_type = 'Lock' and datname = current_database()";
    eventually(
        "deadline jobs to wait on the locked collections",
        || async { (app.count(waiting).await >= 2).then_some(()) },
    )
    .await;
    let worker_waiting = app
        .count(&format!("{waiting} and application_name = 'cowry-worker'"))
        .await;
    assert_eq!(worker_waiting, app.count(waiting).await);

    // Every connection the queue may use is stuck, and the API still answers, reads and writes.
    let (status, body) = app.create(&crate::common::body_n(99)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.get(&format!("/collections/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);

    locked.rollback().await.unwrap();
    eventually(
        "the deadline jobs to run once the rows are free",
        || async { (app.count(waiting).await == 0).then_some(()) },
    )
    .await;
}

//! A real `cowry serve` process killed with SIGKILL while 200 mobile-money collects are in flight (many
//! of them waiting on a slow MTN): after another process takes over, every collect the merchant was
//! told about is there and final, MTN never holds two payments for one collect, and `cowry check`
//! finds nothing unwatched.

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{eventually, spawn_with, TestApp};
use crate::fault_proxy::{Fault, FaultProxy};

/// A `cowry serve` process on a port picked here, killed (SIGKILL) when dropped.
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(app: &TestApp) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = app
        .cowry("serve")
        .env("COWRY_BIND", format!("127.0.0.1:{port}"))
        .env("COWRY_RECONCILE_SCHEDULE", "200ms")
        .env("COWRY_WORKER_IDLE_MS", "20")
        .env("COWRY_NOT_FOUND_GRACE_SECS", "1")
        .env("COWRY_PROVIDER_TIMEOUT_SECS", "5")
        // A dead process's leased jobs come back after this long.
        .env("COWRY_JOB_LEASE_SECS", "2")
        .spawn()
        .expect("the cowry binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("the process to serve", || async {
        let ready = client.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status().is_success()).then_some(())
    })
    .await;
    Serve { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_flight_loses_no_collect_and_pays_none_twice() {
    const COLLECTS: usize = 200;
    // This process hosts the emulators (they outlive the killed one) and runs no workers.
    let app = spawn_with(&[
        ("COWRY_WORKERS", "false"),
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
    ])
    .await;
    let upstream = app.base.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(
        &upstream,
        "POST",
        "/requesttopay",
        Fault::Delay(Duration::from_millis(800)),
        usize::MAX,
    )
    .await;
    app.add_account(
        "momo-slow",
        "mtn_momo",
        &format!("{}/_emulator/mtn_momo", proxy.base),
    )
    .await;

    let first = serve(&app).await;
    let client = reqwest::Client::new();
    let key = Arc::new(app.key.clone());
    let answered = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..COLLECTS)
        .map(|n| {
            let (client, key, base) = (client.clone(), key.clone(), first.base.clone());
            let answered = answered.clone();
            tokio::spawn(async move {
                let sent = client
                    .post(format!("{base}/collections/collect"))
                    .header("x-api-key", key.as_str())
                    .header("Idempotency-Key", format!("crash-{n}"))
                    .json(&json!({"phone": "+256772123456", "amount": 1000 + n,
                                  "externalId": format!("crash-{n}"), "provider": "momo-slow"}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::CREATED => {
                        let body: serde_json::Value = response.json().await.ok()?;
                        answered.fetch_add(1, Ordering::SeqCst);
                        body["payload"]["id"].as_str().map(str::to_owned)
                    }
                    _ => None,
                }
            })
        })
        .collect();
    // Kill it once some collects were answered and many pushes are on their way to (or held at) MTN.
    eventually("pushes to be answered and in flight", || async {
        let claimed = app.count("select count(*) from provider_attempts").await;
        (answered.load(Ordering::SeqCst) >= 20 && claimed >= 60).then_some(())
    })
    .await;
    drop(first);
    let mut told = Vec::new();
    for request in requests {
        if let Some(id) = request.await.unwrap() {
            told.push(id);
        }
    }

    let second = serve(&app).await;

    eventually("every payment to be settled", || async {
        let open = app
            .count("select count(*) from provider_attempts where status in ('created', 'pending', 'unknown')")
            .await;
        (open == 0).then_some(())
    })
    .await;
    for id in &told {
        let status: String =
            sqlx::query_scalar("select status from mobile_money_collects where id = $1::text")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap_or_else(|_| panic!("collect {id} was answered 201 and is gone"));
        assert!(
            ["SUCCESS", "FAILED"].contains(&status.as_str()),
            "{id}: {status}"
        );
    }
    assert_eq!(
        app.count(
            "select count(*) from (select collect_id from provider_attempts where collect_id is not null
                                   group by collect_id having count(*) > 1) twice"
        )
        .await,
        0,
        "one attempt (one MTN reference) per collect"
    );
    let accepted = proxy.statuses().iter().filter(|s| **s == 202).count() as i64;
    let succeeded = app
        .count("select count(*) from mobile_money_collects where status = 'SUCCESS'")
        .await;
    assert_eq!(
        accepted, succeeded,
        "every payment MTN accepted is a collect that succeeded, and no other"
    );
    assert!(
        told.len() < COLLECTS,
        "the kill interrupted requests in flight"
    );
    let collects_before_retry = app
        .count("select count(*) from mobile_money_collects")
        .await;
    // The merchant retries every request with its Idempotency-Key (most never got an answer): each is
    // answered with the collect its first try made, and nothing is pushed again.
    for n in 0..COLLECTS {
        let response = client
            .post(format!("{}/collections/collect", second.base))
            .header("x-api-key", key.as_str())
            .header("Idempotency-Key", format!("crash-{n}"))
            .json(&json!({"phone": "+256772123456", "amount": 1000 + n,
                          "externalId": format!("crash-{n}"), "provider": "momo-slow"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        let stored: Option<String> =
            sqlx::query_scalar("select id from mobile_money_collects where external_id = $1")
                .bind(format!("crash-{n}"))
                .fetch_optional(&app.pool)
                .await
                .unwrap();
        match stored {
            Some(id) => {
                assert_eq!(status, StatusCode::CREATED, "{n}: {body}");
                assert_eq!(body["payload"]["id"], json!(id), "{n}");
            }
            // Killed before its claim committed: nothing was sent; the key is free again once the
            // dead request's claim is stale (409 `idempotency_key_in_use` until then).
            None => assert!(
                status == StatusCode::CREATED || body["error"]["code"] == "idempotency_key_in_use",
                "{n}: {body}"
            ),
        }
    }
    let new_collects = app
        .count("select count(*) from mobile_money_collects")
        .await
        - collects_before_retry;
    let new_payments = proxy.statuses().iter().filter(|s| **s == 202).count() as i64 - accepted;
    assert_eq!(
        new_payments, new_collects,
        "a retry pushes only what was never claimed, and never an existing collect again"
    );
    eventually("the retried payments to settle", || async {
        let open = app
            .count("select count(*) from provider_attempts where status in ('created', 'pending', 'unknown')")
            .await;
        (open == 0).then_some(())
    })
    .await;
    let check = app
        .cowry("check")
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(check.status.success(), "{report}");
    assert_eq!(report["problems"], 0, "{report}");
}

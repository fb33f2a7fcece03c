//! Scheduled debits across real `cowry worker` processes: many installments due at once are each
//! debited exactly once (counted at the emulated Paystack), and a worker killed with SIGKILL in the
//! middle of its charges leaves no installment charged twice: its claimed debits are resolved by
//! asking Paystack after its leases run out.

use std::process::Child;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{
    account_secret, eventually, eventually_within, spawn_with, TestApp, ENCRYPTION_KEY,
};
use crate::fault_proxy::{Fault, FaultProxy};
use crate::scheduled::consent;

/// A `cowry worker` process, killed (SIGKILL) when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(app: &TestApp) -> Worker {
    Worker(
        app.cowry("worker")
            .env("COWRY_WORKER_IDLE_MS", "20")
            .env("COWRY_RECONCILE_SCHEDULE", "300ms")
            .env("COWRY_PROVIDER_TIMEOUT_SECS", "10")
            .env("COWRY_NOT_FOUND_GRACE_SECS", "1")
            // A charge the dead worker never sent failed softly: it is tried again soon.
            .env("COWRY_DEBIT_RETRY_SCHEDULE", "200ms,200ms,200ms")
            // A dead worker's leased jobs come back after this long.
            .env("COWRY_JOB_LEASE_SECS", "2")
            .spawn()
            .expect("the cowry binary starts"),
    )
}

/// A consented MONA collection through `provider`, cloned `copies` times in the database (each clone
/// with its own sealed authorization), and one installment of each clone due now.
async fn due_installments(app: &TestApp, provider: &str, copies: usize) -> String {
    let now = Utc::now();
    let (status, created) = app
        .create(&json!({
            "maximumAmount": "50000", "debitType": "MONA", "provider": provider,
            "startDate": now.to_rfc3339(), "expiryDate": (now + TimeDelta::days(30)).to_rfc3339(),
            "reference": "original",
            "schedule": {"type": "SCHEDULED", "entries": [
                {"date": (now + TimeDelta::days(20)).to_rfc3339(), "amount": "10000"}]},
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = consent(app, &created["data"], "ada@example.com").await;
    let original = data["id"].as_str().unwrap().to_owned();
    let sealed: Vec<u8> =
        sqlx::query_scalar("select authorization_code from mandates where collection_id = $1")
            .bind(&original)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let key = cowry::domain::secretbox::SecretBox::from_hex(ENCRYPTION_KEY).unwrap();
    let code = key.open(&sealed, original.as_bytes()).unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    for n in 0..copies {
        let id = cowry::domain::ids::new_id("pay");
        for sql in [
            "insert into collections (merchant_id, id, type, reference, amount_minor, currency, status,
                                      provider, expires_at, payable, created_at, updated_at)
             select merchant_id, $2, type, $3, amount_minor, currency, status, provider, expires_at,
                    payable, created_at, updated_at
             from collections where id = $1",
            "insert into mandates (merchant_id, collection_id, debit_type, maximum_minor,
                                   monthly_limit_minor, start_at, time_zone, schedule_type, schedule,
                                   token, consent_url, provider_kind, provider_reference,
                                   authorization_code, customer_email, consent_stage, consented_at)
             select merchant_id, $2, debit_type, maximum_minor, 100000000, start_at, time_zone,
                    schedule_type, schedule, $3, consent_url, provider_kind, provider_reference,
                    $4, customer_email, consent_stage, consented_at
             from mandates where collection_id = $1",
        ] {
            sqlx::query(sql)
                .bind(&original)
                .bind(&id)
                .bind(format!("clone{n:027}"))
                .bind(key.seal(&code, id.as_bytes()))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let (merchant, zone): (String, String) =
            sqlx::query_as("select merchant_id, time_zone from mandates where collection_id = $1")
                .bind(&id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        let due = cowry::domain::time::now();
        cowry::store::scheduled::add_installments(&mut tx, &merchant, &id, &[(due, 10_000)])
            .await
            .unwrap();
        cowry::jobs::debit::schedule(&mut *tx, &merchant, &id, &zone, due, due)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    String::from_utf8(code).unwrap()
}

async fn charges(app: &TestApp, slug: &str, code: &str) -> u64 {
    let merchant: String = sqlx::query_scalar("select id from merchants limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let body: serde_json::Value = app
        .client
        .get(app.url(&format!("/_emulator/paystack/_charges/{code}")))
        .bearer_auth(account_secret(&app.pool, &merchant, slug).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["charges"].as_u64().unwrap()
}

/// Every due installment paid, each by exactly one succeeded debit and no other live one.
async fn assert_each_paid_once(app: &TestApp, installments: i64) {
    assert_eq!(
        app.count("select count(*) from installments where status = 'paid' and due_at <= now()")
            .await,
        installments
    );
    assert_eq!(
        app.count("select count(*) from debits where status = 'succeeded'")
            .await,
        installments
    );
    assert_eq!(
        app.count(
            "select count(*) from (select 1 from debits where status <> 'failed'
                                   group by collection_id, installment_due_at having count(*) > 1) twice"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_debit_a_thousand_due_installments_exactly_once() {
    const DUE: usize = 1000;
    let app = spawn_with(&[
        ("COWRY_WORKERS", "false"),
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
    ])
    .await;
    app.add_account(
        "ps",
        "paystack",
        &format!("{}/_emulator/paystack", app.base),
    )
    .await;
    let _a = worker(&app);
    let _b = worker(&app);
    let code = due_installments(&app, "ps", DUE).await;
    eventually_within("every due installment to be paid", 600, || async {
        let paid = app
            .count("select count(*) from installments where status = 'paid'")
            .await;
        (paid == DUE as i64).then_some(())
    })
    .await;
    assert_each_paid_once(&app, DUE as i64).await;
    assert_eq!(charges(&app, "ps", &code).await, DUE as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_debit_never_causes_a_second_charge() {
    const DUE: usize = 100;
    let app = spawn_with(&[
        ("COWRY_WORKERS", "false"),
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
    ])
    .await;
    // Paystack takes every charge, but its answers are held back long enough to kill a worker while
    // it waits for them.
    let upstream = app.base.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(
        &upstream,
        "POST",
        "/transaction/charge_authorization",
        Fault::Delay(Duration::from_millis(1500)),
        usize::MAX,
    )
    .await;
    app.add_account(
        "ps-slow",
        "paystack",
        &format!("{}/_emulator/paystack", proxy.base),
    )
    .await;
    let first = worker(&app);
    let code = due_installments(&app, "ps-slow", DUE).await;
    eventually("charges to be in flight", || async {
        let claimed = app.count("select count(*) from debits").await;
        (claimed >= 20).then_some(())
    })
    .await;
    drop(first);
    let in_flight = app
        .count("select count(*) from debits where status in ('pending', 'unknown')")
        .await;
    assert!(in_flight > 0, "the worker died with charges in flight");

    let _second = worker(&app);
    eventually_within("every due installment to be paid", 600, || async {
        let paid = app
            .count("select count(*) from installments where status = 'paid'")
            .await;
        (paid == DUE as i64).then_some(())
    })
    .await;
    assert_each_paid_once(&app, DUE as i64).await;
    assert_eq!(charges(&app, "ps-slow", &code).await, DUE as u64);
}

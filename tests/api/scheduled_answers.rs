//! A debit's charge answered while something else (Paystack's webhook, the status poll) reports on the
//! same attempt: whichever is recorded first settles the debit, the other changes nothing, and the
//! charge's own call is logged either way.

use std::time::Duration;

use cowry::domain::currency::Currency;
use cowry::domain::money::Money;
use cowry::domain::settlement::{AttemptState, Decision, PaymentStatus, Report};
use cowry::jobs::debit::{self, Ask, Claimed};
use cowry::jobs::settle;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{spawn_with, TestApp};
use crate::scheduled::{consent, debitable_now};

async fn claim(app: &TestApp, merchant: &str, id: &str, reference: &str) -> Claimed {
    let mut tx = app.pool.begin().await.unwrap();
    let ask = Ask {
        merchant_id: merchant,
        collection_id: id,
        amount: 100,
        reference,
        installment: None,
        check_interval: false,
        first_poll: Duration::from_secs(3600),
        clock: &app.clock,
    };
    let claimed = debit::claim(&mut tx, &ask).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    claimed
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A consented collection debitable now (maximum 10000 per debit, `monthly` a month): its id and merchant.
async fn consented(app: &TestApp, monthly: &str) -> (String, String) {
    let (status, created) = app.create(&debitable_now("10000", monthly)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = consent(app, &created["data"], "ada@example.com").await;
    let id = data["id"].as_str().unwrap().to_owned();
    let merchant: String = sqlx::query_scalar("select merchant_id from collections where id = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    (id, merchant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_answer_after_a_webhook_settled_its_debit_is_logged_and_moves_nothing() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let (id, merchant) = consented(&app, "70000").await;
    let id = id.as_str();
    let ngn = Money::from_minor(100, Currency::parse("NGN").unwrap());
    let success = Report {
        status: PaymentStatus::Succeeded,
        amount: Some(ngn),
    };
    let call = json!({"operation": "charge_authorization", "outcome": "Succeeded"});
    let answer = |claimed: Claimed| {
        let (pool, merchant, call, success) = (
            app.pool.clone(),
            merchant.clone(),
            call.clone(),
            success.clone(),
        );
        async move {
            let mut tx = pool.begin().await.unwrap();
            let settled = settle::apply_answer(
                &mut tx,
                &merchant,
                &claimed.attempt_id,
                ngn,
                (&call, &success),
                None,
            )
            .await
            .unwrap()
            .unwrap();
            tx.commit().await.unwrap();
            settled.decision
        }
    };

    // The usual order: the answer first, settled with its call in one statement.
    let first = claim(&app, &merchant, id, "answered-first").await;
    assert_eq!(
        answer(first.clone()).await,
        Decision::Move(AttemptState::Succeeded)
    );

    // The webhook first: the answer finds the attempt settled, and only its call is recorded.
    let raced = claim(&app, &merchant, id, "webhook-first").await;
    let mut tx = app.pool.begin().await.unwrap();
    settle::apply(&mut tx, &merchant, &raced.attempt_id, &success, "webhook")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(answer(raced.clone()).await, Decision::Nothing);

    for claimed in [&first, &raced] {
        let attempt = claimed.attempt_id.as_str();
        assert_eq!(
            count(
                &app,
                "select count(*) from provider_attempts, jsonb_array_elements(calls) c
                         where id = $1 and status = 'succeeded'
                           and c->>'operation' = 'charge_authorization'",
                attempt
            )
            .await,
            1,
            "{attempt}: the charge's call is logged once, on a succeeded attempt"
        );
        assert_eq!(
            count(
                &app,
                "select count(*) from debits where id = $1 and status = 'succeeded'",
                &claimed.debit_id
            )
            .await,
            1
        );
        assert_eq!(
            count(
                &app,
                "select count(*) from collection_events
                         where type = 'debit.succeeded' and data->>'debit' = $1",
                &claimed.debit_id
            )
            .await,
            1,
            "one debit.succeeded event"
        );
        assert_eq!(
            count(
                &app,
                "select count(*) from jobs where kind = 'reconcile' and key like '%/' || $1",
                attempt
            )
            .await,
            0,
            "the settled attempt's status poll is gone"
        );
    }
}

/// An installment's claim is checked by the statement that writes it: within the monthly limit and the
/// per-debit maximum, and only while the collection is `ACTIVE`; a refused claim writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installments_claim_keeps_to_the_limits_and_the_status_in_its_own_statement() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let (id, merchant) = consented(&app, "30000").await;
    let id = id.as_str();
    let due = chrono::Utc::now();
    let claim = |n: i64, amount: i64| {
        let (pool, merchant, clock) = (app.pool.clone(), merchant.clone(), app.clock.clone());
        async move {
            let mut tx = pool.begin().await.unwrap();
            let reference = format!("installment-{n}");
            let ask = Ask {
                merchant_id: &merchant,
                collection_id: id,
                amount,
                reference: &reference,
                installment: Some(due + chrono::TimeDelta::seconds(n)),
                check_interval: false,
                first_poll: Duration::from_secs(3600),
                clock: &clock,
            };
            let claimed = debit::claim(&mut tx, &ask).await.unwrap();
            tx.commit().await.unwrap();
            claimed
        }
    };
    let debits = || {
        count(
            &app,
            "select count(*) from debits where collection_id = $1",
            id,
        )
    };
    assert!(matches!(
        claim(0, 10_001).await,
        Err(debit::Refused::Limit("maximumAmount", _))
    ));
    for n in 1..=3 {
        assert!(claim(n, 10_000).await.is_ok(), "installment {n} fits");
    }
    assert!(matches!(
        claim(4, 1).await,
        Err(debit::Refused::Limit("monthlyLimit", _))
    ));
    assert_eq!(debits().await, 3);
    sqlx::query("update collections set status = 'CANCELLED' where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update debits set status = 'failed' where collection_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(matches!(
        claim(5, 100).await,
        Err(debit::Refused::NotActive(s)) if s == "CANCELLED"
    ));
    assert_eq!(debits().await, 3, "a refused claim writes nothing");
}

/// Writes `n` installments of `amount`, due a second apart from now; returns their due times.
async fn installments(
    app: &TestApp,
    merchant: &str,
    id: &str,
    n: i64,
    amount: i64,
) -> Vec<DateTime> {
    let due =
        chrono::DurationRound::duration_trunc(chrono::Utc::now(), chrono::TimeDelta::seconds(1))
            .unwrap();
    let wanted: Vec<(DateTime, i64)> = (0..n)
        .map(|k| (due + chrono::TimeDelta::seconds(k), amount))
        .collect();
    let mut conn = app.pool.acquire().await.unwrap();
    cowry::store::scheduled::add_installments(&mut conn, merchant, id, &wanted)
        .await
        .unwrap()
}

type DateTime = chrono::DateTime<chrono::Utc>;

/// `store::claim_installment` for the installment due at `due_at`, as the `debit` job makes it.
async fn claim_at_once(
    pool: sqlx::PgPool,
    merchant: String,
    id: String,
    due_at: DateTime,
) -> Option<cowry::store::scheduled::ClaimedInstallment> {
    let now = chrono::Utc::now();
    let (debit_id, attempt_id) = (
        cowry::domain::ids::new_id("dbt"),
        cowry::domain::ids::new_id("att"),
    );
    let reference = format!("cwd-{}", uuid::Uuid::new_v4().simple());
    let claim = cowry::store::scheduled::InstallmentClaim {
        merchant_id: &merchant,
        collection_id: &id,
        due_at,
        month: cowry::domain::schedule::month_of(chrono_tz::Africa::Lagos, now),
        debit_id: &debit_id,
        attempt_id: &attempt_id,
        provider_reference: &reference,
        at: now,
        first_poll_at: now + chrono::TimeDelta::hours(1),
    };
    cowry::store::scheduled::claim_installment(&pool, &claim)
        .await
        .unwrap()
}

/// Holds the mandate's lock in a transaction, so that claims sent meanwhile all start (and take their
/// snapshots) before any of them can decide.
async fn hold_mandate(app: &TestApp, id: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holding = app.pool.begin().await.unwrap();
    sqlx::query("select 1 from mandates where collection_id = $1 for update")
        .bind(id)
        .execute(&mut *holding)
        .await
        .unwrap();
    holding
}

/// Returns once `waiting` statements wait on a row lock.
async fn wait_for_waiters(app: &TestApp, waiting: i64) {
    crate::common::eventually("the claims to wait on the mandate's lock", || async {
        let now = app
            .count("select count(*) from pg_locks where not granted and locktype in ('transactionid', 'tuple')")
            .await;
        (now >= waiting).then_some(())
    })
    .await;
}

/// Claims that one statement each makes, all started while another transaction held the mandate, keep
/// to the monthly limit: each reads the running total as the claim before it left it (a row lock hands
/// over the latest version), not as its own snapshot, taken before it waited, saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_claims_that_waited_on_each_other_keep_to_the_monthly_limit() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let (id, merchant) = consented(&app, "30000").await;
    let due = installments(&app, &merchant, &id, 5, 10_000).await;
    let holding = hold_mandate(&app, &id).await;
    let mut claims = tokio::task::JoinSet::new();
    for due_at in due {
        claims.spawn(claim_at_once(
            app.pool.clone(),
            merchant.clone(),
            id.clone(),
            due_at,
        ));
    }
    wait_for_waiters(&app, 5).await;
    holding.commit().await.unwrap();
    let claimed = claims.join_all().await;
    assert_eq!(claimed.iter().filter(|c| c.is_some()).count(), 3);
    assert_eq!(
        count(
            &app,
            "select count(*) from debits where collection_id = $1",
            &id
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "select spent_minor from mandates where collection_id = $1",
            &id
        )
        .await,
        30_000
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from installments where collection_id = $1 and status = 'processing'",
            &id
        )
        .await,
        3
    );
}

/// A one-statement claim that waited on a cancel in flight sees the cancel (its share lock on the
/// collection reads the committed status) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_statement_claim_waiting_on_a_cancel_writes_nothing() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let (id, merchant) = consented(&app, "30000").await;
    let due = installments(&app, &merchant, &id, 1, 10_000).await;
    let mut cancelling = hold_mandate(&app, &id).await;
    sqlx::query("update collections set status = 'CANCELLED' where id = $1")
        .bind(&id)
        .execute(&mut *cancelling)
        .await
        .unwrap();
    let claim = tokio::spawn(claim_at_once(
        app.pool.clone(),
        merchant.clone(),
        id.clone(),
        due[0],
    ));
    wait_for_waiters(&app, 1).await;
    cancelling.commit().await.unwrap();
    assert!(claim.await.unwrap().is_none(), "claimed after the cancel");
    assert_eq!(
        count(
            &app,
            "select count(*) from debits where collection_id = $1",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from installments where collection_id = $1 and status = 'scheduled'",
            &id
        )
        .await,
        1
    );
}

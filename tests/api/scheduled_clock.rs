//! A `MONA` schedule walked with the server's business clock (`cowry::clock`): months apart, across a
//! month end and a daylight-saving change, each installment debited once, at its local time, and not a
//! moment before.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Europe::London;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{eventually, spawn_with, TestApp};
use crate::scheduled::consent;

/// Returns once the worker has taken jobs at the clock's present time: a job of a kind no worker runs is
/// queued due now and waits until a worker has taken (and refused) it. Jobs are taken in due order, so any
/// job due by then was taken in the same pass or before.
pub async fn worker_pass(app: &TestApp) {
    let key = uuid::Uuid::new_v4().simple().to_string();
    cowry::store::jobs::enqueue(
        &app.pool,
        "test-barrier",
        &key,
        None,
        &json!({}),
        app.clock.now(),
    )
    .await
    .unwrap();
    eventually("the worker to take the barrier job", || async {
        let status: String = sqlx::query_scalar("select status from jobs where key = $1")
            .bind(&key)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (status == "failed").then_some(())
    })
    .await;
}

async fn debits(app: &TestApp, id: &str) -> Vec<Value> {
    let (_, body) = app.get(&format!("/collections/{id}")).await;
    let mut debits = body["data"]["debits"].as_array().unwrap().clone();
    debits.sort_by_key(|d| d["installmentDate"].as_str().unwrap_or_default().to_owned());
    debits
}

/// 09:00 in London on the month's day 31, or its last day.
fn due(year: i32, month: u32) -> DateTime<Utc> {
    let day = (28..=31)
        .rev()
        .find(|d| chrono::NaiveDate::from_ymd_opt(year, month, *d).is_some())
        .unwrap();
    London
        .with_ymd_and_hms(year, month, day, 9, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monthly_schedule_walked_by_the_clock_debits_each_installment_at_its_local_time() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "10"),
        ("COWRY_WORKER_IDLE_MS", "50"),
    ])
    .await;
    let year = Utc::now().year() + 1;
    let body = json!({
        "maximumAmount": "10000", "debitType": "MONA", "timeZone": "Europe/London",
        "startDate": format!("{year}-01-31T09:00:00"), "expiryDate": format!("{year}-04-15T00:00:00"),
        "reference": "rent-q1",
        "schedule": {"type": "SUBSCRIPTION", "frequency": "MONTHLY", "amount": "10000"},
        "contact": {"firstName": "Ada", "lastName": "Obi", "phone": "+2348012345678",
                    "email": "ada@example.com"},
    });
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;

    // January's 31st; February's last day; March's 31st, after the clocks went forward (08:00 UTC).
    let dates = [due(year, 1), due(year, 2), due(year, 3)];
    assert_eq!(dates[1].day(), if year % 4 == 0 { 29 } else { 28 });
    assert_eq!(
        dates.map(|d| d.format("%H").to_string()),
        ["09", "09", "08"]
    );
    let notices = || async {
        sqlx::query_scalar::<_, String>(
            "select body from messages where tone = 'notice' and channel = 'sms' and status = 'sent'
             order by seq",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    for (paid, at) in dates.iter().enumerate() {
        // The customer is told a day before each debit (COWRY_DEBIT_NOTICE_LEAD), not earlier.
        app.clock
            .set(*at - chrono::TimeDelta::hours(24) - chrono::TimeDelta::seconds(1));
        worker_pass(&app).await;
        assert_eq!(notices().await.len(), paid, "told early");
        app.clock.set(*at - chrono::TimeDelta::hours(24));
        let told = eventually("the notice before the debit", || async {
            let told = notices().await;
            (told.len() == paid + 1).then_some(told)
        })
        .await;
        let local = at
            .with_timezone(&London)
            .format("%-d %b, %H:%M")
            .to_string();
        assert!(
            told[paid].contains("NGN 100.00")
                && told[paid].contains(&local)
                && told[paid].contains("rent-q1"),
            "{}",
            told[paid]
        );

        app.clock.set(*at - chrono::TimeDelta::seconds(1));
        worker_pass(&app).await;
        assert_eq!(debits(&app, &id).await.len(), paid, "debited early");

        app.clock.set(*at);
        let debits = eventually("the installment to be debited", || async {
            let debits = debits(&app, &id).await;
            (debits.len() == paid + 1 && debits[paid]["status"] == "succeeded").then_some(debits)
        })
        .await;
        let debit = &debits[paid];
        assert_eq!(debit["installmentDate"], cowry::domain::time::format(at));
        assert_eq!(debit["amount"], "10000");
        assert!(debit["createdAt"].as_str().unwrap() >= debit["installmentDate"].as_str().unwrap());
        // The debit's success moved the mandate on, in its own transaction: the next collection is
        // the next installment's time, none after the last.
        let (_, now) = app.get(&format!("/collections/{id}")).await;
        let next = &now["data"]["collection"]["nextCollectionAt"];
        match dates.get(paid + 1) {
            Some(d) => assert_eq!(*next, json!(cowry::domain::time::format(d)), "{now}"),
            None => assert_eq!(*next, Value::Null, "{now}"),
        }
        assert!(now["data"]["collection"]["lastCollectedAt"].is_string());
    }
    let (_, done) = app.get(&format!("/collections/{id}")).await;
    let done = &done["data"];
    assert_eq!(done["collection"]["status"], "COMPLETED", "{done}");
    let installments: Vec<(&str, &str)> = done["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["date"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    let expected: Vec<String> = dates.iter().map(cowry::domain::time::format).collect();
    assert_eq!(
        installments,
        expected
            .iter()
            .map(|d| (d.as_str(), "paid"))
            .collect::<Vec<_>>()
    );
    // One charge per installment at the provider.
    let charges: i64 = sqlx::query_scalar(
        "select count(*) from provider_attempts where operation = 'charge_authorization'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(charges, 3);
    // Each debit's job and its attempt's status poll left the queue with the debit's record.
    assert_eq!(
        app.count("select count(*) from jobs where kind in ('debit', 'reconcile')")
            .await,
        0
    );
    // Each `debit.succeeded` names its debit, reference, amount and attempt.
    let paid: Vec<Value> = sqlx::query_scalar(
        "select data from collection_events where type = 'debit.succeeded' order by seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let made = debits(&app, &id).await;
    assert_eq!(paid.len(), 3);
    for (event, debit) in paid.iter().zip(&made) {
        assert_eq!(event["debit"], debit["id"], "{event}");
        assert_eq!(event["reference"], debit["reference"], "{event}");
        assert_eq!(event["amount"], "10000", "{event}");
        assert!(
            event["attempt"].as_str().unwrap().starts_with("att_"),
            "{event}"
        );
    }
}

/// The monthly limit counts the mandate's own calendar month: in a zone 14 hours ahead of UTC, the
/// local month turns while the UTC month does not, and the limit starts again then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_limit_counts_the_mandates_local_month() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
    let mut body = crate::scheduled::debitable_now("10000", "10000");
    body["timeZone"] = json!("Pacific/Kiritimati");
    body["expiryDate"] = json!((Utc::now() + chrono::TimeDelta::days(200)).to_rfc3339());
    body["schedule"] = json!({"type": "SCHEDULED", "entries": [
        {"date": (Utc::now() + chrono::TimeDelta::days(150)).to_rfc3339(), "amount": "10000"}]});
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    consent(&app, &created["data"], "ada@example.com").await;

    // The first of next month, 00:00 in Kiritimati (UTC+14): 10:00 UTC on the UTC month's last day.
    let zone = chrono_tz::Pacific::Kiritimati;
    let local = Utc::now().with_timezone(&zone);
    let (year, month) = match local.month() {
        12 => (local.year() + 1, 1),
        m => (local.year(), m + 1),
    };
    let turn = zone
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    let before = turn - chrono::TimeDelta::minutes(30);
    let after = turn + chrono::TimeDelta::minutes(30);
    assert_eq!(
        (before.month(), after.month()),
        (after.month(), after.month())
    );

    let debit = |amount: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post_json(
                &format!("/collections/{id}/debit"),
                &json!({"amount": amount}),
            )
            .await
        }
    };
    for at in [before, after] {
        app.clock.set(at);
        let (status, made) = debit("10000").await;
        assert_eq!(status, StatusCode::CREATED, "{at}: {made}");
        assert_eq!(made["data"]["status"], "succeeded", "{made}");
        let (status, over) = debit("1").await;
        assert_eq!(
            crate::common::assert_error(&over, status, "limit_exceeded"),
            ["monthlyLimit"],
            "{at}"
        );
    }
}

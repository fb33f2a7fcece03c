//! Group commit of creates (`store::group_commit`): many rows in one statement behave as each alone would,
//! and a batch that fails leaves nothing and falls back to each row alone, with its own error.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, body_n, spawn, TestApp};
use cowry::store::attempts;
use cowry::store::collections::{self, NewCollectionRow, Published};
use cowry::store::create_batch::{self, Creates};
use cowry::store::group_commit;
use cowry::store::group_commit::Batch;
use cowry::store::read_batch::{self, AttemptsByReference, Reads};

/// A row as the create handler makes it, for collection `n` of this test's merchant.
async fn row(app: &TestApp, n: u32, reference: &str, phone: &str) -> NewCollectionRow {
    let merchant_id: String = sqlx::query_scalar("select merchant_id from api_keys limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let id = format!("pay_group{n:020}");
    let event_id = format!("evt_group{n:020}");
    let snapshot = json!({"id": id, "reference": reference,
                          "contact": {"id": "as made", "phone": phone}});
    NewCollectionRow {
        merchant_id,
        id,
        reference: reference.to_owned(),
        amount_minor: 4_500_000,
        currency: "NGN".to_owned(),
        provider: "sandbox".to_owned(),
        expires_in: 60,
        expires_at: now + chrono::TimeDelta::hours(1),
        payable: r#"{"enabled": false, "methods": [], "options": []}"#.to_owned(),
        follow_up: None,
        metadata: Some(r#"{"order": 1}"#.to_owned()),
        created_at: now,
        event_id: event_id.clone(),
        first_follow_up: Some(now + chrono::TimeDelta::minutes(20)),
        due_at: now + chrono::TimeDelta::minutes(45),
        pay_token: format!("pt_group{n:018}"),
        virtual_account: None,
        new_contact_id: format!("contact_group{n:016}"),
        first_name: "Amina".to_owned(),
        last_name: format!("Lawal {n}"),
        phone: phone.to_owned(),
        email: format!("group{n}@example.com"),
        published: Some(Published {
            snapshot: serde_json::value::to_raw_value(&snapshot).unwrap(),
            envelope: json!({"id": event_id, "type": "collection.created", "livemode": false}),
        }),
    }
}

async fn add_endpoint(app: &TestApp) {
    let body = json!({"url": "https://merchant.example/hooks"});
    let (status, created) = app.post_json("/webhook-endpoints", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_writes_many_creates_and_rows_sharing_a_new_phone_share_one_contact() {
    let app = spawn().await;
    add_endpoint(&app).await;
    let rows = vec![
        row(&app, 1, "group_1", "+2348031110001").await,
        row(&app, 2, "group_2", "+2348031110002").await,
        row(&app, 3, "group_3", "+2348031110001").await,
    ];
    let answered = create_batch::insert_many(&app.pool, &rows).await.unwrap();
    assert_eq!(answered.len(), 3);
    let contact_of = |n: i64| &answered.iter().find(|(m, _)| *m == n).unwrap().1;
    assert_eq!(contact_of(1).contact_id, contact_of(3).contact_id);
    assert_ne!(contact_of(1).contact_id, contact_of(2).contact_id);
    // The first row with the phone made the contact, with its own names.
    assert_eq!(contact_of(3).last_name, "Lawal 1");
    assert_eq!(app.count("select count(*) from contacts").await, 2);
    assert_eq!(app.count("select count(*) from collections").await, 3);
    // Each has its event, published with the contact it got, its timers and its delivery.
    let snapshots: Vec<(String, Value)> = sqlx::query_as(
        "select collection_id, snapshot from collection_events order by collection_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(snapshots.len(), 3);
    for (n, (collection, snapshot)) in snapshots.iter().enumerate() {
        assert_eq!(collection, &rows[n].id);
        let contact = contact_of(n as i64 + 1);
        assert_eq!(snapshot["contact"]["id"], contact.contact_id.as_str());
        assert_eq!(snapshot["contact"]["lastName"], contact.last_name.as_str());
    }
    let jobs = "select count(*) from jobs where kind in ('deadline', 'followup')";
    assert_eq!(app.count(jobs).await, 6);
    let deliveries: Vec<(String, Value, i64, String)> = sqlx::query_as(
        "select d.event_id, d.payload, e.stream_seq, e.collection_id from webhook_deliveries d
         join collection_events e on e.id = d.event_id order by d.event_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(deliveries.len(), 3);
    for (event_id, payload, seq, collection) in &deliveries {
        assert_eq!(payload["id"], event_id.as_str());
        assert_eq!(payload["sequence"], *seq);
        assert_eq!(payload["livemode"], false);
        assert_eq!(payload["data"]["id"], collection.as_str());
        assert!(payload["data"]["contact"]["id"]
            .as_str()
            .unwrap()
            .starts_with("contact_group"));
    }
    let deliver_jobs = "select count(*) from jobs where kind = 'deliver'";
    assert_eq!(app.count(deliver_jobs).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_leaves_nothing_and_each_row_gets_its_own_answer() {
    let app = spawn().await;
    let taken = row(&app, 1, "taken", "+2348032220001").await;
    group_commit::write_batch::<Creates>(&app.pool, std::slice::from_ref(&taken))
        .await
        .remove(0)
        .unwrap();
    let contacts_before = app.count("select count(*) from contacts").await;
    let rows = vec![
        row(&app, 2, "fresh_2", "+2348032220002").await,
        // A duplicate reference fails the whole statement …
        row(&app, 3, "taken", "+2348032220003").await,
        row(&app, 4, "fresh_4", "+2348032220002").await,
    ];
    let error = create_batch::insert_many(&app.pool, &rows)
        .await
        .unwrap_err();
    let api: cowry::error::ApiError = error.into();
    assert!(matches!(
        api,
        cowry::error::ApiError::Conflict {
            code: "duplicate_reference",
            ..
        }
    ));
    assert_eq!(
        app.count("select count(*) from contacts").await,
        contacts_before
    );
    assert_eq!(app.count("select count(*) from collections").await, 1);
    // … and the writer then runs each row alone: two written (sharing their phone's one contact), and
    // the duplicate refused without leaving its new contact behind.
    let answers = group_commit::write_batch::<Creates>(&app.pool, &rows).await;
    assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
    assert_eq!(
        answers[0].as_ref().unwrap().contact_id,
        answers[2].as_ref().unwrap().contact_id
    );
    let api: cowry::error::ApiError = answers.into_iter().nth(1).unwrap().unwrap_err().into();
    assert!(matches!(
        api,
        cowry::error::ApiError::Conflict {
            code: "duplicate_reference",
            ..
        }
    ));
    assert_eq!(app.count("select count(*) from collections").await, 3);
    assert_eq!(
        app.count("select count(*) from contacts").await,
        contacts_before + 1
    );
    let phone = "select count(*) from contacts where phone = '+2348032220003'";
    assert_eq!(app.count(phone).await, 0);
}

/// Many simultaneous creates without a key go through the group-commit writer: each answered for
/// itself, the duplicates refused, one contact per phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_creates_each_get_their_own_answer() {
    let app = Arc::new(spawn().await);
    add_endpoint(&app).await;
    let tasks: Vec<_> = (0..60u32)
        .map(|i| {
            let app = app.clone();
            // 40 distinct references, 20 repeats of the first ones; 10 phones among them.
            let mut body = body_n(i % 40);
            body["provider"] = json!("sandbox");
            body["contact"]["phone"] = format!("+2348033330{:03}", i % 10).into();
            tokio::spawn(async move { (i, app.create(&body).await) })
        })
        .collect();
    let mut created = std::collections::HashMap::new();
    let mut refused = 0;
    for task in tasks {
        let (i, (status, body)) = task.await.unwrap();
        match status {
            StatusCode::CREATED => {
                let reference = body["data"]["reference"].as_str().unwrap().to_owned();
                assert_eq!(reference, format!("ref_{}", i % 40));
                let phone = body["data"]["contact"]["phone"].as_str().unwrap();
                assert_eq!(phone, format!("+2348033330{:03}", i % 10));
                assert!(
                    created.insert(reference, body).is_none(),
                    "a reference created twice"
                );
            }
            StatusCode::CONFLICT => {
                assert_error(&body, status, "duplicate_reference");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created.len(), refused), (40, 20));
    assert_eq!(app.count("select count(*) from collections").await, 40);
    assert_eq!(app.count("select count(*) from contacts").await, 10);
    assert_eq!(
        app.count("select count(*) from webhook_deliveries").await,
        40
    );
    // What each answer showed is what its published event carries.
    for body in created.values() {
        let id = body["data"]["id"].as_str().unwrap();
        let snapshot: Value =
            sqlx::query_scalar("select snapshot from collection_events where collection_id = $1")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(snapshot, body["data"]);
    }
}

/// One statement answers many look-ups by id, each with its own collection: a missing id, another
/// merchant's id and a repeated key each get what `collections::get` alone would give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_reads_many_collections_each_answered_for_its_own_key() {
    let app = spawn().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, body) = app.create(&body_n(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let merchant: String = sqlx::query_scalar("select merchant_id from collections limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let key = |m: &str, id: &str| (m.to_owned(), id.to_owned());
    let keys = vec![
        key(&merchant, &ids[0]),
        key(&merchant, "pay_doesnotexist00000000000000"),
        key(&merchant, &ids[1]),
        key("mer_someoneelse0000000000000000", &ids[0]),
        key(&merchant, &ids[2]),
        key(&merchant, &ids[0]),
    ];
    let answers = group_commit::write_batch::<Reads>(&app.pool, &keys).await;
    let found: Vec<Option<String>> = answers
        .into_iter()
        .map(|a| a.unwrap().map(|row| row.id))
        .collect();
    let some = |i: usize| Some(ids[i].clone());
    assert_eq!(found, vec![some(0), None, some(1), None, some(2), some(0)]);
    // Each as `collections::get` reads it alone: the same row, events included.
    let batch = read_batch::Reads::many(&app.pool, &keys[..1])
        .await
        .unwrap();
    let alone = collections::get(&app.pool, &merchant, &ids[0])
        .await
        .unwrap();
    let (batch, alone) = (batch[0].as_ref().unwrap().as_ref().unwrap(), alone.unwrap());
    assert_eq!(format!("{batch:?}"), format!("{alone:?}"));
    assert_eq!(alone.events.len(), 1);
}

/// One statement finds many callbacks' payments by reference, each answered as `attempts::by_reference`
/// (any merchant) or `by_merchant_reference` (within one) would alone: a missing reference, another
/// kind's, another merchant's and a repeated key each get their own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_finds_many_callbacks_payments_each_for_its_own_reference() {
    let app = spawn().await;
    let (status, body) = app.create(&body_n(0)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let merchant: String = sqlx::query_scalar("select merchant_id from collections limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for (id, kind, reference) in [
        ("att_batch_a", "paystack", "ref-a"),
        ("att_batch_b", "paystack", "ref-b"),
        ("att_batch_c", "mtn_momo", "ref-c"),
    ] {
        sqlx::query(
            "insert into provider_attempts (merchant_id, id, provider, kind, operation, provider_reference,
                                            status, amount_minor, currency)
             values ($1, $2, 'acct', $3, 'checkout', $4, 'pending', 1500, 'NGN')",
        )
        .bind(&merchant)
        .bind(id)
        .bind(kind)
        .bind(reference)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let key = |m: Option<&str>, kind: &str, r: &str| {
        (m.map(str::to_owned), kind.to_owned(), r.to_owned())
    };
    let keys = vec![
        key(None, "paystack", "ref-a"),
        key(Some(&merchant), "paystack", "ref-b"),
        key(None, "paystack", "ref-missing"),
        key(None, "paystack", "ref-c"),
        key(Some("mer_someoneelse0000000000000000"), "paystack", "ref-a"),
        key(Some(&merchant), "mtn_momo", "ref-c"),
        key(None, "paystack", "ref-a"),
    ];
    let answers = group_commit::write_batch::<AttemptsByReference>(&app.pool, &keys).await;
    let found: Vec<Option<String>> = answers
        .into_iter()
        .map(|a| a.unwrap().map(|row| row.id))
        .collect();
    let some = |id: &str| Some(id.to_owned());
    assert_eq!(
        found,
        vec![
            some("att_batch_a"),
            some("att_batch_b"),
            None,
            None,
            None,
            some("att_batch_c"),
            some("att_batch_a")
        ]
    );
    // The row as the single look-up reads it.
    let batch = AttemptsByReference::many(&app.pool, &keys[..1])
        .await
        .unwrap();
    let alone = attempts::by_reference(&app.pool, "paystack", "ref-a")
        .await
        .unwrap();
    let batch = batch[0].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(format!("{batch:?}"), format!("{:?}", alone.unwrap()));
}

/// Many simultaneous GETs go through the grouped reader: each answered with its own collection, and
/// an unknown id still 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_gets_each_read_their_own_collection() {
    let app = Arc::new(spawn().await);
    let mut created = Vec::new();
    for n in 0..12 {
        let (status, body) = app.create(&body_n(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        created.push(body["data"].clone());
    }
    let tasks: Vec<_> = (0..48usize)
        .map(|i| {
            let app = app.clone();
            let id = match created.get(i % 13) {
                Some(c) => c["id"].as_str().unwrap().to_owned(),
                None => "pay_doesnotexist00000000000000".to_owned(),
            };
            tokio::spawn(async move { (i, app.get(&format!("/collections/{id}")).await) })
        })
        .collect();
    for task in tasks {
        let (i, (status, body)) = task.await.unwrap();
        match created.get(i % 13) {
            Some(c) => {
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body["data"], *c, "GET {i} answered another collection");
            }
            None => {
                assert_error(&body, status, "not_found");
            }
        }
    }
}

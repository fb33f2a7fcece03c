use reqwest::StatusCode;
use serde_json::json;

use crate::common::{body_n, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_creates_for_one_new_phone_make_one_contact() {
    let app = std::sync::Arc::new(spawn().await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            let mut body = body_n(1);
            body["reference"] = format!("same-phone-{i}").into();
            tokio::spawn(async move { app.create(&body).await })
        })
        .collect();
    let mut contact_ids = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        contact_ids.push(body["data"]["contact"]["id"].as_str().unwrap().to_owned());
    }
    assert!(contact_ids.iter().all(|id| *id == contact_ids[0]));
    assert_eq!(app.count("select count(*) from contacts").await, 1);
    assert_eq!(app.count("select count(*) from collections").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_found_by_phone_then_by_email_case_insensitively() {
    let app = spawn().await;
    let (_, first) = app.create(&body_n(1)).await;
    let contact = first["data"]["contact"]["id"].as_str().unwrap().to_owned();

    // Same phone, new email: the same contact.
    let mut by_phone = body_n(1);
    by_phone["reference"] = "by-phone".into();
    by_phone["contact"]["email"] = "someone.else@example.com".into();
    let (_, body) = app.create(&by_phone).await;
    assert_eq!(body["data"]["contact"]["id"], contact.as_str());

    // New phone, same email in other letter case: the same contact.
    let mut by_email = body_n(2);
    by_email["reference"] = "by-email".into();
    by_email["contact"]["email"] = "CUSTOMER1@Example.COM".into();
    let (_, body) = app.create(&by_email).await;
    assert_eq!(body["data"]["contact"]["id"], contact.as_str());
    // The contact keeps its stored details.
    assert_eq!(
        body["data"]["contact"]["phone"],
        first["data"]["contact"]["phone"]
    );

    // Neither matches: a new contact.
    let (_, body) = app.create(&body_n(3)).await;
    assert_ne!(body["data"]["contact"]["id"], contact.as_str());
    assert_eq!(app.count("select count(*) from contacts").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_phone_and_email_match_different_contacts_the_phone_wins() {
    let app = spawn().await;
    let (_, a) = app.create(&body_n(1)).await;
    let (_, b) = app.create(&body_n(2)).await;
    let mut mixed = body_n(1); // phone of contact 1
    mixed["reference"] = "mixed".into();
    mixed["contact"]["email"] = b["data"]["contact"]["email"].clone(); // email of contact 2
    let (status, body) = app.create(&mixed).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["data"]["contact"]["id"], a["data"]["contact"]["id"]);
    assert_eq!(app.count("select count(*) from contacts").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_are_stored_in_e164() {
    let app = spawn().await;
    let mut body = body_n(1);
    body["contact"]["phone"] = json!("+234 801 000 0001");
    let (status, created) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["contact"]["phone"], "+2348010000001");
}

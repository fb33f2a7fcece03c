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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_listed_searched_shown_with_their_history_and_changed() {
    let app = spawn().await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (status, body) = app.create(&body_n(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["data"]["contact"]["id"].as_str().unwrap().to_owned());
    }
    // Newest first, in cursor pages.
    let (status, page) = app.get("/contacts?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["id"], ids[2].as_str());
    let cursor = page["pagination"]["nextCursor"].as_str().unwrap();
    let (_, next) = app.get(&format!("/contacts?limit=2&cursor={cursor}")).await;
    assert_eq!(next["data"][0]["id"], ids[0].as_str());
    assert_eq!(next["pagination"]["hasMore"], false);

    // Search by phone (any format), email (any case) and part of the name.
    let (_, first) = app.get(&format!("/contacts/{}", ids[0])).await;
    let contact = &first["data"];
    let phone = contact["phone"].as_str().unwrap().to_owned();
    let spaced = format!("{} {}", &phone[..4], &phone[4..]).replace('+', "%2B");
    let (_, by_phone) = app.get(&format!("/contacts?phone={spaced}")).await;
    assert_eq!(by_phone["data"][0]["id"], ids[0].as_str(), "{by_phone}");
    let email = contact["email"].as_str().unwrap().to_uppercase();
    let (_, by_email) = app.get(&format!("/contacts?email={email}")).await;
    assert_eq!(by_email["data"].as_array().unwrap().len(), 1);
    let (_, by_name) = app.get("/contacts?name=%25").await;
    assert_eq!(
        by_name["data"].as_array().unwrap().len(),
        0,
        "a % is a character, not a wildcard"
    );
    let first_name = contact["firstName"].as_str().unwrap().to_lowercase();
    let (_, by_name) = app.get(&format!("/contacts?name={first_name}")).await;
    assert!(!by_name["data"].as_array().unwrap().is_empty());

    // Its history: the collection it was made by.
    assert_eq!(contact["collections"].as_array().unwrap().len(), 1);
    assert_eq!(contact["collections"][0]["type"], "integrated");
    assert_eq!(contact["collects"], json!([]));

    // Changes: names, preferred channel, language; a phone another contact holds is a 409.
    let response = app
        .authed(reqwest::Method::PATCH, &format!("/contacts/{}", ids[0]))
        .json(&json!({"firstName": "Ngozi", "preferredChannel": "email", "language": "yo"}))
        .send()
        .await
        .unwrap();
    let (status, changed) = crate::common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["data"]["firstName"], "Ngozi");
    assert_eq!(changed["data"]["preferredChannel"], "email");
    assert_eq!(changed["data"]["language"], "yo");
    let (_, other) = app.get(&format!("/contacts/{}", ids[1])).await;
    let taken = other["data"]["phone"].as_str().unwrap();
    let response = app
        .authed(reqwest::Method::PATCH, &format!("/contacts/{}", ids[0]))
        .json(&json!({"phone": taken}))
        .send()
        .await
        .unwrap();
    let (status, refused) = crate::common::read(response).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "duplicate_phone");
    let response = app
        .authed(reqwest::Method::PATCH, &format!("/contacts/{}", ids[0]))
        .json(&json!({"email": "nope", "preferredChannel": "fax", "id": "x"}))
        .send()
        .await
        .unwrap();
    let (status, refused) = crate::common::read(response).await;
    let fields = crate::common::assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["id", "email", "preferredChannel"]);

    // The preferred channel leads the next default plan.
    let mut body = body_n(1);
    body["reference"] = json!("after-preference");
    body.as_object_mut().unwrap().remove("followUp");
    let (_, again) = app.create(&body).await;
    let steps = again["data"]["followUp"]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["channel"] == "email"), "{steps:?}");

    // Another merchant's contact is a 404, everywhere.
    let other_key = app.other_merchant_key().await;
    let response = app
        .client
        .get(app.url(&format!("/contacts/{}", ids[0])))
        .header("x-api-key", &other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .client
        .patch(app.url(&format!("/contacts/{}", ids[0])))
        .header("x-api-key", &other_key)
        .json(&json!({"firstName": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (_, theirs) = crate::common::read(
        app.client
            .get(app.url("/contacts"))
            .header("x-api-key", &other_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collect_finds_or_makes_the_contact_by_phone_so_the_history_is_one() {
    let app = spawn().await;
    let collect = |phone: &str, external: &str| {
        let mut body: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/collect_example.json")).unwrap();
        body["phone"] = json!(phone);
        body["externalId"] = json!(external);
        body
    };
    // A payer Cowry has never seen becomes a contact (no name or email yet).
    let (status, created) = app
        .post_json("/collections/collect", &collect("+256706859041", "c-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, found) = app.get("/contacts?phone=%2B256706859041").await;
    let contact = &found["data"][0];
    assert_eq!(contact["phone"], "+256706859041", "{found}");
    let id = contact["id"].as_str().unwrap().to_owned();
    // A collection for the same phone joins that contact, and both are in its history.
    let mut body = body_n(1);
    body["contact"]["phone"] = json!("+256706859041");
    body["amount"] = json!({"value": 500, "currency": "UGX"});
    body["provider"] = json!("sandbox");
    let (status, collection) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{collection}");
    assert_eq!(collection["data"]["contact"]["id"], id.as_str());
    let (_, details) = app.get(&format!("/contacts/{id}")).await;
    assert_eq!(details["data"]["collections"].as_array().unwrap().len(), 1);
    assert_eq!(
        details["data"]["collects"][0]["reference"], "c-1",
        "{details}"
    );
    // The history follows the contact, not the number: a new phone keeps its old collects.
    let response = app
        .authed(reqwest::Method::PATCH, &format!("/contacts/{id}"))
        .json(&json!({"phone": "+256706859042"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, details) = app.get(&format!("/contacts/{id}")).await;
    assert_eq!(details["data"]["collects"].as_array().unwrap().len(), 1);
    assert_eq!(app.count("select count(*) from contacts").await, 1);
}

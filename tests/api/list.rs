use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{assert_error, body_n, spawn, TestApp};

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/collections?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_row_exactly_once() {
    let app = spawn().await;
    for n in 0..45 {
        let (status, _) = app.create(&body_n(n)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Several rows share one created_at, so the id must break ties for the walk to be exact.
    sqlx::query("update collections set created_at = date_trunc('second', created_at)")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update collections set created_at = (select min(created_at) from collections) where reference < 'ref_2'")
        .execute(&app.pool)
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/collections?limit=10&cursor={c}"),
            None => "/collections?limit=10".to_owned(),
        };
        let (status, body) = app.get(&query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        assert_eq!(body["pagination"]["limit"], 10);
        match &body["pagination"]["nextCursor"] {
            Value::String(next) => {
                assert_eq!(body["pagination"]["hasMore"], true);
                cursor = Some(next.clone());
            }
            _ => {
                assert_eq!(body["pagination"]["hasMore"], false);
                break;
            }
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 45);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        45,
        "no row twice"
    );
    let expected: Vec<String> =
        sqlx::query_scalar("select id from collections order by created_at desc, id desc")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(seen, expected, "newest first, in a stable order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_the_list() {
    let app = spawn().await;
    let mut created = Vec::new();
    for n in 0..4 {
        let (_, body) = app.create(&body_n(n)).await;
        created.push(body["data"].clone());
    }
    let id = |i: usize| created[i]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/collections/{}/cancel", id(1))).await;

    assert_eq!(ids(&app, "status=cancelled").await, [id(1)]);
    assert_eq!(ids(&app, "status=pending").await.len(), 3);
    assert_eq!(ids(&app, "type=integrated").await.len(), 4);
    assert_eq!(ids(&app, "reference=ref_2").await, [id(2)]);
    let contact = created[3]["contact"]["id"].as_str().unwrap();
    assert_eq!(ids(&app, &format!("contactId={contact}")).await, [id(3)]);
    let at = created[2]["createdAt"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    assert_eq!(
        ids(&app, &format!("createdFrom={at}&createdTo={at}")).await,
        [id(2)]
    );
    assert_eq!(ids(&app, "createdFrom=2999-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(ids(&app, "limit=2").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_parameters_are_422s_naming_each() {
    let app = spawn().await;
    let (status, body) = app
        .get("/collections?status=paid&type=loan&limit=101&createdFrom=yesterday&cursor=garbage")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = assert_error(&body, status, "validation_failed");
    assert_eq!(fields, ["status", "type", "createdFrom", "limit", "cursor"]);
    for limit in ["0", "-1", "abc"] {
        let (status, body) = app.get(&format!("/collections?limit={limit}")).await;
        assert_eq!(assert_error(&body, status, "validation_failed"), ["limit"]);
    }
}

//! The shared provider client: what it retries, what it gives up on, and what it calls unknown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use cowry::providers::http::{HttpPolicy, ProviderHttp, Safety};
use cowry::providers::ProviderError;

/// A server whose `/slow` never answers in time, `/flaky` fails once, `/broken` always fails,
/// `/limited` asks to wait.
async fn server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let (slow, flaky, limited, broken) = (hits.clone(), hits.clone(), hits.clone(), hits.clone());
    let app = Router::new()
        .route(
            "/broken",
            get(move || async move {
                broken.fetch_add(1, Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .route(
            "/slow",
            get(move || async move {
                slow.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/flaky",
            get(move || async move {
                match flaky.fetch_add(1, Ordering::SeqCst) {
                    0 => (StatusCode::INTERNAL_SERVER_ERROR, "boom"),
                    _ => (StatusCode::OK, "fine"),
                }
            }),
        )
        .route(
            "/limited",
            get(move || async move {
                limited.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "120")],
                    "slow down",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, hits)
}

fn client() -> ProviderHttp {
    ProviderHttp::new(HttpPolicy {
        timeout: Duration::from_millis(300),
        base_backoff: Duration::from_millis(10),
        ..HttpPolicy::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_one_shot_call_is_unknown_and_not_resent() {
    let (base, hits) = server().await;
    let result = client()
        .send("test", "op", Safety::Once, |c| {
            c.get(format!("{base}/slow"))
        })
        .await;
    assert!(
        matches!(result, Err(ProviderError::Unknown { .. })),
        "{result:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "never sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_calls_are_retried_a_bounded_number_of_times() {
    let (base, hits) = server().await;
    let result = client()
        .send("test", "op", Safety::Read, |c| {
            c.get(format!("{base}/slow"))
        })
        .await;
    assert!(
        matches!(result, Err(ProviderError::Unavailable { .. })),
        "{result:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    let (base, hits) = server().await;
    let reply = client()
        .send("test", "op", Safety::Read, |c| {
            c.get(format!("{base}/flaky"))
        })
        .await
        .unwrap();
    assert_eq!(
        (reply.status, hits.load(Ordering::SeqCst)),
        (StatusCode::OK, 2)
    );

    // A one-shot call that may create a payment is not retried, and its 500 is `Unknown`: only the
    // provider's status API can say whether the payment exists.
    let (base, hits) = server().await;
    let reply = client()
        .send("test", "op", Safety::Once, |c| {
            c.get(format!("{base}/flaky"))
        })
        .await;
    assert!(
        matches!(reply, Err(ProviderError::Unknown { .. })),
        "{reply:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a one-shot 500 is not retried"
    );

    // A keyed call is retried (the provider de-duplicates it) and a 500 on its last try is `Unknown`
    // too; a read's last 500 is handed to the adapter.
    let (base, hits) = server().await;
    let reply = client()
        .send("test", "op", Safety::Keyed, |c| {
            c.get(format!("{base}/broken"))
        })
        .await;
    assert!(
        matches!(reply, Err(ProviderError::Unknown { .. })),
        "{reply:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_is_handed_back_instead_of_waited_out() {
    let (base, hits) = server().await;
    let reply = client()
        .send("test", "op", Safety::Read, |c| {
            c.get(format!("{base}/limited"))
        })
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        cowry::providers::http::retry_after(&reply.headers),
        Some(Duration::from_secs(120))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_unavailable() {
    // Port 1 on loopback: nothing listens, the connection is refused, nothing was sent.
    let result = client()
        .send("test", "op", Safety::Once, |c| {
            c.get("http://127.0.0.1:1/x")
        })
        .await;
    assert!(
        matches!(result, Err(ProviderError::Unavailable { .. })),
        "{result:?}"
    );
}

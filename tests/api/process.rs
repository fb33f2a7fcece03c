//! The process around the API: graceful shutdown, request timeouts, and the `cowry` binary's start-up
//! failures and CLI.

use std::process::Command;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{example, spawn, spawn_with};

/// Sends a request's head and the first half of its body, leaving it in flight.
async fn start_request(base: &str, key: &str, body: &str) -> (TcpStream, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /collections HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {key}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first.as_bytes()).await.unwrap();
    (stream, rest.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let app = spawn().await;
    // The sandbox answers in-process: the in-process Paystack emulator stops taking connections too.
    let mut body = example();
    body["provider"] = "sandbox".into();
    let body = body.to_string();
    let (mut stream, rest) = start_request(&app.base, &app.key, &body).await;
    // Let the server read the head, so the request is in flight before shutdown starts.
    let (status, _) = app.get("/collections").await;
    assert_eq!(status, StatusCode::OK);

    app.shutdown.trigger();
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the in-flight create completed: {response}"
    );
    assert_eq!(app.count("select count(*) from collections").await, 1);

    // The listener is closed once the in-flight request is done.
    let mut refused = false;
    for _ in 0..50 {
        if app.client.get(app.url("/healthz")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "new connections are refused after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlives_the_timeout_gets_a_408_and_changes_nothing() {
    let app = spawn_with(&[("COWRY_REQUEST_TIMEOUT_SECS", "1")]).await;
    let (mut stream, _rest) = start_request(&app.base, &app.key, &example().to_string()).await;
    // The rest of the body never comes.
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    let body: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout");
    assert_eq!(body["statusCode"], 408);
    assert_eq!(app.count("select count(*) from collections").await, 0);
}

#[test]
fn serve_explains_an_unreachable_database_in_one_line_without_the_password() {
    let output = Command::new(env!("CARGO_BIN_EXE_cowry"))
        .arg("serve")
        .env("DATABASE_URL", "postgres://cowry:s3cret@127.0.0.1:1/cowry")
        .env("COWRY_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().last().unwrap();
    assert!(
        line.contains("cannot reach PostgreSQL at postgres://cowry:***@127.0.0.1:1/cowry"),
        "{stderr}"
    );
    assert!(line.contains("docker compose up -d postgres"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn invalid_config_stops_the_binary_with_one_line_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_cowry"))
        .arg("serve")
        .env("COWRY_BIND", "nowhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("COWRY_BIND"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_a_merchant_whose_key_works() {
    let app = spawn().await;
    let output = Command::new(env!("CARGO_BIN_EXE_cowry"))
        .args(["merchant", "create", "--name", "Acme CLI"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let key = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sk_test_"))
        .expect("the key is printed");
    let response = app
        .client
        .post(app.url("/collections"))
        .header("x-api-key", key)
        .json(&example())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The server's pool hands busy connections out without a ping (a round trip saved per query), but a
/// connection idle for a while is checked first: one the server closed meanwhile is replaced, not used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_server_closed_while_idle_is_replaced_before_use() {
    let app = spawn().await;
    let config = crate::common::test_config(&[
        ("DATABASE_URL", app.database_url.as_str()),
        ("COWRY_DB_MAX_CONNECTIONS", "1"),
    ]);
    let pool = cowry::db::connect(&config).await.unwrap();
    let backend: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(backend)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(terminated);
    // Idle past the ping threshold (10 s): the next query gets a live connection.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let replaced: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("the closed connection was noticed and replaced");
    assert_ne!(replaced, backend);
}

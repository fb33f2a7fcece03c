//! Pooled connections and cancelled requests: a request dropped while its transaction's `BEGIN` is in
//! flight (a client that hung up, a timeout) must not put its connection back inside a transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{eventually, spawn};

/// A TCP proxy to PostgreSQL whose answers are held back 300 ms while `slow` is set, so that a test can
/// drop a future after its statement was sent and before its answer came.
async fn slow_proxy(upstream: String, slow: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
            let slow = slow.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                    if slow.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_cancelled_in_flight_leaves_no_transaction_open_on_the_pooled_connection() {
    let app = spawn().await;
    let options: PgConnectOptions = app.database_url.parse().unwrap();
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let slow = Arc::new(AtomicBool::new(false));
    let port = slow_proxy(upstream, slow.clone()).await;
    // One connection, named so that another can see its state.
    // No test on acquire: the begin's first step is its BEGIN, sent at once.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(
            options
                .host("127.0.0.1")
                .port(port)
                .application_name("cancelled-begin"),
        )
        .await
        .unwrap();
    let state = || async {
        sqlx::query_scalar::<_, String>(
            "select state from pg_stat_activity where application_name = 'cancelled-begin'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    sqlx::query("select 1").execute(&pool).await.unwrap();
    assert_eq!(state().await, "idle");

    slow.store(true, Ordering::SeqCst);
    let cancelled = tokio::time::timeout(Duration::from_millis(100), cowry::db::begin(&pool)).await;
    assert!(
        cancelled.is_err(),
        "the begin was still waiting for its answer"
    );
    slow.store(false, Ordering::SeqCst);
    // Once the connection is back in the pool (after the BEGIN's answer), it is not inside a
    // transaction.
    eventually("the connection back in the pool", || async {
        (pool.num_idle() == 1).then_some(())
    })
    .await;
    assert_eq!(
        state().await,
        "idle",
        "the cancelled BEGIN left its connection inside a transaction"
    );
}

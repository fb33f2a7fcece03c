//! Spawns the whole application on port 0 against the test's own fresh database: each test gets a new
//! PostgreSQL database (migrated), dropped when the test ends.

use std::collections::HashMap;

use cowry::shutdown::Shutdown;
use cowry::{store, AppState, Application, Config};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";
/// The servers' `COWRY_ENCRYPTION_KEY` in tests (`spawn_with(&[("COWRY_ENCRYPTION_KEY", "")])` unsets it).
pub const ENCRYPTION_KEY: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/// The Paystack secret key of a merchant's `paystack` test account (random, stored encrypted, made on
/// the account's first use), as the emulator and the webhook check know it.
pub async fn paystack_secret(pool: &PgPool, merchant_id: &str) -> String {
    account_secret(pool, merchant_id, "paystack").await
}

/// [`paystack_secret`] of the merchant's Paystack account named `slug`.
pub async fn account_secret(pool: &PgPool, merchant_id: &str, slug: &str) -> String {
    let sealed: Vec<u8> = sqlx::query_scalar(
        "select credentials from merchant_providers where merchant_id = $1 and slug = $2",
    )
    .bind(merchant_id)
    .bind(slug)
    .fetch_one(pool)
    .await
    .expect("the paystack account has credentials once it has been used");
    let plain = cowry::domain::secretbox::SecretBox::from_hex(ENCRYPTION_KEY)
        .unwrap()
        .open(&sealed, format!("{merchant_id}/{slug}").as_bytes())
        .unwrap();
    serde_json::from_slice::<Value>(&plain).unwrap()["secretKey"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub pool: PgPool,
    /// API key of a test-mode merchant created for this test.
    pub key: String,
    pub key_id: String,
    pub shutdown: Shutdown,
    /// The server's business time: tests move it to walk a schedule (see `cowry::clock`).
    pub clock: cowry::clock::Clock,
    pub database_url: String,
    database: String,
}

impl Drop for TestApp {
    /// Stops the server and drops the test's database (on a thread of its own: Drop cannot await).
    fn drop(&mut self) {
        self.shutdown.trigger();
        let (pool, database) = (self.pool.clone(), self.database.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                // A connection held by a task of a current-thread test runtime is never given back (that
                // runtime is blocked in this drop): wait a while, then the forced drop ends it anyway.
                let closing = tokio::time::timeout(std::time::Duration::from_secs(5), pool.close());
                let _ = closing.await;
                if let Ok(mut admin) = PgConnection::connect(&url_for("postgres")).await {
                    let _ = sqlx::query(&format!(
                        "drop database if exists \"{database}\" with (force)"
                    ))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

pub fn example() -> Value {
    serde_json::from_str(include_str!("../fixtures/integrated_example.json")).unwrap()
}

pub async fn spawn() -> TestApp {
    spawn_with(&[]).await
}

/// The server's database URL (`DATABASE_URL`, as `cargo test` sets it from .cargo/config.toml) with
/// another database name.
fn url_for(database: &str) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| cowry::config::DEFAULT_DATABASE_URL.to_owned());
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL has a database name");
    format!("{server}/{database}")
}

/// Creates and migrates a database of its own for one test. Databases of earlier runs older than an hour
/// (left behind by a killed run) are dropped on the way.
async fn fresh_database() -> (PgPool, String) {
    let mut admin = PgConnection::connect(&url_for("postgres"))
        .await
        .expect("PostgreSQL is reachable");
    let now = chrono::Utc::now().timestamp();
    let stale: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'cowry_test_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    for name in stale {
        let born = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(now);
        if now - born > 3600 {
            let _ = sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                .execute(&mut admin)
                .await;
        }
    }
    let name = format!("cowry_test_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect(&url_for(&name))
        .await
        .unwrap();
    cowry::db::MIGRATOR.run(&pool).await.unwrap();
    (pool, name)
}

pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("COWRY_BIND", "127.0.0.1:0"),
        ("COWRY_PUBLIC_URL", "http://cowry.test"),
        ("COWRY_ADMIN_TOKEN", ADMIN_TOKEN),
        // The sweep is driven by tests directly; keep the background one out of their way.
        ("COWRY_EXPIRY_SWEEP_SECS", "86400"),
        // Tests reach emulators, proxies and test servers on loopback (the address policy has its own).
        ("COWRY_ALLOW_PRIVATE_NETWORKS", "true"),
        // Test mode runs against the emulators (off by default outside tests and `.env.example`).
        ("COWRY_EMULATORS", "true"),
        // Rate limits have their own tests; elsewhere they would only make timing matter.
        ("COWRY_RATE_LIMIT_PER_SECOND", "0"),
        // Test accounts' emulator credentials are random and stored encrypted.
        ("COWRY_ENCRYPTION_KEY", ENCRYPTION_KEY),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|k| vars.get(k).filter(|v| !v.is_empty()).cloned())
        .expect("test config is valid")
}

pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
    let (pool, database) = fresh_database().await;
    let config = test_config(extra);
    let mut conn = pool.acquire().await.unwrap();
    let merchant = store::merchants::create(&mut conn, "Test merchant", None)
        .await
        .unwrap();
    drop(conn);
    let state = AppState::new(pool.clone(), config);
    let clock = state.clock.clone();
    let app = Application::build(state).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let shutdown = Shutdown::default();
    tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        base,
        client: Client::new(),
        pool,
        key: merchant.api_key,
        key_id: merchant.api_key_id,
        shutdown,
        clock,
        database_url: url_for(&database),
        database,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request authenticated as this test's merchant.
    pub fn authed(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", &self.key)
    }

    pub async fn create(&self, body: &Value) -> (StatusCode, Value) {
        read(
            self.authed(reqwest::Method::POST, "/collections")
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.authed(reqwest::Method::GET, path)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.authed(reqwest::Method::POST, path)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Creates a second merchant and returns its API key.
    pub async fn other_merchant_key(&self) -> String {
        let mut conn = self.pool.acquire().await.unwrap();
        store::merchants::create(&mut conn, "Other merchant", None)
            .await
            .unwrap()
            .api_key
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        read(
            self.authed(reqwest::Method::POST, path)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Another server process's worth of application (its own HTTP port, job worker and emulators) on
    /// this test's database; stopped when the returned handle is triggered or dropped with the test.
    pub async fn sibling(&self, extra: &[(&str, &str)]) -> Shutdown {
        let config = test_config(extra);
        let app = Application::build(AppState::new(self.pool.clone(), config))
            .await
            .unwrap();
        let shutdown = Shutdown::default();
        tokio::spawn(app.run(shutdown.clone()));
        shutdown
    }

    /// A real `cowry <subcommand>` process on this test's database, as the tests run one: private
    /// addresses reachable (emulators and proxies are on loopback), no rate limit, quiet, no dev key,
    /// the tests' encryption key.
    /// Add what the test needs, then spawn it.
    pub fn cowry(&self, subcommand: &str) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cowry"));
        command
            .arg(subcommand)
            .env("DATABASE_URL", &self.database_url)
            .env("COWRY_LOG", "warn")
            .env("COWRY_EXPIRY_SWEEP_SECS", "86400")
            .env("COWRY_ALLOW_PRIVATE_NETWORKS", "true")
            .env("COWRY_RATE_LIMIT_PER_SECOND", "0")
            .env("COWRY_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env_remove("COWRY_DEV_API_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    }

    /// `POST /collections` as the merchant holding `key` (another merchant than this test's own).
    pub async fn create_as(&self, key: &str, body: &Value) -> (StatusCode, Value) {
        read(
            self.client
                .post(self.url("/collections"))
                .header("x-api-key", key)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `GET path` as the operator.
    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.client
                .get(self.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A live merchant made by the operator (`POST /admin/merchants`): its `sk_live_` key.
    pub async fn live_merchant(&self, name: &str) -> String {
        let (status, live) = read(
            self.client
                .post(self.url("/admin/merchants"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&serde_json::json!({"name": name, "mode": "live"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{live}");
        assert_eq!(live["mode"], "live");
        live["apiKey"].as_str().unwrap().to_owned()
    }

    /// Adds a test-mode provider account of `kind` whose `baseUrl` is `base_url`.
    pub async fn add_account(&self, slug: &str, kind: &str, base_url: &str) {
        let (status, body) = self
            .post_json(
                "/providers",
                &serde_json::json!({"slug": slug, "kind": kind, "mode": "test", "baseUrl": base_url}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// An integrated body with a unique reference and phone derived from `n`.
pub fn body_n(n: u32) -> Value {
    let mut body = example();
    body["reference"] = format!("ref_{n}").into();
    body["contact"]["phone"] = format!("+23480{:08}", 10_000_000 + n).into();
    body["contact"]["email"] = format!("customer{n}@example.com").into();
    body
}

/// Asserts the one error shape and returns the field names it lists.
pub fn assert_error(body: &Value, status: StatusCode, code: &str) -> Vec<String> {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["statusCode"], status.as_u16(), "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A loopback HTTP server that records every request it gets (method, path, headers, body) and answers
/// 200: the receiving end of emulated provider webhooks.
#[derive(Clone, Default)]
pub struct Receiver {
    pub base: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
        let store = received.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let store = store.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                store.lock().unwrap().push(Received {
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body: body.to_vec(),
                });
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, received }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (bounded) until `count` requests have arrived; returns what arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.all().len() >= count {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        self.all()
    }
}

/// Waits (bounded: a minute) until `check` returns `Some`, and returns it. For outcomes that arrive in
/// the background (callbacks, polls); never a timing assertion, only a ceiling on a hung test.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, 60, check).await
}

/// [`eventually`] with a ceiling of `secs` seconds, for work that is large on purpose (a thousand debits
/// on a loaded CI machine).
pub async fn eventually_within<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..secs * 20 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Takes the next due job of `kind` as a worker would (for tests whose server runs no workers).
pub async fn take(app: &TestApp, kind: &str) -> cowry::store::jobs::Job {
    sqlx::query_as(
        "update jobs set locked_by = 'test', locked_until = now() + interval '1 minute',
                         attempts = attempts + 1
         where id = (select id from jobs where kind = $1 and status = 'queued'
                       and (locked_until is null or locked_until < now())
                     order by run_at, id limit 1)
         returning id, kind, key, merchant_id, payload, attempts, locked_by as worker",
    )
    .bind(kind)
    .fetch_one(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("no {kind} job queued: {e}"))
}

/// Runs one due job of `kind` with `state`, as a worker would, and expects it done.
pub async fn run_one(app: &TestApp, state: &cowry::AppState, kind: &str) {
    let job = take(app, kind).await;
    let run = cowry::jobs::kinds::find(kind).unwrap().run;
    let outcome = run(state.clone(), job.clone()).await;
    assert!(
        matches!(
            outcome,
            cowry::jobs::queue::Outcome::Done | cowry::jobs::queue::Outcome::Finished
        ),
        "{kind}: {outcome:?}"
    );
    cowry::store::jobs::finish(&app.pool, job.id, "test")
        .await
        .unwrap();
}

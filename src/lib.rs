//! Cowry: a multi-provider payment collections server. `main` is thin; everything lives here so tests
//! can start the whole application on port 0 against their own database.

pub mod cache;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod emulator;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod providers;
pub mod shutdown;
pub mod store;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use shutdown::Shutdown;
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::Config;
pub use http::app;

/// Everything a handler needs, behind one `Arc`: axum clones the state for every extractor of every
/// request, and one reference count is cheaper than one per shared part (it was 1.5% of a GET's
/// samples).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct Shared {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub providers: providers::Registry,
    pub auth_cache: http::auth_cache::AuthCache,
    /// Provider accounts with their credentials decrypted, for the webhook path
    /// (`providers::accounts::cached`).
    pub accounts: providers::accounts::AccountCache,
    pub limiters: http::rate_limit::Limiters,
    /// `/metrics`' database-backed gauges, read at most once per `COWRY_METRICS_REFRESH_SECS`.
    pub metric_gauges: Arc<metrics::GaugeCache>,
    /// Business time (see `clock`): the wall clock unless a test moved it.
    pub clock: clock::Clock,
    /// What each merchant's follow-up history says works, cached (`http::collections::learned`).
    pub learned: http::collections::learned::Learned,
    /// Concurrent unkeyed creates, written together (`store::group_commit`).
    pub group_commit: Arc<store::group_commit::GroupCommit<store::create_batch::Creates>>,
    /// Concurrent provider callbacks' receipts, written together (`store::webhooks::Receipts`).
    pub receipts: Arc<store::group_commit::GroupCommit<store::webhooks::Receipts>>,
    /// Concurrent GETs of a collection by id, read together (`store::read_batch`).
    pub reads: Arc<store::group_commit::GroupCommit<store::read_batch::Reads>>,
    /// Concurrent provider callbacks' look-ups of their payment, read together (`store::read_batch`).
    pub attempt_reads:
        Arc<store::group_commit::GroupCommit<store::read_batch::AttemptsByReference>>,
    /// Concurrent callbacks' settlements before their answer, in one transaction (`jobs::paid_callbacks`).
    pub paid_callbacks: Arc<store::group_commit::GroupCommit<jobs::paid_callbacks::PaidCallbacks>>,
    /// Payments a callback named that had succeeded, by what named them (`http::webhooks`): a repeated
    /// success needs no read.
    pub succeeded_attempts:
        cache::TtlCache<store::read_batch::ReferenceKey, store::attempts::AttemptRow>,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config) -> AppState {
        let providers = providers::Registry::new(
            &config.public_url,
            config.emulator_callback_url.as_deref(),
            providers::http::HttpPolicy {
                timeout: config.provider_timeout,
                extra_roots: config
                    .extra_root_certs
                    .iter()
                    .flat_map(|pem| reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default())
                    .collect(),
                ..Default::default()
            },
            config.allow_private_networks,
            pool.clone(),
        );
        let auth_cache = http::auth_cache::AuthCache::new(config.auth_cache_ttl);
        let group_commit =
            store::group_commit::GroupCommit::new(pool.clone(), config.create_writers);
        let receipts = store::group_commit::GroupCommit::new(pool.clone(), config.receipt_writers);
        let reads = store::group_commit::GroupCommit::new(pool.clone(), config.readers);
        let attempt_reads = store::group_commit::GroupCommit::new(pool.clone(), config.readers);
        let accounts = providers::accounts::AccountCache::new(config.auth_cache_ttl);
        let learned = http::collections::learned::Learned::new(config.learning_refresh);
        AppState(Arc::new(Shared {
            group_commit: Arc::new(group_commit),
            receipts: Arc::new(receipts),
            reads: Arc::new(reads),
            attempt_reads: Arc::new(attempt_reads),
            paid_callbacks: Arc::new(store::group_commit::GroupCommit::new(
                pool.clone(),
                config.receipt_writers,
            )),
            succeeded_attempts: cache::TtlCache::new(http::webhooks::SUCCEEDED_ATTEMPT_TTL),
            accounts,
            pool,
            config: Arc::new(config),
            providers,
            auth_cache,
            limiters: Default::default(),
            metric_gauges: Default::default(),
            clock: Default::default(),
            learned,
        }))
    }

    /// The same shared parts on another pool (the workers' own).
    pub fn with_pool(&self, pool: PgPool) -> AppState {
        AppState(Arc::new(Shared {
            pool,
            ..Shared::clone(&self.0)
        }))
    }

    /// The same state on another business clock (a test's): only before the state is shared.
    pub fn with_clock(mut self, clock: clock::Clock) -> AppState {
        Arc::get_mut(&mut self.0)
            .expect("with_clock before the state is shared")
            .clock = clock;
        self
    }

    /// Forgets what this process cached about a merchant (its keys, its provider accounts) after a
    /// change through this process; other processes see it within `COWRY_AUTH_CACHE_SECS`.
    pub fn forget_merchant(&self, merchant_id: &str) {
        self.auth_cache
            .retain(|merchant| merchant.merchant_id != merchant_id);
        self.accounts.forget_merchant(merchant_id);
    }
}

/// `cowry worker`: the job queue and the sweeps without the HTTP server, until `shutdown` fires. Test
/// accounts reach the emulators of the server at `COWRY_PUBLIC_URL`.
pub async fn run_worker(state: AppState, shutdown: Shutdown) {
    let base = state.config.public_url.trim_end_matches('/').to_owned();
    state.providers.set_self_base(base);
    let workers = jobs::spawn(state, shutdown.clone(), true);
    shutdown.wait_owned().await;
    for worker in workers {
        let _ = worker.await;
    }
}

/// A bound server with its background workers, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds `config.bind` (port 0 picks a free port). Migrations and the dev merchant are the caller's
    /// concern (see `db::prepare`), so tests can share this path.
    pub async fn build(state: AppState) -> std::io::Result<Application> {
        let listener = TcpListener::bind(state.config.bind).await?;
        let addr = listener.local_addr()?;
        // Test-mode adapters reach the emulators over loopback at the port this process serves.
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        state
            .providers
            .set_self_base(format!("http://{host}:{}", addr.port()));
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` fires, then stops taking connections, finishes in-flight requests and
    /// stops the workers.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let queue = self.state.config.workers;
        let worker_connections = self.state.config.worker_db_connections;
        let worker_state = if worker_connections > 0 {
            self.state
                .with_pool(db::worker_pool(&self.state.pool, worker_connections))
        } else {
            self.state.clone()
        };
        let worker_pool = worker_state.pool.clone();
        let workers = jobs::spawn(worker_state, shutdown.clone(), queue);
        let app = http::app(self.state);
        // The peer's address reaches the handlers (per-address limits on unauthenticated routes).
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        // hyper's own answers (unparseable requests) leave in the error shape; see `http::wire`.
        // (`tap_io` also makes the peer's address a `ConnectInfo<SocketAddr>`.)
        let listener = axum::serve::ListenerExt::tap_io(
            http::wire::ShapedListener(self.listener),
            |io: &mut http::wire::ShapedIo| io.set_nodelay(),
        );
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().wait_owned())
            .await;
        shutdown.trigger();
        for worker in workers {
            let _ = worker.await;
        }
        if worker_connections > 0 {
            worker_pool.close().await;
        }
        result
    }
}

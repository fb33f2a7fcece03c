//! Connecting to PostgreSQL: create the database if it is missing, apply migrations, bootstrap the dev
//! merchant. Failures say what was tried and what to do, in one line.

use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

use crate::config::{redact_url, Config};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot reach PostgreSQL at {url} ({cause}); start one with `docker compose up -d postgres` or set DATABASE_URL")]
    Unreachable { url: String, cause: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("COWRY_ENCRYPTION_KEY is not set, but live provider credentials are stored; set the key they were encrypted with")]
    MissingKey,
    #[error("live merchants exist, so {0}")]
    LiveNeeds(&'static str),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Creates the database named in the URL if it does not exist yet.
pub async fn create_if_missing(url: &str) -> Result<(), DbError> {
    let unreachable = |e: sqlx::Error| DbError::Unreachable {
        url: redact_url(url),
        cause: short_cause(&e),
    };
    if !Postgres::database_exists(url).await.map_err(unreachable)? {
        if let Err(e) = Postgres::create_database(url).await {
            // Another process may have created it between the check and the create.
            if !Postgres::database_exists(url).await.unwrap_or(false) {
                return Err(unreachable(e));
            }
        }
    }
    Ok(())
}

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

pub async fn connect(config: &Config) -> Result<PgPool, DbError> {
    let url = config.database_url.expose();
    create_if_missing(url).await?;
    pool_options(config.db_max_connections)
        .connect(url)
        .await
        .map_err(|e| DbError::Unreachable {
            url: redact_url(url),
            cause: short_cause(&e),
        })
}

/// A pool of its own for the job queue and the sweeps of a `serve` process, on the server pool's
/// database (`COWRY_WORKER_DB_CONNECTIONS`): a backlog of due jobs, each holding a connection while it
/// runs, then never makes an API request wait for one. Its sessions are named `cowry-worker` in
/// `pg_stat_activity`. Connects on first use.
pub fn worker_pool(server_pool: &PgPool, max_connections: u32) -> PgPool {
    let options = server_pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name("cowry-worker");
    pool_options(max_connections).connect_lazy_with(options)
}

fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out: a round trip (and a backend wake-up) before every
        // query of a request. Only a connection idle for a while may have been closed by the server or a
        // proxy meanwhile, so only those are checked; a busy pool's connections go out as they are.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Connects, migrates and makes sure the dev merchant exists: everything `serve` needs before binding.
pub async fn prepare(config: &Config) -> Result<PgPool, DbError> {
    let pool = connect(config).await?;
    MIGRATOR.run(&pool).await?;
    if config.encryption_key.is_none()
        && crate::store::providers::live_credentials_exist(&pool).await?
    {
        return Err(DbError::MissingKey);
    }
    // Live mode: money for real customers, over the internet, with stored credentials.
    if crate::store::merchants::live_exists(&pool).await? {
        if !config.public_url.starts_with("https://") {
            return Err(DbError::LiveNeeds(
                "COWRY_PUBLIC_URL must be an https:// address (customers and providers reach it)",
            ));
        }
        if config.encryption_key.is_none() {
            return Err(DbError::LiveNeeds(
                "COWRY_ENCRYPTION_KEY must be set (live credentials are stored encrypted)",
            ));
        }
    }
    if config.emulators && crate::store::providers::live_credentials_exist(&pool).await? {
        return Err(DbError::LiveNeeds(
            "the emulators must be off (COWRY_EMULATORS=false) in a process that holds live provider accounts",
        ));
    }
    if let Some(key) = &config.dev_api_key {
        let merchant = crate::store::merchants::ensure_dev_merchant(&pool, key.expose()).await?;
        tracing::info!(%merchant, "dev merchant ready for COWRY_DEV_API_KEY");
    }
    Ok(pool)
}

fn short_cause(e: &sqlx::Error) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or("unknown error").to_owned()
}

/// Begins a transaction that a cancelled caller cannot leave open. sqlx sends `BEGIN` and then waits for
/// its answer; a future dropped in between (a client that hung up, a timeout) leaves the server inside
/// the transaction while sqlx counts none, so the pooled connection goes back open and every later
/// "autocommitted" statement on it stays uncommitted until someone's `COMMIT` or `ROLLBACK`. Run on its
/// own task, the `BEGIN` completes whatever the caller does; a caller that is gone drops the finished
/// transaction, which rolls back as any dropped transaction does.
pub async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
}

#[cfg(test)]
mod tests {
    /// Landed migrations are immutable: a database that applied one would refuse a changed file (sqlx
    /// compares checksums), so an edit must fail here, in CI, first.
    #[test]
    fn landed_migrations_are_unchanged() {
        let recorded: Vec<(i64, String)> =
            include_str!("../tests/fixtures/migration_checksums.txt")
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(|l| {
                    let mut parts = l.split_whitespace();
                    let version = parts.next().unwrap().parse().unwrap();
                    (version, parts.next().unwrap().to_owned())
                })
                .collect();
        let actual: Vec<(i64, String)> = super::MIGRATOR
            .iter()
            .map(|m| (m.version, hex::encode(&m.checksum)))
            .collect();
        for (version, checksum) in &actual {
            match recorded.iter().find(|(v, _)| v == version) {
                Some((_, expected)) => assert_eq!(
                    checksum, expected,
                    "migration {version} was edited after it landed: add a new migration instead"
                ),
                None => panic!(
                    "migration {version} has no line in tests/fixtures/migration_checksums.txt: add \
                     `{version} {checksum}` once it is final"
                ),
            }
        }
        assert_eq!(
            recorded.len(),
            actual.len(),
            "a recorded migration is missing"
        );
    }
}

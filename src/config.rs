//! Typed configuration from the environment (and `.env`), validated once at boot. A bad value stops the
//! process with one line naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/cowry";

/// A value that must never reach a log: its Debug and Display print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Secret,
    pub bind: SocketAddr,
    pub public_url: String,
    pub admin_token: Option<Secret>,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`.
    pub metrics_token: Option<Secret>,
    pub dev_api_key: Option<Secret>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub request_timeout: Duration,
    pub db_max_connections: u32,
    /// The job queue's own pool in a `serve` process (`db::worker_pool`); 0 shares the server's.
    pub worker_db_connections: u32,
    /// How many group-committed create statements may run at once (`COWRY_CREATE_WRITERS`; see
    /// `store::group_commit`): fewer make larger batches, more make shorter waits; 0 turns it off.
    pub create_writers: usize,
    /// The same for verified provider callbacks' receipts (`COWRY_RECEIPT_WRITERS`; see
    /// `store::webhooks::Receipts`); 0 turns it off.
    pub receipt_writers: usize,
    /// The same for `GET /collections/{id}` look-ups (`COWRY_READERS`; see `store::read_batch`); 0
    /// turns it off.
    pub readers: usize,
    /// How often the expiry sweep looks for collections past `expires_at`.
    pub expiry_sweep_interval: Duration,
    /// How long a process trusts an API key it has looked up (0: always ask the database).
    pub auth_cache_ttl: Duration,
    /// How long `/metrics` reuses what it read from the database (`COWRY_METRICS_REFRESH_SECS`).
    pub metrics_refresh: Duration,
    /// Key for provider credentials at rest (`COWRY_ENCRYPTION_KEY`, 64 hex characters).
    pub encryption_key: Option<crate::domain::secretbox::SecretBox>,
    /// Whether the provider emulators are mounted at `/_emulator/…` (test mode runs against them).
    pub emulators: bool,
    /// How long after a request an emulated payment settles.
    pub emulator_settle: Duration,
    /// Whether an emulated checkout or prompt with no magic ending settles by itself (`true`) or waits
    /// for a person on its page (`false`).
    pub emulator_autosettle: bool,
    /// Where emulated providers send callbacks (`{this}/webhooks/{provider}`); by default this server's
    /// own address, as a provider would call the public URL.
    pub emulator_callback_url: Option<String>,
    /// The server-wide SMTP server (`COWRY_SMTP_URL`, e.g. `smtp://127.0.0.1:2525` or
    /// `smtps://user:pass@smtp.example.com`): test-mode merchants without their own email channel send
    /// through it.
    pub smtp_url: Option<Secret>,
    /// Its from-address (`COWRY_SMTP_FROM`).
    pub smtp_from: String,
    /// How long a process reuses what a merchant's follow-up history says works
    /// (`COWRY_LEARNING_REFRESH_SECS`, default 600; 0 reads it on every plan).
    pub learning_refresh: Duration,
    /// Run the job queue (reconciliation and webhook processing) in this process.
    pub workers: bool,
    /// How often an idle worker looks for due jobs.
    pub worker_idle: Duration,
    /// How long a taken job is reserved before another process may take it over.
    pub job_lease: Duration,
    /// Delays between status polls of an open provider attempt; the last one repeats.
    pub reconcile_schedule: Vec<Duration>,
    /// When a scheduled debit that failed softly (insufficient funds, bank unavailable) is tried again:
    /// one try per delay, then the installment is `failed`.
    pub debit_retry_schedule: Vec<Duration>,
    /// How long before each `MONA` debit the customer is told of it (`COWRY_DEBIT_NOTICE_LEAD`).
    pub debit_notice_lead: Duration,
    /// Waits before each retry of the bank's activation charge of an approved direct-debit mandate that
    /// is still not active (`PUT /customer/{id}/directdebit-activation-charge`); then Cowry stops asking.
    pub activation_retry_schedule: Vec<Duration>,
    /// Waits between tries of a failing webhook delivery (`COWRY_WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: Vec<Duration>,
    /// How long after an attempt was written a provider's "no such payment" is still taken as "not
    /// indexed yet" rather than "never created" (MoMo and Airtel may take seconds to index a request,
    /// and a push may still be in flight).
    pub not_found_grace: Duration,
    /// How long one provider call may take before its answer counts as lost.
    pub provider_timeout: Duration,
    /// How long operational records are kept (events and collection history are never deleted).
    pub retention: Retention,
    /// Whether provider calls may reach private, loopback and link-local addresses (tests, local
    /// development); Cowry's own addresses are reachable either way.
    pub allow_private_networks: bool,
    /// PEM certificates of authorities trusted beside the public ones for outbound https
    /// (`COWRY_EXTRA_ROOT_CERTS`, a file): a private CA in front of a provider, or a test CA.
    pub extra_root_certs: Vec<Vec<u8>>,
    /// Requests per API key (a merchant's operator-set limit wins); `per_second` 0 turns it off.
    pub rate_limit: crate::http::rate_limit::Rate,
    /// Proxies whose `X-Forwarded-For` is believed for the client's address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// What the retention sweep deletes, and after how long.
#[derive(Debug, Clone)]
pub struct Retention {
    /// `Idempotency-Key` records.
    pub idempotency_keys: Duration,
    /// Provider callbacks that were verified or taken as hints (and their de-duplication keys).
    pub receipts: Duration,
    /// Provider callbacks that failed verification.
    pub rejected_receipts: Duration,
    /// Jobs kept as `failed` for operators.
    pub failed_jobs: Duration,
    /// Finished deliveries to merchant endpoints (with their tries); the events stay.
    pub deliveries: Duration,
}

/// One bad variable: `COWRY_BIND="x" is not valid: expected host:port, e.g. 127.0.0.1:8080`.
#[derive(Debug, thiserror::Error)]
#[error("{var}={shown:?} is not valid: {why}")]
pub struct ConfigError {
    pub var: &'static str,
    pub shown: String,
    pub why: String,
}

impl Config {
    /// Reads the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let bad = |var: &'static str, value: &str, why: &str| ConfigError {
            var,
            shown: value.to_owned(),
            why: why.to_owned(),
        };
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(bad(
                "DATABASE_URL",
                &redact_url(&database_url),
                "expected postgres://user@host:port/db",
            ));
        }
        let bind_text = get("COWRY_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            bad(
                "COWRY_BIND",
                &bind_text,
                "expected host:port, e.g. 127.0.0.1:8080",
            )
        })?;
        let public_url = get("COWRY_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(' ')
        {
            return Err(bad(
                "COWRY_PUBLIC_URL",
                &public_url,
                "expected an http:// or https:// URL",
            ));
        }
        let metrics_token = get("COWRY_METRICS_TOKEN").filter(|t| !t.is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(bad(
                "COWRY_METRICS_TOKEN",
                "(hidden)",
                "expected at least 16 characters",
            ));
        }
        let admin_token = get("COWRY_ADMIN_TOKEN");
        if let Some(token) = &admin_token {
            if token.len() < 16 {
                return Err(bad(
                    "COWRY_ADMIN_TOKEN",
                    "***",
                    "must be at least 16 characters",
                ));
            }
        }
        let dev_api_key = get("COWRY_DEV_API_KEY");
        if let Some(key) = &dev_api_key {
            if !key.starts_with("sk_test_")
                || key.len() < 24
                || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(bad(
                    "COWRY_DEV_API_KEY",
                    "***",
                    "must be a test key: sk_test_ and at least 16 letters or digits",
                ));
            }
        }
        let log_format = match get("COWRY_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(bad("COWRY_LOG_FORMAT", other, "expected text or json")),
        };
        let log_level =
            get("COWRY_LOG").unwrap_or_else(|| "info,sqlx=warn,tower_http=info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(bad(
                "COWRY_LOG",
                &log_level,
                "expected a tracing filter, e.g. info or cowry=debug",
            ));
        }
        let number = |var: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(text) => match text.parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(bad(
                        var,
                        &text,
                        &format!("expected a whole number from 1 to {max}"),
                    )),
                },
            }
        };
        // A count where 0 turns the feature off (a pool, a group-commit writer); otherwise as `number`.
        let count_or_off = |var: &'static str, default: u64, max: u64| match get(var).as_deref() {
            Some("0") => Ok(0),
            _ => number(var, default, max),
        };
        let encryption_key = match get("COWRY_ENCRYPTION_KEY") {
            None => None,
            Some(key) => Some(
                crate::domain::secretbox::SecretBox::from_hex(&key)
                    .map_err(|e| bad("COWRY_ENCRYPTION_KEY", "***", &e.to_string()))?
                    .with_old_keys(
                        get("COWRY_OLD_ENCRYPTION_KEYS")
                            .as_deref()
                            .unwrap_or("")
                            .split(',')
                            .map(str::trim)
                            .filter(|k| !k.is_empty()),
                    )
                    .map_err(|e| bad("COWRY_OLD_ENCRYPTION_KEYS", "***", &e.to_string()))?,
            ),
        };
        if encryption_key.is_none() && get("COWRY_OLD_ENCRYPTION_KEYS").is_some() {
            return Err(bad(
                "COWRY_OLD_ENCRYPTION_KEYS",
                "***",
                "old keys only open values; set COWRY_ENCRYPTION_KEY to the current key too",
            ));
        }
        let extra_root_certs = match get("COWRY_EXTRA_ROOT_CERTS") {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read(&path).map_err(|e| {
                    bad(
                        "COWRY_EXTRA_ROOT_CERTS",
                        &path,
                        &format!("cannot be read: {e}"),
                    )
                })?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                    bad("COWRY_EXTRA_ROOT_CERTS", &path, "expected PEM certificates")
                })?;
                if certificates.is_empty() {
                    return Err(bad(
                        "COWRY_EXTRA_ROOT_CERTS",
                        &path,
                        "expected PEM certificates",
                    ));
                }
                vec![pem]
            }
        };
        let smtp_url = get("COWRY_SMTP_URL").filter(|u| !u.is_empty());
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(bad(
                    "COWRY_SMTP_URL",
                    "***",
                    "expected an smtp:// or smtps:// URL",
                ));
            }
        }
        let smtp_from =
            get("COWRY_SMTP_FROM").unwrap_or_else(|| "Cowry <no-reply@cowry.invalid>".to_owned());
        if smtp_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad(
                "COWRY_SMTP_FROM",
                &smtp_from,
                "expected an address, e.g. Acme <pay@acme.example>",
            ));
        }
        let learning_refresh = match get("COWRY_LEARNING_REFRESH_SECS") {
            None => Duration::from_secs(600),
            Some(text) => match text.parse::<u64>() {
                Ok(secs) if secs <= 86_400 => Duration::from_secs(secs),
                _ => {
                    return Err(bad(
                        "COWRY_LEARNING_REFRESH_SECS",
                        &text,
                        "expected whole seconds from 0 to 86400",
                    ))
                }
            },
        };
        Ok(Config {
            learning_refresh,
            smtp_url: smtp_url.map(Secret::new),
            smtp_from,
            extra_root_certs,
            database_url: Secret::new(database_url),
            bind,
            public_url: public_url.trim_end_matches('/').to_owned(),
            admin_token: admin_token.map(Secret::new),
            metrics_token: metrics_token.map(Secret::new),
            dev_api_key: dev_api_key.map(Secret::new),
            log_format,
            log_level,
            request_timeout: Duration::from_secs(number("COWRY_REQUEST_TIMEOUT_SECS", 30, 3600)?),
            db_max_connections: number("COWRY_DB_MAX_CONNECTIONS", 20, 1000)? as u32,
            worker_db_connections: count_or_off("COWRY_WORKER_DB_CONNECTIONS", 16, 1000)? as u32,
            create_writers: count_or_off("COWRY_CREATE_WRITERS", 6, 64)? as usize,
            receipt_writers: count_or_off("COWRY_RECEIPT_WRITERS", 2, 64)? as usize,
            readers: count_or_off("COWRY_READERS", 2, 64)? as usize,
            expiry_sweep_interval: Duration::from_secs(number(
                "COWRY_EXPIRY_SWEEP_SECS",
                30,
                86_400,
            )?),
            encryption_key,
            // Off unless configured on: emulators are test scaffolding, never for a live deployment.
            emulators: match get("COWRY_EMULATORS").as_deref() {
                Some("true") | Some("1") => true,
                None | Some("false") | Some("0") => false,
                Some(other) => return Err(bad("COWRY_EMULATORS", other, "expected true or false")),
            },
            emulator_autosettle: match get("COWRY_EMULATOR_AUTOSETTLE").as_deref() {
                None | Some("true") | Some("1") => true,
                Some("false") | Some("0") => false,
                Some(other) => {
                    return Err(bad(
                        "COWRY_EMULATOR_AUTOSETTLE",
                        other,
                        "expected true or false",
                    ))
                }
            },
            emulator_settle: Duration::from_millis(number(
                "COWRY_EMULATOR_SETTLE_MS",
                2000,
                3_600_000,
            )?),
            emulator_callback_url: match get("COWRY_EMULATOR_CALLBACK_URL") {
                None => None,
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    Some(url.trim_end_matches('/').to_owned())
                }
                Some(other) => {
                    return Err(bad(
                        "COWRY_EMULATOR_CALLBACK_URL",
                        &other,
                        "expected an http:// or https:// URL",
                    ))
                }
            },
            workers: match get("COWRY_WORKERS").as_deref() {
                None | Some("true") | Some("1") => true,
                Some("false") | Some("0") => false,
                Some(other) => return Err(bad("COWRY_WORKERS", other, "expected true or false")),
            },
            worker_idle: Duration::from_millis(number("COWRY_WORKER_IDLE_MS", 1000, 60_000)?),
            job_lease: Duration::from_secs(number("COWRY_JOB_LEASE_SECS", 120, 86_400)?),
            provider_timeout: Duration::from_secs(number("COWRY_PROVIDER_TIMEOUT_SECS", 30, 600)?),
            rate_limit: crate::http::rate_limit::Rate {
                per_second: match get("COWRY_RATE_LIMIT_PER_SECOND") {
                    None => 100,
                    Some(text) => text.parse::<u32>().map_err(|_| {
                        bad(
                            "COWRY_RATE_LIMIT_PER_SECOND",
                            &text,
                            "expected a whole number (0 turns the limit off)",
                        )
                    })?,
                },
                burst: number("COWRY_RATE_LIMIT_BURST", 200, 1_000_000)? as u32,
            },
            trusted_proxies: match get("COWRY_TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(text) => text
                    .split(',')
                    .map(|part| part.trim().parse())
                    .collect::<Result<Vec<std::net::IpAddr>, _>>()
                    .map_err(|_| {
                        bad(
                            "COWRY_TRUSTED_PROXIES",
                            &text,
                            "expected IP addresses separated by commas",
                        )
                    })?,
            },
            allow_private_networks: match get("COWRY_ALLOW_PRIVATE_NETWORKS").as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(bad(
                        "COWRY_ALLOW_PRIVATE_NETWORKS",
                        other,
                        "expected true or false",
                    ))
                }
            },
            retention: {
                let keep = |var: &'static str, default: &str| -> Result<Duration, ConfigError> {
                    let text = get(var).unwrap_or_else(|| default.to_owned());
                    crate::domain::time::parse_duration(&text)
                        .ok_or_else(|| bad(var, &text, "expected a duration such as 24h or 90d"))
                };
                Retention {
                    idempotency_keys: keep("COWRY_RETAIN_IDEMPOTENCY_KEYS", "24h")?,
                    receipts: keep("COWRY_RETAIN_WEBHOOK_RECEIPTS", "90d")?,
                    rejected_receipts: keep("COWRY_RETAIN_REJECTED_RECEIPTS", "7d")?,
                    failed_jobs: keep("COWRY_RETAIN_FAILED_JOBS", "30d")?,
                    deliveries: keep("COWRY_RETAIN_WEBHOOK_DELIVERIES", "30d")?,
                }
            },
            not_found_grace: Duration::from_secs(number(
                "COWRY_NOT_FOUND_GRACE_SECS",
                300,
                86_400,
            )?),
            webhook_retry_schedule: {
                let text = get("COWRY_WEBHOOK_RETRY_SCHEDULE")
                    .unwrap_or_else(|| crate::domain::events::RETRY_SCHEDULE.to_owned());
                crate::domain::time::parse_schedule(&text).ok_or_else(|| {
                    bad(
                        "COWRY_WEBHOOK_RETRY_SCHEDULE",
                        &text,
                        "expected comma-separated delays like 5s,5m,30m (ms, s, m, h, d)",
                    )
                })?
            },
            reconcile_schedule: {
                let text = get("COWRY_RECONCILE_SCHEDULE")
                    .unwrap_or_else(|| "30s,1m,2m,5m,10m,30m,1h".to_owned());
                crate::domain::time::parse_schedule(&text).ok_or_else(|| {
                    bad(
                        "COWRY_RECONCILE_SCHEDULE",
                        &text,
                        "expected comma-separated delays like 30s,1m,1h (ms, s, m, h)",
                    )
                })?
            },
            debit_notice_lead: {
                let text = get("COWRY_DEBIT_NOTICE_LEAD").unwrap_or_else(|| "24h".to_owned());
                crate::domain::time::parse_duration(&text).ok_or_else(|| {
                    bad(
                        "COWRY_DEBIT_NOTICE_LEAD",
                        &text,
                        "expected one delay like 24h or 3d (ms, s, m, h, d)",
                    )
                })?
            },
            debit_retry_schedule: {
                let text =
                    get("COWRY_DEBIT_RETRY_SCHEDULE").unwrap_or_else(|| "1h,6h,24h".to_owned());
                crate::domain::time::parse_schedule(&text).ok_or_else(|| {
                    bad(
                        "COWRY_DEBIT_RETRY_SCHEDULE",
                        &text,
                        "expected comma-separated delays like 1h,6h,24h (ms, s, m, h, d)",
                    )
                })?
            },
            activation_retry_schedule: {
                let text = get("COWRY_ACTIVATION_RETRY_SCHEDULE")
                    .unwrap_or_else(|| "24h,24h,24h".to_owned());
                crate::domain::time::parse_schedule(&text).ok_or_else(|| {
                    bad(
                        "COWRY_ACTIVATION_RETRY_SCHEDULE",
                        &text,
                        "expected comma-separated delays like 24h,24h,24h (ms, s, m, h, d)",
                    )
                })?
            },
            metrics_refresh: Duration::from_secs(number("COWRY_METRICS_REFRESH_SECS", 15, 3600)?),
            auth_cache_ttl: Duration::from_secs(match get("COWRY_AUTH_CACHE_SECS").as_deref() {
                Some("0") => 0,
                _ => number("COWRY_AUTH_CACHE_SECS", 5, 300)?,
            }),
        })
    }
}

/// The URL with any password replaced, for messages: `postgres://app:***@db:5432/cowry`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_work_on_a_fresh_machine() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_secrets() {
        let e = config(&[("COWRY_BIND", "nope")]).unwrap_err().to_string();
        assert!(e.starts_with("COWRY_BIND=\"nope\" is not valid"), "{e}");
        let e = config(&[("COWRY_DEV_API_KEY", "sk_live_abcdefghijklmnopqrstuv")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("COWRY_DEV_API_KEY") && !e.contains("abcdefgh"),
            "{e}"
        );
        let e = config(&[("DATABASE_URL", "mysql://u:pw@h/db")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("DATABASE_URL") && !e.contains("pw"), "{e}");
        assert!(config(&[("COWRY_LOG_FORMAT", "xml")]).is_err());
        assert!(config(&[("COWRY_REQUEST_TIMEOUT_SECS", "0")]).is_err());
        let e = config(&[("COWRY_ENCRYPTION_KEY", "not-hex-secret")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("COWRY_ENCRYPTION_KEY") && !e.contains("not-hex-secret"),
            "{e}"
        );
    }

    #[test]
    fn zero_turns_a_writer_or_pool_off_and_other_counts_stay_in_range() {
        let c = config(&[("COWRY_READERS", "0"), ("COWRY_WORKER_DB_CONNECTIONS", "0")]).unwrap();
        assert_eq!((c.readers, c.worker_db_connections), (0, 0));
        let c = config(&[]).unwrap();
        let defaults = (c.create_writers, c.receipt_writers, c.readers);
        assert_eq!(defaults, (6, 2, 2));
        assert_eq!(c.worker_db_connections, 16);
        let e = config(&[("COWRY_READERS", "65")]).unwrap_err().to_string();
        assert!(e.contains("COWRY_READERS") && e.contains("1 to 64"), "{e}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/cowry"),
            "postgres://app:***@db:5432/cowry"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/cowry"),
            "postgres://postgres@127.0.0.1/cowry"
        );
        assert!(!format!("{:?}", Secret::new("hunter2")).contains("hunter2"));
    }
}

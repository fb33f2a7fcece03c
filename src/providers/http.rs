//! The one HTTP client every adapter uses: connect and total timeouts, a User-Agent, a tracing span per
//! call (provider, operation, status, latency; never bodies, tokens or account numbers), and bounded
//! retries with jittered backoff for calls that are safe to repeat. A call that is not safe to repeat and
//! whose answer is lost becomes [`ProviderError::Unknown`]: the caller resolves it by asking the provider
//! for the status, never by sending it again.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use tracing::Instrument;

use super::ProviderError;

pub const USER_AGENT: &str = concat!("cowry/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Attempts in all for an idempotent call (1 = no retry).
    pub attempts: u32,
    pub base_backoff: Duration,
    /// Longest `Retry-After` honoured before giving up with `RateLimited`.
    pub max_retry_after: Duration,
    /// Certificate authorities trusted beside the public ones (`COWRY_EXTRA_ROOT_CERTS`).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(5),
            extra_roots: Vec::new(),
        }
    }
}

/// A provider's answer: status, headers and body bytes (any status; adapters map it).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: axum::body::Bytes,
}

#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    policy: HttpPolicy,
    guard: super::guard::Guard,
}

/// The largest answer read from a provider; a larger one is a protocol error, never buffered whole.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What a call does at the provider, which decides whether it may be sent again and what a lost answer
/// means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Reads, and writes that create nothing a customer can pay (tokens, look-ups): retried, and a
    /// lost answer is `Unavailable`.
    Read,
    /// A call that may create a payment, which the provider de-duplicates by a key Cowry sends (MoMo's
    /// `X-Reference-Id`, Paystack's `reference`): retried, but once any try may have reached the
    /// provider, an outcome without a definite answer (timeout, reset, 5xx) is `Unknown`.
    Keyed,
    /// A call that may create something and that the provider does not de-duplicate: sent once; a lost
    /// answer or a 5xx is `Unknown`.
    Once,
}

impl Safety {
    fn creates(self) -> bool {
        self != Safety::Read
    }
}

impl ProviderHttp {
    /// A client that may call any address (for tests and tools that choose their own addresses).
    pub fn new(policy: HttpPolicy) -> ProviderHttp {
        ProviderHttp::guarded(policy, super::guard::Guard::new(true))
    }

    /// A client whose calls go only where `guard` allows: no redirects are followed, names resolve
    /// through the guard, and each URL is checked before anything is sent.
    pub fn guarded(policy: HttpPolicy, guard: super::guard::Guard) -> ProviderHttp {
        let mut builder = reqwest::Client::builder();
        for root in &policy.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .user_agent(USER_AGENT)
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(guard.clone()))
            .build()
            .expect("a TLS backend is compiled in");
        ProviderHttp {
            client,
            policy,
            guard,
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether the outbound policy lets `url` be called (see `providers::guard`); the name is
    /// checked again, resolved, when the client connects.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), &'static str> {
        self.guard.check(url)
    }

    /// Sends `build()` (called again for each attempt) and returns the reply for any HTTP status except
    /// those retried away: 5xx and 429 are retried when `safety` allows, then mapped to errors.
    pub async fn send(
        &self,
        provider: &'static str,
        operation: &'static str,
        safety: Safety,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, ProviderError> {
        let attempts = if safety == Safety::Once {
            1
        } else {
            self.policy.attempts.max(1)
        };
        let mut last_error = None;
        // Whether some try may have reached the provider without a definite answer coming back.
        let mut maybe_sent = false;
        for attempt in 1..=attempts {
            let span = tracing::info_span!(
                "provider_call",
                provider,
                operation,
                attempt,
                status = tracing::field::Empty,
                latency_ms = tracing::field::Empty
            );
            let request = build(&self.client)
                .build()
                .map_err(|_| ProviderError::Protocol {
                    provider,
                    message: "the request could not be built".to_owned(),
                })?;
            if let Err(why) = self.guard.check(request.url()) {
                tracing::warn!(parent: &span, reason = why, "provider address refused");
                return Err(ProviderError::Unavailable {
                    provider,
                    message: format!("Cowry does not call this account's address: {why}"),
                });
            }
            let started = Instant::now();
            let result = self.client.execute(request).instrument(span.clone()).await;
            span.record("latency_ms", started.elapsed().as_millis() as u64);
            let metrics = &crate::metrics::METRICS;
            metrics
                .provider_duration
                .with_label_values(&[provider, operation])
                .observe(started.elapsed().as_secs_f64());
            let outcome = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(e) if e.is_connect() => "connect_error".to_owned(),
                Err(_) => "error".to_owned(),
            };
            metrics
                .provider_calls
                .with_label_values(&[provider, operation, &outcome])
                .inc();
            let wait = match result {
                Ok(response) => {
                    let status = response.status();
                    span.record("status", status.as_u16());
                    let headers = response.headers().clone();
                    let body = match read_capped(response).await {
                        Ok(Some(body)) => body,
                        Ok(None) => {
                            // Read up to the cap and no further: an answer this large is not one.
                            maybe_sent = true;
                            last_error = Some(ProviderError::Protocol {
                                provider,
                                message: format!("answered more than {MAX_ANSWER_BYTES} bytes"),
                            });
                            break;
                        }
                        Err(e) => {
                            maybe_sent = true;
                            last_error = Some(lost(provider, safety, &e));
                            if safety == Safety::Once {
                                break;
                            }
                            continue;
                        }
                    };
                    if status.is_server_error() {
                        maybe_sent = true;
                    }
                    let retryable =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    let retry_after = retry_after(&headers);
                    let last = attempt == attempts
                        || retry_after.is_some_and(|d| d > self.policy.max_retry_after);
                    if retryable && last && maybe_sent && safety.creates() {
                        // A 5xx (or a refusal after a lost try) says nothing about whether the
                        // payment exists: only the provider's status API can tell.
                        return Err(ProviderError::Unknown {
                            provider,
                            message: format!("answered HTTP {}", status.as_u16()),
                        });
                    }
                    if !retryable || last {
                        return Ok(Reply {
                            status,
                            headers,
                            body,
                        });
                    }
                    retry_after.unwrap_or_else(|| self.backoff(attempt))
                }
                Err(e) if e.is_connect() => {
                    // Nothing reached the provider: always safe to try again.
                    tracing::warn!(parent: &span, error = %e, "provider unreachable");
                    last_error = Some(ProviderError::Unavailable {
                        provider,
                        message: "connection failed".to_owned(),
                    });
                    if attempt == attempts && safety == Safety::Once {
                        break;
                    }
                    self.backoff(attempt)
                }
                Err(e) => {
                    tracing::warn!(parent: &span, error = %e, "provider call failed");
                    maybe_sent = true;
                    last_error = Some(lost(provider, safety, &e));
                    if safety == Safety::Once {
                        break;
                    }
                    self.backoff(attempt)
                }
            };
            if attempt < attempts {
                tokio::time::sleep(wait).await;
            }
        }
        let error = last_error.unwrap_or(ProviderError::Unavailable {
            provider,
            message: "no attempt made".to_owned(),
        });
        Err(match error {
            // The last try could not connect, but an earlier one may have gone through.
            ProviderError::Unavailable { message, .. } if maybe_sent && safety.creates() => {
                ProviderError::Unknown { provider, message }
            }
            other => other,
        })
    }

    /// Exponential backoff with full jitter: a random wait up to base × 2^(attempt-1).
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .policy
            .base_backoff
            .saturating_mul(1 << (attempt - 1).min(6));
        let mut byte = [0u8; 2];
        let _ = getrandom::fill(&mut byte);
        ceiling.mul_f64(f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX))
    }
}

/// The answer's body, or `None` when it is larger than [`MAX_ANSWER_BYTES`].
async fn read_capped(
    mut response: reqwest::Response,
) -> Result<Option<axum::body::Bytes>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.into()))
}

/// A request that may have reached the provider but whose answer did not come back.
fn lost(provider: &'static str, safety: Safety, e: &reqwest::Error) -> ProviderError {
    let message = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        "the connection failed mid-call".to_owned()
    };
    if safety.creates() {
        ProviderError::Unknown { provider, message }
    } else {
        ProviderError::Unavailable { provider, message }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from payment APIs and treated as absent).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

//! Prometheus metrics, served at `GET /metrics` in the text exposition format. One process-wide
//! registry: the HTTP layer, the provider client, webhook intake, settlement and the job queue record
//! into it. What only the database knows (the queue's depth, money at risk — shared by processes) is
//! read at most once per `COWRY_METRICS_REFRESH_SECS`, however often Prometheus scrapes.

use std::sync::LazyLock;

use prometheus::{
    exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub provider_calls: IntCounterVec,
    pub provider_duration: HistogramVec,
    pub webhooks: IntCounterVec,
    pub settlements: IntCounterVec,
    pub jobs: IntCounterVec,
    pub webhook_deliveries: IntCounterVec,
    /// Rows per group-committed create statement (`store::group_commit`).
    pub create_batch_rows: prometheus::Histogram,
    pub receipt_batch_rows: prometheus::Histogram,
    /// Callbacks settled per shared transaction before their answer (`jobs::paid_callbacks`).
    pub settlement_batch_rows: prometheus::Histogram,
    /// Look-ups per grouped `GET /collections/{id}` statement (`store::read_batch`).
    pub read_batch_rows: prometheus::Histogram,
    /// Callbacks' payments looked up per grouped statement (`store::read_batch::AttemptsByReference`).
    pub attempt_read_batch_rows: prometheus::Histogram,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("unique metric");
    counter
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    // 1 ms to ~16 s.
    let buckets = exponential_buckets(0.001, 2.0, 15).expect("valid buckets");
    let histogram = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    registry
        .register(Box::new(histogram.clone()))
        .expect("unique metric");
    histogram
}

/// Rows per group-committed statement (`store::group_commit`): 1 to 64.
fn batch_rows(registry: &Registry, name: &str, help: &str) -> prometheus::Histogram {
    let buckets = exponential_buckets(1.0, 2.0, 7).expect("valid buckets");
    let histogram =
        prometheus::Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
            .expect("valid metric");
    registry
        .register(Box::new(histogram.clone()))
        .expect("unique metric");
    histogram
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    Metrics {
        http_requests: counter(
            &registry,
            "cowry_http_requests_total",
            "HTTP requests answered, by method, route and status",
            &["method", "route", "status"],
        ),
        http_duration: histogram(
            &registry,
            "cowry_http_request_duration_seconds",
            "HTTP request latency, by method and route",
            &["method", "route"],
        ),
        provider_calls: counter(
            &registry,
            "cowry_provider_calls_total",
            "HTTP calls to providers, by provider, operation and outcome (HTTP status or error)",
            &["provider", "operation", "outcome"],
        ),
        provider_duration: histogram(
            &registry,
            "cowry_provider_call_duration_seconds",
            "Provider call latency, by provider and operation",
            &["provider", "operation"],
        ),
        webhooks: counter(
            &registry,
            "cowry_webhooks_received_total",
            "Provider callbacks received, by provider and verdict (verified, unsigned, rejected, duplicate)",
            &["provider", "verdict"],
        ),
        webhook_deliveries: counter(
            &registry,
            "cowry_webhook_deliveries_total",
            "Tries to deliver an event to a merchant endpoint, by the delivery's state after the try",
            &["status"],
        ),
        settlements: counter(
            &registry,
            "cowry_settlements_total",
            "Provider reports applied to payments, by source (poll, webhook) and decision",
            &["source", "decision"],
        ),
        jobs: counter(
            &registry,
            "cowry_jobs_total",
            "Jobs run, by kind and outcome (done, retry, gave_up)",
            &["kind", "outcome"],
        ),
        create_batch_rows: batch_rows(
            &registry,
            "cowry_create_batch_rows",
            "Creates written per group-committed statement",
        ),
        receipt_batch_rows: batch_rows(
            &registry,
            "cowry_receipt_batch_rows",
            "Provider callbacks' receipts written per group-committed statement",
        ),
        settlement_batch_rows: batch_rows(
            &registry,
            "cowry_settlement_batch_rows",
            "Provider callbacks settled per shared transaction before their answer",
        ),
        read_batch_rows: batch_rows(
            &registry,
            "cowry_read_batch_rows",
            "Collections looked up per grouped GET statement",
        ),
        attempt_read_batch_rows: batch_rows(
            &registry,
            "cowry_attempt_read_batch_rows",
            "Provider callbacks' payments looked up by reference per grouped statement",
        ),
        registry,
    }
});

/// The registry's metrics plus the job queue's depth, in Prometheus text format.
/// A gauge of money at risk: name, help, and its value for one provider and currency.
type Gauge = (
    &'static str,
    &'static str,
    fn(&crate::store::check::AtRisk) -> i64,
);

pub fn render(gauges: &DatabaseGauges) -> String {
    let (queue, at_risk) = (&gauges.queue, &gauges.at_risk);
    let mut buffer = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut buffer)
        .expect("text encoding cannot fail");
    let mut text = String::from_utf8(buffer).expect("the text format is UTF-8");
    text.push_str(
        "# HELP cowry_jobs_queued Jobs in the queue now (all processes), by kind and status\n",
    );
    text.push_str("# TYPE cowry_jobs_queued gauge\n");
    for (kind, status, count) in queue {
        text.push_str(&format!(
            "cowry_jobs_queued{{kind=\"{kind}\",status=\"{status}\"}} {count}\n"
        ));
    }
    // Money at risk: payments whose outcome is unknown until the provider answers a status query.
    let money_gauges: [Gauge; 3] = [
        (
            "cowry_unknown_attempts",
            "Provider attempts whose outcome is unknown, by provider kind and currency",
            |r| r.count,
        ),
        (
            "cowry_unknown_attempts_oldest_seconds",
            "Age of the oldest unknown attempt, by provider kind and currency",
            |r| r.oldest_seconds,
        ),
        (
            "cowry_unknown_attempts_amount_minor",
            "Money held by unknown attempts, in minor units, by provider kind and currency",
            |r| r.amount_minor,
        ),
    ];
    for (name, help, value) in money_gauges {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for row in at_risk {
            text.push_str(&format!(
                "{name}{{provider=\"{}\",currency=\"{}\"}} {}\n",
                row.provider,
                row.currency.trim(),
                value(row)
            ));
        }
    }
    text.push_str(&format!(
        "# HELP cowry_metrics_database_reads_total Times this process read the database-backed gauges\n\
         # TYPE cowry_metrics_database_reads_total counter\ncowry_metrics_database_reads_total {}\n",
        gauges.reads
    ));
    text
}

/// The gauges only the database knows, as last read.
#[derive(Debug, Clone, Default)]
pub struct DatabaseGauges {
    pub queue: Vec<(String, String, i64)>,
    pub at_risk: Vec<crate::store::check::AtRisk>,
    /// How many times this process has read them (each read is a scan of `jobs` and attempts).
    pub reads: u64,
}

/// Scrapes share one read per interval: the first scrape after it expires reads (others wait for it).
#[derive(Default)]
pub struct GaugeCache {
    last: tokio::sync::Mutex<Option<(std::time::Instant, DatabaseGauges)>>,
}

impl GaugeCache {
    pub async fn get(&self, pool: &sqlx::PgPool, max_age: std::time::Duration) -> DatabaseGauges {
        let mut last = self.last.lock().await;
        if let Some((read_at, gauges)) = last.as_ref() {
            if read_at.elapsed() < max_age {
                return gauges.clone();
            }
        }
        let reads = last.as_ref().map_or(0, |(_, g)| g.reads) + 1;
        let queue = crate::store::jobs::depth(pool).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the job queue's depth for /metrics");
            Vec::new()
        });
        let at_risk = crate::store::check::at_risk(pool)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read unknown attempts for /metrics");
                Vec::new()
            });
        let gauges = DatabaseGauges {
            queue,
            at_risk,
            reads,
        };
        *last = Some((std::time::Instant::now(), gauges.clone()));
        gauges
    }
}

//! The Prometheus metrics of one process: what the workers and the HTTP
//! layer observe (counters and histograms, per process), and the task counts
//! read from the store at scrape time (the same in every process, because
//! the store is shared). Owns metric names and labels; measures nothing itself.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use llmhost_store::task::TaskStatus;
use llmhost_store::{Store, StoreError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorCodeLabel {
    error_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    /// The route's template (`/api/v1/tasks/{task_id}`), never the raw path,
    /// so that ids do not explode the label's values.
    route: String,
    status: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 100 µs to ~6.5 s: from an in-process echo call to a slow upstream.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 9))
}

/// The process's metrics; cheap to share behind an `Arc`.
pub(crate) struct Metrics {
    registry: Registry,
    tasks: Family<StatusLabel, Gauge>,
    queue_depth: Gauge,
    claim_latency: Histogram,
    provider_call: HistogramFamily<ProviderLabel>,
    attempt_errors: Family<ErrorCodeLabel, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<HttpLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("llmhost");
        let m = Self {
            registry: Registry::default(),
            tasks: Family::default(),
            queue_depth: Gauge::default(),
            claim_latency: latency_histogram(),
            provider_call: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            attempt_errors: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        registry.register("tasks", "Tasks in the store, by status", m.tasks.clone());
        registry.register(
            "queue_depth",
            "Pending tasks that are due now (waiting for a worker)",
            m.queue_depth.clone(),
        );
        registry.register(
            "claim_latency_seconds",
            "Time from a task becoming due to a worker of this process claiming it",
            m.claim_latency.clone(),
        );
        registry.register(
            "provider_call_duration_seconds",
            "Duration of provider calls made by this process, by provider",
            m.provider_call.clone(),
        );
        registry.register(
            "attempt_errors",
            "Failed task attempts in this process, by error_code (retried ones included)",
            m.attempt_errors.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration, by method, route and status",
            m.http_duration.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    pub(crate) fn observe_claim(&self, waited: Duration) {
        self.claim_latency.observe(waited.as_secs_f64());
    }

    pub(crate) fn observe_provider_call(&self, provider: &str, took: Duration) {
        self.provider_call
            .get_or_create(&ProviderLabel {
                provider: provider.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn count_attempt_errors(&self, error_code: &'static str, n: u64) {
        self.attempt_errors
            .get_or_create(&ErrorCodeLabel { error_code })
            .inc_by(n);
    }

    pub(crate) fn observe_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Reads the task counts from the store, then renders every metric in
    /// the Prometheus text format.
    pub(crate) async fn render(&self, store: &Store) -> Result<String, StoreError> {
        let counts = store.count_by_status().await?;
        for status in TaskStatus::ALL {
            let n = counts.get(&status).copied().unwrap_or(0);
            self.tasks
                .get_or_create(&StatusLabel {
                    status: status.as_str(),
                })
                .set(n);
        }
        self.queue_depth.set(store.count_due().await?);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        Ok(out)
    }
}

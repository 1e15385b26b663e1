//! The Prometheus metrics of one process: what the workers and the HTTP
//! layer observe (counters and histograms, per process), and the task counts
//! and the usage ledger's totals read from the store at scrape time (the
//! same in every process, because the store is shared). Owns metric names and labels; measures nothing itself.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::routing::Health;
use llmhost_store::task::TaskStatus;
use llmhost_store::usage::{GroupBy, UsageGroup, UsageQuery};
use llmhost_store::{Store, StoreError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

/// A route target, `<instance>/<model>`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorCodeLabel {
    error_code: &'static str,
}

/// A usage group: one of the costliest few, or `other` for the rest.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UsageLabels {
    key: String,
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    key: String,
    provider: String,
    model: String,
    kind: &'static str,
}

/// The usage groups with labels of their own; the rest are summed under
/// `key="other"`, so that the series stay few however many keys and
/// models there are.
const USAGE_SERIES: usize = 20;

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
    usage_requests: Family<UsageLabels, Gauge>,
    usage_tokens: Family<TokenLabels, Gauge>,
    usage_cost: Family<UsageLabels, Gauge<f64, AtomicU64>>,
    deployment_state: Family<TargetLabel, Gauge>,
    deployment_in_flight: Family<TargetLabel, Gauge>,
    deployment_latency: Family<TargetLabel, Gauge<f64, AtomicU64>>,
    deployment_failures: Family<TargetLabel, Counter>,
    /// Held while the failure counters catch up (`observe_deployments`).
    catching_up: std::sync::Mutex<()>,
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
            usage_requests: Family::default(),
            usage_tokens: Family::default(),
            usage_cost: Family::default(),
            deployment_state: Family::default(),
            deployment_in_flight: Family::default(),
            deployment_latency: Family::default(),
            deployment_failures: Family::default(),
            catching_up: std::sync::Mutex::default(),
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
        registry.register(
            "usage_requests",
            "Calls in the usage ledger (all processes), by key, provider and model; the costliest groups, the rest as key=\"other\"",
            m.usage_requests.clone(),
        );
        registry.register(
            "usage_tokens",
            "Tokens in the usage ledger (all processes), by key, provider, model and kind (input, output, cached, reasoning)",
            m.usage_tokens.clone(),
        );
        registry.register(
            "usage_cost_usd",
            "Cost in the usage ledger (all processes), in US dollars, by key, provider and model",
            m.usage_cost.clone(),
        );
        registry.register(
            "deployment_state",
            "Each route target's breaker in this process: 0 healthy, 1 half-open (the next call probes it), 2 cooling down",
            m.deployment_state.clone(),
        );
        registry.register(
            "deployment_in_flight",
            "Calls of each route target running in this process",
            m.deployment_in_flight.clone(),
        );
        registry.register(
            "deployment_latency_seconds",
            "Each route target's moving average (EWMA) of the time to its first token, in this process",
            m.deployment_latency.clone(),
        );
        registry.register(
            "deployment_failures",
            "Each route target's own failures (rate limited, unavailable, timed out, upstream error) in this process",
            m.deployment_failures.clone(),
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

    /// Sets each route target's state, calls in flight and latency, and
    /// brings its failure counter up to the health's total.
    fn observe_deployments(&self, health: &Health) {
        // Two scrapes at once must not both add the same failures.
        let _one_at_a_time = self.catching_up.lock().unwrap_or_else(|e| e.into_inner());
        for (target, state) in health.states() {
            let label = TargetLabel { target };
            let now = health.of(&label.target);
            self.deployment_state
                .get_or_create(&label)
                .set(state.gauge());
            self.deployment_in_flight
                .get_or_create(&label)
                .set(i64::from(now.in_flight));
            if let Some(ms) = now.latency_ms {
                self.deployment_latency
                    .get_or_create(&label)
                    .set(ms / 1_000.0);
            }
            let failures = self.deployment_failures.get_or_create(&label);
            failures.inc_by(now.failures_total.saturating_sub(failures.get()));
        }
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

    /// Reads the task counts from the store and the route targets' health,
    /// then renders every metric in the Prometheus text format.
    pub(crate) async fn render(
        &self,
        store: &Store,
        health: &Health,
    ) -> Result<String, StoreError> {
        self.observe_deployments(health);
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
        self.read_usage(store).await?;
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        Ok(out)
    }

    /// The ledger's totals per key, provider and model, read at scrape
    /// time like the task counts: the same in every process.
    async fn read_usage(&self, store: &Store) -> Result<(), StoreError> {
        let mut groups = store
            .usage(&UsageQuery {
                group_by: vec![GroupBy::Key, GroupBy::Provider, GroupBy::Model],
                from_ms: 0,
                to_ms: i64::MAX,
                key_id: None,
            })
            .await?;
        groups.sort_by_key(|g| std::cmp::Reverse((g.cost_nanousd, g.requests)));
        let mut other = UsageGroup::default();
        for g in groups.iter().skip(USAGE_SERIES) {
            other.requests += g.requests;
            other.input_tokens += g.input_tokens;
            other.output_tokens += g.output_tokens;
            other.cached_tokens += g.cached_tokens;
            other.reasoning_tokens += g.reasoning_tokens;
            other.cost_nanousd += g.cost_nanousd;
        }
        let other_labels = UsageLabels {
            key: "other".into(),
            provider: "other".into(),
            model: "other".into(),
        };
        let shown = groups.iter().take(USAGE_SERIES).map(|g| {
            let labels = UsageLabels {
                key: g.key_id.clone().unwrap_or_else(|| "none".into()),
                provider: g.provider.clone().unwrap_or_default(),
                model: g.model.clone().unwrap_or_default(),
            };
            (labels, g)
        });
        let more = groups.len() > USAGE_SERIES;
        let series: Vec<(UsageLabels, &UsageGroup)> = shown
            .chain(more.then_some((other_labels, &other)))
            .collect();
        // Groups that left the top few leave no stale series behind.
        self.usage_requests.clear();
        self.usage_tokens.clear();
        self.usage_cost.clear();
        for (labels, g) in series {
            self.usage_requests.get_or_create(&labels).set(g.requests);
            self.usage_cost
                .get_or_create(&labels)
                .set(g.cost_nanousd as f64 / 1e9);
            for (kind, n) in [
                ("input", g.input_tokens),
                ("output", g.output_tokens),
                ("cached", g.cached_tokens),
                ("reasoning", g.reasoning_tokens),
            ] {
                let token_labels = TokenLabels {
                    key: labels.key.clone(),
                    provider: labels.provider.clone(),
                    model: labels.model.clone(),
                    kind,
                };
                self.usage_tokens.get_or_create(&token_labels).set(n);
            }
        }
        Ok(())
    }
}

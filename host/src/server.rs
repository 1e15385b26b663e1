//! `llmhost serve`: wires the store, the runtime, the workers and the API
//! together for one process, and shuts them down: at the signal, claiming
//! stops and the listener stops accepting; connections and running tasks
//! then share one grace period, after which running tasks are handed back
//! and the process exits whatever its clients do.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use llmhost_runtime::{Runtime, RuntimeConfig};
use llmhost_store::Store;

use crate::api::{self, ApiConfig, AppState};
use crate::config::{Role, Settings};
use crate::connections::{self, ConnectionLimits};
use crate::metrics::Metrics;
use crate::open_files;
use crate::pricing::Prices;

use crate::reload;
use crate::retention;
use crate::routing::{Health, LiveRoutes, RouteSpec, Routes};
use crate::worker::{self, Shutdown, WorkerConfig};

#[derive(Clone, Debug)]
pub(crate) struct ServeConfig {
    pub(crate) listen: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` are also served, alone.
    pub(crate) metrics_listen: Option<SocketAddr>,
    pub(crate) database_url: String,
    pub(crate) runtime: RuntimeConfig,
    /// Checked against the instances once the runtime has loaded them.
    pub(crate) routes: BTreeMap<String, RouteSpec>,
    /// Whose providers and routes a reload reads again (SIGHUP,
    /// `POST /api/v1/providers/reload`).
    pub(crate) config_file: Option<PathBuf>,
    /// How long the plugins directory and the configuration file must be
    /// quiet after a change before it is reloaded (without file
    /// notifications, how often they are checked); zero: never.
    pub(crate) plugin_reload_interval: Duration,
    pub(crate) role: Role,
    pub(crate) shutdown_grace: Duration,
    pub(crate) header_timeout: Duration,
    /// Unset: from the open-files limit (`open_files`).
    pub(crate) max_connections: Option<usize>,
    pub(crate) api: ApiConfig,
    pub(crate) worker: WorkerConfig,
    /// Days of usage ledger rows kept call by call (`retention`); 0 all.
    pub(crate) usage_retention_days: u32,
    /// How long a keyless `/v1` call's usage row waits for company.
    pub(crate) usage_write_delay: Duration,
}

impl From<Settings> for ServeConfig {
    /// What `serve` runs with: the validated settings, each given to the
    /// part that uses it; what no setting names keeps that part's default.
    fn from(settings: Settings) -> Self {
        let prices = Arc::new(Prices::new(&settings.prices));
        Self {
            listen: settings.listen,
            metrics_listen: settings.metrics_listen,
            database_url: settings.database_url(),
            runtime: RuntimeConfig {
                plugins_dir: settings.plugins_dir(),
                cache_dir: Some(settings.cache_dir()),
                instances: settings.providers.clone(),
                upstream_ca_file: settings.upstream_ca_file.clone(),
            },
            routes: settings.routes.clone(),
            config_file: settings.config_file.clone(),
            plugin_reload_interval: Duration::from_millis(settings.plugin_reload_ms),
            role: settings.role,
            shutdown_grace: Duration::from_millis(settings.shutdown_grace_ms),
            header_timeout: Duration::from_millis(settings.header_timeout_ms),
            max_connections: settings.max_connections,
            usage_retention_days: settings.usage_retention_days,
            usage_write_delay: Duration::from_millis(settings.usage_write_delay_ms),
            api: ApiConfig {
                max_body_bytes: settings.max_body_bytes,
                default_max_attempts: settings.max_attempts,
                auth_tokens: settings.auth_tokens,
                ui: settings.ui,
                prices: prices.clone(),
                reserve_output_tokens: settings.reserve_output_tokens,
                ..ApiConfig::default()
            },
            worker: WorkerConfig {
                concurrency: settings.workers,
                lease: Duration::from_millis(settings.lease_ms),
                retry_delay_max: Duration::from_millis(settings.retry_delay_max_ms),
                prices,
                ..WorkerConfig::default()
            },
        }
    }
}

pub(crate) async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let open_files = open_files::raise_limit();
    let store = Store::connect(&config.database_url).await?;
    store.set_record_delay(config.usage_write_delay);
    let runtime = Arc::new(Runtime::new(config.runtime.clone()).await?);
    tracing::info!(providers = ?runtime.names(), plugins_dir = %runtime.plugins_dir().display(), "runtime ready");
    let routes = LiveRoutes::new(
        Routes::build(&config.routes, &runtime.names()).map_err(anyhow::Error::msg)?,
    );
    let reconfigure = config
        .config_file
        .clone()
        .map(|file| reload::reconfigure(file, runtime.clone(), routes.clone()));
    reload::on_sighup(reconfigure.clone());
    let watcher = (!config.plugin_reload_interval.is_zero())
        .then(|| runtime.clone().watch(config.plugin_reload_interval));
    let file_watcher = match (&config.config_file, &reconfigure) {
        (Some(file), Some(reconfigure)) if !config.plugin_reload_interval.is_zero() => {
            Some(reload::watch(
                file.clone(),
                reconfigure.clone(),
                config.plugin_reload_interval,
            ))
        }
        _ => None,
    };

    let shutdown = Shutdown::default();
    // The signal stops claiming at once, before anything else hears of it.
    let closing = shutdown.stop_claiming.clone();
    tokio::spawn({
        let closing = closing.clone();
        async move {
            shutdown_signal().await;
            closing.cancel();
        }
    });
    let retention = retention::spawn(store.clone(), config.usage_retention_days);
    let metrics = Arc::new(Metrics::default());
    let health = Health::default();
    let pool = if config.role != Role::Api {
        recover_after_restart(&store).await?;
        Some(worker::spawn_pool(
            store.clone(),
            runtime.clone(),
            routes.clone(),
            health.clone(),
            config.worker.clone(),
            shutdown.clone(),
            metrics.clone(),
        ))
    } else {
        None
    };

    let state = AppState::new(api::Shared {
        store: store.clone(),
        runtime: runtime.clone(),
        routes,
        health,
        reconfigure,
        config: config.api.clone(),
        metrics: metrics.clone(),
        closing: closing.clone(),
    });
    let metrics_server = match config.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, state.clone()).await?),
        None => None,
    };

    let api_server = if config.role != Role::Worker {
        let listener = connections::listen(config.listen)?;
        let addr = listener.local_addr()?;
        let limits = ConnectionLimits {
            max_connections: config
                .max_connections
                .unwrap_or_else(|| open_files::default_max_connections(open_files)),
            header_timeout: config.header_timeout,
        };
        tracing::info!(
            max_connections = limits.max_connections,
            open_files,
            "connection limits"
        );
        // Stops accepting at the signal, closes idle keep-alive
        // connections, lets requests in flight finish.
        let server = tokio::spawn(connections::serve(
            listener,
            api::app(state),
            limits,
            closing.clone(),
        ));
        // Scripts and tests wait for this exact line on stdout.
        println!("llmhost listening on http://{addr}");
        tracing::info!(%addr, "API listening");
        Some(server)
    } else {
        println!("llmhost worker running");
        None
    };

    closing.cancelled().await;
    tracing::info!(
        grace_ms = config.shutdown_grace.as_millis(),
        "shutting down"
    );
    // Connections and running tasks share one grace period, from the signal.
    let deadline = tokio::time::Instant::now() + config.shutdown_grace;
    let connections = async {
        if let Some(server) = api_server {
            match tokio::time::timeout_at(deadline, server).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!("API listener panicked: {err}"),
                // Whatever clients still hold open (a request that never
                // finished its headers, a long call) ends with the process.
                Err(_) => tracing::warn!("grace period over; closing open connections"),
            }
        }
    };
    let workers = async {
        if let Some(pool) = pool {
            stop_workers(pool, &shutdown, deadline).await;
        }
    };
    tokio::join!(connections, workers);
    // The usage of keyless calls answered last may still be queued.
    if let Err(err) = store.flush_records().await {
        tracing::error!("usage of the last calls made without a key was not recorded: {err}");
    }
    for watcher in [watcher, file_watcher].into_iter().flatten() {
        watcher.abort();
    }
    if let Some(retention) = retention {
        retention.abort();
    }
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until the process ends.
async fn serve_metrics(
    addr: SocketAddr,
    state: AppState,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = connections::listen(addr)?;
    let addr = listener.local_addr()?;
    // Printed before the readiness line, so that whoever waits for that
    // line has this one too.
    println!("llmhost metrics on http://{addr}");
    tracing::info!(%addr, "metrics listening");
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, api::metrics_app(state)).await {
            tracing::error!("metrics listener failed: {err}");
        }
    }))
}

/// With the embedded database this process is the only one (the store holds
/// a lock on the file), so a task still `running` was left by a process that
/// died: it goes back to pending now instead of after its lease.
async fn recover_after_restart(store: &Store) -> anyhow::Result<()> {
    if store.is_single_process() {
        let rescued = store.recover_after_restart().await?;
        if rescued.total() > 0 {
            tracing::warn!(
                requeued = rescued.requeued,
                failed = rescued.failed,
                cancelled = rescued.cancelled,
                "recovered tasks left running by a previous process"
            );
        }
    }
    Ok(())
}

/// Lets running tasks finish until `deadline` (claiming stopped at the
/// signal), then hands the rest back to pending.
async fn stop_workers(
    mut pool: tokio::task::JoinHandle<()>,
    shutdown: &Shutdown,
    deadline: tokio::time::Instant,
) {
    shutdown.stop_claiming.cancel();
    if tokio::time::timeout_at(deadline, &mut pool).await.is_err() {
        tracing::warn!("grace period over; handing running tasks back to pending");
        shutdown.abort_running.cancel();
        let _ = pool.await;
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}

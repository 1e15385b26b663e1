//! `llmhost serve`: wires the store, the runtime, the workers and the API
//! together for one process, and shuts them down in order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use crate::api::{self, ApiConfig, AppState};
use crate::metrics::Metrics;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;
use crate::worker::{self, Shutdown, WorkerConfig};

/// What one process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Api,
    Worker,
    All,
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Where `/metrics` and `/healthz` are also served, alone.
    pub metrics_listen: Option<SocketAddr>,
    pub database_url: String,
    pub runtime: RuntimeConfig,
    /// How often the plugins directory is checked for changes; zero never.
    pub plugin_reload_interval: Duration,
    pub role: Role,
    pub shutdown_grace: Duration,
    pub api: ApiConfig,
    pub worker: WorkerConfig,
}

/// The plugins the build produced (see host/build.rs), when run from a
/// checkout; otherwise `plugins/` beside the executable.
pub fn bundled_plugins_dir() -> PathBuf {
    let built = PathBuf::from(env!("LLMHOST_BUNDLED_PLUGINS_DIR"));
    if built.is_dir() {
        return built;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("plugins")))
        .unwrap_or_else(|| PathBuf::from("plugins"))
}

pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url).await?;
    let runtime = Arc::new(Runtime::new(config.runtime.clone()).await?);
    tracing::info!(providers = ?runtime.names(), plugins_dir = %runtime.plugins_dir().display(), "runtime ready");
    let watcher = (!config.plugin_reload_interval.is_zero())
        .then(|| runtime.clone().watch(config.plugin_reload_interval));

    let shutdown = Shutdown::default();
    let metrics = Arc::new(Metrics::default());
    let pool = if config.role != Role::Api {
        recover_after_restart(&store).await?;
        Some(worker::spawn_pool(
            store.clone(),
            runtime.clone(),
            config.worker.clone(),
            shutdown.clone(),
            metrics.clone(),
        ))
    } else {
        None
    };

    let state = AppState {
        store: store.clone(),
        runtime: runtime.clone(),
        config: config.api.clone(),
        metrics: metrics.clone(),
    };
    let metrics_server = match config.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, state.clone()).await?),
        None => None,
    };

    if config.role != Role::Worker {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        // Scripts and tests wait for this exact line on stdout.
        println!("llmhost listening on http://{addr}");
        tracing::info!(%addr, "API listening");
        axum::serve(listener, api::app(state))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
    } else {
        println!("llmhost worker running");
        shutdown_signal().await;
    }

    if let Some(pool) = pool {
        stop_workers(pool, &shutdown, config.shutdown_grace).await;
    }
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves `/metrics` and `/healthz` on `addr` until the process ends.
async fn serve_metrics(
    addr: SocketAddr,
    state: AppState,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
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
        if rescued.requeued + rescued.failed > 0 {
            tracing::warn!(
                requeued = rescued.requeued,
                failed = rescued.failed,
                "recovered tasks left running by a previous process"
            );
        }
    }
    Ok(())
}

/// Stops claiming, lets running tasks finish within `grace`, then hands the
/// rest back to pending.
async fn stop_workers(mut pool: tokio::task::JoinHandle<()>, shutdown: &Shutdown, grace: Duration) {
    shutdown.stop_claiming.cancel();
    if tokio::time::timeout(grace, &mut pool).await.is_err() {
        tracing::warn!("grace period over; handing running tasks back to pending");
        shutdown.abort_running.cancel();
        let _ = pool.await;
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
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

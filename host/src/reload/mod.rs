//! Reloading the configuration file's providers and routes while serving
//! (SIGHUP, `POST /api/v1/providers/reload`, and the file written, which
//! `watch` notices): the file is read and
//! checked as at start-up, every instance opened and every route checked
//! against the instances that would serve; only then are both put in force
//! together. Anything wrong refuses the whole file with the reason, and
//! what was in force keeps serving. Running calls and tasks keep the
//! instance and route they began with. Other settings (listen address,
//! database, workers, …) are read at start only.

mod watch;

pub(crate) use watch::spawn as watch;

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use llmhost_runtime::Runtime;

use crate::api::{Reconfigure, Reconfigured};
use crate::config::load_file;
use crate::routing::{LiveRoutes, Routes};

/// The reload of `file` into `runtime` and `routes`.
pub(crate) fn reconfigure(file: PathBuf, runtime: Arc<Runtime>, routes: LiveRoutes) -> Reconfigure {
    Arc::new(move || {
        let (file, runtime, routes) = (file.clone(), runtime.clone(), routes.clone());
        async move { apply(&file, &runtime, &routes).await }.boxed()
    })
}

async fn apply(
    file: &std::path::Path,
    runtime: &Runtime,
    routes: &LiveRoutes,
) -> Result<Reconfigured, String> {
    let shown = file.display().to_string();
    let read = {
        let file = file.to_owned();
        tokio::task::spawn_blocking(move || load_file(&file))
            .await
            .map_err(|e| format!("config file {shown}: {e}"))?
    };
    let settings = read.map_err(|e| format!("{e:#}"))?;
    let invalid = |problem: String| format!("invalid configuration in {shown}: {problem}");
    for (name, spec) in &settings.providers {
        spec.manifest()
            .map_err(|e| invalid(format!("providers.{name}: {e}")))?;
    }
    let mut next = None;
    runtime
        .replace_instances(&settings.providers, |names| {
            next = Some(Routes::build(&settings.routes, names)?);
            Ok(())
        })
        .await
        .map_err(invalid)?;
    let next = next.expect("the check built the routes before the instances were swapped in");
    let reconfigured = Reconfigured {
        file: shown,
        providers: settings.providers.keys().cloned().collect(),
        routes: next.names(),
    };
    routes.replace(next);
    tracing::info!(
        file = %reconfigured.file,
        providers = ?reconfigured.providers,
        routes = ?reconfigured.routes,
        "configuration reloaded"
    );
    Ok(reconfigured)
}

/// Catches SIGHUP now (its default would end the process) and from then
/// on reloads at each one, logging what came of it; without a file there is
/// nothing to read again, which is logged too.
pub(crate) fn on_sighup(reconfigure: Option<Reconfigure>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(err) => {
            tracing::warn!(
                "SIGHUP cannot be caught ({err}); reload with POST /api/v1/providers/reload"
            );
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(reconfigure) = &reconfigure else {
                tracing::warn!("SIGHUP: serve was started without --config; nothing to reload");
                continue;
            };
            if let Err(reason) = reconfigure().await {
                tracing::error!(
                    "reload refused, the configuration in force keeps serving: {reason}"
                );
            }
        }
    });
}

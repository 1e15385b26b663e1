//! The probes an orchestrator asks: `/healthz` is liveness (the process
//! answers HTTP; restarting it would not help anything else), `/readyz` is
//! readiness (the store can commit now and the runtime has providers to
//! call), 503 with the reason when not. Neither needs a token.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiErrorCode};

/// How long readiness waits for the store to commit: a probe must answer
/// before the orchestrator's own timeout (Kubernetes': 1 s by default).
const PROBE_DEADLINE: Duration = Duration::from_millis(800);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `{"status": "ok"}` whenever the process serves HTTP, whatever the store
/// does: a liveness probe, never needs a token.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process is alive", body = Object, example = json!({"status": "ok"})),
    )
)]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `{"status": "ready", "providers": N}` when a write to the store commits
/// within 800 ms and at least one provider is loaded; otherwise 503,
/// `store_unavailable` or `not_ready`, with the reason. Never needs a token.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The store commits and providers are loaded", body = Object,
            example = json!({"status": "ready", "providers": 3})),
        (status = 503, description = "`store_unavailable` (the store cannot commit now, with the reason) or `not_ready` (no provider is loaded)", body = super::error::ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.probe_commit(PROBE_DEADLINE).await?;
    let providers = state.runtime.names().len();
    if providers == 0 {
        return Err(
            ApiError::new(ApiErrorCode::NotReady, "no provider is loaded").with_detail(
                format_args!(
                    "not ready: no provider is loaded from {}",
                    state.runtime.plugins_dir().display()
                ),
            ),
        );
    }
    Ok(Json(json!({ "status": "ready", "providers": providers })))
}

//! `POST /api/v1/providers/{name}/conformance`: runs the built-in
//! conformance suite (the one `llmhost conformance` runs on a file) against
//! a provider instance as this server has it loaded, and answers the
//! report. Hermetic: the instance is opened again beside the serving one
//! with a scripted upstream, so no request reaches the network and no
//! secret's value is read. Admin tokens only (the authentication layer
//! keeps tenant keys out of `/api/v1/providers`).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiErrorCode, ErrorBody};
use super::extract::ApiPath;
use super::{ApiError, AppState};
use crate::conformance;
use llmhost_store::task::TaskError;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(providers_conformance))
}

/// The report: per case what was checked, expected and received, and why
/// it failed or does not apply; `passed`, `failed` and `not_applicable`
/// count them. The same JSON as `llmhost conformance --json`, without the
/// file's size and digest.
#[utoipa::path(
    post,
    path = "/api/v1/providers/{name}/conformance",
    tag = "providers",
    params(("name" = String, Path, description = "The provider instance")),
    responses(
        (status = 200, description = "The conformance report (a failed case is a result, not an error)", body = Object),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 403, description = "A tenant's API key: admin tokens only", body = ErrorBody),
        (status = 404, description = "No provider instance has that name (`provider_not_found`)", body = ErrorBody),
        (status = 422, description = "The instance could not be opened for the suite", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn providers_conformance(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let not_found = || ApiError::from(TaskError::provider_not_found(&name, &state.runtime.names()));
    let component = state
        .runtime
        .get(&name)
        .ok_or_else(not_found)?
        .description()
        .component
        .clone();
    let report = conformance::run_instance(&state.runtime, &name, &component)
        .await
        .ok_or_else(not_found)?
        .map_err(|err| ApiError::new(ApiErrorCode::PluginLoadFailed, format!("{err:#}")))?;
    let body = serde_json::to_value(&report)
        .map_err(|err| ApiError::new(ApiErrorCode::Internal, err.to_string()))?;
    Ok(Json(body))
}

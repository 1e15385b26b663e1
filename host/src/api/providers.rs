//! `GET /api/v1/providers`: the installed providers, in the API's own shape
//! (the runtime's descriptions, copied, so that the runtime stays free of
//! HTTP concerns); `POST /api/v1/providers/reload`: load what changed in the
//! plugins directory now.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::error::{ApiErrorCode, ErrorBody};
use super::{ApiError, AppState};
use llmhost_runtime::{ProviderDescription, ReloadReport};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers_list))
        .routes(routes!(providers_reload))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderList {
    providers: Vec<Provider>,
}

/// An installed provider.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Provider {
    name: String,
    version: String,
    description: String,
    /// The WIT contract version the provider was built against.
    contract_version: String,
    models: Vec<Model>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Model {
    id: String,
    description: String,
}

impl From<ProviderDescription> for Provider {
    fn from(p: ProviderDescription) -> Self {
        Self {
            name: p.name,
            version: p.version,
            description: p.description,
            contract_version: p.contract_version,
            models: p
                .models
                .into_iter()
                .map(|m| Model {
                    id: m.id,
                    description: m.description,
                })
                .collect(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/providers",
    tag = "providers",
    responses(
        (status = 200, description = "The installed providers", body = ProviderList),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn providers_list(State(state): State<AppState>) -> Json<ProviderList> {
    Json(ProviderList {
        providers: state
            .runtime
            .providers()
            .into_iter()
            .map(Provider::from)
            .collect(),
    })
}

/// `200` with what was loaded, kept and removed; `422` naming every file
/// that failed to load (its previous version, if any, keeps serving).
#[utoipa::path(
    post,
    path = "/api/v1/providers/reload",
    tag = "providers",
    responses(
        (status = 200, description = "What was loaded, kept and removed", body = Object),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 422, description = "A plugin file failed to load; the previous versions keep serving", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn providers_reload(
    State(state): State<AppState>,
) -> Result<Json<ReloadReport>, ApiError> {
    let report = state
        .runtime
        .reload()
        .await
        .map_err(|err| ApiError::new(ApiErrorCode::ReloadFailed, format!("{err:#}")))?;
    if report.failed.is_empty() {
        return Ok(Json(report));
    }
    let failures: Vec<String> = report
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.name, f.error))
        .collect();
    Err(ApiError::new(
        ApiErrorCode::PluginLoadFailed,
        format!(
            "refused, previous versions keep serving: {}",
            failures.join("; ")
        ),
    ))
}

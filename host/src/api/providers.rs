//! `GET /api/v1/providers`: the installed providers;
//! `POST /api/v1/providers/reload`: load what changed in the plugins
//! directory now.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::{ApiError, AppState};
use crate::runtime::{ProviderDescription, ReloadReport};

#[derive(Serialize)]
pub struct ProviderList {
    providers: Vec<ProviderDescription>,
}

pub async fn providers_list(State(state): State<AppState>) -> Json<ProviderList> {
    Json(ProviderList {
        providers: state.runtime.providers(),
    })
}

/// `200` with what was loaded, kept and removed; `422` naming every file
/// that failed to load (its previous version, if any, keeps serving).
pub async fn providers_reload(
    State(state): State<AppState>,
) -> Result<Json<ReloadReport>, ApiError> {
    let report = state.runtime.reload().await.map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload_failed",
            format!("{err:#}"),
        )
    })?;
    if report.failed.is_empty() {
        return Ok(Json(report));
    }
    let failures: Vec<String> = report
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.name, f.error))
        .collect();
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "plugin_load_failed",
        format!(
            "refused, previous versions keep serving: {}",
            failures.join("; ")
        ),
    ))
}

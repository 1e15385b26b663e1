//! `GET /api/v1/providers`: the installed providers.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::AppState;
use crate::runtime::ProviderDescription;

#[derive(Serialize)]
pub struct ProviderList {
    providers: Vec<ProviderDescription>,
}

pub async fn providers_list(State(state): State<AppState>) -> Json<ProviderList> {
    Json(ProviderList {
        providers: state.runtime.providers(),
    })
}

//! `GET /api/v1/routes`: every route (`[routes.<alias>]`) with its strategy
//! and targets, and what this process has seen of each target (its
//! breaker, calls in flight, latency, failures), for dashboards and
//! operators. Reads only; the health is per process.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::AppState;
use super::error::ErrorBody;
use crate::routing::{Strategy, Target, TargetHealth};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes_list))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RouteList {
    routes: Vec<RouteView>,
}

/// A route as configured, with its targets' health.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RouteView {
    /// The alias: `/v1`'s `model`, or a task's `model` with no provider.
    name: String,
    /// `fallback`, `weighted`, `least-busy` or `latency`.
    #[schema(value_type = String)]
    strategy: Strategy,
    targets: Vec<TargetView>,
    /// Where a context too long goes, if set.
    context_window_fallback: Option<TargetView>,
    /// The error codes that move a request to the next target.
    fallback_on: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TargetView {
    /// `<instance>/<model>`.
    target: String,
    weight: u32,
    /// In this process.
    health: TargetHealth,
}

impl TargetView {
    fn new(state: &AppState, target: &Target) -> Self {
        let label = target.label();
        Self {
            health: state.health.of(&label),
            target: label,
            weight: target.weight,
        }
    }
}

/// Every route, its targets and their health in this process.
#[utoipa::path(
    get,
    path = "/api/v1/routes",
    tag = "providers",
    responses(
        (status = 200, description = "Every route, by alias", body = RouteList),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn routes_list(State(state): State<AppState>) -> Json<RouteList> {
    let current = state.routes.current();
    let routes = current
        .iter()
        .map(|route| RouteView {
            name: route.name.clone(),
            strategy: route.strategy,
            targets: route
                .targets
                .iter()
                .map(|t| TargetView::new(&state, t))
                .collect(),
            context_window_fallback: route
                .context_window_fallback
                .as_ref()
                .map(|t| TargetView::new(&state, t)),
            fallback_on: route
                .fallback_on
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        })
        .collect();
    Json(RouteList { routes })
}

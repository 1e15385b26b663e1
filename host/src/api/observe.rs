//! `GET /metrics` (Prometheus text format) and the middleware that counts
//! and times every HTTP request by its route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Counts and times the request; requests that matched no route share the
/// label `unmatched`, so that scanners cannot grow the label set.
pub(crate) async fn track_http(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_http(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Logs the error an error response carries (see `ApiError::render`):
/// building an error has no side effect, answering one is logged here.
pub(crate) async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(error) = response.extensions().get::<ApiError>() {
        error.log();
    }
    response
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics_get))
}

/// Every metric of this process, and the task counts of the whole store.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "Authentication is on and no valid token was sent", body = super::error::ErrorBody),
        (status = 503, description = "The store does not answer", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn metrics_get(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.render(&state.store, &state.health).await?;
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

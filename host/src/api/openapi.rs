//! `GET /api/openapi.json`: the OpenAPI 3.1 document of this API, generated
//! from the handlers' and types' annotations (utoipa). Each route is
//! registered together with its operation (`api::routes`), so the document
//! lists exactly the routes the server has. CI fuzzes the API from it (see
//! .ci/run).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, error};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "llmhost",
        description = "Runs LLM providers as WebAssembly components and executes LLM tasks. \
            Every error is `{\"error\": {\"code\", \"message\"}}`. When the server has API \
            tokens, every endpoint but /healthz and /readyz needs `Authorization: Bearer <token>`."
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Rendered once, from the same routes the server runs: the document never
/// changes while the process runs.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    super::routes()
        .into_openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_get))
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"),
        (status = 401, description = "Authentication is on and no valid token was sent", body = error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn openapi_get() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

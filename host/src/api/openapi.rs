//! `GET /api/openapi.json`: the OpenAPI 3.1 document of this API, generated
//! from the handlers' and types' annotations (utoipa), so it cannot drift
//! from the code. CI fuzzes the API from it (see .ci/run).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{error, events, observe, openai, providers, tasks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "llmhost",
        description = "Runs LLM providers as WebAssembly components and executes LLM tasks. \
            Every error is `{\"error\": {\"code\", \"message\"}}`. When the server has API \
            tokens, every endpoint but /healthz needs `Authorization: Bearer <token>`."
    ),
    paths(
        tasks::tasks_create,
        tasks::tasks_list,
        tasks::tasks_get,
        tasks::tasks_cancel,
        events::tasks_events,
        providers::providers_list,
        providers::providers_reload,
        openai::chat_completions,
        openai::models_list,
        super::healthz,
        observe::metrics_get,
        openapi_get,
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

/// Rendered once: the document never changes while the process runs.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

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

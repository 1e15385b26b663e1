//! The HTTP API (axum): routes, their handlers and the JSON error shape.
//! Reads and writes tasks only through the store; never writes the terminal
//! status of a running task.

mod auth;
mod conformance;
mod error;
mod events;
mod extract;
mod health;
pub(crate) mod keys;
mod observe;
pub(crate) mod openai;
mod openapi;
mod overview;
mod providers;
mod reservation;
mod route_list;
mod tasks;
pub(crate) mod tenant;
mod ui;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub(crate) use error::{ApiError, ApiErrorCode, Format};

use crate::metrics::Metrics;
use crate::pricing::Prices;
use crate::routing::{Health, LiveRoutes};
use crate::secret::Secret;
use crate::worker::WorkerConfig;
use llmhost_runtime::Runtime;
use llmhost_store::Store;

/// Settings of the API that clients can observe.
#[derive(Clone, Debug)]
pub(crate) struct ApiConfig {
    /// Largest accepted request body.
    pub(crate) max_body_bytes: usize,
    /// `max_attempts` of a task that does not set it.
    pub(crate) default_max_attempts: u32,
    /// Bearer tokens the API accepts; empty turns authentication off.
    pub(crate) auth_tokens: Vec<Secret>,
    /// The deadline of a synchronous (`/v1`) provider call.
    pub(crate) call_deadline: Duration,
    /// What a `/v1` call cost (`[prices]`), for the usage ledger.
    pub(crate) prices: Arc<Prices>,
    /// What a tenant's request without `max_tokens` reserves for its
    /// answer against its key's tpm (`reservation`).
    pub(crate) reserve_output_tokens: u32,
    /// Whether the dashboard (`/ui`, and `/` sending a browser there) is
    /// served.
    pub(crate) ui: bool,
}

impl ApiConfig {
    /// The most attempts a task may ask for (and the most a default may be).
    pub(crate) const MAX_ATTEMPTS: u32 = 20;
}

/// The one source of these defaults (`Settings` starts from them).
impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            default_max_attempts: 3,
            auth_tokens: Vec::new(),
            // A synchronous call may take as long as a task without a
            // timeout of its own.
            call_deadline: WorkerConfig::default().default_timeout,
            prices: Arc::default(),
            reserve_output_tokens: 1024,
            ui: true,
        }
    }
}

/// Applies the configuration file's providers and routes as they are now,
/// all or nothing: `Err` says why not (the ones in force keep serving).
/// Made by `serve`, which owns the file.
pub(crate) type Reconfigure = Arc<
    dyn Fn() -> futures::future::BoxFuture<'static, Result<Reconfigured, String>> + Send + Sync,
>;

/// What a reload of the configuration file put in force.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Reconfigured {
    /// The file read.
    pub(crate) file: String,
    /// The configured provider instances now.
    pub(crate) providers: Vec<String>,
    /// The routes now.
    pub(crate) routes: Vec<String>,
}

/// What every handler and middleware shares, behind one `Arc`: axum
/// clones the state for each request (every `State` extractor and
/// `from_fn_with_state` layer), and cloning the fields one by one locked
/// the cancellation token's tree and copied the token list each time (2 %
/// of the async path's server CPU in a profile). Fields are read through
/// `Deref`.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) runtime: Arc<Runtime>,
    /// Model aliases, checked against the instances at start-up and at
    /// each reload.
    pub(crate) routes: LiveRoutes,
    /// What this process has seen of each route target.
    pub(crate) health: Health,
    /// Re-reads the configuration file's providers and routes; `None`
    /// when the process was started without a file.
    pub(crate) reconfigure: Option<Reconfigure>,
    pub(crate) config: ApiConfig,
    pub(crate) metrics: Arc<Metrics>,
    /// Cancelled when the process starts shutting down: long-lived
    /// responses (event streams) end with a final event.
    pub(crate) closing: tokio_util::sync::CancellationToken,
}

/// Every route with its OpenAPI operation, registered together: the router
/// and the document (`openapi`) are both made from this, so neither can
/// list a route the other lacks.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(tasks::routes())
        .merge(keys::routes())
        .merge(usage::routes())
        .merge(events::routes())
        .merge(overview::routes())
        .merge(providers::routes())
        .merge(conformance::routes())
        .merge(route_list::routes())
        .merge(openai::routes())
        .merge(operations())
        .merge(openapi::routes())
}

/// `/healthz`, `/readyz` and `/metrics`: also what a process's metrics
/// listener serves alone.
fn operations() -> OpenApiRouter<AppState> {
    health::routes().merge(observe::routes())
}

/// The whole API as a router, so tests can drive it without a socket.
pub(crate) fn app(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let auth = auth::Auth {
        tokens: auth::Tokens::new(&state.config.auth_tokens),
        store: state.store.clone(),
    };
    let (router, _) = routes().split_for_parts();
    let router = if state.config.ui {
        router.merge(ui::routes())
    } else {
        router
    };
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // Outermost first: trace everything, count everything (401s too),
        // then authenticate.
        .layer(middleware::from_fn_with_state(auth, auth::require_token))
        .layer(middleware::from_fn(observe::log_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::track_http,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Only `/metrics`, `/healthz` and `/readyz`, guarded like the API: what the metrics
/// listener of a process serves (a worker-only process has no other).
pub(crate) fn metrics_app(state: AppState) -> Router {
    let auth = auth::Auth {
        tokens: auth::Tokens::new(&state.config.auth_tokens),
        store: state.store.clone(),
    };
    let (router, _) = operations().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(auth, auth::require_token))
        .layer(middleware::from_fn(observe::log_errors))
        .with_state(state)
}

async fn not_found(uri: http::Uri) -> ApiError {
    ApiError::new(
        ApiErrorCode::NotFound,
        format!("no route for {}", uri.path()),
    )
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError::new(
        ApiErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

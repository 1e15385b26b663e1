//! `GET /api/v1/providers`: the installed providers, in the API's own shape
//! (the runtime's descriptions, copied, so that the runtime stays free of
//! HTTP concerns), with the limits and egress each instance runs under
//! (secret headers by origin and name only, never a value or template);
//! `POST /api/v1/providers/reload`: load what changed in the plugins
//! directory now.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::error::{ApiErrorCode, ErrorBody};
use super::{ApiError, AppState, Reconfigured};
use llmhost_runtime::{CapabilityDescription, Manifest, ProviderDescription};
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
    /// `*.wasm` entries of the plugins directory that were not loaded, and
    /// why (not a regular file, too large, not a component, …). Each is
    /// tried again when it changes; a provider of that name that loaded
    /// earlier keeps serving.
    refused: Vec<RefusedFile>,
}

/// A plugin file the runtime refused.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RefusedFile {
    /// The provider name the file would have had (`<name>.wasm`).
    name: String,
    /// Why it was refused.
    error: String,
}

/// A provider instance: a component under a name, with its own
/// configuration, egress and secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Provider {
    /// What tasks' `provider` and `/v1` models (`<name>/<model>`) call it.
    name: String,
    /// The component it runs (`<component>.wasm`); the same as `name` for
    /// a component's default instance.
    component: String,
    version: String,
    description: String,
    /// The WIT contract version the provider was built against.
    contract_version: String,
    /// What the provider accepts, unless a model says otherwise.
    capabilities: Capabilities,
    models: Vec<Model>,
    /// What was found at load that does not stop the provider from serving
    /// but will surprise a caller: a component without a manifest beside it
    /// (it has no config and may reach no host). Empty when all is well.
    warnings: Vec<String>,
    /// The limits it runs under (`[limits]` of its manifest or instance,
    /// defaults filled in): memory, output and string sizes, log lines and
    /// bytes, and any other the runtime enforces, by their manifest names.
    #[schema(value_type = Object)]
    limits: serde_json::Value,
    egress: Egress,
}

/// Where an instance may connect, as its manifest or instance says.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Egress {
    /// Origins it may reach (`scheme://host[:port]`, `*.` for subdomains);
    /// empty: none.
    allow: Vec<String>,
    /// Addresses normally refused (loopback, private, …) that the allowed
    /// hosts may resolve to.
    allow_addresses: Vec<String>,
    connect_timeout_ms: u64,
    first_byte_timeout_ms: u64,
    between_bytes_timeout_ms: u64,
    max_response_bytes: u64,
    max_connections_per_origin: u64,
    /// Headers the host adds for an origin: the origin and the header's
    /// name only.
    secret_headers: Vec<SecretHeader>,
}

/// A header the host adds to an origin's requests; its value is never
/// shown.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SecretHeader {
    origin: String,
    header: String,
}

impl From<&Manifest> for Egress {
    fn from(m: &Manifest) -> Self {
        let e = &m.egress;
        Self {
            allow: e.allow.clone(),
            allow_addresses: e.allow_addresses.clone(),
            connect_timeout_ms: e.connect_timeout_ms,
            first_byte_timeout_ms: e.first_byte_timeout_ms,
            between_bytes_timeout_ms: e.between_bytes_timeout_ms,
            max_response_bytes: e.max_response_bytes,
            max_connections_per_origin: e.max_connections_per_origin,
            secret_headers: m
                .secrets
                .iter()
                .map(|s| SecretHeader {
                    origin: s.origin.clone(),
                    header: s.header.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Model {
    id: String,
    description: String,
    /// This model's capabilities where they differ from its provider's.
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<Capabilities>,
}

/// Declared capabilities, named as the contract names them.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Capabilities {
    /// Contract features (`tools`, `json-schema`, `seed`, …).
    features: Vec<String>,
    /// Media types accepted in message parts (`image/*`); empty: text only.
    input_media: Vec<String>,
}

impl From<CapabilityDescription> for Capabilities {
    fn from(c: CapabilityDescription) -> Self {
        Self {
            features: c.features.into_iter().map(str::to_owned).collect(),
            input_media: c.input_media,
        }
    }
}

impl Provider {
    fn new(p: ProviderDescription, manifest: &Manifest) -> Self {
        Self {
            name: p.name,
            component: p.component,
            version: p.version,
            description: p.description,
            contract_version: p.contract_version,
            capabilities: p.capabilities.into(),
            models: p
                .models
                .into_iter()
                .map(|m| Model {
                    id: m.id,
                    description: m.description,
                    capabilities: m.capabilities.map(Capabilities::from),
                })
                .collect(),
            warnings: p.warnings,
            // Limits hold numbers only: nothing secret.
            limits: serde_json::to_value(&manifest.limits).unwrap_or_default(),
            egress: manifest.into(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/providers",
    tag = "providers",
    responses(
        (status = 200, description = "The provider instances: each component under its own name, and the configured instances; and the plugin files refused", body = ProviderList),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn providers_list(State(state): State<AppState>) -> Json<ProviderList> {
    Json(ProviderList {
        // Each instance's description and manifest from the one plugin
        // serving it (a reload in between cannot mix two versions).
        providers: state
            .runtime
            .names()
            .into_iter()
            .filter_map(|name| state.runtime.get(&name))
            .map(|plugin| Provider::new(plugin.description().clone(), plugin.manifest()))
            .collect(),
        refused: state
            .runtime
            .refused()
            .into_iter()
            .map(|f| RefusedFile {
                name: f.name,
                error: f.error,
            })
            .collect(),
    })
}

/// What `POST /api/v1/providers/reload` did.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Reloaded {
    /// Plugin files newly loaded or replaced.
    loaded: Vec<String>,
    unchanged: Vec<String>,
    removed: Vec<String>,
    /// The configuration file's providers and routes now in force; absent
    /// when the server was started without a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration: Option<Reconfigured>,
}

/// Loads what changed in the plugins directory, then applies the
/// configuration file's `[providers.*]` and `[routes.*]` as they are now.
/// `200` with what was loaded, kept and removed and what is in force; `422`
/// naming every file that failed to load (its previous version, if any,
/// keeps serving), or a configuration that cannot be used, with the
/// reason (the providers and routes in force keep serving).
#[utoipa::path(
    post,
    path = "/api/v1/providers/reload",
    tag = "providers",
    responses(
        (status = 200, description = "What was loaded, kept and removed, and the providers and routes in force", body = Reloaded),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 422, description = "A plugin file failed to load, or the configuration file cannot be used (`invalid_configuration`); what served before keeps serving", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn providers_reload(
    State(state): State<AppState>,
) -> Result<Json<Reloaded>, ApiError> {
    let report = state
        .runtime
        .reload()
        .await
        .map_err(|err| ApiError::new(ApiErrorCode::ReloadFailed, format!("{err:#}")))?;
    if !report.failed.is_empty() {
        let failures: Vec<String> = report
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.name, f.error))
            .collect();
        return Err(ApiError::new(
            ApiErrorCode::PluginLoadFailed,
            format!(
                "refused, previous versions keep serving: {}",
                failures.join("; ")
            ),
        ));
    }
    let configuration = match &state.reconfigure {
        Some(reconfigure) => Some(reconfigure().await.map_err(|reason| {
            ApiError::new(
                ApiErrorCode::InvalidConfiguration,
                format!("{reason}; the providers and routes in force keep serving"),
            )
        })?),
        None => None,
    };
    Ok(Json(Reloaded {
        loaded: report.loaded,
        unchanged: report.unchanged,
        removed: report.removed,
        configuration,
    }))
}

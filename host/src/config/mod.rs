//! The configuration of `llmhost serve`: built-in defaults, a TOML file,
//! environment variables and flags, merged in that order (a flag beats its
//! variable, which beats the file, which beats the default), then validated.
//! Owns every setting's name, default and rule; knows nothing of how they run.

mod file;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use llmhost_runtime::InstanceSpec;

use serde::{Deserialize, Serialize};

pub(crate) use file::load_file;

use crate::api::ApiConfig;
use crate::pricing::{Price, Prices};
use crate::routing::{RouteSpec, Routes};
use crate::secret::{DatabaseUrl, Secret};
use crate::worker::WorkerConfig;

/// What one process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Api,
    Worker,
    All,
}

/// Log format on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Human,
    Json,
}

/// Every setting of `llmhost serve`. A key of the TOML file is the flag's
/// name with `_` for `-` (`--lease-ms` is `lease_ms`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    /// A second address serving only `/metrics`, `/healthz` and `/readyz`: how a
    /// worker-only process (which has no API) is scraped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://…`; unset means `llmhost.db` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) database_url: Option<DatabaseUrl>,
    pub(crate) data_dir: PathBuf,
    /// Unset means the bundled plugins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) plugins_dir: Option<PathBuf>,
    /// How long after the plugins directory or this file last changed it
    /// is reloaded, in ms (without inotify, how often they are checked);
    /// 0 never.
    pub(crate) plugin_reload_ms: u64,
    /// Where compiled plugins are cached; unset means `cache` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// A PEM file of CA certificates that upstream servers' certificates
    /// may chain to, besides the webpki roots (an internal vLLM behind a
    /// private CA); read at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_ca_file: Option<PathBuf>,
    pub(crate) workers: usize,
    pub(crate) role: Role,
    pub(crate) max_attempts: u32,
    pub(crate) lease_ms: u64,
    /// The longest a failed attempt waits for its retry, in ms, whatever an
    /// upstream's `retry-after` asks.
    pub(crate) retry_delay_max_ms: u64,
    pub(crate) shutdown_grace_ms: u64,
    /// How long a request's headers may take, the wait for the next
    /// request on an idle keep-alive connection included.
    pub(crate) header_timeout_ms: u64,
    /// API connections held at once; unset means three quarters of the
    /// open-files limit (raised to its hard value at start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_body_bytes: usize,
    pub(crate) log_format: LogFormat,
    /// Whether the web dashboard is served at `/ui` (and `/` sends a
    /// browser there); off, both answer 404 and the API is unchanged.
    pub(crate) ui: bool,
    /// Bearer tokens the API accepts; empty means no authentication.
    pub(crate) auth_tokens: Vec<Secret>,
    /// Provider instances (`[providers.<name>]`): a component under another
    /// name with its own config, egress and secrets. Each component also
    /// serves under its own name with its manifest, unless an instance
    /// takes that name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) providers: BTreeMap<String, InstanceSpec>,
    /// Model aliases over instances (`[routes.<alias>]`), for `/v1`
    /// clients' `model`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) routes: BTreeMap<String, RouteSpec>,
    /// US dollars per million tokens, by `<provider>/<model>` pattern
    /// (`[prices."openai/*"]`): what the usage ledger and budgets count.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) prices: BTreeMap<String, Price>,
    /// What a tenant's request that sets no `max_tokens` reserves for its
    /// answer against its key's tpm until it ends.
    pub(crate) reserve_output_tokens: u32,
    /// Usage ledger rows older than this many days are rolled up into one
    /// row per key, provider, model, route, outcome and day; 0 keeps
    /// every row.
    pub(crate) usage_retention_days: u32,
    /// How long the usage row of a `/v1` call made without a key, written
    /// after its answer, may wait for others to share its statement and
    /// commit; 0 writes each as soon as the store is free.
    pub(crate) usage_write_delay_ms: u64,
    /// The file these settings were read from, if any: `serve` reads its
    /// providers and routes again on reload.
    #[serde(skip)]
    pub(crate) config_file: Option<PathBuf>,
}

/// What the API and the workers default to is theirs to say (`ApiConfig`,
/// `WorkerConfig`); only the settings of the process itself are set here.
impl Default for Settings {
    fn default() -> Self {
        let api = ApiConfig::default();
        let worker = WorkerConfig::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            database_url: None,
            data_dir: PathBuf::from(".llmhost"),
            plugins_dir: None,
            plugin_reload_ms: 2_000,
            cache_dir: None,
            upstream_ca_file: None,
            workers: worker.concurrency,
            role: Role::All,
            max_attempts: api.default_max_attempts,
            lease_ms: millis(worker.lease),
            retry_delay_max_ms: millis(worker.retry_delay_max),
            shutdown_grace_ms: 10_000,
            header_timeout_ms: 30_000,
            max_connections: None,
            max_body_bytes: api.max_body_bytes,
            log_format: LogFormat::Human,
            ui: api.ui,
            auth_tokens: Vec::new(),
            providers: BTreeMap::new(),
            routes: BTreeMap::new(),
            prices: BTreeMap::new(),
            reserve_output_tokens: api.reserve_output_tokens,
            usage_retention_days: 90,
            usage_write_delay_ms: 50,
            config_file: None,
        }
    }
}

/// The most `usage_write_delay_ms` may be: a minute of usage a `kill -9`
/// could lose is already more than anyone wants.
const MAX_USAGE_WRITE_DELAY_MS: u64 = 60_000;

/// The most `usage_retention_days` may be: ten years.
const MAX_RETENTION_DAYS: u32 = 3_660;

/// The most `retry_delay_max_ms` may be: a week.
const MAX_RETRY_DELAY_MS: u64 = 7 * 24 * 3_600_000;

/// The shortest token accepted: a guessable token is no protection.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// A setting that is not acceptable, and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub(crate) struct Invalid {
    pub(crate) key: &'static str,
    pub(crate) problem: String,
}

fn invalid(key: &'static str, problem: impl Into<String>) -> Invalid {
    Invalid {
        key,
        problem: problem.into(),
    }
}

impl Settings {
    /// Checks the rules serde cannot express. The first broken rule is the
    /// error, named by its key.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.workers < 1 {
            return Err(invalid("workers", "must be at least 1"));
        }
        if self.lease_ms < 100 {
            return Err(invalid("lease_ms", "must be at least 100"));
        }
        if !(1..=MAX_RETRY_DELAY_MS).contains(&self.retry_delay_max_ms) {
            return Err(invalid(
                "retry_delay_max_ms",
                format!("must be between 1 and {MAX_RETRY_DELAY_MS} (7 days)"),
            ));
        }
        if !(1..=ApiConfig::MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(invalid(
                "max_attempts",
                format!("must be between 1 and {}", ApiConfig::MAX_ATTEMPTS),
            ));
        }
        if self.header_timeout_ms < 100 {
            return Err(invalid("header_timeout_ms", "must be at least 100"));
        }
        if self.max_connections == Some(0) {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            let known = ["sqlite:", "postgres:", "postgresql:"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                return Err(invalid(
                    "database_url",
                    "must start with sqlite:// or postgres://",
                ));
            }
        }
        if self.role != Role::All && self.database_url().starts_with("sqlite:") {
            // The embedded database belongs to one process (its lock file):
            // an API alone would accept tasks no worker can ever open, and a
            // worker alone would have nothing submitted to it.
            return Err(invalid(
                "role",
                format!(
                    "--role {} needs PostgreSQL: the embedded SQLite database serves one \
                     process, so use --role all, or set --database-url postgres://…",
                    if self.role == Role::Api {
                        "api"
                    } else {
                        "worker"
                    }
                ),
            ));
        }
        for (i, token) in self.auth_tokens.iter().enumerate() {
            check_token(token.expose()).map_err(|problem| Invalid {
                key: "auth_tokens",
                problem: format!("token {}: {problem}", i + 1),
            })?;
        }
        for name in self.providers.keys() {
            llmhost_runtime::check_instance_name(name).map_err(|problem| Invalid {
                key: "providers",
                problem: format!("{name:?}: {problem}"),
            })?;
        }
        if let Some(path) = &self.upstream_ca_file {
            // Read as the runtime will read it, so that `config check`
            // names a file that is missing or holds no certificate.
            llmhost_runtime::UpstreamTls::with_ca_file(path)
                .map_err(|e| invalid("upstream_ca_file", format!("{e:#}")))?;
        }
        Prices::check(&self.prices).map_err(|problem| invalid("prices", problem))?;
        if self.reserve_output_tokens < 1 {
            return Err(invalid("reserve_output_tokens", "must be at least 1"));
        }
        if self.usage_retention_days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "usage_retention_days",
                format!("must be at most {MAX_RETENTION_DAYS} (0 keeps every row)"),
            ));
        }
        if self.usage_write_delay_ms > MAX_USAGE_WRITE_DELAY_MS {
            return Err(invalid(
                "usage_write_delay_ms",
                format!("must be at most {MAX_USAGE_WRITE_DELAY_MS}"),
            ));
        }
        let serves_http = self.role != Role::Worker;
        if serves_http && !self.listen.ip().is_loopback() && self.auth_tokens.is_empty() {
            return Err(invalid(
                "auth_tokens",
                format!(
                    "listening on {} (not a loopback address) requires at least one API token; \
                     set --auth-token, LLMHOST_AUTH_TOKENS or auth_tokens in the config file",
                    self.listen
                ),
            ));
        }
        if let Some(addr) = self.metrics_listen
            && !addr.ip().is_loopback()
            && self.auth_tokens.is_empty()
        {
            return Err(invalid(
                "auth_tokens",
                format!(
                    "metrics on {addr} (not a loopback address) require at least one API token; \
                     set --auth-token, LLMHOST_AUTH_TOKENS or auth_tokens in the config file"
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("llmhost.db").display()),
        }
    }

    /// The effective configuration as TOML, secrets masked: what
    /// `llmhost config check` prints.
    pub(crate) fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        // `DatabaseUrl` serialises with its password masked.
        shown.database_url = Some(DatabaseUrl::new(self.database_url()));
        shown.plugins_dir = Some(self.plugins_dir());
        shown.cache_dir = Some(self.cache_dir());
        // `Secret` serialises masked: the tokens print as "****".
        toml::to_string(&shown).expect("settings serialise to TOML")
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }

    /// Every instance names a component of the plugins directory: checked
    /// by `config check` and before `serve` starts anything, so that a typo
    /// is named at once rather than answered `provider_not_found` later.
    pub(crate) fn check_instances(&self) -> Result<(), Invalid> {
        if self.providers.is_empty() && self.routes.is_empty() {
            return Ok(());
        }
        let dir = self.plugins_dir();
        let components = llmhost_runtime::component_names(&dir)
            .map_err(|e| invalid("plugins_dir", format!("{e:#}")))?;
        for (name, spec) in &self.providers {
            spec.manifest().map_err(|e| Invalid {
                key: "providers",
                problem: format!("providers.{name}: {e}"),
            })?;
            if !components.contains(&spec.plugin) {
                return Err(Invalid {
                    key: "providers",
                    problem: format!(
                        "providers.{name}: plugin {:?} is not in {} (there: {})",
                        spec.plugin,
                        dir.display(),
                        components.join(", ")
                    ),
                });
            }
        }
        let mut instances: Vec<String> = components;
        instances.extend(self.providers.keys().cloned());
        instances.sort();
        instances.dedup();
        Routes::build(&self.routes, &instances).map_err(|problem| invalid("routes", problem))?;
        Ok(())
    }

    /// The plugins directory: the one set, else the bundled plugins.
    pub(crate) fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir.clone().unwrap_or_else(bundled_plugins_dir)
    }
}

/// The plugins the build produced (see host/build.rs), when run from a
/// checkout; otherwise `plugins/` beside the executable.
pub fn bundled_plugins_dir() -> PathBuf {
    let built = PathBuf::from(env!("LLMHOST_BUNDLED_PLUGINS_DIR"));
    if built.is_dir() {
        return built;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("plugins")))
        .unwrap_or_else(|| PathBuf::from("plugins"))
}

/// A duration as the whole milliseconds a setting holds.
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("a default duration fits in u64 milliseconds")
}

/// Tokens travel in an HTTP header: visible ASCII only, and long enough.
fn check_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!("must be at least {MIN_TOKEN_LEN} characters"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters only (no spaces)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;

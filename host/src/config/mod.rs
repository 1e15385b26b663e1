//! The configuration of `llmhost serve`: built-in defaults, a TOML file,
//! environment variables and flags, merged in that order (a flag beats its
//! variable, which beats the file, which beats the default), then validated.
//! Owns every setting's name, default and rule; knows nothing of how they run.

mod file;
mod secret;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use file::load_file;
pub use secret::{DatabaseUrl, Secret};

use crate::api::ApiConfig;
use crate::runtime::RuntimeConfig;
use crate::server::{Role, ServeConfig};
use crate::worker::WorkerConfig;

/// Log format on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Every setting of `llmhost serve`. A key of the TOML file is the flag's
/// name with `_` for `-` (`--lease-ms` is `lease_ms`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    /// A second address serving only `/metrics` and `/healthz`: how a
    /// worker-only process (which has no API) is scraped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://…`; unset means `llmhost.db` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<DatabaseUrl>,
    pub data_dir: PathBuf,
    /// Unset means the bundled plugins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_dir: Option<PathBuf>,
    /// How often the plugins directory is checked for changes, in ms; 0 never.
    pub plugin_reload_ms: u64,
    /// Where compiled plugins are cached; unset means `cache` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    pub workers: usize,
    pub role: Role,
    pub max_attempts: u32,
    pub lease_ms: u64,
    pub shutdown_grace_ms: u64,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    /// Bearer tokens the API accepts; empty means no authentication.
    pub auth_tokens: Vec<Secret>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            database_url: None,
            data_dir: PathBuf::from(".llmhost"),
            plugins_dir: None,
            plugin_reload_ms: 2_000,
            cache_dir: None,
            workers: 16,
            role: Role::All,
            max_attempts: 3,
            lease_ms: 30_000,
            shutdown_grace_ms: 10_000,
            max_body_bytes: 1 << 20,
            log_format: LogFormat::Human,
            auth_tokens: Vec::new(),
        }
    }
}

/// The shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// A setting that is not acceptable, and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct Invalid {
    pub key: &'static str,
    pub problem: String,
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
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.workers < 1 {
            return Err(invalid("workers", "must be at least 1"));
        }
        if self.lease_ms < 100 {
            return Err(invalid("lease_ms", "must be at least 100"));
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err(invalid("max_attempts", "must be between 1 and 20"));
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
        for (i, token) in self.auth_tokens.iter().enumerate() {
            check_token(token.expose()).map_err(|problem| Invalid {
                key: "auth_tokens",
                problem: format!("token {}: {problem}", i + 1),
            })?;
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

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("llmhost.db").display()),
        }
    }

    /// The effective configuration as TOML, secrets masked: what
    /// `llmhost config check` prints.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        // `DatabaseUrl` serialises with its password masked.
        shown.database_url = Some(DatabaseUrl::new(self.database_url()));
        shown.plugins_dir = Some(
            self.plugins_dir
                .clone()
                .unwrap_or_else(crate::server::bundled_plugins_dir),
        );
        shown.cache_dir = Some(self.cache_dir());
        // `Secret` serialises masked: the tokens print as "****".
        toml::to_string(&shown).expect("settings serialise to TOML")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }

    /// What `serve` runs with.
    pub fn into_serve_config(self) -> ServeConfig {
        let database_url = self.database_url();
        let cache_dir = self.cache_dir();
        ServeConfig {
            listen: self.listen,
            metrics_listen: self.metrics_listen,
            database_url,
            runtime: RuntimeConfig {
                plugins_dir: self
                    .plugins_dir
                    .unwrap_or_else(crate::server::bundled_plugins_dir),
                cache_dir: Some(cache_dir),
            },
            plugin_reload_interval: Duration::from_millis(self.plugin_reload_ms),
            role: self.role,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            api: ApiConfig {
                max_body_bytes: self.max_body_bytes,
                default_max_attempts: self.max_attempts,
                auth_tokens: self.auth_tokens,
            },
            worker: WorkerConfig {
                concurrency: self.workers,
                lease: Duration::from_millis(self.lease_ms),
                ..WorkerConfig::default()
            },
        }
    }
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

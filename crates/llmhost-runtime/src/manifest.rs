//! A plugin's manifest, `<name>.toml` beside `<name>.wasm`, written by the
//! operator: where the plugin may connect, which secrets the host adds to
//! its requests, its limits, and non-secret settings. Absent means the
//! defaults: no egress, no secrets, default limits, no settings (and the
//! provider is flagged: `Plugin::load`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files;
use super::secret::SecretTemplate;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub egress: EgressManifest,
    /// Headers the host adds to requests for an origin; the plugin neither
    /// sees nor can set them.
    #[serde(default, rename = "secret")]
    pub secrets: Vec<SecretHeader>,
    #[serde(default)]
    pub limits: Limits,
    /// Non-secret settings the plugin reads through `config-get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressManifest {
    /// Origins the plugin may reach: `scheme://host[:port]`; a host starting
    /// with `*.` matches its subdomains. Nothing is allowed by default.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Addresses (or CIDR ranges) normally refused — loopback, private,
    /// link-local, cloud metadata — that allowed hosts may resolve to.
    #[serde(default)]
    pub allow_addresses: Vec<String>,
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "defaults::first_byte_timeout_ms")]
    pub first_byte_timeout_ms: u64,
    #[serde(default = "defaults::between_bytes_timeout_ms")]
    pub between_bytes_timeout_ms: u64,
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: u64,
    /// Connections open at once to one origin, in use or idle (an h2
    /// connection counts once); a request finding none free waits for one,
    /// at most `first_byte_timeout_ms`.
    #[serde(default = "defaults::max_connections_per_origin")]
    pub max_connections_per_origin: u64,
}

impl Default for EgressManifest {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_addresses: Vec::new(),
            connect_timeout_ms: defaults::connect_timeout_ms(),
            first_byte_timeout_ms: defaults::first_byte_timeout_ms(),
            between_bytes_timeout_ms: defaults::between_bytes_timeout_ms(),
            max_response_bytes: defaults::max_response_bytes(),
            max_connections_per_origin: defaults::max_connections_per_origin(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    /// The allowed origin whose requests get the header.
    pub origin: String,
    /// The header's name, e.g. `authorization`.
    pub header: String,
    /// The header's value; `${VAR}` is replaced by the host environment's
    /// variable `VAR` when the plugin loads.
    pub value: SecretTemplate,
    /// Path prefixes of the origin whose requests get the header (`/v1/`);
    /// empty: every path of the origin.
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The most linear memory one instance may use.
    #[serde(default = "defaults::memory_bytes")]
    pub memory_bytes: usize,
    /// The largest completion text accepted.
    #[serde(default = "defaults::max_output_bytes")]
    pub max_output_bytes: usize,
    /// The largest model name, error message or metadata string accepted.
    #[serde(default = "defaults::max_string_bytes")]
    pub max_string_bytes: usize,
    /// The most log lines one call may write.
    #[serde(default = "defaults::max_log_lines")]
    pub max_log_lines: u64,
    /// The most bytes of log one call may write.
    #[serde(default = "defaults::max_log_bytes")]
    pub max_log_bytes: u64,
    /// The most calls of this provider running at once; one more fails
    /// with `capacity_exhausted` (retryable).
    #[serde(default = "defaults::max_concurrent_calls")]
    pub max_concurrent_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: defaults::memory_bytes(),
            max_output_bytes: defaults::max_output_bytes(),
            max_string_bytes: defaults::max_string_bytes(),
            max_log_lines: defaults::max_log_lines(),
            max_log_bytes: defaults::max_log_bytes(),
            max_concurrent_calls: defaults::max_concurrent_calls(),
        }
    }
}

/// The defaults, documented in the README.
mod defaults {
    pub(super) fn connect_timeout_ms() -> u64 {
        10_000
    }
    pub(super) fn first_byte_timeout_ms() -> u64 {
        120_000
    }
    /// A streamed answer may pause while the model thinks.
    pub(super) fn between_bytes_timeout_ms() -> u64 {
        120_000
    }
    /// Streamed answers are framed (SSE, NDJSON): tens of bytes of framing
    /// per token, so the body is far larger than the 1 MiB text it carries.
    pub(super) fn max_response_bytes() -> u64 {
        64 << 20
    }
    /// Four times the default worker concurrency: a burst of synchronous
    /// calls beyond it waits instead of opening hundreds of connections.
    pub(super) fn max_connections_per_origin() -> u64 {
        64
    }
    pub(super) fn memory_bytes() -> usize {
        64 << 20
    }
    pub(super) fn max_output_bytes() -> usize {
        1 << 20
    }
    /// A vendor's error message is a few hundred bytes; a model name, tens.
    pub(super) fn max_string_bytes() -> usize {
        8 << 10
    }
    pub(super) fn max_log_lines() -> u64 {
        1_000
    }
    pub(super) fn max_log_bytes() -> u64 {
        256 << 10
    }
    /// A quarter of the runtime's instance pool.
    pub(super) fn max_concurrent_calls() -> usize {
        crate::engine::MAX_LIVE_INSTANCES as usize / 4
    }
}

impl Manifest {
    /// Reads the manifest beside `wasm`, the default (no config, no
    /// egress) if there is none: a regular file of at most 1 MiB (blocking).
    pub fn load_beside(wasm: &Path) -> anyhow::Result<Self> {
        Ok(Self::find_beside(wasm)?.unwrap_or_default())
    }

    /// Reads the manifest beside `wasm`; `None` when there is none.
    pub fn find_beside(wasm: &Path) -> anyhow::Result<Option<Self>> {
        let path = wasm.with_extension("toml");
        match files::read_regular(&path, files::MAX_MANIFEST_BYTES) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("manifest {}: not UTF-8", path.display()))?;
                let manifest = Self::parse(&text)
                    .map_err(|e| anyhow::anyhow!("manifest {}: {e}", path.display()))?;
                Ok(Some(manifest))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(anyhow::anyhow!("manifest {}: {e}", path.display())),
        }
    }

    /// Parses and range-checks a manifest: a value outside its range is
    /// refused, named, never clamped.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Self = toml::from_str(text)?;
        manifest.check_ranges()?;
        Ok(manifest)
    }

    pub(crate) fn check_ranges(&self) -> Result<(), ManifestError> {
        let e = &self.egress;
        let l = &self.limits;
        let checks: [(&'static str, u64, u64, u64); 11] = [
            (
                "egress.connect_timeout_ms",
                e.connect_timeout_ms,
                1,
                ranges::HOUR_MS,
            ),
            (
                "egress.first_byte_timeout_ms",
                e.first_byte_timeout_ms,
                1,
                ranges::HOUR_MS,
            ),
            (
                "egress.between_bytes_timeout_ms",
                e.between_bytes_timeout_ms,
                1,
                ranges::HOUR_MS,
            ),
            (
                "egress.max_response_bytes",
                e.max_response_bytes,
                1,
                ranges::MAX_RESPONSE_BYTES,
            ),
            (
                "egress.max_connections_per_origin",
                e.max_connections_per_origin,
                1,
                ranges::MAX_CONNECTIONS_PER_ORIGIN,
            ),
            (
                "limits.memory_bytes",
                l.memory_bytes as u64,
                ranges::MIN_MEMORY_BYTES,
                ranges::MAX_MEMORY_BYTES,
            ),
            (
                "limits.max_output_bytes",
                l.max_output_bytes as u64,
                1,
                ranges::MAX_OUTPUT_BYTES,
            ),
            (
                "limits.max_string_bytes",
                l.max_string_bytes as u64,
                64,
                ranges::MAX_STRING_BYTES,
            ),
            (
                "limits.max_log_lines",
                l.max_log_lines,
                0,
                ranges::MAX_LOG_LINES,
            ),
            (
                "limits.max_log_bytes",
                l.max_log_bytes,
                0,
                ranges::MAX_LOG_BYTES,
            ),
            (
                "limits.max_concurrent_calls",
                l.max_concurrent_calls as u64,
                1,
                ranges::MAX_CONCURRENT_CALLS,
            ),
        ];
        for (key, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(ManifestError::OutOfRange {
                    key,
                    value,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Syntax(#[from] toml::de::Error),
    #[error("{key} = {value} is out of range: it must be between {min} and {max}")]
    OutOfRange {
        key: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
}

/// The accepted range of each bound, documented in docs/plugins.md.
pub(crate) mod ranges {
    pub(crate) const HOUR_MS: u64 = 3_600_000;
    pub(crate) const MAX_RESPONSE_BYTES: u64 = 1 << 30;
    /// Sockets are file descriptors: a few thousand per origin is already
    /// more than one upstream should be asked to hold.
    pub(crate) const MAX_CONNECTIONS_PER_ORIGIN: u64 = 4_096;
    /// A Rust component needs about a megabyte to start.
    pub(crate) const MIN_MEMORY_BYTES: u64 = 1 << 20;
    /// The pooling allocator's slot size (`engine::MAX_MEMORY_BYTES`).
    pub(crate) const MAX_MEMORY_BYTES: u64 = crate::engine::MAX_MEMORY_BYTES as u64;
    pub(crate) const MAX_OUTPUT_BYTES: u64 = 64 << 20;
    pub(crate) const MAX_STRING_BYTES: u64 = 1 << 20;
    pub(crate) const MAX_LOG_LINES: u64 = 1_000_000;
    pub(crate) const MAX_LOG_BYTES: u64 = 64 << 20;
    /// Half the runtime's instance pool: one provider can never take all
    /// of it from the others.
    pub(crate) const MAX_CONCURRENT_CALLS: u64 = crate::engine::MAX_LIVE_INSTANCES as u64 / 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_out_of_range_is_refused_and_named() {
        for (text, key) in [
            (
                "[limits]\nmemory_bytes = 9223372036854775807",
                "limits.memory_bytes",
            ),
            ("[limits]\nmemory_bytes = 1024", "limits.memory_bytes"),
            ("[limits]\nmax_output_bytes = 0", "limits.max_output_bytes"),
            (
                "[egress]\nmax_connections_per_origin = 0",
                "egress.max_connections_per_origin",
            ),
            (
                "[egress]\nconnect_timeout_ms = 0",
                "egress.connect_timeout_ms",
            ),
            (
                "[egress]\nfirst_byte_timeout_ms = 3600001",
                "egress.first_byte_timeout_ms",
            ),
            (
                "[egress]\nmax_response_bytes = 0",
                "egress.max_response_bytes",
            ),
            (
                "[limits]\nmax_concurrent_calls = 513",
                "limits.max_concurrent_calls",
            ),
            (
                "[limits]\nmax_concurrent_calls = 0",
                "limits.max_concurrent_calls",
            ),
        ] {
            let err = Manifest::parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with(key) && err.contains("out of range"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn the_defaults_and_the_range_ends_are_accepted() {
        Manifest::parse("").unwrap();
        Manifest::parse("[limits]\nmemory_bytes = 1073741824\nmax_output_bytes = 1").unwrap();
    }

    #[test]
    fn a_negative_value_is_a_syntax_error_naming_the_key() {
        let err = Manifest::parse("[limits]\nmemory_bytes = -1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory_bytes"), "{err}");
    }
}

//! Which version of the plugin contract a component was built against, read
//! from the names of the interfaces it exports and imports
//! (`llmhost:provider/provider@0.1.0`), and whether this host can load it:
//! the same major version (for 0.x, the same minor) and not newer than ours.
//! wasmtime itself resolves a compatible older version's names against ours.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::CONTRACT_VERSION;

/// The contract's WIT package.
pub const PACKAGE: &str = "llmhost:provider";

/// What a component says about the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractUse {
    /// The contract version it was built against; `None` when it neither
    /// exports nor imports any contract interface.
    pub version: Option<semver::Version>,
    /// Every import, by its full name (WASI and contract interfaces).
    pub imports: Vec<String>,
    /// Every export, by its full name.
    pub exports: Vec<String>,
}

impl ContractUse {
    pub fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
        // Exports first: what a plugin implements decides its contract.
        let version = exports
            .iter()
            .chain(&imports)
            .filter_map(|name| contract_version(name))
            .next();
        Self {
            version,
            imports,
            exports,
        }
    }

    /// Whether the host can load the component; the error says why not in
    /// words that name both versions.
    pub fn check(&self) -> Result<(), String> {
        let Some(version) = &self.version else {
            return Err(format!(
                "it exports no {PACKAGE} interface: not an llmhost provider (exports: {})",
                list(&self.exports)
            ));
        };
        compatible(version)
    }

    /// The version as text, or `unknown`.
    pub fn version_text(&self) -> String {
        self.version
            .as_ref()
            .map_or_else(|| "unknown".into(), ToString::to_string)
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The version in `llmhost:provider/<interface>@<version>`, if `name` is one.
fn contract_version(name: &str) -> Option<semver::Version> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (_interface, version) = rest.split_once('@')?;
    semver::Version::parse(version).ok()
}

/// This host's contract version.
pub fn host_version() -> semver::Version {
    semver::Version::parse(CONTRACT_VERSION).expect("CONTRACT_VERSION is semver")
}

/// A plugin may use an older release of our series, never a newer one nor
/// another series: a newer one may call what we do not offer.
pub fn compatible(plugin: &semver::Version) -> Result<(), String> {
    let host = host_version();
    let series = |v: &semver::Version| {
        if v.major == 0 {
            (0, v.minor)
        } else {
            (v.major, 0)
        }
    };
    let host_series = match series(&host) {
        (0, minor) => format!("0.{minor}.x"),
        (major, _) => format!("{major}.x"),
    };
    if series(plugin) != series(&host) || plugin > &host || !plugin.pre.is_empty() {
        return Err(format!(
            "built against contract {plugin}; this host speaks {host_series} ({host})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

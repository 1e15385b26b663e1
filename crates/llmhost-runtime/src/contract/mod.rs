//! The plugin contract's versions, side by side: one module of bindings per
//! supported series (`v0_1`, `v0_2`), the newest of which gives the host its
//! types; `exports` calls a plugin of any of them. This file reads which
//! version a component was built against (from the names of the interfaces
//! it exports and imports, `llmhost:provider/provider@0.1.0`) and decides
//! whether the host loads it: the released versions, `wit/versions/*`, are
//! exactly the ones it loads.

pub(crate) mod exports;
pub(crate) mod v0_1;
pub(crate) mod v0_2;

use wasmtime::Engine;
use wasmtime::component::Component;

include!(concat!(env!("OUT_DIR"), "/released.rs"));

/// The contract's WIT package.
pub const PACKAGE: &str = "llmhost:provider";

/// The newest contract version, whose types the host speaks.
pub const CONTRACT_VERSION: &str = v0_2::VERSION;

/// A series of compatible releases with one module of bindings: wasmtime
/// resolves an older release's names against the module's (newest) ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    V0_1,
    V0_2,
}

impl Series {
    /// Every series, oldest first.
    pub const ALL: [Series; 2] = [Series::V0_1, Series::V0_2];

    /// The series `version` belongs to, if this host has a module for it.
    pub fn of(version: &semver::Version) -> Option<Self> {
        match (version.major, version.minor) {
            (0, 1) => Some(Self::V0_1),
            (0, 2) => Some(Self::V0_2),
            _ => None,
        }
    }

    /// The release its module's bindings were generated from.
    pub fn bound_version(self) -> &'static str {
        match self {
            Self::V0_1 => v0_1::VERSION,
            Self::V0_2 => v0_2::VERSION,
        }
    }
}

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

    /// The series the host loads the component as; the error says why not
    /// in words that name both versions.
    pub fn check(&self) -> Result<Series, String> {
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

/// The versions this host loads, in words: `0.1.0, 0.1.1, 0.2.0`.
pub fn supported() -> String {
    RELEASED.join(", ")
}

/// A plugin must be built against a released version: a newer one may call
/// what this host does not offer, an unreleased one may differ from it.
pub fn compatible(plugin: &semver::Version) -> Result<Series, String> {
    let released = RELEASED.contains(&plugin.to_string().as_str());
    match Series::of(plugin) {
        Some(series) if released => Ok(series),
        _ => Err(format!(
            "built against contract {plugin}; this host speaks {}",
            supported()
        )),
    }
}

#[cfg(test)]
mod tests;

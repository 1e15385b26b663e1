//! The plugin runtime: one wasmtime engine, the providers found by name in a
//! plugins directory, and calls into them in fresh sandboxes. It knows
//! nothing of tasks or the store.

mod bindings;
mod engine;
mod limits;
mod manifest;
mod plugin;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use bindings::{
    CONTRACT_VERSION, Completion, FinishReason, Message, Params, ProviderError, RateLimit, Request,
    Role, Usage,
};
pub use plugin::{CallError, ModelDescription, Plugin, ProviderDescription};
use state::PluginState;

/// The installed providers, by name.
pub struct Runtime {
    plugins_dir: PathBuf,
    plugins: BTreeMap<String, Arc<Plugin>>,
}

impl Runtime {
    /// Loads every `<name>.wasm` in `plugins_dir`. A file that fails to load
    /// is reported and skipped: its name stays unknown, so tasks naming it
    /// fail with `provider_not_found` instead of reaching something else.
    pub async fn load(plugins_dir: &Path) -> anyhow::Result<Self> {
        let engine = engine::new_engine()?;
        let linker = new_linker(&engine)?;
        let mut plugins = BTreeMap::new();
        for (name, path) in discover(plugins_dir)? {
            match Plugin::load(&engine, &linker, &name, &path).await {
                Ok(plugin) => {
                    tracing::info!(provider = %name, version = %plugin.description().version, "loaded provider");
                    plugins.insert(name, Arc::new(plugin));
                }
                Err(err) => {
                    tracing::error!(provider = %name, path = %path.display(), "could not load provider: {err:#}")
                }
            }
        }
        Ok(Self {
            plugins_dir: plugins_dir.to_owned(),
            plugins,
        })
    }

    pub fn plugins_dir(&self) -> &Path {
        &self.plugins_dir
    }

    /// The provider called `name`, if it is installed. Never a substitute.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.get(name).cloned()
    }

    /// Names of the installed providers, sorted.
    pub fn names(&self) -> Vec<String> {
        self.plugins.keys().cloned().collect()
    }

    pub fn providers(&self) -> Vec<ProviderDescription> {
        self.plugins
            .values()
            .map(|p| p.description().clone())
            .collect()
    }
}

/// The imports every plugin may use: WASI (granting nothing; see `state`)
/// and the contract's `host` interface.
fn new_linker(engine: &Engine) -> anyhow::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// `(name, path)` of every `*.wasm` file in `dir`, sorted by name.
fn discover(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("plugins directory {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wasm")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            found.push((stem.to_owned(), path));
        }
    }
    found.sort();
    Ok(found)
}

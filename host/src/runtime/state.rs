//! What one plugin call owns inside its `Store`: a WASI context that grants
//! nothing (no files, no environment, no sockets), resource limits, and the
//! host imports of the contract (`log`, `config-get`).

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{LogLevel, llmhost};
use super::limits::Limits;

/// The most linear memory one plugin instance may use.
pub const MEMORY_LIMIT_BYTES: usize = 64 << 20;

pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: Limits,
    plugin: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
}

impl PluginState {
    pub fn new(plugin: Arc<str>, config: Arc<BTreeMap<String, String>>) -> Self {
        // The builder's defaults grant no preopened directories, no
        // environment, no arguments and no network; stdio goes nowhere.
        let wasi = WasiCtx::builder().build();
        let limits = Limits::new(MEMORY_LIMIT_BYTES);
        Self {
            wasi,
            table: ResourceTable::new(),
            limits,
            plugin,
            config,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl llmhost::provider::types::Host for PluginState {}

impl llmhost::provider::host::Host for PluginState {
    fn log(&mut self, level: LogLevel, message: String) {
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

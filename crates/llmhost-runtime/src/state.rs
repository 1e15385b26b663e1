//! What one plugin call owns inside its `Store`: a WASI context that grants
//! nothing (no files, no environment, no sockets), wasi:http routed through
//! the plugin's egress hooks, resource limits, and the contract's host
//! imports (`log`, `config-get`) of every supported contract version.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::contract::{v0_1, v0_2};
use super::egress::{EgressHooks, EgressPolicy, IncidentLog};
use super::limits::Limits;
use super::ticker::Ticking;

pub struct PluginState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: EgressHooks,
    table: ResourceTable,
    pub(super) limits: Limits,
    pub(super) incidents: IncidentLog,
    plugin: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
    /// Epochs advance (deadlines tick) while this call's store lives.
    _ticking: Ticking,
}

impl PluginState {
    pub fn new(
        plugin: Arc<str>,
        config: Arc<BTreeMap<String, String>>,
        egress: Arc<EgressPolicy>,
        memory_bytes: usize,
    ) -> Self {
        // The builder's defaults grant no preopened directories, no
        // environment, no arguments and no sockets; stdio goes nowhere.
        let wasi = WasiCtx::builder().build();
        let incidents = IncidentLog::default();
        let hooks = EgressHooks::new(egress, incidents.clone(), plugin.clone());
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
            table: ResourceTable::new(),
            limits: Limits::new(memory_bytes),
            incidents,
            plugin,
            config,
            _ticking: Ticking::start(),
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

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl PluginState {
    fn log(&self, level: v0_2::LogLevel, message: &str) {
        use v0_2::LogLevel;
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl v0_2::llmhost::provider::types::Host for PluginState {}

impl v0_2::llmhost::provider::host::Host for PluginState {
    fn log(&mut self, level: v0_2::LogLevel, message: String) {
        PluginState::log(self, level, &message);
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

impl v0_1::llmhost::provider::types::Host for PluginState {}

impl v0_1::llmhost::provider::host::Host for PluginState {
    fn log(&mut self, level: v0_1::LogLevel, message: String) {
        PluginState::log(self, v0_1::log_level(level), &message);
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

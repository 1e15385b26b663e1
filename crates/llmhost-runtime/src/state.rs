//! What one plugin call owns inside its `Store`: a WASI context that grants
//! nothing (no files, no environment, no sockets), wasi:http routed through
//! the plugin's egress hooks, resource limits, and the contract's host
//! imports (`log`, `config-get`) of every supported contract version.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::contract::{v0_1, v0_2};
use super::egress::{EgressHooks, EgressPolicy, Incident, IncidentLog};
use super::escape::Escaped;
use super::limits::Limits;
use super::manifest;
use super::panic::Stderr;
use super::redact::Redactor;
use super::ticker::Ticking;

/// Handles (fields, requests, bodies, streams, pollables) one call may
/// hold at once; a plugin needs tens.
pub(crate) const MAX_RESOURCES: usize = 1_024;
/// Bytes one `wasi:http` fields resource (a request's or response's
/// headers) may hold in the host; so all of a call's fields hold at most
/// `MAX_RESOURCES` times this.
pub(crate) const MAX_FIELDS_BYTES: usize = 32 << 10;

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
    log: LogBudget,
    /// Where a panic message is found after a trap.
    pub(super) stderr: Stderr,
    redactor: Arc<Redactor>,
    /// The provider's slot this call holds (`Plugin::new_store_with`).
    _slot: OwnedSemaphorePermit,
}

/// What is left of a call's log lines and bytes.
struct LogBudget {
    lines: u64,
    bytes: u64,
    /// The limits, to name them when they are crossed.
    limits: (u64, u64),
}

impl PluginState {
    pub(crate) fn new(
        plugin: Arc<str>,
        config: Arc<BTreeMap<String, String>>,
        egress: Arc<EgressPolicy>,
        limits: &manifest::Limits,
        redactor: Arc<Redactor>,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        // The builder's defaults grant no preopened directories, no
        // environment, no arguments and no sockets; stdin and stdout go
        // nowhere, and stderr is kept only to read a panic out of it.
        let stderr = Stderr::default();
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let incidents = IncidentLog::new(redactor.clone());
        let hooks = EgressHooks::new(egress, incidents.clone(), plugin.clone());
        Self {
            wasi,
            http: {
                let mut http = WasiHttpCtx::new();
                http.set_field_size_limit(MAX_FIELDS_BYTES);
                http
            },
            hooks,
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            limits: Limits::new(limits.memory_bytes),
            incidents,
            plugin,
            config,
            _ticking: Ticking::start(),
            redactor,
            _slot: slot,
            log: LogBudget {
                lines: limits.max_log_lines,
                bytes: limits.max_log_bytes,
                limits: (limits.max_log_lines, limits.max_log_bytes),
            },
            stderr,
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
    /// Escaped (a plugin cannot forge or split a line) and bounded per
    /// call: past `max_log_lines` or `max_log_bytes` nothing more is
    /// written, and the call fails with `resource_limit`.
    fn log(&mut self, level: v0_2::LogLevel, message: &str) {
        use v0_2::LogLevel;
        let plugin = &*self.plugin;
        let budget = &mut self.log;
        let size = message.len() as u64;
        if budget.lines == 0 || budget.bytes < size {
            let (lines, bytes) = budget.limits;
            let why = format!(
                "the provider wrote more log than one call may: {lines} lines or {bytes} bytes \
                 (limits.max_log_lines, limits.max_log_bytes)"
            );
            if self.incidents.record(Incident::Limit(why.clone())) {
                tracing::warn!(plugin, "{why}; its further lines are not written");
            }
            budget.lines = 0;
            return;
        }
        budget.lines -= 1;
        budget.bytes -= size;
        let mut message = message.to_owned();
        self.redactor.redact(&mut message);
        let message = Escaped(&message);
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

//! The runtime as the plugin author kit uses it (`plugin inspect`,
//! `conformance`): components compiled from bytes without the plugins
//! directory, opened with any manifest and, when asked, answered by a
//! scripted upstream instead of the network. The sandbox is the server's.

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::contract::ContractUse;
use super::contract::v0_2::ProviderInfo;
use super::egress::{EgressPolicy, ScriptedUpstream};
use super::manifest::Manifest;
use super::plugin::Plugin;
use super::state::PluginState;

/// One engine and linker, configured exactly as the server's.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<PluginState>,
}

impl Sandbox {
    pub fn new() -> anyhow::Result<Self> {
        let engine = super::engine::new_engine()?;
        let linker = super::new_linker(&engine)?;
        Ok(Self { engine, linker })
    }

    /// Compiles a component (no cache: the kit looks at one file once).
    pub fn compile(&self, wasm: &[u8]) -> anyhow::Result<Component> {
        super::binary::check_component(wasm)?;
        Ok(Component::from_binary(&self.engine, wasm)?)
    }

    /// The contract version the component was built against, its imports
    /// and exports.
    pub fn contract(&self, component: &Component) -> ContractUse {
        ContractUse::of(&self.engine, component)
    }

    /// Links the component under `name` with `manifest`'s policy and asks
    /// it for its metadata (returned as declared, even when its name is not
    /// `name`). With a script, its requests never reach the network.
    pub async fn open(
        &self,
        component: &Component,
        name: &str,
        manifest: Manifest,
        script: Option<Arc<ScriptedUpstream>>,
    ) -> anyhow::Result<(Plugin, ProviderInfo)> {
        // Hermetic: a scripted upstream needs no credential, so no secret is
        // read; the manifest's secrets are still checked as the server
        // checks them, and their headers stay the host's alone.
        let egress = match script {
            Some(script) => {
                EgressPolicy::from_manifest_without_secret_values(&manifest)?.with_script(script)
            }
            None => EgressPolicy::from_manifest(&manifest)?,
        };
        Plugin::open(
            &self.engine,
            &self.linker,
            component,
            name,
            manifest,
            egress,
        )
        .await
    }
}

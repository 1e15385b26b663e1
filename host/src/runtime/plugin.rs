//! One loaded provider: its compiled component, pre-linked once
//! (`InstancePre`), and its metadata. Every call runs in a fresh `Store`,
//! bounded by a deadline and a memory limit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{
    CONTRACT_VERSION, Completion, PluginPre, ProviderError, ProviderInfo, Request,
};
use super::manifest::Manifest;
use super::state::PluginState;

/// What the host tells clients about an installed provider.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderDescription {
    pub name: String,
    pub version: String,
    pub description: String,
    pub contract_version: String,
    pub models: Vec<ModelDescription>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelDescription {
    pub id: String,
    pub description: String,
}

/// A call that did not produce the plugin's own answer: the host's layer of
/// failure, kept apart from the plugin's typed `ProviderError`.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the provider did not answer within {0:?}")]
    DeadlineExceeded(Duration),
    #[error("the provider exceeded its memory limit of {limit} bytes")]
    MemoryLimit { limit: usize },
    #[error("the provider trapped: {0}")]
    Trap(String),
}

pub struct Plugin {
    name: Arc<str>,
    description: ProviderDescription,
    engine: Engine,
    pre: PluginPre<PluginState>,
    config: Arc<BTreeMap<String, String>>,
}

impl Plugin {
    /// Compiles and links `<name>.wasm`, then asks it for its metadata. The
    /// plugin's declared name must match the file's.
    pub async fn load(
        engine: &Engine,
        linker: &Linker<PluginState>,
        name: &str,
        wasm: &Path,
    ) -> anyhow::Result<Self> {
        let manifest = Manifest::load_beside(wasm)?;
        let component = Component::from_file(engine, wasm)?;
        let pre = PluginPre::new(linker.instantiate_pre(&component)?)?;
        let mut plugin = Self {
            name: name.into(),
            description: ProviderDescription {
                name: name.to_owned(),
                version: String::new(),
                description: String::new(),
                contract_version: CONTRACT_VERSION.to_owned(),
                models: Vec::new(),
            },
            engine: engine.clone(),
            pre,
            config: Arc::new(manifest.config),
        };
        let info = plugin.metadata(Duration::from_secs(5)).await?;
        anyhow::ensure!(
            info.name == name,
            "{} declares the name {:?}; a provider's name must match its file name",
            wasm.display(),
            info.name
        );
        plugin.description.version = info.version;
        plugin.description.description = info.description;
        plugin.description.models = info
            .models
            .into_iter()
            .map(|m| ModelDescription {
                id: m.id,
                description: m.description,
            })
            .collect();
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &ProviderDescription {
        &self.description
    }

    /// Runs `complete` in a fresh instance. The outer `Result` is the host's
    /// (deadline, trap, memory); the inner one is the plugin's answer.
    pub async fn complete(
        &self,
        request: &Request,
        deadline: Duration,
    ) -> Result<Result<Completion, ProviderError>, CallError> {
        let mut store = self.new_store();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .llmhost_provider_provider()
                .call_complete(&mut store, request)
                .await
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        self.classify(outcome, &store, deadline)
    }

    async fn metadata(&self, deadline: Duration) -> anyhow::Result<ProviderInfo> {
        let mut store = self.new_store();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .llmhost_provider_provider()
                .call_metadata(&mut store)
                .await
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        Ok(self.classify(outcome, &store, deadline)?)
    }

    fn new_store(&self) -> Store<PluginState> {
        let mut store = Store::new(
            &self.engine,
            PluginState::new(self.name.clone(), self.config.clone()),
        );
        store.limiter(|state| &mut state.limits);
        // Yield to the executor at every epoch tick, so that the deadline's
        // timer can drop a plugin that never returns.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }

    fn classify<T>(
        &self,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
        store: &Store<PluginState>,
        deadline: Duration,
    ) -> Result<T, CallError> {
        match outcome {
            Err(_elapsed) => Err(CallError::DeadlineExceeded(deadline)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) if store.data().limits.memory_exhausted() => Err(CallError::MemoryLimit {
                limit: store.data().limits.max_memory(),
            }),
            Ok(Err(trap)) => Err(CallError::Trap(format!("{trap:#}"))),
        }
    }
}

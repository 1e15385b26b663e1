//! One loaded provider: its compiled component, pre-linked once
//! (`InstancePre`), its metadata and its manifest's policy. Every call runs
//! in a fresh `Store`, bounded by a deadline (which also covers the host's
//! time on the plugin's HTTP requests), a memory limit and an output limit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{Completion, PluginPre, ProviderError, ProviderInfo, Request};
use super::cache::{CacheOutcome, ComponentCache};
use super::contract::ContractUse;
use super::egress::{EgressPolicy, Incident};
use super::manifest::{Limits, Manifest};
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
    #[error("outbound request refused: {0}")]
    EgressDenied(String),
    #[error("upstream timed out: {0}")]
    UpstreamTimeout(String),
    #[error("the provider answered {size} bytes of text; the limit is {limit}")]
    OutputTooLarge { size: usize, limit: usize },
}

pub struct Plugin {
    name: Arc<str>,
    description: ProviderDescription,
    engine: Engine,
    pre: PluginPre<PluginState>,
    config: Arc<BTreeMap<String, String>>,
    egress: Arc<EgressPolicy>,
    limits: Limits,
}

impl Plugin {
    /// Compiles and links `<name>.wasm`, then asks it for its metadata. The
    /// plugin's declared name must match the file's.
    pub async fn load(
        engine: &Engine,
        linker: &Linker<PluginState>,
        cache: &ComponentCache,
        name: &str,
        wasm: &Path,
    ) -> anyhow::Result<(Self, CacheOutcome)> {
        let manifest = Manifest::load_beside(wasm)?;
        let egress = EgressPolicy::from_manifest(&manifest)?;
        let bytes = std::fs::read(wasm)?;
        let (component, outcome) = cache.load(engine, &bytes)?;
        let (plugin, info) = Self::open(engine, linker, &component, name, manifest, egress)
            .await
            .map_err(|e| e.context(wasm.display().to_string()))?;
        anyhow::ensure!(
            info.name == name,
            "{} declares the name {:?}; a provider's name must match its file name",
            wasm.display(),
            info.name
        );
        Ok((plugin, outcome))
    }

    /// Checks the component's contract version, links it and asks it for
    /// its metadata, returned as the plugin declared it.
    pub async fn open(
        engine: &Engine,
        linker: &Linker<PluginState>,
        component: &Component,
        name: &str,
        manifest: Manifest,
        egress: EgressPolicy,
    ) -> anyhow::Result<(Self, ProviderInfo)> {
        let contract = ContractUse::of(engine, component);
        contract
            .check()
            .map_err(|why| anyhow::anyhow!("refused: {why}"))?;
        let pre = PluginPre::new(linker.instantiate_pre(component)?)?;
        let mut plugin = Self {
            name: name.into(),
            description: ProviderDescription {
                name: name.to_owned(),
                version: String::new(),
                description: String::new(),
                contract_version: contract.version_text(),
                models: Vec::new(),
            },
            engine: engine.clone(),
            pre,
            config: Arc::new(manifest.config),
            egress: Arc::new(egress),
            limits: manifest.limits,
        };
        let info = plugin.metadata(Duration::from_secs(5)).await?;
        plugin.description.version = info.version.clone();
        plugin.description.description = info.description.clone();
        plugin.description.models = info
            .models
            .iter()
            .map(|m| ModelDescription {
                id: m.id.clone(),
                description: m.description.clone(),
            })
            .collect();
        Ok((plugin, info))
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
        let answer = self.classify(outcome, &store, deadline)?;
        self.check_answer(answer, &store)
    }

    /// The host's verdict on an answer: an oversized completion is refused,
    /// and a failure caused by the egress policy is reported as such.
    fn check_answer(
        &self,
        answer: Result<Completion, ProviderError>,
        store: &Store<PluginState>,
    ) -> Result<Result<Completion, ProviderError>, CallError> {
        match answer {
            Ok(completion) if completion.text.len() > self.limits.max_output_bytes => {
                Err(CallError::OutputTooLarge {
                    size: completion.text.len(),
                    limit: self.limits.max_output_bytes,
                })
            }
            Ok(completion) => Ok(Ok(completion)),
            Err(error) => match store.data().incidents.first() {
                Some(incident) => Err(incident_error(incident)),
                None => Ok(Err(error)),
            },
        }
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
        let state = PluginState::new(
            self.name.clone(),
            self.config.clone(),
            self.egress.clone(),
            self.limits.memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
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
            Ok(Err(trap)) => match store.data().incidents.first() {
                Some(incident) => Err(incident_error(incident)),
                None => Err(CallError::Trap(format!("{trap:#}"))),
            },
        }
    }
}

fn incident_error(incident: Incident) -> CallError {
    match incident {
        Incident::Denied(why) | Incident::ResponseTooLarge(why) => CallError::EgressDenied(why),
        Incident::Timeout(why) => CallError::UpstreamTimeout(why),
    }
}

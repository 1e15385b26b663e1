//! One loaded provider: its compiled component, pre-linked once
//! (`InstancePre`), its metadata and its manifest's policy. Every call runs
//! in a fresh `Store`, bounded by a deadline (which also covers the host's
//! time on the plugin's HTTP requests), a memory limit and an output limit.
//!
//! A call either asks for the whole answer (`complete`) or streams it
//! (`stream`): the text is forwarded to a sink as the plugin produces it and
//! the assembled completion is returned at the end, so both paths end in the
//! same checks. A plugin that does not export `streaming` is streamed as one
//! piece. Calls speak the newest contract's types whatever version the
//! plugin was built against (`contract::exports` adapts).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Store};

use super::answer;
use super::assemble::{self, Assembly};
use super::cache::{CacheOutcome, ComponentCache};
use super::contract::ContractUse;
use super::contract::exports::Exports;
use super::contract::v0_2::{
    Capabilities, Completion, EmbeddingsRequest, EmbeddingsResponse, ProviderError, ProviderInfo,
    Request, StreamEvent,
};
use super::egress::{EgressPolicy, Incident, UpstreamTls};
use super::escape::Escaped;
use super::files;
use super::manifest::{Limits, Manifest};
use super::redact::Redactor;
use super::state::PluginState;

/// What the host tells clients about an installed provider.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderDescription {
    /// The instance's name: what tasks and `/v1` call it.
    pub name: String,
    /// The component (`<component>.wasm`) it runs; its own name for the
    /// default instance of each component.
    pub component: String,
    pub version: String,
    pub description: String,
    pub contract_version: String,
    /// What the provider accepts, unless a model says otherwise.
    pub capabilities: CapabilityDescription,
    pub models: Vec<ModelDescription>,
    /// What was found at load that does not stop it from serving but will
    /// surprise whoever calls it (no manifest beside the component).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelDescription {
    pub id: String,
    pub description: String,
    /// Where this model differs from its provider.
    pub capabilities: Option<CapabilityDescription>,
}

/// A provider's or a model's declared capabilities, named as the contract
/// names them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CapabilityDescription {
    pub features: Vec<&'static str>,
    /// Media types accepted in `media` parts (`image/*`); empty: text only.
    pub input_media: Vec<String>,
}

impl From<&Capabilities> for CapabilityDescription {
    fn from(c: &Capabilities) -> Self {
        Self {
            features: c.features.names(),
            input_media: c.input_media.clone(),
        }
    }
}

/// A call that did not produce the plugin's own answer: the host's layer of
/// failure, kept apart from the plugin's typed `ProviderError`.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the provider did not answer within {0:?}")]
    DeadlineExceeded(Duration),
    #[error("the provider exceeded its memory limit of {limit} bytes")]
    MemoryLimit { limit: usize },
    /// The plugin's panic message when it wrote one (`panic`), else the
    /// trap's own; never wasmtime's backtrace (logged at debug level).
    #[error("{0}")]
    Trap(String),
    #[error("outbound request refused: {0}")]
    EgressDenied(String),
    #[error("upstream timed out: {0}")]
    UpstreamTimeout(String),
    /// A string it returned is over its cap (`answer`).
    #[error("the provider's {what} is {size} {unit}; the limit is {limit}")]
    OutputTooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
        unit: &'static str,
    },
    /// The call crossed a per-call limit on what it makes the host hold
    /// or do (log lines and bytes, …).
    #[error("{0}")]
    ResourceLimit(String),
    /// The host had no room to start the call: the provider already runs
    /// as many calls as it may (`limits.max_concurrent_calls`), or the
    /// runtime's instance pool is full. Not the plugin's fault; retryable.
    #[error("{0}")]
    Capacity(String),
}

/// Where a streamed call sends its pieces as they arrive: text, reasoning,
/// refusal and tool-call pieces (never `end`, never empty text). A closed
/// sink does not stop the call; dropping the call's future does.
pub type DeltaSink = mpsc::Sender<StreamEvent>;

/// How many pieces of text a streamed call may send ahead of its reader
/// before it waits: the one size for every caller.
const DELTA_CHANNEL: usize = 64;

/// A sink for a streamed call and the receiver its caller reads.
pub fn delta_channel() -> (DeltaSink, mpsc::Receiver<StreamEvent>) {
    mpsc::channel(DELTA_CHANNEL)
}

pub struct Plugin {
    name: Arc<str>,
    description: ProviderDescription,
    engine: Engine,
    pre: InstancePre<PluginState>,
    exports: Exports,
    /// As the plugin declared them in its metadata.
    info: ProviderInfo,
    config: Arc<BTreeMap<String, String>>,
    egress: Arc<EgressPolicy>,
    /// The forms of the plugin's secrets, removed from what it returns.
    redactor: Arc<Redactor>,
    limits: Limits,
    /// One permit per call running (its store alive), at most
    /// `limits.max_concurrent_calls`: no provider takes every slot of the
    /// runtime's instance pool from the others.
    slots: Arc<Semaphore>,
    /// What it was opened under (secrets as templates, never their
    /// values): shown to operators, and to open it again for conformance.
    manifest: Arc<Manifest>,
}

impl Plugin {
    /// Compiles and links `<name>.wasm`, then asks it for its metadata. The
    /// plugin's declared name must match the file's.
    pub async fn load(
        engine: &Engine,
        linker: &Linker<PluginState>,
        cache: &ComponentCache,
        tls: &UpstreamTls,
        name: &str,
        wasm: &Path,
    ) -> anyhow::Result<(Self, CacheOutcome)> {
        // Reading and compiling block: they run off the async runtime, on
        // regular files within their caps only (`files`).
        let (manifest, component, outcome) = {
            let (engine, cache, wasm) = (engine.clone(), cache.clone(), wasm.to_owned());
            let what = wasm.display().to_string();
            files::off_runtime(&what, files::LOAD_TIMEOUT, move || {
                let manifest = Manifest::find_beside(&wasm)?;
                let bytes = files::read_regular(&wasm, files::MAX_COMPONENT_BYTES)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", wasm.display()))?;
                let (component, outcome) = cache
                    .load(&engine, &bytes)
                    .map_err(|e| e.context(wasm.display().to_string()))?;
                Ok((manifest, component, outcome))
            })
            .await?
        };
        let warnings = match &manifest {
            Some(_) => Vec::new(),
            None => vec![no_manifest(name)],
        };
        let manifest = manifest.unwrap_or_default();
        let egress = EgressPolicy::from_manifest(&manifest)?.with_tls(tls.clone());
        let (mut plugin, info) = Self::open(engine, linker, &component, name, manifest, egress)
            .await
            .map_err(|e| e.context(wasm.display().to_string()))?;
        anyhow::ensure!(
            info.name == name,
            "{} declares the name {:?}; a provider's name must match its file name",
            wasm.display(),
            info.name
        );
        for warning in &warnings {
            tracing::warn!(provider = name, "{warning}");
        }
        plugin.description.warnings = warnings;
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
        let series = contract
            .check()
            .map_err(|why| anyhow::anyhow!("refused: {why}"))?;
        let pre = linker.instantiate_pre(component)?;
        let exports = Exports::new(series, &pre)?;
        let mut plugin = Self {
            name: name.into(),
            description: ProviderDescription {
                name: name.to_owned(),
                component: name.to_owned(),
                version: String::new(),
                description: String::new(),
                contract_version: contract.version_text(),
                capabilities: CapabilityDescription::default(),
                models: Vec::new(),
                warnings: Vec::new(),
            },
            engine: engine.clone(),
            pre,
            exports,
            info: ProviderInfo {
                name: name.to_owned(),
                version: String::new(),
                description: String::new(),
                models: Vec::new(),
                capabilities: Capabilities {
                    features: super::Features::empty(),
                    input_media: Vec::new(),
                },
            },
            config: Arc::new(manifest.config.clone()),
            redactor: Arc::new(Redactor::new(egress.secret_values())),
            egress: Arc::new(egress),
            slots: Arc::new(Semaphore::new(manifest.limits.max_concurrent_calls)),
            limits: manifest.limits.clone(),
            manifest: Arc::new(manifest),
        };
        let mut info = plugin.metadata(Duration::from_secs(5)).await?;
        answer::check_info(&info, &plugin.limits)
            .map_err(|e| anyhow::anyhow!("refused: its metadata: {e}"))?;
        answer::redact_info(&mut info, &plugin.redactor);
        plugin.description.version = info.version.clone();
        plugin.description.description = info.description.clone();
        plugin.description.models = info
            .models
            .iter()
            .map(|m| ModelDescription {
                id: m.id.clone(),
                description: m.description.clone(),
                capabilities: m.capabilities.as_ref().map(CapabilityDescription::from),
            })
            .collect();
        plugin.description.capabilities = (&info.capabilities).into();
        plugin.info = info.clone();
        Ok((plugin, info))
    }

    pub fn description(&self) -> &ProviderDescription {
        &self.description
    }

    /// The manifest it runs under: its limits, egress and secret headers
    /// (templates such as `Bearer ${KEY}`, never a value read from the
    /// environment).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The compiled component, to open another instance of it.
    pub(crate) fn component(&self) -> &Component {
        self.pre.component()
    }

    /// Names the component an instance under another name runs.
    pub(crate) fn set_component(&mut self, component: &str) {
        self.description.component = component.to_owned();
    }

    /// Whether the plugin streams its answers itself.
    pub fn streams(&self) -> bool {
        self.exports.streams()
    }

    /// Whether the plugin exports `embeddings`.
    pub fn embeds(&self) -> bool {
        self.exports.embeds()
    }

    /// What `model` can do: its own capabilities if it declares them, else
    /// the provider's. A model the provider does not list gets the
    /// provider's (proxies accept any model name).
    pub fn capabilities(&self, model: &str) -> &Capabilities {
        self.info
            .models
            .iter()
            .find(|m| m.id == model)
            .and_then(|m| m.capabilities.as_ref())
            .unwrap_or(&self.info.capabilities)
    }

    /// Runs `complete` in a fresh instance. The outer `Result` is the host's
    /// (deadline, trap, memory); the inner one is the plugin's answer.
    pub async fn complete(
        &self,
        request: &Request,
        deadline: Duration,
    ) -> Result<Result<Completion, ProviderError>, CallError> {
        let mut store = self.new_store()?;
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            self.exports.complete(&mut store, &instance, request).await
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        let answer = self.classify(outcome, &store, deadline)?;
        self.check_answer(answer, &store)
    }

    /// Like `complete`, but sends the pieces to `sink` as they are
    /// generated. The text deltas (never empty), concatenated, are the
    /// returned text, and the tool-call pieces assemble to its tool calls; a
    /// stream that fails after some output fails as a whole.
    pub async fn stream(
        &self,
        request: &Request,
        deadline: Duration,
        sink: &DeltaSink,
    ) -> Result<Result<Completion, ProviderError>, CallError> {
        if !self.streams() {
            let answer = self.complete(request, deadline).await?;
            if let Ok(completion) = &answer {
                for piece in assemble::pieces(completion) {
                    let _ = sink.send(piece).await;
                }
            }
            return Ok(answer);
        }
        let mut store = self.new_store()?;
        let limit = self.limits.max_output_bytes;
        let incidents = store.data().incidents.clone();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let stream = match self.exports.start(&mut store, &instance, request).await? {
                Ok(Some(stream)) => stream,
                Ok(None) => unreachable!("streams() said the plugin exports streaming"),
                Err(error) => return Ok(Err(error)),
            };
            let mut assembly = Assembly::default();
            loop {
                let events = match stream.next(&mut store).await? {
                    Ok(events) => events,
                    Err(error) => return Ok(Err(error)),
                };
                for event in events {
                    let piece = match &event {
                        // Output that went out starts a /v1 stream's 200, so
                        // an empty piece of text must not count as output.
                        StreamEvent::Text(delta) if delta.is_empty() => None,
                        StreamEvent::End(_) => None,
                        other => Some(other.clone()),
                    };
                    if let Some(done) = assembly.push(event, &request.model) {
                        return Ok(Ok(done));
                    }
                    // Nothing more goes out once the output is over its
                    // limit or the call has failed whatever it returns
                    // (check_answer says which).
                    if assembly.size() > limit || incidents.first().is_some_and(|i| i.is_decisive())
                    {
                        return Ok(Ok(assembly.finish(None, &request.model)));
                    }
                    if let Some(mut piece) = piece {
                        // Each piece on its own: a secret split across two
                        // is caught only in the stored result (redact.rs).
                        self.redactor.redact_event(&mut piece);
                        let _ = sink.send(piece).await;
                    }
                }
            }
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        let answer = self.classify(outcome, &store, deadline)?;
        self.check_answer(answer, &store)
    }

    /// Embeds in a fresh instance; the plugin's `unsupported` error when it
    /// does not export `embeddings`.
    pub async fn embed(
        &self,
        request: &EmbeddingsRequest,
        deadline: Duration,
    ) -> Result<Result<EmbeddingsResponse, ProviderError>, CallError> {
        let mut store = self.new_store()?;
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            self.exports.embed(&mut store, &instance, request).await
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        let answer = match self.classify(outcome, &store, deadline)? {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(ProviderError::Unsupported(format!(
                "{} does not export embeddings",
                self.name
            ))),
            Err(error) => Err(error),
        };
        if let Some(decisive) = store.data().incidents.first().filter(Incident::is_decisive) {
            return Err(incident_error(decisive));
        }
        match (answer, store.data().incidents.first()) {
            (Err(_), Some(incident)) => Err(incident_error(incident)),
            (Ok(mut answer), _) => {
                answer::check_embeddings(&answer, &self.limits)?;
                answer::redact_embeddings(&mut answer, &self.redactor);
                Ok(Ok(answer))
            }
            (Err(mut error), None) => {
                answer::check_error(&mut error, &self.limits)?;
                self.redactor.redact(answer::message_mut(&mut error));
                Ok(Err(error))
            }
        }
    }

    /// The host's verdict on an answer: a refused request or a crossed
    /// per-call limit fails the call whatever the plugin returned; a
    /// failure caused by the network is reported as such; every string
    /// returned must be within its cap (`answer`).
    fn check_answer(
        &self,
        answer: Result<Completion, ProviderError>,
        store: &Store<PluginState>,
    ) -> Result<Result<Completion, ProviderError>, CallError> {
        let incident = store.data().incidents.first();
        if let Some(decisive) = incident.clone().filter(Incident::is_decisive) {
            return Err(incident_error(decisive));
        }
        match answer {
            Ok(mut completion) => {
                answer::check_completion(&completion, &self.limits)?;
                answer::redact_completion(&mut completion, &self.redactor);
                Ok(Ok(completion))
            }
            Err(mut error) => match incident {
                Some(incident) => Err(incident_error(incident)),
                None => {
                    answer::check_error(&mut error, &self.limits)?;
                    self.redactor.redact(answer::message_mut(&mut error));
                    Ok(Err(error))
                }
            },
        }
    }

    /// Asks for the plugin's metadata with no network at all: what a
    /// plugin publishes about itself cannot come from an upstream (one
    /// that reflects a secret header, say).
    async fn metadata(&self, deadline: Duration) -> anyhow::Result<ProviderInfo> {
        let offline = EgressPolicy::from_manifest(&Manifest::default())?;
        let mut store = self.new_store_with(Arc::new(offline))?;
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            self.exports.metadata(&mut store, &instance).await
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        Ok(self.classify(outcome, &store, deadline)?)
    }

    fn new_store(&self) -> Result<Store<PluginState>, CallError> {
        self.new_store_with(self.egress.clone())
    }

    /// A store for one call, holding one of the provider's slots for as
    /// long as it lives; none free is a capacity failure, at once (a call
    /// that waited would wait on the calls hogging them).
    fn new_store_with(&self, egress: Arc<EgressPolicy>) -> Result<Store<PluginState>, CallError> {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            CallError::Capacity(format!(
                "the provider {} already runs {} calls, the most it may at once \
                 (limits.max_concurrent_calls)",
                self.name, self.limits.max_concurrent_calls
            ))
        })?;
        let state = PluginState::new(
            self.name.clone(),
            self.config.clone(),
            egress,
            &self.limits,
            self.redactor.clone(),
            slot,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Yield to the executor at every epoch tick, so that the deadline's
        // timer can drop a plugin that never returns.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
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
            // A refused request decides, whatever the plugin did next
            // (retrying it until its handles ran out, say).
            Ok(Err(_))
                if store
                    .data()
                    .incidents
                    .first()
                    .is_some_and(|i| i.is_decisive()) =>
            {
                let decisive = store.data().incidents.first().expect("checked");
                Err(incident_error(decisive))
            }
            Ok(Err(trap)) if host_limit(&trap).is_some() => Err(CallError::ResourceLimit(
                host_limit(&trap).expect("checked"),
            )),
            // The pool had no slot for the instance: the host is full, the
            // plugin did nothing wrong.
            Ok(Err(trap)) if pool_full(&trap).is_some() => Err(CallError::Capacity(format!(
                "the runtime has no room for another instance: {}",
                pool_full(&trap).expect("checked")
            ))),
            Ok(Err(trap)) => match store.data().incidents.first() {
                Some(incident) => Err(incident_error(incident)),
                None => {
                    // The wasm backtrace names the plugin's own functions
                    // (its text): escaped, and for whoever debugs it. `{:#}`,
                    // not `{:?}`: that would also symbolicate the host's own
                    // Rust backtrace when one was captured, which keeps the
                    // host's debug info in memory for good. Both it and the
                    // panic message are the plugin's words, so redacted.
                    let plugin = &*self.name;
                    let trace = self.redactor.redacted(format!("{trap:#}"));
                    tracing::debug!(plugin, "trapped: {}", Escaped(&trace));
                    let message = match store.data().stderr.panic_message(&self.redactor) {
                        Some(panic) => format!("the provider panicked: {panic}"),
                        None => format!("the provider trapped: {}", trap.root_cause()),
                    };
                    Err(CallError::Trap(self.redactor.redacted(message)))
                }
            },
        }
    }
}

/// The warning for a component loaded without `<name>.toml`: it runs, but
/// its first outbound request fails, which should not be how anyone learns.
fn no_manifest(name: &str) -> String {
    format!(
        "no manifest: {name}.toml is not beside {name}.wasm, so this provider has no config \
         and may reach no host (its outbound requests fail with egress_denied)"
    )
}

/// Which per-call host limit a trap is, if it is one: the call's resource
/// table refusing one more handle, or a fields resource refusing more
/// header bytes than the host holds for it.
fn host_limit(trap: &wasmtime::Error) -> Option<String> {
    use wasmtime::component::ResourceTableError;
    use wasmtime_wasi_http::FieldMapError;
    trap.chain().find_map(|cause| {
        if let Some(ResourceTableError::Full) = cause.downcast_ref::<ResourceTableError>() {
            return Some(format!(
                "the provider held more than {} handles at once (headers, requests, bodies, \
                 streams)",
                super::state::MAX_RESOURCES
            ));
        }
        match cause.downcast_ref::<FieldMapError>() {
            Some(FieldMapError::TotalSizeTooBig | FieldMapError::TooManyFields) => Some(format!(
                "the provider's headers grew past the {} bytes the host holds per fields \
                 resource",
                super::state::MAX_FIELDS_BYTES
            )),
            _ => None,
        }
    })
}

/// The pooling allocator's refusal, if the trap is one.
fn pool_full(trap: &wasmtime::Error) -> Option<String> {
    trap.chain()
        .find_map(|c| c.downcast_ref::<wasmtime::PoolConcurrencyLimitError>())
        .map(ToString::to_string)
}

fn incident_error(incident: Incident) -> CallError {
    match incident {
        Incident::Denied(why) | Incident::ResponseTooLarge(why) => CallError::EgressDenied(why),
        Incident::Timeout(why) => CallError::UpstreamTimeout(why),
        Incident::Limit(why) => CallError::ResourceLimit(why),
    }
}

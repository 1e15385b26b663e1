//! The plugin runtime: one wasmtime engine, the providers found by name in a
//! plugins directory (reloaded atomically when their files change: `watch`),
//! the instances the operator configured over them (`instances`), and calls
//! into them in fresh sandboxes. It knows nothing of tasks or the store.

mod answer;
mod assemble;
mod binary;
mod cache;
pub mod contract;
mod egress;
mod engine;
pub mod escape;
mod files;
mod instances;
pub mod kit;
mod limits;
mod manifest;
#[cfg(target_os = "linux")]
pub mod notifications;
mod panic;
mod plugin;
mod redact;
mod secret;
mod state;
mod ticker;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use cache::ComponentCache;
pub use cache::{CacheOutcome, sha256_hex};
pub use contract::CONTRACT_VERSION;
pub use contract::v0_2::{
    Capabilities, Completion, ContentPart, EmbeddingsRequest, EmbeddingsResponse, Features,
    FinishReason, JsonSchemaFormat, MediaPart, MediaSource, Message, ModelInfo, Params,
    ProviderError, ProviderInfo, RateLimit, ReasoningEffort, Request, ResponseFormat, Role,
    StreamEvent, ToolCall, ToolCallDelta, ToolChoice, ToolDefinition, Usage,
};
pub use egress::{Exchange, Reply, ScriptedUpstream, SeenRequest, UpstreamTls};
use files::Stamp;
pub use instances::{InstanceSpec, MAX_INSTANCE_NAME, check_instance_name};
use instances::{Instances, Opener};
pub use manifest::{Manifest, ManifestError};
pub use plugin::{
    CallError, CapabilityDescription, DeltaSink, ModelDescription, Plugin, ProviderDescription,
    delta_channel,
};
use state::PluginState;

#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Where `<name>.wasm` (and `<name>.toml`) live.
    pub plugins_dir: PathBuf,
    /// Where compiled components are kept across restarts; `None` compiles
    /// on every start.
    pub cache_dir: Option<PathBuf>,
    /// Instances by name, beside each component's default instance (an
    /// instance named like a component replaces its default one).
    pub instances: BTreeMap<String, InstanceSpec>,
    /// A PEM file of CA certificates trusted for upstreams besides the
    /// webpki roots (an internal server behind a private CA).
    pub upstream_ca_file: Option<PathBuf>,
}

/// The installed providers, by name.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache: ComponentCache,
    plugins_dir: PathBuf,
    /// How every plugin's upstream certificates are checked.
    tls: UpstreamTls,
    /// Swapped whole on reload: a call holds the `Arc<Plugin>` it started
    /// with, so running tasks finish on the version they began on.
    plugins: RwLock<Arc<BTreeMap<String, Installed>>>,
    /// The configured instances, swapped whole like `plugins`.
    instances: RwLock<Arc<Instances>>,
    /// Files that failed to load, with their stamp when they did: not tried
    /// again until they change.
    refused: RwLock<Arc<BTreeMap<String, Refusal>>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Installed {
    plugin: Arc<Plugin>,
    stamp: Stamp,
}

#[derive(Clone)]
struct Refusal {
    failure: LoadFailure,
    stamp: Stamp,
}

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Newly loaded or replaced.
    pub loaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Files that could not be loaded; an older version, if any, still serves.
    pub failed: Vec<LoadFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadFailure {
    pub name: String,
    pub error: String,
}

impl Runtime {
    /// Creates the engine and loads every plugin in the directory. A file
    /// that fails to load is reported and skipped: its name stays unknown,
    /// so tasks naming it fail with `provider_not_found`.
    pub async fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let engine = engine::new_engine()?;
        let linker = new_linker(&engine)?;
        let tls = match &config.upstream_ca_file {
            Some(path) => {
                let path = path.clone();
                files::off_runtime("upstream_ca_file", files::LOAD_TIMEOUT, move || {
                    UpstreamTls::with_ca_file(&path)
                        .map_err(|e| anyhow::anyhow!("upstream_ca_file: {e:#}"))
                })
                .await?
            }
            None => UpstreamTls::default(),
        };
        let runtime = Self {
            engine,
            linker,
            cache: ComponentCache::new(config.cache_dir),
            plugins_dir: config.plugins_dir,
            tls,
            plugins: RwLock::new(Arc::default()),
            instances: RwLock::new(Arc::default()),
            refused: RwLock::new(Arc::default()),
            reloading: tokio::sync::Mutex::new(()),
        };
        runtime.reload().await?;
        let instances = runtime
            .opener()
            .open_all(&config.instances)
            .await
            .map_err(|failed| anyhow::anyhow!("{}", describe_failures(&failed)))?;
        *runtime.instances.write().expect("instance registry lock") = Arc::new(instances);
        Ok(runtime)
    }

    /// The names of the components loaded, sorted: what an instance's
    /// `plugin` may name.
    pub fn components(&self) -> Vec<String> {
        self.current().keys().cloned().collect()
    }

    fn opener(&self) -> Opener<'_> {
        Opener {
            engine: &self.engine,
            linker: &self.linker,
            components: self.current(),
            tls: &self.tls,
        }
    }

    fn instances(&self) -> Arc<Instances> {
        self.instances
            .read()
            .expect("instance registry lock")
            .clone()
    }

    pub fn plugins_dir(&self) -> &Path {
        &self.plugins_dir
    }

    /// The provider instance called `name`: a configured instance, else a
    /// component's default one. Never a substitute.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        match self.instances().opened.get(name) {
            Some(plugin) => Some(plugin.clone()),
            None => self.current().get(name).map(|i| i.plugin.clone()),
        }
    }

    /// The instance called `name` opened again, as it is (its component,
    /// config, egress and limits), but answered by `script` instead of the
    /// network and with no secret's value read: the conformance suite's
    /// subject. `None` when no instance has that name.
    pub async fn open_scripted(
        &self,
        name: &str,
        script: Arc<ScriptedUpstream>,
    ) -> Option<anyhow::Result<(Plugin, ProviderInfo)>> {
        let serving = self.get(name)?;
        let manifest = serving.manifest().clone();
        let opened = async {
            let egress = egress::EgressPolicy::from_manifest_without_secret_values(&manifest)?
                .with_script(script);
            Plugin::open(
                &self.engine,
                &self.linker,
                serving.component(),
                name,
                manifest,
                egress,
            )
            .await
        };
        Some(opened.await)
    }

    /// Names of the provider instances, sorted.
    pub fn names(&self) -> Vec<String> {
        self.serving().into_keys().collect()
    }

    /// Every provider instance, sorted by name.
    pub fn providers(&self) -> Vec<ProviderDescription> {
        self.serving()
            .into_values()
            .map(|p| p.description().clone())
            .collect()
    }

    /// Replaces the configured instances with `specs` (a reloaded
    /// configuration file), all at once or not at all: every instance is
    /// opened first, then `check` is given the names that would serve (to
    /// check what refers to them, such as routes), and only if all of that
    /// succeeded is the new set swapped in. A refusal says why, one line
    /// per instance; the old set keeps serving. Calls already running keep
    /// the instance they began on.
    pub async fn replace_instances(
        &self,
        specs: &BTreeMap<String, InstanceSpec>,
        check: impl FnOnce(&[String]) -> Result<(), String>,
    ) -> Result<(), String> {
        let _one_at_a_time = self.reloading.lock().await;
        let instances = self
            .opener()
            .open_all(specs)
            .await
            .map_err(|failed| describe_failures(&failed))?;
        let mut names: Vec<String> = self.current().keys().cloned().collect();
        names.extend(instances.opened.keys().cloned());
        names.sort();
        names.dedup();
        check(&names)?;
        *self.instances.write().expect("instance registry lock") = Arc::new(instances);
        Ok(())
    }

    /// The `*.wasm` files that failed to load and why, by name; each is
    /// tried again when it changes.
    pub fn refused(&self) -> Vec<LoadFailure> {
        let refused = self.refused.read().expect("plugin registry lock").clone();
        refused.values().map(|r| r.failure.clone()).collect()
    }

    fn serving(&self) -> BTreeMap<String, Arc<Plugin>> {
        let mut all: BTreeMap<_, _> = self
            .current()
            .iter()
            .map(|(name, i)| (name.clone(), i.plugin.clone()))
            .collect();
        all.extend(self.instances().opened.clone());
        all
    }

    fn current(&self) -> Arc<BTreeMap<String, Installed>> {
        self.plugins.read().expect("plugin registry lock").clone()
    }

    /// Loads what changed in the plugins directory and swaps the new set in
    /// at once. A file that fails to load leaves its previous version
    /// serving, and is not tried again until it changes (it stays in the
    /// report's `failed`).
    pub async fn reload(&self) -> anyhow::Result<ReloadReport> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.current();
        let old_refused = self.refused.read().expect("plugin registry lock").clone();
        let mut next = BTreeMap::new();
        let mut refused = BTreeMap::new();
        let mut report = ReloadReport::default();
        let dir = self.plugins_dir.clone();
        let found = files::off_runtime("plugins directory", files::LOAD_TIMEOUT, move || {
            let found = files::discover(&dir)?.into_iter();
            Ok(found
                .map(|(name, path)| {
                    let stamp = files::stamp(&path);
                    (name, path, stamp)
                })
                .collect::<Vec<_>>())
        })
        .await?;
        for (name, path, stamp) in found {
            if let Some(installed) = old.get(&name).filter(|i| i.stamp == stamp) {
                next.insert(name.clone(), installed.clone());
                report.unchanged.push(name);
                continue;
            }
            if let Some(refusal) = old_refused.get(&name).filter(|r| r.stamp == stamp) {
                if let Some(previous) = old.get(&name) {
                    next.insert(name.clone(), previous.clone());
                }
                report.failed.push(refusal.failure.clone());
                refused.insert(name, refusal.clone());
                continue;
            }
            match Plugin::load(
                &self.engine,
                &self.linker,
                &self.cache,
                &self.tls,
                &name,
                &path,
            )
            .await
            {
                Ok((plugin, cache)) => {
                    let version = plugin.description().version.clone();
                    let version = escape::Escaped(&version);
                    tracing::info!(provider = %name, %version, ?cache, "loaded provider");
                    next.insert(
                        name.clone(),
                        Installed {
                            plugin: Arc::new(plugin),
                            stamp,
                        },
                    );
                    report.loaded.push(name);
                }
                Err(err) => {
                    let error = format!("{err:#}");
                    tracing::error!(provider = %name, path = %path.display(), "could not load provider: {error}");
                    if let Some(previous) = old.get(&name) {
                        next.insert(name.clone(), previous.clone());
                    }
                    let failure = LoadFailure {
                        name: name.clone(),
                        error,
                    };
                    report.failed.push(failure.clone());
                    refused.insert(name, Refusal { failure, stamp });
                }
            }
        }
        report.removed = old
            .keys()
            .filter(|n| !next.contains_key(*n))
            .cloned()
            .collect();
        *self.plugins.write().expect("plugin registry lock") = Arc::new(next);
        *self.refused.write().expect("plugin registry lock") = Arc::new(refused);
        let instances = self
            .opener()
            .refresh(&self.instances(), &report.loaded, &mut report.failed)
            .await;
        *self.instances.write().expect("instance registry lock") = Arc::new(instances);
        Ok(report)
    }
}

/// One line per instance that could not be opened.
fn describe_failures(failed: &[LoadFailure]) -> String {
    let lines: Vec<String> = failed
        .iter()
        .map(|f| format!("providers.{}: {}", f.name, f.error))
        .collect();
    lines.join("; ")
}

/// The imports every plugin may use: WASI (granting nothing; see `state`),
/// wasi:http (through the egress policy) and the contract's `host`, once per
/// supported series (their names differ by version, so both coexist).
fn new_linker(engine: &Engine) -> anyhow::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    contract::v0_1::StreamingPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    contract::v0_2::EmbeddingPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// The components in a plugins directory (`<name>.wasm`), sorted: what a
/// configured instance may name, before anything is loaded.
pub fn component_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    Ok(files::discover(dir)?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

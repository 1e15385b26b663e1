//! Provider instances: a component (the code in `<component>.wasm`) run
//! under another name with its own settings, egress and secrets, as the
//! operator configures it (`[providers.<name>]`). Owns an instance's
//! specification, the rule for its name, and opening the configured set
//! from the loaded components; `Runtime` serves them beside each
//! component's default instance (its own name, its own manifest).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::Linker;

use super::egress::{EgressPolicy, UpstreamTls};
use super::manifest::{EgressManifest, Limits, Manifest, ManifestError, SecretHeader};
use super::plugin::Plugin;
use super::state::PluginState;
use super::{Installed, LoadFailure};

/// One configured instance: which component, and the manifest it runs
/// under (the same keys as `<component>.toml`, with `secrets` a list).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The component it runs: `<plugin>.wasm` in the plugins directory.
    pub plugin: String,
    /// Non-secret settings the plugin reads through `config-get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub egress: EgressManifest,
    /// Headers the host adds to requests for an origin; `${VAR}` in a value
    /// is read from the environment.
    #[serde(default)]
    pub secrets: Vec<SecretHeader>,
    #[serde(default)]
    pub limits: Limits,
}

impl InstanceSpec {
    /// The manifest the instance runs under, range-checked as a manifest
    /// file is: a value outside its range is refused, named, never clamped.
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        let manifest = Manifest {
            egress: self.egress.clone(),
            secrets: self.secrets.clone(),
            limits: self.limits.clone(),
            config: self.config.clone(),
        };
        manifest.check_ranges()?;
        Ok(manifest)
    }
}

/// The longest instance name: it is stored with every task.
pub const MAX_INSTANCE_NAME: usize = 64;

/// An instance's name is what a task's `provider` and the part of a `/v1`
/// model before the first `/` say, so it holds no `/` and nothing a
/// header or a log line would need to escape.
pub fn check_instance_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_INSTANCE_NAME {
        return Err(format!("must be 1 to {MAX_INSTANCE_NAME} characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !name.chars().all(allowed) {
        return Err("may hold only ASCII letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

/// The configured instances, as specified and as opened.
#[derive(Default)]
pub(crate) struct Instances {
    pub(crate) specs: BTreeMap<String, InstanceSpec>,
    pub(crate) opened: BTreeMap<String, Arc<Plugin>>,
}

/// What opening instances needs from the runtime.
pub(crate) struct Opener<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) linker: &'a Linker<PluginState>,
    /// The loaded components, by name.
    pub(crate) components: Arc<BTreeMap<String, Installed>>,
    /// How upstream certificates are checked.
    pub(crate) tls: &'a UpstreamTls,
}

impl Opener<'_> {
    /// Opens one instance of its component; the error names the instance
    /// and, for an unknown component, the installed ones.
    pub(crate) async fn open(
        &self,
        name: &str,
        spec: &InstanceSpec,
    ) -> Result<Plugin, LoadFailure> {
        let failure = |error: String| LoadFailure {
            name: name.to_owned(),
            error,
        };
        check_instance_name(name).map_err(|e| failure(format!("instance name: {e}")))?;
        let base = self.components.get(&spec.plugin).ok_or_else(|| {
            let installed: Vec<&str> = self.components.keys().map(String::as_str).collect();
            failure(format!(
                "plugin {:?} is not installed (installed: {})",
                spec.plugin,
                installed.join(", ")
            ))
        })?;
        let manifest = spec.manifest().map_err(|e| failure(e.to_string()))?;
        let egress = EgressPolicy::from_manifest(&manifest)
            .map_err(|e| failure(format!("{e:#}")))?
            .with_tls(self.tls.clone());
        let (mut plugin, _) = Plugin::open(
            self.engine,
            self.linker,
            base.plugin.component(),
            name,
            manifest,
            egress,
        )
        .await
        .map_err(|e| failure(format!("{e:#}")))?;
        plugin.set_component(&spec.plugin);
        Ok(plugin)
    }

    /// Opens every instance of `specs`; all or nothing, every failure named.
    pub(crate) async fn open_all(
        &self,
        specs: &BTreeMap<String, InstanceSpec>,
    ) -> Result<Instances, Vec<LoadFailure>> {
        let mut opened = BTreeMap::new();
        let mut failed = Vec::new();
        for (name, spec) in specs {
            match self.open(name, spec).await {
                Ok(plugin) => {
                    opened.insert(name.clone(), Arc::new(plugin));
                }
                Err(failure) => failed.push(failure),
            }
        }
        if !failed.is_empty() {
            return Err(failed);
        }
        Ok(Instances {
            specs: specs.clone(),
            opened,
        })
    }

    /// After the plugins directory reloaded: the instances whose component
    /// was replaced are opened again on the new code. One that fails (or
    /// whose component went away) keeps serving as it was, and is reported.
    pub(crate) async fn refresh(
        &self,
        old: &Instances,
        replaced: &[String],
        failed: &mut Vec<LoadFailure>,
    ) -> Instances {
        let mut opened = old.opened.clone();
        for (name, spec) in &old.specs {
            if !self.components.contains_key(&spec.plugin) {
                failed.push(LoadFailure {
                    name: name.clone(),
                    error: format!(
                        "plugin {:?} is no longer installed; the instance keeps serving the \
                         version it was opened with",
                        spec.plugin
                    ),
                });
                continue;
            }
            if !replaced.contains(&spec.plugin) {
                continue;
            }
            match self.open(name, spec).await {
                Ok(plugin) => {
                    opened.insert(name.clone(), Arc::new(plugin));
                }
                Err(failure) => failed.push(failure),
            }
        }
        Instances {
            specs: old.specs.clone(),
            opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_name_is_one_path_segment_of_plain_characters() {
        for good in ["groq", "vllm-local", "together_ai", "a.b", "x"] {
            check_instance_name(good).unwrap();
        }
        for bad in ["", "groq/x", "a b", "é", "tab\t", &"n".repeat(65)] {
            assert!(check_instance_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_spec_reads_the_documented_keys_and_refuses_others() {
        let spec: InstanceSpec = toml::from_str(
            r#"plugin = "openai"
config = { base_url = "https://api.groq.com/openai/v1" }
egress.allow = ["https://api.groq.com"]
secrets = [{ origin = "https://api.groq.com", header = "authorization", value = "Bearer ${GROQ_API_KEY}" }]
"#,
        )
        .unwrap();
        assert_eq!(spec.plugin, "openai");
        assert_eq!(spec.egress.allow, ["https://api.groq.com"]);
        assert_eq!(spec.secrets[0].header, "authorization");
        let shown = toml::to_string(&spec).unwrap();
        assert!(!shown.contains("GROQ_API_KEY"), "{shown}");
        let err = toml::from_str::<InstanceSpec>("plugin = \"openai\"\nsecret = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `secret`"), "{err}");
    }
}

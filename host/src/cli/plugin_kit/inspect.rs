//! `llmhost plugin inspect FILE.wasm`: the contract version a component was
//! built against, its imports and exports, its metadata (asked in the
//! server's sandbox, with no network), its size and SHA-256, and whether
//! this host can load it, and if not, why, in the words the server logs.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use llmhost_runtime::contract::RELEASED;
use llmhost_runtime::kit::Sandbox;
use llmhost_runtime::{CONTRACT_VERSION, Manifest, ScriptedUpstream};

#[derive(Debug, Serialize)]
pub(crate) struct Inspection {
    pub(crate) file: String,
    pub(crate) size_bytes: usize,
    pub(crate) sha256: String,
    /// `unknown` when the component uses no contract interface.
    pub(crate) contract_version: String,
    /// The newest contract version this host speaks.
    pub(crate) host_contract_version: String,
    /// Every version this host loads, oldest first.
    pub(crate) host_contract_versions: Vec<String>,
    pub(crate) loadable: bool,
    /// Why this host cannot load it.
    pub(crate) problem: Option<String>,
    pub(crate) streaming: bool,
    pub(crate) exports: Vec<String>,
    pub(crate) imports: Vec<String>,
    pub(crate) metadata: Option<Metadata>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Metadata {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) models: Vec<Model>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Model {
    pub(crate) id: String,
    pub(crate) description: String,
}

pub(crate) async fn main(file: &Path, json: bool) -> anyhow::Result<bool> {
    let inspection = inspect(file).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&inspection)?);
    } else {
        print!("{}", text(&inspection));
    }
    Ok(inspection.loadable)
}

pub(crate) async fn inspect(file: &Path) -> anyhow::Result<Inspection> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut inspection = Inspection {
        file: file.display().to_string(),
        size_bytes: bytes.len(),
        sha256: llmhost_runtime::sha256_hex(&bytes),
        contract_version: "unknown".into(),
        host_contract_version: CONTRACT_VERSION.into(),
        host_contract_versions: RELEASED.iter().map(|v| (*v).to_owned()).collect(),
        loadable: false,
        problem: None,
        streaming: false,
        exports: Vec::new(),
        imports: Vec::new(),
        metadata: None,
    };
    let sandbox = Sandbox::new()?;
    let component = match sandbox.compile(&bytes) {
        Ok(component) => component,
        Err(err) => {
            inspection.problem = Some(format!("{err:#}"));
            return Ok(inspection);
        }
    };
    let contract = sandbox.contract(&component);
    inspection.contract_version = contract.version_text();
    inspection.streaming = contract
        .exports
        .iter()
        .any(|e| e.starts_with("llmhost:provider/streaming@"));
    inspection.exports = contract.exports.clone();
    inspection.imports = contract.imports.clone();
    inspection.problem = why_not(&sandbox, &component, file, &mut inspection).await;
    inspection.loadable = inspection.problem.is_none();
    Ok(inspection)
}

/// Loads the component as the server would (manifest beside it, name from
/// the file), with no network; fills in its metadata on the way.
async fn why_not(
    sandbox: &Sandbox,
    component: &wasmtime::component::Component,
    file: &Path,
    inspection: &mut Inspection,
) -> Option<String> {
    let manifest = match Manifest::load_beside(file) {
        Ok(manifest) => manifest,
        Err(err) => return Some(format!("{err:#}")),
    };
    let name = file.file_stem()?.to_string_lossy().into_owned();
    let script = Arc::new(ScriptedUpstream::default());
    let info = match sandbox.open(component, &name, manifest, Some(script)).await {
        Ok((_, info)) => info,
        Err(err) => return Some(format!("{err:#}")),
    };
    let declared = info.name.clone();
    inspection.metadata = Some(Metadata {
        name: info.name,
        version: info.version,
        description: info.description,
        models: info
            .models
            .into_iter()
            .map(|m| Model {
                id: m.id,
                description: m.description,
            })
            .collect(),
    });
    (declared != name).then(|| {
        format!(
            "it declares the name {declared:?} but the file is {name}.wasm; \
             install it as {declared}.wasm"
        )
    })
}

fn text(i: &Inspection) -> String {
    let mut out = format!(
        "file:       {}\nsize:       {} bytes\nsha256:     {}\ncontract:   {} (this host speaks {})\n",
        i.file,
        i.size_bytes,
        i.sha256,
        i.contract_version,
        i.host_contract_versions.join(", ")
    );
    out.push_str(&match &i.problem {
        None => "loadable:   yes\n".to_owned(),
        Some(why) => format!("loadable:   no: {why}\n"),
    });
    out.push_str(&format!(
        "streaming:  {}\n",
        if i.streaming { "yes" } else { "no" }
    ));
    if let Some(m) = &i.metadata {
        out.push_str(&format!(
            "provider:   {} {}: {}\nmodels:\n",
            m.name, m.version, m.description
        ));
        for model in &m.models {
            out.push_str(&format!("  {}: {}\n", model.id, model.description));
        }
    }
    out.push_str("exports:\n");
    for name in &i.exports {
        out.push_str(&format!("  {name}\n"));
    }
    out.push_str("imports:\n");
    for name in &i.imports {
        out.push_str(&format!("  {name}\n"));
    }
    out
}

//! A plugin's manifest, `<name>.toml` beside `<name>.wasm`: settings the
//! operator gives the plugin. Absent means an empty manifest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Non-secret settings the plugin reads through `config-get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads the manifest beside `wasm`, if there is one.
    pub fn load_beside(wasm: &Path) -> anyhow::Result<Self> {
        let path = wasm.with_extension("toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("manifest {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("manifest {}: {e}", path.display())),
        }
    }
}

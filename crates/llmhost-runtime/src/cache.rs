//! Compiled components on disk, so that a restart does not recompile.
//! Keyed by the component's SHA-256 and the engine's compatibility hash
//! (wasmtime version and settings): a key either matches exactly or is
//! never used.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a load compiled the component or found it compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

#[derive(Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// A cache in `dir`; `None` compiles every time.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<(Component, CacheOutcome)> {
        super::binary::check_component(wasm)?;
        let Some(dir) = &self.dir else {
            return Ok((
                Component::from_binary(engine, wasm)?,
                CacheOutcome::Compiled,
            ));
        };
        let path = dir.join(format!("{}.cwasm", key(engine, wasm)));
        if path.exists() {
            // SAFETY: the file was written by `store` below from the engine's
            // own output, in a directory that belongs to this host; the key
            // includes the engine's compatibility hash.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(err) => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable cached component: {err:#}")
                }
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(err) = store(dir, &path, &compiled) {
            tracing::warn!(path = %path.display(), "could not cache the compiled component: {err}");
        }
        // SAFETY: `compiled` is the engine's own output, just produced.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, CacheOutcome::Compiled))
    }
}

fn key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{}-{:016x}", sha256_hex(wasm), hasher.finish())
}

/// A component's identity: its lowercase hex SHA-256, as `sha256sum` prints
/// it (the cache's key, and what `llmhost plugin inspect` reports).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes atomically: a crash mid-write leaves no half file under the key.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

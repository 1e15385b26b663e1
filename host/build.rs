//! Builds the shipped provider plugins (the crates directly under
//! `plugins/`) as wasm32-wasip2 components, so that a plain `cargo build`/
//! `cargo run`/`cargo test` of the host yields a server with working
//! providers. The test plugins (`plugins/test/*`) are not built here but by
//! the dev-only `crates/test-plugins`.
//!
//! Promises: copies each provider to `<target>/plugins/<name>.wasm` (and its
//! manifest to `<name>.toml`); tells the host crate where that directory is
//! (`LLMHOST_BUNDLED_PLUGINS_DIR`) and what it holds
//! (`LLMHOST_BUNDLED_PLUGINS`, comma-separated); reruns only when a shipped
//! plugin, the SDK or the contract changes, not when a test plugin does.

#[path = "build/wasm_plugins.rs"]
mod wasm_plugins;

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(wasm_plugins::env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ lives in the workspace")
        .to_path_buf();
    let plugins_src = workspace.join("plugins");
    let crates = wasm_plugins::crates_in(&plugins_src);
    for watched in [
        plugins_src.join("Cargo.toml"),
        plugins_src.join("Cargo.lock"),
    ]
    .into_iter()
    .chain(crates.iter().map(|(_, dir)| dir.clone()))
    .chain([workspace.join("wit")])
    {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let target_dir = wasm_plugins::target_dir(&workspace);
    let build_dir = target_dir.join("wasm-plugins");
    let dist_dir = target_dir.join("plugins");

    wasm_plugins::ensure_wasm_target();
    let packages: Vec<String> = crates.iter().map(|(name, _)| name.clone()).collect();
    wasm_plugins::build(&plugins_src, &packages, &build_dir);
    let names = wasm_plugins::install(&crates, &build_dir, &dist_dir);

    println!(
        "cargo:rustc-env=LLMHOST_BUNDLED_PLUGINS_DIR={}",
        dist_dir.display()
    );
    println!(
        "cargo:rustc-env=LLMHOST_BUNDLED_PLUGINS={}",
        names.join(",")
    );
}

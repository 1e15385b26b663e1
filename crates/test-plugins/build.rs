//! Builds every crate under `plugins/test/` as a wasm32-wasip2 component
//! into `<target>/test-plugins/<name>.wasm` (its manifest, if any, beside
//! it), and the components no crate can be (`build/memories.rs`), and
//! generates `$OUT_DIR/gen.rs`: one `pub const` path per plugin and
//! `foreach_test_plugin!`, which calls a macro with each constant's name.
//! The mechanism is the host's (`host/build/wasm_plugins.rs`); this crate
//! exists so that the product's build never builds test plugins.

#[path = "../../host/build/wasm_plugins.rs"]
mod wasm_plugins;

#[path = "build/memories.rs"]
mod memories;

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(wasm_plugins::env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("crates/test-plugins lives in the workspace")
        .to_path_buf();
    let plugins_src = workspace.join("plugins");
    let test_src = plugins_src.join("test");
    for watched in [
        plugins_src.join("Cargo.toml"),
        plugins_src.join("Cargo.lock"),
        plugins_src.join("sdk"),
        test_src.clone(),
        workspace.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let target_dir = wasm_plugins::target_dir(&workspace);
    let build_dir = target_dir.join("wasm-plugins");
    let dist_dir = target_dir.join("test-plugins");

    let crates = wasm_plugins::crates_in(&test_src);
    wasm_plugins::ensure_wasm_target();
    let packages: Vec<String> = crates.iter().map(|(name, _)| name.clone()).collect();
    wasm_plugins::build(&plugins_src, &packages, &build_dir);
    let names = wasm_plugins::install(&crates, &build_dir, &dist_dir);
    // Every crate under plugins/test/ is a plugin: one that built no
    // component is a mistake, not something to skip.
    assert_eq!(names, packages, "every test crate builds a component");

    // Components no crate can be: several memories (`build/memories.rs`),
    // within the per-call cap of 4, and past it.
    let contract = workspace.join("wit/versions/0.2.0");
    let mut names = names;
    for (name, memories) in [("many-memories", 4), ("too-many-memories", 9)] {
        let wasm = memories::component(&contract, name, memories);
        std::fs::write(dist_dir.join(format!("{name}.wasm")), wasm).expect("write a component");
        names.push(name.to_owned());
    }
    println!("cargo:rerun-if-changed=build/memories.rs");

    let mut consts = String::new();
    let mut calls = String::new();
    for name in &names {
        let constant = name.replace('-', "_").to_uppercase();
        let path = dist_dir.join(format!("{name}.wasm"));
        let source = if test_src.join(name).exists() {
            format!("plugins/test/{name}")
        } else {
            "crates/test-plugins/build/memories.rs".to_owned()
        };
        writeln!(
            consts,
            "/// `{source}`, built: `{name}.wasm`.\n\
             pub const {constant}: &str = {path:?};"
        )
        .unwrap();
        writeln!(calls, "        $mac!({constant});").unwrap();
    }
    let generated = format!(
        "{consts}\n\
         /// Calls `$mac!(CONST)` with the name of each constant above.\n\
         #[macro_export]\n\
         macro_rules! foreach_test_plugin {{\n    ($mac:ident) => {{\n{calls}    }};\n}}\n"
    );
    let out = PathBuf::from(wasm_plugins::env("OUT_DIR")).join("gen.rs");
    std::fs::write(out, generated).expect("write gen.rs");
}

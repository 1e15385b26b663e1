//! Builds the bundled provider plugins (the `plugins/` workspace) as
//! wasm32-wasip2 components, so that a plain `cargo build`/`cargo run`/
//! `cargo test` of the host yields a server with working providers.
//!
//! Promises: installs the `wasm32-wasip2` target through rustup when it is
//! missing; copies each provider (`plugins/<name>`) to
//! `<target>/plugins/<name>.wasm` and each misbehaving test plugin
//! (`plugins/test/<name>`) to `<target>/test-plugins/<name>.wasm`; tells the
//! host crate where those directories are (`LLMHOST_BUNDLED_PLUGINS_DIR`,
//! `LLMHOST_TEST_PLUGINS_DIR`) and what they hold (`LLMHOST_BUNDLED_PLUGINS`,
//! `LLMHOST_TEST_PLUGINS`).

use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ lives in the workspace")
        .to_path_buf();
    let plugins_src = workspace.join("plugins");
    let wit = workspace.join("wit");
    println!("cargo:rerun-if-changed={}", plugins_src.display());
    println!("cargo:rerun-if-changed={}", wit.display());

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let build_dir = target_dir.join("wasm-plugins");
    let dist_dir = target_dir.join("plugins");
    let test_dist_dir = target_dir.join("test-plugins");

    ensure_wasm_target();
    build_plugins(&plugins_src, &build_dir);
    let names = install_plugins(&plugins_src, &build_dir, &dist_dir);
    let test_names = install_plugins(&plugins_src.join("test"), &build_dir, &test_dist_dir);

    let dirs = [
        ("BUNDLED", &dist_dir, &names),
        ("TEST", &test_dist_dir, &test_names),
    ];
    for (kind, dir, names) in dirs {
        println!(
            "cargo:rustc-env=LLMHOST_{kind}_PLUGINS_DIR={}",
            dir.display()
        );
        println!("cargo:rustc-env=LLMHOST_{kind}_PLUGINS={}", names.join(","));
    }
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("cargo sets {key}"))
}

/// rust-toolchain.toml targets are not auto-installed everywhere, so the
/// build adds the one it needs itself.
fn ensure_wasm_target() {
    let libdir = Command::new(rustc())
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.is_some_and(|dir| dir.exists()) {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .unwrap_or_else(|err| {
            panic!("the {WASM_TARGET} target is missing and rustup could not run ({err}); install it with `rustup target add {WASM_TARGET}`")
        });
    assert!(status.success(), "`rustup target add {WASM_TARGET}` failed");
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

fn build_plugins(plugins_src: &Path, build_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .args(["--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(plugins_src.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(build_dir);
    // The outer build's settings (flags for the host target, clippy's
    // wrapper, its jobserver) must not leak into the wasm build.
    for key in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(key);
    }
    let status = cmd.status().expect("cargo runs");
    assert!(
        status.success(),
        "building the plugins in {} failed",
        plugins_src.display()
    );
}

/// Copies every plugin built from a crate directly under `src_dir` to
/// `dist_dir` and returns their names. A plugin is a crate that produced a
/// component (libraries such as the SDK produce none).
fn install_plugins(plugins_src: &Path, build_dir: &Path, dist_dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dist_dir).expect("create the plugins directory");
    let built = build_dir.join(WASM_TARGET).join("release");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(plugins_src).expect("read plugins/") {
        let path = entry.expect("read plugins/ entry").path();
        if !path.join("Cargo.toml").exists() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let wasm = built.join(format!("{}.wasm", name.replace('-', "_")));
        if !wasm.exists() {
            continue;
        }
        let manifest = path.join(format!("{name}.toml"));
        copy_if_changed(&wasm, &dist_dir.join(format!("{name}.wasm")));
        if manifest.exists() {
            copy_if_changed(&manifest, &dist_dir.join(format!("{name}.toml")));
        }
        names.push(name);
    }
    names.sort();
    names
}

/// Rewriting an unchanged file would make a running server reload it.
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).expect("read built plugin");
    if std::fs::read(to).ok().as_deref() != Some(new.as_slice()) {
        std::fs::write(to, new).expect("install plugin");
    }
}

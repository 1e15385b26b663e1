//! Building crates of the `plugins/` workspace as wasm32-wasip2 components,
//! shared by the two build scripts that need it: `host/build.rs` (the
//! shipped providers) and `crates/test-plugins/build.rs` (the test plugins).
//!
//! Promises: installs the `wasm32-wasip2` target through rustup when it is
//! missing; builds the named packages in one nested cargo run whose settings
//! do not leak from the outer build; copies each built component (and its
//! `<name>.toml` manifest, if any) to a directory, rewriting only what
//! changed, since a running server reloads a rewritten file.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const WASM_TARGET: &str = "wasm32-wasip2";

pub(crate) fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("cargo sets {key}"))
}

/// The workspace's target directory, where the components are built and
/// installed.
pub(crate) fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

/// The crates directly under `dir`, as `(package name, crate directory)`,
/// sorted by name.
pub(crate) fn crates_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("read a plugins/ entry").path();
        if let Ok(manifest) = std::fs::read_to_string(path.join("Cargo.toml")) {
            found.push((package_name(&manifest, &path), path));
        }
    }
    found.sort();
    found
}

/// The `name` of a plugin crate's `[package]`: the first `name = "…"` line,
/// as every crate of the plugins workspace writes it.
fn package_name(manifest: &str, dir: &Path) -> String {
    manifest
        .lines()
        .find_map(|line| {
            let value = line
                .trim()
                .strip_prefix("name")?
                .trim_start()
                .strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("{}/Cargo.toml names no package", dir.display()))
}

/// rust-toolchain.toml targets are not auto-installed everywhere, so the
/// build adds the one it needs itself.
///
/// Both build scripts (and other checkouts' builds) may get here at once on
/// a fresh machine, and two `rustup target add` running together fail with
/// "detected conflict": a machine-wide file lock makes one install while
/// the others wait, and whoever gets the lock looks again first.
pub(crate) fn ensure_wasm_target() {
    if wasm_target_installed() {
        return;
    }
    let lock_path = std::env::temp_dir().join("llmhost-rustup-wasm32-wasip2.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|err| panic!("open {}: {err}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|err| panic!("lock {}: {err}", lock_path.display()));
    if wasm_target_installed() {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .unwrap_or_else(|err| {
            panic!("the {WASM_TARGET} target is missing and rustup could not run ({err}); install it with `rustup target add {WASM_TARGET}`")
        });
    // A rustup outside this lock (run by hand) may have won the race.
    assert!(
        status.success() || wasm_target_installed(),
        "`rustup target add {WASM_TARGET}` failed"
    );
}

/// Whether the compiler in use has the standard library for the wasm target.
fn wasm_target_installed() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|dir| has_rlibs(&dir))
}

/// `target-libdir` names the directory even when the target is not
/// installed (it may exist, empty, after a rolled-back install).
fn has_rlibs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "rlib"))
    })
}

/// Builds `packages` of the workspace at `plugins_src` (release, wasm) into
/// `build_dir`.
pub(crate) fn build(plugins_src: &Path, packages: &[String], build_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .args(["--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(plugins_src.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(build_dir);
    for package in packages {
        cmd.args(["--package", package]);
    }
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
        "building {packages:?} in {} failed",
        plugins_src.display()
    );
}

/// Copies the component built from each crate to `dist_dir/<name>.wasm`
/// (with `<name>.toml` beside it when the crate has one) and returns the
/// names of those that produced a component (a library such as the SDK
/// produces none).
pub(crate) fn install(
    crates: &[(String, PathBuf)],
    build_dir: &Path,
    dist_dir: &Path,
) -> Vec<String> {
    std::fs::create_dir_all(dist_dir).expect("create the plugins directory");
    let built = build_dir.join(WASM_TARGET).join("release");
    let mut names = Vec::new();
    for (name, dir) in crates {
        let wasm = built.join(format!("{}.wasm", name.replace('-', "_")));
        if !wasm.exists() {
            continue;
        }
        copy_if_changed(&wasm, &dist_dir.join(format!("{name}.wasm")));
        let manifest = dir.join(format!("{name}.toml"));
        if manifest.exists() {
            copy_if_changed(&manifest, &dist_dir.join(format!("{name}.toml")));
        }
        names.push(name.clone());
    }
    names
}

/// Rewriting an unchanged file would make a running server reload it.
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).expect("read built plugin");
    if std::fs::read(to).ok().as_deref() != Some(new.as_slice()) {
        std::fs::write(to, new).expect("install plugin");
    }
}

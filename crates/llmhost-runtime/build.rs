//! Lists the released contract versions, the directories of
//! `wit/versions/`, as `$OUT_DIR/released.rs` (`RELEASED`, oldest first):
//! the host's supported range is derived from them, never written twice.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let versions_dir = manifest_dir.join("../../wit/versions");
    println!("cargo:rerun-if-changed={}", versions_dir.display());
    let mut versions: Vec<(u64, u64, u64)> = std::fs::read_dir(&versions_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", versions_dir.display()))
        .filter_map(|entry| {
            let entry = entry.expect("a readable wit/versions entry");
            entry.path().is_dir().then(|| {
                let name = entry.file_name().to_string_lossy().into_owned();
                parse(&name).unwrap_or_else(|| panic!("wit/versions/{name}: not MAJOR.MINOR.PATCH"))
            })
        })
        .collect();
    versions.sort();
    let list: Vec<String> = versions
        .iter()
        .map(|(major, minor, patch)| format!("\"{major}.{minor}.{patch}\""))
        .collect();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("released.rs");
    std::fs::write(
        out,
        format!(
            "/// Every released contract version (`wit/versions/*`), oldest first.\n\
             pub const RELEASED: &[&str] = &[{}];\n",
            list.join(", ")
        ),
    )
    .expect("write released.rs");
}

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let parsed = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(parsed)
}

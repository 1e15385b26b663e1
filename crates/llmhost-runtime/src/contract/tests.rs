//! Released contract versions are frozen: `wit/versions/<version>/` holds
//! each one, `wit/versions/SHA256SUMS` their hashes, and these tests (run by
//! `cargo test --workspace`, hence CI) fail when any of that drifts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::*;

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `SHA256SUMS` as `relative path -> hash` (the `sha256sum` format).
fn recorded_sums() -> BTreeMap<String, String> {
    let path = wit_dir().join("versions/SHA256SUMS");
    let text = std::fs::read_to_string(&path).expect("wit/versions/SHA256SUMS exists");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (hash, file) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("SHA256SUMS: not `<hash>  <path>`: {line:?}"));
            (file.trim().to_owned(), hash.trim().to_owned())
        })
        .collect()
}

/// Every file under `wit/versions/<version>/`, relative to `wit/versions`.
fn frozen_files() -> Vec<String> {
    let versions = wit_dir().join("versions");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&versions).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        semver::Version::parse(&version)
            .unwrap_or_else(|_| panic!("wit/versions/{version}: not a semver version"));
        for file in std::fs::read_dir(&dir).unwrap() {
            let name = file.unwrap().file_name().to_string_lossy().into_owned();
            files.push(format!("{version}/{name}"));
        }
    }
    files.sort();
    files
}

/// The `package llmhost:provider@X;` line's version.
fn package_version(wit: &str) -> semver::Version {
    let line = wit
        .lines()
        .find_map(|l| l.trim().strip_prefix("package llmhost:provider@"))
        .expect("a package line");
    semver::Version::parse(line.trim_end_matches(';').trim()).expect("a semver version")
}

#[test]
fn every_frozen_contract_file_has_its_recorded_checksum() {
    let sums = recorded_sums();
    for file in frozen_files() {
        let Some(recorded) = sums.get(&file) else {
            panic!(
                "wit/versions/{file} has no checksum in wit/versions/SHA256SUMS; \
                 add it with `cd wit/versions && sha256sum */*.wit > SHA256SUMS`"
            );
        };
        let actual = sha256(&wit_dir().join("versions").join(&file));
        assert_eq!(
            &actual, recorded,
            "wit/versions/{file} changed, but a released contract is frozen: \
             put the change in a new version instead"
        );
    }
    for file in sums.keys() {
        assert!(
            frozen_files().contains(file),
            "SHA256SUMS names wit/versions/{file}, which does not exist"
        );
    }
}

#[test]
fn each_frozen_copy_declares_the_version_of_its_directory() {
    for file in frozen_files().iter().filter(|f| f.ends_with(".wit")) {
        let (dir, _) = file.split_once('/').unwrap();
        let text = std::fs::read_to_string(wit_dir().join("versions").join(file)).unwrap();
        assert_eq!(
            package_version(&text).to_string(),
            dir,
            "wit/versions/{file}"
        );
    }
}

#[test]
fn each_contract_version_has_exactly_one_copy_under_wit_versions() {
    let strays: Vec<String> = std::fs::read_dir(wit_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wit"))
        .collect();
    assert!(
        strays.is_empty(),
        "wit/{strays:?}: a contract lives only in wit/versions/<version>/; \
         point `path:` at that directory instead of keeping a second copy"
    );
}

#[test]
fn the_hosts_contract_version_is_the_newest_frozen_release() {
    let file = format!("{CONTRACT_VERSION}/provider.wit");
    assert!(
        frozen_files().contains(&file),
        "CONTRACT_VERSION is {CONTRACT_VERSION}, but wit/versions/{file} does not exist"
    );
    assert_eq!(RELEASED.last(), Some(&CONTRACT_VERSION));
}

#[test]
fn every_release_has_a_host_module_bound_to_the_newest_release_of_its_series() {
    let v = |s: &str| semver::Version::parse(s).unwrap();
    let mut dirs: Vec<String> = frozen_files()
        .iter()
        .map(|f| f.split_once('/').unwrap().0.to_owned())
        .collect();
    dirs.dedup();
    assert_eq!(RELEASED, dirs, "RELEASED is derived from wit/versions/");
    for release in RELEASED {
        let series = Series::of(&v(release)).unwrap_or_else(|| {
            panic!("contract {release} is released but no host module speaks it")
        });
        let newest = RELEASED
            .iter()
            .filter(|r| Series::of(&v(r)) == Some(series))
            .max_by_key(|r| v(r))
            .unwrap();
        assert_eq!(series.bound_version(), *newest, "{series:?}");
    }
    for series in Series::ALL {
        assert!(RELEASED.contains(&series.bound_version()), "{series:?}");
    }
}

#[test]
fn every_release_loads_and_anything_else_is_refused_naming_both_versions() {
    let v = |s: &str| semver::Version::parse(s).unwrap();
    assert_eq!(compatible(&v("0.1.0")), Ok(Series::V0_1));
    assert_eq!(compatible(&v("0.1.1")), Ok(Series::V0_1));
    assert_eq!(compatible(&v("0.2.0")), Ok(Series::V0_2));
    for plugin in ["0.3.0", "1.0.0", "0.0.9", "0.1.99", "0.2.1", "0.2.0-rc.1"] {
        let err = compatible(&v(plugin)).unwrap_err();
        assert_eq!(
            err,
            format!("built against contract {plugin}; this host speaks 0.1.0, 0.1.1, 0.2.0")
        );
    }
}

#[test]
fn the_version_comes_from_contract_interface_names_only() {
    assert_eq!(
        contract_version("llmhost:provider/provider@0.1.0"),
        Some(semver::Version::new(0, 1, 0))
    );
    assert_eq!(contract_version("wasi:http/types@0.2.6"), None);
    assert_eq!(contract_version("llmhost:provider/provider"), None);
}

fn text_request() -> v0_2::Request {
    v0_2::Request {
        model: "m".into(),
        messages: vec![v0_2::Message::text(v0_2::Role::User, "hi")],
        tools: Vec::new(),
        params: v0_2::Params {
            temperature: Some(0.9),
            ..Default::default()
        },
        provider_options: None,
    }
}

#[test]
fn a_text_request_reaches_a_0_1_plugin_with_its_nearest_32_bit_floats() {
    let old = v0_1::request(&text_request()).unwrap();
    assert_eq!(old.messages[0].content, "hi");
    assert_eq!(old.params.temperature, Some(0.9_f32));
}

#[test]
fn what_0_1_cannot_carry_is_named_not_dropped() {
    let with = |change: fn(&mut v0_2::Request)| {
        let mut request = text_request();
        change(&mut request);
        v0_1::request(&request).unwrap_err()
    };
    assert_eq!(
        with(|r| r.tools.push(v0_2::ToolDefinition {
            name: "t".into(),
            description: None,
            parameters: None,
            strict: None,
        })),
        "tools"
    );
    assert_eq!(with(|r| r.params.seed = Some(1)), "seed");
    assert_eq!(
        with(|r| r.messages[0]
            .content
            .push(v0_2::ContentPart::Media(v0_2::MediaPart {
                media_type: "image/png".into(),
                source: v0_2::MediaSource::Bytes(vec![1]),
                detail: None,
                name: None,
            }))),
        "media (image/png)"
    );
    assert_eq!(
        with(|r| r.messages[0].tool_call_id = Some("c".into())),
        "tool results"
    );
}

//! `llmhost plugin new NAME`: writes a provider crate that builds on its own
//! (crates.io only), carries the contract's WIT as this host speaks it and
//! the plugin SDK beside it (`sdk/`, this host's `plugins/sdk` with its
//! bindings pointed at the crate's `wit/`), and passes conformance
//! untouched. Never overwrites an existing file.

use std::path::Path;

use llmhost_runtime::CONTRACT_VERSION;

/// The contract, as this host was built with it.
const CONTRACT_WIT: &str = include_str!("../../../../wit/versions/0.2.0/provider.wit");

/// Where the SDK finds the contract in this repository, and in a
/// scaffolded crate (relative to the SDK's own directory).
const SDK_WIT_IN_REPO: &str = "path: \"../../wit/versions/0.2.0\"";
const SDK_WIT_IN_CRATE: &str = "path: \"../wit\"";

/// The version of wit-bindgen the plugins' workspace pins.
const WIT_BINDGEN: &str = "wit-bindgen = \"0.61\"";

/// The SDK's sources, written to `sdk/src/`; a test checks this is every
/// file of `plugins/sdk/src`.
const SDK_SOURCES: [(&str, &str); 13] = [
    ("lib.rs", include_str!("../../../../plugins/sdk/src/lib.rs")),
    (
        "answer.rs",
        include_str!("../../../../plugins/sdk/src/answer.rs"),
    ),
    (
        "decoding.rs",
        include_str!("../../../../plugins/sdk/src/decoding.rs"),
    ),
    (
        "errors.rs",
        include_str!("../../../../plugins/sdk/src/errors.rs"),
    ),
    (
        "framing.rs",
        include_str!("../../../../plugins/sdk/src/framing.rs"),
    ),
    (
        "http.rs",
        include_str!("../../../../plugins/sdk/src/http.rs"),
    ),
    (
        "json.rs",
        include_str!("../../../../plugins/sdk/src/json.rs"),
    ),
    (
        "parts.rs",
        include_str!("../../../../plugins/sdk/src/parts.rs"),
    ),
    (
        "provider.rs",
        include_str!("../../../../plugins/sdk/src/provider.rs"),
    ),
    (
        "shared.rs",
        include_str!("../../../../plugins/sdk/src/shared.rs"),
    ),
    (
        "stream.rs",
        include_str!("../../../../plugins/sdk/src/stream.rs"),
    ),
    (
        "tools.rs",
        include_str!("../../../../plugins/sdk/src/tools.rs"),
    ),
    (
        "vendor.rs",
        include_str!("../../../../plugins/sdk/src/vendor.rs"),
    ),
];

/// The SDK's manifest, which inherits from the plugins' workspace.
const SDK_MANIFEST: &str = include_str!("../../../../plugins/sdk/Cargo.toml");

/// `(path in the crate, template)`. The guide travels with the crate: its
/// author may have the `llmhost` binary and nothing else.
const FILES: [(&str, &str); 7] = [
    ("Cargo.toml", include_str!("template/Cargo.toml.in")),
    ("src/lib.rs", include_str!("template/lib.rs.in")),
    ("wit/provider.wit", CONTRACT_WIT),
    ("{{name}}.toml", include_str!("template/manifest.toml.in")),
    (
        "conformance/{{name}}.toml",
        include_str!("template/cases.toml.in"),
    ),
    ("README.md", include_str!("template/README.md.in")),
    (
        "WRITING-PROVIDERS.md",
        include_str!("../../../../docs/plugins.md"),
    ),
];

/// Creates the crate for provider `name` in `dir`.
pub(crate) fn create(name: &str, dir: &Path) -> anyhow::Result<()> {
    check_name(name)?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not empty; choose another --dir",
            dir.display()
        );
    }
    let templates = FILES
        .iter()
        .map(|(path, text)| (fill(path, name), fill(text, name)));
    for (path, text) in templates.chain(sdk_files()) {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    println!(
        "created the provider {name} in {dir}\n\n  cd {dir}\n  cargo build --release --target wasm32-wasip2\n  llmhost conformance target/wasm32-wasip2/release/{crate_name}.wasm --manifest {name}.toml --cases conformance\n\nsee {dir}/README.md to install it",
        dir = dir.display(),
        crate_name = name.replace('-', "_"),
    );
    Ok(())
}

/// The SDK as a crate of its own: its manifest without the workspace's
/// inheritance, its bindings generated from the crate's `wit/`.
fn sdk_files() -> impl Iterator<Item = (String, String)> {
    let manifest = SDK_MANIFEST
        .replace("edition.workspace = true", "edition = \"2024\"")
        .replace("rust-version.workspace = true\n", "")
        .replace("license.workspace = true", "license = \"Apache-2.0\"")
        .replace("wit-bindgen.workspace = true", WIT_BINDGEN);
    let sources = SDK_SOURCES.iter().map(|(file, text)| {
        (
            format!("sdk/src/{file}"),
            text.replace(SDK_WIT_IN_REPO, SDK_WIT_IN_CRATE),
        )
    });
    std::iter::once(("sdk/Cargo.toml".to_owned(), manifest)).chain(sources)
}

/// A provider name is a file name, a crate name and a model prefix.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 64;
    anyhow::ensure!(
        ok,
        "{name:?} is not a provider name: use lowercase letters, digits and `-`, starting with a letter"
    );
    Ok(())
}

fn fill(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{contract}}", CONTRACT_VERSION)
        .replace("{{host_version}}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_file_and_crate_names_are_refused() {
        for bad in [
            "",
            "Upper",
            "1st",
            "has space",
            "dots.no",
            "trailing-",
            "ünï",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["acme", "acme-llm", "v2-proxy"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn the_sdk_written_beside_the_crate_is_all_of_it_and_stands_alone() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let mut in_repo: Vec<String> = std::fs::read_dir(dir.join("sdk/src"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        in_repo.sort();
        let mut written: Vec<String> = SDK_SOURCES.iter().map(|(f, _)| (*f).to_owned()).collect();
        written.sort();
        assert_eq!(written, in_repo, "SDK_SOURCES lists every SDK file");
        let workspace = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(workspace.contains(WIT_BINDGEN), "the pinned wit-bindgen");
        let files: Vec<(String, String)> = sdk_files().collect();
        let (_, manifest) = &files[0];
        assert!(!manifest.contains("workspace"), "{manifest}");
        let (_, lib) = files.iter().find(|(p, _)| p == "sdk/src/lib.rs").unwrap();
        assert!(lib.contains(SDK_WIT_IN_CRATE) && !lib.contains(SDK_WIT_IN_REPO));
    }

    #[test]
    fn every_placeholder_is_filled() {
        for (path, template) in FILES {
            let filled = fill(template, "acme-llm");
            assert!(!filled.contains("{{"), "{path}: {filled}");
        }
    }
}

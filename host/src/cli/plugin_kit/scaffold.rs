//! `llmhost plugin new NAME`: writes a provider crate that builds on its own
//! (crates.io only), carries the contract's WIT as this host speaks it, and
//! passes conformance untouched. Never overwrites an existing file.

use std::path::Path;

use llmhost_runtime::CONTRACT_VERSION;

/// The contract, as this host was built with it.
const CONTRACT_WIT: &str = include_str!("../../../../wit/versions/0.1.1/provider.wit");

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
    for (path, template) in FILES {
        let path = dir.join(fill(path, name));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, fill(template, name))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    println!(
        "created the provider {name} in {dir}\n\n  cd {dir}\n  cargo build --release --target wasm32-wasip2\n  llmhost conformance target/wasm32-wasip2/release/{crate_name}.wasm --manifest {name}.toml --cases conformance\n\nsee {dir}/README.md to install it",
        dir = dir.display(),
        crate_name = name.replace('-', "_"),
    );
    Ok(())
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
    fn every_placeholder_is_filled() {
        for (path, template) in FILES {
            let filled = fill(template, "acme-llm");
            assert!(!filled.contains("{{"), "{path}: {filled}");
        }
    }
}

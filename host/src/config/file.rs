//! Reading the TOML configuration file. An error names the file, the line,
//! the key and the problem, so an operator can fix it without guessing.

use std::path::Path;

use super::Settings;

/// The settings in `path`, with defaults for every key it leaves out.
pub(crate) fn load_file(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("config file {}: {err}", path.display()))?;
    parse(&text).map_err(|problem| anyhow::anyhow!("config file {}: {problem}", path.display()))
}

/// Parses a configuration; the error is `line N: KEY: PROBLEM`.
pub(crate) fn parse(text: &str) -> Result<Settings, String> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| describe(text, "", &err))?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        // The path of an unknown key is its table (`.` at the top); the
        // message names the key itself.
        let key = if key == "." { String::new() } else { key };
        describe(text, &key, err.inner())
    })
}

fn describe(text: &str, key: &str, err: &toml::de::Error) -> String {
    let line = err.span().map(|span| {
        1 + text.as_bytes()[..span.start.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    });
    let mut out = String::new();
    if let Some(line) = line {
        out.push_str(&format!("line {line}: "));
    }
    if !key.is_empty() {
        out.push_str(&format!("{key}: "));
    }
    out.push_str(err.message().trim());
    out
}

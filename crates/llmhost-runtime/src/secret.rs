//! A manifest's secret value as written: a template such as
//! `Bearer ${OPENAI_API_KEY}`, never printed (Debug redacts it), expanded
//! from the host environment when a plugin loads and handed only to the
//! egress layer. Serialised, it is `****`: what `config check` prints.

use serde::{Deserialize, Serialize, Serializer};

#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretTemplate(String);

impl SecretTemplate {
    /// The value with every `${VAR}` replaced from the environment; names
    /// the first variable that is not set.
    pub fn expand(&self) -> Result<String, String> {
        expand_with(&self.0, |name| std::env::var(name).ok())
    }
}

impl Serialize for SecretTemplate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

impl std::fmt::Debug for SecretTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretTemplate(***)")
    }
}

fn expand_with(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated ${ in a secret".to_owned())?;
        let name = &after[..end];
        out.push_str(
            &lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_replaced_and_a_missing_one_is_named() {
        let lookup = |name: &str| (name == "KEY").then(|| "s3cr3t".to_owned());
        assert_eq!(
            expand_with("Bearer ${KEY}", lookup).unwrap(),
            "Bearer s3cr3t"
        );
        assert_eq!(expand_with("plain", lookup).unwrap(), "plain");
        assert_eq!(
            expand_with("${NOPE}", lookup).unwrap_err(),
            "environment variable NOPE is not set"
        );
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = SecretTemplate("Bearer s3cr3t".into());
        assert!(!format!("{secret:?}").contains("s3cr3t"));
    }
}

//! Path prefixes a secret is pinned to (`paths` of a manifest's
//! `[[secret]]`): the header goes only to requests whose path is within one
//! of them. A path an upstream could read as another one (dot segments,
//! percent-encoded dots, slashes or backslashes, a backslash) is within
//! none, so `/v1/../reflect` never carries a secret pinned to `/v1/`.

/// The prefixes of one secret; none means every path of its origin.
#[derive(Clone, Debug, Default)]
pub(super) struct Prefixes(Vec<String>);

impl Prefixes {
    /// Each prefix starts with `/` and is itself a plain path.
    pub(super) fn parse(prefixes: &[String]) -> Result<Self, String> {
        for prefix in prefixes {
            if !prefix.starts_with('/') || prefix.contains('?') || !plain(prefix) {
                return Err(format!(
                    "paths: {prefix:?} must be a plain path starting with / (no query, dot \
                     segments or escapes)"
                ));
            }
        }
        Ok(Self(prefixes.to_vec()))
    }

    /// Whether a request to `path` (without its query) gets the secret.
    pub(super) fn admit(&self, path: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        plain(path) && self.0.iter().any(|prefix| within(path, prefix))
    }
}

/// `/v1` covers `/v1` and `/v1/…`, not `/v1beta`; `/v1/` covers `/v1/…`.
fn within(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// No segment an upstream may resolve or decode into another path.
fn plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let escapes = ["%2e", "%2f", "%5c", "%25"];
    !path.contains('\\')
        && !escapes.iter().any(|e| lower.contains(e))
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Prefixes {
        Prefixes::parse(&list.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_path_is_within_a_prefix_by_whole_segments() {
        let p = prefixes(&["/v1", "/api/"]);
        for path in ["/v1", "/v1/chat/completions", "/api/x", "/api/"] {
            assert!(p.admit(path), "{path}");
        }
        for path in ["/", "/v1beta/x", "/reflect", "/api", "/v2/v1"] {
            assert!(!p.admit(path), "{path}");
        }
        assert!(prefixes(&[]).admit("/anything"), "no prefix: every path");
    }

    #[test]
    fn a_path_an_upstream_could_resolve_elsewhere_gets_no_secret() {
        let p = prefixes(&["/v1/"]);
        for path in [
            "/v1/../reflect",
            "/v1/./x",
            "/v1/%2e%2e/reflect",
            "/v1/%2E%2E/reflect",
            "/v1/..%2freflect",
            "/v1/..%5creflect",
            "/v1/..\\reflect",
            "/v1/%252e%252e/reflect",
        ] {
            assert!(!p.admit(path), "{path}");
        }
    }

    #[test]
    fn a_prefix_must_be_a_plain_absolute_path() {
        for bad in ["v1/", "/v1/?x=1", "/v1/../", "/%2e/"] {
            let err = Prefixes::parse(&[bad.to_owned()]).unwrap_err();
            assert!(err.contains("plain path"), "{bad}: {err}");
        }
    }
}

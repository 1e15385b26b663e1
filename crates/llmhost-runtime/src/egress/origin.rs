//! Origins (`scheme://host:port`) and how allowed ones match requests.

use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Origin {
    pub scheme: String,
    /// Lower-case; may start with `*.` in an allow-list entry.
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl Origin {
    /// Parses an allow-list entry: `scheme://host[:port]`, nothing more.
    pub(super) fn parse(text: &str) -> anyhow::Result<Self> {
        let bad = |why: &str| anyhow::anyhow!("egress origin {text:?}: {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port =
            default_port(&scheme).ok_or_else(|| bad("the scheme must be http or https"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(bad("an origin has no path, query or credentials"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| bad("invalid port"))?;
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if let Some(domain) = host.strip_prefix("*.")
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
        {
            // No top-level domain is numeric: `*.0.0.1` can only be meant
            // to cover addresses, and a wildcard covers names only.
            return Err(bad(
                "a wildcard covers host names, not IP addresses; name each address",
            ));
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(default_port),
        })
    }

    /// The origin a request goes to.
    pub(super) fn from_uri(uri: &http::Uri) -> Result<Self, String> {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let port =
            default_port(&scheme).ok_or_else(|| format!("scheme {scheme} is not allowed"))?;
        let host = uri.host().ok_or_else(|| format!("{uri} has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Ok(Self {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(port),
        })
    }

    /// Whether this allow-list entry admits `request`. An IP literal is an
    /// address, compared as one (`[::1]` is `[0::1]`) and never matched by
    /// a wildcard, which covers names only.
    pub(super) fn matches(&self, request: &Origin) -> bool {
        if self.scheme != request.scheme || self.port != request.port {
            return false;
        }
        if let Ok(ip) = request.host.parse::<IpAddr>() {
            return self.names_ip(ip);
        }
        match self.host.strip_prefix("*.") {
            Some(domain) => {
                request.host.len() > domain.len() + 1
                    && request.host.ends_with(domain)
                    && request.host.as_bytes()[request.host.len() - domain.len() - 1] == b'.'
            }
            None => self.host == request.host,
        }
    }

    /// Whether this entry admits everything `other` (another entry) does.
    pub(super) fn covers(&self, other: &Origin) -> bool {
        self.matches(other) || self == other
    }

    /// Whether the entry names this address literally (e.g.
    /// `http://127.0.0.1:11434`), which allows it even if it is refused by
    /// default.
    pub(super) fn names_ip(&self, ip: IpAddr) -> bool {
        self.host.parse::<IpAddr>().is_ok_and(|named| named == ip)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

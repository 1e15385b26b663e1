//! Outbound HTTP policy for one plugin, enforced in one place: which origins
//! it may reach, which resolved addresses are acceptable, which secret
//! headers the host adds, and the time and size bounds of each request.
//! `hooks` plugs this policy into wasi:http; `send` makes the connection
//! (or reuses one from `pool`, at most `max_connections_per_origin` per
//! origin; h2 when TLS picks it), or `scripted` answers in its place (the
//! conformance suite).

mod address;
mod dns;
#[cfg(test)]
mod dns_tests;
mod hooks;
mod leased;
mod origin;
mod paths;
mod pool;
mod scripted;
mod send;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use dns::Dns;
pub(crate) use hooks::EgressHooks;
use origin::Origin;
pub use scripted::{Exchange, Reply, ScriptedUpstream, SeenRequest};
pub use tls::UpstreamTls;

use super::manifest::Manifest;
use super::redact::Redactor;

/// What the host noticed while a call used the network. A plugin sees only
/// a wasi:http error; the host reports the precise cause on the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Incident {
    /// A request was refused by the policy.
    Denied(String),
    /// A response exceeded `max_response_bytes`.
    ResponseTooLarge(String),
    /// Connecting or reading took longer than the manifest allows.
    Timeout(String),
    /// The call crossed one of the host's per-call limits (log lines or
    /// bytes, …): it fails with `resource_limit` whatever it returns.
    Limit(String),
}

impl Incident {
    /// Whether it fails the call whatever the plugin returns: a refused
    /// request (a plugin may not swallow it) or a crossed per-call limit.
    pub(crate) fn is_decisive(&self) -> bool {
        matches!(self, Self::Denied(_) | Self::Limit(_))
    }
}

impl Incident {
    fn text_mut(&mut self) -> &mut String {
        match self {
            Self::Denied(why)
            | Self::ResponseTooLarge(why)
            | Self::Timeout(why)
            | Self::Limit(why) => why,
        }
    }
}

/// The first incident of one call.
#[derive(Clone, Default)]
pub(crate) struct IncidentLog {
    first: Arc<Mutex<Option<Incident>>>,
    /// An incident names hosts the plugin chose (`https://<anything>.x/`),
    /// so it could carry a secret the plugin got back from an upstream.
    redactor: Arc<Redactor>,
}

impl IncidentLog {
    pub(crate) fn new(redactor: Arc<Redactor>) -> Self {
        Self {
            first: Arc::default(),
            redactor,
        }
    }

    /// Keeps the incident (redacted) if it is the call's first; says
    /// whether it was, so that only the first of a flood is logged.
    pub(crate) fn record(&self, mut incident: Incident) -> bool {
        let mut slot = self.first.lock().expect("incident lock");
        if slot.is_none() {
            self.redactor.redact(incident.text_mut());
            *slot = Some(incident);
            return true;
        }
        false
    }

    pub(crate) fn first(&self) -> Option<Incident> {
        self.first.lock().expect("incident lock").clone()
    }

    /// `text` without the call's secrets, to log it.
    pub(crate) fn redacted(&self, text: String) -> String {
        self.redactor.redacted(text)
    }
}

/// A header the host adds to requests for one origin.
struct SecretHeader {
    origin: Origin,
    /// Where on the origin it goes.
    paths: paths::Prefixes,
    name: HeaderName,
    value: HeaderValue,
}

pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

/// The egress policy of one plugin, built from its manifest at load time.
pub struct EgressPolicy {
    allow: Vec<Origin>,
    allow_addresses: Vec<ipnet::IpNet>,
    secrets: Vec<SecretHeader>,
    /// Every secret header name, configured or not: never the plugin's to set.
    reserved: Vec<HeaderName>,
    pub timeouts: Timeouts,
    pub max_response_bytes: u64,
    /// Set by the conformance suite: answers in place of the network.
    script: Option<Arc<ScriptedUpstream>>,
    /// This plugin's upstream connections.
    pool: Arc<pool::Pool>,
    /// How upstream certificates are checked.
    tls: UpstreamTls,
    /// How upstream host names are resolved (answers cached, shared by
    /// every plugin).
    dns: Dns,
}

#[derive(Debug)]
/// Where an allowed request goes: addresses already checked, so the
/// connection cannot be redirected by a second DNS answer.
pub struct Target {
    pub host: String,
    pub port: u16,
    pub addrs: Vec<SocketAddr>,
    pub tls: bool,
}

impl EgressPolicy {
    /// Builds the policy; errors name the manifest entry that is wrong. A
    /// secret whose environment variable is missing is left out with a
    /// warning. Even then the plugin may not set that header itself.
    pub fn from_manifest(manifest: &Manifest) -> anyhow::Result<Self> {
        Self::build(manifest, true)
    }

    /// The same policy, checked as strictly and reserving the same headers,
    /// but with no secret's value read: for a scripted upstream, which needs
    /// no credential (the host's environment is not even read).
    pub fn from_manifest_without_secret_values(manifest: &Manifest) -> anyhow::Result<Self> {
        Self::build(manifest, false)
    }

    fn build(manifest: &Manifest, read_secrets: bool) -> anyhow::Result<Self> {
        let egress = &manifest.egress;
        let allow = egress
            .allow
            .iter()
            .map(|o| Origin::parse(o))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let allow_addresses = egress
            .allow_addresses
            .iter()
            .map(|a| parse_net(a))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut secrets = Vec::new();
        let mut reserved = Vec::new();
        for secret in &manifest.secrets {
            let origin = Origin::parse(&secret.origin)?;
            anyhow::ensure!(
                allow.iter().any(|a| a.covers(&origin)),
                "secret for {}: the origin is not in egress.allow",
                secret.origin
            );
            let paths = paths::Prefixes::parse(&secret.paths)
                .map_err(|why| anyhow::anyhow!("secret for {}: {why}", secret.origin))?;
            let name = HeaderName::try_from(secret.header.as_str()).map_err(|_| {
                anyhow::anyhow!(
                    "secret for {}: invalid header name {:?}",
                    secret.origin,
                    secret.header
                )
            })?;
            reserved.push(name.clone());
            if !read_secrets {
                continue;
            }
            // A missing variable is not fatal: the plugin still serves (its
            // upstream will answer `authentication`), and the operator is told.
            let value = match secret.value.expand() {
                Ok(value) => value,
                Err(e) => {
                    tracing::warn!(header = %secret.header, origin = %secret.origin, "secret not configured: {e}; requests go without it");
                    continue;
                }
            };
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                anyhow::anyhow!(
                    "secret {} for {}: not a valid header value",
                    secret.header,
                    secret.origin
                )
            })?;
            value.set_sensitive(true);
            secrets.push(SecretHeader {
                origin,
                paths,
                name,
                value,
            });
        }
        Ok(Self {
            allow,
            allow_addresses,
            secrets,
            reserved,
            timeouts: Timeouts {
                connect: Duration::from_millis(egress.connect_timeout_ms),
                first_byte: Duration::from_millis(egress.first_byte_timeout_ms),
                between_bytes: Duration::from_millis(egress.between_bytes_timeout_ms),
            },
            max_response_bytes: egress.max_response_bytes,
            script: None,
            pool: Arc::new(pool::Pool::new(egress.max_connections_per_origin)),
            tls: UpstreamTls::default(),
            dns: Dns::default(),
        })
    }

    /// Checks a request's URI: the origin must be allowed, and every address
    /// its host resolves to must be acceptable.
    pub async fn check(&self, uri: &http::Uri) -> Result<Target, String> {
        let (origin, allowed) = self.check_origin(uri)?;
        let addrs: Vec<SocketAddr> = match origin.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
            Err(_) => self
                .dns
                .resolve(&origin.host, origin.port)
                .await
                .map_err(|e| format!("{origin}: cannot resolve {}: {e}", origin.host))?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, origin.port))
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{origin}: {} resolves to no address", origin.host));
        }
        for addr in &addrs {
            let named = allowed.names_ip(addr.ip())
                || self.allow_addresses.iter().any(|n| n.contains(&addr.ip()));
            if let Some(kind) = address::refused_kind(addr.ip())
                && !named
            {
                return Err(format!(
                    "{origin}: {} resolves to {} ({kind}), which is refused",
                    origin.host,
                    addr.ip()
                ));
            }
        }
        Ok(Target {
            host: origin.host.clone(),
            port: origin.port,
            addrs,
            tls: origin.scheme == "https",
        })
    }

    /// The request's origin and the allowed origin that covers it; no
    /// address is resolved.
    fn check_origin(&self, uri: &http::Uri) -> Result<(Origin, &Origin), String> {
        let origin = Origin::from_uri(uri)?;
        match self.allow.iter().find(|a| a.matches(&origin)) {
            Some(allowed) => Ok((origin, allowed)),
            None => Err(format!("{origin} is not an allowed origin")),
        }
    }

    /// Answers this plugin's requests from a script instead of the network
    /// (the conformance suite): nothing is resolved, no socket is opened.
    pub fn with_script(mut self, script: Arc<ScriptedUpstream>) -> Self {
        self.script = Some(script);
        self
    }

    /// Checks upstream certificates with `tls` (the operator's CA file)
    /// instead of the webpki roots alone.
    pub fn with_tls(mut self, tls: UpstreamTls) -> Self {
        self.tls = tls;
        self
    }

    /// Resolves upstream host names with `dns` instead of the process's
    /// resolver of the system's configuration.
    #[cfg(test)]
    pub(crate) fn with_dns(mut self, dns: Dns) -> Self {
        self.dns = dns;
        self
    }

    /// The value of every secret the host adds, to keep them out of what
    /// the plugin returns.
    pub(crate) fn secret_values(&self) -> impl Iterator<Item = &[u8]> {
        self.secrets.iter().map(|s| s.value.as_bytes())
    }

    /// Header names a plugin may not set: every secret header.
    pub fn secret_header_names(&self) -> Vec<HeaderName> {
        self.reserved.clone()
    }

    /// Adds the secret headers for this request's origin (and path, when
    /// a secret is pinned to some), replacing any value of the same name.
    pub fn inject_secrets(&self, request: &mut http::Request<impl Sized>) {
        let Ok(origin) = Origin::from_uri(request.uri()) else {
            return;
        };
        let path = request.uri().path().to_owned();
        let admitted = |s: &&SecretHeader| s.origin.matches(&origin) && s.paths.admit(&path);
        for secret in self.secrets.iter().filter(admitted) {
            request
                .headers_mut()
                .insert(secret.name.clone(), secret.value.clone());
        }
    }
}

fn parse_net(text: &str) -> anyhow::Result<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            anyhow::anyhow!("egress.allow_addresses: {text:?} is not an address or CIDR range")
        })
}

#[cfg(test)]
mod reuse_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

//! How an upstream's host name becomes addresses: hickory's stub resolver,
//! built once per process from the system's `/etc/resolv.conf` and hosts
//! file (read then) and shared by every plugin, keeps every answer for as
//! long as its TTL says, so a request to a name it resolved a moment ago
//! asks no one. A name it finds no record for goes to the system's
//! `getaddrinfo` (uncached: that reports no TTL), as does every name on a
//! system whose resolver configuration it cannot read, so no name that
//! resolved before stops resolving. Whatever answers, the egress policy
//! checks each address of each answer, on every request.

use std::net::IpAddr;
use std::sync::OnceLock;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::LookupIpStrategy;
#[cfg(test)]
use hickory_resolver::config::{ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// Resolves upstream host names; clones share one cache.
#[derive(Clone)]
pub(crate) struct Dns {
    /// `None` when the system's resolver configuration could not be read.
    cached: Option<TokioResolver>,
}

impl Default for Dns {
    /// The process's one resolver of the system's configuration.
    fn default() -> Self {
        static SYSTEM: OnceLock<Dns> = OnceLock::new();
        SYSTEM.get_or_init(Self::system).clone()
    }
}

impl Dns {
    /// The system's name servers, search domains and hosts file (read now).
    fn system() -> Self {
        let built = TokioResolver::builder_tokio().and_then(|mut builder| {
            Self::like_getaddrinfo(&mut builder);
            builder.build()
        });
        match built {
            Ok(resolver) => Self {
                cached: Some(resolver),
            },
            Err(e) => {
                tracing::warn!(
                    "cannot read the system's DNS configuration ({e}): upstream names \
                     are resolved by getaddrinfo, and no answer is cached"
                );
                Self::uncached()
            }
        }
    }

    /// Every name asked of `getaddrinfo`.
    pub(super) fn uncached() -> Self {
        Self { cached: None }
    }

    /// Only the name servers of `config`, and no hosts file: the tests' own
    /// DNS server.
    #[cfg(test)]
    pub(crate) fn with_config(config: ResolverConfig) -> Self {
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        Self::like_getaddrinfo(&mut builder);
        builder.options_mut().use_hosts_file = ResolveHosts::Never;
        Self {
            cached: Some(builder.build().expect("a resolver of the tests' config")),
        }
    }

    /// Both families, asked at once, as `getaddrinfo` answers (hickory's
    /// default asks for IPv6 only when IPv4 has nothing).
    fn like_getaddrinfo(builder: &mut hickory_resolver::ResolverBuilder<TokioRuntimeProvider>) {
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    }

    /// Every address `host` (a name, not an IP literal) resolves to; empty
    /// when it has none.
    pub(super) async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        if let Some(resolver) = &self.cached {
            match resolver.lookup_ip(host).await {
                Ok(answer) => return Ok(answer.iter().collect()),
                Err(e) if !e.is_no_records_found() => return Err(e.to_string()),
                // Perhaps a name only another source `getaddrinfo` consults
                // knows (nsswitch: mDNS, LDAP, a hosts file edited since).
                Err(_) => {}
            }
        }
        let found = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| e.to_string())?;
        Ok(found.map(|addr| addr.ip()).collect())
    }
}

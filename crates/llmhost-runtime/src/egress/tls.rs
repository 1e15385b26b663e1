//! The TLS client side of upstream connections: which roots are trusted
//! (the webpki roots, plus the CA certificates the operator adds with
//! `upstream_ca_file`, for an internal server behind a private CA) and which
//! protocols are offered by ALPN (`h2`, then `http/1.1`). One configuration
//! is shared by every connection of the runtime, so TLS sessions resume.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// ALPN's name for HTTP/2.
pub(super) const H2: &[u8] = b"h2";

/// The most a CA file may be: a bundle of a few hundred certificates.
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// How upstream certificates are checked; cheap to clone.
#[derive(Clone, Debug)]
pub struct UpstreamTls {
    config: Arc<rustls::ClientConfig>,
}

impl Default for UpstreamTls {
    /// The webpki roots only, built once per process.
    fn default() -> Self {
        static WEBPKI: OnceLock<UpstreamTls> = OnceLock::new();
        WEBPKI
            .get_or_init(|| Self::with_roots(Vec::new()).expect("the webpki roots are valid"))
            .clone()
    }
}

impl UpstreamTls {
    /// The webpki roots and every certificate of the PEM file at `path`; an
    /// unreadable file, or one without a certificate, is an error naming it.
    pub fn with_ca_file(path: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        let bytes = crate::files::read_regular(path, MAX_CA_FILE_BYTES)
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let certificates = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{shown}: not PEM certificates: {e}"))?;
        anyhow::ensure!(
            !certificates.is_empty(),
            "{shown}: holds no certificate (expected PEM \
             `-----BEGIN CERTIFICATE-----` blocks)"
        );
        Self::with_roots(certificates).map_err(|e| anyhow::anyhow!("{shown}: {e}"))
    }

    /// The webpki roots and `extra`.
    pub fn with_roots(extra: Vec<CertificateDer<'static>>) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for (i, certificate) in extra.into_iter().enumerate() {
            roots
                .add(certificate)
                .map_err(|e| anyhow::anyhow!("certificate {}: {e}", i + 1))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        // h2 first: one connection then carries every concurrent request.
        config.alpn_protocols = vec![H2.to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    pub(super) fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

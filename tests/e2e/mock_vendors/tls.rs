//! The mock vendors over TLS: a test CA (written as PEM for the server's
//! `--upstream-ca-file`), a certificate it signs for 127.0.0.1, and each
//! accepted connection served with h2 or HTTP/1.1 as ALPN picked. The
//! same answers and records as over plain HTTP; connections are counted
//! as they are accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{Mock, MockVendor, Vendor};

/// A CA and a certificate it signed for 127.0.0.1.
pub(crate) struct TestCa {
    root_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "llmhost e2e CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Self {
            root_pem: ca.pem(),
            chain: vec![leaf.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    /// Writes the CA's certificate as PEM into `dir`; its path.
    pub(crate) fn write_root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("upstream-ca.pem");
        std::fs::write(&path, &self.root_pem).unwrap();
        path
    }
}

impl MockVendor {
    /// `vendor`'s mock at `https://127.0.0.1:<port>`, offering h2 and
    /// HTTP/1.1 by ALPN, its certificate signed by `ca`.
    pub(crate) async fn start_tls(vendor: Vendor, ca: &TestCa) -> Self {
        let mock = Mock::new(vendor);
        let app = mock.app();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(ca.chain.clone(), PrivateKeyDer::Pkcs8(ca.key.clone_key()))
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counted = mock.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                counted.connections.fetch_add(1, Ordering::Relaxed);
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let (io, service) = (TokioIo::new(tls), TowerToHyperService::new(app));
                    let _ = if h2 {
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await
                    } else {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await
                    };
                });
            }
        });
        Self {
            addr,
            mock,
            scheme: "https",
        }
    }
}

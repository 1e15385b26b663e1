//! Upstream connections over TLS and HTTP/2, and the bound per origin,
//! against real local servers (hyper over rustls, with a test CA the
//! policy is told to trust) that count the connections they accept and
//! how many are open at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

use super::pool::{Next, OriginKey};
use super::{EgressHooks, EgressPolicy, Incident, IncidentLog, UpstreamTls};
use crate::manifest::Manifest;

/// A CA and a certificate it signed for 127.0.0.1.
struct TestCa {
    root: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl TestCa {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "llmhost test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Self {
            root: ca.der().clone(),
            chain: vec![leaf.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    fn trusted(&self) -> UpstreamTls {
        UpstreamTls::with_roots(vec![self.root.clone()]).unwrap()
    }
}

/// What the server speaks.
#[derive(Clone, Copy, PartialEq)]
enum Speaks {
    /// TLS, h2 when the client offers it.
    H2,
    /// TLS, HTTP/1.1 only.
    TlsH1,
    /// Plain HTTP/1.1.
    H1,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    open: AtomicUsize,
    peak: AtomicUsize,
}

struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    speaks: Speaks,
}

impl Server {
    async fn start(ca: &TestCa, speaks: Speaks) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(ca.chain.clone(), PrivateKeyDer::Pkcs8(ca.key.clone_key()))
            .unwrap();
        config.alpn_protocols = match speaks {
            Speaks::H2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Speaks::TlsH1 | Speaks::H1 => vec![b"http/1.1".to_vec()],
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let counted = counts.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let counts = counted.clone();
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                let now = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
                counts.peak.fetch_max(now, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match speaks {
                        Speaks::H1 => serve_h1(TokioIo::new(tcp)).await,
                        Speaks::H2 | Speaks::TlsH1 => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                                    let service = service_fn(answer);
                                    let _ = hyper::server::conn::http2::Builder::new(
                                        TokioExecutor::new(),
                                    )
                                    .serve_connection(TokioIo::new(tls), service)
                                    .await;
                                } else {
                                    serve_h1(TokioIo::new(tls)).await;
                                }
                            }
                        }
                    }
                    counts.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            counts,
            speaks,
        }
    }

    fn origin(&self) -> String {
        let scheme = if self.speaks == Speaks::H1 {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }
}

async fn serve_h1<T>(io: TokioIo<T>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service_fn(answer))
        .await;
}

/// `/slow` answers after 50 ms (so that a burst overlaps), `/big` with
/// 64 KiB, anything else at once; each says which protocol carried it.
async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let body = match request.uri().path() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            format!("{:?}", request.version())
        }
        "/big" => "x".repeat(64 << 10),
        _ => format!("{:?}", request.version()),
    };
    Ok(hyper::Response::new(Full::new(Bytes::from(body))))
}

fn policy(server: &Server, ca: Option<&TestCa>, extra: &str) -> Arc<EgressPolicy> {
    let toml = format!("[egress]\nallow = [\"{}\"]\n{extra}", server.origin());
    let policy = EgressPolicy::from_manifest(&Manifest::parse(&toml).unwrap()).unwrap();
    Arc::new(match ca {
        Some(ca) => policy.with_tls(ca.trusted()),
        None => policy,
    })
}

/// Sends one GET of `path` as a plugin call would.
async fn get(
    policy: &Arc<EgressPolicy>,
    server: &Server,
    path: &str,
    incidents: IncidentLog,
) -> Result<http::Response<WasiBody>, wasmtime_wasi_http::Error> {
    let mut hooks = EgressHooks::new(policy.clone(), incidents, "test".into());
    let body: WasiBody = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::get(format!("{}{path}", server.origin()))
        .header(http::header::HOST, server.addr.to_string())
        .body(body)
        .unwrap();
    let future = hooks.send_request(request, None, Box::new(async { Ok(()) }));
    Box::into_pin(future).await.map(|(response, _io)| response)
}

async fn text(policy: &Arc<EgressPolicy>, server: &Server, path: &str) -> String {
    let response = get(policy, server, path, IncidentLog::default())
        .await
        .expect("a response");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn an_upstream_certificate_is_trusted_only_with_its_ca_added() {
    let ca = TestCa::new();
    let server = Server::start(&ca, Speaks::H2).await;
    let webpki_only = policy(&server, None, "");
    // Concurrent: the ones waiting for the first handshake each try their
    // own when it fails, rather than wait out the first-byte timeout.
    let calls = (0..5).map(|_| get(&webpki_only, &server, "/", IncidentLog::default()));
    let refused = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(calls))
        .await
        .expect("refused at once, not after the first-byte timeout (120 s)");
    for refused in refused {
        assert!(
            matches!(refused, Err(wasmtime_wasi_http::Error::Tls(_))),
            "{refused:?}"
        );
    }
    assert_eq!(
        text(&policy(&server, Some(&ca), ""), &server, "/").await,
        "HTTP/2.0"
    );
}

#[tokio::test]
async fn concurrent_calls_to_an_h2_upstream_share_one_connection() {
    let ca = TestCa::new();
    let server = Server::start(&ca, Speaks::H2).await;
    let policy = policy(&server, Some(&ca), "");
    let calls = (0..20).map(|_| text(&policy, &server, "/slow"));
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|a| a == "HTTP/2.0"), "{answers:?}");
    assert_eq!(server.accepted(), 1);
    for _ in 0..5 {
        assert_eq!(text(&policy, &server, "/").await, "HTTP/2.0");
    }
    assert_eq!(server.accepted(), 1, "sequential calls reuse it too");
    assert_eq!(policy.pool.open_count(), 1);
}

#[tokio::test]
async fn an_h2_body_cut_at_the_size_limit_leaves_the_shared_connection_serving() {
    let ca = TestCa::new();
    let server = Server::start(&ca, Speaks::H2).await;
    let policy = policy(&server, Some(&ca), "max_response_bytes = 1024\n");
    let incidents = IncidentLog::default();
    let response = get(&policy, &server, "/big", incidents.clone()).await;
    // Refused at once (a known length) or cut while read.
    if let Ok(response) = response {
        assert!(response.into_body().collect().await.is_err());
    }
    assert!(matches!(
        incidents.first(),
        Some(Incident::ResponseTooLarge(_))
    ));
    assert_eq!(text(&policy, &server, "/").await, "HTTP/2.0");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_shared_h2_connection_serves_only_the_address_it_was_approved_for() {
    let ca = TestCa::new();
    let server = Server::start(&ca, Speaks::H2).await;
    let policy = policy(&server, Some(&ca), "");
    text(&policy, &server, "/").await;
    let key = |tls| OriginKey {
        tls,
        host: server.addr.ip().to_string(),
        port: server.addr.port(),
    };
    let elsewhere: SocketAddr = format!("127.0.0.2:{}", server.addr.port()).parse().unwrap();
    let origin = policy.pool.origin(key(true));
    assert!(!matches!(origin.next(&[elsewhere]), Next::Reuse(_)));
    assert!(!matches!(
        policy.pool.origin(key(false)).next(&[server.addr]),
        Next::Reuse(_)
    ));
    assert!(matches!(origin.next(&[server.addr]), Next::Reuse(_)));
}

/// At the bound, a request approved only for another address makes an
/// h2 connection it cannot use give way: it takes no new request, closes
/// once idle, and its place goes to the waiting request.
#[tokio::test]
async fn a_full_origin_lets_a_shared_h2_connection_to_another_address_go() {
    let ca = TestCa::new();
    let server = Server::start(&ca, Speaks::H2).await;
    let policy = policy(&server, Some(&ca), "max_connections_per_origin = 1\n");
    assert_eq!(text(&policy, &server, "/").await, "HTTP/2.0");
    let origin = policy.pool.origin(OriginKey {
        tls: true,
        host: server.addr.ip().to_string(),
        port: server.addr.port(),
    });
    let elsewhere: SocketAddr = format!("127.0.0.2:{}", server.addr.port()).parse().unwrap();
    let room = async {
        loop {
            let changed = origin.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match origin.next(&[elsewhere]) {
                Next::Open(opening) => return opening,
                Next::Reuse(_) => panic!("reused a connection to another address"),
                Next::Wait => changed.await,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), room)
        .await
        .expect("the h2 connection to the other address closed and made room");
    assert!(
        !matches!(origin.next(&[server.addr]), Next::Reuse(_)),
        "it is gone"
    );
}

/// HTTP/1.1 carries one request per connection at a time: a burst above
/// the bound waits for connections to come free instead of opening more.
async fn a_burst_above_the_bound_never_opens_more_than_it(speaks: Speaks) {
    let ca = TestCa::new();
    let server = Server::start(&ca, speaks).await;
    let policy = policy(&server, Some(&ca), "max_connections_per_origin = 3\n");
    let calls = (0..24).map(|_| text(&policy, &server, "/slow"));
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|a| a == "HTTP/1.1"), "{answers:?}");
    assert!(server.peak() <= 3, "{} at once", server.peak());
    assert!(server.accepted() <= 3, "{} accepted", server.accepted());
}

#[tokio::test]
async fn a_burst_to_an_http1_upstream_never_opens_more_than_the_bound() {
    a_burst_above_the_bound_never_opens_more_than_it(Speaks::H1).await;
}

#[tokio::test]
async fn a_burst_to_a_tls_http1_upstream_never_opens_more_than_the_bound() {
    a_burst_above_the_bound_never_opens_more_than_it(Speaks::TlsH1).await;
}

#[tokio::test]
async fn a_wait_for_a_free_connection_ends_at_the_first_byte_timeout_naming_the_bound() {
    let ca = TestCa::new();
    let server = Server::start(&ca, Speaks::H1).await;
    let extra = "max_connections_per_origin = 1\nfirst_byte_timeout_ms = 200\n";
    let policy = policy(&server, None, extra);
    // Holds the only connection: its body is not read.
    let held = get(&policy, &server, "/big", IncidentLog::default()).await;
    let incidents = IncidentLog::default();
    let waited = get(&policy, &server, "/", incidents.clone()).await;
    assert!(
        matches!(waited, Err(wasmtime_wasi_http::Error::ConnectionTimeout)),
        "{waited:?}"
    );
    let Some(Incident::Timeout(why)) = incidents.first() else {
        panic!("{:?}", incidents.first());
    };
    assert!(why.contains("max_connections_per_origin"), "{why}");
    assert_eq!(server.accepted(), 1);
    // Read whole, it frees the connection for the next request.
    let body = held.unwrap().into_body().collect().await.unwrap();
    assert_eq!(body.to_bytes().len(), 64 << 10);
    assert_eq!(text(&policy, &server, "/").await, "HTTP/1.1");
    assert_eq!(server.accepted(), 1);
}

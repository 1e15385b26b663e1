//! Sends one checked request: on an idle connection from the plugin's pool
//! to an address this request's check approved, or on a new connection to
//! the addresses the policy just approved (never a second DNS answer),
//! speaking TLS for https (sessions resumed through the shared client
//! config). Bounds connect time, time to first byte, time between body
//! bytes and body size. A connection goes back to the pool only once its
//! response was read whole.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::pool::{Key, Lease, LeasedBody};
use super::{EgressPolicy, Incident, IncidentLog, Target};

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    target: Target,
    policy: &EgressPolicy,
    options: Option<RequestOptions>,
    incidents: IncidentLog,
    in_flight: OwnedSemaphorePermit,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    // The plugin may ask for shorter timeouts, never longer ones.
    let shorter = |host: Duration, asked: Option<Duration>| asked.map_or(host, |a| a.min(host));
    let options = options.unwrap_or_default();
    let connect_timeout = shorter(policy.timeouts.connect, options.connect_timeout);
    let first_byte = shorter(policy.timeouts.first_byte, options.first_byte_timeout);
    let between_bytes = shorter(policy.timeouts.between_bytes, options.between_bytes_timeout);

    // The origin is in the Host header; the request line takes the path only.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

    let timeouts = (connect_timeout, first_byte);
    let (response, lease) = exchange(request, &target, policy, timeouts, &incidents).await?;
    let max = policy.max_response_bytes;
    if let Some(length) = response.body().size_hint().exact().filter(|len| *len > max) {
        incidents.record(Incident::ResponseTooLarge(format!(
            "{}: response of {length} bytes exceeds the {max} byte limit",
            target.host
        )));
        return Err(Error::HttpResponseBodySize(Some(length)));
    }
    let host = target.host.clone();
    let response = response.map(|incoming| {
        BoundedBody {
            inner: LeasedBody::new(incoming, lease),
            host,
            max,
            received: 0,
            between_bytes,
            idle: None,
            incidents,
            _in_flight: in_flight,
        }
        .boxed_unsync()
    });
    // The connection outlives the response (it is driven by its own task
    // and may go back to the pool): nothing for wasi:http to wait on.
    let io: IoFuture = Box::new(async { Ok(()) });
    Ok((response, io))
}

/// Sends `request` on a pooled connection when one is idle, otherwise on a
/// new one. A pooled connection the upstream closed meanwhile hands the
/// request back unsent, and it goes on a new connection.
async fn exchange(
    request: http::Request<WasiBody>,
    target: &Target,
    policy: &EgressPolicy,
    (connect_timeout, first_byte): (Duration, Duration),
    incidents: &IncidentLog,
) -> Result<(http::Response<Incoming>, Lease), Error> {
    let pool = &policy.pool;
    let mut request = request;
    let no_response = || {
        incidents.record(Incident::Timeout(format!(
            "{}: no response within {first_byte:?}",
            target.host
        )));
        Error::ConnectionReadTimeout
    };
    while let Some((key, mut sender)) = pool.take(target.tls, &target.host, &target.addrs) {
        // Its last response was read whole, so it is idle or closing.
        let ready = tokio::time::timeout(connect_timeout, sender.ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            continue;
        }
        let sent = tokio::time::timeout(first_byte, sender.try_send_request(request)).await;
        match sent.map_err(|_| no_response())? {
            Ok(response) => {
                let lease = Lease {
                    pool: pool.clone(),
                    key,
                    sender,
                };
                return Ok((response, lease));
            }
            Err(mut refused) => match refused.take_message() {
                Some(unsent) => request = unsent,
                None => return Err(refused.into_error().into()),
            },
        }
    }
    let (addr, stream) = connect(target, connect_timeout, incidents).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let sent = tokio::time::timeout(first_byte, sender.send_request(request)).await;
    let response = sent.map_err(|_| no_response())??;
    let key = Key {
        tls: target.tls,
        host: target.host.clone(),
        addr,
    };
    let lease = Lease {
        pool: pool.clone(),
        key,
        sender,
    };
    Ok((response, lease))
}

/// A new connection to the first approved address that answers, and
/// which address that was.
async fn connect(
    target: &Target,
    timeout: Duration,
    incidents: &IncidentLog,
) -> Result<(std::net::SocketAddr, Box<dyn Stream>), Error> {
    let mut last_error = Error::ConnectionRefused;
    for addr in &target.addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                let stream: Box<dyn Stream> = if target.tls {
                    tls(tcp, &target.host).await?
                } else {
                    Box::new(tcp)
                };
                return Ok((*addr, stream));
            }
            Ok(Err(err)) => last_error = Error::Connect(err),
            Err(_) => {
                incidents.record(Incident::Timeout(format!(
                    "{}: no connection within {timeout:?}",
                    target.host
                )));
                last_error = Error::ConnectionTimeout;
            }
        }
    }
    Err(last_error)
}

async fn tls(tcp: TcpStream, host: &str) -> Result<Box<dyn Stream>, Error> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    });
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())?;
    let stream = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(Error::Tls)?;
    Ok(Box::new(stream))
}

/// The response body, cut off when it grows past the limit or stalls (and
/// then its connection is not reused).
struct BoundedBody {
    inner: LeasedBody,
    host: String,
    max: u64,
    received: u64,
    between_bytes: Duration,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    incidents: IncidentLog,
    /// The request counts as in flight until its body is dropped.
    _in_flight: OwnedSemaphorePermit,
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.idle = None;
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.received > this.max {
                        this.incidents.record(Incident::ResponseTooLarge(format!(
                            "{}: response body exceeds the {} byte limit",
                            this.host, this.max
                        )));
                        this.inner.discard();
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                            this.received,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let between = this.between_bytes;
                let idle = this
                    .idle
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(between)));
                match idle.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.incidents.record(Incident::Timeout(format!(
                            "{}: the response body stalled for {between:?}",
                            this.host
                        )));
                        this.inner.discard();
                        Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

//! Sends one checked request: connects to the addresses the policy already
//! approved (never a second DNS answer), speaks TLS for https, and bounds
//! connect time, time to first byte, time between body bytes and body size.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

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
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    // The plugin may ask for shorter timeouts, never longer ones.
    let shorter = |host: Duration, asked: Option<Duration>| asked.map_or(host, |a| a.min(host));
    let options = options.unwrap_or_default();
    let connect_timeout = shorter(policy.timeouts.connect, options.connect_timeout);
    let first_byte = shorter(policy.timeouts.first_byte, options.first_byte_timeout);
    let between_bytes = shorter(policy.timeouts.between_bytes, options.between_bytes_timeout);

    let stream = connect(&target, connect_timeout, &incidents).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);

    // The origin is in the Host header; the request line takes the path only.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

    let response = match tokio::time::timeout(first_byte, sender.send_request(request)).await {
        Ok(response) => response?,
        Err(_) => {
            incidents.record(Incident::Timeout(format!(
                "{}: no response within {first_byte:?}",
                target.host
            )));
            return Err(Error::ConnectionReadTimeout);
        }
    };
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
            inner: incoming,
            host,
            max,
            received: 0,
            between_bytes,
            idle: None,
            incidents,
        }
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move {
        match driver.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Ok(()),
        }
    });
    Ok((response, io))
}

async fn connect(
    target: &Target,
    timeout: Duration,
    incidents: &IncidentLog,
) -> Result<Box<dyn Stream>, Error> {
    let mut last_error = Error::ConnectionRefused;
    for addr in &target.addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return if target.tls {
                    tls(tcp, &target.host).await
                } else {
                    Ok(Box::new(tcp))
                };
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

/// The response body, cut off when it grows past the limit or stalls.
struct BoundedBody {
    inner: hyper::body::Incoming,
    host: String,
    max: u64,
    received: u64,
    between_bytes: Duration,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    incidents: IncidentLog,
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

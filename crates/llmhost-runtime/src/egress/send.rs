//! Sends one checked request on a connection of the plugin's pool (`pool`)
//! to an address this request's check approved, or on a new connection to
//! the addresses the policy just approved (never a second DNS answer),
//! speaking TLS for https (`tls`: sessions resumed, ALPN offering h2 and
//! HTTP/1.1). An h2 connection carries every request of the plugin to its
//! origin at once; an HTTP/1.1 one serves one request at a time, and goes
//! back to the pool only once its response was read whole (`leased`).
//! Bounds the wait for a free connection, connect time, time to first
//! byte, time between body bytes and body size.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http::header::HOST;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::leased::{Lease, LeasedBody};
use super::pool::{Conn, Next, Opening, OriginKey, OriginPool};
use super::{EgressPolicy, Incident, IncidentLog, Target};

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The bounds of getting a response's head.
#[derive(Clone, Copy)]
struct Waits {
    connect: Duration,
    first_byte: Duration,
}

pub(super) async fn send(
    request: http::Request<WasiBody>,
    target: Target,
    policy: &EgressPolicy,
    options: Option<RequestOptions>,
    incidents: IncidentLog,
    in_flight: OwnedSemaphorePermit,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    // The plugin may ask for shorter timeouts, never longer ones.
    let shorter = |host: Duration, asked: Option<Duration>| asked.map_or(host, |a| a.min(host));
    let options = options.unwrap_or_default();
    let waits = Waits {
        connect: shorter(policy.timeouts.connect, options.connect_timeout),
        first_byte: shorter(policy.timeouts.first_byte, options.first_byte_timeout),
    };
    let between_bytes = shorter(policy.timeouts.between_bytes, options.between_bytes_timeout);

    let mut exchange = Exchange {
        request: Some(request),
        target: &target,
        policy,
        waits,
        incidents: &incidents,
        absolute: http::Uri::default(),
        host: None,
    };
    let (response, lease) = exchange.run().await?;
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
    // and may serve others): nothing for wasi:http to wait on.
    let io: IoFuture = Box::new(async { Ok(()) });
    Ok((response, io))
}

/// One request on its way to a connection.
struct Exchange<'a> {
    /// Taken to send, handed back when a pooled connection turned out to
    /// be closing before it took the request.
    request: Option<http::Request<WasiBody>>,
    target: &'a Target,
    policy: &'a EgressPolicy,
    waits: Waits,
    incidents: &'a IncidentLog,
    /// The request's URI as the plugin sent it (h2 needs it whole).
    absolute: http::Uri,
    /// Its `Host` header (HTTP/1.1 needs it; h2 says `:authority`).
    host: Option<HeaderValue>,
}

impl Exchange<'_> {
    /// Sends the request on a pooled connection if one serves, on a new
    /// one if the origin has room for it, else waits for either, as long
    /// as the time to first byte allows.
    async fn run(&mut self) -> Result<(http::Response<Incoming>, Option<Lease>), Error> {
        let request = self.request.as_ref().expect("set");
        self.absolute = request.uri().clone();
        self.host = request.headers().get(HOST).cloned();
        let key = OriginKey {
            tls: self.target.tls,
            host: self.target.host.clone(),
            port: self.target.port,
        };
        let origin = self.policy.pool.origin(key);
        let give_up = tokio::time::Instant::now() + self.waits.first_byte;
        loop {
            let changed = origin.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match origin.next(&self.target.addrs) {
                Next::Reuse(Conn::Http1(addr, sender)) => {
                    if let Some(response) = self.on_http1(&origin, addr, sender).await? {
                        return Ok(response);
                    }
                }
                Next::Reuse(Conn::Http2(sender)) => {
                    if let Some(response) = self.on_http2(sender).await? {
                        return Ok((response, None));
                    }
                }
                Next::Open(opening) => return self.open(opening).await,
                Next::Wait => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(give_up) => return Err(self.no_room()),
                    }
                }
            }
        }
    }

    /// Sends on a pooled HTTP/1.1 connection; `None` (the request kept)
    /// when it was closing.
    async fn on_http1(
        &mut self,
        origin: &std::sync::Arc<OriginPool>,
        addr: SocketAddr,
        mut sender: http1::SendRequest<WasiBody>,
    ) -> Result<Option<(http::Response<Incoming>, Option<Lease>)>, Error> {
        // Its last response was read whole, so it is idle or closing.
        let ready = tokio::time::timeout(self.waits.connect, sender.ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            return Ok(None);
        }
        let request = self.for_http1();
        let sent = tokio::time::timeout(self.waits.first_byte, sender.try_send_request(request));
        match sent.await.map_err(|_| self.no_response())? {
            Ok(response) => {
                let lease = Lease {
                    origin: origin.clone(),
                    addr,
                    sender,
                };
                Ok(Some((response, Some(lease))))
            }
            Err(refused) => self.keep_unsent(refused),
        }
    }

    /// Sends on a shared h2 connection; `None` (the request kept) when it
    /// was going away.
    async fn on_http2(
        &mut self,
        mut sender: http2::SendRequest<WasiBody>,
    ) -> Result<Option<http::Response<Incoming>>, Error> {
        let request = self.for_http2();
        let sent = tokio::time::timeout(self.waits.first_byte, sender.try_send_request(request));
        match sent.await.map_err(|_| self.no_response())? {
            Ok(response) => Ok(Some(response)),
            Err(refused) => self.keep_unsent(refused),
        }
    }

    /// A pooled connection refused the request: when it never went out
    /// (the connection was closing), it is kept for the next one (`None`);
    /// otherwise the connection's error is the answer.
    fn keep_unsent<T>(
        &mut self,
        mut refused: TrySendError<http::Request<WasiBody>>,
    ) -> Result<Option<T>, Error> {
        match refused.take_message() {
            Some(unsent) => {
                self.request = Some(unsent);
                Ok(None)
            }
            None => Err(refused.into_error().into()),
        }
    }

    /// Opens a connection under `opening`'s permit and sends on it; an h2
    /// one is shared from then on.
    async fn open(
        &mut self,
        mut opening: Opening,
    ) -> Result<(http::Response<Incoming>, Option<Lease>), Error> {
        let tls = self.policy.tls.config();
        let (addr, stream, h2) =
            connect(self.target, self.waits.connect, &tls, self.incidents).await?;
        let io = TokioIo::new(stream);
        let connect = self.waits.connect;
        if h2 {
            let handshake = http2::handshake(TokioExecutor::new(), io);
            let handshake = tokio::time::timeout(connect, handshake).await;
            let (mut sender, connection) = handshake.map_err(|_| self.no_connection())??;
            opening.drive(connection);
            opening.opened(addr, Some(sender.clone()));
            let request = self.for_http2();
            let sent = tokio::time::timeout(self.waits.first_byte, sender.send_request(request));
            let response = sent.await.map_err(|_| self.no_response())??;
            return Ok((response, None));
        }
        let handshake = tokio::time::timeout(connect, http1::handshake(io)).await;
        let (mut sender, connection) = handshake.map_err(|_| self.no_connection())??;
        opening.drive(connection);
        let origin = opening.opened(addr, None);
        let request = self.for_http1();
        let sent = tokio::time::timeout(self.waits.first_byte, sender.send_request(request));
        let response = sent.await.map_err(|_| self.no_response())??;
        let lease = Lease {
            origin,
            addr,
            sender,
        };
        Ok((response, Some(lease)))
    }

    /// The request in origin form, with its `Host` header.
    fn for_http1(&mut self) -> http::Request<WasiBody> {
        let mut request = self.request.take().expect("not sent yet");
        let path = self.absolute.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = http::Uri::try_from(path).unwrap_or_default();
        if let Some(host) = &self.host {
            request.headers_mut().insert(HOST, host.clone());
        }
        request
    }

    /// The request with its whole URI (`:scheme`, `:authority`, `:path`);
    /// `Host` would repeat `:authority`.
    fn for_http2(&mut self) -> http::Request<WasiBody> {
        let mut request = self.request.take().expect("not sent yet");
        *request.uri_mut() = self.absolute.clone();
        request.headers_mut().remove(HOST);
        request
    }

    fn no_response(&self) -> Error {
        self.incidents.record(Incident::Timeout(format!(
            "{}: no response within {:?}",
            self.target.host, self.waits.first_byte
        )));
        Error::ConnectionReadTimeout
    }

    fn no_connection(&self) -> Error {
        self.incidents.record(Incident::Timeout(format!(
            "{}: no connection within {:?}",
            self.target.host, self.waits.connect
        )));
        Error::ConnectionTimeout
    }

    fn no_room(&self) -> Error {
        self.incidents.record(Incident::Timeout(format!(
            "{}: no connection free within {:?}: the provider's {} connections to the origin \
             (egress.max_connections_per_origin) were all busy",
            self.target.host,
            self.waits.first_byte,
            self.policy.pool.max_per_origin()
        )));
        Error::ConnectionTimeout
    }
}

/// A new connection to the first approved address that answers, which
/// address that was, and whether TLS picked h2.
async fn connect(
    target: &Target,
    timeout: Duration,
    tls: &std::sync::Arc<rustls::ClientConfig>,
    incidents: &IncidentLog,
) -> Result<(SocketAddr, Box<dyn Stream>, bool), Error> {
    let mut last_error = Error::ConnectionRefused;
    let timed_out = || {
        incidents.record(Incident::Timeout(format!(
            "{}: no connection within {timeout:?}",
            target.host
        )));
        Error::ConnectionTimeout
    };
    for addr in &target.addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                if !target.tls {
                    return Ok((*addr, Box::new(tcp), false));
                }
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())?;
                let handshake = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp);
                let stream = tokio::time::timeout(timeout, handshake)
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(Error::Tls)?;
                let h2 = stream.get_ref().1.alpn_protocol() == Some(super::tls::H2);
                return Ok((*addr, Box::new(stream), h2));
            }
            Ok(Err(err)) => last_error = Error::Connect(err),
            Err(_) => last_error = timed_out(),
        }
    }
    Err(last_error)
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

//! The API's connections: listening with a backlog deep enough for a
//! burst of clients, accepting them (backing off while accepting
//! fails, instead of spinning), refusing one at once with a `503
//! too_many_connections` above the connection limit, serving each with
//! HTTP/1 under a header timeout with TCP keepalive, and closing them at
//! shutdown. The header timeout bounds every wait for a request's headers:
//! a client that sends them too slowly, and an idle keep-alive connection
//! (waiting for the next request is reading its headers), are closed when
//! it runs out; keepalive finds a peer that vanished mid-request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, ApiErrorCode, Format};

/// Probes start after a minute of silence, every 10 s, and the connection
/// is closed after 3 unanswered ones: a dead peer is gone within 90 s.
const KEEPALIVE: TcpKeepalive = TcpKeepalive::new()
    .with_time(Duration::from_secs(60))
    .with_interval(Duration::from_secs(10))
    .with_retries(3);

/// Connections the kernel completes before they are accepted. tokio's
/// `TcpListener::bind` asks for 1,024; a burst of more clients than that,
/// arriving while the process is busy, would overflow it, and Linux then
/// drops the handshake's last ACK: the client believes it is connected, the
/// server never sees the connection, and a client that waits to be spoken
/// to (or closed) waits forever. The kernel caps this at
/// `net.core.somaxconn` (4,096 by default since Linux 5.4).
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with `LISTEN_BACKLOG`, set up as
/// `TcpListener::bind` sets it up otherwise (`SO_REUSEADDR` on Unix, so a
/// restart can bind while the old connections linger in `TIME_WAIT`).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    /// Connections held at once; more are refused.
    pub(crate) max_connections: usize,
    /// How long a request's headers may take to arrive, the wait for the
    /// next request on a kept-alive connection included.
    pub(crate) header_timeout: Duration,
}

/// Serves `app` on `listener` until `closing`, then stops accepting, asks
/// every connection to close once its request in flight is answered (an
/// idle one at once), and returns when all have closed. Whoever awaits this
/// bounds it: a client may hold a request open for as long as it likes.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    closing: CancellationToken,
) {
    // Each connection holds a slot: all slots free means all are closed.
    let max = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let mut backoff = Backoff::default();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = closing.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff.succeeded();
                stream
            }
            Err(err) => {
                backoff.failed(&err).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let connection = serve_one(stream, app.clone(), limits, closing.clone(), slot);
                tokio::spawn(connection);
            }
            Err(_) => {
                tokio::spawn(refuse(stream, limits.max_connections));
            }
        }
    }
    drop(listener);
    let _all_closed = slots.acquire_many(max).await;
}

async fn serve_one(
    stream: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    closing: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    // A client that vanished without closing (a dead NAT, a pulled cable)
    // is found by the kernel's probes instead of holding a slot and an
    // event stream until it would have written again.
    let _ = SockRef::from(&stream).set_tcp_keepalive(&KEEPALIVE);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = closing.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = ended {
        // A client that went away or ran out of the header timeout: its
        // own business, not the operator's.
        tracing::debug!("connection closed: {err}");
    }
}

/// Answers a connection over the limit with a `503` it can read and closes
/// it; the client is not made to wait for a slot.
async fn refuse(mut stream: TcpStream, max: usize) {
    let error = ApiError::new(
        ApiErrorCode::TooManyConnections,
        format!("this server holds its limit of {max} connections; retry later"),
    );
    let body = error.body(Format::Rest).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nretry-after-ms: 1000\r\nx-should-retry: true\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read its refusal does not keep the file.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// How long to wait after a failed accept: from 5 ms doubling to 1 s while
/// it keeps failing (out of files: wait for some to close), logged once
/// per episode rather than at every try.
#[derive(Default)]
struct Backoff {
    delay: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    async fn failed(&mut self, err: &std::io::Error) {
        if let Some(delay) = self.next(err) {
            tokio::time::sleep(delay).await;
        }
    }

    /// The wait after `err`, if any.
    fn next(&mut self, err: &std::io::Error) -> Option<Duration> {
        use std::io::ErrorKind as K;
        // One connection's trouble, not the listener's: accept the next.
        if matches!(
            err.kind(),
            K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused
        ) {
            return None;
        }
        let delay = match self.delay {
            None => {
                tracing::error!("accepting connections failed: {err}; retrying with backoff");
                Self::FIRST
            }
            Some(delay) => (delay * 2).min(Self::MAX),
        };
        self.delay = Some(delay);
        Some(delay)
    }

    fn succeeded(&mut self) {
        if self.delay.take().is_some() {
            tracing::info!("accepting connections again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_doubling_to_a_second_and_reset_on_success() {
        let mut backoff = Backoff::default();
        let full = std::io::Error::from_raw_os_error(24); // EMFILE
        let waits: Vec<u128> = (0..10)
            .map(|_| backoff.next(&full).unwrap().as_millis())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.next(&full), Some(Backoff::FIRST));
        let aborted = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.next(&aborted), None, "one connection's trouble");
    }
}

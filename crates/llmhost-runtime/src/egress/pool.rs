//! Idle upstream connections of one plugin, kept for the next request to
//! the same origin. A connection is filed under the origin it was opened
//! for *and* the address it reached, which the policy had approved: a
//! request takes one only when that address is among those its own check
//! approved, so reuse never reaches an address the current policy and DNS
//! answer would refuse. Each plugin (each loaded version) has its own pool;
//! nothing is shared between plugins.
//!
//! Idle connections are dropped when they are found closed by the upstream,
//! idle longer than `IDLE_TIMEOUT`, or beyond `MAX_IDLE_PER_KEY`; no timer
//! runs for them, so an idle host wakes for nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

/// How long an unused connection is kept. Below the keep-alive of common
/// servers (nginx 75 s, most cloud load balancers 60 s or more), so that an
/// upstream rarely closes one just as it is reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections kept per origin and address: enough for the host's
/// default concurrency to find one each.
const MAX_IDLE_PER_KEY: usize = 64;

/// What is read, and for how long, of a body its reader dropped before its
/// end, to free the connection: enough for the end of a stream (the last
/// chunk after an end marker such as `[DONE]`), never a whole answer.
const DRAIN_BYTES: usize = 16 << 10;
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// Where a connection goes: the origin's scheme and host, and the approved
/// address it reached.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) tls: bool,
    pub(super) host: String,
    pub(super) addr: SocketAddr,
}

struct Idle {
    sender: SendRequest<WasiBody>,
    since: Instant,
}

#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
}

impl Pool {
    /// An open idle connection for `tls`/`host` to one of `addrs` (in their
    /// order), or `None` when a new one must be made.
    pub(super) fn take(
        &self,
        tls: bool,
        host: &str,
        addrs: &[SocketAddr],
    ) -> Option<(Key, SendRequest<WasiBody>)> {
        let mut idle = self.idle.lock().expect("pool lock");
        for addr in addrs {
            let key = Key {
                tls,
                host: host.to_owned(),
                addr: *addr,
            };
            let Some(list) = idle.get_mut(&key) else {
                continue;
            };
            // Most recently used first: the likeliest to be still open.
            while let Some(entry) = list.pop() {
                if !entry.sender.is_closed() && entry.since.elapsed() < IDLE_TIMEOUT {
                    return Some((key, entry.sender));
                }
            }
            idle.remove(&key);
        }
        None
    }

    /// Files a connection whose last response was read to its end.
    pub(super) fn put(&self, key: Key, sender: SendRequest<WasiBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        let list = idle.entry(key).or_default();
        list.retain(|entry| !entry.sender.is_closed() && entry.since.elapsed() < IDLE_TIMEOUT);
        if list.len() < MAX_IDLE_PER_KEY {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .expect("pool lock")
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// A connection lent to one request, returned to its pool when the
/// response body has been read to its end (and only then).
pub(super) struct Lease {
    pub(super) pool: Arc<Pool>,
    pub(super) key: Key,
    pub(super) sender: SendRequest<WasiBody>,
}

impl Lease {
    pub(super) fn release(self) {
        self.pool.put(self.key, self.sender);
    }
}

/// A response body on a leased connection. Read to its end, it hands the
/// connection back. Dropped before its end (a plugin often stops at its
/// format's end marker, before the transfer's own end arrived), the rest
/// is read in the background, a little and briefly, and the connection
/// goes back if that reaches the end; otherwise it is closed. After an
/// error, or when its reader gave up on it (`discard`), it is closed.
pub(super) struct LeasedBody {
    body: Option<Incoming>,
    lease: Option<Lease>,
}

impl LeasedBody {
    pub(super) fn new(body: Incoming, lease: Lease) -> Self {
        let mut leased = Self {
            body: Some(body),
            lease: Some(lease),
        };
        // Nothing to read (a 204, a zero length): free at once.
        leased.release_if_done();
        leased
    }

    /// The connection is not to be reused (the reader cut the body off).
    pub(super) fn discard(&mut self) {
        self.lease = None;
    }

    fn release_if_done(&mut self) {
        if self.body.as_ref().is_some_and(Body::is_end_stream)
            && let Some(lease) = self.lease.take()
        {
            lease.release();
        }
    }
}

impl Body for LeasedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let body = this.body.as_mut().expect("taken only on drop");
        let polled = Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_)) | None) => this.release_if_done(),
            Poll::Ready(Some(Err(_))) => this.discard(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for LeasedBody {
    fn drop(&mut self) {
        let (Some(lease), Some(body)) = (self.lease.take(), self.body.take()) else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body, lease));
        }
    }
}

/// Reads what is left of a dropped body, within `DRAIN_BYTES` and
/// `DRAIN_TIME`; hands the connection back if that reached the end.
async fn drain(mut body: Incoming, lease: Lease) {
    let rest = async {
        let mut left = DRAIN_BYTES;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                let Some(less) = left.checked_sub(data.len()) else {
                    return false;
                };
                left = less;
            }
        }
        true
    };
    if let Ok(true) = tokio::time::timeout(DRAIN_TIME, rest).await {
        lease.release();
    }
}

//! A response body and the HTTP/1.1 connection it arrives on: the
//! connection goes back to its pool only once the body was read to its end,
//! so that a cut body never leaves a half-read response on a connection
//! another request would then read. (An h2 response needs no lease: its
//! stream is reset when dropped, and the shared connection carries on.)

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

use super::pool::OriginPool;

/// What is read, and for how long, of a body its reader dropped before its
/// end, to free the connection: enough for the end of a stream (the last
/// chunk after an end marker such as `[DONE]`), never a whole answer.
const DRAIN_BYTES: usize = 16 << 10;
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// An HTTP/1.1 connection lent to one request, returned to its pool when
/// the response body has been read to its end (and only then).
pub(in crate::egress) struct Lease {
    pub(in crate::egress) origin: Arc<OriginPool>,
    pub(in crate::egress) addr: SocketAddr,
    pub(in crate::egress) sender: SendRequest<WasiBody>,
}

impl Lease {
    fn release(self) {
        self.origin.put(self.addr, self.sender);
    }
}

/// A response body, on a leased connection or a shared one (`lease` none).
/// Read to its end, it hands the connection back. Dropped before its end
/// (a plugin often stops at its format's end marker, before the transfer's
/// own end arrived), the rest is read in the background, a little and
/// briefly, and the connection goes back if that reaches the end; otherwise
/// it is closed. After an error, or when its reader gave up on it
/// (`discard`), it is closed.
pub(in crate::egress) struct LeasedBody {
    body: Option<Incoming>,
    lease: Option<Lease>,
}

impl LeasedBody {
    pub(in crate::egress) fn new(body: Incoming, lease: Option<Lease>) -> Self {
        let mut leased = Self {
            body: Some(body),
            lease,
        };
        // Nothing to read (a 204, a zero length): free at once.
        leased.release_if_done();
        leased
    }

    /// The connection is not to be reused (the reader cut the body off).
    pub(in crate::egress) fn discard(&mut self) {
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

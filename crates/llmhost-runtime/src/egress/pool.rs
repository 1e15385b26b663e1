//! The upstream connections of one plugin, per origin, kept for the next
//! request: idle HTTP/1.1 connections, and HTTP/2 connections shared by all
//! of the plugin's requests to that origin at once. A connection is filed
//! under the origin it was opened for *and* the address it reached, which
//! the policy had approved: a request uses one only when that address is
//! among those its own check approved, so reuse never reaches an address
//! the current policy and DNS answer would refuse. Each plugin (each loaded
//! version, each instance) has its own pool; nothing is shared between them.
//!
//! At most `egress.max_connections_per_origin` connections per origin are
//! open at once, in use or idle (an h2 connection counts once): a request
//! that finds none free waits for one (`Next::Wait`). While a TLS origin's
//! protocol is unknown or h2, one handshake runs at a time, so a burst to
//! an h2 upstream opens one connection, not one per request.
//!
//! Idle connections (and h2 ones no request started on for as long) are
//! dropped when found closed by the upstream, idle longer than
//! `IDLE_TIMEOUT`, or to make room for a connection to another address
//! (an h2 one finishes the streams it carries first); no timer runs for
//! them, so an idle host wakes for nothing. Requests waiting for room are
//! woken together and the first to ask again gets it: not served in the
//! order they came, and each waits at most its first-byte timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use hyper::client::conn::{http1, http2};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::WasiBody;

/// How long an unused connection is kept. Below the keep-alive of common
/// servers (nginx 75 s, most cloud load balancers 60 s or more), so that an
/// upstream rarely closes one just as it is reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The origin a connection serves: scheme, host and port.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct OriginKey {
    pub(super) tls: bool,
    pub(super) host: String,
    pub(super) port: u16,
}

/// One plugin's connections, by origin.
pub(crate) struct Pool {
    origins: Mutex<HashMap<OriginKey, Arc<OriginPool>>>,
    max_per_origin: usize,
}

impl Pool {
    /// `max_per_origin` is range-checked with the manifest (1 to 4096).
    pub(super) fn new(max_per_origin: u64) -> Self {
        let max = usize::try_from(max_per_origin).unwrap_or(usize::MAX);
        Self {
            origins: Mutex::default(),
            max_per_origin: max.clamp(1, Semaphore::MAX_PERMITS),
        }
    }

    pub(super) fn max_per_origin(&self) -> usize {
        self.max_per_origin
    }

    /// The connections to `key`'s origin.
    pub(super) fn origin(&self, key: OriginKey) -> Arc<OriginPool> {
        let mut origins = self.origins.lock().expect("pool lock");
        if !origins.contains_key(&key) {
            // A wildcard origin lets a plugin name endless hosts: an origin
            // with no connection open and no request using it is forgotten.
            let max = self.max_per_origin;
            origins.retain(|_, origin| {
                Arc::strong_count(origin) > 1 || origin.slots.available_permits() < max
            });
        }
        origins
            .entry(key)
            .or_insert_with_key(|key| {
                Arc::new(OriginPool {
                    tls: key.tls,
                    slots: Arc::new(Semaphore::new(self.max_per_origin)),
                    state: Mutex::default(),
                    changed: Notify::new(),
                })
            })
            .clone()
    }

    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        let origins = self.origins.lock().expect("pool lock");
        origins
            .values()
            .map(|o| o.state.lock().expect("pool lock").idle.len())
            .sum()
    }

    /// Connections open now, in use or idle, over all origins.
    #[cfg(test)]
    pub(super) fn open_count(&self) -> usize {
        let origins = self.origins.lock().expect("pool lock");
        origins
            .values()
            .map(|o| self.max_per_origin - o.slots.available_permits())
            .sum()
    }
}

/// The connections of one plugin to one origin.
pub(super) struct OriginPool {
    tls: bool,
    /// One permit per open connection, held by the task that drives it
    /// until its socket is closed: what bounds them.
    slots: Arc<Semaphore>,
    state: Mutex<State>,
    /// Woken when a connection goes idle, is shared, or closes, and when a
    /// handshake ends: what a waiting request waits for.
    changed: Notify,
}

#[derive(Default)]
struct State {
    idle: Vec<Idle>,
    shared: Vec<Shared>,
    /// A handshake whose protocol is not known beforehand is running:
    /// others wait for it, since it may be h2 and then serve them all.
    opening: bool,
    /// Whether the origin's last handshake picked h2.
    h2: Option<bool>,
}

struct Idle {
    addr: SocketAddr,
    sender: http1::SendRequest<WasiBody>,
    since: Instant,
}

struct Shared {
    addr: SocketAddr,
    sender: http2::SendRequest<WasiBody>,
    used: Instant,
}

/// A connection a request may send on.
pub(super) enum Conn {
    /// Lent to this request alone, until its response is read.
    Http1(SocketAddr, http1::SendRequest<WasiBody>),
    /// Shared; the pool keeps it.
    Http2(http2::SendRequest<WasiBody>),
}

/// What a request does next.
pub(super) enum Next {
    Reuse(Conn),
    /// Make a new connection, under this permit.
    Open(Opening),
    /// Nothing free: wait for `changed`, then ask again.
    Wait,
}

impl OriginPool {
    /// A connection to one of `addrs` (in their order for idle ones), or
    /// the permit to open one, or `Wait`.
    pub(super) fn next(self: &Arc<Self>, addrs: &[SocketAddr]) -> Next {
        let mut state = self.state.lock().expect("pool lock");
        let now = Instant::now();
        // An h2 connection no request started on for `IDLE_TIMEOUT` is let
        // go like an idle one (a stream still running on it finishes).
        state
            .shared
            .retain(|s| !s.sender.is_closed() && now - s.used < IDLE_TIMEOUT);
        if let Some(shared) = state.shared.iter_mut().find(|s| addrs.contains(&s.addr)) {
            shared.used = now;
            return Next::Reuse(Conn::Http2(shared.sender.clone()));
        }
        state
            .idle
            .retain(|i| !i.sender.is_closed() && now - i.since < IDLE_TIMEOUT);
        // Most recently used first: the likeliest to be still open.
        for addr in addrs {
            if let Some(at) = state.idle.iter().rposition(|i| i.addr == *addr) {
                let idle = state.idle.remove(at);
                return Next::Reuse(Conn::Http1(idle.addr, idle.sender));
            }
        }
        let exclusive = self.tls && state.h2 != Some(false);
        if exclusive && state.opening {
            return Next::Wait;
        }
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                state.opening |= exclusive;
                Next::Open(Opening {
                    origin: self.clone(),
                    permit: Some(permit),
                    exclusive,
                })
            }
            Err(_) => {
                // Full, and every idle or shared connection is to another
                // address. One of them makes room: an idle HTTP/1.1 one at
                // once; else the h2 one used least recently takes no new
                // request and closes when the streams on it end. Either
                // way its task ends and frees its permit.
                if !state.idle.is_empty() {
                    state.idle.remove(0);
                } else if let Some(oldest) =
                    (0..state.shared.len()).min_by_key(|&i| state.shared[i].used)
                {
                    state.shared.swap_remove(oldest);
                }
                Next::Wait
            }
        }
    }

    /// Waits for a change worth asking `next` again, registered before
    /// `next` is asked so that none is missed.
    pub(super) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Files an HTTP/1.1 connection whose last response was read to its end.
    pub(super) fn put(&self, addr: SocketAddr, sender: http1::SendRequest<WasiBody>) {
        if sender.is_closed() {
            return;
        }
        let mut state = self.state.lock().expect("pool lock");
        state.idle.push(Idle {
            addr,
            sender,
            since: Instant::now(),
        });
        drop(state);
        self.changed.notify_waiters();
    }
}

/// The right to open one connection to an origin. The permit goes to the
/// task that drives the connection; dropped unused (the connection failed),
/// it frees its place and lets the next request try.
pub(super) struct Opening {
    origin: Arc<OriginPool>,
    permit: Option<OwnedSemaphorePermit>,
    exclusive: bool,
}

impl Opening {
    /// Drives `connection` until it closes, holding the permit, and then
    /// tells waiting requests there is room.
    pub(super) fn drive<F>(&mut self, connection: F)
    where
        F: Future<Output = Result<(), hyper::Error>> + Send + 'static,
    {
        let permit = self.permit.take();
        // Weak: the pool holds the connection's idle sender, and a task
        // holding the pool would keep both alive after the plugin is gone.
        let origin = Arc::downgrade(&self.origin);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
            if let Some(origin) = Weak::upgrade(&origin) {
                origin.changed.notify_waiters();
            }
        });
    }

    /// The handshake picked h2 or HTTP/1.1 (`sender` when h2, to share).
    pub(super) fn opened(
        mut self,
        addr: SocketAddr,
        sender: Option<http2::SendRequest<WasiBody>>,
    ) -> Arc<OriginPool> {
        let origin = self.origin.clone();
        let mut state = origin.state.lock().expect("pool lock");
        state.h2 = Some(sender.is_some());
        if let Some(sender) = sender {
            state.shared.push(Shared {
                addr,
                sender,
                used: Instant::now(),
            });
        }
        if self.exclusive {
            state.opening = false;
            self.exclusive = false;
        }
        drop(state);
        origin.changed.notify_waiters();
        origin
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        if self.exclusive {
            self.origin.state.lock().expect("pool lock").opening = false;
        }
        if self.exclusive || self.permit.is_some() {
            self.origin.changed.notify_waiters();
        }
    }
}

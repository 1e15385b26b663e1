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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

/// How long an unused connection is kept. Below the keep-alive of common
/// servers (nginx 75 s, most cloud load balancers 60 s or more), so that an
/// upstream rarely closes one just as it is reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections kept per origin and address: enough for the host's
/// default concurrency to find one each.
const MAX_IDLE_PER_KEY: usize = 64;

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
/// response body has been read to its end (and only then: a body dropped
/// half-read leaves the connection unusable, and it closes).
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

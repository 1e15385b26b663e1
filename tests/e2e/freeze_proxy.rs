//! A TCP proxy the test can freeze: while frozen it forwards nothing and
//! closes nothing (no FIN, no RST), as a network path that silently drops
//! packets. A connection that lived through a freeze, or was opened during
//! one, stays dead for good (as when a NAT or firewall lost its state);
//! after `thaw`, new connections are forwarded again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct FreezeProxy {
    pub(crate) addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    frozen: AtomicBool,
    /// Freezes so far: a connection born before the last one is dead.
    freezes: AtomicU64,
}

impl State {
    fn alive(&self, born: u64) -> bool {
        !self.frozen.load(Ordering::SeqCst) && self.freezes.load(Ordering::SeqCst) == born
    }
}

impl FreezeProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, shared.clone()));
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    pub(crate) fn freeze(&self) {
        self.state.freezes.fetch_add(1, Ordering::SeqCst);
        self.state.frozen.store(true, Ordering::SeqCst);
    }

    pub(crate) fn thaw(&self) {
        self.state.frozen.store(false, Ordering::SeqCst);
    }
}

impl Drop for FreezeProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    let born = state.freezes.load(Ordering::SeqCst);
    if !state.alive(born) {
        // Accepted by the kernel, then nothing: a connect that never
        // completes its handshake.
        return hold_forever((client, ())).await;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let there = pump(client_read, server_write, state.clone(), born);
    let back = pump(server_read, client_write, state, born);
    tokio::join!(there, back);
}

/// Copies one direction until either side closes, or, once the proxy is
/// frozen, holds both ends open and forwards nothing ever again.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
    born: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !state.alive(born) {
            return hold_forever((from, to)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Keeps `sockets` open, silent, until the test ends.
async fn hold_forever<T>(sockets: T) {
    std::future::pending::<()>().await;
    drop(sockets);
}

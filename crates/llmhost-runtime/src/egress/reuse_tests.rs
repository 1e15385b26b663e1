//! Connection reuse against a real local HTTP/1.1 server that counts the
//! connections it accepts: a response read whole frees its connection for
//! the next call of the same plugin, and only for a request approved for
//! that same scheme, host and address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

use super::pool::{Next, OriginKey};
use super::{EgressHooks, EgressPolicy, IncidentLog};
use crate::manifest::Manifest;

/// How the test server answers each request.
#[derive(Clone, Copy)]
enum Answer {
    /// `hello`, keeping the connection open.
    KeepAlive,
    /// `hello` with `Connection: close`, then closes.
    Close,
    /// Announces 10 bytes, sends 5 and stalls.
    Partial,
    /// `hello` in one chunk, then the last chunk, keeping the connection.
    Chunked,
}

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, answer));
            }
        });
        Self { addr, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Answers every request head on the connection (the test's requests have
/// no body).
async fn serve(mut socket: tokio::net::TcpStream, answer: Answer) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        seen.drain(..end);
        let reply: &[u8] = match answer {
            Answer::KeepAlive => b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            Answer::Close => {
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello"
            }
            Answer::Partial => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello",
            Answer::Chunked => {
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            }
        };
        if socket.write_all(reply).await.is_err() {
            return;
        }
        match answer {
            Answer::KeepAlive | Answer::Chunked => {}
            Answer::Close => return,
            Answer::Partial => std::future::pending::<()>().await,
        }
    }
}

fn policy_for(server: &Server) -> Arc<EgressPolicy> {
    let toml = format!("[egress]\nallow = [\"http://{}\"]\n", server.addr);
    Arc::new(EgressPolicy::from_manifest(&Manifest::parse(&toml).unwrap()).unwrap())
}

/// Sends one GET as a plugin call would and returns its response.
async fn get(policy: &Arc<EgressPolicy>, server: &Server) -> http::Response<WasiBody> {
    let mut hooks = EgressHooks::new(policy.clone(), IncidentLog::default(), "test".into());
    let body: WasiBody = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::get(format!("http://{}/x", server.addr))
        .header(http::header::HOST, server.addr.to_string())
        .body(body)
        .unwrap();
    let future = hooks.send_request(request, None, Box::new(async { Ok(()) }));
    let (response, _io) = Box::into_pin(future).await.expect("a response");
    response
}

async fn read_whole(response: http::Response<WasiBody>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn calls_of_one_plugin_share_a_connection_once_each_response_is_read_whole() {
    let server = Server::start(Answer::KeepAlive).await;
    let policy = policy_for(&server);
    for _ in 0..5 {
        assert_eq!(read_whole(get(&policy, &server).await).await, "hello");
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(policy.pool.idle_count(), 1);

    // Another plugin (another policy) has its own connections.
    let other = policy_for(&server);
    read_whole(get(&other, &server).await).await;
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_pooled_connection_serves_only_the_scheme_host_and_address_it_was_approved_for() {
    let server = Server::start(Answer::KeepAlive).await;
    let policy = policy_for(&server);
    read_whole(get(&policy, &server).await).await;
    let host = server.addr.ip().to_string();
    let reused = |tls, host: &str, addrs: &[SocketAddr]| {
        let key = OriginKey {
            tls,
            host: host.to_owned(),
            port: server.addr.port(),
        };
        matches!(policy.pool.origin(key).next(addrs), Next::Reuse(_))
    };
    let elsewhere: SocketAddr = format!("127.0.0.2:{}", server.addr.port()).parse().unwrap();
    assert!(!reused(false, &host, &[elsewhere]));
    assert!(!reused(true, &host, &[server.addr]));
    assert!(!reused(false, "localhost", &[server.addr]));
    assert!(reused(false, &host, &[server.addr]));
}

#[tokio::test]
async fn a_response_dropped_half_read_does_not_return_its_connection() {
    let server = Server::start(Answer::Partial).await;
    let policy = policy_for(&server);
    let mut body = get(&policy, &server).await.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "hello");
    drop(body);
    assert_eq!(policy.pool.idle_count(), 0);
    drop(get(&policy, &server).await);
    assert_eq!(server.accepted(), 2);
}

/// A plugin that stops at its format's end marker drops the body before
/// the transfer's last chunk was read: the rest is read for it.
#[tokio::test]
async fn a_response_dropped_just_before_its_end_still_returns_its_connection() {
    let server = Server::start(Answer::Chunked).await;
    let policy = policy_for(&server);
    let mut body = get(&policy, &server).await.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "hello");
    drop(body);
    let returned = async {
        while policy.pool.idle_count() == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), returned)
        .await
        .expect("the connection goes back to the pool");
    assert_eq!(read_whole(get(&policy, &server).await).await, "hello");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_connection_the_upstream_closes_is_replaced_without_failing_the_request() {
    let server = Server::start(Answer::Close).await;
    let policy = policy_for(&server);
    for _ in 0..3 {
        assert_eq!(read_whole(get(&policy, &server).await).await, "hello");
    }
    assert_eq!(server.accepted(), 3);
}

//! Connection hygiene: idle connections and clients that send their
//! headers too slowly (slowloris) are closed by the header timeout while
//! other clients are served; above the connection limit a connection gets
//! a readable `503 too_many_connections` at once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{PATIENCE, Server, echo};

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Resolves when the server closed `stream` (end of file or reset).
async fn closed_by_server(mut stream: tokio::net::tcp::OwnedReadHalf) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

/// Sends a request's headers a byte at a time, never finishing them, until
/// the server closes the connection; when it did.
async fn slowloris(addr: String) -> Instant {
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let closed = tokio::spawn(closed_by_server(read));
    write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if write.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = closed => {}
        _ = trickle => {}
    }
    Instant::now()
}

async fn idle(addr: String) -> Instant {
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (read, _write) = stream.into_split();
    closed_by_server(read).await;
    Instant::now()
}

#[tokio::test]
async fn idle_and_slowloris_connections_are_closed_by_the_header_timeout_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(2000);
    let server = Server::start(dir.path(), &["--header-timeout-ms", "2000"]).await;
    let opened = Instant::now();
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        held.spawn(idle(addr(&server)));
    }
    for _ in 0..500 {
        held.spawn(slowloris(addr(&server)));
    }

    // Meanwhile, others are served.
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let id = server.submit(&echo(&format!("served {i}"))).await;
        let task = server.wait_until_finished(&id).await;
        assert_eq!(task["status"], "completed");
        slowest = slowest.max(started.elapsed());
    }

    let mut last = opened;
    let mut closed = 0;
    while let Some(when) = tokio::time::timeout(PATIENCE, held.join_next())
        .await
        .unwrap()
    {
        last = last.max(when.unwrap());
        closed += 1;
    }
    let took = last - opened;
    eprintln!(
        "1,000 idle + 500 slowloris: all closed {took:?} after opening (timeout {timeout:?}); \
         a task submitted and finished meanwhile in at most {slowest:?}"
    );
    assert_eq!(closed, 1500);
    assert!(
        took < timeout + Duration::from_secs(5),
        "closed by the timeout, not left open: {took:?}"
    );
    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_connection_over_the_limit_is_refused_at_once_with_a_readable_503() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--max-connections", "20", "--header-timeout-ms", "60000"],
    )
    .await;
    let mut holders = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        // A finished request: the connection is surely accepted and held.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        holders.push(stream);
    }
    let mut over = TcpStream::connect(addr(&server)).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, over.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(
        answer.contains(r#""code":"too_many_connections""#)
            && answer.contains("limit of 20 connections"),
        "{answer}"
    );
    drop(holders);
    // Slots come back as connections close.
    let started = Instant::now();
    loop {
        let response = server.http.get(server.url("/healthz")).send().await;
        if response.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "never served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

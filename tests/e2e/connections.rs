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
        .unwrap_or_else(|_| {
            panic!(
                "{closed} of 1,500 held connections were closed; no other closed within \
                 {PATIENCE:?} (one the server never accepted?)"
            )
        })
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

/// The server's end of the connection from `client` to `server` in
/// /proc/net/tcp: its timer column (`tr:tm->when`).
fn server_side_timer(server: std::net::SocketAddr, client: std::net::SocketAddr) -> Option<String> {
    let hex = |a: std::net::SocketAddr| match a {
        std::net::SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        std::net::SocketAddr::V6(_) => panic!("the test server listens on IPv4"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields[1] == local && fields[2] == remote).then(|| fields[5].to_owned())
    })
}

#[tokio::test]
async fn an_accepted_connection_has_tcp_keepalive_so_a_vanished_client_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--header-timeout-ms", "60000"]).await;
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    // A finished request: the connection is surely accepted.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let (server_addr, client_addr) = (stream.peer_addr().unwrap(), stream.local_addr().unwrap());
    // Timer 2 on an idle established socket is the keepalive timer (1 is
    // retransmission, 4 a zero-window probe; none at all without
    // keepalive); it fires 60 s after the last traffic, in clock ticks of
    // 1/100 s. Read until the last ACK's delayed-ACK state has settled.
    let started = Instant::now();
    let timer = loop {
        let timer = server_side_timer(server_addr, client_addr).expect("the server's socket");
        if timer.starts_with("02:") || started.elapsed() > Duration::from_secs(5) {
            break timer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (active, when) = timer.split_once(':').unwrap();
    assert_eq!(active, "02", "keepalive timer armed: {timer}");
    let seconds = u64::from_str_radix(when, 16).unwrap() / 100;
    assert!(
        (30..=60).contains(&seconds),
        "the first probe after a minute of silence, not the kernel's two hours: {seconds} s"
    );
}

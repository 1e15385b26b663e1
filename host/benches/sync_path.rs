//! Load generator for the synchronous path, against the real `llmhost serve`
//! (API role; nothing is stored on this path):
//!
//! 1. `POST /v1/chat/completions` with `echo/echo` from a growing number of
//!    keep-alive connections, each sending its next request as soon as the
//!    last one was answered (closed loop). For each step: requests/s, latency
//!    percentiles, the host's own overhead (`x-llmhost-overhead-us`) and the
//!    CPU time the server and the load generator spent per request. The
//!    result is the best rate whose p99 stays within 1 ms.
//! 2. The latency the `openai` plugin adds over calling the same mock
//!    upstream directly: one connection, one request at a time, the direct
//!    and the proxied calls interleaved in rounds so that drift in the
//!    machine's load hits both alike.
//!
//! Run with `cargo bench --bench sync_path`. Settings: BENCH_SECONDS per
//! step (3), BENCH_CONNECTIONS (a comma list, default 1,2,4,6,8,12,16,32),
//! BENCH_LATENCY_CALLS (4000), BENCH_ONLY (`echo`, `openai`; both when
//! unset). The load generator shares the machine with the server: on a
//! small machine its own CPU time is part of what limits the rate.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use common::{Server, load_average, own_cpu_time, percentile, setting};

const OVERHEAD_HEADER: &str = llmhost::OVERHEAD_HEADER;

/// One keep-alive HTTP/1.1 connection, as a load generator holds it.
async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// Sends one POST and reads the whole answer; returns the host's overhead
/// header, when the answer has one.
async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    path: &str,
    body: &Bytes,
) -> Option<u64> {
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body.clone()))
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let overhead = response
        .headers()
        .get(OVERHEAD_HEADER)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    overhead
}

struct Step {
    requests: usize,
    took: Duration,
    latencies: Vec<Duration>,
    overheads: Vec<u64>,
    server_cpu: Duration,
    client_cpu: Duration,
}

/// `connections` clients in a closed loop for `duration`.
async fn closed_loop(
    server: &Server,
    body: &Bytes,
    connections: usize,
    duration: Duration,
) -> Step {
    let mut senders = Vec::new();
    for _ in 0..connections {
        senders.push(connect(server.addr).await);
    }
    let (server_cpu, client_cpu) = (server.cpu_time(), own_cpu_time());
    let started = Instant::now();
    let end = started + duration;
    let clients = senders.into_iter().map(|mut sender| {
        let (addr, body) = (server.addr, body.clone());
        tokio::spawn(async move {
            let (mut latencies, mut overheads) = (Vec::new(), Vec::new());
            while Instant::now() < end {
                let sent = Instant::now();
                let overhead = post(&mut sender, addr, "/v1/chat/completions", &body).await;
                latencies.push(sent.elapsed());
                overheads.extend(overhead);
            }
            (latencies, overheads)
        })
    });
    let (mut latencies, mut overheads) = (Vec::new(), Vec::new());
    for client in futures::future::join_all(clients).await {
        let (l, o) = client.unwrap();
        latencies.extend(l);
        overheads.extend(o);
    }
    let took = started.elapsed();
    latencies.sort();
    overheads.sort();
    Step {
        requests: latencies.len(),
        took,
        latencies,
        overheads,
        server_cpu: server.cpu_time() - server_cpu,
        client_cpu: own_cpu_time() - client_cpu,
    }
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}

async fn echo_sweep() {
    let seconds = setting("BENCH_SECONDS", 3) as u64;
    let connections: Vec<usize> = std::env::var("BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "1,2,4,6,8,12,16,32".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let server = Server::start(&["--role", "api"]).await;
    let body = Bytes::from_static(
        br#"{"model":"echo/echo","messages":[{"role":"user","content":"hello, llmhost"}]}"#,
    );
    // Warm-up: connections, the plugin's pool slots, the allocator.
    closed_loop(&server, &body, 4, Duration::from_secs(1)).await;
    println!(
        "| connections | req/s | p50 (µs) | p90 (µs) | p99 (µs) | p99.9 (µs) | host overhead p50 (µs) | server CPU/req (µs) | load generator CPU/req (µs) | load average |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut best: Option<(f64, usize)> = None;
    for &c in &connections {
        let step = closed_loop(&server, &body, c, Duration::from_secs(seconds)).await;
        let rate = step.requests as f64 / step.took.as_secs_f64();
        let p99 = percentile(&step.latencies, 0.99);
        let n = step.requests as u32;
        println!(
            "| {c} | {rate:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            micros(percentile(&step.latencies, 0.5)),
            micros(percentile(&step.latencies, 0.9)),
            micros(p99),
            micros(percentile(&step.latencies, 0.999)),
            step.overheads
                .get(step.overheads.len() / 2)
                .copied()
                .unwrap_or(0),
            micros(step.server_cpu / n),
            micros(step.client_cpu / n),
            load_average(),
        );
        if p99 <= Duration::from_millis(1) && best.is_none_or(|(b, _)| rate > b) {
            best = Some((rate, c));
        }
    }
    match best {
        Some((rate, c)) => println!(
            "\nBest rate with p99 <= 1 ms: {rate:.0} req/s ({c} connections); target 15,000"
        ),
        None => println!("\nNo step kept p99 within 1 ms"),
    }
}

/// What the mock upstream answers: an OpenAI chat completion, always the
/// same, built once.
const UPSTREAM_ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1741570283,"model":"ok-2025","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;

/// The cheapest OpenAI-shaped upstream: a fixed answer to every POST, so
/// that what is measured is the path to it, not its work.
async fn start_upstream() -> SocketAddr {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            (
                [(hyper::header::CONTENT_TYPE, "application/json")],
                UPSTREAM_ANSWER,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A plugins directory holding only the bundled `openai` plugin, its
/// manifest pointing at `upstream` with the credential added by the host.
fn openai_plugins(dir: &Path, upstream: SocketAddr) {
    let bundled = llmhost::bundled_plugins_dir().join("openai.wasm");
    std::fs::copy(&bundled, dir.join("openai.wasm")).unwrap();
    let manifest = format!(
        r#"[egress]
allow = ["http://{upstream}"]

[[secret]]
origin = "http://{upstream}"
header = "authorization"
value = "Bearer ${{LLMHOST_BENCH_KEY}}"

[config]
base_url = "http://{upstream}/v1"
"#
    );
    std::fs::write(dir.join("openai.toml"), manifest).unwrap();
}

async fn sequential(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    body: &Bytes,
    calls: usize,
    latencies: &mut Vec<Duration>,
    overheads: &mut Vec<u64>,
) {
    for _ in 0..calls {
        let sent = Instant::now();
        let overhead = post(sender, addr, "/v1/chat/completions", body).await;
        latencies.push(sent.elapsed());
        overheads.extend(overhead);
    }
}

async fn openai_added_latency() {
    let calls = setting("BENCH_LATENCY_CALLS", 4000);
    let upstream = start_upstream().await;
    let plugins = tempfile::tempdir().unwrap();
    openai_plugins(plugins.path(), upstream);
    let server = Server::start_with_env(
        &[
            "--role",
            "api",
            "--plugins-dir",
            plugins.path().to_str().unwrap(),
        ],
        &[("LLMHOST_BENCH_KEY", "sk-bench")],
    )
    .await;
    let direct_body = Bytes::from_static(
        br#"{"model":"ok","messages":[{"role":"user","content":"hello, llmhost"}]}"#,
    );
    let proxied_body = Bytes::from_static(
        br#"{"model":"openai/ok","messages":[{"role":"user","content":"hello, llmhost"}]}"#,
    );
    let mut direct = connect(upstream).await;
    let mut proxied = connect(server.addr).await;
    let (mut direct_lat, mut proxied_lat, mut overheads) = (Vec::new(), Vec::new(), Vec::new());
    // Warm-up of both paths.
    sequential(
        &mut direct,
        upstream,
        &direct_body,
        200,
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .await;
    sequential(
        &mut proxied,
        server.addr,
        &proxied_body,
        200,
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .await;
    let rounds = 20;
    for _ in 0..rounds {
        let per_round = calls / rounds;
        sequential(
            &mut direct,
            upstream,
            &direct_body,
            per_round,
            &mut direct_lat,
            &mut Vec::new(),
        )
        .await;
        sequential(
            &mut proxied,
            server.addr,
            &proxied_body,
            per_round,
            &mut proxied_lat,
            &mut overheads,
        )
        .await;
    }
    direct_lat.sort();
    proxied_lat.sort();
    overheads.sort();
    println!(
        "\n| path ({} calls each, one at a time) | p50 (µs) | p90 (µs) | p99 (µs) |",
        direct_lat.len()
    );
    println!("|---|---|---|---|");
    for (label, lat) in [
        ("mock upstream directly", &direct_lat),
        ("llmhost `openai/ok` -> same upstream", &proxied_lat),
    ] {
        println!(
            "| {label} | {} | {} | {} |",
            micros(percentile(lat, 0.5)),
            micros(percentile(lat, 0.9)),
            micros(percentile(lat, 0.99)),
        );
    }
    let added =
        |q| micros(percentile(&proxied_lat, q)).saturating_sub(micros(percentile(&direct_lat, q)));
    println!(
        "\nAdded by the openai plugin and the host: p50 {} µs, p99 {} µs; of which the host's own \
         overhead (outside the provider call) p50 {} µs; load average {}",
        added(0.5),
        added(0.99),
        overheads.get(overheads.len() / 2).copied().unwrap_or(0),
        load_average()
    );
}

#[tokio::main]
async fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    println!("load average at start: {}\n", load_average());
    if run("echo") {
        echo_sweep().await;
    }
    if run("openai") {
        openai_added_latency().await;
    }
}

//! Load generator for the async path: starts the real `llmhost serve`,
//! submits tasks over HTTP from many concurrent clients, and measures submit
//! latency (p50/p99), end-to-end throughput (submitted -> completed, tasks/s)
//! on SQLite and on PostgreSQL, idle RSS, and RSS with many pending tasks.
//! Run with `just bench` (or `cargo bench --bench async_path`). Settings:
//! BENCH_TASKS (20000), BENCH_CONCURRENCY (64), BENCH_WORKERS (16),
//! BENCH_PENDING (100000), LLMHOST_TEST_POSTGRES_URL (PostgreSQL is skipped
//! when no server answers).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_llmhost"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start llmhost");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next_line().await.unwrap().expect("llmhost started");
            if let Some(url) = line.strip_prefix("llmhost listening on ") {
                break url.to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            base,
            _dir: dir,
        }
    }

    /// Resident memory of the server process, in MiB.
    fn rss_mib(&self) -> f64 {
        let pid = self.child.id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb / 1024.0
    }

    /// One sample of the store's counts, from `/metrics`.
    async fn tasks_in(&self, http: &reqwest::Client, status: &str) -> u64 {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let key = format!("llmhost_tasks{{status=\"{status}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Submitted {
    latencies: Vec<Duration>,
    took: Duration,
}

/// `n` submissions from `concurrency` clients, each waiting for its answer
/// before sending the next.
async fn submit_all(
    server: &Server,
    http: &reqwest::Client,
    n: usize,
    concurrency: usize,
) -> Submitted {
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/api/v1/tasks", server.base);
    let started = Instant::now();
    let clients = (0..concurrency).map(|_| {
        let (next, url, http) = (next.clone(), url.clone(), http.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let body =
                    serde_json::json!({"provider": "echo", "model": "echo", "prompt": "bench"});
                let sent = Instant::now();
                let response = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 201);
                response.bytes().await.unwrap();
                latencies.push(sent.elapsed());
            }
            latencies
        })
    });
    let mut latencies = Vec::with_capacity(n);
    for client in futures::future::join_all(clients).await {
        latencies.extend(client.unwrap());
    }
    latencies.sort();
    Submitted {
        latencies,
        took: started.elapsed(),
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q) as usize]
}

async fn async_path(label: &str, args: &[&str]) {
    let n = setting("BENCH_TASKS", 20_000);
    let concurrency = setting("BENCH_CONCURRENCY", 64);
    let workers = setting("BENCH_WORKERS", 16).to_string();
    let mut all_args = vec!["--workers", workers.as_str()];
    all_args.extend_from_slice(args);
    let server = Server::start(&all_args).await;
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.rss_mib();
    let started = Instant::now();
    let submitted = submit_all(&server, &http, n, concurrency).await;
    while server.tasks_in(&http, "completed").await < n as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_to_end = started.elapsed();
    println!(
        "| {label} | {n} | {concurrency} | {workers} | {:.0} | {:.0} | {:.2} | {:.2} | {idle:.1} | {:.1} |",
        n as f64 / end_to_end.as_secs_f64(),
        n as f64 / submitted.took.as_secs_f64(),
        percentile(&submitted.latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&submitted.latencies, 0.99).as_secs_f64() * 1e3,
        server.rss_mib(),
    );
}

async fn memory_with_pending() {
    let pending = setting("BENCH_PENDING", 100_000);
    // API only: nothing claims, so every task stays pending.
    let server = Server::start(&["--role", "api"]).await;
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.rss_mib();
    submit_all(&server, &http, pending, 64).await;
    assert_eq!(server.tasks_in(&http, "pending").await, pending as u64);
    println!(
        "\nRSS of an API process on SQLite: idle {idle:.1} MiB; with {pending} pending tasks {:.1} MiB",
        server.rss_mib()
    );
}

#[tokio::main]
async fn main() {
    println!(
        "| store | tasks | clients | workers | end to end (tasks/s) | submit (tasks/s) | submit p50 (ms) | submit p99 (ms) | idle RSS (MiB) | RSS after (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    async_path("SQLite", &[]).await;
    match llmhost::testing::TestDatabase::create().await {
        Some(db) => async_path("PostgreSQL", &["--database-url", &db.url]).await,
        None => println!("| PostgreSQL | skipped: no server | | | | | | | | |"),
    }
    memory_with_pending().await;
}

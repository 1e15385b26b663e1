//! Load generator for the async path: starts the real `llmhost serve`,
//! submits tasks over HTTP from many concurrent clients, and measures submit
//! latency (p50/p99), end-to-end throughput (submitted -> completed, tasks/s)
//! on SQLite and on PostgreSQL, idle RSS, and RSS with many pending tasks.
//! Run with `just bench` (or `cargo bench --bench async_path`). Settings:
//! BENCH_TASKS (20000), BENCH_CONCURRENCY (64), BENCH_WORKERS (16),
//! BENCH_PENDING (100000), LLMHOST_TEST_POSTGRES_URL (PostgreSQL is skipped
//! when no server answers), BENCH_ONLY (a comma list of `sqlite`,
//! `postgres`, `memory`; all when unset). Server CPU per task is the
//! server's user + system time over the run divided by the tasks: a figure
//! that other load on the machine barely moves.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, load_average, own_cpu_time, percentile, setting};

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

/// Whether any task is still pending or running.
async fn unfinished(server: &Server, http: &reqwest::Client) -> bool {
    for status in ["pending", "running"] {
        let page: serde_json::Value = http
            .get(format!(
                "{}/api/v1/tasks?status={status}&limit=1",
                server.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["tasks"].as_array().is_some_and(|t| !t.is_empty()) {
            return true;
        }
    }
    false
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
    let (cpu_before, own_before) = (server.cpu_time(), own_cpu_time());
    let started = Instant::now();
    let submitted = submit_all(&server, &http, n, concurrency).await;
    // Done when no task is pending or running (two indexed reads of one
    // row each; a /metrics scrape would count the whole table every time).
    while unfinished(&server, &http).await {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end_to_end = started.elapsed();
    assert_eq!(server.tasks_in(&http, "completed").await, n as u64);
    let cpu_per_task = (server.cpu_time() - cpu_before) / n as u32;
    let own_per_task = (own_cpu_time() - own_before) / n as u32;
    println!(
        "| {label} | {n} | {concurrency} | {workers} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} | {idle:.1} | {:.1} | {} |",
        n as f64 / end_to_end.as_secs_f64(),
        n as f64 / submitted.took.as_secs_f64(),
        percentile(&submitted.latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&submitted.latencies, 0.99).as_secs_f64() * 1e3,
        cpu_per_task.as_micros(),
        own_per_task.as_micros(),
        server.rss_mib(),
        load_average(),
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
        "| store | tasks | clients | workers | end to end (tasks/s) | submit (tasks/s) | submit p50 (ms) | submit p99 (ms) | server CPU per task (µs) | load generator CPU per task (µs) | idle RSS (MiB) | RSS after (MiB) | load average after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    if run("sqlite") {
        async_path("SQLite", &[]).await;
    }
    if run("postgres") {
        match llmhost_store::testing::TestDatabase::create().await {
            Some(db) => async_path("PostgreSQL", &["--database-url", &db.url]).await,
            None => println!("| PostgreSQL | skipped: no server | | | | | | | | | | | |"),
        }
    }
    if run("memory") {
        memory_with_pending().await;
    }
}

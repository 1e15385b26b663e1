//! The async path, end to end: `--tasks` submissions over HTTP from
//! `--concurrency` keep-alive clients (each sends its next task when the
//! last was answered 201), then polling until no task is pending or
//! running. Throughput is tasks over the time from the first submission to
//! the last completion; the CPU time of `--pid` (the server) is read over
//! the same span. Prints one JSON object.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::client::{Connection, Url};
use crate::load::cpu_us;

#[derive(clap::Args)]
/// Submit tasks and wait for all of them to finish.
pub(crate) struct Args {
    /// The server's base URL, `http://host:port`.
    #[arg(long)]
    base: String,
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(
        long,
        default_value = r#"{"provider":"echo","model":"echo","prompt":"bench"}"#
    )]
    body: String,
    /// The server's process id (repeatable), for its CPU time.
    #[arg(long = "pid")]
    pids: Vec<u32>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let submit = Url::parse(&format!("{}/api/v1/tasks", args.base))?;
    let body = Bytes::from(args.body.clone());
    let mut connections = Vec::new();
    for _ in 0..args.concurrency {
        connections.push(Connection::open(&submit).await?);
    }
    let mut poller = Connection::open(&submit).await?;
    let server_cpu = || {
        args.pids
            .iter()
            .map(|p| cpu_us(&format!("/proc/{p}/stat")))
            .sum::<u64>()
    };
    let (cpu_before, own_before) = (server_cpu(), cpu_us("/proc/self/stat"));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (next, body, path, n) =
                (next.clone(), body.clone(), submit.path.clone(), args.tasks);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let sent = Instant::now();
                    let response = connection
                        .send(http::Method::POST, &path, &[], body.clone())
                        .await?;
                    let status = response.status();
                    let answer = response.into_body().collect().await?.to_bytes();
                    anyhow::ensure!(
                        status == 201,
                        "submission answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    );
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.tasks);
    for client in clients {
        latencies.extend(client.await??);
    }
    let submitted = started.elapsed();
    // Two indexed reads of one row each; a /metrics scrape would count the
    // whole table every time.
    while unfinished(&mut poller).await? {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end_to_end = started.elapsed();
    let (cpu_after, own_after) = (server_cpu(), cpu_us("/proc/self/stat"));
    let completed = completed(&mut poller).await?;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let summary = serde_json::json!({
        "tasks": args.tasks,
        "completed": completed,
        "seconds": end_to_end.as_secs_f64(),
        "tasks_per_second": args.tasks as f64 / end_to_end.as_secs_f64(),
        "submitted_per_second": args.tasks as f64 / submitted.as_secs_f64(),
        "submit_p50_us": at(0.5),
        "submit_p99_us": at(0.99),
        "server_cpu_us": cpu_after - cpu_before,
        "load_generator_cpu_us": own_after - own_before,
    });
    println!("{summary}");
    Ok(())
}

async fn unfinished(poller: &mut Connection) -> anyhow::Result<bool> {
    for status in ["pending", "running"] {
        let (code, body) = poller
            .get(&format!("/api/v1/tasks?status={status}&limit=1"))
            .await?;
        anyhow::ensure!(code == 200, "listing tasks answered {code}");
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        if page["tasks"].as_array().is_some_and(|t| !t.is_empty()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `llmhost_tasks{status="completed"}` from `/metrics`.
async fn completed(poller: &mut Connection) -> anyhow::Result<u64> {
    let (_, body) = poller.get("/metrics").await?;
    let text = String::from_utf8_lossy(&body);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("llmhost_tasks{status=\"completed\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

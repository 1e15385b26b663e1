//! The in-process provider call: a fresh sandbox (instantiate from the
//! pre-linked component) plus `complete` on the bundled `echo` provider.
//! Prints p50/p99 over many single calls, then runs criterion's estimate.
//! Run with `just bench` (or `cargo bench --bench echo_call`).
//!
//! BENCH_CALLS (20000) sets the number of timed calls; BENCH_PROFILE=1 makes
//! only those calls and skips criterion, for a profiler such as
//! `valgrind --tool=callgrind` (instruction counts do not depend on the
//! machine's load). Compiled plugins are cached under the system's temporary
//! directory, so that a profiled run does not profile Cranelift.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use llmhost_runtime::{Message, Params, Request, Role, Runtime, RuntimeConfig};

fn request() -> Request {
    Request {
        model: "echo".into(),
        messages: vec![Message::text(Role::User, "hello, llmhost")],
        tools: Vec::new(),
        params: Params::default(),
        provider_options: None,
    }
}

fn percentiles(rt: &tokio::runtime::Runtime, runtime: &Runtime) {
    let plugin = runtime.get("echo").expect("the bundled echo plugin");
    let request = request();
    let deadline = Duration::from_secs(5);
    let calls = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut samples: Vec<Duration> = rt.block_on(async {
        for _ in 0..calls.min(1_000) {
            plugin.complete(&request, deadline).await.unwrap().unwrap();
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            plugin.complete(&request, deadline).await.unwrap().unwrap();
            samples.push(started.elapsed());
        }
        samples
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "echo instantiate+complete over {} calls: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
}

fn echo_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = rt
        .block_on(Runtime::new(RuntimeConfig {
            plugins_dir: llmhost::bundled_plugins_dir(),
            cache_dir: Some(std::env::temp_dir().join("llmhost-bench-cache")),
            ..RuntimeConfig::default()
        }))
        .expect("load the bundled plugins");
    percentiles(&rt, &runtime);
    if std::env::var_os("BENCH_PROFILE").is_some() {
        return;
    }
    let plugin = runtime.get("echo").unwrap();
    let request = request();
    c.bench_function("echo instantiate+complete", |b| {
        b.iter(|| {
            rt.block_on(plugin.complete(&request, Duration::from_secs(5)))
                .unwrap()
                .unwrap()
        })
    });
}

criterion_group!(benches, echo_call);

fn main() {
    benches();
    if std::env::var_os("BENCH_PROFILE").is_none() {
        Criterion::default().configure_from_args().final_summary();
    }
}

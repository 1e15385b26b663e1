//! `GET /metrics` after a few tasks: the counts by status, the errors by
//! code, the provider call histogram and the HTTP request counts are right.

use std::collections::HashMap;

use serde_json::json;

use crate::harness::{Server, echo};
use llmhost_store::testing::TestDatabase;

/// `name{labels} value` lines of a Prometheus text exposition.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(server: &Server) -> HashMap<String, f64> {
    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    samples(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_tasks_by_status_errors_by_code_and_requests_by_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(server.submit(&echo(&format!("ok {i}"))).await);
    }
    let rate_limited = json!({"provider": "echo", "model": "echo-error:rate_limited", "prompt": "x", "max_attempts": 1});
    ids.push(server.submit(&rate_limited).await);
    ids.push(
        server
            .submit(&json!({"provider": "nope", "model": "m", "prompt": "x"}))
            .await,
    );
    for id in &ids {
        server.wait_until_finished(id).await;
    }
    let (status, _) = server.get_json("/api/v1/tasks/does-not-exist").await;
    assert_eq!(status, 404);

    let m = scrape(&server).await;
    let get = |key: &str| {
        m.get(key)
            .copied()
            .unwrap_or_else(|| panic!("no {key} in {m:#?}"))
    };
    assert_eq!(get("llmhost_tasks{status=\"completed\"}"), 3.0);
    assert_eq!(get("llmhost_tasks{status=\"failed\"}"), 2.0);
    assert_eq!(get("llmhost_tasks{status=\"pending\"}"), 0.0);
    assert_eq!(get("llmhost_tasks{status=\"running\"}"), 0.0);
    assert_eq!(get("llmhost_queue_depth"), 0.0);
    assert_eq!(
        get("llmhost_attempt_errors_total{error_code=\"rate_limited\"}"),
        1.0
    );
    assert_eq!(
        get("llmhost_attempt_errors_total{error_code=\"provider_not_found\"}"),
        1.0
    );
    // Five claims; four provider calls (the unknown provider is never called).
    assert_eq!(get("llmhost_claim_latency_seconds_count"), 5.0);
    assert_eq!(
        get("llmhost_provider_call_duration_seconds_count{provider=\"echo\"}"),
        4.0
    );
    assert_eq!(
        get("llmhost_http_requests_total{method=\"POST\",route=\"/api/v1/tasks\",status=\"201\"}"),
        5.0
    );
    assert_eq!(
        get(
            "llmhost_http_requests_total{method=\"GET\",route=\"/api/v1/tasks/{task_id}\",status=\"404\"}"
        ),
        1.0
    );
    assert!(
        get(
            "llmhost_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/tasks\",status=\"201\"}"
        ) == 5.0
    );
}

#[tokio::test]
async fn the_queue_depth_counts_pending_tasks_that_are_due() {
    let dir = tempfile::tempdir().unwrap();
    // Its one worker is busy: submitted tasks stay pending.
    let server = Server::start_with_busy_worker(dir.path()).await;
    for i in 0..4 {
        server.submit(&echo(&format!("waiting {i}"))).await;
    }
    let m = scrape(&server).await;
    assert_eq!(m["llmhost_queue_depth"], 4.0);
    assert_eq!(m["llmhost_tasks{status=\"pending\"}"], 4.0);
}

/// A worker-only process has no API; `--metrics-listen` serves its own
/// metrics (what its workers did) and nothing else. Needs PostgreSQL, the
/// only store two processes can share: skipped without it, except under CI.
#[tokio::test]
async fn a_worker_process_serves_its_metrics_on_the_metrics_listener() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let api = Server::start(dir.path(), &["--role", "api", "--database-url", &db.url]).await;
    let worker = Server::start_worker_with_metrics(
        dir.path(),
        &[
            "--role",
            "worker",
            "--database-url",
            &db.url,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let ids = [
        api.submit(&echo("one")).await,
        api.submit(&echo("two")).await,
    ];
    for id in &ids {
        api.wait_until_finished(id).await;
    }
    let m = scrape(&worker).await;
    assert_eq!(
        m["llmhost_provider_call_duration_seconds_count{provider=\"echo\"}"],
        2.0
    );
    assert_eq!(m["llmhost_claim_latency_seconds_count"], 2.0);
    assert_eq!(m["llmhost_tasks{status=\"completed\"}"], 2.0);
    // The API's own metrics are the API process's; only these two routes
    // are served here.
    let (status, _) = worker.get_json("/api/v1/tasks").await;
    assert_eq!(status, 404);
    let (status, _) = worker.get_json("/healthz").await;
    assert_eq!(status, 200);
}

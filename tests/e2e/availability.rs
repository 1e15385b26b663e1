//! What a client and an orchestrator are told when the process cannot
//! serve: `/healthz` (alive) and `/readyz` (the store commits, providers are
//! loaded), set-ups that can never work refused at start, and the headers a
//! client's retry logic reads (the official SDK's own behaviour:
//! `openai_compat::the_official_openai_sdk_asks_once_for_an_upstream_authentication_failure`).

use serde_json::json;

use crate::harness::{Server, run_llmhost};

#[tokio::test]
async fn readiness_says_ready_with_providers_and_neither_probe_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "probe-token-0123456789";
    let server = Server::start(dir.path(), &["--auth-token", token]).await;
    let (status, body) = server.get_json("/healthz").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = server.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert!(body["providers"].as_u64().unwrap() >= 1, "{body}");
}

#[tokio::test]
async fn a_process_without_providers_is_alive_but_not_ready_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("no-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;
    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200);
    let response = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-should-retry"], "true");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(body["error"]["message"], "no provider is loaded");
}

#[tokio::test]
async fn an_api_or_worker_alone_on_the_embedded_database_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for role in ["api", "worker"] {
        let out = run_llmhost(
            &[
                "serve",
                "--role",
                role,
                "--data-dir",
                dir.path().to_str().unwrap(),
            ],
            &[],
        )
        .await;
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("role: --role {role} needs PostgreSQL"))
                && stderr.contains("use --role all, or set --database-url postgres://"),
            "{stderr}"
        );
    }
    assert!(
        !dir.path().join("llmhost.db").exists(),
        "refused before the database was opened"
    );
}

#[tokio::test]
async fn a_failure_a_retry_would_repeat_says_so_and_a_retryable_one_says_when() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let call = |model: &str| {
        server
            .http
            .post(server.url("/v1/chat/completions"))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "x"}]}))
            .send()
    };
    let denied = call("echo/echo-error:authentication").await.unwrap();
    assert_eq!(denied.status(), 502);
    assert_eq!(denied.headers()["x-should-retry"], "false");
    let limited = call("echo/echo-error:rate_limited").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["x-should-retry"], "true");
    // The echo provider asks for 100 ms: whole seconds round up, the
    // milliseconds stay exact.
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.headers()["retry-after-ms"], "100");
}

/// `llmhost submit`: `--system`, `--timeout-ms` and `--max-attempts` reach
/// the task; `--wait` says why a task waits (its last error); `--stream`
/// prints the text as it arrives.
#[tokio::test]
async fn the_submit_client_sends_every_flag_and_says_why_a_task_waits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let submit = async |extra: &[&str]| {
        let mut args = vec!["submit", "--server", &server.base, "--provider", "echo"];
        args.extend_from_slice(extra);
        run_llmhost(&args, &[]).await
    };
    let out = submit(&[
        "--model",
        "echo",
        "--prompt",
        "hi",
        "--system",
        "be brief",
        "--timeout-ms",
        "5000",
        "--max-attempts",
        "4",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        task["input"]["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(task["timeout_ms"], 5000);
    assert_eq!(task["max_attempts"], 4);

    let out = submit(&[
        "--model",
        "echo-error:rate_limited",
        "--prompt",
        "x",
        "--max-attempts",
        "2",
        "--wait",
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let waiting = stderr
        .lines()
        .find(|l| l.contains("pending (attempt 1 of 2), retrying after rate_limited"))
        .unwrap_or_else(|| panic!("says why it waits: {stderr}"));
    // And when it goes on: a time the client can read.
    let (_, at) = waiting
        .split_once("; next attempt at ")
        .unwrap_or_else(|| panic!("says when it goes on: {waiting}"));
    let at = at.split(' ').next().unwrap();
    chrono::DateTime::parse_from_rfc3339(at).unwrap_or_else(|e| panic!("{at}: {e}"));

    let out = submit(&[
        "--model",
        "echo-drip:20",
        "--prompt",
        "one two three",
        "--stream",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "one two three");
}

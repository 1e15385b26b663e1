//! Tasks over a route (`{"model": "<alias>"}`, no provider): the worker
//! walks the route's targets (here `echo` models that fail with a chosen
//! typed error), moves on only for the route's `fallback_on` codes, sends a
//! context too long to the context-window fallback, and records every
//! target it called in the task's `attempt_log` with the attempt's
//! outcome, each failed target as soon as the walk moves on. A `kill -9`
//! with routed tasks running loses none of it, on SQLite and on
//! PostgreSQL.

use serde_json::{Value, json};

use crate::harness::{Server, run_llmhost};
use llmhost_store::testing::TestDatabase;

// No target cools down here (`cooldown.failures`): each walk is the same.
const ROUTES: &str = r#"
[routes.steady]
targets = [
  { model = "echo/echo-error:upstream_error" },
  { model = "echo/echo-error:upstream_unavailable" },
  { model = "echo/echo-slow:3000" },
]
cooldown = { failures = 1000 }

[routes.strict]
targets = [{ model = "echo/echo-error:invalid_request" }, { model = "echo/echo" }]

[routes.wide]
targets = [{ model = "echo/echo-error:context_length_exceeded" }, { model = "echo/echo-slow:1" }]
context_window_fallback = "echo/echo"

[routes.down]
targets = [{ model = "echo/echo-error:upstream_unavailable" }, { model = "echo/echo-error:timeout" }]
cooldown = { failures = 1000 }
"#;

fn routed(alias: &str, prompt: &str) -> Value {
    json!({"model": alias, "prompt": prompt})
}

/// Each log entry as `(attempt, target, outcome, error_code)`.
fn log_of(task: &Value) -> Vec<(u64, String, String, Option<String>)> {
    task["attempt_log"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempt_log: {task}"))
        .iter()
        .map(|e| {
            assert!(e["duration_ms"].is_u64(), "{e}");
            assert!(e["started_at"].is_string(), "{e}");
            (
                e["attempt"].as_u64().unwrap(),
                e["target"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["error_code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn entry(attempt: u64, target: &str, error: Option<&str>) -> (u64, String, String, Option<String>) {
    let outcome = if error.is_some() {
        "failed"
    } else {
        "completed"
    };
    (
        attempt,
        target.to_owned(),
        outcome.to_owned(),
        error.map(str::to_owned),
    )
}

/// The walk of `steady` in attempt `n`: two failures, then the answer.
fn steady_walk(n: u64) -> Vec<(u64, String, String, Option<String>)> {
    vec![
        entry(n, "echo/echo-error:upstream_error", Some("upstream_error")),
        entry(
            n,
            "echo/echo-error:upstream_unavailable",
            Some("upstream_unavailable"),
        ),
        entry(n, "echo/echo-slow:3000", None),
    ]
}

/// Serves with the routes, on `database` (SQLite in `dir` when `None`).
/// A short lease: with PostgreSQL a killed process's tasks wait for it.
async fn serve(dir: &std::path::Path, database: Option<&str>) -> Server {
    let file = dir.join("llmhost.toml");
    std::fs::write(&file, ROUTES).unwrap();
    let mut args = vec![
        "--config",
        file.to_str().unwrap(),
        "--workers",
        "4",
        "--lease-ms",
        "2000",
    ];
    if let Some(url) = database {
        args.extend(["--database-url", url]);
    }
    Server::start(dir, &args).await
}

async fn routed_tasks_walk_their_route_and_keep_their_log_through_kill_9(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), database).await;

    // Unknown without a provider: refused, naming the routes.
    let (status, error) = server.post_task(&routed("clever", "hi")).await;
    assert_eq!(status, 422, "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("routes: down, steady, strict, wide"),
        "{message}"
    );

    let done = server.submit(&routed("steady", "first")).await;
    let done = server.wait_until_finished(&done).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["text"], "first");
    assert_eq!(
        (&done["route"], &done["model"]),
        (&json!("steady"), &json!("steady"))
    );
    assert_eq!(log_of(&done), steady_walk(1));

    // `llmhost submit` without --provider names a route too.
    let out = run_llmhost(
        &[
            "submit",
            "--server",
            &server.base,
            "--model",
            "wide",
            "--prompt",
            "from the cli",
            "--wait",
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from the cli");

    // The caller's fault is the answer, tried nowhere else and not retried.
    let strict = server.submit(&routed("strict", "hi")).await;
    let strict = server.wait_until_finished(&strict).await;
    assert_eq!(strict["status"], "failed", "{strict}");
    assert_eq!(strict["error_code"], "invalid_request");
    assert_eq!(strict["attempts"], 1);
    assert_eq!(
        log_of(&strict),
        [entry(
            1,
            "echo/echo-error:invalid_request",
            Some("invalid_request")
        )]
    );

    // A context too long skips the other targets for the fallback.
    let wide = server.submit(&routed("wide", "long")).await;
    let wide = server.wait_until_finished(&wide).await;
    assert_eq!(wide["status"], "completed", "{wide}");
    assert_eq!(
        log_of(&wide),
        [
            entry(
                1,
                "echo/echo-error:context_length_exceeded",
                Some("context_length_exceeded")
            ),
            entry(1, "echo/echo", None),
        ]
    );

    // Every target failing retryably: the task is retried over the whole
    // route, each attempt's walk kept.
    let mut down = routed("down", "hi");
    down["max_attempts"] = json!(2);
    let down = server.submit(&down).await;
    let down = server.wait_until_finished(&down).await;
    assert_eq!(down["status"], "failed", "{down}");
    assert_eq!(down["error_code"], "timeout");
    let walk = |n| {
        [
            entry(
                n,
                "echo/echo-error:upstream_unavailable",
                Some("upstream_unavailable"),
            ),
            entry(n, "echo/echo-error:timeout", Some("timeout")),
        ]
    };
    assert_eq!(log_of(&down), [walk(1), walk(2)].concat());

    // Killed while two routed tasks are at their slow target.
    let bodies = ["killed one", "killed two"].map(|p| routed("steady", p));
    let running: Vec<String> =
        futures::future::join_all(bodies.iter().map(|body| server.submit(body))).await;
    // Its two failed targets are in the log while it runs: written as the
    // walk moved on, not only with the outcome.
    let walked = steady_walk(1)[..2].to_vec();
    for id in &running {
        server
            .wait_for(id, "at its third target", |t| {
                t["status"] == "running" && log_of(t) == walked
            })
            .await;
    }
    let finished =
        [&done, &strict, &wide, &down].map(|t| t["task_id"].as_str().unwrap().to_owned());
    let before: Vec<Value> =
        futures::future::join_all(finished.iter().map(|id| server.task(id))).await;
    server.kill().await;

    let server = serve(dir.path(), database).await;
    for (id, before) in finished.iter().zip(&before) {
        assert_eq!(&server.task(id).await, before, "unchanged by the restart");
    }
    for id in &running {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 2, "the killed attempt counts: {task}");
        // The killed attempt's failed targets stayed; the rescuer ended it
        // as interrupted, with no target (which one was in flight died
        // with the process), before the second attempt's walk.
        let interrupted = (
            1,
            String::new(),
            "interrupted".to_owned(),
            Some("lease_expired".to_owned()),
        );
        assert_eq!(
            log_of(&task),
            [walked.clone(), vec![interrupted], steady_walk(2)].concat(),
            "{task}"
        );
    }
}

#[tokio::test]
async fn routed_tasks_walk_their_route_and_keep_their_log_through_kill_9_on_sqlite() {
    routed_tasks_walk_their_route_and_keep_their_log_through_kill_9(None).await;
}

#[tokio::test]
async fn routed_tasks_walk_their_route_and_keep_their_log_through_kill_9_on_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    routed_tasks_walk_their_route_and_keep_their_log_through_kill_9(Some(&db.url)).await;
}

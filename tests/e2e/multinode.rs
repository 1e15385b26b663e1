//! Several real `llmhost` processes sharing one PostgreSQL: one API process
//! and worker processes that die (`kill -9`) or freeze (`SIGSTOP`) mid-task.
//! Skipped without a PostgreSQL server, except under CI.

use nix::sys::signal::Signal;
use serde_json::json;

use crate::harness::{Server, echo};
use llmhost_store::testing::TestDatabase;

const LEASE_MS: &str = "1000";

async fn api(dir: &std::path::Path, db: &TestDatabase) -> Server {
    Server::start(dir, &["--role", "api", "--database-url", &db.url]).await
}

async fn worker(dir: &std::path::Path, db: &TestDatabase) -> Server {
    let args = [
        "--role",
        "worker",
        "--database-url",
        &db.url,
        "--lease-ms",
        LEASE_MS,
        "--workers",
        "4",
    ];
    Server::start_worker(dir, &args).await
}

fn slow(ms: u32, prompt: &str) -> serde_json::Value {
    json!({"provider": "echo", "model": format!("echo-slow:{ms}"), "prompt": prompt})
}

#[tokio::test]
async fn a_worker_killed_mid_task_loses_nothing_and_its_tasks_run_again() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path(), &db).await;
    let doomed = worker(dir.path(), &db).await;

    // Only the doomed worker runs, so these four are all its own.
    let mut victims = Vec::new();
    for i in 0..4 {
        victims.push(api.submit(&slow(3000, &format!("victim {i}"))).await);
    }
    for id in &victims {
        api.wait_for(id, "running", |t| t["status"] == "running")
            .await;
    }
    let survivors = [worker(dir.path(), &db).await, worker(dir.path(), &db).await];
    doomed.kill().await;

    let mut others = Vec::new();
    for i in 0..8 {
        others.push(api.submit(&echo(&format!("other {i}"))).await);
    }
    for (i, id) in victims.iter().enumerate() {
        let task = api.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["result"]["text"], format!("victim {i}"));
        assert_eq!(task["attempts"], 2, "re-run once after the kill: {task}");
    }
    for (i, id) in others.iter().enumerate() {
        let task = api.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["result"]["text"], format!("other {i}"));
        assert_eq!(task["attempts"], 1);
    }
    assert_eq!(api.all_tasks().await.len(), 12, "every task exactly once");
    drop(survivors);
}

#[tokio::test]
async fn a_frozen_workers_late_result_is_rejected_after_another_took_over() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path(), &db).await;
    let zombie = worker(dir.path(), &db).await;
    let id = api.submit(&slow(2500, "contested")).await;
    api.wait_for(&id, "running", |t| t["status"] == "running")
        .await;

    zombie.signal(Signal::SIGSTOP);
    let rescuer = worker(dir.path(), &db).await;
    // Past the zombie's lease, the second worker takes the task over.
    api.wait_for(&id, "running again", |t| {
        t["attempts"] == 2 && t["status"] == "running"
    })
    .await;
    zombie.signal(Signal::SIGCONT);

    let task = api.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["attempts"], 2, "the second attempt's result: {task}");
    // The zombie notices on its next write and drops its result.
    let start = std::time::Instant::now();
    while !zombie.log().contains("lost the task") {
        assert!(
            start.elapsed() < crate::harness::PATIENCE,
            "zombie log:\n{}",
            zombie.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        assert_eq!(api.task(&id).await, task, "the final status never changes");
    }
    drop(rescuer);
}

#[tokio::test]
async fn the_api_process_streams_the_tokens_a_worker_process_generates() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path(), &db).await;
    let _worker = worker(dir.path(), &db).await;
    let prompt = "tokens crossing from one process to another";
    let body = json!({"provider": "echo", "model": "echo-drip:150", "prompt": prompt});
    let id = api.submit(&body).await;
    let seen = crate::events::events(&api, &id).await;
    let deltas: Vec<&str> = seen
        .iter()
        .filter(|(n, _)| n == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(deltas.concat(), prompt, "{seen:?}");
    // Several batches: the worker's text reached the API while it ran.
    assert!(deltas.len() >= 2, "{seen:?}");
    assert_eq!(seen.last().unwrap().1["text"], prompt);
}

/// Reasoning and tool-call pieces cross processes as text does: the worker
/// stores them in PostgreSQL while it runs, the API process sends them.
#[tokio::test]
async fn the_api_process_streams_the_reasoning_and_tool_call_pieces_a_worker_generates() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path(), &db).await;
    let _worker = worker(dir.path(), &db).await;
    let tool = json!({"name": "lookup", "parameters": {"type": "object",
                      "properties": {"query": {"type": "string"}}}});
    let body = json!({"provider": "echo", "model": "echo-agent-drip",
                      "prompt": "pieces crossing from one process to another", "tools": [tool]});
    let id = api.submit(&body).await;
    let seen = crate::events::events(&api, &id).await;
    let result = &seen.last().unwrap().1;
    let of = |name: &str| -> Vec<&serde_json::Value> {
        seen.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, d)| d)
            .collect()
    };
    let reasoning: String = of("reasoning_delta")
        .iter()
        .map(|d| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(reasoning, result["reasoning"].as_str().unwrap(), "{seen:?}");
    let arguments: String = of("tool_call_delta")
        .iter()
        .map(|d| d["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        arguments,
        result["tool_calls"][0]["arguments"].as_str().unwrap(),
        "{seen:?}"
    );
    // Several batches of each: they reached the API while the task ran.
    let completed = seen
        .iter()
        .position(|(n, d)| n == "status" && d["status"] == "completed")
        .unwrap();
    let before = |name: &str| seen[..completed].iter().filter(|(n, _)| n == name).count();
    assert!(before("reasoning_delta") >= 2, "{seen:?}");
    assert!(before("tool_call_delta") >= 2, "{seen:?}");
}

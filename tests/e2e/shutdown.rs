//! SIGTERM on PostgreSQL with two worker processes: the terminated one stops
//! claiming, lets its running tasks finish within the grace period or hands
//! them back to `pending`, and exits; the other process completes what was
//! handed back. Nothing is lost or run twice to completion.
//! Skipped without a PostgreSQL server, except under CI. And one process on
//! the embedded database whose clients hold connections open: its exit is
//! bounded by the grace period all the same.

use serde_json::json;

use crate::harness::Server;
use llmhost_store::testing::TestDatabase;

async fn worker(dir: &std::path::Path, db: &TestDatabase, grace_ms: &str) -> Server {
    let args = [
        "--role",
        "worker",
        "--database-url",
        &db.url,
        "--workers",
        "4",
        "--shutdown-grace-ms",
        grace_ms,
    ];
    Server::start_worker(dir, &args).await
}

fn slow(ms: u32, prompt: &str) -> serde_json::Value {
    json!({"provider": "echo", "model": format!("echo-slow:{ms}"), "prompt": prompt})
}

/// Starts an API process and a first worker, and has that worker running
/// four tasks of `task_ms` each.
async fn first_worker_busy(
    dir: &std::path::Path,
    db: &TestDatabase,
    grace_ms: &str,
    task_ms: u32,
) -> (Server, Server, Vec<String>) {
    let api = Server::start(dir, &["--role", "api", "--database-url", &db.url]).await;
    let first = worker(dir, db, grace_ms).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(api.submit(&slow(task_ms, &format!("task {i}"))).await);
    }
    for id in &ids {
        api.wait_for(id, "running", |t| t["status"] == "running")
            .await;
    }
    (api, first, ids)
}

#[tokio::test]
async fn sigterm_past_the_grace_period_hands_tasks_back_and_the_other_process_completes_them() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The tasks take far longer than the grace period: they cannot finish.
    let (api, first, ids) = first_worker_busy(dir.path(), &db, "200", 5_000).await;
    let status = first.terminate().await;
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    for id in &ids {
        let task = api.task(id).await;
        assert_eq!(task["status"], "pending", "handed back on exit: {task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }

    let second = worker(dir.path(), &db, "10000").await;
    for (i, id) in ids.iter().enumerate() {
        let task = api.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["result"]["text"], format!("task {i}"));
        assert_eq!(
            task["attempts"], 2,
            "run again once, by the second process: {task}"
        );
    }
    assert_eq!(api.all_tasks().await.len(), 4);
    drop(second);
}

#[tokio::test]
async fn sigterm_within_the_grace_period_lets_running_tasks_finish_and_claims_nothing_new() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (api, first, running) = first_worker_busy(dir.path(), &db, "60000", 1_500).await;
    first.signal(nix::sys::signal::Signal::SIGTERM);
    // Submitted after SIGTERM: the terminating process must not take them.
    let mut later = Vec::new();
    for i in 0..4 {
        later.push(api.submit(&slow(10, &format!("later {i}"))).await);
    }
    let status = first.wait_for_exit().await;
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    for (i, id) in running.iter().enumerate() {
        let task = api.task(id).await;
        assert_eq!(
            task["status"], "completed",
            "finished within the grace period: {task}"
        );
        assert_eq!(task["result"]["text"], format!("task {i}"));
        assert_eq!(task["attempts"], 1, "{task}");
    }
    for id in &later {
        let task = api.task(id).await;
        assert_eq!(
            task["status"], "pending",
            "not claimed while stopping: {task}"
        );
        assert_eq!(task["attempts"], 0, "{task}");
    }

    let second = worker(dir.path(), &db, "10000").await;
    for id in &later {
        let task = api.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
    drop(second);
}

/// `--role all` on the embedded database, one worker busy with a long task
/// and three more waiting, an event stream open, and a request that never
/// finishes its headers: SIGTERM ends the stream with a `closing` event and
/// the process within the grace period + 1 s; the running task is handed
/// back and nothing was claimed after the signal.
#[tokio::test]
async fn sigterm_exits_within_the_grace_period_whatever_clients_hold_and_claims_nothing_after() {
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let grace = std::time::Duration::from_millis(1000);
    let server = Server::start(
        dir.path(),
        &["--workers", "1", "--shutdown-grace-ms", "1000"],
    )
    .await;
    let running = server.submit(&slow(60_000, "running")).await;
    server
        .wait_for(&running, "running", |t| t["status"] == "running")
        .await;
    let mut waiting = Vec::new();
    for i in 0..3 {
        waiting.push(server.submit(&slow(10, &format!("waiting {i}"))).await);
    }
    let mut stream = server
        .http
        .get(server.url(&format!("/api/v1/tasks/{}/events", waiting[0])))
        .send()
        .await
        .unwrap();
    let mut seen = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(seen.contains("event: status"), "{seen}");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut half_open = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half_open
        .write_all(
            b"POST /api/v1/tasks HTTP/1.1\r\nHost: llmhost\r\nContent-Type: application/json\r\n",
        )
        .await
        .unwrap();
    let idle = tokio::net::TcpStream::connect(&addr).await.unwrap();

    let signalled = std::time::Instant::now();
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let status = server.wait_for_exit().await;
    let took = signalled.elapsed();
    eprintln!("exited {took:?} after SIGTERM (grace {grace:?})");
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    assert!(
        took < grace + std::time::Duration::from_secs(1),
        "exited {took:?} after SIGTERM, grace {grace:?}"
    );
    while let Ok(Some(chunk)) = stream.chunk().await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("event: closing"),
        "the stream's final event: {seen}"
    );
    drop((half_open, idle));

    let url = format!("sqlite://{}", dir.path().join("llmhost.db").display());
    let store = llmhost_store::Store::connect(&url).await.unwrap();
    let task = store.get(&running).await.unwrap().unwrap();
    assert_eq!(
        task.status,
        llmhost_store::task::TaskStatus::Pending,
        "handed back"
    );
    assert_eq!(task.attempts, 1);
    for id in &waiting {
        let task = store.get(id).await.unwrap().unwrap();
        assert_eq!(task.status, llmhost_store::task::TaskStatus::Pending);
        assert_eq!(task.attempts, 0, "not claimed after the signal: {id}");
    }
}

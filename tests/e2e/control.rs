//! Controls over a task's life: idempotent submission, cancel, deadlines.

use serde_json::{Value, json};

use crate::harness::{Server, echo};

async fn post_with_key(server: &Server, key: &str, body: &Value) -> (u16, Value) {
    let response = server
        .http
        .post(server.url("/api/v1/tasks"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_task_for_the_same_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let (status, first) = post_with_key(&server, "order-7", &echo("once")).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = post_with_key(&server, "order-7", &echo("once")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["task_id"], first["task_id"]);
    let (status, conflict) = post_with_key(&server, "order-7", &echo("something else")).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "idempotency_key_conflict");
    assert!(
        conflict["error"]["message"]
            .as_str()
            .unwrap()
            .contains("order-7")
    );
    let (status, bad) = post_with_key(&server, "", &echo("x")).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(server.all_tasks().await.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_submissions_with_one_key_create_one_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = echo("exactly once");
    let posts = (0..50).map(|_| post_with_key(&server, "one-key", &body));
    let answers = futures::future::join_all(posts).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == 201 || *status == 200)
    );
    let ids: std::collections::HashSet<_> =
        answers.iter().map(|(_, t)| t["task_id"].clone()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(server.all_tasks().await.len(), 1);
}

#[tokio::test]
async fn cancelling_a_pending_task_is_immediate_and_a_finished_one_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    // Its one worker is busy: tasks stay pending.
    let server = Server::start_with_busy_worker(dir.path()).await;
    let id = server.submit(&echo("never run")).await;
    let (status, task) = server.cancel(&id).await;
    assert_eq!(status, 200);
    assert_eq!(task["status"], "cancelled");
    assert_eq!(server.task(&id).await["status"], "cancelled");

    let (status, body) = server.cancel(&id).await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{body}"
    );
}

#[tokio::test]
async fn cancelling_a_running_task_stops_its_worker_which_records_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let id = server
        .submit(&json!({"provider": "echo", "model": "echo-slow:60000", "prompt": "long"}))
        .await;
    server
        .wait_for(&id, "running", |t| t["status"] == "running")
        .await;
    let (status, _) = server.cancel(&id).await;
    assert_eq!(status, 202);
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "cancelled", "{task}");
    assert_eq!(task["error_code"], "cancelled");
    assert_eq!(task["attempts"], 1);
    assert!(task["result"].is_null());
}

#[tokio::test]
async fn a_task_past_its_timeout_fails_with_deadline_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let id = server
        .submit(&json!({"provider": "echo", "model": "echo-slow:60000", "prompt": "x", "timeout_ms": 200}))
        .await;
    let quick = server.submit(&echo("unaffected")).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error_code"], "deadline_exceeded");
    assert_eq!(task["attempts"], 1, "a deadline is not retried");
    assert_eq!(
        server.wait_until_finished(&quick).await["status"],
        "completed"
    );
}

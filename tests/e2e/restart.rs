//! Stopping the server (SIGTERM or kill -9) with tasks pending and running
//! loses nothing: finished tasks stay as they were, the rest run to
//! completion after a restart on the same database.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::harness::{Server, echo};

/// Finishes two tasks, then leaves two running and two pending.
async fn load_server(server: &Server) -> (Vec<Value>, Vec<String>) {
    let mut finished = Vec::new();
    for prompt in ["done one", "done two"] {
        let id = server.submit(&echo(prompt)).await;
        finished.push(server.wait_until_finished(&id).await);
    }
    let slow = json!({"provider": "echo", "model": "echo-slow:3000", "prompt": "slow"});
    let mut unfinished = Vec::new();
    for _ in 0..4 {
        unfinished.push(server.submit(&slow).await);
    }
    for id in &unfinished[..2] {
        server
            .wait_for(id, "running", |t| t["status"] == "running")
            .await;
    }
    assert_eq!(server.task(&unfinished[2]).await["status"], "pending");
    (finished, unfinished)
}

async fn assert_all_recovered(server: &Server, finished: &[Value], unfinished: &[String]) {
    for before in finished {
        let after = server.task(before["task_id"].as_str().unwrap()).await;
        assert_eq!(
            &after, before,
            "a finished task is unchanged by the restart"
        );
    }
    for id in unfinished {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["result"]["text"], "slow");
    }
    let counts = server
        .all_tasks()
        .await
        .iter()
        .fold(HashMap::new(), |mut m, t| {
            *m.entry(t["status"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
            m
        });
    assert_eq!(counts, HashMap::from([("completed".to_owned(), 6)]));
}

#[tokio::test]
async fn after_kill_9_a_restart_runs_every_unfinished_task_and_keeps_the_finished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--workers", "2"]).await;
    let (finished, unfinished) = load_server(&server).await;
    server.kill().await;

    let server = Server::start(dir.path(), &["--workers", "2"]).await;
    assert_all_recovered(&server, &finished, &unfinished).await;
    for id in &unfinished[..2] {
        assert_eq!(
            server.task(id).await["attempts"],
            2,
            "the killed attempt counts"
        );
    }
}

#[tokio::test]
async fn after_sigterm_running_tasks_are_handed_back_and_finish_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--workers", "2", "--shutdown-grace-ms", "100"];
    let server = Server::start(dir.path(), &args).await;
    let (finished, unfinished) = load_server(&server).await;
    let log = dir.path().to_owned();
    let status = server.terminate().await;
    assert!(
        status.success(),
        "a clean exit after SIGTERM ({status}); logs in {}",
        log.display()
    );

    let server = Server::start(dir.path(), &args).await;
    // Handed back to pending by the first process, not recovered by the second.
    assert!(
        !server.log().contains("recovered tasks left running"),
        "{}",
        server.log()
    );
    assert_all_recovered(&server, &finished, &unfinished).await;
}

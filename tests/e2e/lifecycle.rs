//! A task's life through the API: success, concurrency, unknown providers
//! and typed provider errors.

use serde_json::json;

use crate::harness::{Server, echo};

#[tokio::test]
async fn a_submitted_task_completes_with_the_providers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let id = server
        .submit(&json!({
            "provider": "echo",
            "model": "echo",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "hello, llmhost"}
            ],
            "metadata": {"ticket": 7}
        }))
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["result"]["text"], "hello, llmhost");
    assert_eq!(task["result"]["finish_reason"], "stop");
    assert_eq!(task["result"]["usage"]["output_tokens"], 2);
    assert_eq!(task["attempts"], 1);
    assert_eq!(task["metadata"]["ticket"], 7);
    assert!(task["error_code"].is_null());
    for field in ["created_at", "updated_at", "started_at", "completed_at"] {
        assert!(task[field].is_string(), "{field} is set: {task}");
    }
}

#[tokio::test]
async fn fifty_concurrent_submissions_all_complete_each_with_its_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--workers", "8"]).await;
    let submissions = (0..50).map(|i| {
        let server = &server;
        async move { (i, server.submit(&echo(&format!("prompt number {i}"))).await) }
    });
    let ids = futures::future::join_all(submissions).await;
    let unique: std::collections::HashSet<_> = ids.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(unique.len(), 50, "every submission got its own task");
    for (i, id) in &ids {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(
            task["result"]["text"],
            format!("prompt number {i}"),
            "{task}"
        );
        assert_eq!(task["attempts"], 1);
    }
    assert_eq!(server.all_tasks().await.len(), 50, "none lost, none extra");
}

#[tokio::test]
async fn a_task_naming_a_missing_provider_fails_once_and_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let id = server
        .submit(&json!({
            "provider": "non_existent_provider",
            "model": "echo",
            "prompt": "anyone there?",
            "max_attempts": 5
        }))
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error_code"], "provider_not_found");
    let message = task["error_message"].as_str().unwrap();
    assert!(
        message.contains("non_existent_provider"),
        "names the missing provider: {message}"
    );
    assert!(
        message.contains("echo"),
        "lists the installed providers: {message}"
    );
    assert_eq!(task["attempts"], 1, "never retried");
    assert!(
        task["result"].is_null(),
        "never answered by another provider"
    );
    // Every read after the worker's commit returns the same failure.
    for _ in 0..20 {
        let again = server.task(&id).await;
        assert_eq!(again["status"], "failed");
        assert_eq!(again["error_code"], "provider_not_found");
        assert_eq!(again["updated_at"], task["updated_at"]);
    }
    let (_, failed) = server.get_json("/api/v1/tasks?status=failed").await;
    assert_eq!(failed["tasks"].as_array().unwrap().len(), 1);
    let (_, completed) = server.get_json("/api/v1/tasks?status=completed").await;
    assert!(completed["tasks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_typed_provider_error_fails_the_task_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let permanent = [
        "invalid_request",
        "authentication",
        "permission_denied",
        "model_not_found",
        "context_length_exceeded",
        "content_filtered",
        "unsupported",
    ];
    let retryable = [
        "rate_limited",
        "timeout",
        "upstream_unavailable",
        "upstream_error",
    ];
    let mut submitted = Vec::new();
    for code in permanent.iter().chain(&retryable) {
        let body = json!({"provider": "echo", "model": format!("echo-error:{code}"), "prompt": "x", "max_attempts": 2});
        submitted.push((*code, server.submit(&body).await));
    }
    for (code, id) in submitted {
        let task = server.wait_until_finished(&id).await;
        assert_eq!(task["status"], "failed", "{task}");
        assert_eq!(task["error_code"], code, "{task}");
        assert!(task["result"].is_null(), "no success recorded: {task}");
        let expected_attempts = if retryable.contains(&code) { 2 } else { 1 };
        assert_eq!(task["attempts"], expected_attempts, "{code}: {task}");
    }
}

#[tokio::test]
async fn providers_lists_the_bundled_echo_provider() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let (status, body) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200);
    let echo = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "echo")
        .unwrap_or_else(|| panic!("echo is installed: {body}"));
    // The bundled echo is built against the newest contract.
    assert_eq!(echo["contract_version"], llmhost_runtime::CONTRACT_VERSION);
    assert!(
        echo["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "echo")
    );
    let (status, health) = server.get_json("/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn the_submit_command_waits_and_prints_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_llmhost"))
        .args([
            "submit",
            "--provider",
            "echo",
            "--model",
            "echo",
            "--prompt",
            "from the cli",
            "--wait",
            "--server",
        ])
        .arg(&server.base)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "from the cli"
    );
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(progress.contains("completed"), "shows progress: {progress}");

    let failing = tokio::process::Command::new(env!("CARGO_BIN_EXE_llmhost"))
        .args([
            "submit",
            "--provider",
            "nope",
            "--model",
            "m",
            "--prompt",
            "x",
            "--wait",
            "--server",
        ])
        .arg(&server.base)
        .output()
        .await
        .unwrap();
    assert!(!failing.status.success());
    assert!(String::from_utf8_lossy(&failing.stderr).contains("provider_not_found"));
}

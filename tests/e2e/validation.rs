//! Bad input gets a 4xx with a JSON error naming the problem, and nothing is
//! stored.

use serde_json::{Value, json};

use crate::harness::Server;

fn assert_error(status: u16, body: &Value, expected_status: u16, mentions: &str) {
    assert_eq!(status, expected_status, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("JSON error body: {body}"));
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(
        message.contains(mentions),
        "the message names {mentions:?}: {message}"
    );
}

#[tokio::test]
async fn bad_submissions_get_a_4xx_naming_the_problem_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-body-bytes", "4096"]).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"model": "echo", "prompt": "x"}), 422, "provider"),
        (json!({"provider": "echo", "prompt": "x"}), 422, "model"),
        (
            json!({"provider": "echo", "model": "echo"}),
            422,
            "messages",
        ),
        (
            json!({"provider": 7, "model": "echo", "prompt": "x"}),
            422,
            "provider",
        ),
        (
            json!({"provider": "echo", "model": "echo", "messages": []}),
            422,
            "messages",
        ),
        (
            json!({"provider": "echo", "model": "echo", "messages": "hi"}),
            422,
            "messages",
        ),
        (
            json!({"provider": "echo", "model": "echo", "messages": [{"role": "robot", "content": "x"}]}),
            422,
            "robot",
        ),
        (
            json!({"provider": "echo", "model": "echo", "messages": [{"role": "user"}]}),
            422,
            "content",
        ),
        (
            json!({"provider": "", "model": "echo", "prompt": "x"}),
            422,
            "provider",
        ),
        (
            json!({"provider": "echo", "model": "echo", "prompt": "x", "max_attempts": 0}),
            422,
            "max_attempts",
        ),
        (
            json!({"provider": "echo", "model": "echo", "prompt": "x", "timeout_ms": 0}),
            422,
            "timeout_ms",
        ),
        (
            json!({"provider": "echo", "model": "echo", "prompt": "x", "metadata": [1]}),
            422,
            "metadata",
        ),
        (
            json!({"provider": "echo", "model": "echo", "prompt": "x", "messages": [{"role": "user", "content": "y"}]}),
            422,
            "either",
        ),
        (
            json!({"provider": "echo", "model": "echo", "prompt": "x", "colour": "red"}),
            422,
            "colour",
        ),
        (
            json!({"provider": "echo", "model": "echo", "prompt": "x".repeat(5000)}),
            413,
            "limit",
        ),
    ];
    for (body, status, mentions) in cases {
        let (got, answer) = server.post_task(&body).await;
        assert_error(got, &answer, status, mentions);
    }

    let malformed = server
        .http
        .post(server.url("/api/v1/tasks"))
        .header("content-type", "application/json")
        .body("{\"provider\": \"echo\",")
        .send()
        .await
        .unwrap();
    let status = malformed.status().as_u16();
    assert_error(status, &malformed.json().await.unwrap(), 400, "JSON");

    let not_json = server
        .http
        .post(server.url("/api/v1/tasks"))
        .body("provider=echo")
        .send()
        .await
        .unwrap();
    let status = not_json.status().as_u16();
    assert_error(status, &not_json.json().await.unwrap(), 415, "Content-Type");

    assert!(server.all_tasks().await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn unknown_tasks_and_bad_queries_get_a_4xx_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let (status, body) = server.get_json("/api/v1/tasks/does-not-exist").await;
    assert_error(status, &body, 404, "does-not-exist");
    let (status, body) = server.get_json("/api/v1/tasks?status=done").await;
    assert_error(status, &body, 400, "done");
    let (status, body) = server.get_json("/api/v1/tasks?limit=0").await;
    assert_error(status, &body, 400, "limit");
    let (status, body) = server.get_json("/api/v1/tasks?cursor=abc").await;
    assert_error(status, &body, 400, "cursor");
    let (status, body) = server.get_json("/api/v1/nothing-here").await;
    assert_error(status, &body, 404, "/api/v1/nothing-here");
    let (status, body) = server.cancel("nope").await;
    assert_error(status, &body, 404, "nope");
}

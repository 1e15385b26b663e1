//! Finding 1's other half: one provider cannot take the runtime's instance
//! pool from the others. A provider runs at most `limits.max_concurrent_calls`
//! calls at once (a quarter of the pool by default, never more than half);
//! one more fails at once with `capacity_exhausted`, which is retryable and
//! not a plugin bug, while other providers keep completing.

use futures::future::join_all;
use serde_json::{Value, json};

use super::plugins_dir;
use crate::harness::Server;
use crate::test_plugin;

fn slow(prompt: &str, ms: u64, attempts: u32) -> Value {
    json!({"provider": "echo", "model": format!("echo-slow:{ms}"), "prompt": prompt, "max_attempts": attempts})
}

/// A task's RFC 3339 time, as a comparable instant.
fn timestamp(task: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    let text = task[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field}: {task}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{field} {text}: {e}"))
        .into()
}

#[tokio::test]
async fn a_provider_past_its_concurrent_calls_fails_retryably_while_others_complete() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "[limits]\nmax_concurrent_calls = 2\n".to_owned();
    let plugins = plugins_dir(
        dir.path(),
        &[("echo", Some(manifest)), (test_plugin::STATEFUL, None)],
    );
    let args = ["--plugins-dir", plugins.to_str().unwrap(), "--workers", "8"];
    let server = Server::start(dir.path(), &args).await;

    // Three at once, one attempt each: two run (2.5 s, long enough for the
    // other provider to finish meanwhile even under load), the third finds
    // no room.
    let mut once = Vec::new();
    for i in 0..3 {
        once.push(server.submit(&slow(&format!("once {i}"), 2500, 1)).await);
    }
    let neighbour = json!({"provider": "stateful", "model": "m", "prompt": "x", "max_attempts": 1});
    let neighbour = server.submit(&neighbour).await;
    let mut codes = Vec::new();
    let mut ran_until = Vec::new();
    for id in &once {
        let task = server.wait_until_finished(id).await;
        codes.push(task["error_code"].as_str().unwrap_or("none").to_owned());
        if task["status"] == "completed" {
            ran_until.push(timestamp(&task, "completed_at"));
        }
        if task["status"] == "failed" {
            let message = task["error_message"].as_str().unwrap();
            assert!(
                message.contains("already runs 2 calls")
                    && message.contains("limits.max_concurrent_calls"),
                "{task}"
            );
        }
    }
    // Not `plugin_trap`: the provider did nothing wrong, the host is full.
    codes.sort();
    assert_eq!(codes, ["capacity_exhausted", "none", "none"]);
    // The other provider completed while the two calls held every slot.
    let task = server.wait_until_finished(&neighbour).await;
    assert_eq!(task["status"], "completed", "another provider: {task}");
    let neighbour_done = timestamp(&task, "completed_at");
    assert!(
        ran_until.iter().all(|until| neighbour_done < *until),
        "the neighbour finished at {neighbour_done}, the slow calls at {ran_until:?}"
    );

    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200);

    // With attempts to spare, the one that found no room is retried later
    // and completes.
    let mut retried = Vec::new();
    for i in 0..3 {
        retried.push(server.submit(&slow(&format!("retried {i}"), 500, 6)).await);
    }
    let mut attempts = Vec::new();
    for (i, id) in retried.iter().enumerate() {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["result"]["text"], format!("retried {i}"), "{task}");
        attempts.push(task["attempts"].as_u64().unwrap());
    }
    assert!(attempts.iter().any(|a| *a > 1), "{attempts:?}");

    // The synchronous endpoint says so too: 503, and the client may retry.
    let url = server.url("/v1/chat/completions");
    let chat =
        json!({"model": "echo/echo-slow:1500", "messages": [{"role": "user", "content": "x"}]});
    let calls = (0..3).map(|_| server.http.post(&url).json(&chat).send());
    let mut refused = 0;
    for response in join_all(calls).await {
        let response = response.unwrap();
        let status = response.status().as_u16();
        let retry = response.headers().get("x-should-retry").cloned();
        let body: Value = response.json().await.unwrap();
        if status == 503 {
            refused += 1;
            assert_eq!(body["error"]["code"], "capacity_exhausted", "{body}");
            assert_eq!(retry.unwrap(), "true");
        } else {
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_eq!(refused, 1);
}
